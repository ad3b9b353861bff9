"""What the Esplora sandbox accepts into its mempool, and the reasons it gives, as Bitcoin Core 27:
spends of each script type built and signed by BDK (P2PKH, P2SH-P2WPKH, P2WPKH, P2TR key path),
tampered ones, undecodable bytes, and BIP 125 replacements (rules 1-5, descendants evicted).

Replacement cases are built with embit from one throwaway key, so fees are exact."""

from __future__ import annotations

import bdkpython as bdk
import httpx
import pytest
from embit import hashes
from embit.ec import PrivateKey
from embit.script import Script, Witness
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from custody_sandbox.esplora import create_app
from tests.chains.bitcoin.test_bdk_wallet import MNEMONICS, faucet, full_scan, mine, pay

KEY = PrivateKey(hashes.sha256(b"custody sandbox test key"))
SCRIPT = b"\x00\x14" + hashes.hash160(KEY.get_public_key().sec())
OTHER_SCRIPT = b"\x00\x14" + bytes.fromhex("751e76e8199196d454941c45d1b3a323f1433bd6")
RBF, FINAL = 0xFFFFFFFD, 0xFFFFFFFF


def _address() -> str:
    return Script(SCRIPT).address(__import__("embit.networks", fromlist=["NETWORKS"]).NETWORKS["regtest"])


def spend(inputs: list[tuple[str, int, int]], outputs: list[tuple[bytes, int]], sequence: int = RBF) -> Transaction:
    """A P2WPKH spend of ``inputs`` ((txid, vout, value sats)) by KEY, signed per BIP 143."""
    tx = Transaction(
        version=2,
        vin=[TransactionInput(bytes.fromhex(t), v, sequence=sequence) for t, v, _ in inputs],
        vout=[TransactionOutput(value, Script(script)) for script, value in outputs],
    )
    code = Script(b"\x76\xa9\x14" + SCRIPT[2:] + b"\x88\xac")
    for index, (_, _, value) in enumerate(inputs):
        digest = tx.sighash_segwit(index, code, value, sighash=SIGHASH.ALL)
        tx.vin[index].witness = Witness([KEY.sign(digest).serialize() + b"\x01", KEY.get_public_key().sec()])
    return tx


async def broadcast(http: httpx.AsyncClient, tx: Transaction | str) -> httpx.Response:
    return await http.post("/tx", content=tx if isinstance(tx, str) else tx.serialize().hex())


