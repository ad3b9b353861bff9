"""Model of ``kyc_registry``: customer tiers, sanctions status and approval checks.

Tiers: 0 None, 1 Basic, 2 Verified, 3 Enhanced, 4 Institutional. ``expires_at`` is unix
seconds, compared with the ledger close time. Errors (docs/CONTRACTS.md): 1 Unauthorized,
2 NotFound, 4 InvalidInput. ``is_approved`` never errors: it fails closed (False).
A newly registered customer starts sanctions-cleared (screening precedes registration).
"""

from __future__ import annotations

from stellar_sdk import scval

from chains.soroban.error_codes import CONTRACT_ERRORS, KYC_REGISTRY
from custody_sandbox.soroban.codec import ADDRESS, BOOL, I128, STRING, U32, U64, Struct
from custody_sandbox.soroban.contracts.base import ContractModel, contractfn

CUSTOMER = Struct(
    (
        ("expires_at", U64),
        ("jurisdiction", STRING),
        ("revoked", BOOL),
        ("sanctions_cleared", BOOL),
        ("tier", U32),
    )
)
# Single-transaction limit per tier, in satoshis (= token base units).
TIER_LIMIT_SATS = {1: 10_000_000, 2: 100_000_000, 3: 1_000_000_000, 4: 100_000_000_000}
# Minimum tier per operation: 0 Transfer, 1 Mint, 2 Burn, 3 Deposit, 4 Withdraw.
OP_MIN_TIER = {0: 1, 1: 2, 2: 2, 3: 1, 4: 2}


class KycContract(ContractModel):
    NAME = KYC_REGISTRY
    ERRORS = CONTRACT_ERRORS[NAME]  # docs/CONTRACTS.md, shared with the client

    @contractfn(ADDRESS)
    def initialize(self, admin: str) -> None:
        if self.load(ADDRESS, "Admin") is not None:
            self.fail(1)
        self.require_auth(admin)
        self.store(ADDRESS, admin, "Admin")

    @contractfn(ADDRESS, ADDRESS, U32, STRING, U64)
    def register_customer(self, caller: str, customer: str, tier: int, jurisdiction: str, expires_at: int) -> None:
        self._require_officer(caller)
        if tier not in TIER_LIMIT_SATS or not jurisdiction or expires_at <= self.now:
            self.fail(4)
        record = {
            "tier": tier,
            "jurisdiction": jurisdiction,
            "expires_at": expires_at,
            "sanctions_cleared": True,
            "revoked": False,
        }
        self._save(record, "kyc_reg", customer, scval.to_vec([scval.to_uint32(tier), scval.to_uint64(expires_at)]))

    @contractfn(ADDRESS, ADDRESS, U32)
    def update_customer_tier(self, caller: str, customer: str, tier: int) -> None:
        self._require_officer(caller)
        record = self._customer(customer)
        if tier not in TIER_LIMIT_SATS:
            self.fail(4)
        old = record["tier"]
        record["tier"] = tier
        self._save(record, "kyc_tier", customer, scval.to_vec([scval.to_uint32(old), scval.to_uint32(tier)]))

    @contractfn(ADDRESS, ADDRESS, BOOL)
    def set_sanctions_status(self, caller: str, customer: str, cleared: bool) -> None:
        self._require_officer(caller)
        record = self._customer(customer)
        record["sanctions_cleared"] = cleared
        self._save(record, "kyc_sanct", customer, scval.to_bool(cleared))

    @contractfn(ADDRESS, ADDRESS)
    def revoke_customer(self, caller: str, customer: str) -> None:
        self._require_officer(caller)
        record = self._customer(customer)
        record["revoked"] = True
        self._save(record, "kyc_revoke", customer, scval.to_void())

    @contractfn(ADDRESS, ADDRESS)
    def add_compliance_officer(self, caller: str, officer: str) -> None:
        self.require_auth(caller)
        if caller != self.load(ADDRESS, "Admin"):
            self.fail(1)
        self.store(BOOL, True, "Officer", officer)

    @contractfn(ADDRESS, returns=U32)
    def get_tier(self, customer: str) -> int:
        """Effective tier: 0 if unknown, revoked or expired."""
        record = self.load(CUSTOMER, "Customer", customer)
        if record is None or record["revoked"] or record["expires_at"] <= self.now:
            return 0
        return record["tier"]

    @contractfn(ADDRESS, U32, I128, returns=BOOL)
    def is_approved(self, customer: str, op: int, amount: int) -> bool:
        """True only if every rule passes; any unknown input answers False (fails closed)."""
        tier = self.get_tier(customer)
        required = OP_MIN_TIER.get(op)
        if required is None or tier < required or amount < 0:
            return False
        record = self.load(CUSTOMER, "Customer", customer)
        return bool(record["sanctions_cleared"]) and amount <= TIER_LIMIT_SATS[tier]

    # ---- internals --------------------------------------------------------------------
    def _require_officer(self, caller: str) -> None:
        self.require_auth(caller)
        if caller != self.load(ADDRESS, "Admin") and not self.load(BOOL, "Officer", caller, default=False):
            self.fail(1)

    def _customer(self, customer: str) -> dict:
        record = self.load(CUSTOMER, "Customer", customer)
        if record is None:
            self.fail(2)
        return record

    def _save(self, record: dict, event: str, customer: str, data) -> None:
        """Store ``customer``'s ``record`` and emit the event of the change (topics: ``event``, the customer)."""
        self.store(CUSTOMER, record, "Customer", customer)
        self.emit([scval.to_symbol(event), scval.to_address(customer)], data)
