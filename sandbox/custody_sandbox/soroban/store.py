"""The sandbox's chain state and its persistence as one JSON file under the state dir.

Everything a restart needs lives here: ledgers, accounts, contract data, used auth nonces,
the pending queue, applied transactions and their events. The file is rewritten atomically
(temp file + rename) after every change, so a crash leaves the previous consistent copy.
Amounts are stroops (XLM) for accounts; contract values are base64 SCVal XDR.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_FILE = "chain.json"


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
        out = asdict(self)
        out["nonces"] = sorted(self.nonces)
        return out

    @classmethod
    def from_json(cls, raw: dict) -> ChainState:
        return cls(
            network_passphrase=raw["network_passphrase"],
            operator=raw.get("operator", ""),
            ledgers=[LedgerRecord(**r) for r in raw["ledgers"]],
            accounts={k: AccountRecord(**v) for k, v in raw["accounts"].items()},
            contracts=dict(raw["contracts"]),
            data={k: DataRecord(**v) for k, v in raw["data"].items()},
            nonces=set(raw["nonces"]),
            pending=[PendingTx(**p) for p in raw["pending"]],
            txs={k: TxRecord(**v) for k, v in raw["txs"].items()},
            events=[EventRecord(**e) for e in raw["events"]],
        )


def load_state(state_dir: Path) -> ChainState | None:
    """Load the persisted chain, or None on first start."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return None
    return ChainState.from_json(json.loads(path.read_text()))


def save_state(state_dir: Path, state: ChainState) -> None:
    """Atomically persist ``state``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_json(), separators=(",", ":")))
    os.replace(tmp, path)
