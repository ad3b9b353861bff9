"""The soak's checks fail when they should: unsettled operations, a second mint, a missing mint, a
mint of the wrong amount and a second burn are each reported (no stack needed)."""

from __future__ import annotations

from types import SimpleNamespace

from cli.soak_checks import CheckResults, _one_each, unsettled


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


def test_results_name_every_failure() -> None:
    results = CheckResults()
    results.expect("fine", [])
    results.expect("broken", ["a", "b"])
    assert (results.ok, results.passed, results.failed) == (False, ["fine"], ["broken: a", "broken: b"])
