"""``aiocosmos changefeed lag``: the lag of every lease of a change feed processor.

::

    aiocosmos changefeed lag --processor projections --database shop --container orders \\
        --lease-container leases [--lease-database other] [--lease-connection-string ...] [--json]

It runs :class:`~aiocosmos.ChangeFeedEstimator`: nothing is written, so it may run beside the hosts.
The monitored account comes from the same options as ``ingest`` (``--connection-string``, else
``COSMOS_ENDPOINT``/``COSMOS_KEY``, else the emulator); the lease container defaults to the same
account and database, or ``--lease-connection-string``/``--lease-database``. The table has one row
per lease (token, owner, lag) and a total; ``--json`` prints one JSON object per lease instead.
Exit status 0, or 2 when the processor has no leases there (wrong name, or never started).
"""

from __future__ import annotations

import argparse
import contextlib
from typing import TextIO

import orjson

from .._processor.estimator import ChangeFeedEstimator, LeaseLag
from .._resources.client import CosmosClient

__all__ = ["add_parser", "lag"]


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    changefeed = sub.add_parser("changefeed", help="change feed processor tools")
    tools = changefeed.add_subparsers(dest="tool", required=True)
    lag_parser = tools.add_parser("lag", help="print the lag of every lease of a change feed processor")
    lag_parser.add_argument("--processor", "-p", required=True, help="the processor name its hosts use")
    lag_parser.add_argument("--database", "-d", required=True, help="the monitored container's database")
    lag_parser.add_argument("--container", "-c", required=True, help="the monitored container")
    lag_parser.add_argument("--lease-container", required=True)
    lag_parser.add_argument("--lease-database", help="default: --database")
    lag_parser.add_argument("--lease-connection-string", help="the lease container's account, if another one")
    lag_parser.add_argument("--mode", choices=("LatestVersion", "AllVersionsAndDeletes"), default="LatestVersion")
    lag_parser.add_argument("--json", action="store_true", help="one JSON object per lease")


def _table(lags: list[LeaseLag]) -> str:
    rows = [("lease", "owner", "lag")] + [(lag.lease_token, lag.owner or "-", f"{lag.lag:,}") for lag in lags]
    rows.append(("total", "", f"{sum(lag.lag for lag in lags):,}"))
    widths = [max(len(row[k]) for row in rows) for k in range(3)]
    return "".join(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}".rstrip() + "\n"
                   for row in rows)


def _sort_key(lag: LeaseLag) -> tuple[int, str]:
    token = lag.lease_token
    return (int(token), "") if token.isdigit() else (1 << 62, token)


async def lag(args: argparse.Namespace, client: CosmosClient, lease_client: CosmosClient | None,
              out: TextIO, err: TextIO) -> int:
    container = client.get_database_client(args.database).get_container_client(args.container)
    leases = (lease_client or client).get_database_client(args.lease_database or args.database) \
        .get_container_client(args.lease_container)
    estimator = ChangeFeedEstimator(container, args.processor, lease_container=leases, mode=args.mode)
    lags = sorted(await estimator.estimate(), key=_sort_key)
    if not lags:
        err.write(f"aiocosmos: processor {args.processor!r} has no leases in {leases.id!r}\n")
        return 2
    if args.json:
        for one in lags:
            out.write(orjson.dumps({"lease": one.lease_token, "owner": one.owner, "lag": one.lag}).decode() + "\n")
    else:
        out.write(_table(lags))
    with contextlib.suppress(Exception):
        out.flush()
    return 0
