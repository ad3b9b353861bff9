"""Typed wrapper of ``reserve_manager`` (docs/CONTRACTS.md). Reserves are u64 satoshis."""

from __future__ import annotations

from dataclasses import dataclass

from stellar_sdk import scval

from chains.soroban.client import StoreCallback
from chains.soroban.contracts.base import ContractWrapper
from chains.soroban.outcomes import InvokeResult


@dataclass(frozen=True)
class ReserveProof:
    proof_hash: bytes
    liabilities_root: bytes
    reserves_sats: int
    supply_units: int
    btc_height: int
    ledger: int
    ratio_bps: int


class ReserveManager(ContractWrapper):
    """Most mutating functions accept only the router as caller; they are exposed for
    completeness and for admin tooling (``caller`` defaults to the operator)."""

    async def initialize(self, admin: str, router: str) -> InvokeResult:
        return await self._invoke("initialize", scval.to_address(admin), scval.to_address(router))

    async def register_deposit(
        self, btc_txid: bytes, vout: int, amount_sats: int, user: str, block_height: int, *, caller: str | None = None
    ) -> InvokeResult:
        return await self._invoke_as(
            caller,
            "register_deposit",
            scval.to_bytes(btc_txid),
            scval.to_uint32(vout),
            scval.to_uint64(amount_sats),
            scval.to_address(user),
            scval.to_uint64(block_height),
        )

    async def create_withdrawal(
        self, withdrawal_id: bytes, user: str, amount_sats: int, btc_address: str, *, caller: str | None = None
    ) -> InvokeResult:
        return await self._invoke_as(
            caller,
            "create_withdrawal",
            scval.to_bytes(withdrawal_id),
            scval.to_address(user),
            scval.to_uint64(amount_sats),
            scval.to_string(btc_address),
        )

    async def complete_withdrawal(self, withdrawal_id: bytes, btc_txid: bytes, *, caller: str | None = None) -> InvokeResult:
        return await self._invoke_as(
            caller, "complete_withdrawal", scval.to_bytes(withdrawal_id), scval.to_bytes(btc_txid)
        )

    async def cancel_withdrawal(self, withdrawal_id: bytes, *, caller: str | None = None) -> InvokeResult:
        return await self._invoke_as(caller, "cancel_withdrawal", scval.to_bytes(withdrawal_id))

    async def publish_proof(
        self,
        proof_hash: bytes,
        liabilities_root: bytes,
        reserves_sats: int,
        supply_units: int,
        btc_height: int,
        ledger: int,
        *,
        caller: str | None = None,
        store: StoreCallback | None = None,
    ) -> InvokeResult:
        """Publish a proof of reserves; ``.value`` is None, the event carries ``ratio_bps``."""
        return await self._invoke_as(
            caller,
            "publish_proof",
            scval.to_bytes(proof_hash),
            scval.to_bytes(liabilities_root),
            scval.to_uint64(reserves_sats),
            scval.to_int128(supply_units),
            scval.to_uint64(btc_height),
            scval.to_uint32(ledger),
            store=store,
        )

    async def get_total_reserves(self) -> int:
        return await self._read("get_total_reserves")

    async def get_pending_withdrawals(self) -> int:
        return await self._read("get_pending_withdrawals")

    async def get_reserve_ratio(self) -> int:
        return await self._read("get_reserve_ratio")

    async def get_latest_proof(self) -> ReserveProof:
        raw = await self._read("get_latest_proof")
        return ReserveProof(
            proof_hash=raw["proof_hash"],
            liabilities_root=raw["liabilities_root"],
            reserves_sats=raw["reserves"],
            supply_units=raw["supply"],
            btc_height=raw["btc_height"],
            ledger=raw["ledger"],
            ratio_bps=raw["ratio_bps"],
        )
