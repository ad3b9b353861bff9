"""``custody wallet``: the user-side Stellar steps the README's examples need, as commands.

* ``new-key``: make a Stellar keypair, keep the secret in a file (mode 0600) and print the
  public key; ``--fund`` asks the network's friendbot to create the account (sandbox, testnet).
* ``approve-router``: the SEP-41 ``approve`` a withdrawal needs: the user lets
  ``integration_router`` burn up to ``--amount`` of their iSTSi. Signed with the user's own key
  (read from ``--secret-file`` or ``CUSTODY_STELLAR_SECRET``, never from an argument).

Both talk only to public protocols: the API's ``GET /api/system/info`` (network, contracts) and
the Stellar RPC.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import typer

app = typer.Typer(help="User-side Stellar steps: a key for your account, the SEP-41 approve.", no_args_is_help=True)
SECRET_ENV = "CUSTODY_STELLAR_SECRET"
API_OPTION = typer.Option(None, "--api-url", help="The engine's API, for network and contracts (default: server.host/port).")
RPC_OPTION = typer.Option(None, "--rpc-url", help="Stellar RPC of the same network (default: soroban.rpc_url).")


def _urls(api_url: str | None, rpc_url: str | None) -> tuple[str, str]:
    """The given URLs, else the ones the configuration (``APP_ENV``) names."""
    if api_url and rpc_url:
        return api_url, rpc_url
    from cli.main import settings_or_exit

    settings = settings_or_exit()
    return (api_url or f"http://{settings.server.host}:{settings.server.port}", rpc_url or settings.soroban.rpc_url)


def _friendbot_url(rpc_url: str, network: str) -> str | None:
    if network == "standalone":
        return f"{rpc_url.rstrip('/')}/friendbot"
    return {"testnet": "https://friendbot.stellar.org", "futurenet": "https://friendbot-futurenet.stellar.org"}.get(network)


@app.command("new-key")
def new_key(
    secret_file: Path = typer.Option(..., help="Where to write the secret seed (created with mode 0600)."),
    fund: bool = typer.Option(False, help="Create the account with the network's friendbot (sandbox, testnet)."),
    api_url: str | None = API_OPTION,
    rpc_url: str | None = RPC_OPTION,
) -> None:
    """Make a Stellar keypair; print the public key (G…) to put on your profile."""
    from stellar_sdk import Keypair

    if secret_file.exists():
        typer.echo(f"{secret_file} exists; refusing to overwrite a key", err=True)
        raise typer.Exit(1)
    keypair = Keypair.random()
    secret_file.touch(mode=0o600)
    secret_file.write_text(keypair.secret + "\n")
    if fund:
        api_url, rpc_url = _urls(api_url, rpc_url)
        network = httpx.get(f"{api_url}/api/system/info", timeout=10).raise_for_status().json()["stellar_network"]
        friendbot = _friendbot_url(rpc_url, network)
        if friendbot is None:
            typer.echo(f"no friendbot on {network}: send at least 1 XLM to {keypair.public_key}", err=True)
            raise typer.Exit(1)
        httpx.get(friendbot, params={"addr": keypair.public_key}, timeout=30).raise_for_status()
    typer.echo(keypair.public_key)


def _secret(secret_file: Path | None) -> str:
    if secret_file is not None:
        return secret_file.read_text().strip()
    return os.environ.get(SECRET_ENV) or typer.prompt("Stellar secret seed (S…)", hide_input=True)


async def approve_router(*, secret: str, amount: int, api_url: str, rpc_url: str, ledgers: int) -> int:
    """Sign ``istsi_token.approve(owner, integration_router, amount, latest + ledgers)``; return the allowance."""
    from stellar_sdk import Keypair

    from chains.soroban import Contracts, SorobanClient
    from chains.soroban.addresses import ContractAddresses

    async with httpx.AsyncClient(timeout=10) as http:
        info = (await http.get(f"{api_url}/api/system/info")).raise_for_status().json()
    key = Keypair.from_secret(secret)
    client = SorobanClient(
        rpc_url=rpc_url, network_passphrase=info["stellar_network_passphrase"], operator=key,
        contracts=ContractAddresses(**info["contracts"]), max_wait_seconds=60,
    )
    try:
        chain = Contracts.for_client(client)
        latest = await client.server.get_latest_ledger()
        await chain.token.approve(key.public_key, chain.router.address, amount, latest.sequence + ledgers, signer=key)
        return await chain.token.allowance(key.public_key, chain.router.address)
    finally:
        await client.close()


@app.command("approve-router")
def approve_router_command(
    amount: int = typer.Option(..., min=1, help="iSTSi base units (= satoshis) the router may burn."),
    secret_file: Path | None = typer.Option(None, help=f"File holding your secret seed (else ${SECRET_ENV} or a prompt)."),
    ledgers: int = typer.Option(100_000, min=1, help="How long the allowance lasts, in ledgers (~5 s each)."),
    api_url: str | None = API_OPTION,
    rpc_url: str | None = RPC_OPTION,
) -> None:
    """SEP-41 approve: let integration_router burn up to AMOUNT of your iSTSi (a withdrawal needs it)."""
    api_url, rpc_url = _urls(api_url, rpc_url)
    allowance = asyncio.run(approve_router(
        secret=_secret(secret_file), amount=amount, api_url=api_url, rpc_url=rpc_url, ledgers=ledgers
    ))
    typer.echo(f"allowance for integration_router: {allowance}")
