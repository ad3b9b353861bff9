"""Issue 14 acceptance: a deposit whose owner is not yet allowed waits on the user, not on an
operator, and continues by itself the moment the user's KYC (or limit window) allows it.

In the order real people act: BTC is sent (and detected, or posted) before KYC is done; only then
is KYC submitted and approved. The test configuration re-checks waiting deposits only once an
hour, so a deposit that completes within seconds of the approval was woken by the KYC workflow's
``kyc_changed`` signal; the missed-signal path (periodic re-check) and the ``kyc_wait_days``
expiry run on a worker of their own with short timings.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from stellar_sdk import Keypair
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker
from websockets.asyncio.client import connect

from activities.deposit_policy import DepositPolicy
from api.app import create_app
from config.settings import Settings
from contracts import search_attributes as sa
from contracts.deposits import CHECK_POLICY, DepositInput, PolicyInput, PolicyResult, ScanInput
from contracts.starters import start_deposit
from contracts.workflow_ids import deposit_idempotency_key, deposit_workflow_id
from db.models import KycRecord, Operation, User
from db.queries import operations
from db.queries.operations import NewDeposit
from domain.kyc import KycStatus
from domain.roles import Role
from tests.deposits.conftest import post_deposit
from tests.fixtures.chains import serve_in_thread, stop
from tests.fixtures.waiting import eventually
from tests.workflow.record_history import save_history
from workers import registry
from workers.main import build_worker
from workflows.deposit_scan import DepositScanWorkflow

pytestmark = pytest.mark.usefixtures("custody_worker", "minting_enabled")
PASSPORT = {"document_type": "passport", "document_number": "P9876543", "full_name": "Dana Depositor", "country": "CH"}


@pytest.fixture(scope="module")
def ws_url(settings: Settings) -> Iterator[str]:
    served = serve_in_thread(create_app(settings), ready_path="/api/system/info")
    yield served.url.replace("http://", "ws://") + "/api/ws"
    stop(served)


@dataclasses.dataclass
class Newcomer:
    """A registered user with a funded Stellar account and a deposit address, and no KYC yet."""

    account: object
    keypair: Keypair
    deposit_address: str

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers  # type: ignore[attr-defined]

    @property
    def stellar_address(self) -> str:
        return self.keypair.public_key


@pytest.fixture
def newcomer(make_user, sessions, soroban_sandbox, api_client):
    async def make() -> Newcomer:
        account = await make_user(Role.USER)
        keypair = Keypair.random()
        async with httpx.AsyncClient() as http:
            (await http.get(f"{soroban_sandbox.url}/friendbot", params={"addr": keypair.public_key})).raise_for_status()
        async with sessions() as session, session.begin():
            await session.execute(update(User).where(User.id == account.id).values(stellar_address=keypair.public_key))
        response = await api_client.get("/api/integration/deposit-address", headers=account.headers)
        assert response.status_code == 200, response.text
        return Newcomer(account, keypair, response.json()["address"])

    return make


class Feed:
    """The user's WebSocket: every operation update, kept in order."""

    def __init__(self, ws) -> None:
        self.ws, self.updates = ws, []

    async def collect(self) -> None:
        while True:
            message = json.loads(await self.ws.recv())
            if message["type"] == "operation_update":
                self.updates.append(message["operation"])

    def of(self, op_id: str) -> list[dict]:
        return [u for u in self.updates if u["id"] == op_id]

    def completed(self, op_id: str) -> bool:
        """The operation's last update so far says ``completed`` (its final NOTIFY has arrived)."""
        return [u["stage"] for u in self.of(op_id)][-1:] == ["completed"]


async def _feed(ws_url: str, token: str):
    ws = await connect(f"{ws_url}?token={token}")
    assert json.loads(await ws.recv())["type"] == "authenticated"
    await ws.send(json.dumps({"type": "subscribe"}))
    assert json.loads(await ws.recv())["type"] == "subscribed"
    feed = Feed(ws)
    return ws, feed, asyncio.create_task(feed.collect())


