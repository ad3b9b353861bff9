"""Protocol behaviour of the sandbox as seen by the real stellar-sdk client."""

from __future__ import annotations

import os
import time

import httpx
import pytest
from stellar_sdk import Account, Keypair, SorobanServerAsync, TransactionBuilder, scval, xdr
from stellar_sdk.auth import authorize_entry
from stellar_sdk.soroban_rpc import SendTransactionStatus

from chains.soroban import ContractAddresses, Contracts, HostError, NetworkMismatch, SorobanClient
from chains.soroban.outcomes import simulation_error
from custody_sandbox.soroban import DEFAULT_PASSPHRASE


async def build_signed(
    server: SorobanServerAsync,
    signer: Keypair,
    contract: str,
    fn: str,
    args: list[xdr.SCVal],
    *,
    passphrase: str = DEFAULT_PASSPHRASE,
    sequence: int | None = None,
    max_time: int | None = None,
):
    account = await server.load_account(signer.public_key)
    if sequence is not None:
        account = Account(signer.public_key, sequence)
    builder = TransactionBuilder(account, passphrase, base_fee=100).append_invoke_contract_function_op(contract, fn, args)
    builder = builder.add_time_bounds(0, max_time) if max_time is not None else builder.set_timeout(30)
    tx = await server.prepare_transaction(builder.build())
    tx.sign(signer)
    return tx


def result_code(resp) -> str:
    return xdr.TransactionResult.from_xdr(resp.error_result_xdr).result.code.name


def pause_args(op: Keypair) -> list[xdr.SCVal]:
    return [scval.to_address(op.public_key), scval.to_string("protocol test")]


async def test_tampered_signature_is_txbad_auth(client: SorobanClient, operator: Keypair, addresses) -> None:
    tx = await build_signed(client.server, operator, addresses.kyc_registry, "get_tier", [scval.to_address(operator.public_key)])
    sig = tx.signatures[0]
    sig.signature = bytes([sig.signature[0] ^ 0x01]) + sig.signature[1:]
    resp = await client.server.send_transaction(tx)
    assert resp.status == SendTransactionStatus.ERROR and result_code(resp) == "txBAD_AUTH"


async def test_wrong_network_passphrase_is_txbad_auth(client: SorobanClient, operator: Keypair, addresses) -> None:
    args = [scval.to_address(operator.public_key)]
    tx = await build_signed(
        client.server, operator, addresses.kyc_registry, "get_tier", args, passphrase="Test SDF Network ; September 2015"
    )
    resp = await client.server.send_transaction(tx)
    assert resp.status == SendTransactionStatus.ERROR and result_code(resp) == "txBAD_AUTH"


async def test_reused_sequence_is_txbad_seq(client: SorobanClient, operator: Keypair, addresses) -> None:
    seq = (await client.server.load_account(operator.public_key)).sequence
    args = [scval.to_address(operator.public_key)]
    first = await build_signed(client.server, operator, addresses.kyc_registry, "get_tier", args, sequence=seq)
    assert (await client.server.send_transaction(first)).status == SendTransactionStatus.PENDING
    assert (await client.server.poll_transaction(first.hash_hex(), max_attempts=100)).status.value == "SUCCESS"
    again = await build_signed(client.server, operator, addresses.kyc_registry,
                               "get_tier", [scval.to_address(Keypair.random().public_key)], sequence=seq)
    resp = await client.server.send_transaction(again)
    assert resp.status == SendTransactionStatus.ERROR and result_code(resp) == "txBAD_SEQ"


async def test_expired_time_bound_is_txtoo_late(client: SorobanClient, operator: Keypair, addresses) -> None:
    args = [scval.to_address(operator.public_key)]
    tx = await build_signed(client.server, operator, addresses.kyc_registry, "get_tier", args, max_time=int(time.time()) - 60)
    resp = await client.server.send_transaction(tx)
    assert resp.status == SendTransactionStatus.ERROR and result_code(resp) == "txTOO_LATE"


