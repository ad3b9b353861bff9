"""The layering check: docs/DESIGN.md §2's "may import" table as data, and a scan of every import
(module level, inside functions and under ``TYPE_CHECKING`` alike) that lists each one breaking it.

Run ``make layers`` (or ``python tests/architecture/layers.py``): it prints one line per violation,
``path:line  importer → imported``, then a count per pair of folders, and exits 1 when there is
any. Only the engine's own packages are checked; third-party imports are not this table's business.
The module needs nothing but the standard library, so it runs without the project installed.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layer:
    """One row of the table: the top-level ``package`` (found in the folder ``path`` relative to the
    repository root) may import its own modules and those under the prefixes in ``may_import``
    (``"db"`` allows ``db`` and every ``db.*``; ``"db.session"`` allows only that module)."""

    package: str
    path: str
    may_import: frozenset[str]


def _layer(package: str, *may_import: str, path: str | None = None) -> Layer:
    return Layer(package, path or package, frozenset(may_import))


# docs/DESIGN.md §2, row by row (keep the two in step: tests/architecture/test_layers.py compares
# the folders). The reasons are in the table's third column.
LAYERS: tuple[Layer, ...] = (
    _layer("config"),
    _layer("domain", "config"),
    _layer("db", "config", "domain"),
    _layer("chains", "config", "domain"),
    _layer("contracts", "domain", "config"),
    _layer("activities", "db", "domain", "chains", "config", "contracts"),
    _layer("workflows", "domain", "contracts"),
    _layer("workers", "workflows", "activities", "contracts", "config", "db", "chains", "domain"),
    _layer("services", "db", "domain", "config", "contracts", "chains"),
    _layer("api", "services", "domain", "config", "contracts", "db"),
    _layer("cli", "config", "db", "domain", "chains", "contracts", "activities", "workflows", "workers",
           "services", "api", "custody_sandbox"),
    _layer("custody_sandbox", "chains.soroban.error_codes", path="sandbox/custody_sandbox"),
)

# Folders of ours that may import everything and are not scanned: the test suite and the benchmarks
# (which reuse the test fixtures).
UNCHECKED: dict[str, str] = {"tests": "tests", "bench": "bench"}

# Single modules allowed one import the table does not give their folder, each with its reason. Never
# add one for api/, activities/ or db/ (issue 18's acceptance; test_layers.py enforces it).
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("config.validation", "chains.bitcoin.setup"):
        "the start-up check of the settings derives the custody descriptor's problems (late import)",
    ("config.validation", "chains.soroban.setup"):
        "the start-up check of the settings loads the channel keys (late import)",
    ("config.validation", "domain.withdrawals"):
        "the start-up check of the settings compares the withdrawal minimum with its floor (late import)",
}

SKIPPED_DIRS = {"__pycache__", ".venv", "node_modules", "versions"}  # versions: alembic's frozen migrations


@dataclass(frozen=True)
class Violation:
    """``importer`` (a module of ``path``, line ``line``) imports ``imported``, which its layer may not."""

    path: str
    line: int
    importer: str
    imported: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}  {self.importer} → {self.imported}"


def module_name(relative: Path, layer: Layer) -> str:
    """The dotted module name of a file ``relative`` to the repository root, inside ``layer``."""
    inside = relative.relative_to(layer.path).with_suffix("")
    parts = [layer.package, *inside.parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(tree: ast.AST, module: str, *, is_package: bool,
                     is_module: Callable[[str], bool] = lambda name: False) -> Iterator[tuple[int, str]]:
    """Every ``(line, dotted module name)`` the module imports, anywhere in it, once per line.
    ``from a import b`` yields ``a.b`` when ``is_module("a.b")`` (a submodule), else ``a``; relative
    imports are resolved against ``module`` (``is_package``: it is an ``__init__.py``)."""
    seen: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                full = f"{base}.{alias.name}" if base else alias.name
                names.append(full if not base or is_module(full) else base)
        for name in names:
            if (node.lineno, name) not in seen:
                seen.add((node.lineno, name))
                yield node.lineno, name


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def allowed(layer: Layer, importer: str, imported: str, ours: Iterable[str]) -> bool:
    """Whether ``importer`` (a module of ``layer``) may import ``imported``: anything not ours, its
    own package, a prefix of the layer's row, or a listed exception."""
    top = imported.split(".")[0]
    if top not in set(ours) or top == layer.package:
        return True
    if any(_under(imported, prefix) for prefix in layer.may_import):
        return True
    return any(_under(importer, module) and _under(imported, target) for module, target in EXCEPTIONS)


def python_files(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*.py")):
        if not SKIPPED_DIRS & set(path.relative_to(folder).parts):
            yield path


def violations(root: Path = ROOT, layers: Iterable[Layer] = LAYERS) -> list[Violation]:
    """Scan each layer's folder under ``root`` and return every import its row does not allow,
    in path and line order. A layer whose folder does not exist (yet) is skipped."""
    layers = tuple(layers)
    ours = {layer.package for layer in layers} | set(UNCHECKED)
    folders = {layer.package: root / layer.path for layer in layers} | {name: root / path for name, path in UNCHECKED.items()}

    def is_module(name: str) -> bool:
        top, *rest = name.split(".")
        if top not in folders:
            return False
        path = folders[top].joinpath(*rest)
        return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()

    found: list[Violation] = []
    for layer in layers:
        folder = root / layer.path
        if not folder.is_dir():
            continue
        for path in python_files(folder):
            relative = path.relative_to(root)
            module = module_name(relative, layer)
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(relative))
            is_package = path.name == "__init__.py"
            for line, imported in imported_modules(tree, module, is_package=is_package, is_module=is_module):
                if not allowed(layer, module, imported, ours):
                    found.append(Violation(relative.as_posix(), line, module, imported))
    return sorted(found, key=lambda v: (v.path, v.line, v.imported))


def unlisted_packages(root: Path = ROOT, layers: Iterable[Layer] = LAYERS) -> list[str]:
    """Top-level folders holding Python packages that neither the table nor UNCHECKED names: a new
    package needs its row before it can pass the check."""
    known = {layer.path.split("/")[0] for layer in layers} | set(UNCHECKED.values()) | {"sandbox", "docs"}
    return sorted(
        p.name for p in root.iterdir()
        if p.is_dir() and not p.name.startswith(".") and p.name not in known and (p / "__init__.py").is_file()
    )


def report(found: list[Violation], unlisted: list[str]) -> str:
    """The violations, one a line, then a count per ``importer folder → imported folder``."""
    lines = [str(v) for v in found]
    pairs = Counter((v.importer.split(".")[0], v.imported.split(".")[0]) for v in found)
    if pairs:
        lines.append("")
        lines += [f"{count:4}  {a} → {b}" for (a, b), count in sorted(pairs.items())]
    lines += [f"package {name}/ has no row in the layering table (docs/DESIGN.md §2)" for name in unlisted]
    verdict = f"{len(found)} import(s) break docs/DESIGN.md §2" if found or unlisted else \
        "layers: every import follows docs/DESIGN.md §2"
    return "\n".join([*lines, verdict])


def main() -> int:
    """Print the report; exit status 1 when any import breaks the table or a package has no row."""
    found, unlisted = violations(), unlisted_packages()
    print(report(found, unlisted))
    return 1 if found or unlisted else 0


if __name__ == "__main__":
    sys.exit(main())
