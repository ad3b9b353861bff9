"""Deposits: a user's deposit address, and deposit requests (check the claim on the chain, record
it keyed by outpoint, commit, start its workflow).

The claim is checked first (:mod:`services.deposit_claims`: the transaction exists, in a block or
the mempool, and output ``vout`` pays the claimant's own deposit address the claimed amount), so
a false claim never holds an outpoint, uses a limit or starts a long wait; claims still only in
the mempool are capped per user (``deposits.max_unconfirmed_claims_per_user``).

The row is committed *before* the workflow starts, because the workflow's activities read it.
Starting is idempotent (workflow id ``deposit-<txid>:<vout>``, an existing run is reused), so a
repeated request (or a crash between commit and start) is healed by the next identical request
or by the detection scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from chains.bitcoin.setup import custody_descriptor
from chains.bitcoin.wallet import CustodyWallet
from contracts.deposits import deposit_workflow_input
from contracts.starters import start_deposit
from contracts.workflow_ids import deposit_idempotency_key, deposit_workflow_id, outpoint
from db.audit import record_audit
from db.models import Operation, User
from db.models.base import utcnow
from db.queries import custody, deposit_addresses, operations, system_state
from db.queries.limits import lock_user_limits
from db.queries.operations import NewDeposit
from domain.deposits import check_minimum
from domain.errors import Conflict, InvalidField, Refused
from domain.operations import OperationStage, OperationStatus
from services.deposit_claims import ClaimSeen, verify_claim
from services.state import AppState


@dataclass(frozen=True)
class DepositClaim:
    """A user's claim that output ``txid:vout`` pays ``amount_sats`` to their deposit address.

    ``stellar_address``: where to mint; must be the profile's when given (None: the profile's).
    """

    txid: str
    vout: int
    amount_sats: int
    stellar_address: str | None = None


@dataclass(frozen=True)
class PendingReceipt:
    """BTC at the deposit address that is not a deposit yet (sats; confirmed or only seen)."""

    outpoint: str
    amount_sats: int
    confirmed: bool


@dataclass(frozen=True)
class DepositAddress:
    """The user's deposit address on ``network``, the minimum credited (sats) and what waits there."""

    address: str
    network: str
    minimum_sats: int
    pending_receipts: list[PendingReceipt]


@dataclass(frozen=True)
class RecordedDeposit:
    """The deposit operation of a claim, and whether this request inserted it."""

    operation: Operation
    created: bool
    displaced: bool = False
    """A false claim of another account held the outpoint (recorded before claims were checked at
    the door); it was failed, and its workflow must end before this one starts."""


@lru_cache(maxsize=4)
def _wallet(descriptor: str, network: str) -> CustodyWallet:
    return CustodyWallet(descriptor, network)


async def deposit_address(session: AsyncSession, state: AppState, user: User) -> DepositAddress:
    """The user's BTC deposit address (assigned on first request, then always the same), with the
    receipts there that are not a deposit yet. The API derives addresses from the public
    descriptor only; it never signs."""
    bitcoin = state.settings.bitcoin
    wallet = _wallet(custody_descriptor(bitcoin), bitcoin.network)
    row = await deposit_addresses.assign_deposit_address(session, user_id=user.id, derive_address=wallet.receive_address)
    receipts = [PendingReceipt(r.outpoint, r.value_sats, confirmed=r.state != "seen")
                for r in await custody.pending_receipts_of(session, user.id)]
    return DepositAddress(row.address, bitcoin.network, state.settings.deposits.minimum_sats, receipts)


async def request(
    session: AsyncSession, state: AppState, user: User, claim: DepositClaim, client_key: str | None
) -> Operation:
    """Record the deposit of ``claim``'s outpoint, commit, and make sure its workflow runs; the
    same outpoint again answers the same operation.

    Raises:
        InvalidField: 422 ``tx_not_found`` / ``no_output_to_address`` / ``amount_mismatch`` (the
            chain disproves the claim), ``stellar_address_missing`` / ``stellar_address_mismatch``.
        Refused: ``no_deposit_address``.
        Conflict: ``idempotency_key_reused``, ``too_many_unconfirmed_claims``.
        Unavailable: ``chain_unavailable``; ``temporal_unavailable`` (the row is kept: a retry or
            the detection scan starts it).
        BelowMinimum, InvalidOutpoint, SystemPaused.
    """
    recorded = await record(session, state, user, claim, client_key)
    await session.commit()  # the workflow reads the row: it must be visible before the start
    await start(state, recorded.operation, displaced=recorded.displaced)
    return recorded.operation


def _key_reused() -> Conflict:
    return Conflict("this Idempotency-Key was used for another deposit", code="idempotency_key_reused")


