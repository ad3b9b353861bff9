"""Typed wrapper of ``istsi_token`` (SEP-41). Amounts are i128 base units (1 unit = 1 sat).

Calls authorized by an account other than the operator (``approve``, ``transfer`` …) take
that account's keypair as ``signer``: the operator stays the transaction source and the
signer signs the address-credential auth entry.
"""

from __future__ import annotations

from stellar_sdk import Keypair, scval

from chains.soroban.contracts.base import ContractWrapper
from chains.soroban.outcomes import InvokeResult


class IstsiToken(ContractWrapper):
    async def name(self) -> str:
        return await self._read("name")

    async def symbol(self) -> str:
        return await self._read("symbol")

    async def decimals(self) -> int:
        return await self._read("decimals")

    async def total_supply(self) -> int:
        return await self._read("total_supply")

    async def balance(self, owner: str) -> int:
        return await self._read("balance", scval.to_address(owner))

    async def allowance(self, owner: str, spender: str) -> int:
        return await self._read("allowance", scval.to_address(owner), scval.to_address(spender))

    async def approve(
        self, owner: str, spender: str, amount: int, expiration_ledger: int, *, signer: Keypair | None = None
    ) -> InvokeResult:
        args = (scval.to_address(owner), scval.to_address(spender), scval.to_int128(amount), scval.to_uint32(expiration_ledger))
        return await self._invoke("approve", *args, signer=signer)

    async def transfer(self, source: str, to: str, amount: int, *, signer: Keypair | None = None) -> InvokeResult:
        args = (scval.to_address(source), scval.to_address(to), scval.to_int128(amount))
        return await self._invoke("transfer", *args, signer=signer)

    async def transfer_from(
        self, spender: str, source: str, to: str, amount: int, *, signer: Keypair | None = None
    ) -> InvokeResult:
        args = (scval.to_address(spender), scval.to_address(source), scval.to_address(to), scval.to_int128(amount))
        return await self._invoke("transfer_from", *args, signer=signer)

    async def burn(self, source: str, amount: int, *, signer: Keypair | None = None) -> InvokeResult:
        return await self._invoke("burn", scval.to_address(source), scval.to_int128(amount), signer=signer)

    async def burn_from(self, spender: str, source: str, amount: int, *, signer: Keypair | None = None) -> InvokeResult:
        args = (scval.to_address(spender), scval.to_address(source), scval.to_int128(amount))
        return await self._invoke("burn_from", *args, signer=signer)

    async def mint(self, to: str, amount: int, *, signer: Keypair | None = None) -> InvokeResult:
        """Only the minter may mint (normally the router, so direct calls fail auth)."""
        return await self._invoke("mint", scval.to_address(to), scval.to_int128(amount), signer=signer)

    async def set_minter(self, minter: str, *, admin: str | None = None) -> InvokeResult:
        return await self._invoke_as(admin, "set_minter", scval.to_address(minter))
