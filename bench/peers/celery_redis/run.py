"""The Celery + Redis peer measured against the same demo portal as raspa."""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bench.pages import numbers_with_pages
from bench.peers.celery_redis.redis_server import RedisServer

__all__ = ["CeleryPeer", "Coalescing", "PeerDrain"]

ROOT = Path(__file__).resolve().parents[3]
MODULE = "bench.peers.celery_redis.celery_config"
#: ``celery -A celery_config worker --loglevel=...`` as the seed starts it.
CELERY = (sys.executable, "-m", "celery", "-A", MODULE, "worker", "--loglevel=warning")


@dataclass(frozen=True)
class PeerDrain:
    label: str
    count: int
    drain_seconds: float
    single_seconds: float
    processes: int
    peak_portal: int
    portal_seconds: float

    @property
    def efficiency(self) -> float:
        return self.drain_seconds / (self.count * self.single_seconds / 3)

    @property
    def physical_ratio(self) -> float:
        return self.drain_seconds / (self.count * self.portal_seconds / 3)


@dataclass
class Coalescing:
    """1,000 concurrent lookups over 100 OS: what was enqueued and scraped."""

    label: str
    requests: int
    distinct: int
    scrapes: int
    enqueued: int
    answers: dict[str, int] = field(default_factory=dict)

    @property
    def amplification(self) -> float:
        return self.scrapes / self.distinct


