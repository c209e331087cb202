"""The diagnostics JSON docs/observability.md shows for "a read that was throttled once" is what such a
read gives: the read runs through the FaultProxy (one 429 with a 70 ms retry-after) against the local
server, and its ``diagnostics.as_dict()`` must have the page's keys, attempts and values, except where a
value depends on the run (ids, session tokens, measured durations), which must be of the page's kind."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

import aiocosmos
from aiocosmos.testing import Fault, FaultProxy
from tests.faults.conftest import ClientFactory, through

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
VARIES = frozenset({"activity_id", "session_token_sent", "session_token_received", "duration", "total", "attempts"})
"""Keys whose values depend on the run: only their kind (number, string or null) is compared."""


def page_diagnostics() -> dict[str, Any]:
    found = re.search(r"A read that was throttled once prints \(formatted\):\n\n```json\n(.*?)\n```", PAGE.read_text(),
                      re.S)
    assert found, "docs/observability.md has no ```json block after 'A read that was throttled once prints'"
    shown: dict[str, Any] = orjson.loads(found.group(1))
    return shown


def differences(shown: Any, got: Any, where: str = "") -> list[str]:
    if isinstance(shown, dict) and isinstance(got, dict):
        keys = [f"{where}.{k}: on the page, not produced" for k in shown if k not in got]
        keys += [f"{where}.{k}: produced, not on the page" for k in got if k not in shown]
        return keys + [d for k in shown if k in got for d in _value(k, shown[k], got[k], f"{where}.{k}")]
    if isinstance(shown, list) and isinstance(got, list):
        if len(shown) != len(got):
            return [f"{where}: {len(shown)} entries on the page, {len(got)} produced"]
        return [d for n, (s, g) in enumerate(zip(shown, got, strict=True)) for d in differences(s, g, f"{where}[{n}]")]
    return [] if shown == got else [f"{where}: {shown!r} on the page, {got!r} produced"]


def _value(key: str, shown: Any, got: Any, where: str) -> list[str]:
    if key in VARIES and not isinstance(shown, (dict, list)):
        kind = (isinstance(shown, (int, float)) and isinstance(got, (int, float))) or \
               (isinstance(shown, (str, type(None))) and isinstance(got, (str, type(None))))
        return [] if kind else [f"{where}: {shown!r} on the page, {got!r} produced (another kind)"]
    if shown == "…":
        return [] if isinstance(got, str) else [f"{where}: a string on the page, {got!r} produced"]
    return differences(shown, got, where)


def test_the_comparison_sees_a_drift() -> None:
    shown = {"status_code": 200, "activity_id": "…", "attempts": [{"wait": 0.07, "duration": 0.002}]}
    same = {"status_code": 200, "activity_id": "x", "attempts": [{"wait": 0.07, "duration": 9}]}
    assert differences(shown, same) == []
    assert differences(shown, {"status_code": 429, "activity_id": 7, "attempts": [], "hedged": False}) == [
        ".hedged: produced, not on the page", ".status_code: 200 on the page, 429 produced",
        ".activity_id: '…' on the page, 7 produced (another kind)", ".attempts: 1 entries on the page, 0 produced"]


async def test_the_page_shows_what_a_throttled_read_gives(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy
) -> None:
    await fresh_container.upsert_item({"id": "a", "pk": "p"})
    proxy.add_rule(Fault.throttle(retry_after_ms=70), kinds="read", path_regex=r"/docs/a$", times=1)
    container = through(make_client(clock=aiocosmos.testing.FakeClock()), fresh_container)
    item = await container.read_item("a", "p")
    assert differences(page_diagnostics(), orjson.loads(item.diagnostics.to_json())) == []
