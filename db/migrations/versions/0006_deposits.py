"""deposits: operations keyed by outpoint, confirmation progress, change notifications

Revision ID: 0006_deposits
Revises: 0005_system_state

* ``operations.outpoint`` (``txid:vout``) is UNIQUE: one live or credited deposit per output,
  whoever started it (API, detection scan). A claim the chain disproves sets it back to NULL.
* ``confirmations`` / ``required_confirmations``: depth seen and needed, in blocks.
* A trigger NOTIFYs ``operation_updates`` with a small JSON row whenever an operation is
  inserted or its status, stage, confirmations or error change. Each API replica LISTENs and
  pushes the update to that user's WebSockets; NOTIFY is delivered at commit, so a rolled-back
  change is never announced.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from db.migrations.helpers import operation_notify_function

revision: str = "0006_deposits"
down_revision: str | Sequence[str] | None = "0005_system_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NOTIFY_FUNCTION = operation_notify_function()


def upgrade() -> None:
    op.add_column("operations", sa.Column("outpoint", sa.String(), nullable=True))
    op.add_column("operations", sa.Column("confirmations", sa.Integer(), nullable=True))
    op.add_column("operations", sa.Column("required_confirmations", sa.Integer(), nullable=True))
    op.create_unique_constraint("uq_operations_outpoint", "operations", ["outpoint"])
    op.create_check_constraint(
        "ck_operations_confirmations_nonnegative", "operations", "confirmations IS NULL OR confirmations >= 0"
    )
    op.execute(_NOTIFY_FUNCTION)
    op.execute(
        "CREATE TRIGGER operations_notify AFTER INSERT OR UPDATE ON operations "
        "FOR EACH ROW EXECUTE FUNCTION notify_operation_update()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER operations_notify ON operations")
    op.execute("DROP FUNCTION notify_operation_update()")
    op.drop_constraint("ck_operations_confirmations_nonnegative", "operations", type_="check")
    op.drop_constraint("uq_operations_outpoint", "operations", type_="unique")
    op.drop_column("operations", "required_confirmations")
    op.drop_column("operations", "confirmations")
    op.drop_column("operations", "outpoint")