async def _operation(api_client, user: Newcomer, op_id: str) -> dict:
    response = await api_client.get(f"/api/integration/operations/{op_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _stage_attribute(temporal_client, workflow_id: str) -> str | None:
    described = await temporal_client.get_workflow_handle(workflow_id).describe()
    return described.typed_search_attributes.get(sa.STAGE)


async def _signals(temporal_client, workflow_id: str) -> list[str]:
    history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
    return [e.workflow_execution_signaled_event_attributes.signal_name for e in history.events
            if e.HasField("workflow_execution_signaled_event_attributes")]


async def _scan(temporal_client, settings: Settings) -> None:
    await temporal_client.execute_workflow(
        DepositScanWorkflow.run, ScanInput(grace_seconds=3600), id=f"deposit-scan-test-{uuid.uuid4()}",
        task_queue=settings.temporal.task_queue,
    )


async def _detected(sessions, txid: str, vout: int) -> Operation:
    async with sessions() as session:
        op = await operations.get_by_outpoint(session, outpoint=f"{txid}:{vout}")
    assert op is not None and op.meta["source"] == "detection"
    return op


async def test_btc_detected_before_kyc_waits_then_completes_when_kyc_is_approved(
    api_client, newcomer, btc, wait_for, sessions, temporal_client, settings, ws_url, worker_deps
) -> None:
    user = await newcomer()
    ws, feed, collecting = await _feed(ws_url, user.account.token)
    try:
        txid, vout = await btc.pay(user.deposit_address, 45_000)
        await btc.mine(1)
        await _scan(temporal_client, settings)  # detection starts the deposit; nobody posted it
        op = await _detected(sessions, txid, vout)
        op_id = str(op.id)

        waiting = await wait_for(op_id, stage="awaiting_kyc")
        assert (waiting.status, waiting.error) == ("processing", None)
        assert "POST /api/kyc/submit" in waiting.waiting_for
        seen = await _operation(api_client, user, op_id)
        assert (seen["stage"], seen["waiting_reason"]) == ("awaiting_kyc", "kyc_required")
        assert seen["waiting_for"] == waiting.waiting_for
        # The workflow upserts its stage attribute after the step's activity returns, and the
        # visibility store catches up after that: the row can show the stage first.
        async def staged() -> bool:
            return await _stage_attribute(temporal_client, op.workflow_id) == "awaiting_kyc"

        await eventually(staged, timeout=10, what="the stage search attribute")

        submitted = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": PASSPORT},
                                          headers=user.headers)
        assert submitted.status_code == 202, submitted.text
        started = time.monotonic()
        done = await wait_for(op_id, status="completed", timeout=30)
        assert time.monotonic() - started < settings.deposits.user_wait_recheck_seconds
        assert "kyc_changed" in await _signals(temporal_client, op.workflow_id)  # woken by the KYC workflow
        if os.environ.get("RECORD_HISTORIES"):  # refresh the golden history for test_replay
            await save_history(temporal_client, op.workflow_id, "deposit_awaiting_kyc")
        assert (done.waiting_for, done.error) == (None, None)
        assert await worker_deps.contracts.token.balance(user.stellar_address) == 45_000
        await eventually(lambda: feed.completed(op_id), timeout=10, what="the last update on the socket")
    finally:
        collecting.cancel()
        await ws.close()
    stages = [u["stage"] for u in feed.of(op_id)]
    assert "awaiting_kyc" in stages and stages[-1] == "completed"
    assert stages.index("awaiting_kyc") < stages.index("minting")
    shown = next(u for u in feed.of(op_id) if u["stage"] == "awaiting_kyc")
    assert "POST /api/kyc/submit" in shown["waiting_for"]
    history = [s["stage"] for s in (await _operation(api_client, user, op_id))["stages"]]
    assert "awaiting_kyc" in history and "needs_attention" not in history


