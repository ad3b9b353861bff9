"""The four contract addresses the engine talks to (from configuration)."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class ContractAddresses:
    """Strkey ``C…`` addresses of the docs/CONTRACTS.md contracts."""

    integration_router: str
    kyc_registry: str
    istsi_token: str
    reserve_manager: str

    def name_of(self, contract_id: str) -> str:
        """The docs/CONTRACTS.md name of ``contract_id``, or ``"unknown"``."""
        for f in fields(self):
            if getattr(self, f.name) == contract_id:
                return f.name
        return "unknown"
