"""Emergency pause of money movement: what is paused and why."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import DomainError


class SystemPaused(DomainError):
    """Minting or withdrawals are paused (admin action or reconciliation emergency)."""

    code = "system_paused"


@dataclass(frozen=True)
class PauseState:
    """``minting`` gates deposits' mints; ``withdrawals`` gates burns and payouts."""

    minting: bool = False
    withdrawals: bool = False
    reason: str | None = None

    def check_minting(self) -> None:
        """Raise :class:`SystemPaused` when minting is paused."""
        if self.minting:
            raise SystemPaused(f"minting is paused: {self.reason or 'no reason given'}")

    def check_withdrawals(self) -> None:
        """Raise :class:`SystemPaused` when withdrawals are paused."""
        if self.withdrawals:
            raise SystemPaused(f"withdrawals are paused: {self.reason or 'no reason given'}")
