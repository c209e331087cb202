"""What the Dask and Ray Data connectors (``aiocosmos.dask``, ``aiocosmos.ray``) share, engine-free.

Nothing here imports dask, distributed or ray: the engines are optional extras
(``pip install 'aiocosmos[dask]'`` / ``'aiocosmos[ray]'``), and ``import aiocosmos`` never loads them.

* :class:`CosmosConnection` (connection.py): the small frozen spec a task carries instead of a client
  or a key in the clear; its repr, its pickled dask token and its log lines never show the key.
* runtime.py: one event loop thread and one :class:`~aiocosmos.CosmosClient` per (process, spec),
  reused by every task of that process and closed at exit (or by a Dask worker plugin's teardown).
* plan.py: the partitions of a read, one per feed range, split further by EPK on request.
* reading.py / writing.py: read one partition (change feed or EPK-bounded query), write one
  partition through the bulk executor with a summary and a failed-operations JSONL file.
"""

from __future__ import annotations

from .connection import CosmosConnection
from .plan import ReadPartition, split_feed_range
from .writing import PartitionWriteSummary, WriteReport

__all__ = ["CosmosConnection", "ReadPartition", "split_feed_range", "PartitionWriteSummary", "WriteReport"]
