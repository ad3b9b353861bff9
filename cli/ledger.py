"""``custody ledger check``: verify every invariant of the books against Postgres and both chains.

Postgres (:mod:`db.books_check`): each ledger balances, each account equals its transfers, no
balance flag broken, ``token_balances`` equals the books, the UTXO set equals ``custody_btc``.
Chains: every unspent custody output is still unspent and on the chain (Esplora); iSTSi in issue
per the books equals ``total_supply`` (Stellar) up to mints and burns in flight; custody covers
iSTSi in issue plus unpaid withdrawals. Prints one line per check; exits 1 on any breach.
"""

from __future__ import annotations

import asyncio

import typer

from config.settings import Settings

app = typer.Typer(help="The books: the ledger and the custody UTXO set.", no_args_is_help=True)


async def _chain_checks(settings: Settings, report) -> None:
    from activities.deposit_guards import solvency_view
    from chains.bitcoin.errors import TxNotFound
    from db import ledger
    from db.queries import books as figures
    from db.queries import custody
    from domain import entries as e
    from domain.chart import balance
    from workers.registry import WorkerDeps

    deps = await WorkerDeps.build(settings)
    try:
        async with deps.sessions() as session:
            # One snapshot: the set, the books and the guard's figures must be of the same moment.
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            rows = [r for r in await custody.least_recently_verified(session, limit=1_000_000)]
            accounts = await ledger.lookup_accounts(session, [e.SUPPLY])
            in_books = balance(accounts[e.SUPPLY]) if e.SUPPLY in accounts else 0
            mints = (await figures.mints_in_progress(session, limit=1)).total
            burns = (await figures.burns_in_progress(session, limit=1)).total
            view = await solvency_view(session, amount_sats=0)
        gate = asyncio.Semaphore(8)

        async def spent_or_gone(row) -> str | None:
            async with gate:
                try:
                    out = await deps.esplora.outspend(row.txid, row.vout)
                    status = await deps.esplora.transaction_status(row.txid)
                except TxNotFound:
                    return f"{row.outpoint} is not on the chain"
            if not status.confirmed:
                return f"{row.outpoint} is no longer confirmed"
            if out.spent and row.state != "reserved":
                return f"{row.outpoint} was spent by {out.txid}"
            return None

        failures = [f for f in await asyncio.gather(*(spent_or_gone(r) for r in rows)) if f]
        report.expect("the UTXO set equals the chain", failures)
        supply = await deps.contracts.token.total_supply()
        report.expect("iSTSi in issue equals total_supply", [] if in_books - burns <= supply <= in_books + mints else [
            f"books {in_books} (mints in flight {mints}, burns in flight {burns}) vs total_supply {supply}"])
        covered = view.custody_sats + view.reorged_sats
        owed = view.supply_units + view.pending_withdrawals_sats
        report.expect("custody covers liabilities and pending payouts", [] if covered >= owed else [
            f"custody {view.custody_sats} sats (+{view.reorged_sats} held) < supply {view.supply_units} + unpaid "
            f"{view.pending_withdrawals_sats}"])
    finally:
        await deps.close()


async def run_check(settings: Settings, *, chains: bool = True):
    """The full report (Postgres invariants, then the chains unless ``chains`` is false)."""
    from db.books_check import check_books
    from db.session import make_async_engine, make_sessionmaker

    engine = make_async_engine(settings.database)
    try:
        async with make_sessionmaker(engine)() as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            report = await check_books(session)
    finally:
        await engine.dispose()
    if chains:
        await _chain_checks(settings, report)
    return report


@app.command("check")
def check(
    chains: bool = typer.Option(True, help="Also compare with Esplora and Stellar (--no-chains: Postgres only)."),
) -> None:
    """Verify every invariant of the books; exit 1 on any breach."""
    from cli.main import settings_or_exit

    report = asyncio.run(run_check(settings_or_exit(), chains=chains))
    for name in report.checked:
        typer.echo(f"ok    {name}")
    for problem in report.problems:
        typer.echo(f"FAIL  {problem}", err=True)
    raise typer.Exit(0 if report.ok else 1)


async def run_cover_write_off(settings: Settings, *, operation_id: str, outpoint: str, operator: str,
                              reason: str) -> int:
    """Cover a reorg write-off (:meth:`activities.custody_books.CustodyBooks.cover_write_off`) in
    one transaction; returns the satoshis the write-off had lost."""
    import uuid

    from activities.custody_books import CustodyBooks
    from db.session import make_async_engine, make_sessionmaker, transaction

    engine = make_async_engine(settings.database)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await CustodyBooks(settings).cover_write_off(
                session, operation_id=uuid.UUID(operation_id), covering_outpoint=outpoint, actor=operator,
                reason=reason)
    finally:
        await engine.dispose()


@app.command("cover-write-off")
def cover_write_off(
    operation_id: str = typer.Argument(..., help="The deposit whose reorg was written off."),
    outpoint: str = typer.Option(..., help="txid:vout of the confirmed unattributed custody output that covers it "
                                           "(the coin back after the window, or a top-up to a spare custody address)."),
    operator: str = typer.Option(..., help="Who covers it (recorded in the audit log)."),
    reason: str = typer.Option(..., help="Why (recorded in the audit log)."),
) -> None:
    """Cover a reorg write-off with BTC back in custody: its credits are restored, the loss in
    ``suspense_btc`` cancelled, and reconciliation stops reporting the shortfall."""
    from activities.custody_books import WriteOffNotCoverable
    from cli.main import settings_or_exit

    try:
        lost = asyncio.run(run_cover_write_off(settings_or_exit(), operation_id=operation_id, outpoint=outpoint,
                                               operator=operator, reason=reason))
    except (WriteOffNotCoverable, ValueError) as exc:
        typer.echo(f"refused ({getattr(exc, 'code', 'invalid_input')}): {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"covered: {lost} sats written off by operation {operation_id} are backed by {outpoint}")
