"""Turning chain client errors into Temporal activity failures with stable types.

Workflows match on ``ApplicationError.type``: ``ContractError`` (with ``details[0]`` =
``{"contract", "code", "name"}``) and the other Soroban error class names. Errors whose
``retry_safe`` is false are non-retryable: retrying could not change the outcome.
"""

from __future__ import annotations

from temporalio.exceptions import ApplicationError

from chains.soroban.errors import ContractError, SorobanError


def soroban_failure(exc: SorobanError) -> ApplicationError:
    """An ``ApplicationError`` for ``exc`` (raise it ``from exc``)."""
    if isinstance(exc, ContractError):
        return ApplicationError(
            str(exc),
            {"contract": exc.contract, "code": exc.code, "name": exc.name},
            type="ContractError",
            non_retryable=True,
        )
    return ApplicationError(str(exc), type=type(exc).__name__, non_retryable=not exc.retry_safe)
