"""The examples that are not run (``needs-azure``) still compile, and every attribute they use exists on
a public aiocosmos name (a class, its instances' attributes, a module) or on a builtin type: a method
renamed or removed fails here even where no account is at hand to run the example."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
from pathlib import Path

from tests.docs.markdown_examples import Example, examples

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _instance_attributes(cls: type) -> set[str]:
    """The ``self.<name> = ...`` targets of the class's own methods (attributes set per instance)."""
    try:
        tree = ast.parse(inspect.getsource(cls).strip())
    except (OSError, TypeError, SyntaxError):
        return set()
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name) and node.value.id == "self"}


def known_attributes() -> set[str]:
    public = json.loads((ROOT / "tests" / "unit" / "public_api.json").read_text(encoding="utf-8"))
    known: set[str] = set()
    for module_name, names in public.items():
        module = importlib.import_module(module_name)
        known.update(dir(module))
        for name in names:
            value = getattr(module, name)
            known.update(dir(value))
            if inspect.isclass(value):
                for cls in value.__mro__:
                    known.update(vars(cls), _instance_attributes(cls))
    for builtin in (str, bytes, int, float, list, tuple, dict, set):
        known.update(dir(builtin))
    return known


def unknown_attributes(example: Example, known: set[str]) -> list[str]:
    """Attributes the example uses that no public name has; those of modules it imports are not checked."""
    code = compile(example.code, str(example.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT | ast.PyCF_ONLY_AST)
    imported = {(alias.asname or alias.name).split(".")[0] for node in ast.walk(code)
                if isinstance(node, ast.Import | ast.ImportFrom) for alias in node.names} - {"aiocosmos"}
    return [f"{example.where}: .{node.attr}" for node in ast.walk(code)
            if isinstance(node, ast.Attribute) and node.attr not in known
            and not (isinstance(node.value, ast.Name) and node.value.id in imported)]


def test_the_examples_not_run_use_only_names_that_exist() -> None:
    known = known_attributes()
    unrun = [e for page in PAGES for e in examples(page) if e.needs_azure is not None]
    assert unrun, "no example is marked needs-azure: drop this test"
    assert [bad for example in unrun for bad in unknown_attributes(example, known)] == []


def test_a_misspelt_method_is_found(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("<!-- needs-azure: x -->\n```python\nimport socket\nawait orders.creat_item({})\n"
                    "await orders.create_item({}, socket.gethostname())\n```\n", encoding="utf-8")
    [example] = examples(page)
    assert unknown_attributes(example, known_attributes()) == [f"{page}:3: .creat_item"]
