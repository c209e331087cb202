"""The example collector itself: it runs blocks in order, checks shown output, and refuses bad marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs.markdown_examples import ExampleError, examples, run_page

PAGE = """# A page

```python
import asyncio
total = 1 + 1
```

<!-- output -->
```text
never checked: the block above prints nothing, so this fails
```
"""


def _page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_blocks_share_a_namespace_and_may_await(tmp_path: Path) -> None:
    page = _page(tmp_path, "```python\nimport asyncio\nx = 2\n```\n\ntext\n\n```python\n"
                           "await asyncio.sleep(0)\nprint(x * 21, 'at', 'https://<account>.documents.azure.com:443/')\n```\n"
                           "<!-- output -->\n```text\n42 at http://...\n```\n")
    assert run_page(page, endpoint="http://127.0.0.1:1", key="k") == 2


def test_output_that_differs_fails(tmp_path: Path) -> None:
    with pytest.raises(ExampleError, match=r"page\.md:4: the example printed"):
        run_page(_page(tmp_path, PAGE), endpoint="http://x", key="k")


def test_a_failing_example_names_its_line(tmp_path: Path) -> None:
    page = _page(tmp_path, "intro\n\n```python\nx = 1\nraise ValueError('drifted')\n```\n")
    with pytest.raises(ExampleError, match=r"page\.md:4: the example raised ValueError\('drifted'\)"):
        run_page(page, endpoint="http://x", key="k")


def test_needs_azure_is_not_run_and_needs_a_reason(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- needs-azure: a second region -->\n```python\nraise SystemExit\n```\n")
    assert run_page(page, endpoint="http://x", key="k") == 0
    assert examples(page)[0].needs_azure == "a second region"
    with pytest.raises(ExampleError, match="needs a reason"):
        examples(_page(tmp_path, "<!-- needs-azure -->\n```python\nx = 1\n```\n"))


def test_other_spellings_of_python_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ExampleError, match="write ```python, not ```py"):
        examples(_page(tmp_path, "```py\nx = 1\n```\n"))



def test_a_block_inside_a_list_item_runs_too(tmp_path: Path) -> None:
    page = _page(tmp_path, "* an item:\n\n  ```python\n  for n in range(2):\n      print(n)\n  ```\n\n"
                           "  <!-- output -->\n  ```text\n  0\n  1\n  ```\n")
    [example] = examples(page)
    assert (example.code, example.output) == ("for n in range(2):\n    print(n)\n", "0\n1\n")
    assert run_page(page, endpoint="http://x", key="k") == 1
