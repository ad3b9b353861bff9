"""``SandboxState``: the sandbox ledger — submission queue, ledger close, fault knobs.

All methods are thread-safe (one re-entrant lock), because the HTTP server, its ledger
clock and a test driving ``close_ledger()`` by hand may touch the state concurrently.
Every state change is persisted before the method returns.

Rules enforced, as Stellar Core does: admission checks (``txcheck``), one pending
transaction per source account (``TRY_AGAIN_LATER``), ``DUPLICATE`` for a hash already in
the queue, and at close: time bounds against the ledger close time (an expired queued
transaction is dropped, never included), fee charged and sequence consumed even when the
invocation fails, contract effects committed only on success.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stellar_sdk import StrKey, xdr

from custody_sandbox.soroban import friendbot, ledger_meta, xdrs
from custody_sandbox.soroban.execution import commit, execute
from custody_sandbox.soroban.host import LedgerInfo
from custody_sandbox.soroban.simulation import simulate
from custody_sandbox.soroban.store import (
    AccountRecord,
    ChainState,
    EventRecord,
    LedgerRecord,
    PendingTx,
    TxRecord,
    load_state,
    save_close,
    save_state,
)
from custody_sandbox.soroban.txcheck import TxView, check_admission


@dataclass
class Faults:
    """Fault knobs for tests. Rates are probabilities in [0, 1]."""

    try_again_later_rate: float = 0.0
    drop_response_rate: float = 0.0  # sendTransaction accepted, HTTP response lost
    inclusion_delay_ledgers: int = 0  # extra ledgers before a queued tx may be included
    unavailable: bool = False  # every JSON-RPC call answers HTTP 503


@dataclass(frozen=True)
class SendOutcome:
    status: str  # PENDING | DUPLICATE | TRY_AGAIN_LATER | ERROR
    hash: str
    error_result_xdr: str | None = None
    drop_response: bool = False


class SandboxState:
    """The sandbox chain over a state directory.

    Args:
        state_dir: directory holding ``chain.json`` (created on first start).
        network_passphrase: the network this sandbox is; envelopes are verified against it.
        clock: wall clock in unix seconds (tests may pass a fake one).
        seed: seed for the fault RNG, so fault sequences are reproducible.
    """

    def __init__(
        self,
        state_dir: Path,
        network_passphrase: str,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.time_offset_seconds = 0
        self._clock = clock
        self._rng = random.Random(seed)
        loaded = load_state(self.state_dir)
        if loaded is not None and loaded.network_passphrase != network_passphrase:
            raise ValueError("state dir belongs to another network passphrase")
        self.chain = loaded or self._genesis(network_passphrase)
        self.fresh = loaded is None

    # ---- ledger -----------------------------------------------------------------------
    def _now(self) -> int:
        return int(self._clock()) + self.time_offset_seconds

    def _genesis(self, passphrase: str) -> ChainState:
        chain = ChainState(network_passphrase=passphrase)
        tx_set_hash, result_hash = ledger_meta.set_hashes(bytes(32), [])
        header, digest = xdrs.ledger_header(1, self._now(), bytes(32), tx_set_hash, result_hash)
        chain.ledgers.append(LedgerRecord(1, self._now(), digest.hex(), header.to_xdr()))
        return chain

    def persist(self) -> None:
        """Write the snapshot (after a change other than a ledger closing empty)."""
        with self.lock:
            save_state(self.state_dir, self.chain)

    def next_ledger(self) -> LedgerInfo:
        """The ledger the next close would produce (used by simulation)."""
        latest = self.chain.latest
        # Non-decreasing (not strictly increasing) close times: the sandbox may close many
        # ledgers per second, and a drifting-ahead clock would expire fresh time bounds.
        return LedgerInfo(latest.sequence + 1, max(latest.close_time, self._now()))

    def close_ledger(self, classic: list[str] | None = None) -> LedgerRecord:
        """Close one ledger: the given classic friendbot funding first (destination strkeys),
        then every due queued Soroban transaction in arrival order."""
        with self.lock:
            info = self.next_ledger()
            queued = len(self.chain.pending)
            due, waiting = [], []
            for pending in self.chain.pending:
                tx = TxView.parse(pending.envelope_xdr, self.chain.network_passphrase)
                if tx.max_time and info.close_time > tx.max_time:
                    continue  # expired in the queue: dropped, never included (NOT_FOUND forever)
                (due if pending.include_at_ledger <= info.sequence else waiting).append(tx)
            self.chain.pending = [p for p in self.chain.pending if any(p.hash == w.hash for w in waiting)]
            applied: list[str] = []
            for destination in classic or []:
                applied.append(self._apply_funding(destination, info, len(applied) + 1))
            for tx in due:
                self._apply(tx, info, len(applied) + 1)
                applied.append(tx.hash)
            prev = bytes.fromhex(self.chain.latest.hash)
            records = [self.chain.txs[h] for h in applied]
            tx_set_hash, result_hash = ledger_meta.set_hashes(prev, records)
            header, digest = xdrs.ledger_header(info.sequence, info.close_time, prev, tx_set_hash, result_hash)
            record = LedgerRecord(info.sequence, info.close_time, digest.hex(), header.to_xdr(), applied)
            self.chain.ledgers.append(record)
            # A close changes the state beyond its ledger only by applying something or by dropping
            # from the queue; a new kind of change in here must widen ``changed`` too.
            save_close(self.state_dir, self.chain, changed=bool(applied) or len(self.chain.pending) != queued)
            return record

    def _apply_funding(self, destination: str, info: LedgerInfo, order: int) -> str:
        root = friendbot.root_keypair(self.chain.network_passphrase)
        if root.public_key not in self.chain.accounts:  # the root holds every lumen at genesis
            self.chain.accounts[root.public_key] = AccountRecord(xdrs.TOTAL_COINS_STROOPS, 0, 1)
        envelope = friendbot.build_create_account(
            root, self.chain.accounts[root.public_key].seq, destination, self.chain.network_passphrase
        )
        record = friendbot.apply_create_account(
            self.chain.accounts, envelope, destination, info.sequence, info.close_time, order
        )
        self.chain.txs[record.hash] = record
        return record.hash

    def _apply(self, tx: TxView, info: LedgerInfo, order: int) -> None:
        account = self.chain.accounts[tx.source]
        account.balance -= tx.fee  # the whole fee is charged; the sandbox makes no refunds
        account.seq = tx.sequence
        account.last_modified = info.sequence
        data = tx.envelope.transaction.soroban_data
        footprint = (
            {k.to_xdr() for k in data.resources.footprint.read_only},
            {k.to_xdr() for k in data.resources.footprint.read_write},
        )
        outcome = execute(self.chain, tx.invoke, tx.op_source, info, record_auth=False, footprint=footprint)
        diagnostics: list[xdr.DiagnosticEvent] = []
        if outcome.ok:
            commit(self.chain, outcome.host, info.sequence)
            events = outcome.host.events
            result = xdrs.invoke_result(tx.fee, xdrs.success_hash(outcome.return_value, events))
        else:
            events = []
            diagnostics = [xdrs.diagnostic_error_event(outcome.error.sc_error(), outcome.error.render())]
            result = xdrs.invoke_result(tx.fee, None)
        meta = xdrs.meta_v4(outcome.return_value if outcome.ok else None, events, diagnostics)
        self.chain.txs[tx.hash] = TxRecord(
            hash=tx.hash,
            status="SUCCESS" if outcome.ok else "FAILED",
            ledger=info.sequence,
            application_order=order,
            envelope_xdr=tx.envelope.to_xdr(),
            result_xdr=result.to_xdr(),
            result_meta_xdr=meta.to_xdr(),
            created_at=info.close_time,
            diagnostic_events_xdr=[d.to_xdr() for d in diagnostics],
            contract_events_xdr=[e.to_xdr() for e in events],
        )
        toid = (info.sequence << 32) | (order << 12)  # TOID: ledger, tx order, op index 0
        for index, event in enumerate(events):
            body = event.body.v0
            self.chain.events.append(
                EventRecord(
                    id=f"{toid:019d}-{index:010d}",
                    ledger=info.sequence,
                    closed_at=info.close_time,
                    contract_id=StrKey.encode_contract(event.contract_id.contract_id.hash),
                    tx_hash=tx.hash,
                    tx_index=order,
                    op_index=0,
                    topic=[t.to_xdr() for t in body.topics],
                    value=body.data.to_xdr(),
                )
            )

    # ---- submission -------------------------------------------------------------------
    def simulate(self, envelope_xdr: str, auth_mode: str | None, upgraded_auth: bool) -> dict:
        """Simulate ``envelope_xdr`` on the next ledger. Raises ValueError on bad XDR."""
        with self.lock:
            tx = TxView.parse(envelope_xdr, self.chain.network_passphrase)
            return simulate(self.chain, tx, self.next_ledger(), auth_mode=auth_mode, upgraded_auth=upgraded_auth)

    def send(self, envelope_xdr: str) -> SendOutcome:
        """Admit an envelope into the queue. Raises ValueError on bad XDR."""
        with self.lock:
            tx = TxView.parse(envelope_xdr, self.chain.network_passphrase)
            if any(p.hash == tx.hash for p in self.chain.pending):
                return SendOutcome("DUPLICATE", tx.hash)
            busy = any(p.source == tx.source for p in self.chain.pending)
            if busy or self._rng.random() < self.faults.try_again_later_rate:
                return SendOutcome("TRY_AGAIN_LATER", tx.hash)
            latest = self.chain.latest
            code = check_admission(tx, self.chain.accounts.get(tx.source), max(latest.close_time, self._now()))
            if code is not None:
                return SendOutcome("ERROR", tx.hash, xdrs.tx_error_result(code).to_xdr())
            include_at = latest.sequence + 1 + self.faults.inclusion_delay_ledgers
            self.chain.pending.append(PendingTx(tx.hash, tx.envelope.to_xdr(), tx.source, latest.sequence, include_at))
            self.persist()
            drop = self._rng.random() < self.faults.drop_response_rate
            return SendOutcome("PENDING", tx.hash, drop_response=drop)

    # ---- accounts ---------------------------------------------------------------------
    def fund(self, account_id: str) -> TxRecord | None:
        """Create an account with 10,000 XLM from the root account (friendbot), in a ledger closed
        now; returns the funding transaction's record, or None if the account already exists."""
        with self.lock:
            if account_id in self.chain.accounts:
                return None
            ledger = self.close_ledger(classic=[account_id])
            return self.chain.txs[ledger.tx_hashes[0]]

    def advance_time(self, seconds: int) -> None:
        """Move the ledger clock forward (tests of time bounds)."""
        with self.lock:
            self.time_offset_seconds += seconds
