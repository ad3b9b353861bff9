"""Esplora's REST endpoints over the sandbox chain, with electrs' status codes and bodies.

Errors are ``text/plain`` as electrs sends them: 404 ``Block not found``, ``Transaction not
found``, ``Transaction not found or is unconfirmed``, ``tx index out of range``, ``start index
out of range``; 400 ``Invalid hash string``, ``Invalid number``, ``Invalid hex string``,
``Invalid scripthash``, ``Invalid Bitcoin address``, ``Address on invalid network``, ``start index
must be a multipication of 25`` (sic); an unknown path is 404 ``endpoint does not exist "<path>"``.
Lookups electrs answers without a 404 keep that: ``/tx/:txid/status`` of an unknown txid is
``{"confirmed":false}``, ``/tx/:txid/outspend/:vout`` ``{"spent":false}``, ``/block/:hash/status``
``{"in_best_chain":false,…}``. Source: electrs ``rest.rs`` (``handle_request``, ``HttpError``).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from embit.transaction import Transaction
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from custody_sandbox.esplora import history, views
from custody_sandbox.esplora.chain import SandboxChain
from custody_sandbox.esplora.merkle import merkle_proof_json, merkleblock_hex
from custody_sandbox.esplora.scripts import AddressError, script_of_address

BLOCK_LIMIT = 10
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")


class HttpError(Exception):
    """An electrs error response: status and plain-text body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def _hash(value: str) -> str:
    if not _HASH.match(value):
        raise HttpError(400, "Invalid hash string")
    return value.lower()


def _number(value: str) -> int:
    if not value.isdigit():
        raise HttpError(400, "Invalid number")
    return int(value)


def _script(kind: str, value: str) -> bytes:
    """The output script named by an address or a scripthash; for a scripthash, the script is
    found among the chain's and mempool's outputs (an unknown one matches nothing)."""
    if kind == "address":
        try:
            return script_of_address(value)
        except AddressError as exc:
            raise HttpError(400, str(exc)) from exc
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise HttpError(400, "Invalid hex string") from exc
    if len(raw) != 32:
        raise HttpError(400, "Invalid scripthash")
    return raw  # resolved by the caller through ScriptIndex


