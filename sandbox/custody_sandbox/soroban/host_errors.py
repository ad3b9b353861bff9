"""Failures raised while the sandbox host runs a contract model.

    HostFailure
    ├── ContractError   a contract's own error, rendered ``Error(Contract, #code)``
    └── HostTrap        any other host error (auth, storage, value), ``Error(Type, Code)``

Both abort the whole invocation: the host discards every storage write, as Soroban does.
"""

from __future__ import annotations

import re

from stellar_sdk import xdr


def _upper_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


class HostFailure(Exception):
    """Base of everything that traps a host invocation."""

    def render(self) -> str:
        """The error as the real host prints it, e.g. ``HostError: Error(Contract, #42)``."""
        raise NotImplementedError

    def sc_error(self) -> xdr.SCError:
        """The ``SCError`` value the host puts in its diagnostic ``error`` event."""
        raise NotImplementedError


class ContractError(HostFailure):
    """A contract returned its own error code (``panic_with_error!``)."""

    def __init__(self, code: int, contract_id: str = "") -> None:
        super().__init__(f"Error(Contract, #{code})")
        self.code = code
        self.contract_id = contract_id

    def render(self) -> str:
        return f"HostError: Error(Contract, #{self.code})"

    def sc_error(self) -> xdr.SCError:
        return xdr.SCError(type=xdr.SCErrorType.SCE_CONTRACT, contract_code=xdr.Uint32(self.code))


class HostTrap(HostFailure):
    """A host-level error such as ``Error(Auth, InvalidAction)``."""

    def __init__(self, error_type: str, error_code: str, detail: str = "") -> None:
        super().__init__(f"Error({error_type}, {error_code}) {detail}".strip())
        self.error_type = error_type
        self.error_code = error_code
        self.detail = detail

    def render(self) -> str:
        text = f"HostError: Error({self.error_type}, {self.error_code})"
        return f"{text}\n\nEvent log (newest first):\n   0: {self.detail}" if self.detail else text

    def sc_error(self) -> xdr.SCError:
        return xdr.SCError(
            type=xdr.SCErrorType[f"SCE_{_upper_snake(self.error_type)}"],
            code=xdr.SCErrorCode[f"SCEC_{_upper_snake(self.error_code)}"],
        )
