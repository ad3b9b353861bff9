"""The sandbox's chain state and its persistence under the state dir.

Everything a restart needs lives here: ledgers, accounts, contract data, used auth nonces,
the pending queue, applied transactions and their events. Two files:

* ``chain.json``, a snapshot of everything but the ledger history (plus the latest ledger, its
  ``tip``), rewritten atomically (temp file + rename) whenever a transaction, a funding or the
  queue changed the state, so a crash leaves the previous consistent copy;
* ``ledgers.jsonl``, the ledger history, one JSON line appended per closed ledger. A ledger
  closes every 50 ms in the tests; rewriting the whole history each time cost O(history) per
  close and, over a test session with several sandboxes, most of the suite's CPU.

On load the journal gives the history; a torn last line (a crash mid-append) is dropped, and a
snapshot whose tip is newer than the journal (a crash between the two writes) supplies it.
Snapshots of the one-file format (with ``ledgers``) still load.
Amounts are stroops (XLM) for accounts; contract values are base64 SCVal XDR.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from custody_sandbox.state_files import set_aside, write_atomically

STATE_FILE = "chain.json"
LEDGERS_FILE = "ledgers.jsonl"


@dataclass
class AccountRecord:
    balance: int  # stroops
    seq: int
    last_modified: int  # ledger sequence


@dataclass
class LedgerRecord:
    sequence: int
    close_time: int  # unix seconds
    hash: str  # hex
    header_xdr: str = ""  # base64 LedgerHeaderHistoryEntry
    tx_hashes: list[str] = field(default_factory=list)  # applied transactions, in apply order


@dataclass
class DataRecord:
    contract: str
    key: str  # base64 SCVal (the storage key)
    val: str  # base64 SCVal
    last_modified: int


@dataclass
class PendingTx:
    hash: str
    envelope_xdr: str
    source: str
    received_ledger: int
    include_at_ledger: int  # first ledger that may include it (delayed inclusion fault)


@dataclass
class TxRecord:
    hash: str
    status: str  # SUCCESS | FAILED
    ledger: int
    application_order: int
    envelope_xdr: str
    result_xdr: str
    result_meta_xdr: str
    created_at: int  # ledger close time, unix seconds
    diagnostic_events_xdr: list[str] = field(default_factory=list)
    contract_events_xdr: list[str] = field(default_factory=list)
    soroban: bool = True  # False for classic transactions (the friendbot's CreateAccount)


@dataclass
class EventRecord:
    id: str
    ledger: int
    closed_at: int
    contract_id: str
    tx_hash: str
    tx_index: int
    op_index: int
    topic: list[str]
    value: str


@dataclass
class ChainState:
    network_passphrase: str
    operator: str = ""  # G… of the bootstrap operator (public key only)
    ledgers: list[LedgerRecord] = field(default_factory=list)
    accounts: dict[str, AccountRecord] = field(default_factory=dict)
    contracts: dict[str, str] = field(default_factory=dict)  # C… -> docs/CONTRACTS.md name
    data: dict[str, DataRecord] = field(default_factory=dict)  # ledger key b64 -> record
    nonces: set[str] = field(default_factory=set)  # "G…:nonce"
    pending: list[PendingTx] = field(default_factory=list)
    txs: dict[str, TxRecord] = field(default_factory=dict)
    events: list[EventRecord] = field(default_factory=list)

    @property
    def latest(self) -> LedgerRecord:
        return self.ledgers[-1]

    def to_json(self) -> dict:
        """The snapshot: everything but the ledger history, plus the latest ledger (``tip``)."""
        out = asdict(replace(self, ledgers=[]))
        del out["ledgers"]
        out["tip"] = asdict(self.latest) if self.ledgers else None
        out["nonces"] = sorted(self.nonces)
        return out

    @classmethod
    def from_json(cls, raw: dict, ledgers: list[LedgerRecord] | None = None) -> ChainState:
        """A state from its snapshot and its ledger history (None: the snapshot's own, older format)."""
        history = ledgers if ledgers is not None else [LedgerRecord(**r) for r in raw.get("ledgers", [])]
        tip = raw.get("tip")
        if tip is not None and (not history or tip["sequence"] > history[-1].sequence):
            if history and tip["sequence"] != history[-1].sequence + 1:
                history = []  # the journal lost more than one line: keep a gapless history (from the tip)
            history.append(LedgerRecord(**tip))
        return cls(
            network_passphrase=raw["network_passphrase"],
            operator=raw.get("operator", ""),
            ledgers=history,
            accounts={k: AccountRecord(**v) for k, v in raw["accounts"].items()},
            contracts=dict(raw["contracts"]),
            data={k: DataRecord(**v) for k, v in raw["data"].items()},
            nonces=set(raw["nonces"]),
            pending=[PendingTx(**p) for p in raw["pending"]],
            txs={k: TxRecord(**v) for k, v in raw["txs"].items()},
            events=[EventRecord(**e) for e in raw["events"]],
        )


def _read_ledgers(path: Path) -> list[LedgerRecord] | None:
    """The journal's ledgers in order (None: no journal). A torn line (a crash mid-append) or a
    repeated one is skipped, and the journal is then rewritten clean so later lines stay whole."""
    if not path.exists():
        return None
    ledgers: list[LedgerRecord] = []
    text = path.read_text()
    for line in text.splitlines():
        try:
            record = LedgerRecord(**json.loads(line))
        except (ValueError, TypeError):
            continue
        if not ledgers or record.sequence == ledgers[-1].sequence + 1:
            ledgers.append(record)
    if text and (len(ledgers) != text.count("\n") or not text.endswith("\n")):
        write_atomically(path, "".join(_ledger_line(r) for r in ledgers))
    return ledgers


def load_state(state_dir: Path) -> ChainState | None:
    """Load the persisted chain, or None on first start (a journal without its snapshot, from a
    crash inside the first save or a reset that deleted ``chain.json``, is set aside: a new chain
    must not append to an old one's history)."""
    path = state_dir / STATE_FILE
    if not path.exists():
        journal = state_dir / LEDGERS_FILE
        if journal.exists():
            set_aside(journal)
        return None
    return ChainState.from_json(json.loads(path.read_text()), _read_ledgers(state_dir / LEDGERS_FILE))


def save_state(state_dir: Path, state: ChainState) -> None:
    """Atomically persist the snapshot of ``state`` (the journal is appended by :func:`save_close`;
    the first save, or one of a state loaded from the one-file format, writes it whole)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    journal = state_dir / LEDGERS_FILE
    if not journal.exists():
        write_atomically(journal, "".join(_ledger_line(r) for r in state.ledgers))
    write_atomically(state_dir / STATE_FILE, json.dumps(state.to_json(), separators=(",", ":")))


def save_close(state_dir: Path, state: ChainState, *, changed: bool) -> None:
    """Persist the ledger ``state`` just closed: the snapshot first when the close ``changed``
    more than the history (its tip covers a crash before the journal line), then the journal line."""
    journal = state_dir / LEDGERS_FILE
    if not journal.exists():
        save_state(state_dir, state)  # the first write: the whole history, the new ledger included
        return
    if changed:
        save_state(state_dir, state)
    with open(journal, "a") as out:
        out.write(_ledger_line(state.latest))


def _ledger_line(record: LedgerRecord) -> str:
    return json.dumps(asdict(record), separators=(",", ":")) + "\n"
