"""The ``custody`` command: one entry point for every process and maintenance task."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

from cli.ledger import app as ledger_app
from cli.reserves import verify_proof
from cli.sandbox import app as sandbox_app
from cli.soak import soak
from cli.users import app as users_app
from cli.wallet import app as wallet_app
from config.settings import ConfigError, Settings, load_settings

app = typer.Typer(help="Bitcoin custody engine.", no_args_is_help=True, add_completion=False)
db_app = typer.Typer(help="Database schema (alembic) and backups.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(users_app, name="users")
app.add_typer(ledger_app, name="ledger")
app.add_typer(wallet_app, name="wallet")
app.command("verify-proof")(verify_proof)
app.command("soak")(soak)


def settings_or_exit() -> Settings:
    """Load settings; on a bad configuration print one line per key and exit 2."""
    try:
        return load_settings()
    except ConfigError as exc:
        for line in exc.problems:
            typer.echo(line, err=True)
        raise typer.Exit(2) from None


@app.command()
def api(
    reload: bool = typer.Option(False, help="Restart on code changes (development only)."),
    host: str | None = typer.Option(None, help="Bind address (default server.host)."),
    port: int | None = typer.Option(None, help="Port (default server.port)."),
) -> None:
    """Serve the HTTP API."""
    import uvicorn

    from config.logging_setup import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.logging, service="api")
    uvicorn.run(
        "api.main:build_app",
        factory=True,
        host=host or settings.server.host,
        port=port or settings.server.port,
        reload=reload,
        reload_dirs=[str(Path(__file__).resolve().parent.parent)] if reload else None,
        log_config=None,
        proxy_headers=False,
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker (workflows and activities)."""
    from config.logging_setup import configure_logging
    from workers.main import run_worker

    settings = settings_or_exit()
    configure_logging(settings.logging, service="worker")
    asyncio.run(run_worker(settings))


@app.command()
def dev() -> None:
    """Bring up the whole development stack and stop every part of it on Ctrl-C."""
    from cli.devstack import run_dev_stack

    sys.exit(run_dev_stack(settings_or_exit()))


@app.command()
def demo(api_url: str | None = typer.Option(None, help="Default: http://<server.host>:<server.port>.")) -> None:
    """Run the scripted journey (register, KYC, deposit, withdraw, proof of reserves) against the
    running development stack (`make dev`), through its public protocols; exit 1 on the first
    step that does not verify."""
    import secrets
    import uuid

    from cli.demo import Journey, JourneyConfig, StepFailed
    from cli.devstack import use_dev_database
    from cli.users import create_admin

    use_dev_database()
    settings = settings_or_exit()
    email, password = f"demo-admin-{uuid.uuid4().hex[:8]}@demo.example", secrets.token_urlsafe(24)
    asyncio.run(create_admin(settings, email=email, password=password))
    cfg = JourneyConfig(
        api_url=api_url or f"http://{settings.server.host}:{settings.server.port}",
        esplora_url=settings.bitcoin.esplora_url,
        stellar_rpc_url=settings.soroban.rpc_url,
        admin_email=email,
        admin_password=password,
    )
    try:
        asyncio.run(Journey(cfg, say=typer.echo).run())
    except StepFailed as exc:
        typer.echo(f"FAILED: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo("journey complete: every step verified")


@app.command("proof-key")
def proof_key() -> None:
    """Print the engine's proof-of-reserves public key (Ed25519, hex), for users' ``verify-proof --public-key``."""
    from activities.proof_key import SigningKeyMissing, load_signing_key
    from domain.proof_document import public_key_hex

    try:
        key = load_signing_key(settings_or_exit().reserves)
    except SigningKeyMissing as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    typer.echo(public_key_hex(key))


@app.command("check-config")
def check_config() -> None:
    """Validate the configuration for APP_ENV and print the problems, one line per key."""
    settings = settings_or_exit()
    typer.echo(f"config ok ({settings.app_env})")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("heads")) -> None:
    """Apply migrations up to REVISION (default: all heads)."""
    from db import migrate

    migrate.upgrade(settings_or_exit(), revision)


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument("-1")) -> None:
    """Revert migrations down to REVISION (default one step; ``base`` for all)."""
    from db import migrate

    migrate.downgrade(settings_or_exit(), revision)


@db_app.command("current")
def db_current() -> None:
    """Print the revision the database is at."""
    from db import migrate

    typer.echo(", ".join(sorted(migrate.current(settings_or_exit()))) or "(empty: no migration applied)")


@db_app.command("reset")
def db_reset(yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation.")) -> None:
    """Drop everything and migrate from scratch. Refused in production."""
    from db import migrate

    settings = settings_or_exit()
    if not yes and settings.app_env != "production":
        typer.confirm(f"Drop every table in {settings.database.redacted_url()}?", abort=True)
    try:
        migrate.reset(settings)
    except migrate.ResetRefused as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo("database reset to head")


@db_app.command("backup")
def db_backup(out_dir: Path | None = typer.Option(None, help="Directory (default database.backup_dir).")) -> None:
    """Write a pg_dump custom-format backup and print its path."""
    from db import migrate

    typer.echo(str(migrate.backup(settings_or_exit(), out_dir)))


@db_app.command("revision")
def db_revision(message: str = typer.Option(..., "-m", help="What the migration does.")) -> None:
    """Autogenerate a migration from the models (for developers)."""
    from alembic import command

    from db import migrate

    command.revision(migrate.alembic_config(settings_or_exit()), message=message, autogenerate=True)


if __name__ == "__main__":
    app()
