"""A protocol-faithful local Stellar RPC: JSON-RPC 2.0 with real XDR over Python contract models.

Public surface:
    serve(host, port, state_dir, network_passphrase, ledger_interval_seconds)  blocking CLI entry
    create_app(state_dir, ...)   Starlette app; ``app.state.sandbox`` is the SandboxState
    SandboxState                 the ledger: send/simulate/close_ledger/fund, fault knobs
    SandboxServer                uvicorn-in-a-thread helper for tests
    CONTRACT_ADDRESSES           the stable ``C…`` addresses of the four contracts
"""

from custody_sandbox.soroban.app import DEFAULT_PASSPHRASE, create_app, serve
from custody_sandbox.soroban.bootstrap import CONTRACT_ADDRESSES, CONTRACTS_FILE, OPERATOR_SECRET_FILE
from custody_sandbox.soroban.chain import Faults, SandboxState
from custody_sandbox.soroban.server import SandboxServer

__all__ = [
    "CONTRACTS_FILE",
    "CONTRACT_ADDRESSES",
    "DEFAULT_PASSPHRASE",
    "OPERATOR_SECRET_FILE",
    "Faults",
    "SandboxServer",
    "SandboxState",
    "create_app",
    "serve",
]
