"""The connection spec that tasks carry: endpoint, database, container and a key that never shows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import attrs

from .._throughput.config import GlobalThroughputControlConfig, ThroughputControlGroupConfig
from .._wire.options import ClientOptions
from ..exceptions import ConfigurationError

__all__ = ["CosmosConnection"]


def _check_text(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"CosmosConnection.{attribute.name} must be a non-empty string, got {value!r}")


@attrs.frozen(repr=False)
class CosmosConnection:
    """Where a task reads or writes: ``endpoint``, ``database``, ``container`` and a credential.

    The credential is either ``key`` (the account key, shipped to the workers inside the pickled
    task, never shown: ``repr``/``str`` say ``key=<hidden>``, and the Dask token is computed without
    it) or ``key_env`` (the name of an environment variable that each worker reads at run time, so
    the key never leaves the machines that already have it). ``options`` are the client's
    :class:`~aiocosmos.ClientOptions`.

    It is hashable: the runtime keeps one client per process for each distinct spec.

    ``throughput_group``: every worker process's client joins this throughput control group on the
    container before its first request (README, "Throughput control"). With ``global_control_container``
    (a container of the same database, partitioned by ``/groupId``) the group's target is shared by all
    the workers, renewed every ``renew_interval`` seconds; without it each process enforces the whole
    target on its own, which across N workers means N times the target.
    """

    endpoint: str = attrs.field(validator=_check_text)
    database: str = attrs.field(validator=_check_text)
    container: str = attrs.field(validator=_check_text)
    key: str | None = attrs.field(default=None, eq=False)
    key_env: str | None = None
    options: ClientOptions | None = None
    throughput_group: ThroughputControlGroupConfig | None = None
    global_control_container: str | None = None
    renew_interval: float = 5.0
    _key_digest: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.key is None) == (self.key_env is None):
            raise ConfigurationError("CosmosConnection needs exactly one of key= or key_env=")
        if self.key is not None and not isinstance(self.key, str):
            raise ConfigurationError(f"key must be a string, got {type(self.key).__name__}")
        if self.options is not None and not isinstance(self.options, ClientOptions):
            raise ConfigurationError(f"options must be a ClientOptions, got {type(self.options).__name__}")
        if self.throughput_group is not None and not isinstance(self.throughput_group, ThroughputControlGroupConfig):
            raise ConfigurationError("throughput_group must be a ThroughputControlGroupConfig, got "
                                     f"{type(self.throughput_group).__name__}")
        if self.global_control_container is not None:
            if self.throughput_group is None:
                raise ConfigurationError("global_control_container needs throughput_group")
            if self.global_control_container in ("", self.container):
                raise ConfigurationError("global_control_container must name another container, got "
                                         f"{self.global_control_container!r}")
            GlobalThroughputControlConfig(None, renew_interval=self.renew_interval)  # type: ignore[arg-type]
        # Equality and hashing use a digest, so two specs with different keys get different clients.
        digest = hashlib.sha256((self.key or "").encode()).hexdigest()
        object.__setattr__(self, "_key_digest", digest)

    def in_group(self, throughput_group: ThroughputControlGroupConfig | None,
                 global_control_container: str | None) -> CosmosConnection:
        """This spec with the writers' throughput group (``to_cosmos``/``CosmosDatasink``); unchanged
        when neither is given."""
        if throughput_group is None and global_control_container is None:
            return self
        return attrs.evolve(self, throughput_group=throughput_group or self.throughput_group,
                            global_control_container=global_control_container or self.global_control_container)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> CosmosConnection:
        """From a dict with the same names (e.g. a job's configuration)."""
        return cls(**dict(values))

    def credential(self) -> str:
        """The key, read now (from ``key_env`` on this process when that is how it was given)."""
        if self.key is not None:
            return self.key
        assert self.key_env is not None
        value = os.environ.get(self.key_env)
        if not value:
            raise ConfigurationError(f"the environment variable {self.key_env} (the Cosmos key) is not set "
                                     f"on this process (pid {os.getpid()})")
        return value

    def __repr__(self) -> str:
        secret = f"key_env={self.key_env!r}" if self.key_env is not None else "key=<hidden>"
        return (f"CosmosConnection(endpoint={self.endpoint!r}, database={self.database!r}, "
                f"container={self.container!r}, {secret})")

    __str__ = __repr__

    def __dask_tokenize__(self) -> tuple[str, ...]:
        # Dask names graph keys after a hash of the arguments; this one has no key in it.
        return ("aiocosmos.CosmosConnection", self.endpoint, self.database, self.container, self.key_env or "",
                repr(self.options), repr(self.throughput_group), self.global_control_container or "",
                str(self.renew_interval))
