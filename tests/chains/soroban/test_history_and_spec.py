"""getTransactions, getLedgers, ledger headers and meta, contract code entries with the contracts'
spec, and the auth credentials simulation records, checked with stellar-sdk's own models and
parsers (not the sandbox's)."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from stellar_sdk import Keypair, SorobanServer, TransactionBuilder, scval, xdr
from stellar_sdk.contract import ContractClient
from stellar_sdk.exceptions import SorobanRpcErrorResponse
from stellar_sdk.sep.contract_spec import ContractSpec

from custody_sandbox.soroban import CONTRACT_ADDRESSES, DEFAULT_PASSPHRASE


@pytest.fixture
def server(sandbox) -> SorobanServer:
    return SorobanServer(sandbox.url)


def _rpc(sandbox, method: str, params: dict) -> dict:
    return httpx.post(sandbox.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()


def test_get_transactions_pages_with_cursors(sandbox, server, fund) -> None:
    funded = [fund() for _ in range(3)]
    first = server.get_transactions(start_ledger=1, limit=2)
    assert len(first.transactions) == 2 and first.oldest_ledger == 1
    seen = [t.transaction_hash for t in first.transactions]
    cursor = first.cursor
    while True:
        page = server.get_transactions(cursor=cursor, limit=5)
        seen += [t.transaction_hash for t in page.transactions]
        if not page.transactions:
            break
        cursor = page.cursor
    assert len(seen) == len(set(seen))
    ledgers = [server.get_transaction(h).ledger for h in seen]
    assert ledgers == sorted(ledgers)
    creates = {xdr.TransactionEnvelope.from_xdr(server.get_transaction(h).envelope_xdr).v1.tx.operations[0].body.create_account_op
               for h in seen} - {None}
    created = {c.destination.account_id.ed25519.uint256 for c in creates}
    assert {k.raw_public_key() for k in funded} <= created
    raw = _rpc(sandbox, "getTransactions", {"startLedger": 1, "pagination": {"limit": 1}})["result"]
    assert isinstance(raw["transactions"][0]["createdAt"], int) and isinstance(raw["latestLedgerCloseTimestamp"], int)
    position = int(raw["cursor"])
    assert (position >> 32, (position >> 12) & 0xFFFFF, position & 0xFFF) == (raw["transactions"][0]["ledger"], 1, 1)


def test_get_transactions_and_ledgers_refuse_what_stellar_rpc_refuses(sandbox, server) -> None:
    latest = server.get_latest_ledger().sequence
    with pytest.raises(SorobanRpcErrorResponse) as exc:
        server.get_transactions(start_ledger=latest + 100)
    assert exc.value.code == -32600 and "start ledger must be between the oldest ledger: 1" in exc.value.message
    answer = _rpc(sandbox, "getLedgers", {"startLedger": 2, "pagination": {"cursor": "3", "limit": 1}})
    assert answer["error"] == {"code": -32600, "message": "startLedger (2) and cursor (3) cannot both be set"}
    answer = _rpc(sandbox, "getTransactions", {"startLedger": 1, "pagination": {"limit": 201}})
    assert answer["error"] == {"code": -32600, "message": "limit must not exceed 200"}


def test_get_ledgers_pages_and_commits_to_its_transactions(server, fund) -> None:
    fund()
    page = server.get_ledgers(start_ledger=1, limit=3)
    assert [ledger.sequence for ledger in page.ledgers] == [1, 2, 3] and page.cursor == "3"
    nxt = server.get_ledgers(cursor=page.cursor, limit=2)
    assert [ledger.sequence for ledger in nxt.ledgers] == [4, 5]
    for info in page.ledgers + nxt.ledgers:
        entry = xdr.LedgerHeaderHistoryEntry.from_xdr(info.header_xdr)
        assert entry.hash.hash.hex() == info.hash == hashlib.sha256(entry.header.to_xdr_bytes()).hexdigest()
        meta = xdr.LedgerCloseMeta.from_xdr(info.metadata_xdr).v2
        assert meta.ledger_header.to_xdr() == entry.to_xdr()
        tx_set_hash = hashlib.sha256(meta.tx_set.to_xdr_bytes()).digest()
        assert entry.header.scp_value.tx_set_hash.hash == tx_set_hash
        results = xdr.TransactionResultSet([p.result for p in meta.tx_processing])
        assert entry.header.tx_set_result_hash.hash == hashlib.sha256(results.to_xdr_bytes()).digest()
    with_txs = [xdr.LedgerCloseMeta.from_xdr(i.metadata_xdr).v2 for i in page.ledgers + nxt.ledgers]
    assert any(m.tx_processing for m in with_txs)
    previous = None
    for info in page.ledgers + nxt.ledgers:
        header = xdr.LedgerHeaderHistoryEntry.from_xdr(info.header_xdr).header
        if previous is not None:
            assert header.previous_ledger_hash.hash.hex() == previous
        previous = info.hash


def test_latest_ledger_header_is_a_bare_ledger_header(server) -> None:
    latest = server.get_latest_ledger()
    header = xdr.LedgerHeader.from_xdr(latest.header_xdr)
    assert hashlib.sha256(header.to_xdr_bytes()).hexdigest() == latest.id
    assert header.ledger_version.uint32 == 27 == server.get_network().protocol_version


@pytest.mark.parametrize("name", sorted(CONTRACT_ADDRESSES))
def test_contract_code_carries_the_spec_clients_read(server, name: str) -> None:
    wasm = server.get_contract_wasm(CONTRACT_ADDRESSES[name])
    assert wasm.startswith(b"\x00asm\x01\x00\x00\x00")
    info = server.get_contract_info(CONTRACT_ADDRESSES[name])
    functions = {f.name.sc_symbol.decode(): f for f in info.spec.functions}
    errors = {e.name.decode(): {c.name.decode(): c.value.uint32 for c in e.cases} for e in info.spec.error_enums}
    assert info.env_meta and errors["Error"]["Unauthorized"] == 1
    expected = {
        "integration_router": ("execute_bitcoin_deposit", ["caller", "user", "btc_amount", "btc_txid", "vout", "confirmations", "block_height"]),
        "kyc_registry": ("is_approved", ["customer", "op", "amount"]),
        "istsi_token": ("transfer", ["from", "to", "amount"]),
        "reserve_manager": ("publish_proof", ["caller", "proof_hash", "liabilities_root", "reserves", "supply", "btc_height", "ledger"]),
    }[name]
    assert [i.name.decode() for i in functions[expected[0]].inputs] == expected[1]
    assert isinstance(ContractSpec.from_wasm(wasm), ContractSpec)


def test_spec_driven_client_reads_the_token(sandbox, fund) -> None:
    token = ContractClient(CONTRACT_ADDRESSES["istsi_token"], sandbox.url, DEFAULT_PASSPHRASE)
    reader = fund().public_key
    assert token.invoke("decimals", [], source=reader, parse_result_xdr_fn=scval.from_uint32).result() == 8


def test_simulation_records_address_credentials_unless_upgraded_auth_is_asked(sandbox, server, fund, operator) -> None:
    source, holder = fund(), fund()
    account = server.load_account(source.public_key)
    tx = (
        TransactionBuilder(account, DEFAULT_PASSPHRASE, base_fee=100)
        .append_invoke_contract_function_op(
            CONTRACT_ADDRESSES["istsi_token"], "transfer",
            [scval.to_address(holder.public_key), scval.to_address(Keypair.random().public_key), scval.to_int128(0)],
        )
        .set_timeout(60)
        .build()
    )
    kinds = {}
    for upgraded in (None, False, True):
        params = {"transaction": tx.to_xdr()} | ({} if upgraded is None else {"useUpgradedAuth": upgraded})
        result = _rpc(sandbox, "simulateTransaction", params)["result"]
        entry = xdr.SorobanAuthorizationEntry.from_xdr(result["results"][0]["auth"][0])
        kinds[upgraded] = entry.credentials.type
    C = xdr.SorobanCredentialsType
    assert kinds == {None: C.SOROBAN_CREDENTIALS_ADDRESS, False: C.SOROBAN_CREDENTIALS_ADDRESS, True: C.SOROBAN_CREDENTIALS_ADDRESS_V2}
