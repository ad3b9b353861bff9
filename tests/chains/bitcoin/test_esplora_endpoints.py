"""Esplora REST shapes of the sandbox, endpoint by endpoint, against Blockstream's API.md and
electrs' bodies: blocks and headers, per-script history with 25-per-page ``last_seen`` paging,
stats, the mempool views, inclusion proofs, error bodies, the mining policy and persistence."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

from custody_sandbox.esplora import create_app
from custody_sandbox.esplora.blocks import sha256d
from tests.chains.bitcoin.test_esplora_validation import KEY, OTHER_SCRIPT, SCRIPT, _address, broadcast, funded, spend

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


async def test_block_zero_is_the_regtest_genesis_block(http) -> None:
    assert (await http.get("/block-height/0")).text == GENESIS
    block = (await http.get(f"/block/{GENESIS}")).json()
    assert block["previousblockhash"] is None and block["merkle_root"] == (
        "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b"
    )
    assert (block["timestamp"], block["nonce"], block["bits"], block["version"]) == (1296688602, 2, 0x207FFFFF, 1)
    assert isinstance(block["difficulty"], float) and block["difficulty"] == pytest.approx(4.656542373906925e-10)
    header = (await http.get(f"/block/{GENESIS}/header")).text
    assert len(header) == 160 and sha256d(bytes.fromhex(header))[::-1].hex() == GENESIS
    coinbase = (await http.get(f"/block/{GENESIS}/txid/0")).text
    out = (await http.get(f"/tx/{coinbase}")).json()["vout"][0]
    assert out["scriptpubkey_type"] == "p2pk" and out["scriptpubkey_asm"].startswith("OP_PUSHBYTES_65 04678afdb0")
    assert out["scriptpubkey_asm"].endswith(" OP_CHECKSIG") and "scriptpubkey_address" not in out
    assert (await http.get(f"/tx/{coinbase}/outspend/0")).json() == {"spent": False}


async def test_blocks_list_ten_newest_first_from_a_height(http) -> None:
    tip = int((await http.get("/blocks/tip/height")).text)
    newest = (await http.get("/blocks")).json()
    assert [b["height"] for b in newest] == list(range(tip, tip - 10, -1))
    assert newest[0]["id"] == (await http.get("/blocks/tip/hash")).text
    assert newest[1]["mediantime"] <= newest[1]["timestamp"]
    assert [b["height"] for b in (await http.get("/blocks/3")).json()] == [3, 2, 1, 0]
    assert (await http.get(f"/blocks/{tip + 1}")).status_code == 404


async def test_block_txs_pages_and_raw(http) -> None:
    coin = await funded(http, 2_000_000)
    fan = spend([coin], [(SCRIPT, 30_000)] * 40)
    await broadcast(http, fan)
    await broadcast(http, spend([(fan.txid().hex(), 0, 30_000)], [(OTHER_SCRIPT, 29_000)]))
    for vout in range(1, 30):
        await broadcast(http, spend([(fan.txid().hex(), vout, 30_000)], [(OTHER_SCRIPT, 29_000)]))
    block_hash = (await http.post("/sandbox/mine", json={"blocks": 1})).json()["hashes"][0]
    txids = (await http.get(f"/block/{block_hash}/txids")).json()
    assert len(txids) == 32
    first = (await http.get(f"/block/{block_hash}/txs")).json()
    second = (await http.get(f"/block/{block_hash}/txs/25")).json()
    assert [t["txid"] for t in first + second] == txids and len(first) == 25
    assert first[1]["status"]["block_hash"] == block_hash
    bad = await http.get(f"/block/{block_hash}/txs/10")
    assert (bad.status_code, bad.text) == (400, "start index must be a multipication of 25")
    assert (await http.get(f"/block/{block_hash}/txs/50")).text == "start index out of range"
    assert (await http.get(f"/block/{block_hash}/txid/32")).text == "tx index out of range"
    raw = (await http.get(f"/block/{block_hash}/raw")).content
    assert raw[:80].hex() == (await http.get(f"/block/{block_hash}/header")).text


async def test_address_history_pages_with_last_seen(http) -> None:
    coins = []
    for _ in range(3):
        coins.append(await funded(http, 40_000))
    chain_txids = []
    for coin in coins:  # 3 confirmed receipts, then 27 confirmed self-spends: 30 confirmed touching SCRIPT
        chain_txids.append(coin[0])
    previous = coins[0]
    for _ in range(27):
        tx = spend([previous], [(SCRIPT, previous[2] - 300)])
        await broadcast(http, tx)
        await http.post("/sandbox/mine", json={"blocks": 1})
        previous = (tx.txid().hex(), 0, previous[2] - 300)
        chain_txids.append(previous[0])
    pending = spend([previous], [(SCRIPT, previous[2] - 300)])
    await broadcast(http, pending)
    address = _address()
    both = (await http.get(f"/address/{address}/txs")).json()
    assert both[0]["txid"] == pending.txid().hex() and both[0]["status"] == {"confirmed": False}
    assert len(both) == 1 + 25
    page1 = (await http.get(f"/address/{address}/txs/chain")).json()
    assert [t["txid"] for t in page1] == [t["txid"] for t in both[1:]]
    page2 = (await http.get(f"/address/{address}/txs/chain/{page1[-1]['txid']}")).json()
    assert len(page2) == 5 and {t["txid"] for t in page1 + page2} == set(chain_txids)
    heights = [t["status"]["block_height"] for t in page1 + page2]
    assert heights == sorted(heights, reverse=True)
    assert (await http.get(f"/address/{address}/txs/mempool")).json()[0]["txid"] == pending.txid().hex()
    scripthash = hashlib.sha256(SCRIPT).hexdigest()
    assert (await http.get(f"/scripthash/{scripthash}/txs/chain")).json() == page1
    stats = (await http.get(f"/address/{address}")).json()
    assert stats["address"] == address
    assert stats["chain_stats"]["tx_count"] == 30 and stats["chain_stats"]["funded_txo_count"] == 30
    assert stats["chain_stats"]["spent_txo_count"] == 27
    assert stats["mempool_stats"] == {
        "funded_txo_count": 1, "funded_txo_sum": previous[2] - 300,
        "spent_txo_count": 1, "spent_txo_sum": previous[2], "tx_count": 1,
    }
    summary = (await http.get(f"/scripthash/{scripthash}")).json()
    assert summary["scripthash"] == scripthash and summary["chain_stats"] == stats["chain_stats"]
    utxos = (await http.get(f"/scripthash/{scripthash}/utxo")).json()
    assert {(u["txid"], u["vout"]) for u in utxos} == {(pending.txid().hex(), 0), (coins[1][0], 0), (coins[2][0], 0)}


async def test_output_fields_follow_electrs(http) -> None:
    coin = await funded(http, 70_000)
    tx = spend([coin], [(OTHER_SCRIPT, 60_000), (b"\x6a\x04test", 0)])
    await broadcast(http, tx)
    shown = (await http.get(f"/tx/{tx.txid().hex()}")).json()
    paid, data = shown["vout"]
    assert paid == {
        "scriptpubkey": OTHER_SCRIPT.hex(),
        "scriptpubkey_asm": "OP_0 OP_PUSHBYTES_20 751e76e8199196d454941c45d1b3a323f1433bd6",
        "scriptpubkey_type": "v0_p2wpkh",
        "scriptpubkey_address": "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
        "value": 60_000,
    }
    assert data == {"scriptpubkey": "6a0474657374", "scriptpubkey_asm": "OP_RETURN OP_PUSHBYTES_4 74657374",
                    "scriptpubkey_type": "op_return", "value": 0}
    vin = shown["vin"][0]
    assert vin["scriptsig"] == "" and vin["scriptsig_asm"] == "" and len(vin["witness"]) == 2
    assert shown["fee"] == 10_000 and shown["status"] == {"confirmed": False}
    assert (await http.get(f"/tx/{tx.txid().hex()}/raw")).content == tx.serialize()
    outspends = (await http.get(f"/tx/{coin[0]}/outspends")).json()
    assert outspends[0] == {"spent": True, "txid": tx.txid().hex(), "vin": 0, "status": {"confirmed": False}}


async def test_mempool_views(http) -> None:
    coin = await funded(http, 100_000)
    tx = spend([coin], [(OTHER_SCRIPT, 99_000)])
    await broadcast(http, tx)
    backlog = (await http.get("/mempool")).json()
    weight = (await http.get(f"/tx/{tx.txid().hex()}")).json()["weight"]
    assert backlog == {"count": 1, "vsize": weight // 4, "total_fee": 1_000,
                       "fee_histogram": [[1_000 / (weight // 4), weight // 4]]}
    assert (await http.get("/mempool/txids")).json() == [tx.txid().hex()]
    recent = (await http.get("/mempool/recent")).json()
    assert recent[0] == {"txid": tx.txid().hex(), "fee": 1_000, "vsize": backlog["vsize"], "value": 100_000}


async def test_merkle_proofs_lead_to_the_block_root(http) -> None:
    coin = await funded(http, 100_000)
    txs = [spend([coin], [(OTHER_SCRIPT, 50_000), (SCRIPT, 49_000)])]
    for _ in range(4):  # a chain of five: the block holds the coinbase and these (6 leaves, odd levels)
        value = txs[-1].vout[1].value
        txs.append(spend([(txs[-1].txid().hex(), 1, value)], [(OTHER_SCRIPT, 1_000), (SCRIPT, value - 1_500)]))
    for tx in txs:
        assert (await broadcast(http, tx)).status_code == 200
    block_hash = (await http.post("/sandbox/mine", json={"blocks": 1})).json()["hashes"][0]
    header = bytes.fromhex((await http.get(f"/block/{block_hash}/header")).text)
    txid = txs[2].txid().hex()
    proof = (await http.get(f"/tx/{txid}/merkle-proof")).json()
    node, pos = bytes.fromhex(txid)[::-1], proof["pos"]
    for sibling in proof["merkle"]:
        pair = (node + bytes.fromhex(sibling)[::-1]) if pos % 2 == 0 else (bytes.fromhex(sibling)[::-1] + node)
        node, pos = sha256d(pair), pos // 2
    assert node == header[36:68] and proof["block_height"] == (await http.get(f"/block/{block_hash}")).json()["height"]
    merkleblock = bytes.fromhex((await http.get(f"/tx/{txid}/merkleblock-proof")).text)
    assert merkleblock[:80] == header
    assert int.from_bytes(merkleblock[80:84], "little") == 6
    assert _bip37_matches(merkleblock) == (header[36:68], [bytes.fromhex(txid)[::-1]])
    missing = await http.get(f"/tx/{spend([coin], [(SCRIPT, 1_000)]).txid().hex()}/merkle-proof")
    assert (missing.status_code, missing.text) == (404, "Transaction not found or is unconfirmed")


def _bip37_matches(merkleblock: bytes) -> tuple[bytes, list[bytes]]:
    """Root and matched txids of a serialized CMerkleBlock (BIP 37 traversal, one-byte counts)."""
    total = int.from_bytes(merkleblock[80:84], "little")
    count = merkleblock[84]
    hashes = [merkleblock[85 + 32 * i : 117 + 32 * i] for i in range(count)]
    flag_bytes = merkleblock[86 + 32 * count :]
    bits = [(flag_bytes[i // 8] >> (i % 8)) & 1 for i in range(8 * len(flag_bytes))]
    height = 0
    while (total + (1 << height) - 1) >> height > 1:
        height += 1
    matched: list[bytes] = []
    state = {"bit": 0, "hash": 0}

    def walk(h: int, pos: int) -> bytes:
        flag = bits[state["bit"]]
        state["bit"] += 1
        if h == 0 or not flag:
            value = hashes[state["hash"]]
            state["hash"] += 1
            if h == 0 and flag:
                matched.append(value)
            return value
        left = walk(h - 1, pos * 2)
        right = walk(h - 1, pos * 2 + 1) if pos * 2 + 1 < (total + (1 << (h - 1)) - 1) >> (h - 1) else left
        return sha256d(left + right)

    return walk(height, 0), matched


async def test_errors_are_electrs_bodies(http) -> None:
    cases = {
        "/block/00": (400, "Invalid hash string"),
        f"/block/{'ab' * 32}": (404, "Block not found"),
        f"/tx/{'ab' * 32}": (404, "Transaction not found"),
        "/block-height/abc": (400, "Invalid number"),
        "/block-height/99999": (404, "Block not found"),
        "/address/bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4/utxo": (400, "Address on invalid network"),
        "/address/notanaddress/txs": (400, "Invalid Bitcoin address"),
        "/scripthash/abcd/txs": (400, "Invalid scripthash"),
        "/no/such/endpoint": (404, 'endpoint does not exist "/no/such/endpoint"'),
    }
    for path, expected in cases.items():
        response = await http.get(path)
        assert (response.status_code, response.text) == expected, path
    assert (await http.get(f"/tx/{'ab' * 32}/status")).json() == {"confirmed": False}
    assert (await http.get(f"/block/{'ab' * 32}/status")).json() == {"in_best_chain": False, "height": None, "next_best": None}


async def test_block_status_after_a_reorg(http) -> None:
    tip = (await http.get("/blocks/tip/hash")).text
    previous = (await http.get(f"/block/{tip}")).json()["previousblockhash"]
    result = (await http.post("/sandbox/reorg", json={"depth": 1})).json()
    assert (await http.get(f"/block/{tip}/status")).json() == {"in_best_chain": False, "height": None, "next_best": None}
    status = (await http.get(f"/block/{previous}/status")).json()
    assert status["in_best_chain"] and status["next_best"] == result["new"][0]


# ---- the mining policy ----------------------------------------------------------------------
async def test_mining_policy_keeps_low_fee_and_held_transactions_in_the_mempool(http) -> None:
    low_coin, held_coin, normal_coin = await funded(http), await funded(http), await funded(http)
    low = spend([low_coin], [(OTHER_SCRIPT, 100_000 - 110)])  # ~1 sat/vB
    held = spend([held_coin], [(OTHER_SCRIPT, 95_000)])
    normal = spend([normal_coin], [(OTHER_SCRIPT, 95_000)])
    policy = {"min_fee_rate_sat_vb": 2, "hold_txids": [held.txid().hex()]}
    assert (await http.post("/sandbox/mining-policy", json=policy)).json() == policy
    for tx in (low, held, normal):
        assert (await broadcast(http, tx)).status_code == 200
    await http.post("/sandbox/mine", json={"blocks": 3})
    assert (await http.get(f"/tx/{normal.txid().hex()}/status")).json()["confirmed"]
    assert set((await http.get("/mempool/txids")).json()) == {low.txid().hex(), held.txid().hex()}
    bump = spend([low_coin], [(OTHER_SCRIPT, 100_000 - 1_000)])  # a BIP 125 fee bump above the floor
    assert (await broadcast(http, bump)).status_code == 200
    await http.post("/sandbox/mine", json={"blocks": 1})
    assert (await http.get(f"/tx/{bump.txid().hex()}/status")).json()["confirmed"]
    released = await http.post("/sandbox/mining-policy", json={"hold_txids": []})
    assert released.json() == {"min_fee_rate_sat_vb": 2.0, "hold_txids": []}
    await http.post("/sandbox/mine", json={"blocks": 1})
    assert (await http.get("/mempool/txids")).json() == []
    assert (await http.post("/sandbox/mining-policy", json={"min_fee": 1})).status_code == 400


async def test_a_child_paying_for_its_low_fee_parent_brings_it_into_the_block_cpfp(http) -> None:
    """Core's block assembly scores a transaction with its unmined ancestors: the package
    (parent ~1 sat/vB + child) passes the floor, the parent alone does not; a held parent keeps
    its child out whatever it pays."""
    coin, held_coin = await funded(http), await funded(http)
    parent = spend([coin], [(SCRIPT, 100_000 - 110)])  # ~1 sat/vB, back to KEY
    held = spend([held_coin], [(SCRIPT, 100_000 - 110)])
    await http.post("/sandbox/mining-policy", json={"min_fee_rate_sat_vb": 2, "hold_txids": [held.txid().hex()]})
    for tx in (parent, held):
        assert (await broadcast(http, tx)).status_code == 200
    await http.post("/sandbox/mine", json={"blocks": 2})
    assert set((await http.get("/mempool/txids")).json()) == {parent.txid().hex(), held.txid().hex()}
    child = spend([(parent.txid().hex(), 0, 100_000 - 110)], [(OTHER_SCRIPT, 100_000 - 110 - 1_000)])
    held_child = spend([(held.txid().hex(), 0, 100_000 - 110)], [(OTHER_SCRIPT, 100_000 - 110 - 5_000)])
    for tx in (child, held_child):
        assert (await broadcast(http, tx)).status_code == 200
    await http.post("/sandbox/mine", json={"blocks": 1})
    status = [(await http.get(f"/tx/{t.txid().hex()}/status")).json() for t in (parent, child)]
    assert status[0]["confirmed"] and status[0]["block_height"] == status[1]["block_height"]
    assert set((await http.get("/mempool/txids")).json()) == {held.txid().hex(), held_child.txid().hex()}
    await http.post("/sandbox/mining-policy", json={"min_fee_rate_sat_vb": 0, "hold_txids": []})


# ---- persistence ----------------------------------------------------------------------------
async def test_state_keeps_the_mempool_and_the_policy_across_restarts(tmp_path) -> None:
    first = create_app(state_dir=tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=first), base_url="http://s") as http:
        coin = await funded(http)
        tx = spend([coin], [(OTHER_SCRIPT, 99_000)])
        await broadcast(http, tx)
        await http.post("/sandbox/mining-policy", json={"hold_txids": [tx.txid().hex()]})
    second = create_app(state_dir=tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=second), base_url="http://s") as http:
        assert (await http.get("/block-height/0")).text == GENESIS
        assert (await http.get("/mempool/txids")).json() == [tx.txid().hex()]
        await http.post("/sandbox/mine", json={"blocks": 1})
        assert (await http.get("/mempool/txids")).json() == [tx.txid().hex()]


def test_a_state_file_from_before_the_genesis_block_is_set_aside(tmp_path, caplog) -> None:
    old = {"faucet_secret": KEY.secret.hex(), "extra_nonce": 1, "fee_estimates": {}, "blocks": [], "mempool": []}
    (tmp_path / "esplora-sandbox.json").write_text(json.dumps(old))
    with caplog.at_level("WARNING"):
        app = create_app(state_dir=tmp_path)
    assert "starting a fresh chain" in caplog.text
    assert (tmp_path / "esplora-sandbox.discarded").exists()
    assert app.state.sandbox.chain.best[0] == GENESIS and app.state.sandbox.chain.tip_height == 101
    assert json.loads((tmp_path / "esplora-sandbox.json").read_text())["genesis"] == GENESIS
