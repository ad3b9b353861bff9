"""Model of ``integration_router``: the only entry point for money movement.

It calls ``kyc_registry``, ``istsi_token`` and ``reserve_manager`` as itself, so those calls
are authorized by the router being their direct caller. Errors (docs/CONTRACTS.md):
1 Unauthorized (caller holds no role), 2 InsufficientPermissions (caller holds other roles),
11 ContractCallFailed (a callee failed for another reason, e.g. missing allowance),
20 ComplianceCheckFailed, 21 InsufficientKYCTier, 30 InsufficientReserves,
32 BitcoinTransactionFailed (too few confirmations), 41 InvalidOperationState,
42 DuplicateOperation, 50 SystemPaused.

Roles are a set per address (SuperAdmin does not imply Operator: separation of duties).
The deposit depth the router demands is a deploy-time constructor argument (``__constructor``),
so a sandbox can run at the engine's development depth (1) or a production-like one (6).
"""

from __future__ import annotations

import hashlib

from stellar_sdk import scval

from chains.soroban.error_codes import CONTRACT_ERRORS, INTEGRATION_ROUTER
from custody_sandbox.soroban.codec import ADDRESS, BOOL, BYTES32, STRING, U32, U64, Struct
from custody_sandbox.soroban.contracts.base import ContractModel, contractfn
from custody_sandbox.soroban.host_errors import ContractError

SUPER_ADMIN, SYSTEM_ADMIN, COMPLIANCE_OFFICER, OPERATOR = 1, 2, 3, 4
KYC_TRANSFER, KYC_MINT, KYC_BURN, KYC_DEPOSIT, KYC_WITHDRAW = 0, 1, 2, 3, 4
MIN_TIER = {KYC_DEPOSIT: 1, KYC_WITHDRAW: 2}
DEFAULT_MIN_CONFIRMATIONS = 6
WD_PENDING, WD_COMPLETED, WD_CANCELLED = 0, 1, 2

CONFIG = Struct(
    (("istsi_token", ADDRESS), ("kyc_registry", ADDRESS), ("min_confirmations", U32), ("reserve_manager", ADDRESS))
)
WITHDRAWAL = Struct((("amount", U64), ("state", U32), ("user", ADDRESS)))