async def test_same_envelope_twice_is_duplicate_with_one_effect(
    client: SorobanClient, contracts: Contracts, operator: Keypair, verified_user: Keypair, sandbox
) -> None:
    user = verified_user.public_key
    args = [scval.to_address(operator.public_key), scval.to_address(user), scval.to_uint64(5_000),
            scval.to_bytes(os.urandom(32)), scval.to_uint32(0), scval.to_uint32(6), scval.to_uint64(1)]
    tx = await build_signed(client.server, operator, contracts.router.address, "execute_bitcoin_deposit", args)
    # Both sends must reach the same queue, before a ledger applies the first: hold the clock.
    with httpx.Client(base_url=sandbox.url) as http:
        interval = http.get("/sandbox/ledger-interval").json()["seconds"]
        http.post("/sandbox/ledger-interval", json={"seconds": 3600}).raise_for_status()
        try:
            first = await client.server.send_transaction(tx)
            second = await client.server.send_transaction(tx)
        finally:
            http.post("/sandbox/ledger-interval", json={"seconds": interval}).raise_for_status()
    assert (first.status, second.status) == (SendTransactionStatus.PENDING, SendTransactionStatus.DUPLICATE)
    assert first.hash == second.hash == tx.hash_hex()
    assert (await client.server.poll_transaction(first.hash, max_attempts=100)).status.value == "SUCCESS"
    late = await client.server.send_transaction(tx)  # already applied: its sequence is consumed
    assert late.status == SendTransactionStatus.ERROR and result_code(late) == "txBAD_SEQ"
    assert await contracts.token.balance(user) == 5_000


async def test_bad_address_signature_fails_host_auth(client: SorobanClient, operator: Keypair, addresses, fund) -> None:
    user, impostor = fund(), Keypair.random()
    args = [scval.to_address(user.public_key), scval.to_address(impostor.public_key), scval.to_int128(1), scval.to_uint32(10**6)]
    account = await client.server.load_account(operator.public_key)
    tx = (
        TransactionBuilder(account, DEFAULT_PASSPHRASE, base_fee=100)
        .append_invoke_contract_function_op(addresses.istsi_token, "approve", args).set_timeout(30).build()
    )
    sim = await client.server.simulate_transaction(tx)
    entry = xdr.SorobanAuthorizationEntry.from_xdr(sim.results[0].auth[0])
    # The impostor signs the user's entry: the host must reject the signature.
    tx.transaction.operations[0].auth = [authorize_entry(entry, impostor, sim.latest_ledger + 50, DEFAULT_PASSPHRASE)]
    sim = await client.server.simulate_transaction(tx)
    assert sim.error and "Error(Auth, InvalidAction)" in sim.error
    assert isinstance(simulation_error(sim.error, "istsi_token"), HostError)


async def test_contract_data_via_get_ledger_entries(client: SorobanClient, contracts: Contracts, verified_user) -> None:
    await contracts.router.execute_bitcoin_deposit(verified_user.public_key, 777, os.urandom(32), 0, 6, 1)
    key = scval.to_vec([scval.to_symbol("Balance"), scval.to_address(verified_user.public_key)])
    entry = await client.server.get_contract_data(contracts.token.address, key)
    assert entry is not None
    data = xdr.LedgerEntryData.from_xdr(entry.xdr)
    assert scval.from_int128(data.contract_data.val) == 777


async def test_rpc_surface(sandbox, client: SorobanClient) -> None:
    health = await client.server.get_health()
    assert health.status == "healthy" and health.oldest_ledger == 1
    latest = await client.server.get_latest_ledger()
    header = xdr.LedgerHeader.from_xdr(latest.header_xdr)  # the bare header, as stellar-rpc sends it
    assert header.ledger_seq.uint32 == latest.sequence and header.ledger_version.uint32 == latest.protocol_version
    meta = xdr.LedgerCloseMeta.from_xdr(latest.metadata_xdr)
    assert meta.v == 2 and meta.v2.ledger_header.hash.hash.hex() == latest.id
    assert meta.v2.ledger_header.header.to_xdr() == latest.header_xdr
    assert (await client.server.get_version_info()).protocol_version == 27
    assert (await client.server.get_fee_stats()).soroban_inclusion_fee.min == 100
    async with httpx.AsyncClient() as http:
        body = {"jsonrpc": "2.0", "id": "x1", "method": "getLedgerEntry", "params": {}}
        answer = (await http.post(sandbox.url, json=body)).json()
    assert answer == {"jsonrpc": "2.0", "id": "x1", "error": {"code": -32601, "message": "method not found"}}


async def test_check_network_refuses_other_passphrase(sandbox, operator: Keypair, addresses: ContractAddresses) -> None:
    good = SorobanClient(rpc_url=sandbox.url, network_passphrase=DEFAULT_PASSPHRASE, operator=operator, contracts=addresses)
    bad = SorobanClient(
        rpc_url=sandbox.url, network_passphrase="Public Global Stellar Network ; September 2015",
        operator=operator, contracts=addresses,
    )
    try:
        await good.check_network()
        with pytest.raises(NetworkMismatch):
            await bad.check_network()
    finally:
        await good.close()
        await bad.close()
