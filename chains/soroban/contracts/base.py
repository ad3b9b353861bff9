"""Shared plumbing of the typed contract wrappers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stellar_sdk import Keypair, xdr

from chains.soroban.client import SorobanClient, StoreCallback
from chains.soroban.outcomes import InvokeResult
from chains.soroban.scvals import to_python


class ContractWrapper:
    """One contract at ``address`` reached through ``client``."""

    def __init__(self, client: SorobanClient, address: str) -> None:
        self.client = client
        self.address = address

    def _caller(self, caller: str | None) -> str:
        return caller or self.client.operator_address

    async def _invoke(
        self,
        function: str,
        *args: xdr.SCVal,
        store: StoreCallback | None = None,
        auth_signers: Sequence[Keypair] = (),
    ) -> InvokeResult:
        return await self.client.invoke(self.address, function, list(args), store=store, auth_signers=auth_signers)

    async def _read(self, function: str, *args: xdr.SCVal) -> Any:
        return to_python(await self.client.read(self.address, function, list(args)))
