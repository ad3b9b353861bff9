"""Python models of the four docs/CONTRACTS.md contracts, keyed by their docs/CONTRACTS.md name."""

from chains.sandbox.soroban.contracts.base import ContractModel
from chains.sandbox.soroban.contracts.kyc import KycContract
from chains.sandbox.soroban.contracts.reserve import ReserveContract
from chains.sandbox.soroban.contracts.router import RouterContract
from chains.sandbox.soroban.contracts.token import TokenContract

MODELS: dict[str, type[ContractModel]] = {
    cls.NAME: cls for cls in (RouterContract, KycContract, TokenContract, ReserveContract)
}

__all__ = ["MODELS", "ContractModel", "KycContract", "ReserveContract", "RouterContract", "TokenContract"]
