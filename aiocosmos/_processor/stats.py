"""The processor's counters (``processor.stats``) and the line it logs about them.

Workers count what they deliver and fail on, and after every read note how far their lease is behind:
the partition's latest LSN (from the response's session token) minus the LSN of the last change read
(0 on a 304). That lag is as fresh as the lease's last read; ``ChangeFeedEstimator`` measures it on
demand instead, for any lease, from the lease documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["ProcessorStats", "change_lsn", "report_line", "session_lsn"]


def session_lsn(token: str | None) -> int | None:
    """The global LSN of a session token such as ``0:-1#123`` or ``1:2#123#1=120`` (None if absent)."""
    if not token:
        return None
    part = token.split(",")[0].split(":", 1)[-1]
    segments = part.split("#")
    if len(segments) < 2:
        return None
    try:
        return int(segments[1])
    except ValueError:
        return None


def change_lsn(change: Mapping[str, Any]) -> int | None:
    """The LSN of one change: ``_lsn`` (latest version mode) or ``metadata.lsn`` (all versions and deletes)."""
    lsn = change.get("_lsn")
    if lsn is None:
        metadata = change.get("metadata")
        if isinstance(metadata, Mapping):
            lsn = metadata.get("lsn")
    return lsn if isinstance(lsn, int) and not isinstance(lsn, bool) else None


class ProcessorStats:
    """Counters of one processor since it was created.

    ``changes`` delivered to the handler (counted when it returns), ``checkpoints`` written,
    ``handler_errors`` and ``read_errors`` (each failed attempt), ``splits`` (leases replaced after a
    split or merge), ``leases_owned`` now, ``lease_request_charge`` (RU spent on lease documents),
    ``lags`` (per owned lease, as of its last read) and ``lag`` (their sum).
    """

    __slots__ = ("changes", "checkpoints", "handler_errors", "lags", "lease_request_charge", "leases_owned",
                 "read_errors", "splits")

    def __init__(self) -> None:
        self.changes = 0
        self.checkpoints = 0
        self.handler_errors = 0
        self.read_errors = 0
        self.splits = 0
        self.leases_owned = 0
        self.lease_request_charge = 0.0
        self.lags: dict[str, int] = {}

    @property
    def lag(self) -> int:
        """Changes not yet processed, over all the leases this host owns."""
        return sum(self.lags.values())

    def observe(self, token: str, items: list[dict[str, Any]], headers: Mapping[str, str]) -> None:
        """Note the lag of lease ``token`` after a read that returned ``items`` (none: caught up)."""
        latest = session_lsn(headers.get("x-ms-session-token"))
        if not items:
            self.lags[token] = 0
            return
        last = change_lsn(items[-1])
        if latest is not None and last is not None:
            self.lags[token] = max(latest - last, 0)

    def as_dict(self) -> dict[str, Any]:
        """The counters as a plain dict (for a log line or a metrics exporter)."""
        return {"leases_owned": self.leases_owned, "changes": self.changes, "lag": self.lag,
                "handler_errors": self.handler_errors, "read_errors": self.read_errors,
                "checkpoints": self.checkpoints, "splits": self.splits,
                "lease_request_charge": round(self.lease_request_charge, 2)}


def report_line(name: str, now: Mapping[str, Any], before: Mapping[str, Any] | None, elapsed: float) -> str:
    """The periodic INFO line: the counters, and changes/s since the previous line."""
    delta = now["changes"] - (before["changes"] if before is not None else 0)
    rate = delta / elapsed if elapsed > 0 else 0.0
    return (f"{name}: {now['leases_owned']} leases, {now['changes']} changes ({rate:.1f}/s), lag {now['lag']}, "
            f"{now['handler_errors']} handler errors, {now['read_errors']} read errors, "
            f"lease RU {now['lease_request_charge']:.2f}")
