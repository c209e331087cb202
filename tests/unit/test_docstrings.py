"""Every public class, function and method has a docstring: the API reference (docs/reference, made by
mkdocstrings) is generated from them, so an undocumented name would be a blank entry there.

Public: the names of tests/unit/public_api.json and, on a public class, the functions, class and static
methods and properties it defines itself whose names do not start with ``_``. An inherited docstring does
not count for a class (it would describe the base), nor one that attrs wrote."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _public_objects() -> dict[str, object]:
    public = json.loads((ROOT / "tests" / "unit" / "public_api.json").read_text(encoding="utf-8"))
    objects: dict[str, object] = {}
    for module, names in public.items():
        loaded = importlib.import_module(module)
        for name in names:
            objects.setdefault(f"{module}.{name}", getattr(loaded, name))
    return objects


def _own_doc(obj: object) -> str:
    doc = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
    return doc.strip() if isinstance(doc, str) else ""


def _members(cls: type) -> list[tuple[str, object]]:
    found: list[tuple[str, object]] = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if inspect.isfunction(value) or isinstance(value, property):
            found.append((name, value))
    return found


def undocumented() -> list[str]:
    """The dotted names of public classes, functions and methods without a docstring."""
    missing: list[str] = []
    seen: set[int] = set()
    for dotted, obj in sorted(_public_objects().items()):
        if id(obj) in seen:
            continue  # an alias of a name already checked
        seen.add(id(obj))
        if isinstance(obj, type):
            if not _own_doc(obj):
                missing.append(dotted)
            missing.extend(f"{dotted}.{name}" for name, member in _members(obj) if not _own_doc(member))
        elif (inspect.isfunction(obj) or inspect.isbuiltin(obj)) and not _own_doc(obj):
            missing.append(dotted)
    return missing


def test_every_public_class_function_and_method_has_a_docstring() -> None:
    assert undocumented() == []


def test_the_check_sees_a_missing_docstring() -> None:
    class Documented:
        """A class with a docstring and one undocumented method."""

        def method(self) -> None:
            pass

        @property
        def value(self) -> int:
            """The value."""
            return 1

    assert [name for name, member in _members(Documented) if not _own_doc(member)] == ["method"]
    assert _own_doc(type("Bare", (Documented,), {})) == ""
