"""Live reads of the iSTSi token contract for a user (``balance``, the router's ``allowance``).

One code path: the chains wrapper :class:`chains.soroban.IstsiToken` over a read-only
:class:`chains.soroban.SorobanClient` whose "operator" is the user's own public key. A read is a
simulation, which needs a source account but no signature, so the API holds no Stellar key.
"""

from __future__ import annotations

from stellar_sdk import Keypair

from chains.soroban import IstsiToken, SorobanClient, SorobanError
from chains.soroban.errors import SourceAccountMissing
from chains.soroban.setup import contract_addresses
from db.models import User
from domain.errors import Conflict, Refused, Unavailable
from services.state import AppState


def _token(state: AppState, stellar_address: str) -> IstsiToken:
    """The token contract read with ``stellar_address`` as the (never signing) source."""
    s = state.settings.soroban
    reader = SorobanClient(
        rpc_url=s.rpc_url, network_passphrase=s.passphrase(), operator=Keypair.from_public_key(stellar_address),
        contracts=contract_addresses(s), base_fee=s.base_fee_stroops, server=state.stellar_rpc,
    )
    return IstsiToken(reader, s.contracts.istsi_token)


async def chain_balance_of(state: AppState, user: User) -> tuple[str, int]:
    """The user's Stellar address and its iSTSi balance read live (base units).

    Raises:
        Refused: ``stellar_address_missing`` (no Stellar address on the profile).
        The errors of :func:`chain_balance`.
    """
    if not user.stellar_address:
        raise Refused("set a Stellar address on your profile first", code="stellar_address_missing")
    return user.stellar_address, await chain_balance(state, user.stellar_address)


async def chain_balance(state: AppState, stellar_address: str) -> int:
    """``istsi_token.balance(stellar_address)`` in base units (= sats), read live.

    Raises:
        Conflict: ``stellar_account_not_found`` (the account was never funded; the message says how).
        Unavailable: ``chain_unavailable`` (the RPC or the contract call failed).
    """
    try:
        return await _token(state, stellar_address).balance(stellar_address)
    except SourceAccountMissing as exc:
        raise Conflict(
            f"your Stellar account {stellar_address} does not exist on the network yet: fund it with at least "
            f"1 XLM ({_funding_hint(state, stellar_address)}), then ask again; the live read uses it as the source "
            "of a simulated call (source=projection needs no account)",
            code="stellar_account_not_found",
        ) from exc
    except SorobanError as exc:
        raise Unavailable("the Stellar RPC could not read the token contract; ask again in a minute, "
                          "or use source=projection", code="chain_unavailable") from exc


async def router_allowance(state: AppState, owner: str) -> int:
    """``istsi_token.allowance(owner, integration_router)`` in base units (0 when none or expired,
    and for an account that does not exist yet: it cannot have approved anything).

    Source: SEP-41 ``allowance(from, spender) -> i128``.

    Raises:
        Unavailable: ``soroban_unavailable`` (the RPC or the contract call failed).
    """
    try:
        return await _token(state, owner).allowance(owner, state.settings.soroban.contracts.integration_router)
    except SourceAccountMissing:
        return 0
    except SorobanError as exc:
        raise Unavailable("cannot read the token allowance; try again", code="soroban_unavailable") from exc


def _funding_hint(state: AppState, address: str) -> str:
    """Where to fund ``address`` on the configured network (friendbot on test networks)."""
    network = state.settings.soroban.network
    if network == "standalone":
        return f"sandbox friendbot: GET {state.settings.soroban.rpc_url.rstrip('/')}/friendbot?addr={address}"
    if network in ("testnet", "futurenet"):
        return f"{network} friendbot: GET https://friendbot{'-futurenet' if network == 'futurenet' else ''}.stellar.org/?addr={address}"
    return "send XLM to it from an exchange or another account"