async def record(
    session: AsyncSession, state: AppState, user: User, claim: DepositClaim, client_key: str | None
) -> RecordedDeposit:
    """Find or insert the deposit operation for ``claim``'s outpoint (in the caller's transaction).

    Raises:
        The errors of :func:`request` but ``temporal_unavailable``.
    """
    key_point = outpoint(claim.txid, claim.vout)
    check_minimum(claim.amount_sats, state.settings.deposits.minimum_sats)
    existing = await operations.get_by_outpoint(session, outpoint=key_point)
    if existing is not None and existing.user_id == user.id:
        return RecordedDeposit(existing, created=False)
    stellar = _stellar_address(user, claim.stellar_address)
    idem_key = f"deposit:{user.id}:{client_key}" if client_key else deposit_idempotency_key(claim.txid, claim.vout)
    if client_key and await operations.get_by_idempotency_key(session, idempotency_key=idem_key) is not None:
        raise _key_reused()
    (await system_state.get_pause(session)).check_minting()
    address = await deposit_addresses.get_by_user(session, user_id=user.id)
    if address is None:
        raise Refused("get your deposit address first (GET /api/integration/deposit-address)", code="no_deposit_address")
    seen = await verify_claim(
        state.esplora, txid=claim.txid, vout=claim.vout, claimed_sats=claim.amount_sats,
        deposit_address=address.address, network=state.settings.bitcoin.network,
    )
    if seen == ClaimSeen.MEMPOOL:
        await _check_unconfirmed_cap(session, state, user)
    displaced = False
    if existing is not None:  # another account holds it, yet the chain says it pays this user
        displaced = await _fail_false_claim(session, existing, claimant=user)
    new = NewDeposit(
        user_id=user.id, txid=claim.txid, vout=claim.vout, amount_sats=claim.amount_sats,
        idempotency_key=idem_key, workflow_id=deposit_workflow_id(claim.txid, claim.vout),
        token_address=state.settings.soroban.contracts.istsi_token, stellar_address=stellar, source="api",
    )
    op = await operations.insert_deposit(session, new)
    if op is None:  # a concurrent request won the insert: converge on its row
        again = await operations.get_by_outpoint(session, outpoint=key_point)
        if again is None or again.user_id != user.id:
            raise _key_reused()
        return RecordedDeposit(again, created=False)
    record_audit(
        session, action="deposit.requested", resource_type="operation", resource_id=op.id, actor_id=user.id,
        new_values={"outpoint": key_point, "amount": claim.amount_sats, "stellar_address": stellar,
                    "status": op.status, "stage": op.stage, "seen": seen.value},
    )
    return RecordedDeposit(op, created=True, displaced=displaced)


async def _check_unconfirmed_cap(session: AsyncSession, state: AppState, user: User) -> None:
    """Refuse one more mempool-only claim when the user already has the maximum (serialised per user)."""
    cap = state.settings.deposits.max_unconfirmed_claims_per_user
    await lock_user_limits(session, user_id=user.id)
    if await operations.count_unconfirmed_claims(session, user_id=user.id) >= cap:
        raise Conflict(
            f"you have {cap} deposit claims waiting for their first confirmation: post this one once it is in a "
            "block (or let detection credit it by itself)",
            code="too_many_unconfirmed_claims", extra={"limit": cap},
        )


async def _fail_false_claim(session: AsyncSession, other: Operation, *, claimant: User) -> bool:
    """Fail another account's claim of an output the chain says pays ``claimant`` (such claims were
    accepted before claims were checked at the door) and free its outpoint. True when it was live."""
    op = await operations.get_by_id(session, operation_id=other.id, for_update=True)
    if op is None or op.outpoint is None:
        return False
    before = operations.snapshot(op)
    live = not OperationStatus(op.status).is_final
    if live:
        op.status, op.stage, op.error = OperationStatus.FAILED.value, OperationStage.FAILED.value, "no_output_to_address"
    op.meta = {**(op.meta or {}), "released_outpoint": op.outpoint}
    op.outpoint, op.idempotency_key = None, f"{op.idempotency_key}#released:{op.id}"
    op.updated_at = utcnow()
    record_audit(
        session, action="deposit.claim_disproved", resource_type="operation", resource_id=op.id,
        actor_id=claimant.id, old_values=before,
        new_values={**operations.snapshot(op), "reason": "the output pays another account's deposit address"},
    )
    await session.flush()
    return live


async def start(state: AppState, op: Operation, *, displaced: bool = False) -> None:
    """Make sure an unfinished deposit's workflow runs (no-op for final ones).

    Raises:
        TemporalUnavailable: the row is kept; a retry or the scan starts it.
    """
    if OperationStatus(op.status).is_final or op.outpoint is None:
        return
    inp = deposit_workflow_input(op)
    if displaced:  # the disproved claim's run shares the outpoint's workflow id
        await state.temporal.terminate(deposit_workflow_id(inp.txid, inp.vout),
                                       reason="the claim was disproved: the output pays another account")
    task_queue = state.settings.temporal.task_queue
    await state.temporal.call(lambda client: start_deposit(client, inp, task_queue=task_queue))


def _stellar_address(user: User, requested: str | None) -> str:
    if not user.stellar_address:
        raise InvalidField(
            "stellar_address_missing", "stellar_address",
            'set your Stellar account on your profile first (PUT /api/users/profile {"stellar_address": "G…"}): '
            "the minted iSTSi go there",
        )
    if requested is not None and requested != user.stellar_address:
        raise InvalidField("stellar_address_mismatch", "stellar_address",
                           "stellar_address must be the one on your profile (or leave it out)")
    return user.stellar_address
