"""The API reference (docs/reference) names every public name of tests/unit/public_api.json, so a name added
to the public API without a place in the reference fails here; an alias may point at the name it aliases."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_public_name_has_a_place_in_the_api_reference() -> None:
    public = json.loads((ROOT / "tests" / "unit" / "public_api.json").read_text(encoding="utf-8"))
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "docs" / "reference").glob("*.md"))
    referenced = set(re.findall(r"^::: ([\w.]+)$", text, re.M))
    objects = {id(getattr(importlib.import_module(ref.rsplit(".", 1)[0]), ref.rsplit(".", 1)[1])) for ref in referenced}
    missing = [
        f"{module}.{name}"
        for module, names in public.items()
        for name in names
        if name != "__version__" and f"{module}.{name}" not in referenced
        and id(getattr(importlib.import_module(module), name)) not in objects
    ]
    assert missing == []
