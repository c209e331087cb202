"""Session consistency: remember each container's session token and send it on reads.

A token is ``{pkRangeId}:{version}#{globalLSN}[#{region}={localLSN}...]``, several joined by commas.
Tokens for the same partition-key range are merged by keeping the newest progress, so a read after
any write of this client sees that write.
"""

from __future__ import annotations

__all__ = ["SessionTokens", "merge_session_tokens"]

_Vector = tuple[int, int, dict[str, int]]  # (version, global LSN, {region id: local LSN})


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
    """Session tokens per container link (shared by every proxy of one client)."""

    __slots__ = ("_by_container",)

    def __init__(self) -> None:
        self._by_container: dict[str, str] = {}

    def get(self, container_link: str) -> str | None:
        return self._by_container.get(container_link)

    def capture(self, container_link: str, token: str | None) -> None:
        if not token:
            return
        old = self._by_container.get(container_link)
        if old is None or old == token:
            self._by_container[container_link] = token
        else:
            self._by_container[container_link] = merge_session_tokens(old, token)

    def forget(self, container_link: str) -> None:
        self._by_container.pop(container_link, None)
