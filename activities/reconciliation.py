"""The reconciliation activity: read every figure, compare (``domain.reconciliation``), store the
run and its discrepancies, alert on anything at warning or worse.

Idempotent on ``run_id``: a retry replaces the run's discrepancies instead of adding to them.
"""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from temporalio import activity

from activities.alerts import raise_alert
from activities.custody_assets import custody_holdings
from activities.reconciliation_types import ReconcileInput, ReconciliationReport
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CustodyWallet
from chains.soroban.contracts import Contracts
from config.settings import Settings
from db.models import ReconciliationDiscrepancy, ReconciliationRun
from db.models.base import utcnow
from db.queries import reserves as figures
from db.session import transaction
from domain import reconciliation as rec
from domain.reserves import Severity, SeverityThresholds, worst

#: Per-user chain reads per run; the most recently changed balances go first.
MAX_USERS_PER_RUN = 500


def severity_thresholds(settings: Settings) -> SeverityThresholds:
    r = settings.reserves
    return SeverityThresholds(r.warning_discrepancy_bps, r.critical_discrepancy_bps, r.emergency_discrepancy_bps)


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
        ledger = (await self.contracts.token.client.server.get_latest_ledger()).sequence
        holdings = await custody_holdings(
            self.esplora, self.wallet, self.sessions, btc_height=btc_height,
            change_gap_limit=self.settings.reserves.change_gap_limit,
        )
        chain_reserves = await self.contracts.reserve.get_total_reserves()
        supply = await self.contracts.token.total_supply()
        async with self.sessions() as session:
            net_db = await figures.net_completed_deposits_sats(session)
            balances = await figures.total_balances_units(session, token_address=token)
            users = await figures.active_user_balances(session, token_address=token, since=since, limit=MAX_USERS_PER_RUN)
        comparisons = [
            rec.Comparison(rec.UTXOS_VS_RESERVE_MANAGER, holdings.total_sats, chain_reserves),
            rec.Comparison(rec.UTXOS_VS_DATABASE, holdings.total_sats, net_db),
            rec.Comparison(rec.SUPPLY_VS_BALANCES, supply, balances),
        ]
        for user_id, address, db_balance in users:
            comparisons.append(rec.Comparison(rec.USER_BALANCE, await self.contracts.token.balance(address), db_balance, user_id))
        findings = rec.assess(comparisons, severity_thresholds(self.settings))
        max_severity = worst([f.severity for f in findings])
        async with transaction(self.sessions) as session:
            await session.execute(delete(ReconciliationDiscrepancy).where(ReconciliationDiscrepancy.run_id == inp.run_id))  # type: ignore[arg-type]
            for f in findings:
                c = f.comparison
                session.add(ReconciliationDiscrepancy(
                    run_id=inp.run_id, check_name=c.check_name, user_id=c.user_id, expected_sats=c.expected,
                    actual_sats=c.actual, diff_sats=f.diff_sats, diff_bps=f.diff_bps, severity=f.severity.value,
                ))
            run = await session.get(ReconciliationRun, inp.run_id)
            assert run is not None
            run.btc_height, run.stellar_ledger, run.users_checked = btc_height, ledger, len(users)
            run.max_severity, run.status, run.finished_at = max_severity.value, "completed", utcnow()
            run.figures = {
                "utxo_total_sats": holdings.total_sats, "utxo_count": holdings.utxo_count,
                "chain_reserves_sats": chain_reserves, "db_net_deposits_sats": net_db,
                "chain_supply_units": supply, "db_balances_units": balances,
            }
        if max_severity.rank >= Severity.WARNING.rank:
            raise_alert("reconciliation_discrepancy", "reconciliation found discrepancies",
                        run_id=str(inp.run_id), max_severity=max_severity.value, findings=len(findings))
        return ReconciliationReport(inp.run_id, max_severity.value, len(findings), len(users))
