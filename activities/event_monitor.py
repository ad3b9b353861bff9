"""The event monitor's one activity: fetch one ``getEvents`` page after the stored cursor, store
each event once, book the ones the engine did not originate (:mod:`activities.token_moves`),
advance the cursor — all in one transaction, so a crash at any point loses and duplicates nothing (the unique event id is the
second guard). Falling behind the RPC's retention window raises an alert and stops the monitor
there: skipping ahead silently would lose events (notes B6).
"""

from __future__ import annotations

from stellar_sdk import SorobanServerAsync
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import raise_alert
from activities.token_moves import ProjectionBehind, book_effect
from chains.soroban.addresses import ContractAddresses
from chains.soroban.events import ContractEvent, fetch_events
from chains.soroban.rpc_errors import rpc_call
from config.settings import Settings
from contracts.event_monitor import PollEventsInput, PollResult
from db.audit import record_audit
from db.queries import chain_events as q
from db.queries.system_state import get_pause, set_pause
from db.session import transaction
from domain.chain_events import PauseSeen, TokensBurned, TokensMinted, TokensMoved, behind_retention, effects_of
from domain.pause import PauseState


def _jsonable(value):
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value if isinstance(value, int | str | bool) or value is None else str(value)


def _addresses(effect) -> list[str]:
    if isinstance(effect, TokensMoved):
        return [effect.source, effect.destination]
    if isinstance(effect, TokensBurned | TokensMinted):
        return [effect.holder]
    return []


class EventMonitorActivities:
    def __init__(self, settings: Settings, sessions, server: SorobanServerAsync, addresses: ContractAddresses) -> None:
        self.settings = settings
        self.sessions = sessions
        self.server = server
        self.addresses = addresses

    def _row(self, e: ContractEvent, engine: set[str]) -> dict:
        return {
            "id": e.id, "contract_id": e.contract_id, "contract": self.addresses.name_of(e.contract_id), "name": e.name,
            "ledger": e.ledger, "ledger_closed_at": e.ledger_closed_at, "tx_hash": e.tx_hash,
            "topics": _jsonable(e.topics), "value": _jsonable(e.value), "engine_originated": e.tx_hash in engine,
        }

    @activity.defn(name="poll_contract_events")
    async def poll_contract_events(self, inp: PollEventsInput) -> PollResult:
        """Process one page (module docstring). Raises a retryable ApplicationError when behind
        retention (after alerting) or when a debit meets a projection that is not there yet."""
        health = await rpc_call(self.server.get_health)
        async with self.sessions() as session:
            stored = await q.get_cursor(session, name=inp.name)
        if stored is not None and behind_retention(stored.last_ledger, health.oldest_ledger):
            raise_alert("event_monitor_behind_retention", "event monitor fell behind the RPC retention window",
                        monitor=inp.name, last_ledger=stored.last_ledger, oldest_ledger=health.oldest_ledger)
            raise ApplicationError("behind the RPC retention window; backfill needed", type="BehindRetention")
        contract_ids = [self.addresses.integration_router, self.addresses.kyc_registry,
                        self.addresses.istsi_token, self.addresses.reserve_manager]
        if stored is None:
            start = max(inp.start_ledger or health.oldest_ledger, health.oldest_ledger)
            page = await fetch_events(self.server, contract_ids=contract_ids, start_ledger=start, limit=inp.page_size)
        else:
            page = await fetch_events(self.server, contract_ids=contract_ids, cursor=stored.cursor, limit=inp.page_size)
        full = len(page.events) >= inp.page_size
        last_ledger = page.events[-1].ledger if full else page.latest_ledger
        try:
            applied, new = await self._store_page(inp.name, page, last_ledger, health.oldest_ledger)
        except ProjectionBehind as exc:
            raise ApplicationError(str(exc), type="ProjectionBehind") from exc
        return PollResult(len(page.events), new, applied, not full, max(page.latest_ledger - last_ledger, 0))

    async def _store_page(self, name: str, page, last_ledger: int, oldest_ledger: int) -> tuple[int, int]:
        token = self.addresses.istsi_token
        async with transaction(self.sessions) as session:
            engine = await q.engine_tx_hashes(session, tx_hashes=list({e.tx_hash for e in page.events}))
            new_ids = await q.insert_new(session, [self._row(e, engine) for e in page.events])
            fresh = [e for e in page.events if e.id in new_ids and e.tx_hash not in engine]
            effects = {e.id: effects_of(self.addresses.name_of(e.contract_id), e.name, e.topics, e.value) for e in fresh}
            addresses = [a for fx in effects.values() for x in fx for a in _addresses(x)]
            users = await q.users_by_address(session, addresses=addresses)
            applied: list[str] = []
            for event_id, fx in effects.items():
                for effect in fx:
                    if isinstance(effect, TokensMoved | TokensBurned | TokensMinted):
                        if await book_effect(session, event_id, effect, users, token_address=token):
                            applied.append(event_id)
                    elif isinstance(effect, PauseSeen):
                        await self._mirror_pause(session, effect)
                        applied.append(event_id)
            await q.mark_applied(session, event_ids=sorted(set(applied)))
            await q.save_cursor(session, name=name, cursor=page.cursor, last_ledger=last_ledger,
                                latest_ledger=page.latest_ledger, oldest_ledger=oldest_ledger)
        return len(set(applied)), len(new_ids)

    async def _mirror_pause(self, session, seen: PauseSeen) -> None:
        """Someone else paused the router: pause the engine too (resuming stays an admin's call)."""
        old = await get_pause(session)
        new = PauseState(minting=True, withdrawals=True, reason=f"router paused on chain by {seen.caller}: {seen.reason}")
        await set_pause(session, state=new, actor_id=None)
        record_audit(session, action="system.chain_pause_seen", resource_type="system_state", resource_id="pause",
                     old_values=old.__dict__, new_values=new.__dict__)
