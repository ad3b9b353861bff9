"""The Esplora sandbox HTTP app: Esplora's REST API at the root, plus ``/sandbox/*`` controls.

Esplora endpoints::

    GET  /blocks/tip/height            text   canonical tip height
    GET  /blocks/tip/hash              text   canonical tip hash
    GET  /block/:hash                  json   block summary (stale blocks too)
    GET  /block/:hash/status           json   {in_best_chain, height, next_best}
    GET  /block/:hash/txids            json   txids in block order
    GET  /block/:hash/raw              binary the serialized block
    GET  /block-height/:height         text   canonical block hash at height
    GET  /tx/:txid                     json   transaction with prevouts, fee and status
    GET  /tx/:txid/status              json   {confirmed, block_height, block_hash, block_time}
    GET  /tx/:txid/hex                 text   raw transaction
    GET  /tx/:txid/outspend/:vout      json   {spent, txid, vin, status}
    GET  /address/:address/utxo        json   unspent outputs (confirmed and mempool)
    GET  /address/:address/txs         json   mempool then confirmed transactions, newest first
    GET  /fee-estimates                json   {"<blocks>": sat/vB}
    POST /tx                           text   raw hex in, txid out; 400 with Core's reason

Sandbox-only::

    POST /sandbox/faucet        {address, sats}                       -> {txid, vout}
    POST /sandbox/mine          {blocks}                              -> {height, hashes}
    POST /sandbox/reorg         {depth, drop_txids?, include_mempool?} -> {height, orphaned, new, dropped}
    POST /sandbox/fee-estimates {"<blocks>": sat/vB, ...}             -> the new estimates
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from embit.transaction import Transaction
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from custody_sandbox.esplora import views
from custody_sandbox.esplora.faucet import Faucet, FaucetError
from custody_sandbox.esplora.mempool import Rejected
from custody_sandbox.esplora.state import SandboxState
from domain.bitcoin_address import AddressError, Network, decode_address


def create_app(state_dir: Path | None = None, mine_interval_seconds: float | None = None) -> Starlette:
    """Build the sandbox app over a new (or persisted, when ``state_dir`` is given) regtest chain.

    ``mine_interval_seconds`` mines one block per interval while the app runs (needs the ASGI
    lifespan, as under uvicorn). The state is at ``app.state.sandbox``.
    """
    sandbox = SandboxState(state_dir)
    chain = sandbox.chain
    faucet = Faucet(chain, sandbox.key)

    def not_found(what: str) -> PlainTextResponse:
        return PlainTextResponse(f"{what} not found", status_code=404)

    async def tip_height(_: Request) -> Response:
        return PlainTextResponse(str(chain.tip_height))

    async def tip_hash(_: Request) -> Response:
        return PlainTextResponse(chain.tip_hash)

    async def block(request: Request) -> Response:
        block_hash = request.path_params["hash"]
        with chain.lock:
            return JSONResponse(views.block_json(chain, block_hash)) if block_hash in chain.blocks else not_found("Block")

    async def block_status(request: Request) -> Response:
        block_hash = request.path_params["hash"]
        with chain.lock:
            if block_hash not in chain.blocks:
                return not_found("Block")
            height = chain.blocks[block_hash].height
            in_best = height <= chain.tip_height and chain.best[height] == block_hash
            following = chain.best[height + 1] if in_best and height < chain.tip_height else None
            return JSONResponse({"in_best_chain": in_best, "height": height, "next_best": following})

    async def block_txids(request: Request) -> Response:
        block_hash = request.path_params["hash"]
        with chain.lock:
            if block_hash not in chain.blocks:
                return not_found("Block")
            return JSONResponse([tx.txid().hex() for tx in chain.blocks[block_hash].txs])

    async def block_raw(request: Request) -> Response:
        block_hash = request.path_params["hash"]
        with chain.lock:
            if block_hash not in chain.blocks:
                return not_found("Block")
            return Response(chain.blocks[block_hash].serialize(), media_type="application/octet-stream")

    async def block_at(request: Request) -> Response:
        height = request.path_params["height"]
        with chain.lock:
            return PlainTextResponse(chain.best[height]) if 0 <= height <= chain.tip_height else not_found("Block")

    async def tx(request: Request) -> Response:
        with chain.lock:
            found = views.find_tx(chain, request.path_params["txid"])
            return JSONResponse(views.tx_json(chain, found)) if found else not_found("Transaction")

    async def tx_status(request: Request) -> Response:
        txid = request.path_params["txid"]
        with chain.lock:
            return JSONResponse(views.status_json(chain, txid)) if views.find_tx(chain, txid) else not_found("Transaction")

    async def tx_hex(request: Request) -> Response:
        with chain.lock:
            found = views.find_tx(chain, request.path_params["txid"])
            return PlainTextResponse(found.serialize().hex()) if found else not_found("Transaction")

    async def outspend(request: Request) -> Response:
        txid, vout = request.path_params["txid"], request.path_params["vout"]
        with chain.lock:
            found = views.find_tx(chain, txid)
            if found is None or vout >= len(found.vout):
                return not_found("Transaction")
            return JSONResponse(views.outspend_json(chain, txid, vout))

    def address_script(request: Request) -> bytes | None:
        try:
            return decode_address(request.path_params["address"], Network.REGTEST).script_pubkey
        except AddressError:
            return None

    async def address_utxo(request: Request) -> Response:
        script = address_script(request)
        if script is None:
            return PlainTextResponse("Invalid Bitcoin address", status_code=400)
        with chain.lock:
            return JSONResponse(views.address_utxos(chain, script))

    async def address_txs(request: Request) -> Response:
        script = address_script(request)
        if script is None:
            return PlainTextResponse("Invalid Bitcoin address", status_code=400)
        with chain.lock:
            return JSONResponse([views.tx_json(chain, t) for t in views.address_txs(chain, script)])

    async def fee_estimates(_: Request) -> Response:
        return JSONResponse(sandbox.fee_estimates)

    async def broadcast(request: Request) -> Response:
        raw = (await request.body()).decode("ascii", errors="replace").strip()
        try:
            parsed = Transaction.from_string(raw)
        except Exception as exc:  # noqa: BLE001 - any decode failure is Core's TX decode failed
            return PlainTextResponse(Rejected(-22, f"TX decode failed: {exc}").esplora_text(), status_code=400)
        try:
            txid = chain.accept(parsed)
        except Rejected as exc:
            return PlainTextResponse(exc.esplora_text(), status_code=400)
        sandbox.save()
        return PlainTextResponse(txid)

    async def faucet_pay(request: Request) -> Response:
        body = await request.json()
        try:
            txid, vout = faucet.pay(str(body.get("address", "")), body.get("sats"))
        except (FaucetError, Rejected) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        sandbox.save()
        return JSONResponse({"txid": txid, "vout": vout})

    async def mine(request: Request) -> Response:
        body = await _json_or_empty(request)
        count = int(body.get("blocks", 1))
        if not 1 <= count <= 1000:
            return JSONResponse({"error": "blocks must be 1..1000"}, status_code=400)
        hashes = chain.mine(count)
        sandbox.save()
        return JSONResponse({"height": chain.tip_height, "hashes": hashes})

    async def reorg(request: Request) -> Response:
        body = await request.json()
        try:
            result = chain.reorg(
                int(body.get("depth", 1)),
                frozenset(body.get("drop_txids") or ()),
                include_mempool=bool(body.get("include_mempool", True)),
            )
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        sandbox.save()
        return JSONResponse(result)

    async def set_fee_estimates(request: Request) -> Response:
        body = await request.json()
        sandbox.fee_estimates = {str(int(k)): float(v) for k, v in body.items()}
        sandbox.save()
        return JSONResponse(sandbox.fee_estimates)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):
        task = asyncio.create_task(_auto_mine(sandbox, mine_interval_seconds)) if mine_interval_seconds else None
        try:
            yield
        finally:
            if task:
                task.cancel()

    routes = [
        Route("/blocks/tip/height", tip_height),
        Route("/blocks/tip/hash", tip_hash),
        Route("/block/{hash}", block),
        Route("/block/{hash}/status", block_status),
        Route("/block/{hash}/txids", block_txids),
        Route("/block/{hash}/raw", block_raw),
        Route("/block-height/{height:int}", block_at),
        Route("/tx/{txid}", tx),
        Route("/tx/{txid}/status", tx_status),
        Route("/tx/{txid}/hex", tx_hex),
        Route("/tx/{txid}/outspend/{vout:int}", outspend),
        Route("/address/{address}/utxo", address_utxo),
        Route("/address/{address}/txs", address_txs),
        Route("/fee-estimates", fee_estimates),
        Route("/tx", broadcast, methods=["POST"]),
        Route("/sandbox/faucet", faucet_pay, methods=["POST"]),
        Route("/sandbox/mine", mine, methods=["POST"]),
        Route("/sandbox/reorg", reorg, methods=["POST"]),
        Route("/sandbox/fee-estimates", set_fee_estimates, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app


async def _json_or_empty(request: Request) -> dict:
    raw = await request.body()
    return await request.json() if raw.strip() else {}


async def _auto_mine(sandbox: SandboxState, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        sandbox.chain.mine(1)
        sandbox.save()


def serve(host: str, port: int, state_dir: Path | None = None, mine_interval_seconds: float | None = None) -> None:
    """Run the sandbox until interrupted (blocking), e.g. ``serve("127.0.0.1", 3002)``."""
    import uvicorn

    uvicorn.run(create_app(state_dir, mine_interval_seconds), host=host, port=port, log_level="info")
