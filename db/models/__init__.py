"""Every table, imported here so ``SQLModel.metadata`` (alembic's target) knows them all."""

from db.models.audit_log import AuditLog
from db.models.kyc_record import KycRecord
from db.models.operation import Operation
from db.models.token_balance import TokenBalance
from db.models.user import User

__all__ = ["AuditLog", "KycRecord", "Operation", "TokenBalance", "User"]
