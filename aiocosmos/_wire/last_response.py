"""``last_response_headers`` for code ported from azure-cosmos, task-local instead of shared.

azure-cosmos keeps the headers of the last response in one attribute of the client connection
(``client.client_connection.last_response_headers``): two tasks sharing a client overwrite each other's.
Here it is a ``contextvars`` variable set by every request the client makes, so each task (and each
context copied from it) sees the last response *it* received. It is a porting aid: new code reads
the result's own metadata (``result.request_charge``, ``result.headers``, ``page.headers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Final

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["LAST_RESPONSE_HEADERS", "ClientConnection", "last_response_headers"]

_EMPTY: Final[Mapping[str, str]] = CIMultiDictProxy(CIMultiDict())

LAST_RESPONSE_HEADERS: Final[ContextVar[Mapping[str, str]]] = ContextVar("aiocosmos_last_response_headers")
"""The headers of the last response (success or error) received in the current context."""


def last_response_headers() -> Mapping[str, str]:
    """The headers of the last response this task received from any aiocosmos client (success or
    error answer; empty before the first). Requests made by tasks the client starts itself (bulk
    batches, parallel query partitions, read_items across partitions) are not seen here."""
    return LAST_RESPONSE_HEADERS.get(_EMPTY)


class ClientConnection:
    """What ported code reaches through azure-cosmos's ``client_connection``: ``last_response_headers``,
    task-local (see the module docstring). Nothing else of azure's connection object is offered."""

    __slots__ = ()

    @property
    def last_response_headers(self) -> Mapping[str, str]:
        """The last response's headers in the current task (read-only, case-insensitive)."""
        return last_response_headers()

    def __repr__(self) -> str:
        return "ClientConnection(last_response_headers=<task-local>)"


CLIENT_CONNECTION: Final = ClientConnection()
