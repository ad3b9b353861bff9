"""Contract error codes and names, exactly as listed in docs/CONTRACTS.md."""

from __future__ import annotations

INTEGRATION_ROUTER = "integration_router"
KYC_REGISTRY = "kyc_registry"
ISTSI_TOKEN = "istsi_token"
RESERVE_MANAGER = "reserve_manager"

CONTRACT_ERRORS: dict[str, dict[int, str]] = {
    INTEGRATION_ROUTER: {
        1: "Unauthorized",
        2: "InsufficientPermissions",
        11: "ContractCallFailed",
        20: "ComplianceCheckFailed",
        21: "InsufficientKYCTier",
        30: "InsufficientReserves",
        32: "BitcoinTransactionFailed",
        41: "InvalidOperationState",
        42: "DuplicateOperation",
        50: "SystemPaused",
    },
    KYC_REGISTRY: {1: "Unauthorized", 2: "NotFound", 4: "InvalidInput"},
    ISTSI_TOKEN: {1: "Unauthorized", 10: "InsufficientBalance", 11: "InsufficientAllowance", 12: "NegativeAmount"},
    RESERVE_MANAGER: {1: "Unauthorized", 2: "NotFound", 3: "InvalidInput", 4: "InsufficientReserves", 7: "AlreadyProcessed"},
}
