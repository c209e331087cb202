"""The package's shape, checked: layers import only downward, no import circle, no module over the
size limit, and no import of our own modules inside a function (a per-call lookup on hot paths).

The layers, bottom to top (README, "Layout"): exceptions → _wire (one request) → _feeds (paging,
routing, change feed, the shared core) → _query and _bulk (engines over feeds) → _resources (the API)
→ _cli, _processor (the change feed processor) and the connectors (integrations, dask, ray) → mgmt → the
public ``aiocosmos`` package.
``testing`` stands beside them and uses only the bottom layer.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "aiocosmos"
MAX_MODULE_LINES = 500

# Rank of each top-level part of the package; a module may import modules of its own rank or below.
LAYERS: dict[str, int] = {
    "exceptions": 0,
    # azure-cosmos's constants (documents, http_constants): plain values, importing nothing.
    "documents": 0,
    "http_constants": 0,
    "_version": 0,
    # .diagnostics of results and errors, built from what the pipeline recorded (errors import it).
    "diagnostics": 0,
    "_wire": 1,
    # OpenTelemetry spans and metrics around the pipeline, and the logger hierarchy (beside _wire).
    "_telemetry": 1,
    # Throughput control's policy (the gate the pipeline consults, the share); its I/O is in _resources.
    "_throughput": 1,
    "testing": 1,
    "_feeds": 2,
    "_query": 3,
    "_bulk": 3,
    "_resources": 4,
    "_cli": 5,
    "_processor": 5,
    # The Dask and Ray Data connectors (over _resources and _bulk; the engines are optional extras).
    "integrations": 5,
    "dask": 5,
    "ray": 5,
    "mgmt": 6,
    "__init__": 7,
    "__main__": 7,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(importer: str, is_package: bool, node: ast.ImportFrom | ast.Import, known: set[str]) -> Iterator[str]:
    """The aiocosmos modules one import statement loads."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name == "aiocosmos" or alias.name.startswith("aiocosmos."):
                yield alias.name
        return
    if node.level == 0:
        base = node.module or ""
        if not (base == "aiocosmos" or base.startswith("aiocosmos.")):
            return
    else:
        package = importer.split(".") if is_package else importer.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, *([node.module] if node.module else [])])
    for alias in node.names:
        candidate = f"{base}.{alias.name}"
        yield candidate if candidate in known else base


def imports(name: str, path: Path, known: set[str]) -> tuple[set[str], list[tuple[int, str]]]:
    """(modules imported at run time at module level, [(line, module)] imported inside functions)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    top: set[str] = set()
    nested: list[tuple[int, str]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, in_function)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                for target in _resolve(name, is_package, child, known):
                    if in_function:
                        nested.append((child.lineno, target))
                    else:
                        top.add(target)
                continue
            visit(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    visit(tree, False)
    return top, nested


def layer(name: str) -> int:
    parts = name.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    assert key in LAYERS, f"{name}: its top-level part {key!r} has no layer in LAYERS (add it where it belongs)"
    return LAYERS[key]


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports(name, path, known)[0] - {name} for name, path in found.items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as the list of modules around it, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                return [*stack[stack.index(target):], target]
            if target not in state:
                cycle = walk(target)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            cycle = walk(start)
            if cycle:
                return cycle
    return None


def test_find_cycle_reports_a_circle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_circle() -> None:
    # Parent packages are left out: importing a submodule runs aiocosmos/__init__.py first, by design.
    edges = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph().items()}
    assert find_cycle(edges) is None, f"import circle: {' -> '.join(find_cycle(edges) or [])}"


def test_layers_import_only_downward() -> None:
    upward = [
        f"{name} (layer {layer(name)}) imports {target} (layer {layer(target)})"
        for name, targets in graph().items()
        for target in targets
        if target != "aiocosmos" and layer(target) > layer(name)
    ]
    assert not upward, "\n".join(upward)


def test_no_imports_of_our_modules_inside_functions() -> None:
    found = modules()
    known = set(found)
    nested = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        for name, path in found.items()
        for line, target in imports(name, path, known)[1]
    ]
    assert not nested, "import at module level instead:\n" + "\n".join(nested)


@pytest.mark.parametrize("name", sorted(modules()))
def test_module_size(name: str) -> None:
    lines = modules()[name].read_text().count("\n")
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines; split it along its seams (limit {MAX_MODULE_LINES})"
