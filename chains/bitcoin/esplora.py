"""Esplora HTTP API client (Blockstream esplora / electrs / mempool.space, and our sandbox).

One class, ``EsploraClient``, on ``httpx.AsyncClient`` with a swappable transport. Every
answer is parsed into a frozen dataclass of ``chains.bitcoin.esplora_types``. Connection
errors, timeouts and 5xx answers are retried with exponential backoff; what is left is
translated at this boundary into our own errors (``chains.bitcoin.errors``)::

    ChainError
     ├── ChainUnavailable     connection error, timeout, 5xx after retries
     ├── ChainResponseError   4xx we did not expect, or a body we cannot parse
     ├── TxNotFound           GET /tx/:txid... answered 404
     ├── BlockNotFound        GET /block/:hash or /block-height/:h answered 404
     └── TxRejected           POST /tx refused (and the chain does not have the tx)

Broadcasting a transaction the chain source already has (mempool or block) is success:
an ambiguous broadcast is resolved by looking the txid up, never by signing again.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_CEILING, Decimal
from typing import Any

import httpx
from embit.base import EmbitError
from embit.transaction import Transaction as EmbitTransaction

from chains.bitcoin.errors import BlockNotFound, ChainResponseError, ChainUnavailable, TxNotFound, TxRejected
from chains.bitcoin.esplora_types import (
    AddressUtxo,
    Block,
    FeeEstimates,
    Outspend,
    Transaction,
    TxStatus,
    parse_status,
    parse_transaction,
)

__all__ = ["EsploraClient"]


class EsploraClient:
    """Async client of one Esplora instance.

    Parameters:
        base_url: API root, e.g. ``http://127.0.0.1:3002`` (sandbox) or ``https://host/testnet/api``.
        transport: optional httpx transport (``httpx.ASGITransport(app=...)`` or ``MockTransport``).
        timeout_seconds: per-request timeout (connect, read, write, pool), default 10 s.
        max_retries: extra attempts after a connection error, timeout or 5xx, default 3.
        retry_backoff_seconds: first backoff delay, doubled per retry, default 0.2 s.
    """

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_seconds: float = 10.0,
        max_retries: int = 3,
        retry_backoff_seconds: float = 0.2,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), transport=transport, timeout=httpx.Timeout(timeout_seconds)
        )
        self._max_retries = max_retries
        self._backoff = retry_backoff_seconds

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> EsploraClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def tip_height(self) -> int:
        """Height of the canonical tip (blocks)."""
        return _as_int(await self._text("GET", "/blocks/tip/height"))

    async def tip_hash(self) -> str:
        """Hash of the canonical tip (hex)."""
        return (await self._text("GET", "/blocks/tip/hash")).strip()

    async def block_hash_at(self, height: int) -> str:
        """Hash of the canonical block at ``height``. Raises BlockNotFound."""
        return (await self._text("GET", f"/block-height/{height}", not_found=BlockNotFound)).strip()

    async def block(self, block_hash: str) -> Block:
        """Header summary of a block. Raises BlockNotFound."""
        return _block(await self._json("GET", f"/block/{block_hash}", not_found=BlockNotFound))

    async def blocks_from(self, start_height: int) -> list[Block]:
        """Up to ten canonical blocks from ``start_height`` down (Esplora ``GET
        /blocks/:start_height``, newest first). Raises BlockNotFound above the tip."""
        return [_block(b) for b in await self._json("GET", f"/blocks/{start_height}", not_found=BlockNotFound)]

    async def block_raw(self, block_hash: str) -> bytes:
        """The serialized block (header, tx count, transactions). Raises BlockNotFound."""
        return (await self._checked("GET", f"/block/{block_hash}/raw", BlockNotFound)).content

    async def transaction(self, txid: str) -> Transaction:
        """A transaction with its canonical-chain status. Raises TxNotFound."""
        return parse_transaction(await self._json("GET", f"/tx/{txid}", not_found=TxNotFound))

    async def transaction_status(self, txid: str) -> TxStatus:
        """Confirmation status on the canonical chain. Raises TxNotFound.

        electrs answers ``{"confirmed": false}`` for a txid it has never seen, so an unconfirmed
        status is checked against ``GET /tx/:txid``, which is 404 for an unknown transaction.
        """
        status = parse_status(await self._json("GET", f"/tx/{txid}/status", not_found=TxNotFound))
        if not status.confirmed:
            await self._checked("GET", f"/tx/{txid}", not_found=TxNotFound)
        return status

    async def transaction_hex(self, txid: str) -> str:
        """Raw serialized transaction (hex). Raises TxNotFound."""
        return (await self._text("GET", f"/tx/{txid}/hex", not_found=TxNotFound)).strip()

    async def outspend(self, txid: str, vout: int) -> Outspend:
        """Whether output ``txid:vout`` is spent, and by what. Raises TxNotFound."""
        data = await self._json("GET", f"/tx/{txid}/outspend/{vout}", not_found=TxNotFound)
        spent = bool(data.get("spent"))
        return Outspend(
            spent=spent,
            txid=data.get("txid") if spent else None,
            vin=data.get("vin") if spent else None,
            status=parse_status(data["status"]) if spent and "status" in data else None,
        )

    async def address_utxos(self, address: str) -> list[AddressUtxo]:
        """Unspent outputs paying ``address`` (confirmed and mempool)."""
        data = await self._json("GET", f"/address/{address}/utxo")
        return [
            AddressUtxo(txid=u["txid"], vout=int(u["vout"]), amount_sats=int(u["value"]), status=parse_status(u["status"]))
            for u in data
        ]

    async def address_transactions(self, address: str) -> list[Transaction]:
        """Transactions touching ``address``: mempool first, then confirmed, newest first (first page)."""
        return [parse_transaction(t) for t in await self._json("GET", f"/address/{address}/txs")]

    async def fee_estimates(self) -> FeeEstimates:
        """Fee rate per confirmation target; Esplora's fractional sat/vB rounded up to integers."""
        data = await self._json("GET", "/fee-estimates")
        try:
            rates = {
                int(target): int(Decimal(str(rate)).to_integral_value(rounding=ROUND_CEILING))
                for target, rate in data.items()
            }
        except (ArithmeticError, ValueError, AttributeError) as exc:
            raise ChainResponseError(f"unusable fee estimates: {data!r}") from exc
        return FeeEstimates(rates_sat_vb=rates)

    async def broadcast(self, tx_hex: str) -> str:
        """Broadcast a signed transaction; returns its txid.

        Success also when the chain source already has the transaction (mempool or block).

        Raises:
            TxRejected: refused, and a lookup of its txid finds nothing.
            ChainUnavailable: unreachable past the retry budget (the tx may or may not be out:
                look the txid up before doing anything else).
        """
        try:
            txid = EmbitTransaction.from_string(tx_hex.strip()).txid().hex()
        except (EmbitError, ValueError, EOFError, IndexError) as exc:
            raise TxRejected(f"not a serialized transaction: {exc}") from exc
        response = await self._send("POST", "/tx", content=tx_hex.strip())
        if response.status_code == 200:
            returned = response.text.strip()
            if returned != txid:
                raise ChainResponseError(f"broadcast answered txid {returned}, expected {txid}")
            return txid
        if 400 <= response.status_code < 500:
            try:
                await self.transaction_status(txid)
            except TxNotFound:
                raise TxRejected(response.text.strip()) from None
            return txid
        raise ChainResponseError(f"POST /tx answered {response.status_code}: {response.text[:200]}")

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: str = ""
        for attempt in range(self._max_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            return response
        raise ChainUnavailable(f"{method} {path} failed after {self._max_retries + 1} attempts ({last})")

    async def _checked(self, method: str, path: str, not_found: type[Exception] | None) -> httpx.Response:
        response = await self._send(method, path)
        if response.status_code == 404 and not_found is not None:
            raise not_found(f"{path}: {response.text.strip()[:200]}")
        if response.status_code != 200:
            raise ChainResponseError(f"{method} {path} answered {response.status_code}: {response.text[:200]}")
        return response

    async def _text(self, method: str, path: str, *, not_found: type[Exception] | None = None) -> str:
        return (await self._checked(method, path, not_found)).text

    async def _json(self, method: str, path: str, *, not_found: type[Exception] | None = None) -> Any:
        response = await self._checked(method, path, not_found)
        try:
            return response.json()
        except ValueError as exc:
            raise ChainResponseError(f"{method} {path}: body is not JSON") from exc


def _as_int(text: str) -> int:
    try:
        return int(text.strip())
    except ValueError as exc:
        raise ChainResponseError(f"expected an integer, got {text[:50]!r}") from exc


def _block(data: Any) -> Block:
    """Esplora's ``BlockValue`` reduced to the header summary."""
    try:
        return Block(block_hash=data["id"], height=int(data["height"]), previous_block_hash=data.get("previousblockhash"),
                     timestamp=int(data["timestamp"]), tx_count=int(data["tx_count"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ChainResponseError(f"malformed block: {exc}") from exc
