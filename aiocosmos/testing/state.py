"""The scripted state of a fault proxy: its rules, request-unit budget, splits and log, and the
methods that script them (``add_rule``, ``set_budget``, ``split``, ``reset``, ...). ``FaultProxy``
serves it; the admin API edits it over HTTP."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from .budget import RequestUnitBudget
from .faults import Fault, Injection
from .rules import Predicate, ProxyRequest, ProxyRule
from .splits import CONTAINER_PATH

__all__ = ["ProxyState"]

_log = logging.getLogger("aiocosmos.testing")


class ProxyState:
    """What a fault proxy injects and what it did; the base of ``FaultProxy``."""

    def __init__(self, *, seed: int, max_log: int | None) -> None:
        self.max_log = max_log
        """Keep only about this many of the latest injections in ``log`` (None: all), for long runs;
        ``counts()`` still covers every injection."""
        self._counts: Counter[str] = Counter()
        self.injected = 0
        """How many faults were injected in all."""
        self.seed = seed
        self.rules: list[ProxyRule] = []
        self.log: list[Injection] = []
        self.budget: RequestUnitBudget | None = None
        self.forwarded = 0
        self.requests = 0
        self._rule_ids = 0
        self._seen: dict[bytes, int] = {}
        self._splits: dict[str, list[int]] = {}  # container link -> split factors, in order
        self._upstream_ranges: dict[str, list[Any]] = {}

    # -- scripting -------------------------------------------------------------------------------

    def add_rule(
        self,
        *faults: Fault,
        name: str | None = None,
        weights: Sequence[float] | None = None,
        probability: float = 1.0,
        times: int | None = None,
        skip: int = 0,
        method: str | None = None,
        path: str | None = None,
        path_prefix: str | None = None,
        path_regex: str | None = None,
        kinds: str | Iterable[str] | None = None,
        continuation: bool | None = None,
        where: Predicate | None = None,
    ) -> ProxyRule:
        """Inject one of ``faults`` (chosen by ``weights``) into matching requests, with ``probability``,
        after ``skip`` matches, at most ``times`` times. Rules are tried in the order they were added."""
        self._rule_ids += 1
        rule = ProxyRule(faults, rule_id=self._rule_ids, name=name, weights=weights, probability=probability,
                         times=times, skip=skip, method=method, path=path, path_prefix=path_prefix,
                         path_regex=path_regex, kinds=kinds, continuation=continuation, where=where)
        self.rules.append(rule)
        return rule

    def remove_rule(self, rule: ProxyRule) -> None:
        self.rules.remove(rule)

    def clear_rules(self) -> None:
        self.rules.clear()

    def set_budget(
        self,
        ru_per_second: float,
        *,
        burst: float | None = None,
        charges: Mapping[str, float] | Callable[[ProxyRequest], float] | None = None,
    ) -> RequestUnitBudget:
        """Throttle like a container provisioned with ``ru_per_second`` (see RequestUnitBudget)."""
        self.budget = RequestUnitBudget(ru_per_second, burst=burst, charges=charges)
        return self.budget

    def clear_budget(self) -> None:
        self.budget = None

    def split(self, container_link: str, into: int = 2) -> None:
        """Split every current partition key range of ``dbs/{db}/colls/{coll}`` into ``into`` children."""
        if into < 2:
            raise ValueError(f"a split needs at least 2 children, got {into!r}")
        link = container_link.strip("/")
        if not CONTAINER_PATH.match("/" + link + "/"):
            raise ValueError(f"not a container link: {container_link!r} (expected dbs/<db>/colls/<coll>)")
        self._splits.setdefault(unquote(link), []).append(into)

    def reset(self) -> None:
        """Forget rules, the budget, splits, the log and the request identities seen."""
        self.rules.clear()
        self.budget = None
        self.log.clear()
        self._counts.clear()
        self.injected = 0
        self._seen.clear()
        self._splits.clear()
        self._upstream_ranges.clear()
        self.forwarded = 0
        self.requests = 0

    def counts(self) -> Counter[str]:
        """How many times each fault (by label) was injected."""
        return Counter(self._counts)

    def _check_budget(self, info: ProxyRequest) -> int | None:
        budget = self.budget
        if budget is None:
            return None
        return budget.take(budget.charge_of(info))

    def _record(
        self,
        rule: str,
        fault: Fault,
        info: ProxyRequest,
        *,
        status: int | None,
        activity_id: str | None,
        applied: bool,
        kind: str | None = None,
        label: str | None = None,
    ) -> None:
        injection = Injection(
            seq=self.injected + 1, rule=rule, fault=label or fault.label, kind=kind or fault.kind,
            method=info.method, path=info.path, request_kind=info.kind, attempt=info.attempt, status=status,
            sub_status=fault.sub_status if status is not None and fault.kind == "status" else None,
            retry_after_ms=fault.retry_after_ms if status is not None else None, activity_id=activity_id,
            applied=applied, continuation=info.continuation, time=time.monotonic(), identity=info.identity,
        )
        self.log.append(injection)
        self.injected += 1
        self._counts[injection.fault] += 1
        if self.max_log is not None and len(self.log) > 2 * self.max_log:
            del self.log[: len(self.log) - self.max_log]
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("fault proxy: %s on %s %s (attempt %d, rule %s)", injection.fault, info.method, info.path,
                       info.attempt, rule)
