"""The signed proof-of-reserves document and its offline verification.

A proof document is a flat JSON object of integers and strings (:class:`ProofDocument`).
Its canonical bytes are ``json.dumps(fields, sort_keys=True, separators=(",", ":"),
ensure_ascii=True)`` — the RFC 8785 (JCS) form for objects holding only integers and ASCII
strings. ``proof_hash = SHA256(canonical bytes)`` is what ``reserve_manager.publish_proof``
records on chain, and ``signature`` is Ed25519 (RFC 8032) over the same canonical bytes by
the engine's proof-signing key, whose raw 32-byte public key is ``public_key`` (hex).

The file ``GET /api/reserves/proof`` returns and ``custody verify-proof`` reads::

    {"proof": {<document fields>, "signature": "<hex>"},
     "inclusion": {"user_id", "salt", "balance", "position", "siblings": [{"hash", "sum"}]} | null}
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import asdict, dataclass, fields
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from domain.check_report import CheckReport
from domain.merkle_sum import InclusionProof, Node, verify_inclusion

DOCUMENT_VERSION = 2


@dataclass(frozen=True)
class ProofDocument:
    """Everything a proof asserts. Amounts in satoshis, heights in blocks, ledger a Stellar sequence.

    ``reserves_sats``: custody outputs confirmed at ``btc_height`` (the custody UTXO set, the
    height's block cross-checked against the chain). ``liabilities_sats`` = iSTSi in issue
    (``supply_units``) + burned-but-unpaid withdrawals, both from the books at the journal
    position ``journal_seq`` (highest transfer) / ``journal_transfers`` (their count);
    ``tree_total_sats`` is the root sum of the per-holder tree built from the same snapshot.
    ``ratio_bps`` is reserves / liabilities (-1 when liabilities are 0).
    """

    proof_id: str
    created_at: str
    btc_height: int
    stellar_ledger: int
    reserves_sats: int
    supply_units: int
    burned_unpaid_sats: int
    liabilities_sats: int
    tree_total_sats: int
    leaf_count: int
    tree_depth: int
    root_hash: str
    ratio_bps: int
    public_key: str
    journal_seq: int = 0
    journal_transfers: int = 0
    version: int = DOCUMENT_VERSION

    def canonical_bytes(self) -> bytes:
        return canonical_json(asdict(self))

    def proof_hash(self) -> bytes:
        """SHA-256 of the canonical bytes (32 bytes), the value published on chain."""
        return hashlib.sha256(self.canonical_bytes()).digest()


def canonical_json(obj: dict[str, Any]) -> bytes:
    """Canonical bytes of a flat object of ints and strings. Raises TypeError for anything else."""
    for key, value in obj.items():
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"{key}: only integers and strings are canonical here")
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def public_key_hex(key: Ed25519PrivateKey) -> str:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign_document(doc: ProofDocument, key: Ed25519PrivateKey) -> str:
    """Ed25519 signature (hex) of the canonical bytes. Raises ValueError when ``doc.public_key``
    is not ``key``'s, so a document never names a key that did not sign it."""
    if doc.public_key != public_key_hex(key):
        raise ValueError("document names another public key")
    return key.sign(doc.canonical_bytes()).hex()


def _document(raw: dict[str, Any]) -> ProofDocument:
    names = {f.name for f in fields(ProofDocument)}
    optional = {"journal_seq", "journal_transfers"}  # absent from version 1 documents
    missing = names - raw.keys() - optional
    if missing:
        raise ValueError(f"proof lacks {sorted(missing)}")
    extra = set(raw) - names - {"signature"}
    if extra:
        raise ValueError(f"proof has unknown fields {sorted(extra)}")
    return ProofDocument(**{k: raw[k] for k in names if k in raw})


def inclusion_from_json(raw: dict[str, Any]) -> InclusionProof:
    """Parse the ``inclusion`` object. Raises ValueError/KeyError/TypeError when malformed."""
    return InclusionProof(
        user_id=uuid.UUID(raw["user_id"]),
        salt=bytes.fromhex(raw["salt"]),
        balance=int(raw["balance"]),
        position=int(raw["position"]),
        siblings=tuple(Node(bytes.fromhex(s["hash"]), int(s["sum"])) for s in raw["siblings"]),
    )


def inclusion_to_json(proof: InclusionProof) -> dict[str, Any]:
    return {
        "user_id": str(proof.user_id),
        "salt": proof.salt.hex(),
        "balance": proof.balance,
        "position": proof.position,
        "siblings": [{"hash": s.hash.hex(), "sum": s.sum} for s in proof.siblings],
    }


def _check_signature(doc: ProofDocument, signature_hex: str, expected_key: str | None, report: CheckReport) -> None:
    if expected_key is not None and expected_key.lower() != doc.public_key.lower():
        report.problems.append("signed by another key than the expected engine key")
        return
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(doc.public_key)).verify(
            bytes.fromhex(signature_hex), doc.canonical_bytes()
        )
        report.checked.append("signature")
    except (InvalidSignature, ValueError):
        report.problems.append("signature does not verify")


def verify_proof_file(data: dict[str, Any], *, expected_public_key: str | None = None) -> CheckReport:
    """Check a proof file offline: signature, internal arithmetic and (if present) the inclusion proof.

    Args:
        data: the parsed file (module docstring).
        expected_public_key: the engine's published key (hex); without it the signature only
            proves the document was not altered after signing by whoever holds ``public_key``.

    Returns:
        A report; nothing raises for a bad file.
    """
    report = CheckReport()
    try:
        raw = data["proof"]
        doc = _document(raw)
        signature = raw["signature"]
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"malformed proof: {exc}")
        return report
    _check_signature(doc, signature, expected_public_key, report)
    if doc.liabilities_sats != doc.supply_units + doc.burned_unpaid_sats:
        report.problems.append("liabilities are not supply + burned-unpaid withdrawals")
    if doc.version >= 2 and doc.tree_total_sats != doc.liabilities_sats:
        report.problems.append("the liability tree does not sum to the liabilities")
    expected_ratio = doc.reserves_sats * 10_000 // doc.liabilities_sats if doc.liabilities_sats else -1
    if doc.ratio_bps != expected_ratio:
        report.problems.append("ratio_bps does not match reserves / liabilities")
    inclusion = data.get("inclusion")
    if inclusion is not None:
        try:
            proof = inclusion_from_json(inclusion)
        except (KeyError, TypeError, ValueError) as exc:
            report.problems.append(f"malformed inclusion proof: {exc}")
            return report
        try:
            root_hash = bytes.fromhex(doc.root_hash)
        except ValueError:
            root_hash = b""
        if len(proof.siblings) != doc.tree_depth:
            report.problems.append("inclusion proof depth differs from the tree's")
        elif not verify_inclusion(proof, root_hash=root_hash, root_sum=doc.tree_total_sats):
            report.problems.append("inclusion proof does not lead to the root and total")
        else:
            report.checked.append("inclusion")
    return report
