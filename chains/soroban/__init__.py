"""Soroban client for the custody contracts (stellar-sdk, async).

Public surface: :class:`SorobanClient`, :class:`ContractAddresses`, :class:`SignedEnvelope`,
:class:`InvokeResult`, the typed wrappers (:class:`Contracts` …), event paging
(:func:`fetch_events`, :func:`iter_events`), :class:`OperatorKey` and the error tree in
:mod:`chains.soroban.errors`.
"""

from chains.soroban.addresses import ContractAddresses
from chains.soroban.client import SignedEnvelope, SorobanClient, StoreCallback
from chains.soroban.contracts import Contracts, IntegrationRouter, IstsiToken, KycOp, KycRegistry, ReserveManager, Role
from chains.soroban.errors import (
    ContractError,
    HostError,
    NetworkMismatch,
    SimulationError,
    SorobanError,
    SorobanUnavailable,
    SubmissionRejected,
    TransactionExpired,
    TransactionFailed,
    TransactionPending,
)
from chains.soroban.events import ContractEvent, EventPage, fetch_events, iter_events, topic_filter
from chains.soroban.keys import OperatorKey, OperatorKeyError
from chains.soroban.outcomes import InvokeResult, TxEvent

__all__ = [
    "ContractAddresses",
    "ContractError",
    "ContractEvent",
    "Contracts",
    "EventPage",
    "HostError",
    "IntegrationRouter",
    "InvokeResult",
    "IstsiToken",
    "KycOp",
    "KycRegistry",
    "NetworkMismatch",
    "OperatorKey",
    "OperatorKeyError",
    "ReserveManager",
    "Role",
    "SignedEnvelope",
    "SimulationError",
    "SorobanClient",
    "SorobanError",
    "SorobanUnavailable",
    "StoreCallback",
    "SubmissionRejected",
    "TransactionExpired",
    "TransactionFailed",
    "TransactionPending",
    "TxEvent",
    "fetch_events",
    "iter_events",
    "topic_filter",
]
