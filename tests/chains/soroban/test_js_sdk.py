"""The official JavaScript SDK (``@stellar/stellar-sdk``, pinned in ``tests/js/package-lock.json``,
installed by ``make venv`` with ``npm ci``) drives a Stellar RPC sandbox under Node: ``rpc.Server``
``getLatestLedger`` (decoding ``headerXdr``), ``requestAirdrop``, ``prepareTransaction`` for a call
that needs a second party's auth entry, ``getTransactions`` and ``contract.Client.from``.

Nothing is downloaded here: the script runs from the installed ``node_modules``."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from custody_sandbox.soroban import CONTRACT_ADDRESSES, DEFAULT_PASSPHRASE, SandboxServer, create_app

JS_DIR = Path(__file__).resolve().parents[2] / "js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js is not installed: the JavaScript SDK test needs `node`")


@pytest.fixture(scope="module")
def js_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    """A sandbox that advertises its friendbot URL in getNetwork, as a real RPC of a test network does."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(
        tmp_path_factory.mktemp("js-stellar-rpc"), ledger_interval_seconds=0.05, public_url=f"http://127.0.0.1:{port}"
    )
    with SandboxServer(app, port=port) as server:
        yield server


@pytest.fixture(scope="module")
def observed(js_sandbox: SandboxServer) -> dict:
    if not (JS_DIR / "node_modules" / "@stellar" / "stellar-sdk").is_dir():
        pytest.fail("tests/js/node_modules is missing: run `make venv` (it runs `npm ci --prefix tests/js`)")
    argv = [NODE, "sandbox_clients.mjs", js_sandbox.url, DEFAULT_PASSPHRASE,
            CONTRACT_ADDRESSES["istsi_token"], CONTRACT_ADDRESSES["integration_router"]]
    run = subprocess.run(argv, cwd=JS_DIR, capture_output=True, text=True, timeout=120)
    body = json.loads(run.stdout or "{}")
    assert run.returncode == 0, body.get("error") or run.stderr
    return body


def test_latest_ledger_header_decodes_as_a_ledger_header(observed) -> None:
    latest = observed["latest"]
    assert latest["headerLedgerSeq"] == latest["sequence"] == latest["metaLedgerSeq"]
    assert latest["headerVersion"] == latest["protocolVersion"] == 27


def test_request_airdrop_reads_the_new_sequence_and_tolerates_a_funded_account(observed) -> None:
    airdrop = observed["airdrop"]
    assert int(airdrop["sequence"]) > 0 and int(airdrop["sequence"]) % 2**32 == 0  # ledger << 32
    assert airdrop["again"] == airdrop["sequence"]


def test_prepare_transaction_with_a_second_partys_auth_entry(observed) -> None:
    assert observed["auth"] == {"credentials": "sorobanCredentialsAddress", "entries": 1}
    assert observed["transfer"]["sendStatus"] == "PENDING" and observed["transfer"]["status"] == "SUCCESS"


def test_get_transactions_pages_to_the_transfer(observed) -> None:
    assert observed["transactions"] == {"found": True, "unique": True, "status": "SUCCESS", "envelopeOps": 1}


def test_contract_client_from_the_wasm_spec(observed) -> None:
    client = observed["client"]
    assert client["decimals"] == 8 and client["symbol"] == "iSTSi"
    assert {"execute_bitcoin_deposit", "execute_token_withdrawal", "emergency_pause"} <= set(client["routerMethods"])
    assert client["depositInputs"] == ["caller", "user", "btc_amount", "btc_txid", "vout", "confirmations", "block_height"]
    assert ["InsufficientBalance", 10] in client["tokenErrors"]
