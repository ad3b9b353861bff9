"""Typed wrapper of ``kyc_registry`` (docs/CONTRACTS.md). ``expires_at`` is unix seconds."""

from __future__ import annotations

from enum import IntEnum

from stellar_sdk import scval

from chains.soroban.client import StoreCallback
from chains.soroban.contracts.base import ContractWrapper
from chains.soroban.outcomes import InvokeResult


class KycOp(IntEnum):
    TRANSFER = 0
    MINT = 1
    BURN = 2
    DEPOSIT = 3
    WITHDRAW = 4


class KycRegistry(ContractWrapper):
    """``caller`` defaults to the operator (admin or compliance officer)."""

    async def initialize(self, admin: str) -> InvokeResult:
        return await self._invoke("initialize", scval.to_address(admin))

    async def register_customer(
        self,
        customer: str,
        tier: int,
        jurisdiction: str,
        expires_at: int,
        *,
        caller: str | None = None,
        store: StoreCallback | None = None,
    ) -> InvokeResult:
        """Register or re-register ``customer`` at ``tier`` until ``expires_at`` (unix seconds)."""
        return await self._invoke_as(
            caller,
            "register_customer",
            scval.to_address(customer),
            scval.to_uint32(tier),
            scval.to_string(jurisdiction),
            scval.to_uint64(expires_at),
            store=store,
        )

    async def update_customer_tier(
        self, customer: str, tier: int, *, caller: str | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke_as(
            caller, "update_customer_tier", scval.to_address(customer), scval.to_uint32(tier), store=store
        )

    async def set_sanctions_status(
        self, customer: str, cleared: bool, *, caller: str | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke_as(
            caller, "set_sanctions_status", scval.to_address(customer), scval.to_bool(cleared), store=store
        )

    async def revoke_customer(
        self, customer: str, *, caller: str | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke_as(caller, "revoke_customer", scval.to_address(customer), store=store)

    async def add_compliance_officer(self, officer: str, *, caller: str | None = None) -> InvokeResult:
        return await self._invoke_as(caller, "add_compliance_officer", scval.to_address(officer))

    async def get_tier(self, customer: str) -> int:
        return await self._read("get_tier", scval.to_address(customer))

    async def is_approved(self, customer: str, op: KycOp | int, amount: int) -> bool:
        return await self._read("is_approved", scval.to_address(customer), scval.to_uint32(int(op)), scval.to_int128(amount))