def core_error(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    prefix = "sendrawtransaction RPC error: "
    assert response.text.startswith(prefix)
    return __import__("json").loads(response.text[len(prefix):])["message"]


async def funded(http: httpx.AsyncClient, sats: int = 100_000) -> tuple[str, int, int]:
    """A confirmed output of ``sats`` paying KEY."""
    response = await http.post("/sandbox/faucet", json={"address": _address(), "sats": sats})
    await http.post("/sandbox/mine", json={"blocks": 1})
    return response.json()["txid"], 0, sats


# ---- decoding -----------------------------------------------------------------------------
async def test_truncated_transaction_fails_to_decode(http) -> None:
    tx = spend([await funded(http)], [(OTHER_SCRIPT, 90_000)])
    raw = tx.serialize().hex()
    for broken in (raw[:-8], raw[:40], raw + "00", "zz"):
        response = await broadcast(http, broken)
        assert core_error(response) == "TX decode failed. Make sure the tx has at least one input."
        assert '"code": -22' in response.text
    assert (await broadcast(http, raw)).text == tx.txid().hex()


# ---- script types signed by BDK -----------------------------------------------------------
def _bdk_wallet(kind: str) -> bdk.Wallet:
    key = bdk.DescriptorSecretKey(bdk.NetworkKind.TEST, bdk.Mnemonic.from_string(MNEMONICS[1]), None)
    make = {"pkh": bdk.Descriptor.new_bip44, "sh_wpkh": bdk.Descriptor.new_bip49, "wpkh": bdk.Descriptor.new_bip84,
            "tr": bdk.Descriptor.new_bip86}[kind]
    return bdk.Wallet(
        make(key, bdk.KeychainKind.EXTERNAL, bdk.NetworkKind.TEST), make(key, bdk.KeychainKind.INTERNAL, bdk.NetworkKind.TEST),
        bdk.Network.REGTEST, bdk.Persister.new_in_memory(),
    )


@pytest.fixture
def served():
    from tests.fixtures.chains import serve_in_thread, stop

    app = serve_in_thread(create_app(), ready_path="/blocks/tip/height")
    yield app
    stop(app)


@pytest.mark.parametrize(
    ("kind", "spk_type", "tamper", "reason"),
    [
        ("pkh", "p2pkh", "signature", "Signature must be zero for failed CHECK(MULTI)SIG operation"),
        ("sh_wpkh", "p2sh", "signature", "Signature must be zero for failed CHECK(MULTI)SIG operation"),
        ("wpkh", "v0_p2wpkh", "pubkey", "Script failed an OP_EQUALVERIFY operation"),
        ("tr", "v1_p2tr", "signature", "Invalid Schnorr signature"),
    ],
)
def test_bdk_spends_validate_and_tampered_ones_do_not(served, kind, spk_type, tamper, reason) -> None:
    client = bdk.EsploraClient(served.url)
    with httpx.Client(base_url=served.url, timeout=10) as sync_http:
        wallet = _bdk_wallet(kind)
        faucet(sync_http, str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address), 150_000)
        mine(sync_http)
        full_scan(client, wallet)
        psbt = pay(wallet, 60_000)
        assert wallet.sign(psbt)
        raw = psbt.extract_tx().serialize()
        tx = Transaction.parse(raw)
        vin = tx.vin[0]
        items = list(vin.witness.items)
        if kind == "pkh":
            sig_push = vin.script_sig.data
            mutated = bytearray(sig_push)
            mutated[-40] ^= 0x01  # inside S of the DER signature (the pubkey is the last 34 bytes)
            vin.script_sig = Script(bytes(mutated))
        elif tamper == "pubkey":
            items[1] = bytes([items[1][0]]) + bytes(32 * [7])
            vin.witness = Witness(items)
        else:
            mutated = bytearray(items[0])
            mutated[20] ^= 0x01
            items[0] = bytes(mutated)
            vin.witness = Witness(items)
        bad = sync_http.post("/tx", content=tx.serialize().hex())
        assert core_error(bad) == f"mandatory-script-verify-flag-failed ({reason})"
        good = sync_http.post("/tx", content=raw.hex())
        assert good.status_code == 200, good.text
        shown = sync_http.get(f"/tx/{good.text}").json()
        assert shown["vin"][0]["prevout"]["scriptpubkey_type"] == spk_type
        if kind == "sh_wpkh":
            assert shown["vin"][0]["inner_redeemscript_asm"].startswith("OP_0 OP_PUSHBYTES_20 ")
            assert shown["vin"][0]["scriptsig_asm"].startswith("OP_PUSHBYTES_22 0014")


# ---- BIP 125 ------------------------------------------------------------------------------
async def test_conflict_with_a_non_signalling_transaction_is_refused(http) -> None:
    coin = await funded(http)
    assert (await broadcast(http, spend([coin], [(OTHER_SCRIPT, 90_000)], sequence=FINAL))).status_code == 200
    response = await broadcast(http, spend([coin], [(OTHER_SCRIPT, 80_000)]))
    assert core_error(response) == "txn-mempool-conflict"


async def test_replacement_evicts_the_original_and_its_descendants(http) -> None:
    coin = await funded(http, 100_000)
    parent = spend([coin], [(SCRIPT, 99_000)])  # 1,000 sats fee
    child = spend([(parent.txid().hex(), 0, 99_000)], [(SCRIPT, 98_000)])
    for tx in (parent, child):
        assert (await broadcast(http, tx)).status_code == 200
    replacement = spend([coin], [(OTHER_SCRIPT, 96_000)])  # 4,000 sats: more than both, pays its own relay
    assert (await broadcast(http, replacement)).text == replacement.txid().hex()
    assert (await http.get("/mempool/txids")).json() == [replacement.txid().hex()]
    for gone in (parent, child):
        assert (await http.get(f"/tx/{gone.txid().hex()}")).status_code == 404
    assert (await http.get(f"/tx/{coin[0]}/outspend/0")).json()["txid"] == replacement.txid().hex()


