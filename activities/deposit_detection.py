"""The custody chain scan: the UTXO set follows the chain block by block, and BTC that reached a
deposit address without a POST becomes a deposit.

One activity (``scan_deposit_addresses``, schedule ``deposit-scan``) per run:

1. keeps a look-ahead window of watched addresses on both branches (BIP 44 gap limit);
2. on the very first run, lists each watched address once (the only per-address pass, bounded
   by what exists then) and starts the cursor at the tip; an upgraded database's opening
   balance is trued up here (``books_opening``);
3. finds the fork point if the chain reorganised (stored block hashes against the chain's),
   undoes the orphaned blocks, then applies at most ``MAX_BLOCKS_PER_RUN`` new blocks, one
   database transaction per block (``GET /block/:hash/raw``): custody outputs are sighted and
   booked, custody inputs marked spent;
4. asks the chain about a bounded number of outputs off a block (mempool, orphaned, vanished)
   and books what that means (:mod:`domain.utxo_set`);
5. turns pending receipts into deposits (an output at or above ``deposits.minimum_sats`` is its
   own deposit; smaller ones are credited together once they add up) and starts their
   workflows; restarts workflows of deposits stuck at ``received`` (an API process died
   between its commit and its start).

Work per run is bounded by new blocks, not by the number of addresses ever issued.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.alerts import raise_alert
from activities.custody_books import CustodyBooks, Sighting
from chains.bitcoin.blocks import parse_block
from chains.bitcoin.errors import BlockNotFound, ChainResponseError, TxNotFound
from chains.bitcoin.esplora import EsploraClient
from chains.bitcoin.wallet import CHANGE_BRANCH, RECEIVE_BRANCH, CustodyWallet
from config.settings import Settings
from contracts import deposits as t
from contracts.kyc import kyc_workflow_input
from contracts.starters import start_deposit, start_kyc_approval, start_withdrawal
from contracts.withdrawals import withdrawal_workflow_input
from contracts.workflow_ids import InvalidOutpoint, deposit_idempotency_key, deposit_workflow_id
from db import ledger
from db.audit import record_audit
from db.models import CustodyUtxo, Payout, PayoutVersion, SystemState, User
from db.models.base import utcnow
from db.queries import custody, operations
from db.queries import kyc as kyc_q
from db.queries.operations import NewDeposit
from db.session import transaction
from domain import entries as e
from domain.chart import TransferCode
from domain.ledger import Transfer
from domain.operations import OperationStage, OperationType
from domain.utxo_set import ChainView, UtxoState

log = logging.getLogger(__name__)
#: How far back the heal looks for withdrawals and KYC submissions whose start failed (longer than
#: a Temporal outage is likely to last, under Temporal's 1-day minimum retention).
HEAL_STARTS_WITHIN = timedelta(hours=12)
MAX_BLOCKS_PER_RUN = 50
#: Blocks whose hashes are kept to find a fork point (deeper reorgs raise an alert).
KEEP_BLOCKS = 500
#: Blocks below the tip remembered by the first run (a reorg right after it still finds its fork).
BOOTSTRAP_BLOCKS = 100
GAP_LIMIT = 20
CHECKS_PER_RUN = 200
BOOKS_OPENING = "books_opening"


class DepositDetection:
    """The scan activity over one worker's clients."""

    def __init__(
        self, *, settings: Settings, sessions: async_sessionmaker[AsyncSession], esplora: EsploraClient,
        wallet: CustodyWallet,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._esplora = esplora
        self._wallet = wallet
        self._books = CustodyBooks(settings)
        self._network = settings.bitcoin.network

    def all(self) -> list[Callable[..., Awaitable[Any]]]:
        return [self.scan_deposit_addresses]

    @activity.defn(name=t.SCAN)
    async def scan_deposit_addresses(self, inp: t.ScanInput) -> t.ScanResult:
        """One scan run (module docstring). Raises chain errors (the schedule's next run retries)."""
        addresses = await self._ensure_lookahead()
        chain_tip = await self._esplora.tip_height()
        async with self._sessions() as session:
            cursor = await custody.tip(session)
        blocks = 0
        if cursor is None:
            await self._bootstrap(chain_tip)
        else:
            fork = await self._fork_point(cursor.height, cursor.block_hash)
            if fork < cursor.height:
                await self._disconnect(fork, chain_tip)
            for height in range(fork + 1, min(chain_tip, fork + MAX_BLOCKS_PER_RUN) + 1):
                applied = await self._connect(height, chain_tip)
                if applied is None:
                    break  # the chain reorganised during this run: the next run finds the fork
                blocks += applied
                activity.heartbeat(height)
        await self._check_off_block(chain_tip)
        recorded, started = await self._detect()
        started += await self._heal(timedelta(seconds=inp.grace_seconds))
        return t.ScanResult(addresses=addresses, recorded=recorded, started=started, blocks=blocks)

    # ---- watched addresses ----------------------------------------------------------------------
    async def _ensure_lookahead(self) -> int:
        """Watch ``GAP_LIMIT`` addresses past the highest used index of each branch."""
        async with transaction(self._sessions) as session:
            used_change = await custody.highest_change_index(session)
            for branch in (RECEIVE_BRANCH, CHANGE_BRANCH):
                watched_top = await custody.highest_index(session, branch=branch)
                used = await custody.highest_index(session, branch=branch, owned_only=True) if branch == RECEIVE_BRANCH \
                    else used_change
                for index in range(watched_top + 1, used + GAP_LIMIT + 1):
                    await custody.watch_address(session, address=self._wallet.derive(branch, index).address,
                                                branch=branch, derivation_index=index)
            return len(await custody.all_addresses(session))

    # ---- first run ----------------------------------------------------------------------------
    async def _bootstrap(self, chain_tip: int) -> None:
        """List every watched address once, then start the cursor at the tip, remembering the
        ``BOOTSTRAP_BLOCKS`` blocks below it so a reorg right after the first run finds its fork."""
        recent = await self._recent_blocks(chain_tip)
        async with self._sessions() as session:
            addresses = [a.address for a in await custody.all_addresses(session)]
        found: list[Sighting] = []
        for address in addresses:
            for u in await self._esplora.address_utxos(address):
                found.append(Sighting(u.outpoint, u.amount_sats, address, u.status.block_height, u.status.block_hash))
            activity.heartbeat(address)
        async with transaction(self._sessions) as session:
            await _scan_lock(session)
            if await custody.tip(session) is not None:
                return  # another scanner bootstrapped meanwhile
            opening = await session.get(SystemState, BOOKS_OPENING)
            if opening is not None and (opening.value or {}).get("pending"):
                await self._open_custody(session, found, chain_tip)
                await session.delete(opening)
            else:
                for s in found:
                    await self._books.sight(session, s, tip_height=chain_tip)
            for height, block_hash in sorted(recent.items()):
                await custody.record_block(session, height=height, block_hash=block_hash, keep=KEEP_BLOCKS)
        log.info("custody scan bootstrapped at height %d with %d outputs", chain_tip, len(found))

    async def _recent_blocks(self, chain_tip: int) -> dict[int, str]:
        """``{height: hash}`` of the canonical blocks from ``chain_tip`` down to
        ``chain_tip - BOOTSTRAP_BLOCKS + 1``, consistent with each other (each links to the one
        below by ``previousblockhash``; a page read across a reorg is read again)."""
        for _ in range(3):
            blocks: dict[int, str] = {}
            previous: dict[int, str | None] = {}
            height = chain_tip
            while height >= 0 and chain_tip - height < BOOTSTRAP_BLOCKS:
                page = await self._esplora.blocks_from(height)
                if not page:
                    break
                for b in page:
                    if chain_tip - b.height < BOOTSTRAP_BLOCKS:
                        blocks[b.height], previous[b.height] = b.block_hash, b.previous_block_hash
                height = min(b.height for b in page) - 1
            if all(previous[h] == blocks[h - 1] for h in blocks if h - 1 in blocks):
                return blocks
        raise ChainResponseError("the chain kept reorganising while the scanner read its recent blocks")

    async def _open_custody(self, session: AsyncSession, found: list[Sighting], chain_tip: int) -> None:
        """An upgraded database: the outputs found are the opening custody.

        * outputs of live payouts enter as the normal path would have left them: inputs
          ``reserved`` (``payout_signed`` once signed; inputs a broadcast payout already spends
          are taken from the payout), change ``seen`` with ``change_of``;
        * outputs of deposits still in flight, BTC on users' deposit addresses nobody claimed
          (pending receipts), unattributed payments and anything unconfirmed are sighted as the
          scanner sights new outputs;
        * the rest (completed deposits, old change) backs the iSTSi in issue (``istsi_backing``,
          no operation: a reorg of it raises an alert, there is no credit to hold).

        The set then replaces the opening estimate; the difference goes to ``suspense_btc``.
        """
        # A database from before the books has one version per payout (version 0, from the payout).
        live = {p.id for p in (await session.execute(
            select(Payout).where(Payout.status.in_(custody.LIVE_PAYOUTS)))).scalars()}  # type: ignore[attr-defined]
        versions = list((await session.execute(select(PayoutVersion).where(
            PayoutVersion.payout_id.in_(live), PayoutVersion.status != "abandoned"))).scalars()) if live else []  # type: ignore[attr-defined]
        signed = {v.payout_id for v in versions if v.status in custody.SIGNED_LIVE_VERSIONS}
        inputs = {i["outpoint"]: (v.payout_id, v.version, i) for v in versions for i in v.inputs}
        changes = {f"{v.txid}:{v.change_vout}": v for v in versions
                   if v.payout_id in signed and v.change_vout is not None and v.change_sats}
        owners = await custody.watched(session, [s.address for s in found])
        listed = {s.outpoint for s in found}
        for s in found:
            txid, vout = s.outpoint.rsplit(":", 1)
            row = {"outpoint": s.outpoint, "txid": txid, "vout": int(vout), "value_sats": s.value_sats,
                   "address": s.address, "block_height": s.block_height, "block_hash": s.block_hash}
            if s.outpoint in changes:
                made_by = changes[s.outpoint]
                await custody.insert_new(session, {**row, "change_of": made_by.payout_id,
                                                   "change_version": made_by.version, "state": (
                    UtxoState.CONFIRMED if s.block_height is not None else UtxoState.SEEN).value,
                    "seen_at_height": None if s.block_height is not None else chain_tip})
                continue
            if s.outpoint in inputs and s.block_height is not None:
                payout_id, version, _ = inputs[s.outpoint]
                await custody.insert_new(session, {**row, "state": UtxoState.RESERVED.value, "held_in": e.BACKING,
                                                   "reserved_by": payout_id, "reserved_version": version})
                continue
            claim = await operations.get_by_outpoint(session, outpoint=s.outpoint)
            is_deposit = claim is not None and claim.operation_type == OperationType.DEPOSIT.value
            owner = owners[s.address]
            backs = s.block_height is not None and (
                (is_deposit and claim.completed_at is not None) or (not is_deposit and owner.branch == CHANGE_BRANCH))
            if backs:
                await custody.insert_new(session, {**row, "state": UtxoState.CONFIRMED.value, "held_in": e.BACKING})
            else:
                await self._books.sight(session, s, tip_height=chain_tip)
        for outpoint, (payout_id, version, spent) in inputs.items():
            if outpoint in listed or payout_id not in signed:
                continue  # listed above, or the coin of an unsigned payout is gone (its build will notice)
            address = self._wallet.derive(int(spent["branch"]), int(spent["derivation_index"])).address
            await custody.watch_address(session, address=address, branch=int(spent["branch"]),
                                        derivation_index=int(spent["derivation_index"]))
            txid, vout = outpoint.rsplit(":", 1)
            await custody.insert_new(session, {  # spent by the broadcast payout: settled with it
                "outpoint": outpoint, "txid": txid, "vout": int(vout), "value_sats": int(spent["amount_sats"]),
                "address": address, "state": UtxoState.RESERVED.value, "held_in": e.BACKING,
                "reserved_by": payout_id, "reserved_version": version})
        for outpoint, made_by in changes.items():
            if outpoint in listed:
                continue
            change = self._wallet.derive(CHANGE_BRANCH, made_by.change_index)
            await custody.watch_address(session, address=change.address, branch=CHANGE_BRANCH,
                                        derivation_index=made_by.change_index)
            await custody.insert_new(session, {  # signed, not on the chain yet (as the signing leaves it)
                "outpoint": outpoint, "txid": made_by.txid, "vout": made_by.change_vout,
                "value_sats": made_by.change_sats, "address": change.address, "state": UtxoState.SEEN.value,
                "change_of": made_by.payout_id, "change_version": made_by.version, "seen_at_height": chain_tip})
        for payout_id in live:
            await custody.sync_payout_signed(session, payout_id)
        set_totals = await custody.totals(session)
        account = await ledger.account(session, e.CUSTODY)
        books_available = account.debits_posted - account.credits_posted - account.credits_pending
        diff = set_totals.available - books_available
        if diff:
            debit, credit = (e.CUSTODY, e.SUSPENSE_BTC) if diff > 0 else (e.SUSPENSE_BTC, e.CUSTODY)
            await self._books.post(session, [Transfer("opening:custody", debit, credit, abs(diff), e.BTC,
                                                      TransferCode.OPENING)])
        raise_alert("books_opened", "opening custody balance booked from the chain", difference_sats=diff)

    # ---- blocks -------------------------------------------------------------------------------
    async def _fork_point(self, height: int, block_hash: str) -> int:
        """The highest scanned height whose block is still canonical."""
        if await self._chain_hash(height) == block_hash:
            return height
        low = height
        async with self._sessions() as session:
            known = await custody.scanned(session, list(range(max(0, height - KEEP_BLOCKS), height + 1)))
        while low > 0:
            low -= 1
            if low not in known:
                # Below the scanner's memory: undo every block it remembers (their outputs are
                # looked up again one by one); older outputs are checked by reconciliation.
                raise_alert("reorg_deeper_than_kept_blocks", "the chain reorganised below the scanner's memory",
                            height=low)
                return low
            if await self._chain_hash(low) == known[low]:
                return low
        return 0

    async def _chain_hash(self, height: int) -> str | None:
        try:
            return await self._esplora.block_hash_at(height)
        except BlockNotFound:
            return None

    async def _disconnect(self, fork: int, chain_tip: int) -> None:
        """Undo blocks above ``fork``: their outputs go back to seen (a credited deposit's credit
        is held until it confirms again), their spends of custody outputs are undone."""
        async with transaction(self._sessions) as session:
            await _scan_lock(session)
            for row in await custody.confirmed_above(session, fork):
                if row.spent_height is not None and row.spent_height > fork:
                    row.spent_height, row.spent_txid = None, None
                    row.state = UtxoState.RESERVED if row.reserved_by else UtxoState.CONFIRMED
                if row.block_height is not None and row.block_height > fork and row.state != UtxoState.SPENT:
                    await self._books.follow(session, row, ChainView.MEMPOOL, tip_height=chain_tip)
            await custody.forget_blocks_above(session, fork)
        log.warning("custody scan: blocks above %d were orphaned", fork)

    async def _connect(self, height: int, chain_tip: int) -> int | None:
        """Apply the canonical block at ``height``: 1 if applied, 0 if another scanner did,
        None if it does not build on the cursor's block (the chain reorganised meanwhile)."""
        block_hash = await self._esplora.block_hash_at(height)
        block = parse_block(await self._esplora.block_raw(block_hash), self._network)
        async with transaction(self._sessions) as session:
            await _scan_lock(session)
            cursor = await custody.tip(session)
            if cursor is not None and cursor.height >= height:
                return 0  # another scanner applied it
            if cursor is not None and (cursor.height != height - 1 or block.previous_hash != cursor.block_hash):
                log.warning("custody scan: block %s at %d does not build on the cursor; stopping this run",
                            block_hash, height)
                return None
            outputs = [o for o in block.outputs if o.address is not None]
            watched = await custody.watched(session, [o.address for o in outputs if o.address])
            for o in outputs:
                if o.address in watched:
                    await self._books.sight(session, Sighting(o.outpoint, o.value_sats, o.address, height, block_hash),
                                            tip_height=chain_tip)
            await self._spend(session, block.spends, height)
            await custody.record_block(session, height=height, block_hash=block_hash, keep=KEEP_BLOCKS)
        return 1

    async def _spend(self, session: AsyncSession, spends, height: int) -> None:
        rows = await custody.get_many(session, [outpoint for outpoint, _ in spends], for_update=True)
        if not rows:
            return
        payouts = await custody.payout_txids(session, [r.reserved_by for r in rows.values()])  # every version's
        for outpoint, spender in spends:
            row = rows.get(outpoint)
            if row is None or row.state == UtxoState.SPENT:
                continue
            ours = row.reserved_by is not None and spender in payouts.get(row.reserved_by, ())
            row.state, row.spent_height, row.spent_txid, row.updated_at = UtxoState.SPENT, height, spender, utcnow()
            if not ours:
                raise_alert("custody_output_spent_outside_the_engine", "a custody output was spent by a transaction "
                            "the engine did not sign", outpoint=outpoint, spent_by=spender, sats=row.value_sats)

    # ---- outputs off a block ------------------------------------------------------------------
    async def _check_off_block(self, chain_tip: int) -> None:
        async with self._sessions() as session:
            rows = await custody.to_check(session, limit=CHECKS_PER_RUN)
        for candidate in rows:
            try:
                status = await self._esplora.transaction_status(candidate.txid)
                view = ChainView.CONFIRMED if status.confirmed else ChainView.MEMPOOL
                height, block_hash = status.block_height, status.block_hash
            except TxNotFound:
                view, height, block_hash = ChainView.MISSING, None, None
            async with transaction(self._sessions) as session:
                row = await custody.get(session, candidate.outpoint, for_update=True)
                if row is not None and row.state in (UtxoState.SEEN, UtxoState.VANISHED):
                    await self._books.follow(session, row, view, tip_height=chain_tip, block_height=height,
                                             block_hash=block_hash)

    # ---- pending receipts become deposits --------------------------------------------------------
    async def _detect(self) -> tuple[int, int]:
        minimum = self._settings.deposits.minimum_sats
        async with self._sessions() as session:
            users = (await session.execute(text(
                "SELECT DISTINCT substring(held_in from 18)::uuid FROM custody_utxos "
                "WHERE held_in LIKE 'pending_receipts:%' AND held_in <> 'istsi_backing' AND state = 'confirmed'"))).scalars().all()
        recorded = started = 0
        for user_id in users:
            for inp_ in await self._deposits_for(user_id, minimum):
                recorded += 1
                started += int(await start_deposit(activity.client(), inp_, task_queue=activity.info().task_queue) is not None)
        return recorded, started

    async def _deposits_for(self, user_id: uuid.UUID, minimum: int) -> list[t.DepositInput]:
        """Deposits for the user's confirmed pending receipts: one per output at or above the
        minimum; the smaller ones together once their sum reaches it."""
        created: list[t.DepositInput] = []
        async with transaction(self._sessions) as session:
            user = await session.get(User, user_id)
            if user is None or not user.stellar_address:
                return []  # waits until the owner can receive a mint (their pending receipts show it)
            rows = [r for r in await custody.pending_receipts_of(session, user_id, for_update=True)
                    if r.state == UtxoState.CONFIRMED]
            large = [r for r in rows if r.value_sats >= minimum]
            small = [r for r in rows if r.value_sats < minimum]
            groups = [[r] for r in large]
            if small and sum(r.value_sats for r in small) >= minimum:
                groups.append(small)
            for group in groups:
                inp_ = await self._record(session, user, group)
                if inp_ is not None:
                    created.append(inp_)
        return created

    async def _record(self, session: AsyncSession, user: User, group: list[CustodyUtxo]) -> t.DepositInput | None:
        last = group[-1]
        amount = sum(r.value_sats for r in group)
        meta_outpoints = [r.outpoint for r in group] if len(group) > 1 else None
        new = NewDeposit(
            user_id=user.id, txid=last.txid, vout=last.vout, amount_sats=amount,
            idempotency_key=deposit_idempotency_key(last.txid, last.vout),
            workflow_id=deposit_workflow_id(last.txid, last.vout),
            token_address=self._settings.soroban.contracts.istsi_token, stellar_address=user.stellar_address or "",
            source="detection", outpoints=meta_outpoints,
        )
        op = await operations.insert_deposit(session, new)
        if op is None:
            return None  # a concurrent POST recorded it first; its workflow claims the output
        await self._books.claim(session, op, group)
        record_audit(
            session, action="deposit.detected", resource_type="operation", resource_id=op.id,
            new_values={"outpoint": op.outpoint, "amount": op.amount, "source": "detection", "status": op.status,
                        "stage": op.stage, **({"outpoints": meta_outpoints} if meta_outpoints else {})},
        )
        return t.DepositInput(str(op.id), str(user.id), last.txid, last.vout, amount)

    async def _heal(self, grace: timedelta) -> int:
        cutoff = utcnow() - grace
        async with self._sessions() as session:
            stuck = [op for op in await operations.list_stuck_at(
                session, operation_type=OperationType.DEPOSIT, stage=OperationStage.RECEIVED, created_before=cutoff,
            ) if op.outpoint]
        started = 0
        for op in stuck:
            try:
                started += int(await start_deposit(
                    activity.client(), t.deposit_workflow_input(op), task_queue=activity.info().task_queue,
                ) is not None)
            except (InvalidOutpoint, ValueError) as exc:  # a row no retry can start must not stop the others
                log.error("deposit %s cannot be started (outpoint %r): %s", op.id, op.outpoint, exc)
        return started + await self._heal_withdrawals(cutoff) + await self._heal_kyc_records(cutoff)

    async def _heal_withdrawals(self, cutoff: datetime) -> int:
        """Start the workflow of a withdrawal recorded (its amount held) whose start failed after
        the API committed it: one sent without an ``Idempotency-Key`` has no retry to resume it."""
        async with self._sessions() as session:
            # Younger than Temporal's minimum namespace retention (1 day), so a run that closed
            # (an operator terminated it) is still on record and REJECT_DUPLICATE refuses a rerun.
            stuck = await operations.list_stuck_at(
                session, operation_type=OperationType.WITHDRAWAL, stage=OperationStage.RECEIVED,
                created_before=cutoff, created_after=utcnow() - HEAL_STARTS_WITHIN)
        started = 0
        for op in stuck:
            started += int(await start_withdrawal(
                activity.client(), withdrawal_workflow_input(op),
                task_queue=activity.info().task_queue, workflow_id=op.workflow_id) is not None)
        return started

    async def _heal_kyc_records(self, cutoff: datetime) -> int:
        """Start the approval workflow of a KYC submission whose start failed after the API
        committed it (Temporal down): without this it waits until its user submits again.

        Only submissions of the last :data:`HEAL_STARTS_WITHIN`: a record under review has a
        running workflow, and asking for it again is a no-op round trip to Temporal.
        """
        async with self._sessions() as session:
            pending = await kyc_q.list_pending_created_between(
                session, created_after=utcnow() - HEAL_STARTS_WITHIN, created_before=cutoff)
        started = 0
        for record in pending:
            inp = kyc_workflow_input(record, validity_days=self._settings.kyc.approval_validity_days)
            started += int(await start_kyc_approval(
                activity.client(), inp, task_queue=activity.info().task_queue, workflow_id=record.workflow_id,
            ) is not None)
        return started


async def _scan_lock(session: AsyncSession) -> None:
    """One scanner writes at a time (a schedule run and a test's run may overlap)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('custody-scan', 0))"))
