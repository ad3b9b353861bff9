"""tests/fixtures/waiting.py: ``eventually`` returns the first truthy value of its probe, retries a
probe's failing assertion, lets any other error through, and fails with what it saw last."""

from __future__ import annotations

import pytest

from tests.fixtures.waiting import eventually, eventually_blocking


def _counter(truthy_from: int):
    calls = []

    def probe() -> int | None:
        calls.append(1)
        return len(calls) if len(calls) >= truthy_from else None

    return probe, calls


async def test_returns_the_first_truthy_value_of_a_sync_probe() -> None:
    probe, calls = _counter(3)
    assert await eventually(probe, timeout=5, interval=0) == 3
    assert len(calls) == 3


async def test_awaits_an_async_probe() -> None:
    probe, _ = _counter(2)

    async def async_probe() -> int | None:
        return probe()

    assert await eventually(async_probe, timeout=5, interval=0) == 2


async def test_a_failing_assertion_means_not_yet() -> None:
    probe, _ = _counter(4)

    def asserting() -> str:
        assert probe(), "not there yet"
        return "there"

    assert await eventually(asserting, timeout=5, interval=0) == "there"


async def test_timeout_names_what_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the answer; last value: 0"):
        await eventually(lambda: 0, timeout=0.05, interval=0.01, what="the answer")


async def test_timeout_shows_the_last_assertion_and_a_lazy_description() -> None:
    seen = []

    def probe() -> None:
        seen.append(len(seen))
        raise AssertionError(f"poll {len(seen)}")

    with pytest.raises(AssertionError, match=r"waiting for seen \d+ polls; last assertion: poll \d+") as info:
        await eventually(probe, timeout=0.05, interval=0.01, what=lambda: f"seen {len(seen)} polls")
    assert isinstance(info.value.__cause__, AssertionError)
    assert len(seen) >= 2


async def test_other_errors_propagate_at_once() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        raise KeyError("broken")

    with pytest.raises(KeyError):
        await eventually(probe, timeout=5, interval=0)
    assert len(calls) == 1


async def test_the_probe_runs_once_even_with_no_time_left() -> None:
    assert await eventually(lambda: "now", timeout=0) == "now"


def test_the_blocking_twin_keeps_the_same_contract() -> None:
    probe, calls = _counter(2)
    assert eventually_blocking(probe, timeout=5, interval=0) == 2
    assert len(calls) == 2
    with pytest.raises(AssertionError, match="waiting for a server; last value: None"):
        eventually_blocking(lambda: None, timeout=0.02, interval=0.01, what="a server")


async def test_pytest_fail_in_a_probe_stops_at_once() -> None:
    calls = []

    def probe() -> None:
        calls.append(1)
        pytest.fail("an invariant broke")

    with pytest.raises(pytest.fail.Exception, match="an invariant broke"):
        await eventually(probe, timeout=5, interval=0)
    assert len(calls) == 1
