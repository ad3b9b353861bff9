"""Dependencies that refuse new money-moving operations while paused (503 ``system_paused``).

Use in a route signature: ``_: MintingOpen`` (deposits) or ``_: WithdrawalsOpen`` (withdrawals).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from api.deps import SessionDep
from db.queries.system_state import get_pause


async def require_minting_open(session: SessionDep) -> None:
    """Raises SystemPaused (503 via ``api.errors.DOMAIN_STATUS``) when minting is paused."""
    (await get_pause(session)).check_minting()


async def require_withdrawals_open(session: SessionDep) -> None:
    """Raises SystemPaused (503) when withdrawals are paused."""
    (await get_pause(session)).check_withdrawals()


MintingOpen = Annotated[None, Depends(require_minting_open)]
WithdrawalsOpen = Annotated[None, Depends(require_withdrawals_open)]
