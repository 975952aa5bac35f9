"""``/points/search``, ``/points/search/batch`` and ``/points/query/batch``, checked against numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

N = 60
RNG = np.random.default_rng(7)
DENSE = RNG.normal(size=(N, 4)).astype(np.float32)
NAMED = RNG.normal(size=(N, 3)).astype(np.float32)
SPARSE = [
    (sorted(RNG.choice(20, size=3, replace=False).tolist()), RNG.random(3).astype(np.float32).tolist())
    for _ in range(N)
]


def cosine(data: np.ndarray, query: np.ndarray) -> np.ndarray:
    data = np.asarray(data, np.float64)
    query = np.asarray(query, np.float64)
    return (data / np.linalg.norm(data, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))


def euclid(data: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.sqrt(((np.asarray(data, np.float64) - np.asarray(query, np.float64)) ** 2).sum(axis=1))


def sparse_dot(query: dict) -> np.ndarray:
    q = dict(zip(query["indices"], query["values"]))
    return np.array([sum(v * q.get(i, 0.0) for i, v in zip(idx, vals)) for idx, vals in SPARSE])


def ranking(scores: np.ndarray, ids: list, higher: bool = True) -> list:
    return [ids[i] for i in np.argsort(-scores if higher else scores, kind="stable")]


def check(hits: list[dict], scores: np.ndarray, ids: list, higher: bool = True, offset: int = 0, limit: int = 10):
    by_id = dict(zip(ids, scores))
    expected = ranking(scores, ids, higher)[offset : offset + limit]
    assert len(hits) == len(expected)
    for hit, want in zip(hits, expected):
        assert hit["score"] == pytest.approx(by_id[hit["id"]], rel=1e-4, abs=1e-4)
        if hit["id"] != want:
            assert abs(by_id[hit["id"]] - by_id[want]) < 1e-4
    returned = [hit["score"] for hit in hits]
    assert returned == sorted(returned, reverse=higher)


def expect_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["status"]["error"]
    assert fragment in message, message


@pytest.fixture(scope="module")
def unnamed(client, transport):
    name = f"legacy_unnamed_{transport}"
    client.create_collection(name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.upsert(
        name,
        points=[
            models.PointStruct(id=i, vector=DENSE[i].tolist(), payload={"group": i % 3, "n": i}) for i in range(N)
        ],
        wait=True,
    )
    return name


@pytest.fixture(scope="module")
def named(client, transport):
    name = f"legacy_named_{transport}"
    client.create_collection(
        name,
        vectors_config={"b": models.VectorParams(size=3, distance=models.Distance.EUCLID)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    client.upsert(
        name,
        points=[
            models.PointStruct(
                id=i,
                vector={"b": NAMED[i].tolist(), "s": models.SparseVector(indices=SPARSE[i][0], values=SPARSE[i][1])},
                payload={"group": i % 3},
            )
            for i in range(N)
        ],
        wait=True,
    )
    return name


IDS = list(range(N))


def post(http, collection: str, path: str, body: dict, **params):
    return http.post(f"{http.base}/collections/{collection}/points/{path}", json=body, params=params)


def test_search_unnamed_dense(http, unnamed):
    query = RNG.normal(size=4).tolist()
    response = post(http, unnamed, "search", {"vector": query, "limit": 7})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    hits = body["result"]
    assert isinstance(hits, list)
    check(hits, cosine(DENSE, query), IDS, limit=7)
    assert all(hit["payload"] is None and hit["vector"] is None for hit in hits)
    assert all("version" in hit for hit in hits)


def test_search_offset_top_payload_vector_and_consistency(http, unnamed):
    query = RNG.normal(size=4).tolist()
    body = {"vector": query, "top": 5, "offset": 3, "with_payload": ["n"], "with_vector": True}
    response = post(http, unnamed, "search", body, consistency="majority")
    assert response.status_code == 200, response.text
    hits = response.json()["result"]
    check(hits, cosine(DENSE, query), IDS, offset=3, limit=5)
    for hit in hits:
        assert hit["payload"] == {"n": hit["id"]}
        assert len(hit["vector"]) == 4


def test_search_filter_and_threshold(http, unnamed):
    query = RNG.normal(size=4).tolist()
    flt = {"must": [{"key": "group", "match": {"value": 1}}]}
    response = post(http, unnamed, "search", {"vector": query, "limit": 100, "filter": flt, "score_threshold": 0.2})
    assert response.status_code == 200, response.text
    hits = response.json()["result"]
    ids = [i for i in IDS if i % 3 == 1]
    scores = cosine(DENSE[ids], query)
    keep = [i for i, s in zip(ids, scores) if s >= 0.2]
    check(hits, np.array([s for s in scores if s >= 0.2]), keep, limit=100)
    exact = post(http, unnamed, "search", {"vector": query, "limit": 4, "params": {"exact": True, "hnsw_ef": 64}})
    assert exact.status_code == 200, exact.text
    check(exact.json()["result"], cosine(DENSE, query), IDS, limit=4)


def test_search_named_dense_and_sparse(http, named):
    query = RNG.normal(size=3).tolist()
    response = post(http, named, "search", {"vector": {"name": "b", "vector": query}, "limit": 6, "with_payload": True})
    assert response.status_code == 200, response.text
    hits = response.json()["result"]
    check(hits, euclid(NAMED, query), IDS, higher=False, limit=6)
    assert all(hit["payload"] == {"group": hit["id"] % 3} for hit in hits)

    sparse = {"indices": [1, 5, 9, 13], "values": [0.5, 1.0, 0.25, 2.0]}
    response = post(http, named, "search", {"vector": {"name": "s", "vector": sparse}, "limit": 5})
    assert response.status_code == 200, response.text
    hits = response.json()["result"]
    scores = sparse_dot(sparse)
    positive = [i for i in IDS if scores[i] > 0]
    check(hits, scores[positive], positive, limit=5)


def test_search_batch(http, unnamed):
    queries = [RNG.normal(size=4).tolist() for _ in range(3)]
    body = {
        "searches": [
            {"vector": queries[0], "limit": 3},
            {"vector": queries[1], "limit": 5, "offset": 2},
            {"vector": queries[2], "limit": 4, "filter": {"must": [{"key": "group", "match": {"value": 0}}]}},
        ]
    }
    response = post(http, unnamed, "search/batch", body)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert len(result) == 3 and all(isinstance(hits, list) for hits in result)
    check(result[0], cosine(DENSE, queries[0]), IDS, limit=3)
    check(result[1], cosine(DENSE, queries[1]), IDS, offset=2, limit=5)
    group0 = [i for i in IDS if i % 3 == 0]
    check(result[2], cosine(DENSE[group0], queries[2]), group0, limit=4)
    empty = post(http, unnamed, "search/batch", {"searches": []})
    assert empty.status_code == 200 and empty.json()["result"] == []


def test_query_batch_through_client(client, named):
    q1 = RNG.normal(size=3).tolist()
    sparse = models.SparseVector(indices=[2, 4, 6, 8], values=[1.0, 0.5, 0.75, 0.1])
    responses = client.query_batch_points(
        named,
        requests=[
            models.QueryRequest(query=q1, using="b", limit=4, with_payload=True),
            models.QueryRequest(query=sparse, using="s", limit=3),
            models.QueryRequest(query=7, using="b", limit=2),
        ],
    )
    assert len(responses) == 3
    first = [{"id": p.id, "score": p.score} for p in responses[0].points]
    check(first, euclid(NAMED, q1), IDS, higher=False, limit=4)
    assert all(p.payload == {"group": p.id % 3} for p in responses[0].points)
    scores = sparse_dot({"indices": sparse.indices, "values": sparse.values})
    positive = [i for i in IDS if scores[i] > 0]
    check([{"id": p.id, "score": p.score} for p in responses[1].points], scores[positive], positive, limit=3)
    others = [i for i in IDS if i != 7]
    by_id = [{"id": p.id, "score": p.score} for p in responses[2].points]
    check(by_id, euclid(NAMED[others], NAMED[7]), others, higher=False, limit=2)


def test_query_batch_raw_shape(http, unnamed):
    query = RNG.normal(size=4).tolist()
    response = post(http, unnamed, "query/batch", {"searches": [{"query": query, "limit": 2}, {"limit": 3}]})
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    check(result[0]["points"], cosine(DENSE, query), IDS, limit=2)
    assert [p["id"] for p in result[1]["points"]] == [0, 1, 2]


def test_errors(http, unnamed, named):
    expect_error(post(http, named, "search", {"vector": {"name": "nope", "vector": [1, 2, 3]}, "limit": 3}),
                 400, "Wrong input: Not existing vector name error: nope")
    expect_error(post(http, unnamed, "search", {"vector": [1, 2, 3, 4], "limit": 0}), 400, "Validation error")
    expect_error(post(http, unnamed, "search", {"vector": [1, 2, 3, 4]}), 400, "missing field `limit`")
    expect_error(post(http, unnamed, "search", {"vector": [1, 2, 3], "limit": 2}), 400, "Vector dimension error")
    expect_error(post(http, unnamed, "search", {"vector": [1, 2, 3, 4], "limit": -1}), 400, "Format error")
    expect_error(post(http, unnamed, "search", {"vector": [1, 2, 3, 4], "limit": 2}, consistency="bogus"),
                 400, "invalid consistency")
    expect_error(post(http, unnamed, "search/batch", {"searches": [{"vector": [1, 2, 3, 4], "limit": 0}]}),
                 400, "searches[0].limit")
    expect_error(post(http, named, "query/batch", {"searches": [{"query": [1, 2, 3], "using": "nope"}]}),
                 400, "Not existing vector name error: nope")
    expect_error(post(http, named, "query/batch", {"searches": [{"query": [1, 2, 3], "using": "b", "limit": 0}]}),
                 400, "Validation error")
    expect_error(post(http, unnamed, "query/batch", {}), 400, "missing field `searches`")
    expect_error(post(http, "missing_collection", "search", {"vector": [1, 2, 3, 4], "limit": 2}), 404, "missing_collection")
