"""The Soroban sandbox's persistence: a snapshot written on changes and an append-only ledger
journal (custody_sandbox/soroban/store.py), across the crashes a kill can leave behind."""

from __future__ import annotations

import json
from pathlib import Path

from custody_sandbox.soroban.store import (
    LEDGERS_FILE,
    STATE_FILE,
    AccountRecord,
    ChainState,
    LedgerRecord,
    load_state,
    save_close,
    save_state,
)


def _chain(ledgers: int) -> ChainState:
    chain = ChainState(network_passphrase="Standalone Network ; February 2017")
    chain.ledgers = [LedgerRecord(n, 1_000 + n, f"{n:064x}") for n in range(1, ledgers + 1)]
    return chain


def _close(chain: ChainState) -> None:
    n = chain.latest.sequence + 1
    chain.ledgers.append(LedgerRecord(n, 1_000 + n, f"{n:064x}"))


def test_empty_closes_only_append_to_the_journal(tmp_path: Path) -> None:
    chain = _chain(1)
    save_state(tmp_path, chain)
    snapshot = (tmp_path / STATE_FILE).read_text()
    for _ in range(5):
        _close(chain)
        save_close(tmp_path, chain, changed=False)
    assert (tmp_path / STATE_FILE).read_text() == snapshot  # not rewritten
    assert len((tmp_path / LEDGERS_FILE).read_text().splitlines()) == 6
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [1, 2, 3, 4, 5, 6]


def test_a_changing_close_writes_the_snapshot_with_its_tip(tmp_path: Path) -> None:
    chain = _chain(3)
    save_state(tmp_path, chain)
    chain.accounts["GA"] = AccountRecord(10, 1, 4)
    _close(chain)
    save_close(tmp_path, chain, changed=True)
    raw = json.loads((tmp_path / STATE_FILE).read_text())
    assert "ledgers" not in raw and raw["tip"]["sequence"] == 4 and raw["accounts"]["GA"]["balance"] == 10
    loaded = load_state(tmp_path)
    assert loaded is not None and loaded.latest.sequence == 4 and loaded.accounts["GA"].seq == 1


def test_a_crash_between_the_snapshot_and_the_journal_line_keeps_the_ledger(tmp_path: Path) -> None:
    chain = _chain(3)
    save_state(tmp_path, chain)
    _close(chain)
    save_state(tmp_path, chain)  # the snapshot of the close, and then the process died
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [1, 2, 3, 4]


def test_a_torn_last_journal_line_is_dropped(tmp_path: Path) -> None:
    chain = _chain(3)
    save_state(tmp_path, chain)
    with open(tmp_path / LEDGERS_FILE, "a") as journal:
        journal.write('{"sequence": 4, "close_ti')
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [1, 2, 3]
    _close(loaded)
    save_close(tmp_path, loaded, changed=False)  # the load rewrote the journal clean: this line is whole
    again = load_state(tmp_path)
    assert again is not None and [r.sequence for r in again.ledgers] == [1, 2, 3, 4]


def test_the_one_file_format_still_loads_and_moves_to_the_journal(tmp_path: Path) -> None:
    chain = _chain(2)
    old = {**chain.to_json(), "ledgers": [{"sequence": r.sequence, "close_time": r.close_time, "hash": r.hash}
                                          for r in chain.ledgers]}
    del old["tip"]
    (tmp_path / STATE_FILE).write_text(json.dumps(old))
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [1, 2]
    _close(loaded)
    save_close(tmp_path, loaded, changed=False)
    again = load_state(tmp_path)
    assert again is not None and [r.sequence for r in again.ledgers] == [1, 2, 3]


def test_a_journal_left_without_its_snapshot_is_not_reused_by_a_new_chain(tmp_path: Path) -> None:
    save_state(tmp_path, _chain(3))
    (tmp_path / STATE_FILE).unlink()  # a reset, or a crash inside the first save
    assert load_state(tmp_path) is None
    fresh = _chain(1)
    _close(fresh)
    save_close(tmp_path, fresh, changed=True)
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [1, 2]


def test_a_journal_several_lines_behind_the_snapshot_leaves_no_gap(tmp_path: Path) -> None:
    chain = _chain(3)
    save_state(tmp_path, chain)
    for _ in range(3):
        _close(chain)
    save_state(tmp_path, chain)  # tip 6, while the journal ends at 3 (its appends were lost)
    loaded = load_state(tmp_path)
    assert loaded is not None and [r.sequence for r in loaded.ledgers] == [6]
