"""A thread that runs quick graph searches off the event loop, in batches.

hnswlib releases the GIL while it walks the graph, so a search on this thread
overlaps with the event loop parsing and rendering other requests on the other
core. Handing work to a thread has a fixed cost (a queue put and a loop
wake-up); draining every search that is waiting and resolving them with one
wake-up per batch keeps that cost small under load.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

import numpy as np
from typing import Any, Callable

logger = logging.getLogger(__name__)


class GraphQuery:
    """An unfiltered graph search that the worker may batch with others on the same index."""

    __slots__ = ("index", "query", "k", "ef", "fallback")

    def __init__(self, index: Any, query: Any, k: int, ef: int | None, fallback: Callable[[], Any]) -> None:
        self.index = index  # a DenseVectorIndex
        self.query = query  # prepared 1-D float32 query
        self.k = k
        self.ef = ef
        self.fallback = fallback  # the general search, when the graph alone can't answer

    def __call__(self) -> Any:
        return self.fallback()


_Job = tuple[Callable[[], Any], asyncio.Future, asyncio.AbstractEventLoop]


class SearchWorker:
    """Runs callables on one daemon thread and delivers their results to asyncio futures."""

    def __init__(self, max_batch: int = 8, threads: int = 2) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._max_batch = max_batch
        self._thread_count = threads
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def _ensure_started(self) -> None:
        if not self._threads:
            with self._lock:
                if not self._threads:
                    for number in range(self._thread_count):
                        thread = threading.Thread(target=self._run, name=f"search-worker-{number}", daemon=True)
                        thread.start()
                        self._threads.append(thread)

    async def run(self, work: Callable[[], Any]) -> Any:
        """Run ``work()`` on the worker thread and return its result (or raise its error)."""
        self._ensure_started()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put((work, future, loop))
        return await future

    def stop(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            outcomes: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, bool, Any]]] = {}
            for succeeded, future, loop, value in _execute(batch):
                outcomes.setdefault(loop, []).append((future, succeeded, value))
            for loop, results in outcomes.items():
                try:
                    loop.call_soon_threadsafe(_deliver, results)
                except RuntimeError:
                    logger.debug("event loop closed before search results were delivered")


def _execute(batch: list[_Job]) -> list[tuple[bool, asyncio.Future, asyncio.AbstractEventLoop, Any]]:
    """Run a batch; graph queries on the same index, k and ef go to hnswlib together.

    Returns (succeeded, future, loop, result or exception) for every job.
    """
    done: list[tuple[bool, asyncio.Future, asyncio.AbstractEventLoop, Any]] = []
    groups: dict[tuple[int, int, int | None], list[tuple[GraphQuery, asyncio.Future, asyncio.AbstractEventLoop]]] = {}
    singles: list[_Job] = []
    for work, future, loop in batch:
        if isinstance(work, GraphQuery):
            groups.setdefault((id(work.index), work.k, work.ef), []).append((work, future, loop))
        else:
            singles.append((work, future, loop))
    for jobs in groups.values():
        first = jobs[0][0]
        found = None
        if len(jobs) > 1:
            try:
                found = first.index.graph_search_batch(np.stack([j.query for j, _, _ in jobs]), first.k, first.ef)
            except Exception:  # fall back to one by one, which reports errors per request
                logger.exception("batched graph search failed")
        if found is None:
            singles.extend(jobs)
            continue
        for (job, future, loop), hits in zip(jobs, found):
            done.append((True, future, loop, hits))
    for work, future, loop in singles:
        try:
            done.append((True, future, loop, work()))
        except BaseException as exc:  # delivered to the awaiting request
            done.append((False, future, loop, exc))
    return done


def _deliver(results: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, succeeded, value in results:
        if future.cancelled():
            continue
        if succeeded:
            future.set_result(value)
        else:
            future.set_exception(value)