def build_routes(chain: SandboxChain) -> list[Route]:
    """The Esplora routes over ``chain`` (every handler holds the chain lock)."""

    def locked(handler: Callable[[Request], Response]) -> Callable:
        async def endpoint(request: Request) -> Response:
            try:
                with chain.lock:
                    return handler(request)
            except HttpError as err:
                return PlainTextResponse(err.text, status_code=err.status)

        return endpoint

    def block_of(request: Request):
        block_hash = _hash(request.path_params["hash"])
        if block_hash not in chain.blocks:
            raise HttpError(404, "Block not found")
        return block_hash, chain.blocks[block_hash]

    def tx_of(request: Request) -> tuple[str, Transaction]:
        txid = _hash(request.path_params["txid"])
        found = views.find_tx(chain, txid)
        if found is None:
            raise HttpError(404, "Transaction not found")
        return txid, found

    def script_of(request: Request) -> bytes:
        kind, value = request.path_params["kind"], request.path_params["value"]
        script = _script(kind, value)
        if kind == "scripthash":
            return _resolve_scripthash(chain, script)
        return script

    # ---- blocks -------------------------------------------------------------------------
    def tip_height(_: Request) -> Response:
        return PlainTextResponse(str(chain.tip_height))

    def tip_hash(_: Request) -> Response:
        return PlainTextResponse(chain.tip_hash)

    def blocks(request: Request) -> Response:
        start = request.path_params.get("start_height")
        height = int(start) if start is not None and start.isdigit() else chain.tip_height
        if height > chain.tip_height:
            raise HttpError(404, "Block not found")
        return JSONResponse([views.block_json(chain, chain.best[h]) for h in range(height, max(height - BLOCK_LIMIT, -1), -1)])

    def block_at(request: Request) -> Response:
        height = _number(request.path_params["height"])
        if height > chain.tip_height:
            raise HttpError(404, "Block not found")
        return PlainTextResponse(chain.best[height])

    def block(request: Request) -> Response:
        block_hash, _ = block_of(request)
        return JSONResponse(views.block_json(chain, block_hash))

    def block_status(request: Request) -> Response:
        block_hash = _hash(request.path_params["hash"])
        if block_hash not in chain.blocks:
            return JSONResponse({"in_best_chain": False, "height": None, "next_best": None})
        return JSONResponse(views.block_status_json(chain, block_hash))

    def block_txids(request: Request) -> Response:
        _, found = block_of(request)
        return JSONResponse([tx.txid().hex() for tx in found.txs])

    def block_header(request: Request) -> Response:
        _, found = block_of(request)
        return PlainTextResponse(found.header.hex())

    def block_raw(request: Request) -> Response:
        _, found = block_of(request)
        return Response(found.serialize(), media_type="application/octet-stream")

    def block_txid_at(request: Request) -> Response:
        _, found = block_of(request)
        index = _number(request.path_params["index"])
        if index >= len(found.txs):
            raise HttpError(404, "tx index out of range")
        return PlainTextResponse(found.txs[index].txid().hex())

    def block_txs(request: Request) -> Response:
        block_hash, found = block_of(request)
        raw_start = request.path_params.get("start_index", "0")
        start = int(raw_start) if raw_start.isdigit() else 0
        if start >= len(found.txs):
            raise HttpError(404, "start index out of range")
        if start % history.CHAIN_TXS_PER_PAGE:
            raise HttpError(400, f"start index must be a multipication of {history.CHAIN_TXS_PER_PAGE}")
        page = found.txs[start : start + history.CHAIN_TXS_PER_PAGE]
        return JSONResponse([views.tx_json(chain, tx, block_hash=block_hash) for tx in page])

    # ---- addresses and scripthashes -----------------------------------------------------
    def script_summary(request: Request) -> Response:
        kind, value = request.path_params["kind"], request.path_params["value"]
        return JSONResponse({kind: value, **history.stats_json(chain, script_of(request))})

    def script_txs(request: Request) -> Response:
        script = script_of(request)
        txs = history.mempool_history(chain, script) + history.chain_page(chain, script, None)
        return JSONResponse([views.tx_json(chain, tx) for tx in txs])

    def script_chain_txs(request: Request) -> Response:
        script = script_of(request)
        last_seen = request.path_params.get("last_seen")
        last_seen = last_seen.lower() if last_seen and _HASH.match(last_seen) else None
        return JSONResponse([views.tx_json(chain, tx) for tx in history.chain_page(chain, script, last_seen)])

    def script_mempool_txs(request: Request) -> Response:
        return JSONResponse([views.tx_json(chain, tx) for tx in history.mempool_history(chain, script_of(request))])

    def script_utxo(request: Request) -> Response:
        return JSONResponse(history.utxos_json(chain, script_of(request)))

    # ---- transactions -------------------------------------------------------------------
    def tx(request: Request) -> Response:
        return JSONResponse(views.tx_json(chain, tx_of(request)[1]))

    def tx_hex(request: Request) -> Response:
        return PlainTextResponse(tx_of(request)[1].serialize().hex())

    def tx_raw(request: Request) -> Response:
        return Response(tx_of(request)[1].serialize(), media_type="application/octet-stream")

    def tx_status(request: Request) -> Response:
        return JSONResponse(views.status_json(chain, _hash(request.path_params["txid"])))

    def confirming_block(request: Request):
        txid = _hash(request.path_params["txid"])
        block_hash = chain.tx_block.get(txid)
        if block_hash is None:
            raise HttpError(404, "Transaction not found or is unconfirmed")
        return txid, chain.blocks[block_hash]

    def merkle_proof(request: Request) -> Response:
        txid, found = confirming_block(request)
        return JSONResponse(merkle_proof_json(found, txid))

    def merkleblock_proof(request: Request) -> Response:
        txid, found = confirming_block(request)
        return PlainTextResponse(merkleblock_hex(found, txid))

    def outspend(request: Request) -> Response:
        txid = _hash(request.path_params["txid"])
        return JSONResponse(views.outspend_json(chain, txid, _number(request.path_params["vout"])))

    def outspends(request: Request) -> Response:
        txid, found = tx_of(request)
        return JSONResponse([views.outspend_json(chain, txid, vout) for vout in range(len(found.vout))])

    # ---- mempool ------------------------------------------------------------------------
    def mempool(_: Request) -> Response:
        return JSONResponse(history.backlog_json(chain))

    def mempool_txids(_: Request) -> Response:
        return JSONResponse(list(chain.mempool))

    def mempool_recent(_: Request) -> Response:
        return JSONResponse(list(chain.recent))

    table = [
        ("/blocks/tip/height", tip_height), ("/blocks/tip/hash", tip_hash),
        ("/blocks", blocks), ("/blocks/{start_height}", blocks),
        ("/block-height/{height}", block_at),
        ("/block/{hash}", block), ("/block/{hash}/status", block_status), ("/block/{hash}/txids", block_txids),
        ("/block/{hash}/header", block_header), ("/block/{hash}/raw", block_raw),
        ("/block/{hash}/txid/{index}", block_txid_at), ("/block/{hash}/txs", block_txs),
        ("/block/{hash}/txs/{start_index}", block_txs),
        *[
            (f"/{kind}{suffix}", _with_kind(handler, kind))
            for kind in ("address", "scripthash")
            for suffix, handler in (
                ("/{value}", script_summary), ("/{value}/txs", script_txs), ("/{value}/txs/chain", script_chain_txs),
                ("/{value}/txs/chain/{last_seen}", script_chain_txs), ("/{value}/txs/mempool", script_mempool_txs),
                ("/{value}/utxo", script_utxo),
            )
        ],
        ("/tx/{txid}", tx), ("/tx/{txid}/hex", tx_hex), ("/tx/{txid}/raw", tx_raw), ("/tx/{txid}/status", tx_status),
        ("/tx/{txid}/merkle-proof", merkle_proof), ("/tx/{txid}/merkleblock-proof", merkleblock_proof),
        ("/tx/{txid}/outspend/{vout}", outspend), ("/tx/{txid}/outspends", outspends),
        ("/mempool", mempool), ("/mempool/txids", mempool_txids), ("/mempool/recent", mempool_recent),
    ]
    return [Route(path, locked(handler), methods=["GET"]) for path, handler in table]


def _with_kind(handler: Callable[[Request], Response], kind: str) -> Callable[[Request], Response]:
    def bound(request: Request) -> Response:
        request.scope["path_params"]["kind"] = kind
        return handler(request)

    return bound


def _resolve_scripthash(chain: SandboxChain, digest: bytes) -> bytes:
    """The output script whose sha256 is ``digest`` (b"" when the chain has none: no history)."""
    wanted = digest.hex()
    for tx in list(chain.known_txs.values()):
        for output in tx.vout:
            if history.scripthash(output.script_pubkey.data) == wanted:
                return output.script_pubkey.data
    return b"\x00unknown-scripthash"  # matches no output


def not_found(request: Request, _exc: Exception) -> Response:
    """electrs' answer to any other path: 404 ``endpoint does not exist "<path>"``."""
    return PlainTextResponse(f'endpoint does not exist "{request.url.path}"', status_code=404)
