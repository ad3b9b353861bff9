"""Deposit activities that guard the token supply: the solvency check before a mint, and the
alarm when a minted deposit leaves the chain.

The guard reads the books only (the custody UTXO set and the ledger: a fixed number of SQL
queries, no chain scan) under a transaction-scoped advisory lock, and in the same transaction
places the deposit's credit as a *pending* transfer: every later guard counts it, so two mints
checked at the same instant can never both pass when together they would break
``custody ≥ supply + pending payouts``. Both activities are idempotent, keyed by the operation.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import deposit_stages as stages
from activities.custody_books import CustodyBooks
from chains.bitcoin.esplora import EsploraClient
from config.settings import Settings
from contracts import deposits as t
from db import ledger
from db.queries import books as books_figures
from db.queries import custody, operations
from db.session import transaction
from domain import entries as e
from domain.chart import AccountCode, TransferCode, balance
from domain.deposits import AttentionReason, Insolvent, SolvencyView, check_solvency
from domain.operations import OperationStage
from domain.utxo_set import ChainView, UtxoState

log = logging.getLogger(__name__)


async def solvency_view(session: AsyncSession, *, amount_sats: int) -> SolvencyView:
    """The guard's figures from the books, for a deposit of ``amount_sats`` about to be credited:
    a fixed number of single-row reads (running totals), so it costs the same for any size of book.

    * custody: the UTXO set's available outputs (confirmed, reserved by payouts not yet signed,
      and the change of signed payouts) *minus* the BTC the books still owe to deposits,
      receipts and unattributed payments that are not credited (other than this deposit), so
      one user's uncredited BTC never backs another user's mint, even after payouts mixed coins;
    * pending withdrawals: burned but unpaid, minus what signed payouts are already paying (the
      set no longer counts those inputs);
    * supply: iSTSi in issue with mints in progress (credits pending).
    """
    totals = await custody.totals(session)
    accounts = await ledger.lookup_accounts(session, [e.SUPPLY, e.UNPAID, e.REORGED, e.IN_FLIGHT, e.CUSTODY,
                                                      e.UNATTRIBUTED])
    supply = accounts.get(e.SUPPLY)
    in_issue = (supply.debits_posted - supply.credits_posted + supply.debits_pending) if supply else 0
    paying = accounts[e.UNPAID].debits_pending if e.UNPAID in accounts else 0  # (bumps are the custodian's)
    unpaid = (balance(accounts[e.UNPAID]) if e.UNPAID in accounts else 0) - paying
    reorged = balance(accounts[e.REORGED]) if e.REORGED in accounts else 0
    in_flight = accounts[e.IN_FLIGHT].credit_available if e.IN_FLIGHT in accounts else 0
    receipts = (balance(accounts[e.UNATTRIBUTED]) if e.UNATTRIBUTED in accounts else 0) + _credit(
        await books_figures.code_totals(session, AccountCode.PENDING_RECEIPTS))
    uncredited = in_flight + receipts - amount_sats
    return SolvencyView(custody_sats=totals.available - uncredited, supply_units=in_issue,
                        pending_withdrawals_sats=unpaid, reorged_sats=reorged)


async def consistent_solvency_view(sessions: async_sessionmaker[AsyncSession], *, amount_sats: int) -> SolvencyView:
    """:func:`solvency_view` read from one snapshot (a read-only REPEATABLE READ transaction of its own).

    Under READ COMMITTED each of its statements sees every commit made before that statement, so
    a receipt the block scanner books between the UTXO totals read and the receipts read counts
    as owed but not as held: a false shortfall of exactly that receipt (the chaos soak found a
    deposit parked at ``solvency_guard`` that way). Call it while holding the guard's lock: the
    snapshot is taken after it, so it includes every earlier guard's credit.
    """
    async with sessions() as snapshot:
        await snapshot.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        return await solvency_view(snapshot, amount_sats=amount_sats)


def _credit(counters: tuple[int, int, int, int] | None) -> int:
    return (counters[3] - counters[1]) if counters else 0


class DepositGuards:
    """Solvency guard and vanished-deposit alarm over one worker's clients."""

    def __init__(self, *, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient, settings: Settings) -> None:
        self._sessions = sessions
        self._esplora = esplora
        self._books = CustodyBooks(settings)
        # One guard of this process at a time waits for the books' advisory lock. The holder
        # needs a second pooled connection (its snapshot); were every pooled connection held by
        # a guard blocked on the lock, the holder would wait for the pool until it timed out and
        # the deposits behind it would park (seen at 64 concurrent deposits, pool 10 + 10).
        self._guard_turn = asyncio.Lock()

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.check_solvency, self.flag_vanished]

    @activity.defn(name=t.CHECK_SOLVENCY)
    async def check_solvency(self, inp: t.SolvencyInput) -> None:
        """Confirmed custody must cover the supply after this mint plus pending withdrawals
        (``domain.deposits.check_solvency``); on success the credit is placed, pending. With
        ``inp.project`` the row shows ``solvency_check`` (committed even when the guard refuses).

        Raises:
            ApplicationError ``solvency_guard`` (non-retryable: an operator must look);
            ``DepositNotInCustody`` (retryable): the deposit's outputs are not confirmed in the
            UTXO set yet; ``OperationMissing``.
        """
        refusal: ApplicationError | None = None
        async with self._guard_turn, transaction(self._sessions) as session:
            await ledger.lock_books(session, "solvency")
            op = await stages.locked_operation(session, inp.operation_id)
            if inp.project:
                stages.project(session, op, stages.entered(OperationStage.SOLVENCY_CHECK))
            if await ledger.get_transfer(session, f"deposit-credit:{op.id}") is not None:
                return  # passed before (a retry, or a second guard after an operator's retry)
            refusal = await self._refusal(session, inp)
            if refusal is None:
                await self._books.post(session, e.deposit_credit_pending(op.id, op.user_id, inp.amount_sats))
        if refusal is not None:
            raise refusal

    async def _refusal(self, session: AsyncSession, inp: t.SolvencyInput) -> ApplicationError | None:
        """Why the guard refuses this deposit now, or None when the credit may be placed."""
        rows = await custody.of_operation(session, uuid.UUID(inp.operation_id))
        held = sum(r.value_sats for r in rows if r.state == UtxoState.CONFIRMED and r.held_in == e.IN_FLIGHT)
        if held != inp.amount_sats:
            return ApplicationError(f"{held} of {inp.amount_sats} sats confirmed in the custody set",
                                    type="DepositNotInCustody")
        view = await consistent_solvency_view(self._sessions, amount_sats=inp.amount_sats)
        try:
            check_solvency(view, inp.amount_sats)
        except Insolvent as exc:
            log.error("solvency guard stopped deposit %s: %s", inp.operation_id, exc)
            return ApplicationError(str(exc), type=AttentionReason.SOLVENCY_GUARD.value, non_retryable=True)
        return None

    @activity.defn(name=t.FLAG_VANISHED)
    async def flag_vanished(self, inp: t.FlagInput) -> None:
        """A minted deposit's output is no longer confirmed: hold its credit through the books
        (the same move the block scanner makes; idempotent). Other users are not affected."""
        async with transaction(self._sessions) as session:
            op = await operations.get_by_id(session, operation_id=uuid.UUID(inp.operation_id))
            if op is None:
                raise ApplicationError(f"operation {inp.operation_id} does not exist", type="OperationMissing",
                                       non_retryable=True)
            tip = await self._esplora.tip_height()
            for row in await custody.of_operation(session, op.id, for_update=True):
                if row.state == UtxoState.CONFIRMED and not await ledger.open_pending(
                    session, operation_id=op.id, code=TransferCode.REORG_HOLD
                ):
                    await self._books.follow(session, row, ChainView.MEMPOOL, tip_height=tip)
        log.error("ALERT: minted deposit %s vanished from the chain (%s); its credit is held", inp.operation_id, inp.detail)
