"""The Esplora sandbox HTTP app: Esplora's REST API at the root, plus ``/sandbox/*`` controls.

Esplora endpoints (Blockstream esplora ``API.md``; shapes and errors of electrs, see ``routes``)::

    GET  /blocks[/:start_height]              json   10 blocks, newest first, from the tip or the height
    GET  /blocks/tip/height | /blocks/tip/hash text
    GET  /block-height/:height                text   canonical block hash at height
    GET  /block/:hash                         json   block summary (stale blocks too)
    GET  /block/:hash/status                  json   {in_best_chain, height, next_best}
    GET  /block/:hash/header                  text   the 80-byte header, hex
    GET  /block/:hash/raw                     binary the serialized block
    GET  /block/:hash/txids                   json   txids in block order
    GET  /block/:hash/txid/:index             text   txid at a position
    GET  /block/:hash/txs[/:start_index]      json   25 transactions from start_index (a multiple of 25)
    GET  /address/:address                    json   {address, chain_stats, mempool_stats}
    GET  /address/:address/txs                json   mempool (<= 50) then the first 25 confirmed, newest first
    GET  /address/:address/txs/chain[/:last_seen]  json   25 confirmed, newest first, after last_seen
    GET  /address/:address/txs/mempool        json   mempool transactions, newest first (<= 50)
    GET  /address/:address/utxo               json   unspent outputs (confirmed and mempool)
    GET  /scripthash/:hash[/…]                json   the same five, keyed by sha256(scriptPubKey) hex
    GET  /tx/:txid                            json   transaction with prevouts, fee and status
    GET  /tx/:txid/status                     json   {confirmed, block_height, block_hash, block_time}
    GET  /tx/:txid/hex | /tx/:txid/raw        text | binary
    GET  /tx/:txid/merkle-proof               json   {block_height, merkle, pos} (Electrum format)
    GET  /tx/:txid/merkleblock-proof          text   CMerkleBlock hex (as bitcoind's gettxoutproof)
    GET  /tx/:txid/outspend/:vout             json   {spent, txid, vin, status}
    GET  /tx/:txid/outspends                  json   one outspend per output
    GET  /mempool                             json   {count, vsize, total_fee, fee_histogram}
    GET  /mempool/txids                       json   every mempool txid
    GET  /mempool/recent                      json   last 10 to enter: {txid, fee, vsize, value}
    GET  /fee-estimates                       json   {"<blocks>": sat/vB}
    POST /tx                                  text   raw hex in, txid out; 400 with Core's reason

Sandbox-only::

    POST /sandbox/faucet        {address, sats}                       -> {txid, vout}
    POST /sandbox/mine          {blocks}                              -> {height, hashes}
    POST /sandbox/reorg         {depth, drop_txids?, include_mempool?} -> {height, orphaned, new, dropped}
    POST /sandbox/fee-estimates {"<blocks>": sat/vB, ...}             -> the new estimates
    GET|POST /sandbox/mining-policy {min_fee_rate_sat_vb?, hold_txids?} -> the policy in force

The mining policy keeps transactions in the mempool however many blocks are mined: those whose
ancestor package (with their unmined ancestors, as Core's block assembly scores them) pays less
than ``min_fee_rate_sat_vb`` (fees / vsizes), those listed in ``hold_txids``, and their
descendants; each key given replaces its value (``{"hold_txids": []}`` releases all). A fee
bump above the rate is mined as usual: a BIP 125 replacement, or a CPFP child that brings its
low-fee parent along.

Validation is Bitcoin Core 27.x's (``mempool``), scripts judged by libbitcoinkernel (``consensus``).
"""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from custody_sandbox.background import lifespan_running
from custody_sandbox.esplora.chain import MiningPolicy
from custody_sandbox.esplora.consensus import UndecodableTransaction, decode
from custody_sandbox.esplora.errors import Rejected
from custody_sandbox.esplora.faucet import Faucet, FaucetError
from custody_sandbox.esplora.routes import build_routes, not_found
from custody_sandbox.esplora.state import SandboxState

DECODE_FAILED = "TX decode failed. Make sure the tx has at least one input."
"""Bitcoin Core's ``sendrawtransaction`` text for bytes it cannot deserialize (code -22)."""


def create_app(state_dir: Path | None = None, mine_interval_seconds: float | None = None) -> Starlette:
    """Build the sandbox app over a new (or persisted, when ``state_dir`` is given) regtest chain.

    ``mine_interval_seconds`` mines one block per interval while the app runs (needs the ASGI
    lifespan, as under uvicorn). The state is at ``app.state.sandbox``.
    """
    sandbox = SandboxState(state_dir)
    chain = sandbox.chain
    faucet = Faucet(chain, sandbox.key)

    async def fee_estimates(_: Request) -> Response:
        return JSONResponse(sandbox.fee_estimates)

    async def broadcast(request: Request) -> Response:
        text = (await request.body()).decode("ascii", errors="replace").strip()
        try:
            parsed = decode(bytes.fromhex(text))
        except (ValueError, UndecodableTransaction):
            return PlainTextResponse(Rejected(-22, DECODE_FAILED).esplora_text(), status_code=400)
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

    async def mining_policy(request: Request) -> Response:
        if request.method == "POST":
            body = await _json_or_empty(request)
            unknown = set(body) - {"min_fee_rate_sat_vb", "hold_txids"}
            if unknown or not isinstance(body.get("hold_txids", []), list):
                return JSONResponse({"error": f"unknown or malformed keys: {sorted(unknown) or ['hold_txids']}"}, status_code=400)
            with chain.lock:
                current = chain.mining_policy
                chain.mining_policy = MiningPolicy(
                    float(body.get("min_fee_rate_sat_vb", current.min_fee_rate_sat_vb)),
                    {str(t).lower() for t in body.get("hold_txids", current.hold_txids)},
                )
            sandbox.save()
        policy = chain.mining_policy
        return JSONResponse({"min_fee_rate_sat_vb": policy.min_fee_rate_sat_vb, "hold_txids": sorted(policy.hold_txids)})

    lifespan = lifespan_running(functools.partial(_auto_mine, sandbox, mine_interval_seconds)
                                if mine_interval_seconds else None)

    routes = [
        *build_routes(chain),
        Route("/fee-estimates", fee_estimates),
        Route("/tx", broadcast, methods=["POST"]),
        Route("/sandbox/faucet", faucet_pay, methods=["POST"]),
        Route("/sandbox/mine", mine, methods=["POST"]),
        Route("/sandbox/reorg", reorg, methods=["POST"]),
        Route("/sandbox/fee-estimates", set_fee_estimates, methods=["POST"]),
        Route("/sandbox/mining-policy", mining_policy, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={404: not_found})
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
