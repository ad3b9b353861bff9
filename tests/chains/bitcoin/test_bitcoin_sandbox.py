"""The Esplora sandbox itself: Esplora shapes, spend rules, and persistence across restarts."""

from __future__ import annotations

import httpx

from chains.bitcoin.esplora import EsploraClient
from custody_sandbox.esplora import create_app


async def test_block_and_outspend_shapes(esplora, sandbox, wallet) -> None:
    txid = await sandbox.faucet(wallet.receive_address(0), 50_000)
    tip = await sandbox.mine(1)
    block_hash = await esplora.block_hash_at(tip)
    block = await esplora.block(block_hash)
    assert (block.height, block.tx_count) == (tip, 2)
    assert block.previous_block_hash == await esplora.block_hash_at(tip - 1)
    tx = await esplora.transaction(txid)
    spent_txid, spent_vout = tx.inputs[0].txid, tx.inputs[0].vout
    outspend = await esplora.outspend(spent_txid, spent_vout)
    assert outspend.spent and outspend.txid == txid and outspend.status.block_hash == block_hash
    assert not (await esplora.outspend(txid, 0)).spent


async def test_spending_a_spent_output_is_rejected(esplora, sandbox, wallet) -> None:
    txid = await sandbox.faucet(wallet.receive_address(0), 50_000)
    raw = await esplora.transaction_hex(txid)
    await sandbox.mine(1)
    response = await sandbox.http.post("/tx", content=_other_version(raw))
    assert response.status_code == 400 and "missingorspent" in response.text


def _other_version(raw: str) -> str:
    """Same inputs, version 1: a different txid spending already-spent outputs."""
    return "01" + raw[2:]


async def test_state_survives_restart(tmp_path, wallet) -> None:
    app = create_app(state_dir=tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as http:
        txid = (await http.post("/sandbox/faucet", json={"address": wallet.receive_address(9), "sats": 70_000})).json()["txid"]
        await http.post("/sandbox/mine", json={"blocks": 2})
        pending = (await http.post("/sandbox/faucet", json={"address": wallet.receive_address(9), "sats": 10_000})).json()["txid"]
    reopened = EsploraClient("http://s", transport=httpx.ASGITransport(app=create_app(state_dir=tmp_path)))
    old = EsploraClient("http://s", transport=httpx.ASGITransport(app=app))
    assert await reopened.tip_hash() == await old.tip_hash()
    assert (await reopened.transaction_status(txid)).confirmed
    assert not (await reopened.transaction_status(pending)).confirmed
    assert {u.outpoint for u in await reopened.address_utxos(wallet.receive_address(9))} == {f"{txid}:0", f"{pending}:0"}
