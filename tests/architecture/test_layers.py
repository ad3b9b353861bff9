"""The layering check itself (tests/architecture/layers.py, run by ``make layers``): it finds the
imports a row forbids wherever they are written, lets through what a row allows, keeps its table
in step with docs/DESIGN.md §2, and lists no exception for api/, activities/ or db/.

The tree itself passes it: ``make check`` runs it in CI before the suite, and
:func:`test_the_tree_keeps_the_layers` here."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.architecture import layers
from tests.architecture.layers import EXCEPTIONS, LAYERS, UNCHECKED, Layer, Violation, imported_modules

ROOT = Path(__file__).resolve().parents[2]

TABLE = (
    Layer("db", "db", frozenset({"config"})),
    Layer("api", "api", frozenset({"services", "db.session"})),
    Layer("services", "services", frozenset({"db"})),
    Layer("config", "config", frozenset()),
)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def _found(root: Path) -> set[tuple[str, int, str, str]]:
    return {(v.path, v.line, v.importer, v.imported) for v in layers.violations(root, TABLE)}


def test_forbidden_imports_are_found_wherever_they_are_written(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "db/__init__.py": "",
        "db/models.py": "",
        "db/session.py": "",
        "services/__init__.py": "",
        "api/__init__.py": "",
        "api/routers/__init__.py": "",
        "api/routers/reads.py": (
            "from typing import TYPE_CHECKING\n"
            "from db.models import User\n"                 # 2: a db module other than the session
            "if TYPE_CHECKING:\n"
            "    import db.models\n"                       # 4: annotations are dependencies too
            "def late():\n"
            "    from db import models\n"                  # 6: a late import is still an import
            "    return models\n"
        ),
        "config/__init__.py": "from services import x\n",  # 1: a row with nothing of ours
    })
    assert _found(root) == {
        ("api/routers/reads.py", 2, "api.routers.reads", "db.models"),
        ("api/routers/reads.py", 4, "api.routers.reads", "db.models"),
        ("api/routers/reads.py", 6, "api.routers.reads", "db.models"),
        ("config/__init__.py", 1, "config", "services"),
    }


def test_allowed_imports_pass(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "db/__init__.py": "from config import settings\n",
        "db/session.py": "import sqlalchemy\n",            # third-party: not this table's business
        "api/__init__.py": "",
        "api/deps.py": (
            "from db.session import transaction\n"         # the one db module api/ may use
            "from db import session\n"                     # the same module, spelled as a name
            "import db.session\n"
            "from services.deposits import record\n"
            "from api.errors import ApiError\n"            # its own package
            "from . import errors\n"
            "from .errors import ApiError as E\n"
        ),
        "api/errors.py": "",
        "services/__init__.py": "",
        "services/deposits.py": "from db.queries import operations\n",
        "config/__init__.py": "",
    })
    assert _found(root) == set()


def test_relative_imports_resolve_against_the_importer() -> None:
    tree = ast.parse("from ..db import models\nfrom . import sibling\nfrom .. import x\n")
    found = list(imported_modules(tree, "api.routers.deep", is_package=False,
                                  is_module=lambda name: name == "api.routers.sibling"))
    assert found == [(1, "api.db"), (2, "api.routers.sibling"), (3, "api")]
    in_package = list(imported_modules(ast.parse("from . import y\n"), "api.routers", is_package=True))
    assert in_package == [(1, "api.routers")]


def test_a_name_imported_from_a_package_is_judged_by_the_module_that_defines_it(tmp_path: Path) -> None:
    root = _tree(tmp_path, {
        "db/__init__.py": "def transaction(): ...\n",
        "db/session.py": "",
        "api/__init__.py": "",
        "api/a.py": "from db import session, transaction\n",  # db.session is allowed, db itself is not
    })
    assert _found(root) == {("api/a.py", 1, "api.a", "db")}


def test_a_package_without_a_row_is_reported(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"api/__init__.py": "", "gateway/__init__.py": "", "scripts/run.py": ""})
    assert layers.unlisted_packages(root, TABLE) == ["gateway"]


def test_every_package_of_the_repository_has_a_row() -> None:
    assert layers.unlisted_packages() == []


def test_the_report_names_importer_and_imported_and_counts_per_folder_pair() -> None:
    found = [Violation("api/a.py", 3, "api.a", "workflows.deposit"), Violation("api/b.py", 1, "api.b", "workflows.kyc")]
    text = layers.report(found, ["gateway"])
    assert "api/a.py:3  api.a → workflows.deposit" in text.splitlines()
    assert "   2  api → workflows" in text.splitlines()
    assert "package gateway/ has no row" in text
    assert text.splitlines()[-1] == "2 import(s) break docs/DESIGN.md §2"
    assert layers.report([], []) == "layers: every import follows docs/DESIGN.md §2"


def test_no_exception_for_api_activities_or_db() -> None:
    assert not [module for module, _ in EXCEPTIONS if module.split(".")[0] in {"api", "activities", "db"}]
    assert all(reason for reason in EXCEPTIONS.values())


def test_the_table_matches_design_section_2() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    section = design.split("\n## 2.", 1)[1].split("\n## 3.", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+)/` \|", section, re.MULTILINE)
    assert set(rows) == {layer.path.split("/")[0] for layer in LAYERS} | set(UNCHECKED)
    assert len(rows) == len(set(rows))


def test_the_scan_of_the_repository_judges_only_imports_across_folders() -> None:
    found = layers.violations()
    assert all(v.importer.split(".")[0] != v.imported.split(".")[0] for v in found)
    assert all((ROOT / v.path).is_file() for v in found)


def test_the_tree_keeps_the_layers() -> None:
    found = layers.violations()
    assert not found, "\n".join(f"{v.path}:{v.line}  {v.importer} → {v.imported}" for v in found)
    assert not layers.unlisted_packages()
