"""integration_router: every function on its happy path and on each error code."""

from __future__ import annotations

import os

import pytest
from stellar_sdk import Keypair

from chains.soroban import ContractError, Contracts, Role

from .conftest import FAR_FUTURE


def outpoint() -> tuple[bytes, int]:
    return os.urandom(32), 0


async def expect_code(coro, code: int, contract: str = "integration_router") -> ContractError:
    with pytest.raises(ContractError) as info:
        await coro
    assert (info.value.contract, info.value.code) == (contract, code), info.value
    return info.value


async def deposit(c: Contracts, user: str, amount: int = 50_000, confirmations: int = 6):
    txid, vout = outpoint()
    return await c.router.execute_bitcoin_deposit(user, amount, txid, vout, confirmations, 800_000), txid


async def test_deposit_mints_and_emits_event(contracts: Contracts, verified_user: Keypair) -> None:
    supply_before = await contracts.token.total_supply()
    result, txid = await deposit(contracts, verified_user.public_key, 75_000)
    assert len(result.value) == 32
    assert await contracts.token.balance(verified_user.public_key) == 75_000
    assert await contracts.token.total_supply() == supply_before + 75_000
    names = [e.topics[0] for e in result.events]
    assert names == ["btc_dep", "mint", "deposit"]
    dep = result.events[-1]
    assert dep.topics == ["deposit", verified_user.public_key, txid]
    assert dep.value == [75_000, 0, result.value]


async def test_deposit_errors(contracts: Contracts, verified_user: Keypair, fund) -> None:
    user = verified_user.public_key
    _, txid = await deposit(contracts, user)
    await expect_code(contracts.router.execute_bitcoin_deposit(user, 50_000, txid, 0, 6, 1), 42)  # same outpoint
    await expect_code(contracts.router.execute_bitcoin_deposit(user, 50_000, os.urandom(32), 0, 1, 1), 32)  # confs
    unknown = fund().public_key
    await expect_code(contracts.router.execute_bitcoin_deposit(unknown, 1, os.urandom(32), 0, 6, 1), 21)  # tier 0
    await contracts.kyc.set_sanctions_status(user, False)
    await expect_code(contracts.router.execute_bitcoin_deposit(user, 1, os.urandom(32), 0, 6, 1), 20)
    await contracts.kyc.set_sanctions_status(user, True)
    await expect_code(contracts.router.execute_bitcoin_deposit(user, 200_000_000, os.urandom(32), 0, 6, 1), 20)  # limit


async def test_roles_unauthorized_and_insufficient_permissions(contracts: Contracts, fund) -> None:
    stranger = fund()
    await expect_code(contracts.router.emergency_pause("x", signer=stranger), 1)  # holds no role
    officer = fund()
    result = await contracts.router.set_role(officer.public_key, Role.COMPLIANCE_OFFICER)
    assert result.events[0].topics == ["role", officer.public_key] and result.events[0].value == 3
    await expect_code(contracts.router.set_role(stranger.public_key, Role.OPERATOR, signer=officer), 2)
    await expect_code(contracts.router.resume_operations(signer=officer), 2)  # SuperAdmin only
    await expect_code(contracts.router.set_role(officer.public_key, 9), 41)  # not a role
    # The officer's pause is authorized by its own signed auth entry (address credentials).
    paused = await contracts.router.emergency_pause("officer drill", signer=officer)
    assert paused.events[0].topics == ["pause", officer.public_key]
    await contracts.router.resume_operations()


async def test_pause_blocks_money_movement_then_resume(contracts: Contracts, verified_user: Keypair) -> None:
    result = await contracts.router.emergency_pause("incident drill")
    assert result.events[0].topics[0] == "pause" and result.events[0].value == "incident drill"
    assert await contracts.router.is_paused() is True
    try:
        await expect_code(deposit(contracts, verified_user.public_key), 50)
    finally:
        resumed = await contracts.router.resume_operations()
    assert resumed.events[0].topics[0] == "resume" and resumed.events[0].value is None
    assert await contracts.router.is_paused() is False
    assert await contracts.router.get_min_confirmations() == 6


async def test_withdrawal_complete_and_cancel(contracts: Contracts, verified_user: Keypair, client) -> None:
    user = verified_user.public_key
    router = contracts.router.address
    await deposit(contracts, user, 90_000)
    wd_id = os.urandom(32)
    # Without an allowance for the router the burn fails inside the token: 11.
    await expect_code(contracts.router.execute_token_withdrawal(user, 10_000, "bcrt1qexample", wd_id), 11)
    latest = (await client.server.get_latest_ledger()).sequence
    await contracts.token.approve(user, router, 60_000, latest + 1000, signer=verified_user)
    result = await contracts.router.execute_token_withdrawal(user, 30_000, "bcrt1qexample", wd_id)
    assert [e.topics[0] for e in result.events] == ["burn", "wd_req", "withdraw"]
    assert result.events[-1].topics == ["withdraw", user, wd_id]
    assert await contracts.token.balance(user) == 60_000
    await expect_code(contracts.router.execute_token_withdrawal(user, 1, "bcrt1qexample", wd_id), 42)
    done = await contracts.router.complete_withdrawal(wd_id, b"\x11" * 32)
    assert done.events[-1].topics == ["wd_done", wd_id] and done.events[-1].value == b"\x11" * 32
    await expect_code(contracts.router.cancel_withdrawal(wd_id), 41)  # already completed
    await expect_code(contracts.router.complete_withdrawal(wd_id, b"\x11" * 32), 41)

    wd2 = os.urandom(32)
    await contracts.router.execute_token_withdrawal(user, 20_000, "bcrt1qexample", wd2)
    cancelled = await contracts.router.cancel_withdrawal(wd2)
    assert cancelled.events[-1].topics == ["wd_cancel", wd2] and cancelled.events[-1].value == 20_000
    assert await contracts.token.balance(user) == 60_000  # re-minted


async def test_withdrawal_tier_and_reserves(contracts: Contracts, fund, client, operator) -> None:
    basic = fund()
    await contracts.kyc.register_customer(basic.public_key, 1, "CH", FAR_FUTURE)
    await expect_code(contracts.router.execute_token_withdrawal(basic.public_key, 1, "bc1q", os.urandom(32)), 21)

    # Unbacked tokens (minted directly while the operator is minter) cannot be withdrawn: 30.
    user = fund()
    await contracts.kyc.register_customer(user.public_key, 3, "CH", FAR_FUTURE)
    reserves = await contracts.reserve.get_total_reserves()
    pending = await contracts.reserve.get_pending_withdrawals()
    amount = reserves - pending + 1
    await contracts.token.set_minter(operator.public_key)
    try:
        await contracts.token.mint(user.public_key, amount)
    finally:
        await contracts.token.set_minter(contracts.router.address)
    latest = (await client.server.get_latest_ledger()).sequence
    await contracts.token.approve(user.public_key, contracts.router.address, amount, latest + 1000, signer=user)
    await expect_code(contracts.router.execute_token_withdrawal(user.public_key, amount, "bc1q", os.urandom(32)), 30)


async def test_initialize_twice_is_invalid_state(contracts: Contracts, operator) -> None:
    c = contracts
    await expect_code(
        c.router.initialize(operator.public_key, c.kyc.address, c.token.address, c.reserve.address), 41
    )