async def test_posted_before_kyc_waits_through_review_then_completes_on_approval(
    api_client, newcomer, make_user, btc, wait_for, settings, ws_url, worker_deps
) -> None:
    user = await newcomer()
    officer = await make_user(Role.COMPLIANCE_OFFICER)
    ws, feed, collecting = await _feed(ws_url, user.account.token)
    try:
        txid, vout = await btc.pay(user.deposit_address, 2_000_000)  # above tier 1's single limit: needs tier 2
        posted = await post_deposit(api_client, user, txid, vout, 2_000_000)
        assert posted.status_code == 202, posted.text
        op_id = posted.json()["operation_id"]
        await btc.mine(1)
        waiting = await wait_for(op_id, stage="awaiting_kyc")
        assert "tier 2" in waiting.waiting_for

        submitted = await api_client.post("/api/kyc/submit", json={"tier": 2, "verification_data": PASSPORT},
                                          headers=user.headers)
        assert submitted.status_code == 202, submitted.text
        record_id = submitted.json()["record_id"]

        seen: list[dict] = []

        async def reviewing() -> bool:  # the KYC workflow tells the deposit that a review is pending
            seen[:] = [await _operation(api_client, user, op_id)]
            return seen[0].get("waiting_reason") == "kyc_pending"

        await eventually(reviewing, timeout=20, interval=0.2, what=lambda: f"a pending review; saw {seen}")

        decision = {"decision": "approve", "reason": "documents verified"}

        async def decided() -> bool:
            answer = await api_client.post(f"/api/admin/kyc/{record_id}/decision", json=decision, headers=officer.headers)
            if answer.status_code != 202 and answer.json()["code"] != "not_awaiting_decision":
                pytest.fail(f"the decision was refused: {answer.text}")  # fails at once, not retried
            return answer.status_code == 202

        await eventually(decided, timeout=20, interval=0.2, what="the KYC workflow to accept the decision")
        done = await wait_for(op_id, status="completed", timeout=30)
        assert done.waiting_for is None
        assert await worker_deps.contracts.token.balance(user.stellar_address) == 2_000_000
        await eventually(lambda: feed.completed(op_id), timeout=10, what="the last update on the socket")
    finally:
        collecting.cancel()
        await ws.close()
    reasons = [u.get("waiting_for") for u in feed.of(op_id) if u["stage"] == "awaiting_kyc"]
    assert any(r and "under review" in r for r in reasons)
    assert feed.of(op_id)[-1]["stage"] == "completed"


async def test_a_full_limit_window_waits_until_it_frees_then_completes(
    api_client, make_depositor, btc, wait_for, sessions, settings, worker_deps
) -> None:
    depositor = await make_depositor(tier=1)  # tier 1: 5,000,000 sats per 24 h
    daily = settings.kyc.tier_limits[1].daily_sats
    frees_in = timedelta(seconds=8)
    async with sessions() as session, session.begin():  # an earlier deposit that leaves the window soon
        session.add(Operation(
            user_id=depositor.account.id, operation_type="deposit", status="completed", stage="completed",
            amount=daily - 100_000, limits_counted_at=datetime.now(UTC) - timedelta(hours=24) + frees_in,
        ))
    txid, vout = await btc.pay(depositor.deposit_address, 150_000)
    op_id = (await post_deposit(api_client, depositor, txid, vout, 150_000)).json()["operation_id"]
    await btc.mine(1)

    waiting = await wait_for(op_id, stage="awaiting_limits")
    assert waiting.error is None and "continues by itself at" in waiting.waiting_for
    assert (await _operation(api_client, depositor, op_id))["waiting_reason"] == "limit_window"

    done = await wait_for(op_id, status="completed", timeout=40)
    assert done.waiting_for is None and done.limits_counted_at is not None
    assert await worker_deps.contracts.token.balance(depositor.stellar_address) == 150_000


# ---- a worker of its own: short re-check and KYC wait ------------------------------------------

@pytest.fixture
async def short_wait_worker(temporal_client, settings: Settings, worker_deps, task_queue: str):
    """The engine's worker on its own task queue with a 1 s re-check and a ~6 s KYC wait."""
    short = settings.model_copy(update={"deposits": settings.deposits.model_copy(update={
        "user_wait_recheck_seconds": 1.0, "kyc_wait_days": 6 / 86_400,
    })})
    deps = dataclasses.replace(worker_deps, settings=short)
    async with build_worker(temporal_client, short, deps, task_queue=task_queue) as worker:
        yield worker


async def _start_own(temporal_client, sessions, settings, user: Newcomer, txid: str, vout: int, amount: int,
                     task_queue: str) -> str:
    """Record a posted deposit and start its workflow on ``task_queue`` (not the API's)."""
    async with sessions() as session, session.begin():
        op = await operations.insert_deposit(session, NewDeposit(
            user_id=user.account.id, txid=txid, vout=vout, amount_sats=amount,
            idempotency_key=deposit_idempotency_key(txid, vout), workflow_id=deposit_workflow_id(txid, vout),
            token_address=settings.soroban.contracts.istsi_token, stellar_address=user.stellar_address, source="api",
        ))
    await start_deposit(
        temporal_client, DepositInput(str(op.id), str(user.account.id), txid, vout, amount), task_queue=task_queue
    )
    return str(op.id)


