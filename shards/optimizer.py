"""The background optimizer: builds HNSW indexes of local shards off the request path."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterable

from shards.local_shard import LocalShard

logger = logging.getLogger(__name__)


class Optimizer:
    """One daemon thread that indexes whichever local shard is due.

    ``shards`` is called on every round so that shards created or dropped
    meanwhile are seen; ``wake`` asks for a round now (after a write).
    """

    def __init__(self, shards: Callable[[], Iterable[LocalShard]], interval: float = 1.0) -> None:
        self._shards = shards
        self._interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="optimizer", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            for shard in list(self._shards()):
                if self._stop.is_set():
                    return
                try:
                    if shard.needs_optimization():
                        shard.optimize()
                except Exception:  # the optimizer must outlive a failing shard
                    logger.exception("optimizing shard %s failed", shard.path)
