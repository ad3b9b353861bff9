"""Every table, imported here so ``SQLModel.metadata`` (alembic's target) knows them all."""

from db.models.audit_log import AuditLog
from db.models.auth_lockout import AuthLockout
from db.models.chain_event import ChainEvent, EventCursor
from db.models.chain_submission import ChainSubmission
from db.models.custody_utxo import CustodyAddress, CustodyUtxo, CustodyUtxoTotal, ScannedBlock
from db.models.deposit_address import DepositAddress
from db.models.kyc_record import KycRecord
from db.models.ledger import LedgerAccount, LedgerCodeTotal, LedgerTransfer
from db.models.operation import Operation
from db.models.payout import Payout, PayoutItem, PayoutSignature, PayoutVersion
from db.models.rate_limit_counter import RateLimitCounter
from db.models.reconciliation import ReconciliationDiscrepancy, ReconciliationItem, ReconciliationRun
from db.models.reserve_proof import ProofLeafChunk, ReserveProof, ReserveProofLeaf, ReserveProofLevel
from db.models.revoked_token import RevokedToken
from db.models.soroban_channel import SorobanChannel
from db.models.system_state import SystemState
from db.models.token_balance import TokenBalance
from db.models.user import User

__all__ = [
    "AuditLog",
    "AuthLockout",
    "ChainEvent",
    "ChainSubmission",
    "CustodyAddress",
    "CustodyUtxo",
    "CustodyUtxoTotal",
    "DepositAddress",
    "EventCursor",
    "KycRecord",
    "LedgerAccount",
    "LedgerCodeTotal",
    "LedgerTransfer",
    "Operation",
    "Payout",
    "PayoutItem",
    "PayoutSignature",
    "PayoutVersion",
    "RateLimitCounter",
    "ReconciliationDiscrepancy",
    "ReconciliationItem",
    "ReconciliationRun",
    "ProofLeafChunk",
    "ReserveProof",
    "ReserveProofLeaf",
    "ReserveProofLevel",
    "ScannedBlock",
    "SorobanChannel",
    "RevokedToken",
    "SystemState",
    "TokenBalance",
    "User",
]
