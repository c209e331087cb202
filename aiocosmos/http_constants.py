"""The status and sub-status codes of ``azure.cosmos.http_constants``, with azure-cosmos's values.

``from aiocosmos import http_constants`` replaces ``from azure.cosmos import http_constants`` in code
that compares ``error.status_code`` / ``error.sub_status`` with them. (aiocosmos raises a subclass
per status, too: ``except aiocosmos.NotFound`` needs no constant.) Sub-status codes are per status,
so some numbers repeat (1002 is ``PARTITION_KEY_RANGE_GONE`` on a 410 and ``READ_SESSION_NOTAVAILABLE``
on a 404). aiocosmos reports a missing sub-status as 0 (``UNKNOWN``) where azure-cosmos gives None.
"""

from __future__ import annotations

from typing import Final

__all__ = ["StatusCodes", "SubStatusCodes"]


class StatusCodes:
    """HTTP status codes of the REST API."""

    OK: Final = 200
    CREATED: Final = 201
    ACCEPTED: Final = 202
    NO_CONTENT: Final = 204
    NOT_MODIFIED: Final = 304

    BAD_REQUEST: Final = 400
    UNAUTHORIZED: Final = 401
    FORBIDDEN: Final = 403
    NOT_FOUND: Final = 404
    METHOD_NOT_ALLOWED: Final = 405
    REQUEST_TIMEOUT: Final = 408
    CONFLICT: Final = 409
    GONE: Final = 410
    PRECONDITION_FAILED: Final = 412
    REQUEST_ENTITY_TOO_LARGE: Final = 413
    FAILED_DEPENDENCY: Final = 424
    TOO_MANY_REQUESTS: Final = 429
    RETRY_WITH: Final = 449

    INTERNAL_SERVER_ERROR: Final = 500
    SERVICE_UNAVAILABLE: Final = 503

    # azure-cosmos's client-side codes for paused and cancelled operations (never sent by the service).
    OPERATION_PAUSED: Final = 1200
    OPERATION_CANCELLED: Final = 1201


class SubStatusCodes:
    """``x-ms-substatus`` values, grouped by the status they come with."""

    UNKNOWN: Final = 0

    # 400
    PARTITION_KEY_MISMATCH: Final = 1001
    CROSS_PARTITION_QUERY_NOT_SERVABLE: Final = 1004
    COLLECTION_RID_MISMATCH: Final = 1024

    # 410
    NAME_CACHE_IS_STALE: Final = 1000
    PARTITION_KEY_RANGE_GONE: Final = 1002
    COMPLETING_SPLIT: Final = 1007
    COMPLETING_PARTITION_MIGRATION: Final = 1008

    # 403
    WRITE_FORBIDDEN: Final = 3
    PROVISION_LIMIT_REACHED: Final = 1005
    DATABASE_ACCOUNT_NOT_FOUND: Final = 1008
    REDUNDANT_COLLECTION_PUT: Final = 1009
    SHARED_THROUGHPUT_DATABASE_QUOTA_EXCEEDED: Final = 1010
    SHARED_THROUGHPUT_OFFER_GROW_NOT_NEEDED: Final = 1011
    AAD_REQUEST_NOT_AUTHORIZED: Final = 5300

    # 404
    READ_SESSION_NOTAVAILABLE: Final = 1002
    OWNER_RESOURCE_NOT_FOUND: Final = 1003
    CONTAINER_CREATE_IN_PROGRESS: Final = 1013

    # 409
    CONFLICT_WITH_CONTROL_PLANE: Final = 1006

    # 503
    INSUFFICIENT_BINDABLE_PARTITIONS: Final = 1007
    ROUTING_MAP_SNAPSHOT_INCONSISTENT: Final = 21015

    # client side: a resource has no dedicated throughput (get_throughput)
    THROUGHPUT_OFFER_NOT_FOUND: Final = 10004
