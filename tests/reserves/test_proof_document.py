"""Signed proof documents and ``custody verify-proof``: a good file passes, any tamper fails."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import asdict

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from cli.main import app
from domain.merkle_sum import InclusionProof, build_tree
from domain.proof_document import ProofDocument, inclusion_to_json, public_key_hex, sign_document, verify_proof_file

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def proof_file() -> dict:
    entries = [(uuid.UUID(int=i + 1), bytes([i]) * 32, 1_000 * (i + 1)) for i in range(5)]
    tree = build_tree(entries)
    doc = ProofDocument(
        proof_id=str(uuid.UUID(int=99)), created_at="2026-01-01T00:00:00+00:00", btc_height=800_000,
        stellar_ledger=123, reserves_sats=16_000, supply_units=15_000, burned_unpaid_sats=0, liabilities_sats=15_000,
        tree_total_sats=tree.root.sum, leaf_count=5, tree_depth=len(tree.levels) - 1, root_hash=tree.root.hash.hex(),
        ratio_bps=10_666, public_key=public_key_hex(KEY),
    )
    user_id, salt, balance = entries[2]
    inclusion = InclusionProof(user_id, salt, balance, 2, tree.siblings(2))
    return {"proof": {**asdict(doc), "signature": sign_document(doc, KEY)}, "inclusion": inclusion_to_json(inclusion)}


def test_a_genuine_file_verifies() -> None:
    report = verify_proof_file(proof_file(), expected_public_key=public_key_hex(KEY))
    assert report.ok and report.checked == ["signature", "inclusion"]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["proof"].update(reserves_sats=17_000),
        lambda d: d["proof"].update(root_hash="00" + d["proof"]["root_hash"][2:]),
        lambda d: d["inclusion"].update(balance=d["inclusion"]["balance"] + 1),
        lambda d: d["inclusion"]["siblings"][0].update(sum=d["inclusion"]["siblings"][0]["sum"] + 1),
        lambda d: d["inclusion"].update(salt="ff" + d["inclusion"]["salt"][2:]),
        lambda d: d["proof"].update(signature="00" * 64),
    ],
    ids=["reserves", "root", "balance", "sibling-sum", "salt", "signature"],
)
def test_any_tamper_is_rejected(tamper) -> None:
    data = copy.deepcopy(proof_file())
    tamper(data)
    assert not verify_proof_file(data, expected_public_key=public_key_hex(KEY)).ok


def test_a_file_signed_by_another_key_is_rejected_when_the_key_is_pinned() -> None:
    other = Ed25519PrivateKey.generate()
    assert not verify_proof_file(proof_file(), expected_public_key=public_key_hex(other)).ok


def test_cli_accepts_the_genuine_file_and_rejects_a_tampered_one(tmp_path) -> None:
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    data = proof_file()
    good.write_text(json.dumps(data))
    data["proof"]["supply_units"] = 1
    bad.write_text(json.dumps(data))
    runner = CliRunner()
    ok = runner.invoke(app, ["verify-proof", str(good), "--public-key", public_key_hex(KEY)])
    assert ok.exit_code == 0, ok.output
    assert "OK proof" in ok.output
    failed = runner.invoke(app, ["verify-proof", str(bad), "--public-key", public_key_hex(KEY)])
    assert failed.exit_code == 1


def test_proof_key_prints_the_public_key_users_verify_against(monkeypatch) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("CUSTODY_RESERVES__SIGNING_KEY", bytes(range(32)).hex())
    shown = CliRunner().invoke(app, ["proof-key"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.strip() == public_key_hex(KEY)


def test_proof_key_with_a_bad_key_says_so_and_exits_2(monkeypatch) -> None:
    monkeypatch.setenv("APP_ENV", "test")
    monkeypatch.setenv("CUSTODY_RESERVES__SIGNING_KEY", "not hex")
    shown = CliRunner().invoke(app, ["proof-key"])
    assert shown.exit_code == 2 and "signing key" in shown.output, shown.output
