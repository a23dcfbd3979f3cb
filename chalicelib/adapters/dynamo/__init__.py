"""raspa's DynamoDB layer: one module per concern, plain records out.

Start with ``stores.py``: ``DynamoStores.build(settings, models)`` builds one store per
concern, and the services take the ones they use. Nothing here returns a PynamoDB item:
reads give the frozen records of ``records.py`` (``TaskRecord``, ``CacheEntry``,
``BatchRecord``, ``OutcomeMark``, ``RateState``), and PynamoDB's and botocore's errors
become ``chalicelib.errors.StorageError``.

Tables and items
    ``models.py``       the PynamoDB models, built per settings, and the item keys
    ``records.py``      the plain records the stores return
Talking to DynamoDB
    ``connection.py``   the only module that reaches PynamoDB's low-level connection
                        (``dynamodb_clients`` for call counters and fault injection)
    ``transaction.py``  transactions whose items have names (cancellations read by name)
    ``retry.py``        rounds and jitter under contention
One concern each
    ``cache.py``        the OS cache: entries read, written when a task finishes
    ``locks.py``        the per-OS lock: one active task per OS
    ``ratelog.py``      each user's rate log: exact limits under concurrency
    ``queueindex.py``   the queue index: positions and waiting counts
    ``stats.py``        scrape statistics: the mean duration behind estimates
    ``tasks.py``        asking for a task: read, create or join, promote to a lane
    ``runs.py``         a task's run: start, progress, retry, finish, fail, cancel
    ``claims.py``       which waiting task a scrape message runs (the scheduler's writes)
    ``breaker.py``      the portal breaker: consecutive failures, probes, parked wake-ups
    ``reopen.py``       reopening a failed task for ops' redrive
    ``batches.py``      the batch item, its quota, its lease and counted outcomes
    ``batchtasks.py``   a batch chunk's tasks, created held with their locks
    ``waits.py``        batches waiting for a task, and counting its outcome in each
    ``lane.py``         the batch lane's fair order and the release of held tasks
    ``connections.py``  WebSocket connections and each task's subscribers
"""
