"""The Python examples of a markdown page, and how they run.

A page's ```` ```python ```` blocks run in order in one namespace (a later example uses what an earlier one
made), with top-level ``await`` allowed, as in ``python -m asyncio``. Two HTML comments, invisible on the
rendered page, may stand on the line before a block:

* ``<!-- needs-azure: <reason> -->`` on a Python block: it needs a real Azure account and is not run; the
  reason is required.
* ``<!-- output -->`` on a ```` ```text ```` block right after a Python block: what that block prints. The
  comparison is line by line; ``...`` in a line matches anything (charges, etags, times).

The endpoint and key placeholders are replaced by the local server's before a block runs.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import attrs

ENDPOINT_PLACEHOLDER: Final = "https://<account>.documents.azure.com:443/"
KEY_PLACEHOLDER: Final = "<key>"
_FENCE = re.compile(r"^( *)(`{3,})([\w+-]*)[^\n]*$")  # indented: a block inside a list item
_MARKER = re.compile(r"^<!--\s*(needs-azure|output)\s*(?::\s*(.*?))?\s*-->$")
_PYTHON_NAMES: Final = frozenset({"python", "py", "python3", "pycon"})


class ExampleError(AssertionError):
    """An example failed, printed something else than its page shows, or is marked wrongly."""


@attrs.frozen
class Example:
    """One Python block: where it starts (1-based line of its first code line), its code and marks."""

    path: Path
    line: int
    code: str
    needs_azure: str | None = None
    output: str | None = None

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def examples(path: Path) -> list[Example]:
    """The page's Python blocks in order, with their marks; a malformed mark is an ``ExampleError``."""
    lines = path.read_text(encoding="utf-8").split("\n")
    found: list[Example] = []
    for start, lang, body, marker in _blocks(lines):
        kind, reason = marker or (None, None)
        if lang in _PYTHON_NAMES:
            if lang != "python":
                raise ExampleError(f"{path}:{start}: write ```python, not ```{lang}, so the block is run")
            if kind == "output":
                raise ExampleError(f"{path}:{start}: <!-- output --> belongs on the text block after a Python block")
            if kind == "needs-azure" and not reason:
                raise ExampleError(f"{path}:{start}: <!-- {kind} --> needs a reason after a colon")
            found.append(Example(path, start + 1, body, needs_azure=reason if kind else None))
        elif kind == "output":
            previous = found[-1] if found else None
            if lang != "text" or previous is None or previous.needs_azure is not None or previous.output is not None:
                raise ExampleError(f"{path}:{start}: <!-- output --> must mark a ```text block after a run example")
            found[-1] = attrs.evolve(previous, output=body)
        elif kind is not None:
            raise ExampleError(f"{path}:{start}: <!-- {kind} --> marks a Python block, not ```{lang}")
    return found


def _blocks(lines: list[str]) -> Iterator[tuple[int, str, str, tuple[str, str | None] | None]]:
    """(line of the opening fence, language, body, the mark on the line before) of each fenced block."""
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        indent, ticks, lang = len(fence.group(1)), fence.group(2), fence.group(3).lower()
        end = index + 1
        while end < len(lines) and lines[end].strip() != ticks:
            end += 1
        if end == len(lines):
            raise ExampleError(f"line {index + 1}: the ``` block never closes")
        previous = lines[index - 1].strip() if index else ""
        mark = _MARKER.match(previous)
        body = "\n".join(line[indent:] if line[:indent].isspace() else line for line in lines[index + 1:end])
        yield index + 1, lang, body + "\n", (mark.group(1), mark.group(2)) if mark else None
        index = end + 1


def run_page(path: Path, *, endpoint: str, key: str) -> int:
    """Run the page's examples in order; returns how many ran. Raises ``ExampleError`` on the first failure."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    ran = 0
    with asyncio.Runner() as runner:
        for example in examples(path):
            if example.needs_azure is not None:
                continue
            source = example.code.replace(ENDPOINT_PLACEHOLDER, endpoint).replace(f'"{KEY_PLACEHOLDER}"', repr(key))
            # Padded so a traceback's line numbers are the page's own.
            code = compile("\n" * (example.line - 1) + source, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    result = eval(code, namespace)  # the page's own example: running it is the point
                    if asyncio.iscoroutine(result):
                        runner.run(result)
            except Exception as error:
                raise ExampleError(f"{example.where}: the example raised {error!r}") from error
            if example.output is not None:
                check_output(example, printed.getvalue())
            ran += 1
    return ran


def check_output(example: Example, printed: str) -> None:
    """The block printed what its output block shows (``...`` matching anything within a line)."""
    assert example.output is not None
    shown = example.output.rstrip("\n").split("\n")
    got = printed.rstrip("\n").split("\n")
    pattern = [re.compile(".*?".join(re.escape(part) for part in line.rstrip().split("...")) + r"\Z") for line in shown]
    if len(got) != len(shown) or not all(p.match(line.rstrip()) for p, line in zip(pattern, got, strict=True)):
        raise ExampleError(
            f"{example.where}: the example printed\n{printed}\nbut its page shows\n{example.output}"
        )
