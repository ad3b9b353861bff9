"""``custody verify-proof FILE``: check a proof-of-reserves file offline (signature included)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from domain.proof_document import verify_proof_file


def verify_proof(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="JSON from GET /api/reserves/proof"),
    public_key: str | None = typer.Option(
        None, "--public-key", help="The engine's published Ed25519 key (hex); strongly recommended."
    ),
) -> None:
    """Verify the signature, the figures and your inclusion proof; exit 1 on any problem."""
    try:
        data = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"cannot read {file.name}: {exc}", err=True)
        raise typer.Exit(1) from None
    report = verify_proof_file(data, expected_public_key=public_key)
    if public_key is None:
        typer.echo("warning: no --public-key given; the signature is checked against the key inside the file", err=True)
    for problem in report.problems:
        typer.echo(f"FAIL {problem}", err=True)
    if not report.ok:
        raise typer.Exit(1)
    proof = data["proof"]
    typer.echo(f"OK proof {proof['proof_id']}: checked {', '.join(report.checked) or 'figures'}; "
               f"reserves {proof['reserves_sats']} sats, liabilities {proof['liabilities_sats']} sats, "
               f"ratio {proof['ratio_bps']} bps")
