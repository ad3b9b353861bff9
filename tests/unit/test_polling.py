"""The poll back-off rule (domain/polling.py): doubles while nothing changes, capped, resets."""

import pytest

from domain.polling import BACKOFF_CAP_FACTOR, next_pause, unchanged_after


def test_a_change_polls_at_the_configured_interval() -> None:
    assert next_pause(30.0, 0) == 30.0


@pytest.mark.parametrize(("rounds", "factor"), [(1, 2), (2, 4), (3, 8), (4, 8), (10_000, 8)])
def test_unchanged_rounds_double_the_pause_up_to_the_cap(rounds: int, factor: int) -> None:
    assert next_pause(0.5, rounds) == 0.5 * factor


def test_the_cap_bounds_the_delay_before_a_change_is_seen() -> None:
    assert next_pause(30.0, 50) == 30.0 * BACKOFF_CAP_FACTOR == 240.0
    assert next_pause(1.0, 2, cap_factor=3) == 3.0
    assert next_pause(1.0, 5, cap_factor=1) == 1.0


@pytest.mark.parametrize(("poll", "rounds", "cap"), [(0, 0, 8), (-1.0, 0, 8), (1.0, -1, 8), (1.0, 0, 0)])
def test_nonsense_is_refused(poll: float, rounds: int, cap: int) -> None:
    with pytest.raises(ValueError):
        next_pause(poll, rounds, cap_factor=cap)


def test_unchanged_counts_rounds_in_a_row_and_resets_on_a_change() -> None:
    assert unchanged_after(None, ("queued", None), 0) == 0
    assert unchanged_after(("queued", None), ("queued", None), 0) == 1
    assert unchanged_after(("queued", None), ("queued", None), 4) == 5
    assert unchanged_after(("queued", None), ("signed", "p1"), 5) == 0