async def test_a_missed_signal_is_covered_by_the_periodic_recheck(
    newcomer, btc, wait_for, sessions, settings, temporal_client, short_wait_worker, approve_kyc_record, worker_deps
) -> None:
    user = await newcomer()
    txid, vout = await btc.pay(user.deposit_address, 31_000)
    await btc.mine(1)
    op_id = await _start_own(temporal_client, sessions, settings, user, txid, vout, 31_000, short_wait_worker.task_queue)
    await wait_for(op_id, stage="awaiting_kyc")

    await approve_kyc_record(user)  # approved without the KYC workflow: no signal is sent

    await wait_for(op_id, status="completed", timeout=30)
    assert await worker_deps.contracts.token.balance(user.stellar_address) == 31_000


async def test_a_kyc_wait_past_kyc_wait_days_goes_to_an_operator_who_can_retry(
    api_client, newcomer, make_user, btc, wait_for, sessions, settings, temporal_client, short_wait_worker,
    approve_kyc_record, worker_deps,
) -> None:
    user = await newcomer()
    operator = await make_user(Role.OPERATOR)
    txid, vout = await btc.pay(user.deposit_address, 32_000)
    await btc.mine(1)
    op_id = await _start_own(temporal_client, sessions, settings, user, txid, vout, 32_000, short_wait_worker.task_queue)
    await wait_for(op_id, stage="awaiting_kyc")

    parked = await wait_for(op_id, stage="needs_attention", timeout=30)
    assert (parked.error, parked.waiting_for, parked.status) == ("kyc_wait_expired", None, "processing")

    await approve_kyc_record(user)
    retried = await api_client.post(f"/api/admin/operations/{op_id}/retry", json={"reason": "KYC done late"},
                                    headers=operator.headers)
    assert retried.status_code == 202, retried.text
    done = await wait_for(op_id, status="completed", timeout=30)
    assert done.error is None
    assert await worker_deps.contracts.token.balance(user.stellar_address) == 32_000


@pytest.fixture
def approve_kyc_record(sessions, worker_deps):
    """Approve a newcomer's KYC (tier 1) in Postgres and on ``kyc_registry``, without a workflow."""

    async def approve(user: Newcomer) -> None:
        now = datetime.now(UTC)
        expires = now + timedelta(days=365)
        await worker_deps.contracts.kyc.register_customer(user.stellar_address, 1, "CH", int(expires.timestamp()))
        async with sessions() as session, session.begin():
            session.add(KycRecord(user_id=user.account.id, tier=1, status=KycStatus.APPROVED.value, jurisdiction="CH",
                                  approved_at=now, expires_at=expires))

    return approve


async def test_a_deposit_parked_by_an_older_runs_kyc_refusal_is_retried_when_kyc_is_approved(
    api_client, newcomer, btc, wait_for, sessions, settings, temporal_client, worker_deps, task_queue
) -> None:
    """Before issue 14 the policy step parked such deposits at needs_attention
    (insufficient_kyc_tier) for an operator; the KYC workflow now retries them itself."""
    real = DepositPolicy(settings=settings, sessions=worker_deps.sessions, contracts=worker_deps.contracts)
    calls = 0

    @activity.defn(name=CHECK_POLICY)
    async def old_then_new_policy(inp: PolicyInput) -> PolicyResult:  # the first answer is the old activity's refusal
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ApplicationError("deposit needs KYC tier 1; current tier is 0", type="insufficient_kyc_tier",
                                   non_retryable=True)
        return await real.check_policy(inp)

    activities = [a for a in registry.activities(worker_deps)
                  if getattr(a, "__temporal_activity_definition").name != CHECK_POLICY]
    async with Worker(temporal_client, task_queue=task_queue, workflows=registry.workflows(),
                      activities=[*activities, old_then_new_policy]):
        user = await newcomer()
        txid, vout = await btc.pay(user.deposit_address, 34_000)
        await btc.mine(1)
        op_id = await _start_own(temporal_client, sessions, settings, user, txid, vout, 34_000, task_queue)
        parked = await wait_for(op_id, stage="needs_attention")
        assert parked.error == "insufficient_kyc_tier"

        submitted = await api_client.post("/api/kyc/submit", json={"tier": 1, "verification_data": PASSPORT},
                                          headers=user.headers)
        assert submitted.status_code == 202, submitted.text
        await wait_for(op_id, status="completed", timeout=30)
    assert await worker_deps.contracts.token.balance(user.stellar_address) == 34_000
