"""EsploraClient edge cases over httpx.MockTransport: retries, timeouts, error translation."""

from __future__ import annotations

import httpx
import pytest

from chains.bitcoin.errors import ChainResponseError, ChainUnavailable, TxNotFound, TxRejected
from chains.bitcoin.esplora import EsploraClient

# A valid serialized transaction (1 input, 1 output), used only for its txid.
RAW_TX = (
    "0200000001" + "11" * 32 + "00000000" + "00" + "fdffffff" + "01" + "e803000000000000" + "16" + "0014" + "22" * 20 + "00000000"
)


def _client(handler, retries: int = 2) -> EsploraClient:
    return EsploraClient("http://esplora", transport=httpx.MockTransport(handler), max_retries=retries, retry_backoff_seconds=0)


async def test_retries_5xx_then_succeeds() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(503) if len(calls) < 3 else httpx.Response(200, text="812\n")

    assert await _client(handler).tip_height() == 812
    assert len(calls) == 3


async def test_connection_errors_exhaust_budget() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ChainUnavailable):
        await _client(handler).tip_hash()


async def test_timeout_is_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(ChainUnavailable):
        await _client(handler, retries=0).fee_estimates()


async def test_404_is_tx_not_found_and_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(404, text="Transaction not found")

    with pytest.raises(TxNotFound):
        await _client(handler).transaction("ab" * 32)
    assert len(calls) == 1


async def test_bad_json_is_response_error() -> None:
    with pytest.raises(ChainResponseError):
        await _client(lambda r: httpx.Response(200, text="<html>")).transaction_status("ab" * 32)


async def test_fee_estimates_round_up_to_integers() -> None:
    estimates = await _client(lambda r: httpx.Response(200, json={"1": 12.1, "6": 3.0, "144": 1.005})).fee_estimates()
    assert estimates.rates_sat_vb == {1: 13, 6: 3, 144: 2}


async def test_broadcast_rejection_when_chain_lacks_tx() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, text='sendrawtransaction RPC error: {"code":-26,"message":"dust"}')
        return httpx.Response(404, text="Transaction not found")

    with pytest.raises(TxRejected) as exc:
        await _client(handler).broadcast(RAW_TX)
    assert "dust" in exc.value.reason


async def test_broadcast_of_known_tx_is_success() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400, text='sendrawtransaction RPC error: {"code":-27,"message":"Transaction outputs already in utxo set"}')
        return httpx.Response(200, json={"confirmed": True, "block_height": 5, "block_hash": "00" * 32, "block_time": 1})

    client = _client(handler)
    from embit.transaction import Transaction

    assert await client.broadcast(RAW_TX) == Transaction.from_string(RAW_TX).txid().hex()


async def test_broadcast_garbage_is_rejected_locally() -> None:
    with pytest.raises(TxRejected):
        await _client(lambda r: httpx.Response(500)).broadcast("zz")
