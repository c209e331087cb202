"""Audit of azure-cosmos 4.17.1's public async signatures against aiocosmos's (issue 15).

For every public class both libraries have (``CosmosClient``, ``DatabaseProxy``, ``ContainerProxy``,
``ScriptsProxy``, ``UserProxy``) and every method both have, every named parameter of azure's method
(positional and keyword, plus the ``:keyword name:`` entries of its docstring, which document what its
``**kwargs`` takes) must be accepted by aiocosmos's method, or be a row of ``ACCOUNTED``:

* ``REFUSED``: aiocosmos's method takes the keyword and raises ``TypeError`` naming the alternative
  (the row's text, checked by calling the method; no I/O happens);
* ``DIFFERENT``: deliberately not taken, for the row's reason.

``from_connection_string`` forwards azure's constructor keywords, so it is audited against both.
The azure-cosmos → aiocosmos table of docs/porting.md must name every row's parameter. A parameter azure adds in
a later version, or one aiocosmos drops, fails here until it is taken or accounted for; a row that is
no longer needed fails too.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import azure.cosmos.aio as azure_aio
import pytest

import aiocosmos
from tests.client.conftest import KEY

REFUSED: Final = "refused"
DIFFERENT: Final = "different"
ANY: Final = "*"

_PAGER_HOOK: Final = ("the hook would run before any page exists (azure passes the previous response's "
                      "headers): each by_page() page has its headers")

ACCOUNTED: Final[dict[tuple[str, str, str], tuple[str, str]]] = {
    # (class, method or "*", parameter): (REFUSED, text the TypeError names) or (DIFFERENT, reason).
    # A "*" row covers the methods that do not take the parameter; one that takes it is not affected.
    # -- proxies are made by their parent, not from azure's internal connection object
    ("DatabaseProxy", "__init__", "client_connection"):
        (DIFFERENT, "made by client.get_database_client(); no client connection object"),
    ("ContainerProxy", "__init__", "client_connection"):
        (DIFFERENT, "made by database.get_container_client(); no client connection object"),
    ("ContainerProxy", "__init__", "database_link"): (DIFFERENT, "made by database.get_container_client()"),
    ("ContainerProxy", "__init__", "properties"): (DIFFERENT, "made by database.get_container_client()"),
    ("ScriptsProxy", "__init__", "client_connection"): (DIFFERENT, "container.scripts"),
    ("ScriptsProxy", "__init__", "container_link"): (DIFFERENT, "container.scripts"),
    ("UserProxy", "__init__", "client_connection"): (DIFFERENT, "made by database.get_user_client()"),
    ("UserProxy", "__init__", "database_link"): (DIFFERENT, "made by database.get_user_client()"),
    # -- the constructor (and from_connection_string, which forwards to it): another mechanism here
    ("CosmosClient", ANY, "connection_mode"): (REFUSED, "gateway protocol only"),
    ("CosmosClient", ANY, "proxy_config"): (REFUSED, "http_session="),
    ("CosmosClient", ANY, "ssl_config"): (REFUSED, "http_session="),
    ("CosmosClient", ANY, "connection_cert"): (REFUSED, "http_session="),
    ("CosmosClient", ANY, "retry_on_status_codes"): (REFUSED, "the service's rules"),
    ("CosmosClient", ANY, "logger"): (REFUSED, "logging.getLogger('aiocosmos')"),
    ("CosmosClient", ANY, "enable_diagnostics_logging"): (REFUSED, "logging.getLogger('aiocosmos')"),
    ("CosmosClient", ANY, "no_response_on_write"): (REFUSED, "no_response=True"),
    ("CosmosClient", ANY, "availability_strategy_max_concurrency"):
        (REFUSED, "ClientOptions.availability_strategy"),
    # -- hedging and write retries are client-wide (a hedged or re-sent write may be applied twice);
    #    not taken per call, so that a keyword nobody passes costs nothing on the point operations
    ("ContainerProxy", ANY, "availability_strategy"):
        (DIFFERENT, "per call on read_item only; otherwise CosmosClient(availability_strategy=...)"),
    ("ContainerProxy", ANY, "retry_write"): (DIFFERENT, "client-wide: CosmosClient(retry_write=...)"),
    # -- pagers run after the call returns
    ("ContainerProxy", "query_items", "excluded_locations"): (REFUSED, "aiocosmos.excluded_regions"),
    ("ContainerProxy", "query_items_change_feed", "response_hook"): (REFUSED, "by_page()"),
    ("ContainerProxy", "query_items_change_feed", "excluded_locations"): (REFUSED, "aiocosmos.excluded_regions"),
    ("ContainerProxy", "read_all_items", "excluded_locations"):
        (DIFFERENT, "a pager runs later: iterate inside `with aiocosmos.excluded_regions([...])`"),
    (ANY, "read_all_items", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "list_conflicts", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "query_conflicts", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "list_databases", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "query_databases", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "list_containers", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "query_containers", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "list_users", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "query_users", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "list_permissions", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    (ANY, "query_permissions", "response_hook"): (DIFFERENT, _PAGER_HOOK),
    ("CosmosClient", "list_databases", "session_token"):
        (DIFFERENT, "databases have no session: azure-cosmos ignores it too (with a DeprecationWarning)"),
    ("CosmosClient", "query_databases", "session_token"):
        (DIFFERENT, "databases have no session: azure-cosmos ignores it too (with a DeprecationWarning)"),
    # -- features aiocosmos does not have
    ("DatabaseProxy", ANY, "change_feed_policy"):
        (DIFFERENT, "all-versions-and-deletes retention is not supported (the latest-version feed is)"),
    ("DatabaseProxy", ANY, "global_secondary_index"): (DIFFERENT, "a preview feature, not supported"),
    ("ContainerProxy", "read", "populate_partition_key_range_statistics"): (REFUSED, "read_feed_ranges()"),
    ("ContainerProxy", "read", "populate_quota_info"): (REFUSED, "get_throughput()"),
    ("ContainerProxy", "read_item", "post_trigger_include"):
        (DIFFERENT, "a read runs no trigger (azure-cosmos sends the header; the service ignores it)"),
}
"""Every azure-cosmos parameter that aiocosmos's same method does not take with the same meaning."""

