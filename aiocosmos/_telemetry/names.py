"""The OpenTelemetry semantic-convention names aiocosmos emits, and the operation a request is.

The names are copied from the conventions for Azure Cosmos DB (``opentelemetry-semantic-conventions``
0.66b2, schema 1.39.0; ``tests/telemetry/semconv_cosmos.json`` checks them) so that importing
aiocosmos never imports opentelemetry. Nothing here reads a key, a token, a signature or a body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "DB_SYSTEM_NAME", "DB_OPERATION_NAME", "DB_NAMESPACE", "DB_COLLECTION_NAME", "DB_RESPONSE_STATUS_CODE",
    "SUB_STATUS_CODE", "REQUEST_CHARGE", "CONSISTENCY_LEVEL", "CONTACTED_REGIONS", "BATCH_SIZE", "SERVER_ADDRESS",
    "SERVER_PORT", "ERROR_TYPE", "CONNECTION_MODE", "REQUEST_BODY_SIZE", "SYSTEM", "SCHEMA_URL",
    "OPERATION_DURATION", "OPERATION_REQUEST_CHARGE", "operation_name", "target",
]

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.39.0"
SYSTEM: Final = "azure.cosmosdb"

DB_SYSTEM_NAME: Final = "db.system.name"
DB_OPERATION_NAME: Final = "db.operation.name"
DB_NAMESPACE: Final = "db.namespace"
DB_COLLECTION_NAME: Final = "db.collection.name"
DB_RESPONSE_STATUS_CODE: Final = "db.response.status_code"
BATCH_SIZE: Final = "db.operation.batch.size"
SUB_STATUS_CODE: Final = "azure.cosmosdb.response.sub_status_code"
REQUEST_CHARGE: Final = "azure.cosmosdb.operation.request_charge"
CONSISTENCY_LEVEL: Final = "azure.cosmosdb.consistency.level"
CONTACTED_REGIONS: Final = "azure.cosmosdb.operation.contacted_regions"
CONNECTION_MODE: Final = "azure.cosmosdb.connection.mode"
REQUEST_BODY_SIZE: Final = "azure.cosmosdb.request.body.size"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE: Final = "error.type"

OPERATION_DURATION: Final = "db.client.operation.duration"
OPERATION_REQUEST_CHARGE: Final = "azure.cosmosdb.client.operation.request_charge"

_ITEM_VERBS: Final = {"GET": "read_item", "PUT": "replace_item", "PATCH": "patch_item", "DELETE": "delete_item"}
_VERBS: Final = {"GET": "read", "PUT": "replace", "PATCH": "patch", "DELETE": "delete", "POST": "create"}
_RESOURCES: Final = {
    "dbs": "database", "colls": "container", "users": "user", "permissions": "permission",
    "sprocs": "stored_procedure", "udfs": "user_defined_function", "triggers": "trigger",
    "conflicts": "conflict", "attachments": "attachment", "offers": "throughput", "pkranges": "partition_key_range",
}


def _has(headers: Mapping[str, str], name: str) -> bool:
    return name in headers or any(key.lower() == name for key in headers)


def _value(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return ""


def operation_name(method: str, resource_type: str, resource_link: str, headers: Mapping[str, str] | None) -> str:
    """The convention's ``db.operation.name`` of one request: the SDK method it serves
    (``read_item``, ``query_items``, ``execute_batch``, ``create_container``...)."""
    headers = headers or {}
    parts = resource_link.strip("/").split("/") if resource_link else []
    is_item = len(parts) % 2 == 0 and bool(parts) and parts[-2] == resource_type
    if method == "POST" and _has(headers, "x-ms-cosmos-is-query-plan-request"):
        return "query_plan"
    if resource_type == "docs":
        if method == "POST":
            if _has(headers, "x-ms-documentdb-isquery"):
                return "query_items"
            if _has(headers, "x-ms-cosmos-is-batch-request"):
                atomic = _value(headers, "x-ms-cosmos-batch-atomic").lower() != "false"
                return "execute_batch" if atomic else "execute_bulk"
            return "upsert_item" if _has(headers, "x-ms-documentdb-is-upsert") else "create_item"
        if method == "GET" and not is_item:
            return "query_change_feed" if _has(headers, "a-im") else "read_all_items"
        return _ITEM_VERBS.get(method, method.lower() + "_item")
    word = _RESOURCES.get(resource_type, resource_type or "account")
    if resource_type == "sprocs" and method == "POST" and is_item:
        return "execute_stored_procedure"
    if resource_type == "":
        return "read_account"
    if method == "POST" and _has(headers, "x-ms-documentdb-isquery"):
        return f"query_{word}s"
    if method == "GET" and not is_item:
        return f"read_{word}_feed" if _has(headers, "a-im") else f"read_all_{word}s"
    return f"{_VERBS.get(method, method.lower())}_{word}"


def target(resource_link: str) -> tuple[str | None, str | None]:
    """(database, container) named by a resource link, each None when the link does not name one."""
    parts = resource_link.strip("/").split("/") if resource_link else []
    database = parts[1] if len(parts) >= 2 and parts[0] == "dbs" else None
    container = parts[3] if database is not None and len(parts) >= 4 and parts[2] == "colls" else None
    return database, container
