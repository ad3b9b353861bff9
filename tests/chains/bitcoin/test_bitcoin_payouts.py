"""Payouts end to end on the sandbox: build, sign (hot / external), store, broadcast, confirm."""

from __future__ import annotations

import pytest
from embit.psbt import PSBT
from embit.script import Script

from chains.bitcoin.errors import PsbtMismatch, SignerError, TxRejected
from chains.bitcoin.payout import build_payout, collect_custody_utxos
from chains.bitcoin.signers import AwaitingSignature, ExternalSigner, HotSigner
from chains.bitcoin.wallet import CustodyWallet
from domain.bitcoin_address import Network, parse_address, script_pubkey_address
from domain.bitcoin_payout import clamp_fee_rate

FLOOR_SAT_VB, CAP_SAT_VB = 2, 12
RECIPIENT = script_pubkey_address(b"\x00\x14" + bytes(range(20)), Network.REGTEST)


async def _funded_payout(esplora, sandbox, wallet, amount_sats: int = 150_000):
    for index, sats in ((0, 100_000), (1, 80_000), (2, 60_000)):
        await sandbox.faucet(wallet.receive_address(index), sats)
    await sandbox.mine(1)
    utxos = await collect_custody_utxos(esplora, wallet, receive_indexes=range(3), change_indexes=[])
    rate = clamp_fee_rate(
        (await esplora.fee_estimates()).rates_sat_vb, target_blocks=1, floor_sat_vb=FLOOR_SAT_VB, cap_sat_vb=CAP_SAT_VB
    )
    return build_payout(
        wallet, recipient_address=RECIPIENT, amount_sats=amount_sats, fee_rate_sat_vb=rate, utxos=utxos, change_index=0
    )


