"""One ``aiocosmos`` logger hierarchy: every module logs under a child named for its part, so that
``logging.getLogger("aiocosmos.bulk").setLevel(...)`` tunes one part and ``"aiocosmos"`` all of them."""

from __future__ import annotations

import logging

import pytest

from aiocosmos._bulk import executor
from aiocosmos._feeds import core, watch
from aiocosmos._processor import processor, worker
from aiocosmos._wire import pipeline, regions
from aiocosmos._wire.clock import SystemClock
from aiocosmos.mgmt import _pipeline as mgmt_pipeline

HIERARCHY = {"aiocosmos.wire", "aiocosmos.bulk", "aiocosmos.query", "aiocosmos.changefeed", "aiocosmos.processor",
             "aiocosmos.mgmt"}


@pytest.mark.parametrize(("module", "name"), [
    (pipeline, "aiocosmos.wire"), (regions, "aiocosmos.wire"), (executor, "aiocosmos.bulk"),
    (core, "aiocosmos.query"), (watch, "aiocosmos.changefeed"), (processor, "aiocosmos.processor"),
    (worker, "aiocosmos.processor"), (mgmt_pipeline, "aiocosmos.mgmt"),
])
def test_each_part_logs_under_its_child_of_aiocosmos(module: object, name: str) -> None:
    logger = getattr(module, "_log", None) or module.log  # type: ignore[attr-defined]
    assert isinstance(logger, logging.Logger) and logger.name == name and name in HIERARCHY
    package = logging.getLogger("aiocosmos")
    assert logger.parent is package  # one level down: the package's logger tunes all parts


def test_structured_fields_reach_handlers(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="aiocosmos")
    cache = regions.LocationCache("https://acct.documents.azure.com", clock=SystemClock(), cooldown=5.0)
    cache.mark_unavailable("https://acct-westus.documents.azure.com")
    record = next(r for r in caplog.records if r.name == "aiocosmos.wire")
    assert record.cosmos_event == "region_unavailable"  # type: ignore[attr-defined]
    assert record.cosmos_endpoint == "https://acct-westus.documents.azure.com"  # type: ignore[attr-defined]
