"""Secrets under a full run with faults: keys, tokens and Authorization values never appear in any log
record (any logger, any level, tracebacks included), repr, exception text, diagnostic attribute, span,
span event or metric attribute (every client of the run traces), nor
in the fault proxy's own log. TLS verification is on by default. A resource-token client sends each
resource only the token that covers it."""

from __future__ import annotations

import io
import logging
import time
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote, unquote

import orjson
import pytest

import aiocosmos
from aiocosmos.testing import FakeClock, Fault, FaultProxy, ProxyRequest
from tests.faults.conftest import ClientFactory, through
from tests.faults.test_tracing import Otel
from tests.server import CosmosTestServer

AAD_TOKEN = "eyJ0eXAiOiJKV1Qi.aad-secret-payload-7f3a.c2lnbmF0dXJl"
RESOURCE_TOKEN = "type=resource&ver=1.0&sig=resource-secret-9d1c;sig"
OTHER_TOKEN = "type=resource&ver=1.0&sig=other-secret-44e2;sig"


class StaticCredential:
    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        return AAD_TOKEN, 10.0**10


class FailingAfterOneCredential:
    """Issues AAD_TOKEN once, about to expire, then fails: the next request gets a CredentialError."""

    def __init__(self) -> None:
        self.calls = 0

    async def get_token(self, *scopes: str, **kwargs: Any) -> tuple[str, float]:
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the identity endpoint refused the request")
        return AAD_TOKEN, time.time() + 1.0  # inside the refresh margin: the next attempt refreshes


