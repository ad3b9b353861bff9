"""Errors of the Soroban client. Callers (activities) catch only these names.

    SorobanError                      base; every error says ``retry_safe``
    ├── SourceAccountMissing          the source account was never funded                not retry_safe
    ├── SorobanUnavailable            RPC unreachable, 5xx, JSON-RPC internal error      retry_safe
    ├── NetworkMismatch               getNetwork passphrase != configured                not retry_safe
    ├── HostError                     the Soroban host rejected the call (auth, budget)  not retry_safe
    │   └── ContractError             ``Error(Contract, #code)``: code + docs/CONTRACTS.md name
    ├── SimulationError               simulation failed without a host error to decode   not retry_safe
    ├── SubmissionRejected            sendTransaction ERROR (``txBAD_AUTH``, ``txTOO_LATE`` …);
    │                                 retry_safe only for codes that prove nothing applied
    ├── TransactionFailed             included but FAILED (fee charged, no effect)       not retry_safe
    ├── TransactionExpired            time bound passed by ledger close time, never
    │                                 included: provably dead, a rebuild is safe         retry_safe
    ├── TransactionPending            still unresolved when the caller's wait ended;
    │                                 ``resume(envelope_xdr)`` re-drives it              retry_safe
    └── ChannelsBusy                  every channel account stayed leased while the
        │                             caller waited; nothing was signed or sent          retry_safe
        └── ChannelLeaseLost          the lease ran out before the envelope was stored;
                                      nothing was stored or sent                         retry_safe

``ContractError`` may come from simulation (nothing was sent) or from a FAILED transaction;
``stage`` says which. "retry_safe" means: retrying the *same request* cannot double an effect.
"""

from __future__ import annotations

from chains.soroban.error_codes import CONTRACT_ERRORS


class SorobanError(Exception):
    """Base of all Soroban client errors."""

    retry_safe: bool = False

    def __init__(self, message: str, *, tx_hash: str | None = None) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class SourceAccountMissing(SorobanError):
    """The transaction's source account does not exist on the network (never funded)."""

    def __init__(self, message: str, *, account: str) -> None:
        super().__init__(message)
        self.account = account


class SorobanUnavailable(SorobanError):
    """The RPC could not be reached or answered with a transient failure."""

    retry_safe = True


class NetworkMismatch(SorobanError):
    """The RPC serves another network than the configured passphrase; refuse to run."""


class HostError(SorobanError):
    """The host rejected the invocation (e.g. ``Error(Auth, InvalidAction)``)."""

    def __init__(self, message: str, *, stage: str, tx_hash: str | None = None) -> None:
        super().__init__(message, tx_hash=tx_hash)
        self.stage = stage  # "simulation" | "transaction"


class ContractError(HostError):
    """A contract failed with its own error code (``Error(Contract, #code)``)."""

    def __init__(self, contract: str, code: int, *, stage: str, tx_hash: str | None = None) -> None:
        self.contract = contract
        self.code = code
        self.name = CONTRACT_ERRORS.get(contract, {}).get(code, f"Unknown{code}")
        super().__init__(f"{contract}: {self.name} (#{code}) during {stage}", stage=stage, tx_hash=tx_hash)


class SimulationError(SorobanError):
    """Simulation failed and the message carries no host error we can classify."""


class SubmissionRejected(SorobanError):
    """sendTransaction answered ERROR with the given ``TransactionResultCode`` name."""

    # Codes where the network provably did not apply the transaction and a *new* one is fine.
    _SAFE = {"txBAD_SEQ", "txINSUFFICIENT_FEE", "txTOO_LATE", "txTOO_EARLY"}

    def __init__(self, result_code: str, *, tx_hash: str | None = None) -> None:
        super().__init__(f"transaction rejected: {result_code}", tx_hash=tx_hash)
        self.result_code = result_code
        self.retry_safe = result_code in self._SAFE


class TransactionFailed(SorobanError):
    """The transaction was included but FAILED: fee charged, sequence consumed, no effect."""

    def __init__(self, result_code: str, *, tx_hash: str | None = None, detail: str = "") -> None:
        super().__init__(f"transaction failed: {result_code} {detail}".strip(), tx_hash=tx_hash)
        self.result_code = result_code


class TransactionExpired(SorobanError):
    """The time bound passed (by ledger close time) and the transaction was never included."""

    retry_safe = True


class TransactionPending(SorobanError):
    """The transaction is still unresolved; re-drive it with ``resume(envelope_xdr)``."""

    retry_safe = True

    def __init__(self, message: str, *, tx_hash: str | None = None, envelope_xdr: str | None = None) -> None:
        super().__init__(message, tx_hash=tx_hash)
        self.envelope_xdr = envelope_xdr


class ChannelsBusy(SorobanError):
    """No channel account became free within the wait; nothing was built or sent."""

    retry_safe = True


class ChannelLeaseLost(ChannelsBusy):
    """The channel lease ran out before the signed envelope was stored; nothing was sent."""


__all__ = [
    "ChannelLeaseLost",
    "ChannelsBusy",
    "ContractError",
    "HostError",
    "NetworkMismatch",
    "SimulationError",
    "SorobanError",
    "SorobanUnavailable",
    "SubmissionRejected",
    "TransactionExpired",
    "TransactionFailed",
    "TransactionPending",
]
