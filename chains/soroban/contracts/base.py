"""Shared plumbing of the typed contract wrappers."""

from __future__ import annotations

from typing import Any

from stellar_sdk import Keypair, scval, xdr

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
        signer: Keypair | None = None,
    ) -> InvokeResult:
        """Invoke ``function``; ``signer``, when given, signs the call's address-credential auth
        entry (the operator stays the transaction source)."""
        auth_signers = (signer,) if signer is not None else ()
        return await self.client.invoke(self.address, function, list(args), store=store, auth_signers=auth_signers)

    async def _invoke_as(
        self, caller: str | None, function: str, *args: xdr.SCVal, store: StoreCallback | None = None
    ) -> InvokeResult:
        """Invoke a role-checked ``function``: its first argument is the calling account,
        ``caller`` or by default the operator, and ``args`` follow it."""
        return await self._invoke(function, scval.to_address(self._caller(caller)), *args, store=store)

    async def _read(self, function: str, *args: xdr.SCVal) -> Any:
        return to_python(await self.client.read(self.address, function, list(args)))
