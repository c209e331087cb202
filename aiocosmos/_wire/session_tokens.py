"""Session consistency: remember each container's session token and send it on reads.

A token is ``{pkRangeId}:{version}#{globalLSN}[#{region}={localLSN}...]``, several joined by commas.
Tokens for the same partition-key range are merged by keeping the newest progress, so a read after
any write of this client sees that write.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SESSION_HEADER", "SESSION_RESOURCES", "SessionTokens", "container_of", "merge_session_tokens"]

SESSION_HEADER: Final = "x-ms-session-token"
SESSION_RESOURCES: Final = frozenset({"docs", "attachments"})
"""Resource types whose every answer (read, query, feed page, write, 409/412...) carries the token
of their container's partitions; container, script and account answers do not feed the session."""

_Vector = tuple[int, int, dict[str, int]]  # (version, global LSN, {region id: local LSN})


def container_of(resource_link: str) -> str:
    """``dbs/db/colls/c`` of any link inside a container (the link itself if it is one)."""
    start = resource_link.find("/colls/")
    end = resource_link.find("/", start + 7) if start >= 0 else -1
    return resource_link if end < 0 else resource_link[:end]


def _parse(token: str) -> dict[str, _Vector]:
    entries: dict[str, _Vector] = {}
    for part in token.split(","):
        range_id, sep, vector = part.strip().partition(":")
        if not sep:
            raise ValueError(part)
        fields = vector.split("#")
        regions: dict[str, int] = {}
        for field in fields[2:]:
            region, _, lsn = field.partition("=")
            regions[region] = int(lsn)
        parsed = (int(fields[0]), int(fields[1]), regions)
        entries[range_id] = _merge_vector(entries[range_id], parsed) if range_id in entries else parsed
    return entries


def _merge_vector(a: _Vector, b: _Vector) -> _Vector:
    newer, older = (a, b) if a[0] >= b[0] else (b, a)
    regions = dict(newer[2])
    for region, lsn in older[2].items():
        if region in regions and lsn > regions[region]:
            regions[region] = lsn
    return newer[0], max(a[1], b[1]), regions


def _format(entries: dict[str, _Vector]) -> str:
    parts = []
    for range_id, (version, global_lsn, regions) in entries.items():
        text = f"{range_id}:{version}#{global_lsn}"
        for region, lsn in regions.items():
            text += f"#{region}={lsn}"
        parts.append(text)
    return ",".join(parts)


def merge_session_tokens(old: str, new: str) -> str:
    """Merge two compound tokens; if either cannot be parsed, the newer one wins unchanged."""
    try:
        merged = _parse(old)
        for range_id, vector in _parse(new).items():
            merged[range_id] = _merge_vector(merged[range_id], vector) if range_id in merged else vector
    except (ValueError, IndexError):
        return new
    return _format(merged)


class SessionTokens:
    """Session tokens per container, keyed by the container's ``_rid`` as the service keys them
    (shared by every proxy of one client).

    A container is known by its link (``dbs/db/colls/c``) until a response names its ``_rid``
    (``bind``: the container was read or created); from then on its token is kept under the rid.
    When the same link later names another rid, the container was deleted and re-created under the
    same name: the old token belongs to a container that no longer exists and is dropped, so the new
    one starts a fresh session. Tokens captured before the rid was known move under it.
    """

    __slots__ = ("_by_container", "_rids")

    def __init__(self) -> None:
        self._by_container: dict[str, str] = {}  # rid (or link while the rid is unknown) -> token
        self._rids: dict[str, str] = {}  # container link -> rid

    def get(self, container_link: str) -> str | None:
        return self._by_container.get(self._rids.get(container_link, container_link))

    def capture(self, container_link: str, token: str | None) -> None:
        if not token:
            return
        key = self._rids.get(container_link, container_link)
        old = self._by_container.get(key)
        if old is None or old == token:
            self._by_container[key] = token
        else:
            self._by_container[key] = merge_session_tokens(old, token)

    def bind(self, container_link: str, rid: object) -> bool:
        """The container at ``container_link`` has ``_rid`` ``rid``; True if it had another one
        before (re-created under the same name: its old token is dropped)."""
        if not isinstance(rid, str) or not rid:
            return False
        old = self._rids.get(container_link)
        if old == rid:
            return False
        self._rids[container_link] = rid
        early = self._by_container.pop(container_link, None)
        if old is None:
            if early is not None:
                self.capture(container_link, early)
            return False
        self._by_container.pop(old, None)
        return True

    def forget(self, container_link: str) -> None:
        """Drop the container's token and rid (deleted, or its session was lost)."""
        rid = self._rids.pop(container_link, None)
        if rid is not None:
            self._by_container.pop(rid, None)
        self._by_container.pop(container_link, None)

    def rid(self, container_link: str) -> str | None:
        """The container's ``_rid`` if a response named it."""
        return self._rids.get(container_link)
