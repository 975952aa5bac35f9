"""Prometheus metrics with Qdrant's names, on a registry owned by the node."""

from __future__ import annotations

from typing import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from node.version import VERSION

_DURATION_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0, 10.0)


class CollectionStats:
    """What the metrics need to know about one collection."""

    def __init__(self, name: str, points: int, vectors: int) -> None:
        self.name = name
        self.points = points
        self.vectors = vectors


class _StateCollector(Collector):
    """Reads collection figures at scrape time, so they are never stale."""

    def __init__(self, stats: Callable[[], Iterable[CollectionStats]]) -> None:
        self._stats = stats

    def collect(self):  # type: ignore[override]
        info = InfoMetricFamily("app", "information about the qdrant-compatible server")
        info.add_metric([], {"name": "qdrant", "version": VERSION})
        yield info
        stats = list(self._stats())
        total = GaugeMetricFamily("collections_total", "number of collections")
        total.add_metric([], len(stats))
        yield total
        vectors = GaugeMetricFamily("collections_vector_total", "total number of vectors in all collections")
        vectors.add_metric([], sum(s.vectors for s in stats))
        yield vectors
        points = GaugeMetricFamily("collection_points", "approximate amount of points per collection", labels=["id"])
        for s in stats:
            points.add_metric([s.name], s.points)
        yield points


class NodeMetrics:
    """The node's metric registry and the instruments the transports update."""

    def __init__(self, stats: Callable[[], Iterable[CollectionStats]]) -> None:
        # Qdrant exposes no ``*_created`` series; the switch is process-wide in prometheus_client.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.registry.register(_StateCollector(stats))
        self.rest_responses = Counter(
            "rest_responses",
            "total number of REST responses",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.rest_failures = Counter(
            "rest_responses_fail",
            "total number of failed REST responses",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self._rest_children: dict[tuple[str, str, int], tuple] = {}
        self.rest_duration = Histogram(
            "rest_responses_duration_seconds",
            "REST response duration",
            ["method", "endpoint", "status"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )

    def observe_rest(self, method: str, endpoint: str, status: int, seconds: float) -> None:
        key = (method, endpoint, status)
        children = self._rest_children.get(key)
        if children is None:
            # prometheus-client's labels() lookup costs more than the update itself: keep the children.
            labels = (method, endpoint, str(status))
            children = (
                self.rest_responses.labels(*labels),
                self.rest_failures.labels(*labels) if status >= 400 else None,
                self.rest_duration.labels(*labels),
            )
            self._rest_children[key] = children
        children[0].inc()
        if children[1] is not None:
            children[1].inc()
        children[2].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
