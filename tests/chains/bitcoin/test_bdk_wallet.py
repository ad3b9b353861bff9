"""An unchanged BDK wallet (``bdkpython``, its blocking ``EsploraClient``) against the Esplora sandbox
over real HTTP: it scans and syncs, receives from the faucet, spends (BDK builds and signs),
follows a reorg, sees a BIP 125 replacement, and a 2-of-3 ``wsh(sortedmulti)`` wallet spends
with two signatures while one signature is refused with Bitcoin Core's reason.

Keys come from the published BIP 39 test mnemonics (never real keys)."""

from __future__ import annotations

from collections.abc import Iterator

import bdkpython as bdk
import httpx
import pytest
from embit.psbt import PSBT
from embit.script import Witness
from embit.transaction import Transaction as EmbitTransaction

from custody_sandbox.esplora import create_app
from tests.fixtures.chains import ServedApp, serve_in_thread, stop

MNEMONICS = (
    "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    "legal winner thank year wave sausage worth useful legal winner thank yellow",
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
)
STOP_GAP = 10
OTHER = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"  # BIP 173 example program, on regtest


@pytest.fixture
def served() -> Iterator[ServedApp]:
    app = serve_in_thread(create_app(), ready_path="/blocks/tip/height")
    yield app
    stop(app)


@pytest.fixture
def http(served: ServedApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield client


@pytest.fixture
def client(served: ServedApp) -> bdk.EsploraClient:
    return bdk.EsploraClient(served.url)


def _secret(mnemonic: str) -> bdk.DescriptorSecretKey:
    return bdk.DescriptorSecretKey(bdk.NetworkKind.TEST, bdk.Mnemonic.from_string(mnemonic), None)


def single_sig_wallet(mnemonic: str = MNEMONICS[0]) -> bdk.Wallet:
    key = _secret(mnemonic)
    return bdk.Wallet(
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.EXTERNAL, bdk.NetworkKind.TEST),
        bdk.Descriptor.new_bip84(key, bdk.KeychainKind.INTERNAL, bdk.NetworkKind.TEST),
        bdk.Network.REGTEST,
        bdk.Persister.new_in_memory(),
    )


def full_scan(client: bdk.EsploraClient, wallet: bdk.Wallet) -> None:
    wallet.apply_update(client.full_scan(wallet.start_full_scan().build(), STOP_GAP, 2))


def sync(client: bdk.EsploraClient, wallet: bdk.Wallet) -> None:
    wallet.apply_update(client.sync(wallet.start_sync_with_revealed_spks().build(), 2))


def faucet(http: httpx.Client, address: str, sats: int) -> str:
    response = http.post("/sandbox/faucet", json={"address": address, "sats": sats})
    response.raise_for_status()
    return response.json()["txid"]


def mine(http: httpx.Client, blocks: int = 1) -> dict:
    response = http.post("/sandbox/mine", json={"blocks": blocks})
    response.raise_for_status()
    return response.json()


def receive(http: httpx.Client, wallet: bdk.Wallet, sats: int) -> str:
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    txid = faucet(http, address, sats)
    mine(http)
    return txid


def pay(wallet: bdk.Wallet, sats: int, fee_rate_sat_vb: int = 2) -> bdk.Psbt:
    recipient = bdk.Address(OTHER, bdk.Network.REGTEST).script_pubkey()
    return (
        bdk.TxBuilder()
        .add_recipient(recipient, bdk.Amount.from_sat(sats))
        .fee_rate(bdk.FeeRate.from_sat_per_vb(fee_rate_sat_vb))
        .finish(wallet)
    )


def canonical_txids(wallet: bdk.Wallet) -> dict[str, bdk.ChainPosition]:
    return {str(c.transaction.compute_txid()): c.chain_position for c in wallet.transactions()}


