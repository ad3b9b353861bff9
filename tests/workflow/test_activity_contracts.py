"""Activity implementations and their contract stubs can never drift apart.

Workflows call activities through the typed stubs in ``contracts`` (``@activity.defn`` functions
whose bodies raise ``NotImplementedError``); the worker registers the implementations in
``activities``. This test fails when an implementation has no stub, a stub has no
implementation, or the two differ in name, parameter types or return type.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from temporalio import workflow as temporal_workflow

import activities
import contracts
from workers import registry

_DEFN = "__temporal_activity_definition"


def _modules(package: ModuleType) -> Iterator[ModuleType]:
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        yield importlib.import_module(info.name)


def _name(fn: Callable[..., Any]) -> str | None:
    defn = getattr(fn, _DEFN, None)
    return getattr(defn, "name", None)


def _stubs() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for module in _modules(contracts):
        for value in vars(module).values():
            if inspect.isfunction(value) and value.__module__ == module.__name__ and (name := _name(value)):
                assert name not in found, f"two stubs named {name!r}"
                found[name] = value
    return found


def _implementations() -> dict[str, Callable[..., Any]]:
    found: dict[str, Callable[..., Any]] = {}
    for module in _modules(activities):
        candidates: list[Any] = [v for v in vars(module).values() if getattr(v, "__module__", None) == module.__name__]
        for value in list(candidates):
            if inspect.isclass(value):
                candidates += [m for m in vars(value).values() if inspect.isfunction(m)]
        for value in candidates:
            if inspect.isfunction(value) and (name := _name(value)):
                assert name not in found, f"two implementations named {name!r}"
                found[name] = value
    return found


def _signature(fn: Callable[..., Any]) -> tuple[list[Any], Any]:
    hints = typing.get_type_hints(fn)
    params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
    return [hints.get(p.name, inspect.Parameter.empty) for p in params], hints.get("return", inspect.Parameter.empty)


STUBS = _stubs()
IMPLEMENTATIONS = _implementations()


def test_every_implementation_has_a_stub_and_every_stub_an_implementation() -> None:
    assert sorted(set(IMPLEMENTATIONS) - set(STUBS)) == [], "implementations without a contract stub"
    assert sorted(set(STUBS) - set(IMPLEMENTATIONS)) == [], "contract stubs nobody implements"


@pytest.mark.parametrize("name", sorted(STUBS))
def test_implementation_signature_matches_its_stub(name: str) -> None:
    stub_params, stub_return = _signature(STUBS[name])
    impl_params, impl_return = _signature(IMPLEMENTATIONS[name])
    assert impl_params == stub_params, f"{name}: parameter types differ from the contract"
    assert impl_return == stub_return, f"{name}: return type differs from the contract"
    assert all(p is not inspect.Parameter.empty for p in stub_params) and stub_return is not inspect.Parameter.empty


async def test_stubs_are_call_targets_only() -> None:
    for name, stub in STUBS.items():
        assert inspect.iscoroutinefunction(stub), f"{name}: stubs are async like the implementations"
        with pytest.raises(NotImplementedError):
            await stub(None)


def test_contracts_import_only_domain_and_temporal() -> None:
    """contracts/ is what every process shares: it may not pull in I/O or another layer."""
    ours = ("config", "db", "chains", "activities", "workflows", "workers", "api", "cli")
    root = Path(contracts.__file__).parent
    hits = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            hits += [f"{path.name}: {name}" for name in names if name.split(".")[0] in ours]
    assert hits == []


def test_the_worker_registers_every_contract_activity_and_workflow(worker_deps: registry.WorkerDeps) -> None:
    """What ``custody worker`` runs is exactly what the contracts name, under the same names."""
    registered = [_name(fn) for fn in registry.activities(worker_deps)]
    assert sorted(n for n in registered if n is not None) == sorted(STUBS)
    assert len(registered) == len(set(registered)), "an activity name is registered twice"
    named = {getattr(module, attr) for module in _modules(contracts) for attr in dir(module)
             if attr.endswith("WORKFLOW") and isinstance(getattr(module, attr), str)}
    defined = {temporal_workflow._Definition.must_from_class(cls).name for cls in registry.workflows()}
    assert defined == named
