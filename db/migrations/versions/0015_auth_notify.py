"""auth notify: announce token revocations and account changes to every API process

Revision ID: 0015_auth_notify
Revises: 0013_merge_books_payouts

* Each API process caches token revocations and account state (``api/auth/cache.py``) and keeps
  one ``LISTEN auth_changes`` connection. These triggers NOTIFY that channel at commit, whoever
  wrote the row (API, CLI, another replica, psql), so a cache can never outlive the change:
  ``revoked:<jti>`` when a token is revoked (logout), ``user:<id>`` when a ``users`` row is
  updated or deleted (deactivation, role change, token cut-off, password change, profile).
* NOTIFY is delivered only at commit, so a rolled-back change is never announced; a payload
  stays far below the 8000-byte limit (a jti is 32 hex characters, an id a UUID).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_auth_notify"
down_revision: str | Sequence[str] | None = "0013_merge_books_payouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVOKED = """
CREATE FUNCTION notify_token_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('auth_changes', 'revoked:' || NEW.jti);
    RETURN NULL;
END
$$;
"""

USER = """
CREATE FUNCTION notify_user_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('auth_changes', 'user:' || OLD.id::text);
    RETURN NULL;
END
$$;
"""


def upgrade() -> None:
    op.execute(REVOKED)
    op.execute("CREATE TRIGGER revoked_tokens_notify AFTER INSERT ON revoked_tokens "
               "FOR EACH ROW EXECUTE FUNCTION notify_token_revoked()")
    op.execute(USER)
    # Every update, not only of is_active/role/tokens_valid_after: a cached entry is cheap to
    # refill and users rows change rarely, so nothing a future column adds can be missed.
    op.execute("CREATE TRIGGER users_notify AFTER UPDATE OR DELETE ON users "
               "FOR EACH ROW EXECUTE FUNCTION notify_user_changed()")


def downgrade() -> None:
    op.execute("DROP TRIGGER users_notify ON users")
    op.execute("DROP FUNCTION notify_user_changed()")
    op.execute("DROP TRIGGER revoked_tokens_notify ON revoked_tokens")
    op.execute("DROP FUNCTION notify_token_revoked()")
