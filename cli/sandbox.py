"""``custody sandbox …``: the local, protocol-faithful chain stand-ins used in development and tests."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Local chain sandboxes (development and tests only).", no_args_is_help=True)

_MISSING = "the chain sandboxes are a development package: pip install -e ./sandbox (make venv does this)"


def _require_sandbox() -> None:
    """Fail with a clear message where the ``custody-sandbox`` distribution is not installed."""
    import importlib.util

    if importlib.util.find_spec("custody_sandbox") is None:
        raise typer.BadParameter(_MISSING)


@app.command("bitcoin")
def bitcoin(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(3002),
    state_dir: Path | None = typer.Option(None, help="Keep the chain here across restarts."),
    mine_interval: float | None = typer.Option(None, help="Mine a block every N seconds."),
) -> None:
    """Serve the Esplora API over an in-memory regtest chain (plus /sandbox/faucet, mine, reorg)."""
    _require_sandbox()
    from custody_sandbox.esplora import serve

    serve(host, port, state_dir=state_dir, mine_interval_seconds=mine_interval)


@app.command("soroban")
def soroban(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    state_dir: Path = typer.Option(Path(".data/soroban"), help="Chain state, operator key, contract addresses."),
    ledger_interval: float = typer.Option(1.0, help="Close a ledger every N seconds."),
    min_confirmations: int = typer.Option(1, min=1, help="Router deposit depth (blocks), set on first start."),
) -> None:
    """Serve the Stellar RPC JSON-RPC protocol over the four contracts of docs/CONTRACTS.md."""
    _require_sandbox()
    from custody_sandbox.soroban import serve

    serve(host, port, state_dir, ledger_interval_seconds=ledger_interval, min_confirmations=min_confirmations)
