"""aiocosmos: a lean asyncio client for Azure Cosmos DB (NoSQL API).

::

    async with aiocosmos.CosmosClient(endpoint, credential=key) as client:
        db = await client.create_database_if_not_exists("shop")
        orders = await db.create_container_if_not_exists("orders", partition_key=aiocosmos.PartitionKey("/customerId"))
        created = await orders.create_item({"id": "1", "customerId": "c1", "total": 5})
        print(created["total"], created.request_charge, created.etag)
"""

import contextlib

from . import documents as documents
from . import http_constants as http_constants
from ._bulk.executor import BulkExecution, BulkOperationResult, BulkStats, BulkSummary
from ._feeds.change_feed import ChangeFeedPaged, ChangeFeedPages
from ._feeds.paging import AsyncItemPaged, PageIterator
from ._feeds.routing import FeedRange
from ._feeds.watch import ChangeFeedWatcher, WatchBackoff, WatchStats
from ._processor.estimator import ChangeFeedEstimator, LeaseLag
from ._processor.processor import ChangeFeedProcessor
from ._processor.stats import ProcessorStats
from ._processor.store import LeaseLost
from ._processor.worker import ChangeFeedContext
from ._resources.attachments import AttachmentsProxy
from ._resources.batch import BatchOperationResult, BatchResponse
from ._resources.client import CosmosClient, Credential
from ._resources.container import ContainerProxy
from ._resources.database import DatabaseProxy
from ._resources.offers import ThroughputProperties, ThroughputResponse
from ._resources.read_many import ReadManyResult
from ._resources.scripts import ScriptResult, ScriptsProxy
from ._resources.throughput_control import ThroughputControl
from ._resources.users import Permission, PermissionProperties, UserProxy
from ._throughput.config import GlobalThroughputControlConfig, ThroughputControlGroupConfig, ThroughputControlStats
from ._version import __version__
from ._wire.clock import Clock, SystemClock
from ._wire.last_response import ClientConnection, last_response_headers
from ._wire.models import ModelSerializer
from ._wire.options import (
    ClientOptions,
    ConnectionLimits,
    HedgingStrategy,
    PartitionCircuitBreaker,
    ThresholdOptions,
    Timeouts,
)
from ._wire.paths import NonePartitionKeyValue, PartitionKey
from ._wire.regions import excluded_regions
from ._wire.request_options import MatchConditions
from ._wire.results import Page, ResourceResponse
from ._wire.retry import RetryPolicy
from .diagnostics import Diagnostics
from .exceptions import (
    BadRequest,
    BatchOperationError,
    ClientClosedError,
    ConfigurationError,
    Conflict,
    ConnectError,
    ConnectTimeout,
    CosmosError,
    CredentialError,
    Forbidden,
    Gone,
    HttpResponseError,
    InternalServerError,
    InvalidContinuationToken,
    Locked,
    NotFound,
    OperationTimeout,
    PagingError,
    PreconditionFailed,
    ReadError,
    ReadTimeout,
    RequestEntityTooLarge,
    RequestTimeout,
    RetryWith,
    ServiceUnavailable,
    StaleConnectionError,
    TooManyRequests,
    TransportError,
    Unauthorized,
    UnsupportedQuery,
    ValidationError,
)

__all__ = [
    "__version__",
    # clients
    "CosmosClient",
    "DatabaseProxy",
    "Diagnostics",
    "ContainerProxy",
    "ScriptsProxy",
    "AttachmentsProxy",
    "UserProxy",
    "Credential",
    # values and options
    "PartitionKey",
    "NonePartitionKeyValue",
    "ThroughputProperties",
    "ClientOptions",
    "ConnectionLimits",
    "ThresholdOptions",
    "Timeouts",
    "HedgingStrategy",
    "ModelSerializer",
    "PartitionCircuitBreaker",
    "RetryPolicy",
    "WatchBackoff",
    "excluded_regions",
    "Clock",
    "SystemClock",
    # results
    "ResourceResponse",
    "Page",
    "AsyncItemPaged",
    "PageIterator",
    "ClientConnection",
    "MatchConditions",
    "last_response_headers",
    "BatchResponse",
    "BatchOperationResult",
    "ReadManyResult",
    "BulkExecution",
    "BulkOperationResult",
    "BulkStats",
    "BulkSummary",
    "ScriptResult",
    "Permission",
    "PermissionProperties",
    "ThroughputResponse",
    "ChangeFeedPaged",
    "ChangeFeedPages",
    "ChangeFeedWatcher",
    "WatchStats",
    "FeedRange",
    # the change feed processor
    "ChangeFeedProcessor",
    "ChangeFeedContext",
    "ChangeFeedEstimator",
    "LeaseLag",
    "LeaseLost",
    "ProcessorStats",
    # throughput control
    "ThroughputControlGroupConfig",
    "GlobalThroughputControlConfig",
    "ThroughputControl",
    "ThroughputControlStats",
    # errors (the full tree is in aiocosmos.exceptions)
    "CosmosError",
    "ConfigurationError",
    "ValidationError",
    "InvalidContinuationToken",
    "UnsupportedQuery",
    "ClientClosedError",
    "PagingError",
    "OperationTimeout",
    "CredentialError",
    "TransportError",
    "ConnectError",
    "ConnectTimeout",
    "ReadError",
    "ReadTimeout",
    "StaleConnectionError",
    "HttpResponseError",
    "BatchOperationError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "RequestTimeout",
    "Conflict",
    "Gone",
    "PreconditionFailed",
    "RequestEntityTooLarge",
    "Locked",
    "TooManyRequests",
    "RetryWith",
    "InternalServerError",
    "ServiceUnavailable",
]



def _restamp_modules() -> None:
    """Show public names as aiocosmos.X in reprs and docs, not aiocosmos._private.X (as httpx does)."""
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("aiocosmos._"):
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = "aiocosmos"


_restamp_modules()
