"""Every document the code and README cite ships with the repository (issue 14): citations name a
repository path (``docs/CONTRACTS.md``, ``docs/DESIGN.md §N``), and that path exists."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CITED = re.compile(r"\bdocs/[A-Za-z_]+\.md\b")
BARE = re.compile(r"(?<![/\w])(?:CONTRACTS\.md|DESIGN §|seed\.md)")
SECTION = re.compile(r"docs/DESIGN\.md §(\d+)")


def _tracked() -> list[Path]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    own = Path(__file__).resolve().relative_to(ROOT).as_posix()
    return [ROOT / f for f in out.split()
            if f.endswith((".py", ".md", ".yaml", ".toml")) and not f.startswith("docs/") and f != own]


def test_cited_documents_exist_and_no_citation_points_outside_the_repository() -> None:
    sections = {int(n) for n in re.findall(r"^## (\d+)\.", (ROOT / "docs/DESIGN.md").read_text(), re.MULTILINE)}
    missing, bare, bad_sections = set(), [], []
    for path in _tracked():
        text = path.read_text(encoding="utf-8", errors="replace")
        missing |= {c for c in CITED.findall(text) if not (ROOT / c).is_file()}
        bare += [f"{path.relative_to(ROOT)}: {m}" for m in BARE.findall(text)]
        bad_sections += [f"{path.relative_to(ROOT)}: §{n}" for n in SECTION.findall(text) if int(n) not in sections]
    assert not missing, missing
    assert not bare, bare
    assert not bad_sections, bad_sections
