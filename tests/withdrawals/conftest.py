"""Withdrawal test helpers: a KYC-approved user holding real, BTC-backed iSTSi.

``holder(amounts)`` pays each amount from the Esplora sandbox faucet to the user's custody deposit
address, mines it, mints the same amount through ``integration_router.execute_bitcoin_deposit``
as the operator (independent of the deposit workflow), writes the matching ``token_balances``
row and completed deposit rows (so the deposit scan skips those outputs), registers the user on ``kyc_registry`` with an approved ``kyc_records`` row, and has the
user approve the router as spender with their own (friendbot-funded) Stellar key.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import func, select, update
from stellar_sdk import Keypair

from activities.custody_books import CustodyBooks, Sighting
from api.app import create_app
from contracts.workflow_ids import mint_submission_key
from db.models import AuditLog, ChainSubmission, KycRecord, Operation, PayoutItem, TokenBalance, User
from db.queries import deposit_addresses, operations
from db.queries.operations import NewDeposit
from db.queries.payouts import WithdrawalPayout, withdrawal_payout
from domain.bitcoin_address import Network, script_pubkey_address
from domain.roles import Role
from tests.fixtures.waiting import eventually

FAR_FUTURE = int(time.time()) + 365 * 24 * 3600


def recipient_address() -> str:
    """A fresh regtest P2WPKH address nobody else pays (random program)."""
    return script_pubkey_address(b"\x00\x14" + uuid.uuid4().bytes + b"\x00" * 4, Network.REGTEST)


@dataclass
class Holder:
    account: object
    keypair: Keypair
    deposits_sats: list[int] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.keypair.public_key

    @property
    def headers(self) -> dict[str, str]:
        return self.account.headers  # type: ignore[attr-defined]


class Chain:
    """The two sandboxes as a test drives them."""

    def __init__(self, esplora_url: str, soroban_url: str, contracts, wallet, settings) -> None:
        self.esplora_url, self.soroban_url = esplora_url, soroban_url
        self.contracts, self.wallet, self.settings = contracts, wallet, settings

    def mine(self, blocks: int = 1) -> int:
        r = httpx.post(f"{self.esplora_url}/sandbox/mine", json={"blocks": blocks})
        r.raise_for_status()
        return r.json()["height"]

    def faucet(self, address: str, sats: int) -> tuple[str, int]:
        r = httpx.post(f"{self.esplora_url}/sandbox/faucet", json={"address": address, "sats": sats})
        r.raise_for_status()
        return r.json()["txid"], r.json()["vout"]

    def friendbot(self, address: str) -> None:
        httpx.get(f"{self.soroban_url}/friendbot", params={"addr": address}).raise_for_status()

    def txs_to(self, address: str) -> list[dict]:
        return httpx.get(f"{self.esplora_url}/address/{address}/txs").json()

    async def approve_router(self, holder: Holder, amount: int) -> None:
        latest = (await self.contracts.token.client.server.get_latest_ledger()).sequence
        await self.contracts.token.approve(holder.address, self.contracts.router.address, amount, latest + 10_000,
                                           signer=holder.keypair)


@pytest.fixture
def chain(bitcoin_sandbox_url, soroban_sandbox, worker_deps, settings) -> Chain:
    return Chain(bitcoin_sandbox_url, soroban_sandbox.url, worker_deps.contracts, worker_deps.wallet, settings)


@pytest.fixture
def holder(make_user, sessions, chain: Chain, settings, worker_deps):
    """``await holder([50_000, ...], tier=2, role=Role.USER, allowance=None)`` → a funded :class:`Holder`."""

    submitter = worker_deps.submitter

    async def make(amounts: list[int], *, tier: int = 2, role: Role = Role.USER, allowance: int | None = None) -> Holder:
        account = await make_user(role)
        kp = Keypair.random()
        chain.friendbot(kp.public_key)
        now = datetime.now(UTC)
        async with sessions() as session, session.begin():
            await session.execute(update(User).where(User.id == account.id).values(stellar_address=kp.public_key))
            session.add(KycRecord(user_id=account.id, tier=tier, status="approved", jurisdiction="CH",
                                  approved_at=now, expires_at=now + timedelta(days=365)))
            row = await deposit_addresses.assign_deposit_address(
                session, user_id=account.id, derive_address=chain.wallet.receive_address)
        await chain.contracts.kyc.register_customer(kp.public_key, tier, "CH", FAR_FUTURE)
        paid = [chain.faucet(row.address, sats) for sats in amounts]
        token = settings.soroban.contracts.istsi_token
        books = CustodyBooks(settings)
        ops = []
        for (txid, vout), sats in zip(paid, amounts, strict=True):
            # A deposit row before the block (so the deposit scan leaves the output to it) ...
            async with sessions() as session, session.begin():
                op = await operations.insert_deposit(session, NewDeposit(
                    user_id=account.id, txid=txid, vout=vout, amount_sats=sats, idempotency_key=f"deposit:{txid}:{vout}",
                    workflow_id=f"deposit-{txid}:{vout}", token_address=token, stellar_address=kp.public_key,
                    source="test"))
                assert op is not None
            ops.append(op)
        height = chain.mine(1)
        for (txid, vout), sats, op in zip(paid, amounts, ops, strict=True):
            # ... its receipt in the books, the engine's own exactly-once mint (so the scan and the
            # event monitor recognise it as credited by the engine) and the credit, independent
            # of the deposit workflow.
            async with sessions() as session, session.begin():
                await books.sight(session, Sighting(f"{txid}:{vout}", sats, row.address, height, None), tip_height=height)
            record = await submitter.submit_once(
                mint_submission_key(str(op.id)), contract="integration_router", function="execute_bitcoin_deposit",
                invoke=lambda store, txid=txid, vout=vout, sats=sats: chain.contracts.router.execute_bitcoin_deposit(
                    kp.public_key, sats, bytes.fromhex(txid), vout, 6, height, store=store))
            async with sessions() as session, session.begin():
                await session.execute(update(Operation).where(Operation.id == op.id).values(
                    status="completed", stage="completed", stellar_tx_hash=record["tx_hash"]))
                await books.credit(session, await session.get(Operation, op.id))
        h = Holder(account, kp, list(amounts))
        await chain.approve_router(h, allowance if allowance is not None else sum(amounts))
        return h

    return make


@pytest.fixture
def read(sessions, settings):
    """Readers of the rows a withdrawal touches."""

    class Reader:
        async def operation(self, op_id) -> Operation:
            async with sessions() as s:
                return await s.get(Operation, uuid.UUID(str(op_id)))

        async def balance(self, user_id) -> TokenBalance:
            async with sessions() as s:
                return (await s.execute(select(TokenBalance).where(
                    TokenBalance.user_id == user_id,
                    TokenBalance.token_address == settings.soroban.contracts.istsi_token))).scalar_one()

        async def payout(self, op_id) -> WithdrawalPayout | None:
            """The withdrawal's part of its payout: ``amount_sats`` to the recipient, ``fee_sats`` its share."""
            async with sessions() as s:
                return await withdrawal_payout(s, operation_id=uuid.UUID(str(op_id)))

        async def submissions(self, op_id) -> dict[str, str]:
            async with sessions() as s:
                rows = await s.execute(select(ChainSubmission.idempotency_key, ChainSubmission.status).where(
                    ChainSubmission.idempotency_key.like(f"withdrawal-%:{op_id}")))
            return {k.split(":")[0]: v for k, v in rows.all()}

        async def audit_actions(self, op_id) -> list[str]:
            async with sessions() as s:
                rows = await s.execute(select(AuditLog.action).where(AuditLog.resource_id == str(op_id))
                                       .order_by(AuditLog.created_at))
            return list(rows.scalars())

        async def count_payouts(self, op_id) -> int:
            """Signed payout versions that pay this withdrawal's output (each a conflicting version of one
            payout, so at most one can confirm), and distinct payouts it ever belonged to."""
            async with sessions() as s:
                return int((await s.execute(select(func.count(func.distinct(PayoutItem.payout_id))).where(
                    PayoutItem.operation_id == uuid.UUID(str(op_id))))).scalar_one())

        async def wait(
            self, op_id, *, stage: str | None = None, status: str | None = None, timeout: float = 60,
            or_later: tuple[str, ...] = (),
        ):
            """Until the operation is at ``stage`` (or one of ``or_later``) and ``status``."""
            seen: list[str] = []
            stages = {stage, *or_later} if stage else set()

            async def check():
                op = await self.operation(op_id)
                if op is not None and (not seen or seen[-1] != f"{op.status}/{op.stage}/{op.error}"):
                    seen.append(f"{op.status}/{op.stage}/{op.error}")
                ok = op is not None and (not stages or op.stage in stages) and (status is None or op.status == status)
                return op if ok else None

            return await eventually(check, timeout=timeout, interval=0.1,
                                    what=lambda: f"operation to reach stage={stage} status={status}; saw {seen}")

    return Reader()


@pytest.fixture
async def queue_client(app_state, settings, task_queue):
    """An API client whose app starts workflows on the test's own task queue (for test workers)."""
    temporal = settings.temporal.model_copy(update={"task_queue": task_queue})
    queued = settings.model_copy(update={"temporal": temporal})
    app = create_app(queued, state=dataclasses.replace(app_state, settings=queued))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 51000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
