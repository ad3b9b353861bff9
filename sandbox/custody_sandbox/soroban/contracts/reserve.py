"""Model of ``reserve_manager``: BTC reserves, pending withdrawals and reserve proofs.

Amounts are u64 satoshis; ``supply`` is i128 token base units; ratios are basis points.
Errors (docs/CONTRACTS.md): 1 Unauthorized, 2 NotFound, 3 InvalidInput, 4 InsufficientReserves,
7 AlreadyProcessed (also a second ``initialize``).
"""

from __future__ import annotations

from stellar_sdk import scval

from chains.soroban.error_codes import CONTRACT_ERRORS, RESERVE_MANAGER
from custody_sandbox.soroban.codec import ADDRESS, BOOL, BYTES32, I128, STRING, U32, U64, Struct
from custody_sandbox.soroban.contracts.base import ContractModel, contractfn

WD_PENDING, WD_COMPLETED, WD_CANCELLED = 0, 1, 2
WITHDRAWAL = Struct((("amount", U64), ("btc_address", STRING), ("state", U32), ("user", ADDRESS)))
PROOF = Struct(
    (
        ("btc_height", U64),
        ("ledger", U32),
        ("liabilities_root", BYTES32),
        ("proof_hash", BYTES32),
        ("ratio_bps", U32),
        ("reserves", U64),
        ("supply", I128),
    ),
    name="Proof",
)
U32_MAX = 2**32 - 1


def ratio_bps(reserves_sats: int, supply_units: int) -> int:
    """Floor of reserves / supply in basis points, capped at u32::MAX (also for supply 0)."""
    if supply_units == 0:
        return U32_MAX
    return min(reserves_sats * 10_000 // supply_units, U32_MAX)


class ReserveContract(ContractModel):
    NAME = RESERVE_MANAGER
    ERRORS = CONTRACT_ERRORS[NAME]  # docs/CONTRACTS.md, shared with the client

    @contractfn(ADDRESS, ADDRESS)
    def initialize(self, admin: str, router: str) -> None:
        if self.load(ADDRESS, "Admin") is not None:
            self.fail(7)
        self.require_auth(admin)
        self.store(ADDRESS, admin, "Admin")
        self.store(ADDRESS, router, "Router")

    @contractfn(ADDRESS, BYTES32, U32, U64, ADDRESS, U64)
    def register_deposit(self, caller: str, btc_txid: bytes, vout: int, amount: int, user: str, block_height: int) -> None:
        self._require_router(caller)
        if amount == 0:
            self.fail(3)
        if self.load(BOOL, "Deposit", btc_txid, vout, default=False):
            self.fail(7)
        self.store(BOOL, True, "Deposit", btc_txid, vout)
        self.store(U64, self.get_total_reserves() + amount, "Reserves")
        self.emit(
            [scval.to_symbol("btc_dep"), scval.to_bytes(btc_txid)],
            scval.to_vec([scval.to_address(user), scval.to_uint64(amount), scval.to_uint32(vout), scval.to_uint64(block_height)]),
        )

    @contractfn(ADDRESS, BYTES32, ADDRESS, U64, STRING)
    def create_withdrawal(self, caller: str, withdrawal_id: bytes, user: str, amount: int, btc_address: str) -> None:
        self._require_router(caller)
        if amount == 0 or not btc_address:
            self.fail(3)
        if self.load(WITHDRAWAL, "Withdrawal", withdrawal_id) is not None:
            self.fail(7)
        pending = self.get_pending_withdrawals()
        if amount > self.get_total_reserves() - pending:
            self.fail(4)
        record = {"user": user, "amount": amount, "btc_address": btc_address, "state": WD_PENDING}
        self.store(WITHDRAWAL, record, "Withdrawal", withdrawal_id)
        self.store(U64, pending + amount, "Pending")
        self.emit(
            [scval.to_symbol("wd_req"), scval.to_bytes(withdrawal_id)],
            scval.to_vec([scval.to_address(user), scval.to_uint64(amount), scval.to_string(btc_address)]),
        )

    @contractfn(ADDRESS, BYTES32, BYTES32)
    def complete_withdrawal(self, caller: str, withdrawal_id: bytes, btc_txid: bytes) -> None:
        record = self._pending_withdrawal(caller, withdrawal_id)
        self.store(U64, self.get_pending_withdrawals() - record["amount"], "Pending")
        self.store(U64, self.get_total_reserves() - record["amount"], "Reserves")
        record["state"] = WD_COMPLETED
        self.store(WITHDRAWAL, record, "Withdrawal", withdrawal_id)

    @contractfn(ADDRESS, BYTES32)
    def cancel_withdrawal(self, caller: str, withdrawal_id: bytes) -> None:
        record = self._pending_withdrawal(caller, withdrawal_id)
        self.store(U64, self.get_pending_withdrawals() - record["amount"], "Pending")
        record["state"] = WD_CANCELLED
        self.store(WITHDRAWAL, record, "Withdrawal", withdrawal_id)

    @contractfn(ADDRESS, BYTES32, BYTES32, U64, I128, U64, U32)
    def publish_proof(
        self, caller: str, proof_hash: bytes, liabilities_root: bytes, reserves: int, supply: int, btc_height: int, ledger: int
    ) -> None:
        self.require_auth(caller)
        if caller not in (self.load(ADDRESS, "Admin"), self.load(ADDRESS, "Router")):
            self.fail(1)
        if supply < 0:
            self.fail(3)
        ratio = ratio_bps(reserves, supply)
        proof = {
            "proof_hash": proof_hash,
            "liabilities_root": liabilities_root,
            "reserves": reserves,
            "supply": supply,
            "btc_height": btc_height,
            "ledger": ledger,
            "ratio_bps": ratio,
        }
        self.store(PROOF, proof, "Proof")
        self.emit(
            [scval.to_symbol("proof"), scval.to_bytes(proof_hash)],
            scval.to_vec([scval.to_uint64(reserves), scval.to_int128(supply), scval.to_uint32(ratio)]),
        )

    @contractfn(returns=U64)
    def get_total_reserves(self) -> int:
        return self.load(U64, "Reserves", default=0)

    @contractfn(returns=U64)
    def get_pending_withdrawals(self) -> int:
        return self.load(U64, "Pending", default=0)

    @contractfn(returns=U32)
    def get_reserve_ratio(self) -> int:
        """Ratio of the latest published proof, in basis points (2 NotFound before any proof)."""
        return self.get_latest_proof()["ratio_bps"]

    @contractfn(returns=PROOF)
    def get_latest_proof(self) -> dict:
        proof = self.load(PROOF, "Proof")
        if proof is None:
            self.fail(2)
        return proof

    # ---- internals --------------------------------------------------------------------
    def _require_router(self, caller: str) -> None:
        self.require_auth(caller)
        if caller != self.load(ADDRESS, "Router"):
            self.fail(1)

    def _pending_withdrawal(self, caller: str, withdrawal_id: bytes) -> dict:
        self._require_router(caller)
        record = self.load(WITHDRAWAL, "Withdrawal", withdrawal_id)
        if record is None:
            self.fail(2)
        if record["state"] != WD_PENDING:
            self.fail(7)
        return record


