"""Batch operations and the bulk executor: many independent operations, grouped by partition key
range, sent as non-atomic batches.

``container.bulk(operations)`` takes any number of operations from a sync or async iterable and yields
exactly one :class:`BulkOperationResult` per operation, in completion order (``result.index`` is the
operation's position in the input). How it works (the design of the .NET, Java and JS executors):

* **Routing.** Each operation's partition-key value is hashed to its effective partition key (EPK,
  ``aiocosmos._feeds.epk``: V2, V1 and hierarchical keys) and looked up in the container's cached
  routing map, so operations are grouped by *physical* partition (partition key range).
* **Batching.** Per range, operations are packed into requests of at most ``MAX_BULK_OPERATIONS`` (100)
  operations and ``MAX_BULK_BYTES`` (220,201) bytes, sent as a non-atomic batch
  (``x-ms-cosmos-batch-atomic: False``, ``x-ms-cosmos-batch-continue-on-error: True``) addressed with
  ``x-ms-documentdb-partitionkeyrangeid``, each operation carrying its own ``partitionKey``. A partial
  batch is sent once its oldest operation has waited ``flush_interval`` (0.1 s).
* **Congestion control per range.** Each range has a window of concurrent requests. It starts at 1 and
  doubles per round trip until the first throttle (slow start), then grows by one per round trip
  without throttles (additive increase), up to ``max_concurrency_per_range``; any 429 (of the request,
  or of an operation inside it) halves it, at most once per round trip, and pauses the range for the
  ``retry-after`` the service asked for. (.NET and JS adjust once a second by +1 / -min(5, dop/2);
  clocking on round trips reacts in milliseconds instead.)
* **Retries.** Throttled operations (429 inside a batch response, or the whole request throttled) and
  operations that were not applied (424, 449, 410/1000, 413/3402 inside a response, connection refused)
  are sent again; a whole request refused 413/3402 (its answer would pass the 4 MB limit) is sent again
  at once as requests half its size (``RangeQueue.cap``). After a 410 with
  sub-status 1002/1007/1008 (split or merge) the routing map is re-read once (under the client's retry
  policy) and the operations are re-routed to the new ranges; if that read fails, the operations that
  moved fail with a 410 (not applied) whose cause is the read's error.
* **Guarantees.** Every operation gets exactly one result. An operation is only sent again when the
  service did not apply it, except after an *ambiguous* failure (connection dropped after sending,
  408/5xx): then reads are sent again, and with ``RetryPolicy.replay_idempotent_writes`` (the default)
  unconditional upserts, creates and deletes too; the result says so (``result.replayed``). A replayed
  create answered 409 is read back and succeeds if the stored item is the one sent; a replayed delete
  answered 404 succeeds (``result.applied_earlier``; ``replay.py``). Every other write gets an error
  result with ``may_have_been_applied`` True, never a silent second attempt.
* **Backpressure.** At most ``max_pending`` operations are held at once (read but not yet yielded);
  the source is read only as fast as results are consumed.
"""

