"""Helpers for reserves tests: chain users with a KYC tier, iSTSi minted, and a projected balance."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import text
from stellar_sdk import Keypair

from db import ledger as books
from domain import entries as e
from domain.chart import TransferCode
from domain.ledger import LedgerId, Transfer
from workers.registry import WorkerDeps

FAR_FUTURE = int(time.time()) + 365 * 24 * 3600


@dataclass(frozen=True)
class ChainUser:
    user_id: uuid.UUID
    keypair: Keypair
    mint_ledger: int

    @property
    def address(self) -> str:
        return self.keypair.public_key


@pytest.fixture
async def chain_user(soroban_sandbox, worker_deps: WorkerDeps, sessions, make_user, settings):
    """``await chain_user(minted, db_balance)``: a user whose on-chain iSTSi is ``minted`` (by the
    router, outside any deposit) and whose iSTSi in the books is ``db_balance`` (None: no account),
    posted as a bare iSTSi-ledger correction: the books deliberately disagree with the chain."""

    corrections: list[tuple[uuid.UUID, int]] = []
    made: list[uuid.UUID] = []

    async def make(minted: int, db_balance: int | None) -> ChainUser:
        account = await make_user()
        kp = Keypair.random()
        httpx.get(f"{soroban_sandbox.url}/friendbot", params={"addr": kp.public_key}).raise_for_status()
        contracts = worker_deps.contracts
        await contracts.kyc.register_customer(kp.public_key, 2, "CH", FAR_FUTURE)
        ledger = 0
        if minted:
            ledger = (await contracts.router.execute_bitcoin_deposit(kp.public_key, minted, os.urandom(32), 0, 6, 1)).ledger
        async with sessions() as session, session.begin():
            await session.execute(text("UPDATE users SET stellar_address = :a WHERE id = :u"), {"a": kp.public_key, "u": account.id})
            if db_balance is not None:
                await books.open_accounts(session, [e.user_istsi(account.id)],
                                           token_address=settings.soroban.contracts.istsi_token)
                if db_balance:
                    await books.post(session, [Transfer(f"test-credit:{account.id}", e.SUPPLY, e.user_istsi(account.id),
                                                         db_balance, LedgerId.ISTSI, TransferCode.CORRECTION)])
                    corrections.append((account.id, db_balance))
            made.append(account.id)
        return ChainUser(account.id, kp, ledger)

    yield make
    # Reverse the bare corrections, so the books of the session stack stay whole for later tests
    # (the solvency guard would otherwise see iSTSi without backing and refuse every mint). The
    # credited tokens may have moved to the test's other chain users: take them back from whoever
    # holds them now.
    left = sum(amount for _, amount in corrections)
    async with sessions() as session, session.begin():
        reversals = []
        for user_id in made:
            held = (await books.account(session, e.user_istsi(user_id))).credit_available
            take = min(max(held, 0), left)
            if take:
                reversals.append(Transfer(f"test-credit-reversal:{user_id}", e.user_istsi(user_id), e.SUPPLY, take,
                                          LedgerId.ISTSI, TransferCode.CORRECTION))
                left -= take
        await books.post(session, reversals)


async def db_balance(sessions, user_id: uuid.UUID) -> int:
    async with sessions() as session:
        return (await session.execute(text("SELECT balance FROM token_balances WHERE user_id = :u"), {"u": user_id})).scalar_one()


async def maybe_record(client, workflow_id: str, name: str, *, run_id: str | None = None) -> None:
    """With ``RECORD_HISTORIES=1``, save the run as a golden history for tests/workflow/test_replay.py
    (the latest run of ``workflow_id`` unless ``run_id`` names one)."""
    if not os.environ.get("RECORD_HISTORIES"):
        return
    from tests.workflow.record_history import HISTORIES

    handle = client.get_workflow_handle(workflow_id, run_id=run_id)
    history = await handle.fetch_history()
    desc = await handle.describe()
    doc = {"workflow_id": workflow_id, "workflow_type": desc.workflow_type, "history": json.loads(history.to_json())}
    (HISTORIES / f"{name}.json").write_text(json.dumps(doc, indent=1))


@pytest.fixture
def custody_queue_worker(custody_worker):
    """The session's worker on the configured task queue, where API-started workflows go (a
    second worker on that queue is refused by Temporal)."""
    return custody_worker
