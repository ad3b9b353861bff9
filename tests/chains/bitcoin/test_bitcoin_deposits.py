"""Deposit verification against the Esplora sandbox, one test per outcome."""

from __future__ import annotations

import pytest

from chains.bitcoin.deposits import verify_deposit
from domain.bitcoin_address import Network, WrongNetworkAddress
from domain.deposit_watch import DepositOutcome


async def _verify(esplora, txid: str, address: str, claimed: int, **kwargs):
    return await verify_deposit(
        esplora, txid=txid, claimed_amount_sats=claimed, deposit_address=address, network=Network.REGTEST, **kwargs
    )


async def _mined_payment(sandbox, wallet, index: int, sats: int) -> tuple[str, str]:
    """Pays ``sats`` to the wallet's receive address ``index`` and mines it into one block;
    returns (address, txid)."""
    address = wallet.receive_address(index)
    txid = await sandbox.faucet(address, sats)
    await sandbox.mine(1)
    return address, txid


async def test_unconfirmed_then_confirmed_with_depth(esplora, sandbox, wallet) -> None:
    address = wallet.receive_address(3)
    txid = await sandbox.faucet(address, 250_000)
    first = await _verify(esplora, txid, address, 250_000)
    assert first.outcome is DepositOutcome.UNCONFIRMED
    assert [o.outpoint for o in first.outputs] == [f"{txid}:0"] and first.amount_sats == 250_000
    mined_at = await sandbox.mine(1)
    await sandbox.mine(2)
    done = await _verify(esplora, txid, address, 250_000)
    assert done.outcome is DepositOutcome.CONFIRMED
    assert (done.block_height, done.confirmations) == (mined_at, 3)
    assert done.block_hash == await esplora.block_hash_at(mined_at)


async def test_not_found(esplora, wallet) -> None:
    result = await _verify(esplora, "ab" * 32, wallet.receive_address(0), 1_000)
    assert result.outcome is DepositOutcome.NOT_FOUND


async def test_no_output_to_this_user(esplora, sandbox, wallet) -> None:
    txid = await sandbox.faucet(wallet.receive_address(1), 100_000)
    result = await _verify(esplora, txid, wallet.receive_address(2), 100_000)
    assert result.outcome is DepositOutcome.NO_OUTPUT_TO_ADDRESS


async def test_amount_mismatch_reports_real_amount(esplora, sandbox, wallet) -> None:
    address, txid = await _mined_payment(sandbox, wallet, 4, 100_000)
    result = await _verify(esplora, txid, address, 100_001)
    assert result.outcome is DepositOutcome.AMOUNT_MISMATCH
    assert result.amount_sats == 100_000


async def test_reorg_that_removes_the_tx(esplora, sandbox, wallet) -> None:
    address, txid = await _mined_payment(sandbox, wallet, 5, 300_000)
    seen = await _verify(esplora, txid, address, 300_000)
    assert seen.outcome is DepositOutcome.CONFIRMED
    result = await sandbox.reorg(1, drop_txids=[txid])
    assert txid in result["dropped"]
    after = await _verify(esplora, txid, address, 300_000, expected_block_hash=seen.block_hash)
    assert after.outcome is DepositOutcome.REORGED_OUT and after.block_hash is None
    assert (await esplora.address_utxos(address)) == []


async def test_reorg_that_moves_the_tx_to_another_block(esplora, sandbox, wallet) -> None:
    address, txid = await _mined_payment(sandbox, wallet, 6, 300_000)
    seen = await _verify(esplora, txid, address, 300_000)
    result = await sandbox.reorg(1)
    assert seen.block_hash in result["orphaned"]
    moved = await _verify(esplora, txid, address, 300_000, expected_block_hash=seen.block_hash)
    assert moved.outcome is DepositOutcome.REORGED_OUT
    assert moved.block_hash is not None and moved.block_hash != seen.block_hash
    again = await _verify(esplora, txid, address, 300_000, expected_block_hash=moved.block_hash)
    assert again.outcome is DepositOutcome.CONFIRMED and again.confirmations == 2


async def test_reorg_back_to_mempool_is_reorged_out(esplora, sandbox, wallet) -> None:
    address, txid = await _mined_payment(sandbox, wallet, 7, 300_000)
    seen = await _verify(esplora, txid, address, 300_000)
    await sandbox.reorg(1, include_mempool=False)
    result = await _verify(esplora, txid, address, 300_000, expected_block_hash=seen.block_hash)
    assert result.outcome is DepositOutcome.REORGED_OUT and result.confirmations == 0


async def test_mempool_tx_that_vanishes_is_reorged_out(esplora, sandbox, wallet) -> None:
    address, txid = await _mined_payment(sandbox, wallet, 8, 300_000)
    await sandbox.reorg(1, drop_txids=[txid])
    result = await _verify(esplora, txid, address, 300_000, seen_before=True)
    assert result.outcome is DepositOutcome.REORGED_OUT


async def test_address_of_another_network_refused(esplora, wallet) -> None:
    with pytest.raises(WrongNetworkAddress):
        await verify_deposit(
            esplora, txid="ab" * 32, claimed_amount_sats=1, deposit_address=wallet.receive_address(0), network=Network.TESTNET
        )
