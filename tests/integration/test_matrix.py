"""Distance matrix (``/points/search/matrix/pairs|offsets``) checked against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

N = 80
RNG = np.random.default_rng(11)
DENSE = RNG.normal(size=(N, 5)).astype(np.float32)
EUCLID = RNG.normal(size=(N, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def coll(client, transport):
    name = f"matrix_points_{transport}"
    client.create_collection(
        name,
        vectors_config={
            "d": models.VectorParams(size=5, distance=models.Distance.COSINE),
            "e": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
        shard_number=2,
    )
    points = []
    for i in range(N):
        vector = {"d": DENSE[i].tolist()}
        if i % 4 != 0:
            vector["e"] = EUCLID[i].tolist()  # every 4th point lacks "e": never sampled for it
        points.append(models.PointStruct(id=i, vector=vector, payload={"even": i % 2 == 0}))
    client.upsert(name, points=points, wait=True)
    return name


def brute(ids, using, limit):
    """{a: [(b, score)]} for the sample ``ids``: each one's ``limit`` best others."""
    if using == "d":
        m = DENSE[ids] / np.linalg.norm(DENSE[ids], axis=1, keepdims=True)
        scores = m @ m.T
        sign = -1
    else:
        diff = EUCLID[ids][:, None, :] - EUCLID[ids][None, :, :]
        scores = np.sqrt((diff ** 2).sum(-1))
        sign = 1
    out = {}
    for r, a in enumerate(ids):
        order = sorted((c for c in range(len(ids)) if c != r), key=lambda c: sign * scores[r, c])
        out[a] = [(ids[c], float(scores[r, c])) for c in order[:limit]]
    return out


def check_rows(rows, using, limit):
    sample = list(rows)
    want = brute(sample, using, limit)
    for a, got in rows.items():
        assert [b for b, _ in got] == [b for b, _ in want[a]]
        assert [s for _, s in got] == pytest.approx([s for _, s in want[a]], abs=1e-4)


def test_pairs_match_brute_force(client, coll):
    got = client.search_matrix_pairs(coll, sample=12, limit=3, using="d")
    rows: dict = {}
    for pair in got.pairs:
        rows.setdefault(pair.a, []).append((pair.b, pair.score))
    assert len(rows) == 12 and all(len(r) == 3 for r in rows.values())
    assert all(b in rows for r in rows.values() for b, _ in r)  # neighbours come from the sample
    check_rows(rows, "d", 3)


def test_offsets_with_filter_and_euclid(client, coll):
    flt = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    got = client.search_matrix_offsets(coll, query_filter=flt, sample=100, limit=4, using="e")
    expected_ids = {i for i in range(N) if i % 2 == 0 and i % 4 != 0}
    assert set(got.ids) == expected_ids and len(got.ids) == len(expected_ids)
    assert len(got.offsets_row) == len(got.offsets_col) == len(got.scores) == 4 * len(got.ids)
    rows: dict = {}
    for r, c, s in zip(got.offsets_row, got.offsets_col, got.scores):
        rows.setdefault(got.ids[r], []).append((got.ids[c], s))
    check_rows(rows, "e", 4)


def test_default_vector_sample_is_stable(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=5, distance=models.Distance.DOT), shard_number=2
    )
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=DENSE[i].tolist()) for i in range(30)],
        wait=True,
    )
    first = client.search_matrix_offsets(collection_name)
    assert len(first.ids) == 10 and len(first.scores) == 30
    assert client.search_matrix_offsets(collection_name).ids == first.ids
    pairs = client.search_matrix_pairs(collection_name, sample=5, limit=1)
    for pair in pairs.pairs:
        assert pair.score == pytest.approx(float(DENSE[pair.a] @ DENSE[pair.b]), abs=1e-4)
    assert len(pairs.pairs) == 5


def test_unknown_vector_is_refused(http, coll):
    response = http.post(f"{http.base}/collections/{coll}/points/search/matrix/pairs", json={"using": "nope"})
    assert response.status_code == 400
    assert "nope" in response.json()["status"]["error"]