class RouterContract(ContractModel):
    NAME = INTEGRATION_ROUTER
    ERRORS = CONTRACT_ERRORS[NAME]  # docs/CONTRACTS.md, shared with the client

    @contractfn(U32, name="__constructor")
    def constructor(self, min_confirmations: int) -> None:
        """Deploy-time constructor: the minimum deposit depth in blocks (>= 1)."""
        if min_confirmations < 1:
            self.fail(41)
        self.store(U32, min_confirmations, "MinConfirmations")

    @contractfn(ADDRESS, ADDRESS, ADDRESS, ADDRESS)
    def initialize(self, admin: str, kyc_registry: str, istsi_token: str, reserve_manager: str) -> None:
        if self.load(CONFIG, "Config") is not None:
            self.fail(41)
        self.require_auth(admin)
        config = {
            "kyc_registry": kyc_registry,
            "istsi_token": istsi_token,
            "reserve_manager": reserve_manager,
            "min_confirmations": self.load(U32, "MinConfirmations", default=DEFAULT_MIN_CONFIRMATIONS),
        }
        self.store(CONFIG, config, "Config")
        self.store(BOOL, True, "Role", admin, SUPER_ADMIN)

    @contractfn(ADDRESS, ADDRESS, U32)
    def set_role(self, caller: str, who: str, role: int) -> None:
        self._require_role(caller, {SUPER_ADMIN})
        if role not in (SUPER_ADMIN, SYSTEM_ADMIN, COMPLIANCE_OFFICER, OPERATOR):
            self.fail(41)
        self.store(BOOL, True, "Role", who, role)
        self.emit([scval.to_symbol("role"), scval.to_address(who)], scval.to_uint32(role))

    @contractfn(ADDRESS, ADDRESS, U64, BYTES32, U32, U32, U64, returns=BYTES32)
    def execute_bitcoin_deposit(
        self, caller: str, user: str, btc_amount: int, btc_txid: bytes, vout: int, confirmations: int, block_height: int
    ) -> bytes:
        """Credit a confirmed BTC output: reserve ``register_deposit`` + token ``mint``."""
        config = self._require_operator(caller)
        if confirmations < config["min_confirmations"]:
            self.fail(32)
        if self.load(BOOL, "Deposit", btc_txid, vout, default=False):
            self.fail(42)
        self._kyc_check(config, user, KYC_DEPOSIT, btc_amount)
        args = [scval.to_address(self.address), scval.to_bytes(btc_txid), scval.to_uint32(vout),
                scval.to_uint64(btc_amount), scval.to_address(user), scval.to_uint64(block_height)]
        self._call_mapped(config["reserve_manager"], "register_deposit", args, {7: 42})
        self._call_mapped(config["istsi_token"], "mint", [scval.to_address(user), scval.to_int128(btc_amount)], {})
        self.store(BOOL, True, "Deposit", btc_txid, vout)
        op_id = hashlib.sha256(b"deposit" + btc_txid + vout.to_bytes(4, "big")).digest()
        self.emit(
            [scval.to_symbol("deposit"), scval.to_address(user), scval.to_bytes(btc_txid)],
            scval.to_vec([scval.to_uint64(btc_amount), scval.to_uint32(vout), scval.to_bytes(op_id)]),
        )
        return op_id

    @contractfn(ADDRESS, ADDRESS, U64, STRING, BYTES32, returns=BYTES32)
    def execute_token_withdrawal(self, caller: str, user: str, amount: int, btc_address: str, withdrawal_id: bytes) -> bytes:
        """Burn the user's tokens (router allowance) and open a reserve withdrawal."""
        config = self._require_operator(caller)
        if self.load(WITHDRAWAL, "Withdrawal", withdrawal_id) is not None:
            self.fail(42)
        self._kyc_check(config, user, KYC_WITHDRAW, amount)
        burn_args = [scval.to_address(self.address), scval.to_address(user), scval.to_int128(amount)]
        self._call_mapped(config["istsi_token"], "burn_from", burn_args, {})
        wd_args = [scval.to_address(self.address), scval.to_bytes(withdrawal_id), scval.to_address(user),
                   scval.to_uint64(amount), scval.to_string(btc_address)]
        self._call_mapped(config["reserve_manager"], "create_withdrawal", wd_args, {4: 30, 7: 42})
        self.store(WITHDRAWAL, {"user": user, "amount": amount, "state": WD_PENDING}, "Withdrawal", withdrawal_id)
        self.emit(
            [scval.to_symbol("withdraw"), scval.to_address(user), scval.to_bytes(withdrawal_id)],
            scval.to_vec([scval.to_uint64(amount), scval.to_string(btc_address)]),
        )
        return hashlib.sha256(b"withdraw" + withdrawal_id).digest()

    @contractfn(ADDRESS, BYTES32, BYTES32)
    def complete_withdrawal(self, caller: str, withdrawal_id: bytes, btc_txid: bytes) -> None:
        config = self._require_role(caller, {OPERATOR})
        record = self._pending(withdrawal_id)
        args = [scval.to_address(self.address), scval.to_bytes(withdrawal_id), scval.to_bytes(btc_txid)]
        self._call_mapped(config["reserve_manager"], "complete_withdrawal", args, {})
        record["state"] = WD_COMPLETED
        self.store(WITHDRAWAL, record, "Withdrawal", withdrawal_id)
        self.emit([scval.to_symbol("wd_done"), scval.to_bytes(withdrawal_id)], scval.to_bytes(btc_txid))

    @contractfn(ADDRESS, BYTES32)
    def cancel_withdrawal(self, caller: str, withdrawal_id: bytes) -> None:
        """Re-mint the burned amount to the user; only before completion (else 41)."""
        config = self._require_role(caller, {OPERATOR})
        record = self._pending(withdrawal_id)
        mint_args = [scval.to_address(record["user"]), scval.to_int128(record["amount"])]
        self._call_mapped(config["istsi_token"], "mint", mint_args, {})
        args = [scval.to_address(self.address), scval.to_bytes(withdrawal_id)]
        self._call_mapped(config["reserve_manager"], "cancel_withdrawal", args, {})
        record["state"] = WD_CANCELLED
        self.store(WITHDRAWAL, record, "Withdrawal", withdrawal_id)
        self.emit([scval.to_symbol("wd_cancel"), scval.to_bytes(withdrawal_id)], scval.to_uint64(record["amount"]))

    @contractfn(ADDRESS, STRING)
    def emergency_pause(self, caller: str, reason: str) -> None:
        self._require_role(caller, {SUPER_ADMIN, SYSTEM_ADMIN, COMPLIANCE_OFFICER})
        self.store(BOOL, True, "Paused")
        self.emit([scval.to_symbol("pause"), scval.to_address(caller)], scval.to_string(reason))

    @contractfn(ADDRESS)
    def resume_operations(self, caller: str) -> None:
        self._require_role(caller, {SUPER_ADMIN})
        self.store(BOOL, False, "Paused")
        self.emit([scval.to_symbol("resume"), scval.to_address(caller)], scval.to_void())

    @contractfn(returns=BOOL)
    def is_paused(self) -> bool:
        return self.load(BOOL, "Paused", default=False)

    @contractfn(returns=U32)
    def get_min_confirmations(self) -> int:
        return self._config()["min_confirmations"]

    # ---- internals --------------------------------------------------------------------
    def _config(self) -> dict:
        config = self.load(CONFIG, "Config")
        if config is None:
            self.fail(41)
        return config

    def _require_role(self, caller: str, allowed: set[int]) -> dict:
        self.require_auth(caller)
        config = self._config()
        held = {r for r in (SUPER_ADMIN, SYSTEM_ADMIN, COMPLIANCE_OFFICER, OPERATOR)
                if self.load(BOOL, "Role", caller, r, default=False)}
        if not held:
            self.fail(1)
        if not held & allowed:
            self.fail(2)
        return config

    def _require_operator(self, caller: str) -> dict:
        config = self._require_role(caller, {OPERATOR})
        if self.is_paused():
            self.fail(50)
        return config

    def _pending(self, withdrawal_id: bytes) -> dict:
        record = self.load(WITHDRAWAL, "Withdrawal", withdrawal_id)
        if record is None or record["state"] != WD_PENDING:
            self.fail(41)
        return record

    def _kyc_check(self, config: dict, user: str, op: int, amount: int) -> None:
        kyc = config["kyc_registry"]
        tier = scval.from_uint32(self._call_mapped(kyc, "get_tier", [scval.to_address(user)], {}))
        if tier < MIN_TIER[op]:
            self.fail(21)
        args = [scval.to_address(user), scval.to_uint32(op), scval.to_int128(amount)]
        if not self._call_mapped(kyc, "is_approved", args, {}).b:
            self.fail(20)

    def _call_mapped(self, contract: str, fn: str, args: list, mapping: dict[int, int]):
        """Call a sibling contract; map its contract error codes to ours (default 11)."""
        try:
            return self.call(contract, fn, args)
        except ContractError as err:
            self.fail(mapping.get(err.code, 11))
