"""``custody users``: account tasks that cannot go through the API, such as the first admin."""

from __future__ import annotations

import asyncio
import os

import typer

from config.settings import Settings
from domain.errors import DomainError

app = typer.Typer(help="User accounts.", no_args_is_help=True)

#: Where ``create-admin`` reads the password when set; never from an argument (shell history, ps).
PASSWORD_ENV = "CUSTODY_ADMIN_PASSWORD"


class AdminExists(Exception):
    """An account with this e-mail address exists already."""


async def create_admin(settings: Settings, *, email: str, password: str) -> str:
    """Create an active ``admin`` account and its audit row in one transaction; returns its id.

    ``email`` must be normalised and ``password`` must have passed the policy.

    Raises:
        AdminExists: the e-mail address is taken.
    """
    from api.auth.passwords import PasswordHasher
    from db.audit import record_audit
    from db.models import User
    from db.queries import users
    from db.session import make_async_engine, make_sessionmaker, transaction
    from domain.roles import Role

    engine = make_async_engine(settings.database)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            if await users.email_exists(session, email=email):
                raise AdminExists(email)
            user = User(email=email, password_hash=PasswordHasher(settings.auth).hash(password), role=Role.ADMIN.value)
            session.add(user)
            await session.flush()
            record_audit(
                session, action="user.admin_created", resource_type="user", resource_id=user.id,
                new_values={"email": email, "role": user.role}, user_agent="custody-cli",
            )
            return str(user.id)
    finally:
        await engine.dispose()


def _read_password() -> str:
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


@app.command("create-admin")
def create_admin_command(email: str = typer.Option(..., "--email", help="Login e-mail of the new admin.")) -> None:
    """Create an admin account. The password comes from $CUSTODY_ADMIN_PASSWORD or a prompt."""
    from cli.devstack import use_dev_database
    from cli.main import settings_or_exit
    from domain.emails import normalise_email
    from domain.passwords import check_password

    use_dev_database()  # beside `make dev` with its embedded PostgreSQL: that database
    settings = settings_or_exit()
    password = _read_password()
    try:
        login = normalise_email(email)
        check_password(password, context=(login, login.split("@", 1)[0]))
    except DomainError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    try:
        user_id = asyncio.run(create_admin(settings, email=login, password=password))
    except AdminExists:
        typer.echo(f"refused: an account with e-mail {login} exists", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"admin {login} created (id {user_id})")
