"""Vector datatypes (float32, float16, uint8) and Manhattan distance, end to end.

Expected values are computed here with numpy: float16 collections store and
return float16-rounded values; uint8 collections convert like Qdrant (``as u8``:
truncate, saturate to 0..255). Queries are converted the same way before
scoring. Everything must hold for exact search, for the HNSW graph and after a
node restart.
"""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

from tests.polling import wait_for

N = 300
DIM = 8
RNG = np.random.default_rng(2024)
HALF = RNG.normal(size=(N, DIM)).astype(np.float32)
BYTES = RNG.integers(0, 256, size=(N, DIM)).astype(np.float32)
MANHATTAN = RNG.normal(size=(N, 4)).astype(np.float32)
QUERIES = RNG.normal(size=(5, DIM)).astype(np.float32)


def f16(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


def u8(values: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    return np.clip(np.trunc(arr), 0, 255).astype(np.float32)


def top(scores: np.ndarray, limit: int, higher_better: bool) -> list[int]:
    order = np.argsort(-scores if higher_better else scores, kind="stable")
    return [int(i) for i in order[:limit]]


def indexed(client, name: str, count: int) -> bool:
    return (client.get_collection(name).indexed_vectors_count or 0) >= count


@pytest.fixture(scope="module")
def collections(client, transport):
    """Three collections: float16/Dot (+ a float16 sparse vector), uint8/Euclid, Manhattan."""
    half, byte, manhattan = (f"dt_{kind}_{transport}" for kind in ("half", "byte", "manhattan"))
    hnsw_fast = models.OptimizersConfigDiff(indexing_threshold=1)
    client.create_collection(
        half,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16),
        sparse_vectors_config={
            "s": models.SparseVectorParams(index=models.SparseIndexParams(datatype=models.Datatype.FLOAT16))
        },
        optimizers_config=hnsw_fast,
    )
    client.create_collection(
        byte,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.EUCLID, datatype=models.Datatype.UINT8),
        optimizers_config=hnsw_fast,
    )
    client.create_collection(
        manhattan, vectors_config=models.VectorParams(size=4, distance=models.Distance.MANHATTAN)
    )
    client.upsert(
        half,
        [
            models.PointStruct(
                id=i,
                vector={"": HALF[i].tolist(), "s": models.SparseVector(indices=[i % 7, 10], values=[0.1, 0.3])},
            )
            for i in range(N)
        ],
    )
    client.upsert(byte, [models.PointStruct(id=i, vector=BYTES[i].tolist()) for i in range(N)])
    client.upsert(manhattan, [models.PointStruct(id=i, vector=MANHATTAN[i].tolist()) for i in range(N)])
    return half, byte, manhattan


def vectors_of(client, name: str, ids: list[int], using: str = "") -> np.ndarray:
    records = {r.id: r for r in client.retrieve(name, ids, with_vectors=True)}
    rows = []
    for i in ids:
        vector = records[i].vector
        rows.append(vector[using] if isinstance(vector, dict) else vector)
    return np.asarray(rows, dtype=np.float32)


def check_half(client, half: str, exact: bool) -> None:
    stored = f16(HALF)
    for query in QUERIES:
        q = f16(query)
        want = top(stored @ q, 10, True)
        hits = client.query_points(
            half, query=query.tolist(), limit=10, search_params=models.SearchParams(exact=exact, hnsw_ef=256)
        ).points
        assert [h.id for h in hits] == want
        assert [h.score for h in hits] == pytest.approx([float(stored[i] @ q) for i in want], abs=1e-3)


def check_byte(client, byte: str, exact: bool) -> None:
    for query in QUERIES * 60 + 128:
        q = u8(query)
        distances = np.sqrt(((BYTES - q) ** 2).sum(axis=1))
        want = top(distances, 10, False)
        hits = client.query_points(
            byte, query=query.tolist(), limit=10, search_params=models.SearchParams(exact=exact, hnsw_ef=256)
        ).points
        assert [h.score for h in hits] == pytest.approx([float(distances[i]) for i in want], rel=1e-5)
        # ties between integer vectors may order equal distances either way
        assert [h.score for h in hits] == pytest.approx([float(distances[h.id]) for h in hits], rel=1e-5)


def test_float16_vectors_are_returned_rounded(client, collections):
    half, byte, manhattan = collections
    ids = list(range(0, N, 7))
    got = vectors_of(client, half, ids)
    np.testing.assert_array_equal(got, f16(HALF[ids]))
    assert not np.array_equal(got, HALF[ids])  # the rounding really happened
    sparse = client.retrieve(half, [3], with_vectors=True)[0].vector["s"]
    assert sparse.indices == [3, 10]
    assert sparse.values == pytest.approx([0.1, 0.3], abs=1e-6)


