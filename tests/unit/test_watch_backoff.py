"""The watcher's backoff policy (pure) and which failures it rides out."""

from __future__ import annotations

from typing import Any

import pytest

import aiocosmos
from aiocosmos._feeds.watch import is_transient


def test_the_backoff_doubles_from_the_base_up_to_the_cap_with_equal_jitter() -> None:
    backoff = aiocosmos.WatchBackoff(base_delay=0.5, max_delay=3.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    assert backoff.delay(1, 0.0) == 0.25 and backoff.delay(1, 0.999) == pytest.approx(0.49975)
    assert backoff.delay(3, 0.5) == 1.5
    assert backoff.ceiling(10_000) == 3.0  # no overflow however long the outage
    assert aiocosmos.WatchBackoff() == aiocosmos.WatchBackoff(base_delay=1.0, max_delay=60.0)
    with pytest.raises(AttributeError):
        backoff.base_delay = 2.0  # type: ignore[misc]  # frozen


@pytest.mark.parametrize("fields", [{"base_delay": -1}, {"max_delay": float("inf")}, {"base_delay": "1"},
                                    {"base_delay": True}, {"base_delay": 5.0, "max_delay": 1.0}])
def test_a_bad_backoff_is_refused(fields: dict[str, Any]) -> None:
    with pytest.raises(aiocosmos.ConfigurationError):
        aiocosmos.WatchBackoff(**fields)


@pytest.mark.parametrize(("error", "transient"), [
    (aiocosmos.ServiceUnavailable("x"), True),
    (aiocosmos.RequestTimeout("x"), True),
    (aiocosmos.InternalServerError("x"), True),
    (aiocosmos.TooManyRequests("x"), True),
    (aiocosmos.RetryWith("x"), True),
    (aiocosmos.ReadError("reset"), True),
    (aiocosmos.ConnectError("refused"), True),
    (aiocosmos.OperationTimeout("deadline"), True),
    (aiocosmos.Gone("split", sub_status=1002), True),
    (aiocosmos.Gone("gone", sub_status=0), False),
    (aiocosmos.Unauthorized("x"), False),
    (aiocosmos.Forbidden("x"), False),
    (aiocosmos.NotFound("x"), False),
    (aiocosmos.BadRequest("x"), False),
    (aiocosmos.PagingError("x"), False),
    (aiocosmos.ClientClosedError("x"), False),
    (aiocosmos.ValidationError("x"), False),
])
def test_which_failures_a_watcher_rides_out(error: aiocosmos.CosmosError, transient: bool) -> None:
    assert is_transient(error) is transient


def test_watch_changes_refuses_a_backoff_that_is_not_one() -> None:
    client = aiocosmos.CosmosClient("https://localhost:8081", credential="a2V5")
    container = client.get_database_client("db").get_container_client("c")
    with pytest.raises(aiocosmos.ValidationError, match="backoff must be a WatchBackoff"):
        container.watch_changes(backoff=2.0)  # type: ignore[arg-type]
