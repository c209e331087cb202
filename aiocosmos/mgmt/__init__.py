"""aiocosmos.mgmt: the Cosmos DB management plane (Azure Resource Manager, ``Microsoft.DocumentDB``).

::

    from azure.identity.aio import DefaultAzureCredential
    from aiocosmos.mgmt import CosmosManagementClient

    async with CosmosManagementClient(DefaultAzureCredential(), subscription_id) as mgmt:
        account = await mgmt.database_accounts.get("rg1", "ddb1")
        poller = await mgmt.sql_databases.begin_create_update("rg1", "ddb1", "shop", resource={"id": "shop"})
        db = await poller.result()
"""

from ._accounts import KEY_KINDS, DatabaseAccountsOperations
from ._client import DEFAULT_API_VERSION, DEFAULT_BASE_URL, CosmosManagementClient
from ._errors import ArmError, LroFailedError
from ._lro import LROPoller
from ._models import (
    ArmResource,
    ConnectionString,
    DatabaseAccount,
    DatabaseAccountKeys,
    ThroughputSettings,
    Usage,
)
from ._pipeline import ARM_SCOPE
from ._provider import (
    LocationsOperations,
    OperationsOperations,
    RestorableDatabaseAccountsOperations,
    restore_parameters,
)
from ._rbac import SQL_DATA_CONTRIBUTOR, SQL_DATA_READER, RbacOperations, SqlRoleAssignmentsOperations
from ._resources import ResourceOperations

__all__ = [
    "CosmosManagementClient",
    "DatabaseAccountsOperations",
    "ResourceOperations",
    "RbacOperations",
    "OperationsOperations",
    "LocationsOperations",
    "RestorableDatabaseAccountsOperations",
    "restore_parameters",
    "SqlRoleAssignmentsOperations",
    "SQL_DATA_READER",
    "SQL_DATA_CONTRIBUTOR",
    "LROPoller",
    "ArmError",
    "LroFailedError",
    "ArmResource",
    "DatabaseAccount",
    "DatabaseAccountKeys",
    "ConnectionString",
    "ThroughputSettings",
    "Usage",
    "KEY_KINDS",
    "ARM_SCOPE",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
]