async def test_hot_payout_broadcast_confirmed_and_rebroadcast_is_idempotent(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    signed = HotSigner(regtest_keys["account_tprv"], wallet).sign(payout)
    assert signed.txid == payout.unsigned_txid  # stored before broadcast: the txid is final

    assert await esplora.broadcast(signed.tx_hex) == signed.txid
    tip = await sandbox.mine(1)
    status = await esplora.transaction_status(signed.txid)
    assert status.confirmed and status.block_height == tip

    tx = await esplora.transaction(signed.txid)
    assert [(o.address, o.amount_sats) for o in tx.outputs] == [
        (RECIPIENT, 150_000),
        (wallet.change_address(0), payout.plan.change_sats),
    ]
    assert tx.fee_sats == payout.plan.fee_sats
    # fee rate within the configured bounds (the plan sizes inputs at their upper bound)
    assert FLOOR_SAT_VB * tx.vsize <= tx.fee_sats <= CAP_SAT_VB * payout.plan.vsize_vb
    assert payout.plan.fee_rate_sat_vb == CAP_SAT_VB  # estimate 20 sat/vB clamped to the cap

    utxos_before = await esplora.address_utxos(wallet.change_address(0))
    assert await esplora.broadcast(signed.tx_hex) == signed.txid  # second broadcast: success
    await sandbox.mine(1)
    assert await esplora.address_utxos(wallet.change_address(0)) == [
        u.__class__(u.txid, u.vout, u.amount_sats, (await esplora.transaction_status(u.txid))) for u in utxos_before
    ]
    assert (await esplora.transaction_status(signed.txid)).block_height == tip
    assert len(await esplora.address_transactions(RECIPIENT)) == 1


async def test_mempool_rebroadcast_is_success(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    signed = HotSigner(regtest_keys["root_tprv"], wallet).sign(payout)
    assert await esplora.broadcast(signed.tx_hex) == signed.txid
    assert await esplora.broadcast(signed.tx_hex) == signed.txid
    assert not (await esplora.transaction_status(signed.txid)).confirmed


async def test_fee_floor_applies_when_estimates_are_low(esplora, sandbox, wallet) -> None:
    await sandbox.set_fee_estimates({"1": 1.0, "6": 1.0})
    rate = clamp_fee_rate((await esplora.fee_estimates()).rates_sat_vb, target_blocks=1, floor_sat_vb=3, cap_sat_vb=50)
    assert rate == 3


async def test_double_spend_is_rejected(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    signer = HotSigner(regtest_keys["account_tprv"], wallet)
    await esplora.broadcast(signer.sign(payout).tx_hex)
    conflicting = build_payout(  # same coins, other amount, lower fee rate: not a valid BIP 125 replacement
        wallet, recipient_address=RECIPIENT, amount_sats=151_000, fee_rate_sat_vb=5, utxos=payout.plan.inputs, change_index=1
    )
    with pytest.raises(TxRejected, match="insufficient fee, rejecting replacement"):
        await esplora.broadcast(signer.sign(conflicting).tx_hex)


async def test_tampered_signature_is_rejected_by_the_sandbox(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    raw = bytearray.fromhex(HotSigner(regtest_keys["account_tprv"], wallet).sign(payout).tx_hex)
    raw[-40] ^= 0x01  # inside the last input's witness (signature or pubkey)
    with pytest.raises(TxRejected, match="mandatory-script-verify-flag-failed"):
        await esplora.broadcast(raw.hex())


async def test_external_signer_accepts_the_intended_psbt(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    pending = ExternalSigner().sign(payout)
    assert isinstance(pending, AwaitingSignature) and pending.psbt == payout.psbt
    psbt = PSBT.from_string(pending.psbt)
    psbt.sign_with(_private_descriptor(regtest_keys))
    signed = ExternalSigner().accept_signed(payout, psbt.to_string())
    assert await esplora.broadcast(signed.tx_hex) == signed.txid


async def test_external_psbt_paying_another_address_is_rejected(esplora, sandbox, wallet, regtest_keys) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    psbt = PSBT.from_string(payout.psbt)
    thief = parse_address(script_pubkey_address(b"\x00\x14" + b"\x66" * 20, Network.REGTEST), Network.REGTEST)
    psbt.outputs[0].script_pubkey = Script(thief.script_pubkey)
    psbt.sign_with(_private_descriptor(regtest_keys))
    with pytest.raises(PsbtMismatch) as exc:
        ExternalSigner().accept_signed(payout, psbt.to_string())
    assert exc.value.code == "psbt_mismatch"


async def test_external_psbt_unsigned_is_incomplete(esplora, sandbox, wallet) -> None:
    payout = await _funded_payout(esplora, sandbox, wallet)
    with pytest.raises(SignerError) as exc:
        ExternalSigner().accept_signed(payout, payout.psbt)
    assert exc.value.code == "incomplete_signatures"


def test_hot_signer_refuses_mainnet_and_foreign_keys(regtest_keys, wallet) -> None:
    mainnet = CustodyWallet(
        "wpkh([73c5da0a/84h/0h/0h]xpub6CatWdiZiodmUeTDp8LT5or8nmbKNcuyvz7WyksVFkKB4RHwCD3XyuvPEbvqAQY3rAPshWcMLoP2fMFMKHPJ4ZeZXYVUhLv1VMrjPC7PW6V/<0;1>/*)",
        Network.MAINNET,
    )
    with pytest.raises(SignerError) as exc:
        HotSigner(regtest_keys["account_tprv"], mainnet)
    assert exc.value.code == "hot_signer_mainnet"
    from embit import bip32

    other = bip32.HDKey.from_seed(bytes(32), version=wallet_version()).to_base58()
    with pytest.raises(SignerError) as exc:
        HotSigner(other, wallet)
    assert exc.value.code == "key_mismatch"
    with pytest.raises(SignerError):
        HotSigner(regtest_keys["account_tpub"], wallet)


def wallet_version() -> bytes:
    from embit.networks import NETWORKS

    return NETWORKS["test"]["xprv"]


def _private_descriptor(keys: dict[str, str]):
    from embit.descriptor import Descriptor

    return Descriptor.from_string(f"wpkh([{keys['fingerprint']}/84h/1h/0h]{keys['account_tprv']}/<0;1>/*)")