CLASSES: Final = ("CosmosClient", "DatabaseProxy", "ContainerProxy", "ScriptsProxy", "UserProxy")
_KEYWORD: Final = re.compile(r":keyword\s+(?:[^:\n]*\s)?(\w+)\s*:")
README: Final = Path(__file__).resolve().parents[2] / "docs" / "porting.md"


def _named(function: Callable[..., Any]) -> list[str]:
    parameters = inspect.signature(function).parameters.values()
    return [p.name for p in parameters
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in ("self", "cls")]


def azure_parameters(cls_name: str, method: str) -> list[str]:
    """azure's named parameters of ``cls_name.method`` and the keywords its docstring documents."""
    function = getattr(getattr(azure_aio, cls_name), method)
    names = _named(function)
    doc = inspect.getdoc(function) or ""
    if method == "__init__":  # azure documents its constructors' keywords in the class docstring
        doc += inspect.getdoc(getattr(azure_aio, cls_name)) or ""
    names += [k for k in _KEYWORD.findall(doc) if k not in names]
    if (cls_name, method) == ("CosmosClient", "from_connection_string"):  # forwards **kwargs to __init__
        names += [k for k in azure_parameters("CosmosClient", "__init__") if k not in names and k != "url"]
    return names


def shared_methods(cls_name: str) -> Iterator[str]:
    ours = getattr(aiocosmos, cls_name)
    for name, _ in inspect.getmembers(getattr(azure_aio, cls_name), callable):
        if (not name.startswith("_") or name == "__init__") and callable(getattr(ours, name, None)):
            yield name


def row(cls_name: str, method: str, parameter: str) -> tuple[tuple[str, str, str], tuple[str, str]] | None:
    for key in ((cls_name, method, parameter), (cls_name, ANY, parameter), (ANY, method, parameter)):
        if key in ACCOUNTED:
            return key, ACCOUNTED[key]
    return None


