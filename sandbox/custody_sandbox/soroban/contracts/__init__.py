"""Python models of the four docs/CONTRACTS.md contracts, keyed by their docs/CONTRACTS.md name."""

from custody_sandbox.soroban.contracts.base import ContractModel
from custody_sandbox.soroban.contracts.kyc import KycContract
from custody_sandbox.soroban.contracts.reserve import ReserveContract
from custody_sandbox.soroban.contracts.router import RouterContract
from custody_sandbox.soroban.contracts.token import TokenContract

MODELS: dict[str, type[ContractModel]] = {
    cls.NAME: cls for cls in (RouterContract, KycContract, TokenContract, ReserveContract)
}

__all__ = ["MODELS", "ContractModel", "KycContract", "ReserveContract", "RouterContract", "TokenContract"]
