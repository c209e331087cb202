"""The connection spec that tasks carry: endpoint, database, container and a key that never shows."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import attrs

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

    It is hashable: the runtime keeps one client per process for each distinct spec. A future
    throughput group (issue 17, part 1) belongs here too, so that every worker's client joins it.
    """

    endpoint: str = attrs.field(validator=_check_text)
    database: str = attrs.field(validator=_check_text)
    container: str = attrs.field(validator=_check_text)
    key: str | None = attrs.field(default=None, eq=False)
    key_env: str | None = None
    options: ClientOptions | None = None
    _key_digest: str = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if (self.key is None) == (self.key_env is None):
            raise ConfigurationError("CosmosConnection needs exactly one of key= or key_env=")
        if self.key is not None and not isinstance(self.key, str):
            raise ConfigurationError(f"key must be a string, got {type(self.key).__name__}")
        if self.options is not None and not isinstance(self.options, ClientOptions):
            raise ConfigurationError(f"options must be a ClientOptions, got {type(self.options).__name__}")
        # Equality and hashing use a digest, so two specs with different keys get different clients.
        digest = hashlib.sha256((self.key or "").encode()).hexdigest()
        object.__setattr__(self, "_key_digest", digest)

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
                repr(self.options))
