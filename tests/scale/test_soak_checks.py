"""The soak's checks fail when they should: unsettled operations, a second mint, a missing mint, a
mint of the wrong amount, a second burn, and a channel account left bound, missing or with a
sequence number the network does not have are each reported (no stack needed)."""

from __future__ import annotations

from types import SimpleNamespace

from cli.soak_checks import _one_each, channel_problems, unsettled
from domain.check_report import CheckReport


def op(kind: str, status: str, stage: str | None = None, *, error: str | None = None, outpoint: str | None = None,
       amount: int = 100_000):
    return SimpleNamespace(id=f"{kind}-{status}-{outpoint}", operation_type=kind, status=status, stage=stage,
                           error=error, outpoint=outpoint, amount=amount)


def mint(txid: str, vout: int, amount: int):
    return SimpleNamespace(name="deposit", topics=["deposit", "GUSER", bytes.fromhex(txid)], value=[amount, vout, b"op"])


def burn(withdrawal_id: str):
    return SimpleNamespace(name="withdraw", topics=["withdraw", "GUSER", bytes.fromhex(withdrawal_id)],
                           value=[50_000, "bcrt1q"])


TX = "ab" * 32


def test_only_final_or_parked_with_a_reason_counts_as_settled() -> None:
    ops = [op("deposit", "completed"), op("withdrawal", "failed"), op("deposit", "cancelled"),
           op("deposit", "processing", "needs_attention", error="mint_failed"),
           op("deposit", "processing", "needs_attention"), op("withdrawal", "processing", "burning")]
    assert [o.split()[2] for o in unsettled(ops)] == ["processing/needs_attention", "processing/burning"]


def test_one_mint_per_completed_deposit_of_its_amount() -> None:
    deposit = op("deposit", "completed", outpoint=f"{TX}:1", amount=120_000)
    assert _one_each([deposit], [mint(TX, 1, 120_000)]) == []
    assert _one_each([deposit], [mint(TX, 1, 120_000), mint(TX, 1, 120_000)]) == [
        f"{TX}:1 minted 2 times", f"deposit {deposit.id} ({TX}:1) completed with 2 mints"]
    assert _one_each([deposit], [mint(TX, 0, 120_000)]) == [f"deposit {deposit.id} ({TX}:1) completed with 0 mints"]
    assert _one_each([deposit], [mint(TX, 1, 110_000)]) == [f"deposit {deposit.id} minted 110000 for 120000"]


def test_a_second_burn_or_a_completed_withdrawal_without_one_is_reported() -> None:
    wd = op("withdrawal", "completed")
    assert _one_each([wd], [burn("cd" * 32)]) == []
    assert _one_each([wd], [burn("cd" * 32), burn("cd" * 32)]) == [f"withdrawal id {'cd' * 32} burned 2 times"]
    assert _one_each([wd], []) == ["1 withdrawals completed but 0 burns on chain"]


def channel(key: str, sequence: int | None, *, bound_to: str | None = None):
    return SimpleNamespace(public_key=key, sequence=sequence, submission_key=bound_to,
                           tx_hash="ef" * 32 if bound_to else None, envelope_sequence=sequence + 1 if bound_to else None)


def test_a_channel_left_bound_or_out_of_step_with_the_network_is_reported() -> None:
    free = [channel("GA", 41), channel("GB", None)]  # None: untracked, reloaded at its next lease
    assert channel_problems(free, {"GA": 41, "GB": 7}, expected=2) == []

    bound = [channel("GA", 41, bound_to="soroban:deposit:mint:op-1"), channel("GB", None)]
    assert channel_problems(bound, {"GA": 41, "GB": 7}, expected=2) == [
        f"channel GA still bound to soroban:deposit:mint:op-1 ({'ef' * 32}, sequence 42)"]
    # A crash that lost the consumed sequence (tracked behind) or skipped one (ahead).
    assert channel_problems(free, {"GA": 42, "GB": 7}, expected=2) == [
        "channel GA tracked at sequence 41, the network's is 42"]
    assert channel_problems(free, {"GA": 40, "GB": 7}, expected=2) == [
        "channel GA tracked at sequence 41, the network's is 40"]
    assert channel_problems(free, {"GA": 41, "GB": None}, expected=2) == ["channel GB does not exist on the network"]
    assert channel_problems(free[:1], {"GA": 41}, expected=2) == ["1 soroban_channels rows for 2 configured channels"]


def test_results_name_every_failure() -> None:
    results = CheckReport()
    results.expect("fine", [])
    results.expect("broken", ["a", "b"])
    assert (results.ok, results.checked, results.problems) == (False, ["fine"], ["broken: a", "broken: b"])
