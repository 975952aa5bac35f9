"""Sparse IDF, MMR and ``lookup_from`` on a three-node cluster, checked against numpy.

A small collection of 3 shards (one replica each, spread over the nodes) holds
the dense and sparse vectors of :mod:`tests.cluster.query_surface_data`, the
sparse ones under an ``idf`` modifier; a second collection on the cluster is
the source of ``lookup_from``. Every check runs through each node in turn, so
the answer is always merged by the node asked from local and remote shards.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from qdrant_client import models

from tests.cluster import brute_force as bf
from tests.cluster.query_surface_data import COS, DIM, EXACT, IDS, N, RNG, SPARSE, VOCAB, check_ranked, each, node_clients

NAME, SOURCE = "qx_cluster", "qx_cluster_src"
SOURCE_N = 10
SOURCE_VECTORS = RNG.normal(size=(SOURCE_N, DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def clients(cluster):
    yield from node_clients(cluster)


@pytest.fixture(scope="module")
def coll(cluster, clients) -> str:
    first, second, third = clients
    first.create_collection(
        NAME,
        shard_number=3,
        vectors_config={"cos": models.VectorParams(size=DIM, distance=models.Distance.COSINE)},
        sparse_vectors_config={"idf": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    second.create_collection(
        SOURCE, shard_number=2, vectors_config={"v": models.VectorParams(size=DIM, distance=models.Distance.COSINE)}
    )
    cluster.wait_all_active(NAME)
    cluster.wait_all_active(SOURCE)
    points = [
        models.PointStruct(
            id=i,
            vector={"cos": COS[i].tolist(), "idf": models.SparseVector(indices=SPARSE[i][0], values=SPARSE[i][1])},
        )
        for i in IDS
    ]
    second.upsert(NAME, points=points[: N // 2], wait=True)
    third.upsert(NAME, points=points[N // 2 :], wait=True)
    first.upsert(
        SOURCE, points=[models.PointStruct(id=k, vector={"v": SOURCE_VECTORS[k].tolist()}) for k in range(SOURCE_N)],
        wait=True,
    )
    local = [len(cluster.collection_cluster(node, NAME)["local_shards"]) for node in cluster.nodes]
    assert sum(local) == 3 and max(local) < 3, local  # shards (and so IDF statistics) live on several nodes
    for client in clients:
        assert client.count(NAME, exact=True).count == N
    return NAME


# --------------------------------------------------------------------------- references


def idf_scores(q_idx: list[int], q_val: list[float]) -> np.ndarray:
    """Qdrant's IDF over the whole collection: ln((n - df + 0.5) / (df + 0.5) + 1) per query dimension."""
    weights = []
    for dim, value in zip(q_idx, q_val):
        df = sum(1 for idx, _ in SPARSE if dim in idx)
        weights.append(value * math.log((N - df + 0.5) / (df + 0.5) + 1.0))
    return bf.sparse_dot(SPARSE, q_idx, weights)


def mmr_order(candidates: list[int], relevance: np.ndarray, vectors: np.ndarray, diversity: float, k: int) -> list[int]:
    """Greedy maximal marginal relevance over ``candidates`` with cosine similarity between them."""
    lam = 1.0 - diversity
    units = bf.unit(vectors[candidates])
    between = units @ units.T
    chosen = [max(range(len(candidates)), key=lambda c: relevance[candidates[c]])]
    while len(chosen) < min(k, len(candidates)):
        rest = [c for c in range(len(candidates)) if c not in chosen]
        gain = {c: lam * relevance[candidates[c]] - (1 - lam) * max(between[c, s] for s in chosen) for c in rest}
        chosen.append(max(rest, key=lambda c: gain[c]))
    return [candidates[c] for c in chosen]


# --------------------------------------------------------------------------- tests


def test_idf_statistics_span_all_nodes(coll, clients):
    for _ in range(3):
        q_idx = sorted(RNG.choice(VOCAB, size=4, replace=False).tolist())
        q_val = RNG.uniform(0.5, 1.5, size=4).tolist()
        scores = idf_scores(q_idx, q_val)
        want = bf.top(scores, 12, keep=lambda i: scores[i] > 0)
        for index, client in each(clients):
            hits = client.query_points(
                coll, query=models.SparseVector(indices=q_idx, values=q_val), using="idf", limit=12
            ).points
            check_ranked(hits, want)


def test_mmr_on_every_node(coll, clients):
    q = RNG.normal(size=DIM)
    relevance = bf.cosine(COS, q)
    candidates = [pid for pid, _ in bf.top(relevance, 20)]
    want = mmr_order(candidates, relevance, COS, 0.5, 8)
    assert want != candidates[:8]  # diversity changes the plain ranking here
    for index, client in each(clients):
        hits = client.query_points(
            coll,
            query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=0.5, candidates_limit=20)),
            using="cos",
            limit=6,
            offset=2,
            search_params=EXACT,
        ).points
        assert [h.id for h in hits] == want[2:8]
        assert [h.score for h in hits] == pytest.approx([float(relevance[i]) for i in want[2:8]], abs=1e-4)


def test_lookup_from_another_collection_on_every_node(coll, clients):
    lookup = models.LookupLocation(collection=SOURCE, vector="v")
    source_units = bf.unit(SOURCE_VECTORS)
    for index, client in each(clients):
        hits = client.query_points(coll, query=4, using="cos", lookup_from=lookup, limit=7, search_params=EXACT).points
        check_ranked(hits, bf.top(bf.cosine(COS, source_units[4]), 7))  # point 4 of *this* collection is not skipped
        query = 2 * (source_units[1] + source_units[6]) / 2 - source_units[3]
        hits = client.query_points(
            coll,
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, 6], negative=[3])),
            using="cos",
            lookup_from=lookup,
            limit=5,
            search_params=EXACT,
        ).points
        check_ranked(hits, bf.top(bf.cosine(COS, query), 5))