@pytest.mark.parametrize(
    ("replacement_fee", "child", "expected"),
    [
        (1_000, False, "; new feerate"),  # same fee, same size: fee rate not higher (Core's rule 6)
        (1_050, False, "not enough additional fees to relay; 0.0000005 < {relay}"),  # rule 4
        (3_000, True, "less fees than conflicting txs; 0.00003 < 0.00006"),  # rule 3: child paid 5,000
    ],
)
async def test_replacement_fee_rules(http, replacement_fee, child, expected) -> None:
    coin = await funded(http, 100_000)
    original = spend([coin], [(SCRIPT, 99_000)])
    await broadcast(http, original)
    if child:
        await broadcast(http, spend([(original.txid().hex(), 0, 99_000)], [(SCRIPT, 94_000)]))
    replacement = spend([coin], [(OTHER_SCRIPT, 100_000 - replacement_fee)])
    message = core_error(await broadcast(http, replacement))
    assert message.startswith(f"insufficient fee, rejecting replacement {replacement.txid().hex()}")
    # Rule 4 asks the incremental relay fee (1 sat/vB) on the replacement's own virtual size, which
    # moves by a byte with the DER length of its signature (70 to 72 bytes for these coins).
    relay = f"{_vsize(replacement) / 1e8:.8f}".rstrip("0")
    assert expected.format(relay=relay) in message


def _vsize(tx: Transaction) -> int:
    """BIP 141 virtual size: ceil(weight / 4), weight = 3 × stripped size + total size."""
    total = len(tx.serialize())
    witnesses = [inp.witness for inp in tx.vin]
    for inp in tx.vin:
        inp.witness = Witness([])
    stripped = len(tx.serialize())
    for inp, witness in zip(tx.vin, witnesses, strict=True):
        inp.witness = witness
    return -(-(3 * stripped + total) // 4)


async def test_replacement_may_not_add_unconfirmed_inputs(http) -> None:
    coin, other = await funded(http, 100_000), await funded(http, 50_000)
    await broadcast(http, spend([coin], [(SCRIPT, 99_000)]))
    unconfirmed = spend([other], [(SCRIPT, 49_000)])
    await broadcast(http, unconfirmed)
    replacement = spend([coin, (unconfirmed.txid().hex(), 0, 49_000)], [(SCRIPT, 140_000)])
    assert core_error(await broadcast(http, replacement)) == (
        f"replacement-adds-unconfirmed, replacement {replacement.txid().hex()} adds unconfirmed input, idx 1"
    )


async def test_more_than_100_replaced_transactions_is_refused(http) -> None:
    coin = await funded(http, 1_000_000)
    outputs = [(SCRIPT, 9_000)] * 101
    fan = spend([coin], outputs)  # one parent, 101 children: 102 transactions to replace
    assert (await broadcast(http, fan)).status_code == 200
    for vout in range(101):
        assert (await broadcast(http, spend([(fan.txid().hex(), vout, 9_000)], [(SCRIPT, 8_000)]))).status_code == 200
    message = core_error(await broadcast(http, spend([coin], [(OTHER_SCRIPT, 500_000)])))
    assert message.startswith("too many potential replacements, rejecting replacement ")
    assert message.endswith("too many potential replacements (102 > 100)\n")


# ---- standardness and other refusals --------------------------------------------------------
async def test_dust_output_and_nonstandard_version_are_refused(http) -> None:
    coin = await funded(http)
    assert core_error(await broadcast(http, spend([coin], [(OTHER_SCRIPT, 293), (SCRIPT, 90_000)]))) == "dust"
    tx = spend([coin], [(OTHER_SCRIPT, 90_000)])
    tx.version = 3
    assert core_error(await broadcast(http, tx)) == "version"


async def test_unknown_and_spent_inputs_are_missing(http) -> None:
    tx = spend([("11" * 32, 0, 50_000)], [(OTHER_SCRIPT, 40_000)])
    response = await broadcast(http, tx)
    assert core_error(response) == "bad-txns-inputs-missingorspent" and '"code": -25' in response.text