def test_float16_search_exact_and_hnsw(client, collections):
    half, byte, manhattan = collections
    check_half(client, half, exact=True)
    wait_for(lambda: indexed(client, half, N), timeout=60, what="float16 HNSW graph")
    check_half(client, half, exact=False)


def test_float16_sparse_search(client, collections):
    half, byte, manhattan = collections
    hits = client.query_points(
        half, query=models.SparseVector(indices=[3], values=[2.0]), using="s", limit=N
    ).points
    want = sorted(i for i in range(N) if i % 7 == 3)
    assert sorted(h.id for h in hits) == want
    assert all(h.score == pytest.approx(0.2, abs=1e-3) for h in hits)


def test_uint8_values_convert_like_qdrant(client, collections, http):
    half, byte, manhattan = collections
    raw = [1.7, 300.0, -5.0, 0.0, 255.0, 254.9, 12.0, 99.5]
    response = http.put(
        f"{http.base}/collections/{byte}/points?wait=true", json={"points": [{"id": 10_000, "vector": raw}]}
    )
    assert response.status_code == 200, response.text
    got = vectors_of(client, byte, [10_000])[0]
    assert got.tolist() == [1.0, 255.0, 0.0, 0.0, 255.0, 254.0, 12.0, 99.0]
    client.delete(byte, points_selector=models.PointIdsList(points=[10_000]))
    np.testing.assert_array_equal(vectors_of(client, byte, list(range(20))), BYTES[:20])


def test_uint8_search_exact_and_hnsw(client, collections):
    half, byte, manhattan = collections
    check_byte(client, byte, exact=True)
    wait_for(lambda: indexed(client, byte, N), timeout=60, what="uint8 HNSW graph")
    check_byte(client, byte, exact=False)


def manhattan_scores(query: np.ndarray) -> np.ndarray:
    return np.abs(MANHATTAN - query).sum(axis=1)


def test_manhattan_search_recommend_and_matrix(client, collections):
    half, byte, manhattan = collections
    query = RNG.normal(size=4).astype(np.float32)
    distances = manhattan_scores(query)
    want = top(distances, 8, False)
    hits = client.query_points(manhattan, query=query.tolist(), limit=8).points
    assert [h.id for h in hits] == want
    assert [h.score for h in hits] == pytest.approx([float(distances[i]) for i in want], abs=1e-4)

    # recommend (average_vector): query = mean(pos) + mean(pos) - mean(neg), scored by L1
    positive, negative = [3, 17], [42]
    avg = MANHATTAN[positive].mean(axis=0)
    rec_query = avg + (avg - MANHATTAN[negative].mean(axis=0))
    rec_distances = manhattan_scores(rec_query)
    rec_distances[positive + negative] = np.inf  # examples are excluded from the results
    rec_want = top(rec_distances, 5, False)
    rec = client.query_points(
        manhattan, query=models.RecommendQuery(recommend=models.RecommendInput(positive=positive, negative=negative)),
        limit=5,
    ).points
    assert [h.id for h in rec] == rec_want
    assert [h.score for h in rec] == pytest.approx([float(rec_distances[i]) for i in rec_want], abs=1e-4)

    # distance matrix over a sample: every pair score is the L1 distance
    matrix = client.search_matrix_pairs(manhattan, sample=20, limit=3)
    assert matrix.pairs
    for pair in matrix.pairs:
        expected = float(np.abs(MANHATTAN[pair.a] - MANHATTAN[pair.b]).sum())
        assert pair.score == pytest.approx(expected, abs=1e-4)
    by_a: dict[int, list] = {}
    for pair in matrix.pairs:
        by_a.setdefault(pair.a, []).append(pair.score)
    assert all(scores == sorted(scores) for scores in by_a.values())  # nearest (smallest) first


def test_datatypes_survive_restart(client, collections, node):
    half, byte, manhattan = collections
    wait_for(lambda: indexed(client, half, N) and indexed(client, byte, N), timeout=60, what="graphs")
    node.restart()
    ids = list(range(0, N, 5))
    np.testing.assert_array_equal(vectors_of(client, half, ids), f16(HALF[ids]))
    np.testing.assert_array_equal(vectors_of(client, byte, ids), BYTES[ids])
    info = client.get_collection(byte).config.params.vectors
    assert info.datatype == models.Datatype.UINT8
    check_half(client, half, exact=False)
    check_half(client, half, exact=True)
    check_byte(client, byte, exact=False)
    check_byte(client, byte, exact=True)