def texts_of(value: Any, seen: set[int] | None = None) -> Iterator[str]:
    """Every text a person could see of a value: str, repr, and for errors their chain and attributes."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield str(value)
    yield repr(value)
    if isinstance(value, BaseException):
        for name in ("message", "url", "method", "code", "activity_ids", "headers", "body", "operation_responses"):
            attribute = getattr(value, name, None)
            if attribute is not None:
                yield from texts_of(dict(attribute) if name == "headers" else attribute, seen)
        for linked in (value.__cause__, value.__context__):
            if linked is not None:
                yield from texts_of(linked, seen)
    diagnostics = getattr(value, "diagnostics", None)  # results, pages and errors (built when read)
    if isinstance(diagnostics, aiocosmos.Diagnostics):
        yield diagnostics.to_json()
        yield repr(diagnostics)
    for name in ("headers", "body", "items"):
        attribute = getattr(value, name, None)
        if attribute is not None and not isinstance(value, BaseException) and not callable(attribute):
            yield repr(dict(attribute) if name == "headers" else attribute)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))  # includes the formatted traceback, if any
        extra = {k: v for k, v in vars(record).items() if k.startswith("cosmos_")}  # structured fields
        if extra:
            self.lines.append(repr(extra))


async def test_no_secret_anywhere_in_a_full_run_under_faults(
    proxy: FaultProxy, make_client: ClientFactory, fresh_container: aiocosmos.ContainerProxy,
    cosmos_server: CosmosTestServer,
) -> None:
    authorizations: set[str] = set()
    proxy.observers.append(lambda r: authorizations.add(r.headers.get("authorization", "")))
    proxy.add_rule(Fault.throttle(retry_after_ms=1), Fault.unavailable(), Fault.reset_after(), Fault.truncate(),
                   Fault.retry_with(), Fault.timeout(apply=True), Fault.session_not_available(),
                   Fault.gone(1002), probability=0.3)

    capture = Capture()
    otel = Otel()  # every client of the run traces: spans, events and metric attributes are scanned too
    root = logging.getLogger()
    names = ["", "aiocosmos", "aiocosmos.testing", "aiohttp", "aiohttp.client", "aiohttp.server", "asyncio"]
    levels = {name: logging.getLogger(name).level for name in names}
    root.addHandler(capture)
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen: list[Any] = []

    async def attempt(call: Callable[[], Awaitable[Any]]) -> None:
        try:
            result = await call()
        except (aiocosmos.CosmosError, TypeError, ValueError) as exc:
            seen.append(exc)
        else:
            seen.append(result)

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # Every operation crosses the charge threshold: each logs its diagnostics (scanned too).
            client = make_client(thresholds=aiocosmos.ThresholdOptions(request_charge=0.01), detailed_timings=True,
                                 **otel.options())
            container = through(client, fresh_container)
            database = container.database
            seen.extend([client, database, container])
            incr = [{"op": "incr", "path": "/n", "value": 1}]
            for n in range(30):
                await attempt(lambda n=n: container.upsert_item({"id": f"i{n}", "pk": "p", "n": n}))
                await attempt(lambda n=n: container.create_item({"id": f"i{n}", "pk": "p"}))  # mostly 409
                await attempt(lambda n=n: container.read_item(f"i{n}", "p"))
                await attempt(lambda n=n: container.replace_item(f"i{n}", {"id": f"i{n}", "pk": "p"}, etag='"stale"'))
                await attempt(lambda n=n: container.patch_item(f"i{n}", "p", incr))
                await attempt(lambda n=n: container.read_item(f"missing{n}", "p"))
            for pager in (container.query_items("SELECT * FROM c", max_item_count=7),
                          container.read_all_items(max_item_count=7), client.list_databases()):
                await attempt(lambda pager=pager: _pages(pager, seen))
            await attempt(lambda: container.execute_item_batch([("create", ({"id": "b1", "pk": "p"},)),
                                                                ("read", ("i1",))], partition_key="p"))
            await attempt(lambda: container.read_items([("i1", "p"), ("i2", "p"), ("nope", "p")]))
            await attempt(lambda: container.scripts.create_stored_procedure({"id": "s", "body": "function(){}"}))
            await attempt(lambda: database.create_user({"id": "alice"}))
            await attempt(lambda: container.get_throughput())
            await attempt(lambda: container.delete_item("i3", "p"))
            await attempt(client.get_database_account)

            await attempt(lambda: container.bulk_upsert([{"id": f"u{n}", "pk": "p"} for n in range(10)]))
            # Once more without faults, so that a bulk flush and a whole-query span are surely traced
            # (under 30 % faults, bulk may fail before its first batch): the scan must cover them.
            rules = list(proxy.rules)
            proxy.clear_rules()
            await attempt(lambda: container.bulk_upsert([{"id": f"v{n}", "pk": "p"} for n in range(10)]))

            async def bulk_results() -> None:  # each result's diagnostics are scanned
                operations = (("upsert", ({"id": f"w{n}", "pk": "p"},)) for n in range(5))
                seen.extend([r async for r in container.bulk(operations)])
            await attempt(bulk_results)
            await attempt(lambda: _pages(container.query_items("SELECT * FROM c", max_item_count=7), seen))
            for rule in rules:
                proxy.rules.append(rule)
            # The local server refuses AAD: 401 twice.
            aad = make_client(credential=StaticCredential(),
                              thresholds=aiocosmos.ThresholdOptions(point_operation_latency=None,
                                                                    non_point_operation_latency=None,
                                                                    payload_size=1), **otel.options())
            await attempt(aad.get_database_account)
            await attempt(lambda: through(aad, fresh_container).read_item("i1", "p"))
            failing = make_client(credential=FailingAfterOneCredential())  # 401, then no token
            await attempt(failing.get_database_account)
            await attempt(lambda: through(failing, fresh_container).read_item("i1", "p"))
            tokens = make_client(credential={f"dbs/{database.id}/colls/{container.id}": RESOURCE_TOKEN,
                                             "dbs/other": OTHER_TOKEN}, **otel.options())
            await attempt(lambda: through(tokens, fresh_container).read_item("i1", "p"))
            await attempt(lambda: tokens.get_database_client("elsewhere").read())  # not covered: refused
            await attempt(lambda: make_client(credential=RESOURCE_TOKEN).create_database("x"))
            seen.extend([aad, failing, tokens, proxy, *proxy.rules])
    finally:
        root.removeHandler(capture)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    secrets = {cosmos_server.key, cosmos_server.key.rstrip("="), AAD_TOKEN, RESOURCE_TOKEN, OTHER_TOKEN,
               quote(RESOURCE_TOKEN, safe="-_.!~*'()"), "resource-secret-9d1c", "other-secret-44e2",
               "aad-secret-payload-7f3a"}
    for authorization in authorizations - {""}:
        secrets |= {authorization, unquote(authorization), unquote(authorization).rpartition("sig=")[2]}
    assert len(authorizations) > 50

    haystack = io.StringIO()
    for value in seen:
        for text in texts_of(value):
            haystack.write(text + "\n")
    for line in capture.lines:
        haystack.write(line + "\n")
    for warning in caught:
        haystack.write(f"{warning.category.__name__}: {warning.message}\n")
    haystack.write(orjson.dumps([i.to_json() for i in proxy.log]).decode())
    spans = otel.spans()
    for span in spans:
        haystack.write(span.to_json() + "\n")  # name, attributes, events and their attributes, status
    metrics = otel.reader.get_metrics_data()
    assert metrics is not None
    haystack.write(metrics.to_json() + "\n")  # every data point's attributes
    otel.tracer_provider.shutdown()
    otel.meter_provider.shutdown()
    everything = haystack.getvalue()

    leaked = sorted({secret for secret in secrets if len(secret) >= 8 and secret in everything})
    assert leaked == [], f"secrets found in logs/reprs/errors: {[s[:12] + '...' for s in leaked]}"
    # The scan saw what it should have: retries logged, errors of every family, the proxy's log.
    errors = [v for v in seen if isinstance(v, BaseException)]
    assert any(line.startswith("aiocosmos.wire DEBUG") for line in capture.lines)  # the retry loop's own log
    thresholds = [line for line in capture.lines if line.startswith("aiocosmos.wire.thresholds WARNING")]
    assert len(thresholds) > 50 and any('"attempts"' in line for line in thresholds)
    assert any(len(v.diagnostics.attempts) > 1 for v in seen if isinstance(v, aiocosmos.ResourceResponse))
    assert any(isinstance(v, aiocosmos.BulkOperationResult) and v.diagnostics.as_dict()["requests"] for v in seen)
    # ... and the telemetry: spans of every operation, retry events on them, the operation metrics.
    assert len(spans) > 100 and any(e.name == "aiocosmos.retry" for s in spans for e in s.events)
    assert any(s.name.startswith("execute_bulk") for s in spans) and any(s.kind.name == "INTERNAL" for s in spans)
    assert "db.client.operation.duration" in everything and "aiocosmos.client.operation.retries" in everything
    assert {type(e).__name__ for e in errors} >= {"Conflict", "NotFound", "Unauthorized", "ValidationError",
                                                  "CredentialError"}
    assert proxy.log and len(everything) > 10_000


async def _pages(pager: aiocosmos.AsyncItemPaged[Any], seen: list[Any]) -> None:
    seen.extend([page async for page in pager.by_page()])


async def test_a_resource_token_client_sends_only_the_covering_token(
    proxy: FaultProxy, make_client: ClientFactory
) -> None:
    sent: list[ProxyRequest] = []
    proxy.observers.append(sent.append)
    client = make_client(credential={"dbs/a/colls/one": RESOURCE_TOKEN, "dbs/a/colls/two": OTHER_TOKEN})
    database = client.get_database_client("a")

    for name in ("one", "two"):
        with pytest.raises(aiocosmos.Unauthorized):  # the local server does not take resource tokens
            await database.get_container_client(name).read_item("x", "p")

    token_of = {"one": quote(RESOURCE_TOKEN, safe="-_.!~*'()"), "two": quote(OTHER_TOKEN, safe="-_.!~*'()")}
    assert sent
    for request in sent:
        container = request.path.split("/")[4]
        assert request.headers["authorization"] == token_of[container], request.path


async def test_tls_verification_is_on_by_default(tmp_path: Any) -> None:
    """The local server's certificate is self-signed (and expired): the default client must refuse it,
    and only ``verify_tls=False`` (meant for the emulator) connects."""
    assert aiocosmos.ClientOptions().verify_tls is True
    with CosmosTestServer(env={"TLS": "1"}, log_path=tmp_path / "tls.log") as server:
        assert server.url.startswith("https://")
        clock = FakeClock()
        async with aiocosmos.CosmosClient(server.url, credential=server.key, clock=clock) as client:
            with pytest.raises(aiocosmos.ConnectError) as info:
                await client.get_database_account()
        assert "certificate" in str(info.value).lower()
        assert not info.value.may_have_been_applied

        options = aiocosmos.ClientOptions(verify_tls=False)
        async with aiocosmos.CosmosClient(server.url, credential=server.key, clock=clock, options=options) as client:
            account = await client.get_database_account()
        assert account["id"]