def audit() -> tuple[list[str], set[tuple[str, str, str]], list[tuple[str, str, str, str]]]:
    """(problems: 'Class.method(param)' unaccounted or a stale exact row, rows used, refused rows to call)."""
    problems: list[str] = []
    used: set[tuple[str, str, str]] = set()
    refused: list[tuple[str, str, str, str]] = []
    for cls_name in CLASSES:
        for method in shared_methods(cls_name):
            ours = inspect.signature(getattr(getattr(aiocosmos, cls_name), method)).parameters
            for parameter in azure_parameters(cls_name, method):
                found = row(cls_name, method, parameter)
                taken = parameter in ours
                if found is None:
                    if not taken:
                        problems.append(f"{cls_name}.{method}({parameter})")
                    continue
                key, (how, text) = found
                if how == REFUSED:  # taken, and refused by the method itself (called below)
                    used.add(key)
                    refused.append((cls_name, method, parameter, text))
                elif not taken:
                    used.add(key)
                elif ANY not in key:
                    problems.append(f"{cls_name}.{method}({parameter}): taken, but its row says {how}")
    return problems, used, refused


def test_the_audit_covers_every_class_both_libraries_have() -> None:
    both = {name for name in dir(azure_aio) if inspect.isclass(getattr(azure_aio, name))
            and inspect.isclass(getattr(aiocosmos, name, None)) and not issubclass(getattr(azure_aio, name),
                                                                                   BaseException)}
    assert both <= set(CLASSES) | {"PartitionKey"}, both  # PartitionKey: a value, not an API surface
    assert len(list(shared_methods("ContainerProxy"))) >= 20


def test_every_azure_parameter_is_taken_or_accounted_for() -> None:
    missing, _, _ = audit()
    assert missing == [], "azure-cosmos parameters neither taken nor in ACCOUNTED:\n" + "\n".join(missing)


def test_no_row_of_the_table_is_stale() -> None:
    _, used, _ = audit()
    assert sorted(set(ACCOUNTED) - used) == []


def test_from_connection_string_takes_the_constructors_keywords() -> None:
    constructor = set(inspect.signature(aiocosmos.CosmosClient.__init__).parameters) - {"self", "url"}
    assert constructor <= set(inspect.signature(aiocosmos.CosmosClient.from_connection_string).parameters)


def test_readme_table_names_every_row() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## azure-cosmos → aiocosmos", 1)[1].split("\n## ", 1)[0]
    code = " ".join(re.findall(r"`([^`]*)`", section))  # the table's code spans
    absent = sorted({parameter for (_, _, parameter) in ACCOUNTED if not re.search(rf"\b{parameter}\b", code)})
    assert absent == []


def _argument(name: str) -> Any:
    if name == "conn_str":
        return f"AccountEndpoint=https://127.0.0.1:9/;AccountKey={KEY};"
    if name == "url":
        return "https://127.0.0.1:9"
    if name == "credential":
        return KEY
    if name in ("body",):
        return {"id": "x"}
    if name in ("query",):
        return "SELECT * FROM c"
    if name == "items":
        return [("x", "a")]
    if name == "batch_operations":
        return [("create", ({"id": "x", "pk": "a"},))]
    return "x"


def _target(client: aiocosmos.CosmosClient, cls_name: str) -> Any:
    database = client.get_database_client("db")
    container = database.get_container_client("c")
    return {"CosmosClient": client, "DatabaseProxy": database, "ContainerProxy": container,
            "ScriptsProxy": container.scripts, "UserProxy": database.get_user_client("u")}[cls_name]


def _refused_cases() -> list[tuple[str, str, str, str]]:
    return audit()[2]


@pytest.mark.parametrize(("cls_name", "method", "parameter", "alternative"), _refused_cases(),
                         ids=lambda value: str(value))
async def test_a_refused_keyword_raises_type_error_naming_the_alternative(
    cls_name: str, method: str, parameter: str, alternative: str
) -> None:
    client = aiocosmos.CosmosClient("https://127.0.0.1:9", KEY)  # nothing listens: no request may be made
    try:
        function = getattr(_target(client, cls_name), method)
        required = [p.name for p in inspect.signature(function).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        arguments = [_argument(name) for name in required]
        value: object = True if parameter not in ("response_hook",) else (lambda headers, result: None)
        with pytest.raises(TypeError) as raised:
            result = function(*arguments, **{parameter: value})
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, 5)
        assert alternative in str(raised.value) and parameter in str(raised.value)
    finally:
        await client.close()
