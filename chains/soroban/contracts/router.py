"""Typed wrapper of ``integration_router`` (docs/CONTRACTS.md). Amounts are satoshis (u64)."""

from __future__ import annotations

from enum import IntEnum

from stellar_sdk import Keypair, scval, xdr

from chains.soroban.client import StoreCallback
from chains.soroban.contracts.base import ContractWrapper
from chains.soroban.outcomes import InvokeResult


class Role(IntEnum):
    SUPER_ADMIN = 1
    SYSTEM_ADMIN = 2
    COMPLIANCE_OFFICER = 3
    OPERATOR = 4


class IntegrationRouter(ContractWrapper):
    """``caller`` defaults to the operator; mutating calls return the :class:`InvokeResult`."""

    async def initialize(self, admin: str, kyc_registry: str, istsi_token: str, reserve_manager: str) -> InvokeResult:
        a = scval.to_address
        return await self._invoke("initialize", a(admin), a(kyc_registry), a(istsi_token), a(reserve_manager))

    async def set_role(self, who: str, role: Role | int, *, signer: Keypair | None = None) -> InvokeResult:
        """Grant ``role``; the caller is ``signer`` (if given, it signs the auth entry) or the operator."""
        return await self._invoke(
            "set_role", self._as(signer), scval.to_address(who), scval.to_uint32(int(role)), signer=signer
        )

    async def execute_bitcoin_deposit(
        self,
        user: str,
        btc_amount_sats: int,
        btc_txid: bytes,
        vout: int,
        confirmations: int,
        block_height: int,
        *,
        caller: str | None = None,
        store: StoreCallback | None = None,
    ) -> InvokeResult:
        """Mint ``btc_amount_sats`` to ``user`` for outpoint ``btc_txid:vout``; ``.value`` is the op id (32 bytes).

        ``btc_txid`` is the 32-byte txid in the byte order the caller uses consistently.
        """
        return await self._invoke_as(
            caller,
            "execute_bitcoin_deposit",
            scval.to_address(user),
            scval.to_uint64(btc_amount_sats),
            scval.to_bytes(btc_txid),
            scval.to_uint32(vout),
            scval.to_uint32(confirmations),
            scval.to_uint64(block_height),
            store=store,
        )

    async def execute_token_withdrawal(
        self,
        user: str,
        amount_sats: int,
        btc_address: str,
        withdrawal_id: bytes,
        *,
        caller: str | None = None,
        store: StoreCallback | None = None,
    ) -> InvokeResult:
        """Burn ``amount_sats`` from ``user`` (router allowance) and open the withdrawal."""
        return await self._invoke_as(
            caller,
            "execute_token_withdrawal",
            scval.to_address(user),
            scval.to_uint64(amount_sats),
            scval.to_string(btc_address),
            scval.to_bytes(withdrawal_id),
            store=store,
        )

    async def complete_withdrawal(
        self, withdrawal_id: bytes, btc_txid: bytes, *, caller: str | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke_as(
            caller, "complete_withdrawal", scval.to_bytes(withdrawal_id), scval.to_bytes(btc_txid), store=store
        )

    async def cancel_withdrawal(
        self, withdrawal_id: bytes, *, caller: str | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke_as(caller, "cancel_withdrawal", scval.to_bytes(withdrawal_id), store=store)

    async def emergency_pause(
        self, reason: str, *, signer: Keypair | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke(
            "emergency_pause", self._as(signer), scval.to_string(reason), signer=signer, store=store
        )

    async def resume_operations(
        self, *, signer: Keypair | None = None, store: StoreCallback | None = None
    ) -> InvokeResult:
        return await self._invoke("resume_operations", self._as(signer), signer=signer, store=store)

    def _as(self, signer: Keypair | None) -> xdr.SCVal:
        """The calling account of a call ``signer`` authorizes: its address, or the operator's."""
        return scval.to_address(self._caller(signer.public_key if signer else None))

    async def is_paused(self) -> bool:
        return await self._read("is_paused")

    async def get_min_confirmations(self) -> int:
        return await self._read("get_min_confirmations")

