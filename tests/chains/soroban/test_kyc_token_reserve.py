"""kyc_registry, istsi_token and reserve_manager: happy paths and each error code."""

from __future__ import annotations

import os

import pytest
from stellar_sdk import Keypair

from chains.soroban import ContractError, Contracts, KycOp, SorobanError

from .conftest import FAR_FUTURE


async def expect_code(coro, contract: str, code: int) -> None:
    with pytest.raises(ContractError) as info:
        await coro
    assert (info.value.contract, info.value.code) == (contract, code), info.value


async def test_kyc_lifecycle(contracts: Contracts, fund) -> None:
    kyc = contracts.kyc
    user = fund().public_key
    reg = await kyc.register_customer(user, 1, "CH", FAR_FUTURE)
    assert reg.events[0].topics == ["kyc_reg", user] and reg.events[0].value == [1, FAR_FUTURE]
    assert await kyc.get_tier(user) == 1
    assert await kyc.is_approved(user, KycOp.DEPOSIT, 10_000_000) is True
    assert await kyc.is_approved(user, KycOp.DEPOSIT, 10_000_001) is False  # over the tier limit
    assert await kyc.is_approved(user, KycOp.WITHDRAW, 1) is False  # needs Verified
    assert await kyc.is_approved(user, 99, 1) is False  # unknown op fails closed
    tier = await kyc.update_customer_tier(user, 2)
    assert tier.events[0].topics == ["kyc_tier", user] and tier.events[0].value == [1, 2]
    sanct = await kyc.set_sanctions_status(user, False)
    assert sanct.events[0].value is False
    assert await kyc.is_approved(user, KycOp.WITHDRAW, 1) is False
    revoked = await kyc.revoke_customer(user)
    assert revoked.events[0].topics == ["kyc_revoke", user]
    assert await kyc.get_tier(user) == 0


async def test_kyc_errors_and_officers(contracts: Contracts, fund, operator) -> None:
    kyc = contracts.kyc
    officer, stranger, user = fund(), fund(), fund().public_key
    await expect_code(kyc.initialize(operator.public_key), "kyc_registry", 1)  # once
    await expect_code(kyc.update_customer_tier(user, 2), "kyc_registry", 2)  # unknown customer
    await expect_code(kyc.register_customer(user, 7, "CH", FAR_FUTURE), "kyc_registry", 4)  # bad tier
    await expect_code(kyc.register_customer(user, 1, "CH", 1), "kyc_registry", 4)  # already expired
    await expect_code(kyc.add_compliance_officer(officer.public_key, caller=stranger.public_key), "kyc_registry", 1)
    await expect_code(kyc.register_customer(user, 1, "CH", FAR_FUTURE, caller=officer.public_key), "kyc_registry", 1)


async def test_token_reads_and_transfers(contracts: Contracts, verified_user: Keypair, fund, client) -> None:
    token = contracts.token
    assert (await token.name(), await token.symbol(), await token.decimals()) == ("iSTSi", "iSTSi", 8)
    user = verified_user
    await contracts.router.execute_bitcoin_deposit(user.public_key, 40_000, os.urandom(32), 1, 6, 10)
    other = fund()
    sent = await token.transfer(user.public_key, other.public_key, 15_000, signer=user)
    assert sent.events[0].topics == ["transfer", user.public_key, other.public_key] and sent.events[0].value == 15_000
    await expect_code(token.transfer(user.public_key, other.public_key, 10**9, signer=user), "istsi_token", 10)
    await expect_code(token.transfer(user.public_key, other.public_key, -1, signer=user), "istsi_token", 12)
    latest = (await client.server.get_latest_ledger()).sequence
    approved = await token.approve(user.public_key, other.public_key, 5_000, latest + 100, signer=user)
    assert approved.events[0].value == [5_000, latest + 100]
    assert await token.allowance(user.public_key, other.public_key) == 5_000
    await token.transfer_from(other.public_key, user.public_key, other.public_key, 2_000, signer=other)
    await expect_code(
        token.transfer_from(other.public_key, user.public_key, other.public_key, 4_000, signer=other), "istsi_token", 11
    )
    await token.burn_from(other.public_key, user.public_key, 3_000, signer=other)
    burned = await token.burn(other.public_key, 1_000, signer=other)
    assert burned.events[0].topics == ["burn", other.public_key]
    assert await token.balance(user.public_key) == 40_000 - 15_000 - 2_000 - 3_000
    assert await token.balance(other.public_key) == 15_000 + 2_000 - 1_000


async def test_token_admin_and_minter(contracts: Contracts, fund, operator) -> None:
    stranger = fund()
    await expect_code(contracts.token.set_minter(stranger.public_key, admin=stranger.public_key), "istsi_token", 1)
    # Only the minter (the router contract) can authorize mint; the client refuses to send.
    with pytest.raises(SorobanError, match="needs authorization by " + contracts.router.address):
        await contracts.token.mint(stranger.public_key, 1)



async def test_reserve_manager(contracts: Contracts, verified_user: Keypair, operator) -> None:
    reserve = contracts.reserve
    before = await reserve.get_total_reserves()
    txid = os.urandom(32)
    result = await contracts.router.execute_bitcoin_deposit(verified_user.public_key, 12_345, txid, 3, 6, 77)
    btc_dep = result.events[0]
    assert btc_dep.topics == ["btc_dep", txid] and btc_dep.value == [verified_user.public_key, 12_345, 3, 77]
    assert await reserve.get_total_reserves() == before + 12_345
    # Only the router may register deposits or touch withdrawals: 1.
    await expect_code(reserve.register_deposit(os.urandom(32), 0, 1, verified_user.public_key, 1), "reserve_manager", 1)
    await expect_code(reserve.create_withdrawal(os.urandom(32), verified_user.public_key, 1, "bc1q"), "reserve_manager", 1)
    await expect_code(reserve.complete_withdrawal(os.urandom(32), os.urandom(32)), "reserve_manager", 1)
    await expect_code(reserve.cancel_withdrawal(os.urandom(32)), "reserve_manager", 1)
    await expect_code(reserve.initialize(operator.public_key, contracts.router.address), "reserve_manager", 7)
    await expect_code(
        reserve.publish_proof(os.urandom(32), os.urandom(32), 1, -1, 1, 1), "reserve_manager", 3
    )  # negative supply
    proof_hash = os.urandom(32)
    published = await reserve.publish_proof(proof_hash, b"\x02" * 32, 150_000, 100_000, 900_000, 42)
    assert published.events[0].topics == ["proof", proof_hash] and published.events[0].value == [150_000, 100_000, 15_000]
    latest = await reserve.get_latest_proof()
    assert (latest.proof_hash, latest.ratio_bps, latest.supply_units) == (proof_hash, 15_000, 100_000)
    assert await reserve.get_reserve_ratio() == 15_000
    assert await reserve.get_pending_withdrawals() >= 0