def test_full_scan_starts_at_the_regtest_genesis_block(client, http) -> None:
    wallet = single_sig_wallet()
    full_scan(client, wallet)
    tip = http.get("/blocks/tip/hash").text
    assert str(wallet.latest_checkpoint().hash) == tip
    assert str(client.get_block_hash(0)) == "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
    assert wallet.balance().total.to_sat() == 0


def test_receives_from_the_faucet_then_sees_it_confirm(client, http) -> None:
    wallet = single_sig_wallet()
    full_scan(client, wallet)
    address = str(wallet.reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    txid = faucet(http, address, 120_000)
    sync(client, wallet)
    assert wallet.balance().untrusted_pending.to_sat() == 120_000
    assert canonical_txids(wallet)[txid].is_unconfirmed()
    mine(http)
    full_scan(client, wallet)
    assert wallet.balance().confirmed.to_sat() == 120_000
    assert canonical_txids(wallet)[txid].is_confirmed()


def test_spends_what_it_built_and_signed(client, http) -> None:
    wallet = single_sig_wallet()
    receive(http, wallet, 200_000)
    full_scan(client, wallet)
    psbt = pay(wallet, 50_000)
    assert wallet.sign(psbt)
    tx = psbt.extract_tx()
    client.broadcast(tx)
    txid = str(tx.compute_txid())
    assert http.get(f"/tx/{txid}/status").json() == {"confirmed": False}
    mine(http)
    sync(client, wallet)
    fee = wallet.calculate_fee(tx).to_sat()
    assert canonical_txids(wallet)[txid].is_confirmed()
    assert wallet.balance().confirmed.to_sat() == 200_000 - 50_000 - fee


def test_follows_a_reorg(client, http) -> None:
    wallet = single_sig_wallet()
    txid = receive(http, wallet, 90_000)
    full_scan(client, wallet)
    first_block = canonical_txids(wallet)[txid]
    assert first_block.is_confirmed()
    reorg = http.post("/sandbox/reorg", json={"depth": 1, "include_mempool": False}).json()
    sync(client, wallet)
    assert str(wallet.latest_checkpoint().hash) == reorg["new"][-1]
    assert canonical_txids(wallet)[txid].is_unconfirmed()  # back in the mempool
    mine(http)
    sync(client, wallet)
    position = canonical_txids(wallet)[txid]
    assert position.is_confirmed()
    assert str(position.confirmation_block_time.block_id.hash) != str(first_block.confirmation_block_time.block_id.hash)


def test_sees_a_fee_bump_replace_its_payment(client, http) -> None:
    wallet = single_sig_wallet()
    receive(http, wallet, 300_000)
    full_scan(client, wallet)
    psbt = pay(wallet, 40_000, fee_rate_sat_vb=2)
    wallet.sign(psbt)
    original = psbt.extract_tx()
    assert original.is_explicitly_rbf()
    client.broadcast(original)
    sync(client, wallet)
    bumped_psbt = bdk.BumpFeeTxBuilder(original.compute_txid(), bdk.FeeRate.from_sat_per_vb(6)).finish(wallet)
    wallet.sign(bumped_psbt)
    bumped = bumped_psbt.extract_tx()
    client.broadcast(bumped)
    old, new = str(original.compute_txid()), str(bumped.compute_txid())
    assert http.get(f"/tx/{old}").status_code == 404
    assert http.get("/mempool/txids").json() == [new]
    sync(client, wallet)
    txids = canonical_txids(wallet)
    assert new in txids and old not in txids
    mine(http)
    sync(client, wallet)
    assert canonical_txids(wallet)[new].is_confirmed()


# ---- 2-of-3 multisig (the usual custody set-up) -------------------------------------------
def _account(mnemonic: str) -> tuple[str, str]:
    """(xprv, xpub) descriptor keys of the BIP 48 P2WSH account m/48'/1'/0'/2'."""
    path = bdk.DerivationPath("m/48h/1h/0h/2h")
    secret = _secret(mnemonic).derive(path)
    return str(secret), str(secret.as_public())


def multisig_wallets() -> list[bdk.Wallet]:
    """Three cosigner wallets of ``wsh(sortedmulti(2, A, B, C))``, each holding one private key."""
    accounts = [_account(m) for m in MNEMONICS]
    wallets = []
    for mine_index in range(3):
        def descriptor(branch: int, own: int = mine_index) -> bdk.Descriptor:
            keys = [
                f"{(xprv if i == own else xpub).rsplit('/*', 1)[0]}/{branch}/*"
                for i, (xprv, xpub) in enumerate(accounts)
            ]
            return bdk.Descriptor(f"wsh(sortedmulti(2,{','.join(keys)}))", bdk.NetworkKind.TEST)

        wallets.append(bdk.Wallet(descriptor(0), descriptor(1), bdk.Network.REGTEST, bdk.Persister.new_in_memory()))
    return wallets


def _funded_multisig(client, http) -> tuple[list[bdk.Wallet], bdk.Psbt]:
    wallets = multisig_wallets()
    address = str(wallets[0].reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    assert address == str(wallets[1].reveal_next_address(bdk.KeychainKind.EXTERNAL).address)
    faucet(http, address, 500_000)
    mine(http)
    for wallet in wallets:
        full_scan(client, wallet)
    assert wallets[0].balance().confirmed.to_sat() == 500_000
    psbt = pay(wallets[0], 100_000, fee_rate_sat_vb=3)
    assert not wallets[0].sign(psbt)  # one signature: not final yet
    return wallets, psbt


def test_multisig_spend_with_two_signatures_is_accepted(client, http) -> None:
    wallets, psbt = _funded_multisig(client, http)
    assert wallets[2].sign(psbt)  # the second cosigner completes it
    tx = psbt.extract_tx()
    client.broadcast(tx)
    spent = http.get(f"/tx/{tx.compute_txid()}").json()
    assert spent["vin"][0]["inner_witnessscript_asm"].startswith("OP_PUSHNUM_2 OP_PUSHBYTES_33 ")
    assert spent["vin"][0]["inner_witnessscript_asm"].endswith(" OP_PUSHNUM_3 OP_CHECKMULTISIG")
    assert spent["vin"][0]["prevout"]["scriptpubkey_type"] == "v0_p2wsh"
    mine(http)
    sync(client, wallets[1])
    assert canonical_txids(wallets[1])[str(tx.compute_txid())].is_confirmed()


def _with_witness(psbt: bdk.Psbt, items_for) -> str:
    """The unsigned transaction of ``psbt`` with input 0's witness built from its one partial signature."""
    parsed = PSBT.from_string(psbt.serialize())
    script = parsed.inputs[0].witness_script.data
    (signature,) = parsed.inputs[0].partial_sigs.values()
    tx = EmbitTransaction.parse(parsed.tx.serialize())
    tx.vin[0].witness = Witness(items_for(signature, script))
    return tx.serialize().hex()


@pytest.mark.parametrize(
    ("witness", "reason"),
    [
        # finalized with the one signature it has: OP_CHECKMULTISIG finds too few stack items
        (lambda sig, script: [b"", sig, script], "Operation not valid with the current stack size"),
        # an empty placeholder for the missing signature: the check fails with a non-empty signature
        (lambda sig, script: [b"", sig, b"", script], "Signature must be zero for failed CHECK(MULTI)SIG operation"),
    ],
)
def test_multisig_spend_with_one_signature_is_refused_with_cores_reason(client, http, witness, reason) -> None:
    _, psbt = _funded_multisig(client, http)
    response = http.post("/tx", content=_with_witness(psbt, witness))
    assert response.status_code == 400
    assert response.text == (
        'sendrawtransaction RPC error: {"code": -26, "message": "mandatory-script-verify-flag-failed (' + reason + ')"}'
    )
