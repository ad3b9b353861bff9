"""HTTP app of the Stellar RPC sandbox: JSON-RPC at ``/``, friendbot, sandbox-only knobs.

Endpoints:
    POST /                    JSON-RPC 2.0 (the Stellar RPC methods of ``rpc.py``); also /rpc
    GET|POST /friendbot?addr=G…  create a test account with 10,000 XLM (a real CreateAccount
                              transaction from the root account; friendbot's JSON, see ``friendbot``)
    GET  /sandbox/contracts   operator public key and contract addresses
    GET|POST /sandbox/faults  read / set fault knobs (see ``chain.Faults``)
    POST /sandbox/close_ledger  {"count": n} close n ledgers now
    POST /sandbox/advance_time  {"seconds": n} move the ledger clock forward
    GET|POST /sandbox/ledger-interval  {"seconds": s} read / change the ledger close interval
                              (e.g. set up fast, then measure at the public network's 5 s)

While ``unavailable`` is set, JSON-RPC answers HTTP 503 (the sandbox endpoints keep working
so a test can clear it). A dropped response answers 504 with a non-JSON body after the
request took effect, as a proxy that lost the upstream reply would.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from dataclasses import asdict, fields
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from stellar_sdk import StrKey

from custody_sandbox.background import lifespan_running
from custody_sandbox.soroban import friendbot as friendbot_replies
from custody_sandbox.soroban.bootstrap import CONTRACT_ADDRESSES, DEFAULT_MIN_CONFIRMATIONS, bootstrap
from custody_sandbox.soroban.chain import Faults, SandboxState
from custody_sandbox.soroban.rpc import DroppedResponse, RpcError, RpcMethods

log = logging.getLogger(__name__)
DEFAULT_PASSPHRASE = "Standalone Network ; February 2017"


def create_app(
    state_dir: Path,
    network_passphrase: str = DEFAULT_PASSPHRASE,
    *,
    ledger_interval_seconds: float | None = 1.0,
    seed: int | None = None,
    public_url: str | None = None,
    min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS,
) -> Starlette:
    """Build the sandbox app over ``state_dir`` (bootstrapping a fresh chain).

    Args:
        ledger_interval_seconds: close a ledger this often while serving; None = only by hand.
        seed: fault RNG seed. public_url: base URL advertised as ``friendbotUrl``.
        min_confirmations: the router's deposit depth in blocks, fixed when a fresh chain is
            bootstrapped (an existing state dir keeps its own).

    The :class:`SandboxState` is ``app.state.sandbox``.
    """
    state = SandboxState(state_dir, network_passphrase, seed=seed)
    if state.fresh:
        operator = bootstrap(state, min_confirmations=min_confirmations)
        log.info("sandbox bootstrapped: operator %s, contracts %s", operator.public_key, CONTRACT_ADDRESSES)
    friendbot = f"{public_url.rstrip('/')}/friendbot" if public_url else None
    methods = RpcMethods(state, friendbot_url=friendbot)

    async def rpc(request: Request) -> Response:
        if state.faults.unavailable:
            return PlainTextResponse("service unavailable", status_code=503)
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _rpc_error(None, -32700, "parse error")
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or "method" not in body:
            return _rpc_error(body.get("id") if isinstance(body, dict) else None, -32600, "invalid request")
        req_id = body.get("id")
        try:
            result = await asyncio.to_thread(methods.call, body["method"], body.get("params") or {})
        except RpcError as err:
            return _rpc_error(req_id, err.code, err.message)
        except DroppedResponse:
            return PlainTextResponse("upstream response lost", status_code=504)
        return JSONResponse({"jsonrpc": "2.0", "id": req_id, "result": result})

    async def friendbot_route(request: Request) -> Response:
        addr = request.query_params.get("addr", "")
        if not StrKey.is_valid_ed25519_public_key(addr):  # as the real friendbot: G… accounts only
            reason = "invalid version byte" if addr[:1] in ("C", "S", "M") else "invalid encoded string"
            return _problem(friendbot_replies.invalid_addr(reason))
        record = await asyncio.to_thread(state.fund, addr)
        if record is None:
            return _problem(friendbot_replies.problem(friendbot_replies.ALREADY_EXISTS_DETAIL))
        return JSONResponse(friendbot_replies.horizon_json(record, str(request.base_url)))

    async def faults_route(request: Request) -> Response:
        if request.method == "POST":
            patch = await request.json()
            known = {f.name for f in fields(Faults)}
            unknown = set(patch) - known
            if unknown:
                return JSONResponse({"detail": f"unknown fault knobs: {sorted(unknown)}"}, status_code=422)
            for name, value in patch.items():
                setattr(state.faults, name, value)
        return JSONResponse(asdict(state.faults))

    async def close_route(request: Request) -> Response:
        count = int((await _json_or_empty(request)).get("count", 1))
        for _ in range(count):
            await asyncio.to_thread(state.close_ledger)
        latest = state.chain.latest
        return JSONResponse({"sequence": latest.sequence, "closeTime": latest.close_time})

    async def time_route(request: Request) -> Response:
        state.advance_time(int((await _json_or_empty(request)).get("seconds", 0)))
        return JSONResponse({"timeOffsetSeconds": state.time_offset_seconds})

    clock = _Clock(ledger_interval_seconds)

    async def interval_route(request: Request) -> Response:
        if request.method == "POST":
            seconds = float((await _json_or_empty(request)).get("seconds", 0))
            if seconds <= 0:
                return JSONResponse({"detail": "seconds must be > 0"}, status_code=422)
            clock.interval_seconds = seconds
            clock.changed.set()
        return JSONResponse({"seconds": clock.interval_seconds})

    async def contracts_route(request: Request) -> Response:
        return JSONResponse({"operator": state.chain.operator, **CONTRACT_ADDRESSES})

    lifespan = lifespan_running(functools.partial(_ledger_clock, state, clock) if ledger_interval_seconds else None)

    app = Starlette(
        routes=[
            Route("/", rpc, methods=["POST"]),
            Route("/rpc", rpc, methods=["POST"]),
            Route("/friendbot", friendbot_route, methods=["GET", "POST"]),
            Route("/sandbox/faults", faults_route, methods=["GET", "POST"]),
            Route("/sandbox/close_ledger", close_route, methods=["POST"]),
            Route("/sandbox/advance_time", time_route, methods=["POST"]),
            Route("/sandbox/contracts", contracts_route, methods=["GET"]),
            Route("/sandbox/ledger-interval", interval_route, methods=["GET", "POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.sandbox = state
    return app


class _Clock:
    """The ledger close interval, changeable while serving (``/sandbox/ledger-interval``)."""

    def __init__(self, interval_seconds: float | None) -> None:
        self.interval_seconds = interval_seconds or 0.0
        self.changed = asyncio.Event()


async def _ledger_clock(state: SandboxState, clock: _Clock) -> None:
    """Close a ledger every ``clock.interval_seconds`` on a fixed cadence (the time a close takes
    does not stretch the interval, as the network's pace does not stretch with load)."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    while True:
        due += clock.interval_seconds
        clock.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(clock.changed.wait(), max(due - loop.time(), 0.0))
            due = loop.time()  # a new interval starts counting now
            continue
        await asyncio.to_thread(state.close_ledger)
        if loop.time() - due > clock.interval_seconds:  # fell behind (a slow close): skip, never burst
            due = loop.time()


async def _json_or_empty(request: Request) -> dict:
    raw = await request.body()
    return json.loads(raw) if raw else {}


def _problem(body: dict) -> JSONResponse:
    """An RFC 7807 problem response, as stellar/go's ``support/render/problem`` renders it."""
    return JSONResponse(body, status_code=body["status"], media_type="application/problem+json")


def _rpc_error(req_id, code: int, message: str) -> JSONResponse:
    return JSONResponse({"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}})


def serve(
    host: str,
    port: int,
    state_dir: Path,
    network_passphrase: str = DEFAULT_PASSPHRASE,
    ledger_interval_seconds: float = 1.0,
    min_confirmations: int = DEFAULT_MIN_CONFIRMATIONS,
) -> None:
    """Run the sandbox until interrupted (blocking; used by ``custody sandbox soroban``)."""
    import uvicorn

    public = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    app = create_app(
        Path(state_dir), network_passphrase, ledger_interval_seconds=ledger_interval_seconds, public_url=public,
        min_confirmations=min_confirmations,
    )
    uvicorn.run(app, host=host, port=port, log_level="info")
