"""The reconciliation activity: compare the books with both chains, explain the money in
flight item by item, store the run (findings and explained items), alert.

Reads (bounded, whatever the size of the book): the ledger and the UTXO set in one
REPEATABLE READ snapshot (a handful of aggregate queries); Stellar's ``total_supply`` and the
balances of at most ``MAX_USERS_PER_RUN`` recently active users; Esplora's tip, the block at
the scanner's cursor and ``reserves.reconciliation_sample_outputs`` custody outputs (least
recently verified first). The comparisons and their severity: :mod:`domain.reconciliation`.

Idempotent on ``run_id``: a retry replaces the run's findings and items.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.alerts import raise_alert
from chains.bitcoin.errors import TxNotFound
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from chains.soroban.contracts import Contracts
from config.settings import Settings
from contracts.reconciliation import ReconcileInput, ReconciliationReport
from db.models import ReconciliationDiscrepancy, ReconciliationItem, ReconciliationRun
from db.models.base import utcnow
from db.queries import books as q
from db.queries import custody
from db.queries import reserves as figures
from db.session import transaction
from domain.chart import AccountCode, TransferCode
from domain.reconciliation import Check, Comparison, Finding, Item, ItemKind, assess, pauses
from domain.reserves import Severity, SeverityThresholds, worst

#: Per-user chain reads per run; the most recently changed balances go first.
MAX_USERS_PER_RUN = 500
#: Items of each kind stored per run (the total of the rest is stored as one more item).
ITEMS_PER_KIND = 200


def severity_thresholds(settings: Settings) -> SeverityThresholds:
    r = settings.reserves
    return SeverityThresholds(r.warning_discrepancy_bps, r.critical_discrepancy_bps, r.emergency_discrepancy_bps)


def _items(kind: ItemKind, found: q.Items) -> tuple[Item, ...]:
    items = [Item(kind, ref, amount, detail[:500]) for ref, amount, detail in found.rows]
    rest = found.total - sum(i.amount_sats for i in items)
    if rest:
        items.append(Item(kind, "(others)", rest, "items beyond the stored ones"))
    return tuple(items)


def _debit(t: tuple[int, int, int, int] | None) -> int:
    return (t[1] - t[3]) if t else 0


def _credit(t: tuple[int, int, int, int] | None) -> int:
    return (t[3] - t[1]) if t else 0


class ReconciliationActivities:
    def __init__(self, settings: Settings, sessions, esplora: EsploraClient, wallet: CustodyWallet, contracts: Contracts):
        self.settings = settings
        self.sessions = sessions
        self.esplora = esplora
        self.wallet = wallet
        self.contracts = contracts

    async def _last_run_started(self):
        async with self.sessions() as session:
            stmt = (
                select(ReconciliationRun.started_at).where(ReconciliationRun.status == "completed")
                .order_by(ReconciliationRun.started_at.desc()).limit(1)  # type: ignore[attr-defined]
            )
            return (await session.execute(stmt)).scalar_one_or_none()

    @activity.defn(name="reconcile")
    async def reconcile(self, inp: ReconcileInput) -> ReconciliationReport:
        """Run every check once and record the outcome (see module docstring)."""
        token = self.settings.soroban.contracts.istsi_token
        since = await self._last_run_started()
        async with transaction(self.sessions) as session:
            await session.execute(
                insert(ReconciliationRun).values(id=inp.run_id, workflow_id=inp.workflow_id, status="running")
                .on_conflict_do_nothing(index_elements=["id"])
            )
        btc_height = await self.esplora.tip_height()
        ledger_seq = (await self.contracts.token.client.server.get_latest_ledger()).sequence
        supply_on_chain = await self.contracts.token.total_supply()
        books = await self._read_books(token, since)
        comparisons = [
            self._supply(books, supply_on_chain),
            self._set_vs_books(books),
            self._custody_vs_liabilities(books, supply_on_chain),
            *await self._set_vs_chain(btc_height),
        ]
        for user_id, address, db_balance in books["users"]:
            pending_credit, holds = books["user_pending"].get(user_id, (0, 0))
            on_chain = await self.contracts.token.balance(address)
            comparisons.append(Comparison(
                Check.USER_BALANCE, on_chain, db_balance, user_id,
                surplus_items=(Item(ItemKind.BURN_IN_PROGRESS, str(user_id), holds),) if holds else (),
                shortfall_items=(Item(ItemKind.MINT_IN_PROGRESS, str(user_id), pending_credit),) if pending_credit else (),
            ))
        findings = assess(comparisons, severity_thresholds(self.settings))
        max_severity = worst([f.severity for f in findings])
        should_pause = pauses(findings)
        await self._store(inp, findings, comparisons, books, btc_height, ledger_seq, supply_on_chain, max_severity)
        if max_severity.rank >= Severity.WARNING.rank:
            raise_alert("reconciliation_discrepancy", "reconciliation found discrepancies",
                        run_id=str(inp.run_id), max_severity=max_severity.value, findings=len(findings),
                        unexplained_shortfall=should_pause)
        return ReconciliationReport(inp.run_id, max_severity.value, len(findings), len(books["users"]),
                                    should_pause=should_pause)

    async def _read_books(self, token: str, since) -> dict:
        """Everything the checks need from Postgres, from one consistent snapshot."""
        async with self.sessions() as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            by_code = await q.balance_by_code(session)
            totals = await custody.totals(session)
            users = await figures.active_user_balances(session, token_address=token, since=since, limit=MAX_USERS_PER_RUN)
            return {
                "codes": by_code, "set": totals, "users": users,
                "user_pending": await q.user_pending_mints(session, [u for u, _, _ in users]),
                "in_flight": _items(ItemKind.DEPOSIT_IN_FLIGHT, await q.deposits_in_flight(session, limit=ITEMS_PER_KIND)),
                "receipts": _items(ItemKind.PENDING_RECEIPT, await q.pending_receipts(session, limit=ITEMS_PER_KIND)),
                "unattributed": _items(ItemKind.UNATTRIBUTED_RECEIPT,
                                       await q.unattributed_receipts(session, limit=ITEMS_PER_KIND)),
                "reorgs": _items(ItemKind.REORG_HOLD, await q.reorg_holds(session, limit=ITEMS_PER_KIND)),
                "mints": _items(ItemKind.MINT_IN_PROGRESS, await q.mints_in_progress(session, limit=ITEMS_PER_KIND)),
                "burns": _items(ItemKind.BURN_IN_PROGRESS, await q.burns_in_progress(session, limit=ITEMS_PER_KIND)),
                "payouts": _items(ItemKind.PAYOUT_IN_FLIGHT,
                                  await q.open_pending_by_code(session, TransferCode.PAYOUT, limit=ITEMS_PER_KIND)),
                "bumps": _items(ItemKind.FEE_BUMP_IN_FLIGHT, await q.fee_bumps_in_flight(session, limit=ITEMS_PER_KIND)),
            }

    def _supply(self, books: dict, on_chain: int) -> Comparison:
        """Tokens in issue per the books (``istsi_supply``) against ``total_supply``."""
        in_books = _debit(books["codes"].get(AccountCode.ISTSI_SUPPLY))
        return Comparison(Check.SUPPLY_VS_BOOKS, on_chain, in_books,
                          surplus_items=books["burns"], shortfall_items=books["mints"])

    def _set_vs_books(self, books: dict) -> Comparison:
        """The UTXO set against ``custody_btc`` (both net of BTC leaving in signed payouts)."""
        c = books["codes"].get(AccountCode.CUSTODY_BTC) or (0, 0, 0, 0)
        expected = c[1] - c[3] - c[2]
        return Comparison(Check.UTXO_SET_VS_BOOKS, expected, books["set"].available)

    def _custody_vs_liabilities(self, books: dict, supply_on_chain: int) -> Comparison:
        """Custody outputs against what they must cover: iSTSi on Stellar and unpaid withdrawals,
        plus the BTC the books hold for deposits in flight, users' pending receipts, unattributed
        receipts, the custodian's fee reserve and a surplus in suspense (holders' own burns),
        minus what reorgs took (held credits) and the custodian's own fees.

        The expectation is exact, so money in flight cannot mask a shortfall; the only
        tolerance is a mint or burn that landed on Stellar before its posting. A *loss* in
        ``suspense_btc`` (a written-off reorg, a negative opening difference) is not subtracted:
        the tokens it backed are still on Stellar, so it stays an unexplained shortfall until an
        operator covers it (``custody ledger cover-write-off``).
        """
        codes, s = books["codes"], books["set"]
        expected = (
            supply_on_chain + _credit(codes.get(AccountCode.WITHDRAWALS_UNPAID))
            + _credit(codes.get(AccountCode.DEPOSITS_IN_FLIGHT)) + _credit(codes.get(AccountCode.PENDING_RECEIPTS))
            + _credit(codes.get(AccountCode.UNATTRIBUTED_RECEIPTS)) + max(_credit(codes.get(AccountCode.SUSPENSE_BTC)), 0)
            + _credit(codes.get(AccountCode.FEE_RESERVE))
            - _debit(codes.get(AccountCode.REORGED_DEPOSITS)) - _debit(codes.get(AccountCode.NETWORK_FEES))
        )
        # BTC in signed payouts leaves the books when they settle: until then it counts as custody's.
        paying = (codes.get(AccountCode.CUSTODY_BTC) or (0, 0, 0, 0))[2]
        assets = s.available + paying
        return Comparison(Check.CUSTODY_VS_LIABILITIES, expected, assets,
                          surplus_items=books["burns"], shortfall_items=books["mints"])

    async def _set_vs_chain(self, btc_height: int) -> list[Comparison]:
        """The scanner's position against the chain, and a sample of custody outputs against
        what Esplora says of them (spent outside the engine, or gone)."""
        sample = self.settings.reserves.reconciliation_sample_outputs
        async with self.sessions() as session:
            rows = await custody.least_recently_verified(session, limit=sample) if sample else []
            payouts = await custody.payout_txids(session, [r.reserved_by for r in rows])  # every version's
        expected = actual = 0
        checked = []
        for row in rows:
            expected += row.value_sats
            try:
                spent = await self.esplora.outspend(row.txid, row.vout)
                status = await self.esplora.transaction_status(row.txid)
            except TxNotFound:
                continue  # vanished: the block scanner books it; not this check's to count
            ours = row.reserved_by is not None and spent.spent and spent.txid in payouts.get(row.reserved_by, ())
            if status.confirmed and (not spent.spent or ours):
                actual += row.value_sats
            checked.append(row.outpoint)
        async with transaction(self.sessions) as session:
            await custody.mark_verified(session, checked)
        return [Comparison(Check.UTXO_SET_VS_CHAIN, expected, actual)] if rows else []

    async def _store(self, inp, findings: list[Finding], comparisons: list[Comparison], books: dict, btc_height: int,
                     ledger_seq: int, supply_on_chain: int, max_severity: Severity) -> None:
        async with transaction(self.sessions) as session:
            for table in (ReconciliationDiscrepancy, ReconciliationItem):
                await session.execute(delete(table).where(table.run_id == inp.run_id))  # type: ignore[arg-type]
            for f in findings:
                c = f.comparison
                session.add(ReconciliationDiscrepancy(
                    run_id=inp.run_id, check_name=c.check.value, user_id=c.user_id, expected_sats=c.expected,
                    actual_sats=c.actual, diff_sats=f.diff_sats, diff_bps=f.diff_bps, severity=f.severity.value,
                ))
            for key in ("in_flight", "receipts", "unattributed", "reorgs", "mints", "burns", "payouts", "bumps"):
                for item in books[key]:
                    session.add(ReconciliationItem(run_id=inp.run_id, kind=item.kind.value, reference=item.reference,
                                                   amount_sats=item.amount_sats, detail=item.detail or None))
            run = await session.get(ReconciliationRun, inp.run_id)
            assert run is not None
            codes, s = books["codes"], books["set"]
            run.btc_height, run.stellar_ledger, run.users_checked = btc_height, ledger_seq, len(books["users"])
            run.max_severity, run.status, run.finished_at = max_severity.value, "completed", utcnow()
            run.figures = {
                "utxo_confirmed_sats": s.confirmed, "utxo_count": s.confirmed_count, "utxo_available_sats": s.available,
                "books_custody_sats": _debit(codes.get(AccountCode.CUSTODY_BTC)),
                "books_supply_units": _debit(codes.get(AccountCode.ISTSI_SUPPLY)),
                "chain_supply_units": supply_on_chain,
                "books_unpaid_withdrawals_sats": _credit(codes.get(AccountCode.WITHDRAWALS_UNPAID)),
                "books_deposits_in_flight_sats": _credit(codes.get(AccountCode.DEPOSITS_IN_FLIGHT)),
                "books_pending_receipts_sats": _credit(codes.get(AccountCode.PENDING_RECEIPTS)),
                "books_unattributed_sats": _credit(codes.get(AccountCode.UNATTRIBUTED_RECEIPTS)),
                "books_reorged_sats": _debit(codes.get(AccountCode.REORGED_DEPOSITS)),
                "books_fee_reserve_sats": _credit(codes.get(AccountCode.FEE_RESERVE)),
                "books_network_fees_sats": _debit(codes.get(AccountCode.NETWORK_FEES)),
                "comparisons": [{"check": c.check.value, "expected": c.expected, "actual": c.actual,
                                 **({"user_id": str(c.user_id)} if c.user_id else {})} for c in comparisons],
            }

