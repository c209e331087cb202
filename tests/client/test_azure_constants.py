"""azure-cosmos's constants that samples import (issue 15): ``aiocosmos.documents`` and
``aiocosmos.http_constants`` hold azure-cosmos 4.17.1's names and values; exceptions carry
azure's attributes; integer ``IndexingDirective`` values are taken."""

from __future__ import annotations

import pytest
from azure.cosmos import documents as azure_documents
from azure.cosmos import http_constants as azure_http_constants

import aiocosmos
from aiocosmos import documents, http_constants
from tests.client.conftest import DOCS_PATH, item_path
from tests.client.recording_server import RecordingServer, Reply


def _constants(cls: type) -> dict[str, object]:
    return {name: value for name, value in vars(cls).items() if not name.startswith("_")}


@pytest.mark.parametrize("ours, theirs", [
    (http_constants.StatusCodes, azure_http_constants.StatusCodes),
    (http_constants.SubStatusCodes, azure_http_constants.SubStatusCodes),
    (documents.ConsistencyLevel, azure_documents.ConsistencyLevel),
    (documents.IndexingMode, azure_documents.IndexingMode),
    (documents.IndexingDirective, azure_documents.IndexingDirective),
    (documents.IndexKind, azure_documents.IndexKind),
    (documents.PartitionKind, azure_documents.PartitionKind),
    (documents.DataType, azure_documents.DataType),
    (documents.PermissionMode, azure_documents.PermissionMode),
    (documents.TriggerType, azure_documents.TriggerType),
    (documents.TriggerOperation, azure_documents.TriggerOperation),
], ids=lambda cls: f"{cls.__module__}.{cls.__name__}")
def test_the_constants_have_azure_cosmos_names_and_values(ours: type, theirs: type) -> None:
    assert _constants(ours) == _constants(theirs)


def test_the_modules_are_reachable_as_azure_code_imports_them() -> None:
    assert aiocosmos.documents is documents and aiocosmos.http_constants is http_constants
    options = aiocosmos.ClientOptions(consistency_level=documents.ConsistencyLevel.Session)
    assert options.consistency_level == "Session"


@pytest.mark.parametrize("directive, sent", [
    (documents.IndexingDirective.Default, "Default"),
    (documents.IndexingDirective.Exclude, "Exclude"),
    (documents.IndexingDirective.Include, "Include"),
    ("Exclude", "Exclude"),
])
async def test_indexing_directive_takes_azure_integers_and_sends_the_name(
    server: RecordingServer, container: aiocosmos.ContainerProxy, directive: int | str, sent: str
) -> None:
    await container.create_item({"id": "x", "pk": "a"}, indexing_directive=directive)
    [post] = server.requests_to("POST", DOCS_PATH)
    assert post.headers["x-ms-indexing-directive"] == sent


@pytest.mark.parametrize("directive", [3, -1, True, "exclude", 1.0])
async def test_an_unknown_indexing_directive_fails_before_any_io(
    server: RecordingServer, container: aiocosmos.ContainerProxy, directive: object
) -> None:
    with pytest.raises(aiocosmos.ValidationError, match="indexing_directive"):
        await container.upsert_item({"id": "x", "pk": "a"}, indexing_directive=directive)  # type: ignore[arg-type]
    assert server.requests_to("POST", DOCS_PATH) == []


async def test_errors_carry_azure_cosmos_attributes(
    server: RecordingServer, container: aiocosmos.ContainerProxy
) -> None:
    server.script(Reply.error(404, message="Entity with the specified id does not exist in the system.",
                              sub_status=0, headers={"x-ms-activity-id": "act-404"}),
                  method="GET", path=item_path("gone"))
    with pytest.raises(aiocosmos.exceptions.CosmosResourceNotFoundError) as info:
        await container.read_item("gone", "a")

    error = info.value
    assert isinstance(error, aiocosmos.exceptions.CosmosHttpResponseError)
    assert error.status_code == http_constants.StatusCodes.NOT_FOUND
    assert error.sub_status == http_constants.SubStatusCodes.UNKNOWN
    assert error.message == error.http_error_message == "Entity with the specified id does not exist in the system."
    assert error.headers["x-ms-activity-id"] == "act-404" and error.reason == "Not Found"


def test_reason_is_empty_for_a_status_http_does_not_name() -> None:
    assert aiocosmos.HttpResponseError("x", status_code=449).reason == ""
    assert aiocosmos.TooManyRequests("x").reason == "Too Many Requests"