class Listener:
    """Every ``notify_user`` message, with the time it arrived."""

    def __init__(self, redis_url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(redis_url + "/2")
        self.pubsub = self.client.pubsub()
        self.pubsub.psubscribe("user:*")
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.cond = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message and message["type"] == "pmessage":
                with self.cond:
                    self.messages.append((time.time(), json.loads(message["data"])))
                    self.cond.notify_all()

    def wait(self, predicate: Callable[[list], bool], timeout: float) -> None:
        with self.cond:
            if not self.cond.wait_for(lambda: predicate(self.messages), timeout=timeout):
                raise TimeoutError("the Celery peer did not answer in time")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.pubsub.close()


class CeleryPeer:
    """Redis, the seed's workers as subprocesses, its endpoint called in process."""

    def __init__(self, portal: Any) -> None:
        """``portal``: the benchmark's harness (``portal_url``, ``portal_stats()``,
        ``portal_reset(**faults)``, ``faults(**faults)``)."""
        self.portal = portal
        self.portal_url = portal.portal_url
        self.portal_stats = portal.portal_stats
        self.portal_reset = portal.portal_reset
        self.redis = RedisServer()
        self._tmp = tempfile.TemporaryDirectory(prefix="raspa-bench-celery-")
        self.workers: list[subprocess.Popen[bytes]] = []

    def start(self) -> CeleryPeer:
        self.redis.start()
        os.environ.update(
            {
                "PEER_REDIS_URL": self.redis.url,
                "PEER_DB_PATH": str(Path(self._tmp.name) / "os.sqlite3"),
                "PEER_PORTAL_URL": self.portal_url,
            }
        )
        from bench.peers.celery_redis import celery_config, endpoint

        self.celery = celery_config
        self.endpoint = endpoint
        return self

    def stop(self) -> None:
        self.stop_workers()
        self.redis.stop()
        self._tmp.cleanup()

    # ---------------------------------------------------------- workers
    def start_workers(self, count: int = 1, concurrency: int = 3) -> None:
        """``celery -A celery_config worker --concurrency=N --hostname=scraping-worker-i``."""
        names = []
        for i in range(1, count + 1):
            name = f"scraping-worker-{i}@bench"
            names.append(name)
            self.workers.append(
                subprocess.Popen(
                    [*CELERY, f"--concurrency={concurrency}", f"--hostname={name}"],
                    cwd=ROOT,
                    env=dict(os.environ),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            replies = self.celery.app.control.ping(timeout=0.5) or []
            if {n for r in replies for n in r} >= set(names):
                return
        raise RuntimeError("Celery workers did not start")

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.terminate()
        for proc in self.workers:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def reset(self) -> None:
        """Empty broker, results and database."""
        import redis

        redis.Redis.from_url(self.redis.url).flushall()
        with self.celery.db() as connection:
            connection.execute("DELETE FROM ordem_servico")

    def _runs(self) -> list[dict[str, float]]:
        import redis

        raw = redis.Redis.from_url(self.redis.url + "/2").lrange("bench:runs", 0, -1)
        return [json.loads(r) for r in raw]

    def _queue_length(self) -> int:
        import redis

        return int(redis.Redis.from_url(self.redis.url + "/0").llen("celery"))

    # ---------------------------------------------------------- figures
    def drain(
        self,
        *,
        label: str,
        count: int,
        pages: int,
        latency_ms: float,
        start: int,
        workers: int = 1,
        concurrency: int = 3,
        single_repeats: int = 5,
    ) -> PeerDrain:
        """Single-scrape time, then ``count`` distinct OS through the endpoint at once."""
        self.reset()
        self.portal_reset(latency_ms=latency_ms)
        self.start_workers(workers, concurrency)
        listener = Listener(self.redis.url)
        try:
            single = self._single(listener, pages, single_repeats, start)
            numbers = numbers_with_pages(pages, count, start=start + 50_000)
            self.portal_reset(latency_ms=latency_ms)
            seen = len(listener.messages)
            began = time.time()
            for i, numero in enumerate(numbers):
                user = f"user{i // 10:03d}"
                self.endpoint.buscar_os_async(numero, user, pending_means_unknown=True)
            listener.wait(
                lambda m: len(m) - seen >= count, timeout=count * pages * latency_ms / 1000 + 120
            )
            finished = max(at for at, _ in listener.messages[seen:])
            peak = self.portal_stats()["peak_concurrent"]
        finally:
            listener.stop()
            self.stop_workers()
        return PeerDrain(
            label,
            count,
            finished - began,
            single,
            workers * concurrency,
            peak,
            pages * latency_ms / 1000,
        )

    def _single(self, listener: Listener, pages: int, repeats: int, start: int) -> float:
        """Median task run time (prerun → postrun) of scrapes made one at a time."""
        numbers = numbers_with_pages(pages, repeats + 1, start=start)
        for numero in numbers:
            seen = len(listener.messages)
            self.endpoint.buscar_os_async(numero, "single", pending_means_unknown=True)
            listener.wait(lambda m, s=seen: len(m) > s, timeout=60)
        runs = self._runs()[1:]  # the first one logs in
        return statistics.median(r["end"] - r["start"] for r in runs)

    def e2e(self, *, pages: int, latency_ms: float, repeats: int, start: int) -> list[float]:
        """Request → the user's notification, one lookup at a time (idle worker, warm)."""
        self.reset()
        self.portal_reset(latency_ms=latency_ms)
        self.start_workers(1, 3)
        listener = Listener(self.redis.url)
        latencies = []
        try:
            for i, numero in enumerate(numbers_with_pages(pages, repeats + 1, start=start)):
                seen = len(listener.messages)
                began = time.time()
                self.endpoint.buscar_os_async(numero, "e2e", pending_means_unknown=True)
                listener.wait(lambda m, s=seen: len(m) > s, timeout=60)
                if i:  # the first one logs in
                    latencies.append(listener.messages[-1][0] - began)
        finally:
            listener.stop()
            self.stop_workers()
        return latencies

    def coalescing(
        self,
        *,
        label: str,
        pending_means_unknown: bool,
        latency_ms: float,
        start: int,
        requests: int = 1000,
        distinct: int = 100,
        threads: int = 32,
    ) -> Coalescing:
        """``requests`` concurrent calls of the endpoint over ``distinct`` OS."""
        from concurrent.futures import ThreadPoolExecutor

        self.reset()
        self.portal_reset(latency_ms=latency_ms)
        self.start_workers(1, 3)
        numbers = numbers_with_pages(2, distinct, start=start)
        order = plan(requests, distinct)
        unknown = pending_means_unknown
        try:

            def one(i: int) -> str:
                user, os_index = order[i]
                body = self.endpoint.buscar_os_async(
                    numbers[os_index], f"user{user:03d}", pending_means_unknown=unknown
                )
                return body["status"] + (":new" if "adicionada" in body.get("message", "") else "")

            with ThreadPoolExecutor(max_workers=threads) as pool:
                answers = list(pool.map(one, range(requests)))
            self.portal.faults(latency_ms=0)  # the rest drains quickly; each scrape counts
            self._quiesce()
            scrapes = self.portal_stats()["by_kind"]["detail"]
        finally:
            self.stop_workers()
        counts: dict[str, int] = {}
        for answer in answers:
            counts[answer] = counts.get(answer, 0) + 1
        return Coalescing(label, requests, distinct, scrapes, counts.get("queued:new", 0), counts)

    def _quiesce(self, idle: float = 2.0, timeout: float = 300) -> None:
        """Until the broker's queue is empty and no task finished for ``idle`` seconds."""
        deadline = time.monotonic() + timeout
        last, since = -1, time.monotonic()
        while time.monotonic() < deadline:
            runs = len(self._runs())
            if runs != last or self._queue_length():
                last, since = runs, time.monotonic()
            elif time.monotonic() - since >= idle:
                return
            time.sleep(0.1)
        raise TimeoutError("the Celery peer kept working")


def plan(requests: int, distinct: int, seed: int = 8) -> list[tuple[int, int]]:
    """(user, OS index) per request: each OS asked ``requests / distinct`` times, each user
    asking for ten different OS (the rate limit), in a shuffled order."""
    per_os = requests // distinct
    pairs = [
        (i % 10 + 10 * ((i // distinct) % 10), i % distinct)  # user, OS
        for i in range(per_os * distinct)
    ]
    random.Random(seed).shuffle(pairs)
    return pairs
