"""Prometheus metrics with Qdrant's names, on a registry owned by the node."""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class ClusterStats:
    """What the metrics need to know about the cluster, read at scrape time.

    ``shards`` holds, per collection, the replica states of each of its shards
    (peer id -> state); ``transfers`` the (from peer, to peer) of each running
    transfer per collection.
    """

    enabled: bool
    peer_id: int
    peers: int = 0
    term: int = 0
    commit: int = 0
    pending_operations: int = 0
    voter: bool = True
    shards: dict[str, list[dict[int, str]]] = field(default_factory=dict)
    transfers: dict[str, list[tuple[int, int]]] = field(default_factory=dict)


def _cluster_families(cluster: ClusterStats):
    """Qdrant's ``cluster_*`` metrics and its replica / transfer figures per collection."""
    enabled = GaugeMetricFamily("cluster_enabled", "is cluster support enabled")
    enabled.add_metric([], 1 if cluster.enabled else 0)
    yield enabled
    if cluster.enabled:
        peers = GaugeMetricFamily("cluster_peers_total", "total number of cluster peers")
        peers.add_metric([], cluster.peers)
        yield peers
        # Qdrant types the next two as counters without a ``_total`` suffix, which
        # prometheus_client cannot print: they are gauges here, with Qdrant's names.
        term = GaugeMetricFamily("cluster_term", "current cluster term")
        term.add_metric([], cluster.term)
        yield term
        commit = GaugeMetricFamily(
            "cluster_commit",
            "index of last committed (finalized) operation cluster peer is aware of",
            labels=["peer_id"],
        )
        commit.add_metric([str(cluster.peer_id)], cluster.commit)
        yield commit
        pending = GaugeMetricFamily(
            "cluster_pending_operations_total", "total number of pending operations for cluster peer"
        )
        pending.add_metric([], cluster.pending_operations)
        yield pending
        voter = GaugeMetricFamily("cluster_voter", "is cluster peer a voter or learner")
        voter.add_metric([], 1 if cluster.voter else 0)
        yield voter
    # As Qdrant: min / max number of Active replicas over every shard of every
    # collection (0 / 0 without shards), and the number of shards with a replica
    # that is not Active.
    counts = [
        sum(1 for state in replicas.values() if state == "Active")
        for shards in cluster.shards.values()
        for replicas in shards
    ]
    low = GaugeMetricFamily("collection_active_replicas_min", "minimum number of active replicas across all shards")
    low.add_metric([], min(counts, default=0))
    yield low
    high = GaugeMetricFamily("collection_active_replicas_max", "maximum number of active replicas across all shards")
    high.add_metric([], max(counts, default=0))
    yield high
    dead = GaugeMetricFamily("collection_dead_replicas", "total amount of shard replicas in non-active state")
    dead.add_metric(
        [],
        sum(
            1
            for shards in cluster.shards.values()
            for replicas in shards
            if any(state != "Active" for state in replicas.values())
        ),
    )
    yield dead
    incoming = GaugeMetricFamily(
        "collection_shard_transfer_incoming", "incoming shard transfers currently running", labels=["id"]
    )
    outgoing = GaugeMetricFamily(
        "collection_shard_transfer_outgoing", "outgoing shard transfers currently running", labels=["id"]
    )
    for name in sorted(cluster.shards):
        transfers = cluster.transfers.get(name, [])
        incoming.add_metric([name], sum(1 for _, to_peer in transfers if to_peer == cluster.peer_id))
        outgoing.add_metric([name], sum(1 for from_peer, _ in transfers if from_peer == cluster.peer_id))
    yield incoming
    yield outgoing


class _StateCollector(Collector):
    """Reads collection figures at scrape time, so they are never stale."""

    def __init__(
        self,
        stats: Callable[[], Iterable[CollectionStats]],
        cluster: Callable[[], ClusterStats | None] | None = None,
    ) -> None:
        self._stats = stats
        self._cluster = cluster

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
        cluster = self._cluster() if self._cluster is not None else None
        if cluster is not None:
            yield from _cluster_families(cluster)


class NodeMetrics:
    """The node's metric registry and the instruments the transports update."""

    def __init__(
        self,
        stats: Callable[[], Iterable[CollectionStats]],
        cluster: Callable[[], ClusterStats | None] | None = None,
    ) -> None:
        # Qdrant exposes no ``*_created`` series; the switch is process-wide in prometheus_client.
        disable_created_metrics()
        self.registry = CollectorRegistry()
        self.registry.register(_StateCollector(stats, cluster))
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
        self.grpc_responses = Counter(
            "grpc_responses", "total number of gRPC responses", ["endpoint"], registry=self.registry
        )
        self.grpc_failures = Counter(
            "grpc_responses_fail", "total number of failed gRPC responses", ["endpoint"], registry=self.registry
        )
        self.grpc_duration = Histogram(
            "grpc_responses_duration_seconds",
            "gRPC response duration",
            ["endpoint"],
            buckets=_DURATION_BUCKETS,
            registry=self.registry,
        )
        self._grpc_children: dict[str, tuple] = {}

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

    def observe_grpc(self, endpoint: str, failed: bool, seconds: float) -> None:
        """One gRPC reply; ``endpoint`` is the full method path, e.g. ``/qdrant.Points/Search``."""
        children = self._grpc_children.get(endpoint)
        if children is None:
            children = (
                self.grpc_responses.labels(endpoint),
                self.grpc_failures.labels(endpoint),
                self.grpc_duration.labels(endpoint),
            )
            self._grpc_children[endpoint] = children
        children[0].inc()
        if failed:
            children[1].inc()
        children[2].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
