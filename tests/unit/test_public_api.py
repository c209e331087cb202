"""The documented import paths and their names: a reshaping of the private tree must not change them.

``public_api.json`` is the API as of 0.1; a release that adds names updates it on purpose.
"""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path

import pytest

EXPECTED: dict[str, list[str]] = json.loads((Path(__file__).parent / "public_api.json").read_text())


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_public_names_are_exported_and_importable(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == EXPECTED[module_name]
    missing = [name for name in EXPECTED[module_name] if not hasattr(module, name)]
    assert not missing, f"{module_name} lacks {missing}"


def test_public_classes_show_their_public_module() -> None:
    import aiocosmos

    exported = [(name, getattr(aiocosmos, name)) for name in aiocosmos.__all__]
    leaked = [name for name, obj in exported
              if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__module__.startswith("aiocosmos._")]
    assert not leaked, f"shown as private modules: {leaked}"
