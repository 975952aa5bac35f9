"""The data set and shared checks of the cluster query-surface tests.

One collection (3 shards, 2 replicas each) with Cosine, Dot and Euclid dense
vectors, a sparse vector, a MaxSim multi-vector and indexed keyword, integer,
geo and datetime payloads, plus a small lookup collection; :func:`build` makes
them through different nodes and waits until every node sees them whole.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.cluster import brute_force as bf
from tests.cluster.conftest import wait_until

N, DIM, MDIM, VOCAB = 240, 8, 4, 30
NAME, LOOKUP, SMALL = "qs_main", "qs_lookup", "qs_small"
CATS = ["a", "b", "c", "d", "e"]
ORIGIN = (13.40, 52.52)  # lon, lat
BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)
EXACT = models.SearchParams(exact=True)

RNG = np.random.default_rng(2024)
COS = RNG.normal(size=(N, DIM)).astype(np.float32)
DOT = RNG.normal(size=(N, DIM)).astype(np.float32)
EUC = RNG.normal(size=(N, DIM)).astype(np.float32)
MULTI = [RNG.normal(size=(int(RNG.integers(1, 4)), MDIM)).astype(np.float32) for _ in range(N)]
SPARSE = []
for _ in range(N):
    _idx = np.sort(RNG.choice(VOCAB, size=int(RNG.integers(1, 6)), replace=False))
    SPARSE.append((_idx.tolist(), RNG.uniform(0.1, 2.0, size=len(_idx)).astype(np.float32).tolist()))
_CAT_P = [0.35, 0.25, 0.2, 0.12, 0.08]  # skewed, so facet counts rarely tie
_N_VALUES = RNG.permutation(1000)[:N]  # distinct: order_by has no ties
PAYLOADS = []
for _i in range(N):
    PAYLOADS.append({
        "cat": CATS[int(RNG.choice(5, p=_CAT_P))],
        "n": int(_N_VALUES[_i]),
        "bucket": _i % 7,
        "loc": {"lon": ORIGIN[0] + float(RNG.uniform(-0.3, 0.3)), "lat": ORIGIN[1] + float(RNG.uniform(-0.3, 0.3))},
        "ts": (BASE + timedelta(hours=int(RNG.integers(-800, 800)))).isoformat().replace("+00:00", "Z"),
    })
IDS = list(range(N))


def ts_of(pid: int) -> float:
    return datetime.fromisoformat(PAYLOADS[pid]["ts"].replace("Z", "+00:00")).timestamp()


def dist_of(pid: int) -> float:
    loc = PAYLOADS[pid]["loc"]
    return bf.haversine(ORIGIN[0], ORIGIN[1], loc["lon"], loc["lat"])


# --------------------------------------------------------------------------- building


def node_clients(cluster):
    """One qdrant-client per node (a generator for a module fixture: closes them afterwards)."""
    made = [QdrantClient(url=node.url, timeout=60, check_compatibility=False) for node in cluster.nodes]
    yield made
    for client in made:
        client.close()


def point(pid: int) -> models.PointStruct:
    idx, val = SPARSE[pid]
    return models.PointStruct(
        id=pid,
        vector={
            "cos": COS[pid].tolist(),
            "dot": DOT[pid].tolist(),
            "euc": EUC[pid].tolist(),
            "multi": MULTI[pid].tolist(),
            "sp": models.SparseVector(indices=idx, values=val),
        },
        payload=PAYLOADS[pid],
    )


def build(cluster, clients) -> str:
    """Create, fill and index the collections; the main collection's name."""
    first, second, third = clients
    first.create_collection(
        NAME,
        shard_number=3,
        replication_factor=2,
        vectors_config={
            "cos": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            "dot": models.VectorParams(size=DIM, distance=models.Distance.DOT),
            "euc": models.VectorParams(size=DIM, distance=models.Distance.EUCLID),
            "multi": models.VectorParams(
                size=MDIM,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"sp": models.SparseVectorParams()},
    )
    second.create_collection(
        LOOKUP, shard_number=3, replication_factor=2,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
    )
    cluster.wait_all_active(NAME)
    cluster.wait_all_active(LOOKUP)
    for field, schema in (
        ("cat", models.PayloadSchemaType.KEYWORD),
        ("n", models.PayloadSchemaType.INTEGER),
        ("bucket", models.PayloadSchemaType.INTEGER),
        ("loc", models.PayloadSchemaType.GEO),
        ("ts", models.PayloadSchemaType.DATETIME),
    ):
        third.create_payload_index(NAME, field, field_schema=schema, wait=True)
    # writes through two different nodes, so both local and forwarded updates are involved
    second.upsert(NAME, points=[point(i) for i in range(0, N, 2)], wait=True)
    third.upsert(NAME, points=[point(i) for i in range(1, N, 2)], wait=True)
    first.upsert(
        LOOKUP,
        points=[models.PointStruct(id=k, vector=[1.0, float(k)], payload={"label": f"b{k}"}) for k in range(5)],
        wait=True,
    )
    for client in clients:
        wait_until(lambda c=client: len(c.get_collection(NAME).payload_schema) == 5, 30, "payload indexes everywhere")
        assert client.count(NAME, exact=True).count == N
    for node in cluster.nodes:  # every node answers from two local shards and reaches the third remotely
        placement = cluster.collection_cluster(node, NAME)
        assert len(placement["local_shards"]) == 2 and len(placement["remote_shards"]) == 4
    return NAME


def each(clients):
    """(index, client) for every node."""
    return list(enumerate(clients))


def check_ranked(points, expected: list[tuple[int, float]], tol: float = 1e-4) -> None:
    """Same ids in the same order (near-ties may swap) with the true scores."""
    assert len(points) == len(expected), ([p.id for p in points], expected)
    truth = dict(expected)
    for got, (want_id, want_score) in zip(points, expected):
        assert got.score == pytest.approx(want_score, rel=tol, abs=tol)
        if got.id != want_id:
            assert got.id in truth and abs(truth[got.id] - want_score) < tol
    assert len({p.id for p in points}) == len(points)


def check_scored(points, scores: dict, limit: int, offset: int = 0, tol: float = 1e-4) -> None:
    """Each point's score is its true score; the scores are the best ``limit`` after ``offset``."""
    ranked = sorted(scores.values(), reverse=True)[offset : offset + limit]
    assert len(points) == len(ranked)
    for got, want in zip(points, ranked):
        assert got.score == pytest.approx(want, rel=tol, abs=tol)
        assert got.score == pytest.approx(scores[got.id], rel=tol, abs=tol)
    assert len({p.id for p in points}) == len(points)


def cos_sims(example) -> np.ndarray:
    return bf.cosine(COS, COS[example] if isinstance(example, int) else example)


def facet_counts(values_of, ids=IDS) -> list[tuple]:
    counts = Counter(values_of(i) for i in ids)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def on_every_node(cluster, clients, what: str, check) -> None:
    for client in clients:
        wait_until(lambda c=client: check(c), 30, f"{what} on every node", debug=cluster.describe)


def check_rescored_cut(hits, fused: dict, cut: int, rescored, limit: int) -> None:
    """Hits re-scored from the best ``cut`` fused candidates; RRF ties at the cut may go either way."""
    border = sorted(fused.values(), reverse=True)[cut - 1]
    sure = {pid for pid, s in fused.items() if s > border + 1e-9}
    maybe = {pid for pid, s in fused.items() if abs(s - border) <= 1e-9}
    assert len(hits) == limit
    assert all(h.id in sure | maybe and h.score == pytest.approx(float(rescored[h.id]), abs=1e-4) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    missed = {pid for pid in sure if rescored[pid] > hits[-1].score + 1e-4} - {h.id for h in hits}
    assert not missed
