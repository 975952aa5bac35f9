"""Multi-stage ``/points/query`` (prefetch + fusion or re-scoring) on a two-shard collection,
checked against brute force computed here in numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from qdrant_client import models

COUNT, DIM, MDIM, VOCAB = 150, 8, 4, 40


@pytest.fixture
def data(client, collection_name):
    rng = np.random.default_rng(7)
    dense = rng.normal(size=(COUNT, DIM)).astype(np.float32)
    colbert = [rng.normal(size=(int(rng.integers(1, 4)), MDIM)).astype(np.float32) for _ in range(COUNT)]
    sparse = []
    for _ in range(COUNT):
        idx = np.sort(rng.choice(VOCAB, size=int(rng.integers(1, 6)), replace=False))
        sparse.append((idx, rng.uniform(0.1, 2.0, size=len(idx)).astype(np.float32)))
    client.create_collection(
        collection_name,
        shard_number=2,
        vectors_config={
            "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            "euclid": models.VectorParams(size=DIM, distance=models.Distance.EUCLID),
            "colbert": models.VectorParams(
                size=MDIM,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=pid,
                vector={
                    "dense": dense[pid].tolist(),
                    "euclid": dense[pid].tolist(),
                    "colbert": colbert[pid].tolist(),
                    "sparse": models.SparseVector(indices=sparse[pid][0].tolist(), values=sparse[pid][1].tolist()),
                },
                payload={"group": pid % 3},
            )
            for pid in range(COUNT)
        ],
        wait=True,
    )
    return {"dense": dense, "colbert": colbert, "sparse": sparse, "rng": rng}


# --------------------------------------------------------------------------- brute force


def cosine(data, query):
    d = np.asarray(data, np.float64)
    q = np.asarray(query, np.float64)
    return (d / np.linalg.norm(d, axis=1, keepdims=True)) @ (q / np.linalg.norm(q))


def euclid(data, query):
    return np.sqrt(((np.asarray(data, np.float64) - np.asarray(query, np.float64)) ** 2).sum(axis=1))


def sparse_dot(docs, q_idx, q_val):
    query = dict(zip(q_idx, q_val))
    return np.array([sum(float(v) * query.get(int(i), 0.0) for i, v in zip(idx, val)) for idx, val in docs])


def max_sim(docs, query):
    q = np.asarray(query, np.float64)
    return np.array([float((q @ np.asarray(doc, np.float64).T).max(axis=1).sum()) for doc in docs])


def top(scores, limit, ids=None, higher=True, keep=None):
    """(id, score) of the best ``limit`` among ``ids`` (all points by default)."""
    ids = range(len(scores)) if ids is None else ids
    ids = [i for i in ids if keep is None or keep(i)]
    ranked = sorted(ids, key=lambda i: (-scores[i] if higher else scores[i]))
    return [(i, float(scores[i])) for i in ranked[:limit]]


def rrf(lists, k=2):
    out: dict = {}
    for hits in lists:
        for pos, (pid, _) in enumerate(hits):
            out[pid] = out.get(pid, 0.0) + 1.0 / (pos + k)
    return out


def dbsf(lists, orders):
    out: dict = {}
    for hits, higher in zip(lists, orders):
        scores = [s for _, s in hits]
        mean = sum(scores) / len(scores)
        std = math.sqrt(sum((s - mean) ** 2 for s in scores) / (len(scores) - 1))
        low, high = mean - 3 * std, mean + 3 * std
        for pid, s in hits:
            norm = (s - low) / (high - low) if higher else (high - s) / (high - low)
            out[pid] = out.get(pid, 0.0) + norm
    return out


def assert_fused(points, expected: dict, limit: int, offset: int = 0):
    """Scores equal the brute-force fused scores, in descending order (ties may swap)."""
    ranked = sorted(expected.values(), reverse=True)[offset : offset + limit]
    assert len(points) == len(ranked)
    for point, want in zip(points, ranked):
        assert point.score == pytest.approx(want, rel=1e-4, abs=1e-5)
        assert point.score == pytest.approx(expected[point.id], rel=1e-4, abs=1e-5)
    assert len({p.id for p in points}) == len(points)


# --------------------------------------------------------------------------- tests


def test_rrf_dense_sparse_hybrid(client, collection_name, data):
    rng = data["rng"]
    q_dense = rng.normal(size=DIM)
    q_idx = sorted(rng.choice(VOCAB, size=6, replace=False).tolist())
    q_val = rng.uniform(0.5, 1.5, size=6).tolist()
    dense_hits = top(cosine(data["dense"], q_dense), 20)
    sparse_scores = sparse_dot(data["sparse"], q_idx, q_val)
    sparse_hits = top(sparse_scores, 15, keep=lambda i: sparse_scores[i] > 0)
    expected = rrf([dense_hits, sparse_hits])
    points = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=q_dense.tolist(), using="dense", limit=20),
            models.Prefetch(query=models.SparseVector(indices=q_idx, values=q_val), using="sparse", limit=15),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=12,
        with_payload=True,
    ).points
    assert_fused(points, expected, 12)
    assert all(p.payload == {"group": p.id % 3} for p in points)
    assert points[0].score >= 0.5  # rank 0 of a list scores 1/(0 + 2)

    paged = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=q_dense.tolist(), using="dense", limit=20),
            models.Prefetch(query=models.SparseVector(indices=q_idx, values=q_val), using="sparse", limit=15),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=5,
        offset=4,
    ).points
    assert_fused(paged, expected, 5, offset=4)

    k = 60
    custom = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=q_dense.tolist(), using="dense", limit=20),
            models.Prefetch(query=models.SparseVector(indices=q_idx, values=q_val), using="sparse", limit=15),
        ],
        query=models.RrfQuery(rrf=models.Rrf(k=k)),
        limit=10,
    ).points
    assert_fused(custom, rrf([dense_hits, sparse_hits], k=k), 10)


def test_dbsf_with_cosine_and_euclid_sources(client, collection_name, data):
    rng = data["rng"]
    q1, q2 = rng.normal(size=DIM), rng.normal(size=DIM)
    cos_hits = top(cosine(data["dense"], q1), 25)
    euc_hits = top(euclid(data["dense"], q2), 25, higher=False)
    expected = dbsf([cos_hits, euc_hits], [True, False])
    points = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=q1.tolist(), using="dense", limit=25),
            models.Prefetch(query=q2.tolist(), using="euclid", limit=25),
        ],
        query=models.FusionQuery(fusion=models.Fusion.DBSF),
        limit=10,
    ).points
    assert_fused(points, expected, 10)
    threshold = sorted(expected.values(), reverse=True)[4]
    above = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=q1.tolist(), using="dense", limit=25),
            models.Prefetch(query=q2.tolist(), using="euclid", limit=25),
        ],
        query=models.FusionQuery(fusion=models.Fusion.DBSF),
        score_threshold=threshold - 1e-6,
        limit=10,
    ).points
    assert len(above) == 5


def test_nested_prefetch_with_filters(client, collection_name, data):
    rng = data["rng"]
    q1, q2, q3 = rng.normal(size=DIM), rng.normal(size=DIM), rng.normal(size=(2, MDIM))
    in_group = lambda i: i % 3 != 0  # noqa: E731
    inner = rrf([
        top(cosine(data["dense"], q1), 30, keep=in_group),
        top(cosine(data["dense"], q2), 30, keep=lambda i: in_group(i) and i % 2 == 0),
    ])
    inner_top = sorted(inner, key=lambda pid: -inner[pid])[:20]
    colbert = max_sim(data["colbert"], q3)
    expected = dict(top(colbert, 7, ids=inner_top))
    root_filter = models.Filter(must_not=[models.FieldCondition(key="group", match=models.MatchValue(value=0))])
    points = client.query_points(
        collection_name,
        prefetch=models.Prefetch(
            prefetch=[
                models.Prefetch(query=q1.tolist(), using="dense", limit=30),
                models.Prefetch(
                    query=q2.tolist(),
                    using="dense",
                    limit=30,
                    filter=models.Filter(must=[models.HasIdCondition(has_id=list(range(0, COUNT, 2)))]),
                ),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=20,
        ),
        query=q3.tolist(),
        using="colbert",
        query_filter=root_filter,
        limit=7,
    ).points
    # the top-level filter reaches the leaves, so every candidate is outside group 0
    assert [p.id for p in points] == [pid for pid, _ in sorted(expected.items(), key=lambda kv: -kv[1])]
    for p in points:
        assert p.score == pytest.approx(expected[p.id], rel=1e-4, abs=1e-4)


def test_colbert_rescoring_of_dense_candidates(client, collection_name, data):
    rng = data["rng"]
    q_dense = rng.normal(size=DIM)
    q_multi = rng.normal(size=(3, MDIM))
    candidates = [pid for pid, _ in top(cosine(data["dense"], q_dense), 25)]
    colbert = max_sim(data["colbert"], q_multi)
    expected = top(colbert, 8, ids=candidates)
    points = client.query_points(
        collection_name,
        prefetch=[models.Prefetch(query=q_dense.tolist(), using="dense", limit=25)],
        query=q_multi.tolist(),
        using="colbert",
        limit=8,
        with_vectors=["colbert"],
    ).points
    assert [p.id for p in points] == [pid for pid, _ in expected]
    for p, (_, score) in zip(points, expected):
        assert p.score == pytest.approx(score, rel=1e-4, abs=1e-4)
        assert np.allclose(np.asarray(p.vector["colbert"]), data["colbert"][p.id], atol=1e-5)
    # the best multivector match overall is usually not among the dense candidates
    assert set(p.id for p in points) <= set(candidates)

    # a stored point as the re-scoring query: the point itself is left out
    anchor = candidates[0]
    by_id = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=q_dense.tolist(), using="dense", limit=25),
        query=anchor,
        using="dense",
        limit=5,
    ).points
    anchor_scores = cosine(data["dense"], data["dense"][anchor])
    want = top(anchor_scores, 5, ids=[c for c in candidates if c != anchor])
    assert [p.id for p in by_id] == [pid for pid, _ in want]


def test_invalid_multi_stage_requests(http, collection_name, client, data):
    url = f"{http.base}/collections/{collection_name}/points/query"
    response = http.post(url, json={"query": {"fusion": "rrf"}})
    assert response.status_code == 400
    response = http.post(url, json={"prefetch": {"query": [0.0] * DIM, "using": "dense"}})
    assert response.status_code == 400 and "A query is needed" in response.json()["status"]["error"]
    response = http.post(
        url,
        json={
            "prefetch": [{"query": [0.1] * DIM, "using": "dense"}],
            "query": {"rrf": {"weights": [1.0, 2.0]}},
        },
    )
    assert response.status_code == 400 and "weights" in response.json()["status"]["error"]
