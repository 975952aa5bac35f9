"""Recommend, discover and context queries (query API and legacy endpoints), checked against numpy brute force."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

N = 80
RNG = np.random.default_rng(11)
COS = RNG.normal(size=(N, 4)).astype(np.float32)
EUC = RNG.normal(size=(N, 3)).astype(np.float32)
GROUP = [i % 3 for i in range(N)]
IDS = list(range(N))
NAME = "reco"


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sims(name: str, data: np.ndarray, example: np.ndarray) -> np.ndarray:
    """Qdrant's internal similarity: dot of unit vectors (Cosine), minus squared L2 (Euclid)."""
    if name == "c":
        return unit(data) @ unit(example)
    return -(((np.asarray(data, np.float64) - np.asarray(example, np.float64)) ** 2).sum(axis=1))


def data_of(name: str) -> np.ndarray:
    return COS if name == "c" else EUC


def vec(name: str, example) -> np.ndarray:
    return data_of(name)[example] if isinstance(example, int) else np.asarray(example, np.float64)


def sig(x):
    return x / (1 + np.abs(x))


def ssig(x):
    return 0.5 * (sig(x) + 1)


def candidates(examples, group=None) -> np.ndarray:
    used = {e for e in examples if isinstance(e, int)}
    return np.array([i for i in IDS if i not in used and (group is None or GROUP[i] == group)])


def check(points, cand: np.ndarray, scores: np.ndarray, limit: int, offset: int = 0, higher: bool = True):
    by_id = dict(zip(cand.tolist(), scores.tolist()))
    order = np.argsort(-scores if higher else scores, kind="stable")
    expected = cand[order][offset : offset + limit].tolist()
    assert len(points) == len(expected)
    for point, want in zip(points, expected):
        assert point.score == pytest.approx(by_id[point.id], rel=1e-4, abs=1e-4)
        if point.id != want:
            assert abs(by_id[point.id] - by_id[want]) < 1e-4
    got = [p.score for p in points]
    assert got == sorted(got, reverse=higher)


@pytest.fixture(scope="module")
def coll(client, transport):
    name = f"{NAME}_{transport}"
    client.create_collection(
        name,
        vectors_config={
            "c": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "e": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
        shard_number=2,
    )
    client.upsert(
        name,
        points=[
            models.PointStruct(id=i, vector={"c": COS[i].tolist(), "e": EUC[i].tolist()}, payload={"g": GROUP[i]})
            for i in IDS
        ],
        wait=True,
    )
    return name


G0 = models.Filter(must=[models.FieldCondition(key="g", match=models.MatchValue(value=0))])
RAW_C = [0.3, -0.2, 0.9, 0.1]
RAW_E = [0.5, 0.5, -1.0]


@pytest.mark.parametrize("name", ["c", "e"])
def test_average_vector(client, coll, name):
    raw = RAW_C if name == "c" else RAW_E
    positive, negative = [1, 2], [3, raw]
    res = client.query_points(
        coll,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=positive, negative=negative)),
        using=name,
        query_filter=G0,
        limit=7,
    ).points
    prep = unit if name == "c" else (lambda v: np.asarray(v, np.float64))
    avg_pos = np.mean([prep(vec(name, e)) for e in positive], axis=0)
    avg_neg = np.mean([prep(vec(name, e)) for e in negative], axis=0)
    target = avg_pos + avg_pos - avg_neg
    cand = candidates(positive + negative, group=0)
    if name == "c":
        scores = unit(COS[cand]) @ unit(target)
        check(res, cand, scores, 7)
    else:
        scores = np.sqrt(((EUC[cand] - target) ** 2).sum(axis=1))
        check(res, cand, scores, 7, higher=False)


@pytest.mark.parametrize("name", ["c", "e"])
@pytest.mark.parametrize("strategy", ["best_score", "sum_scores"])
def test_best_and_sum(client, coll, name, strategy):
    raw = RAW_C if name == "c" else RAW_E
    positive, negative = [5, raw], [6, 7]
    res = client.query_points(
        coll,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=positive, negative=negative, strategy=strategy)
        ),
        using=name,
        limit=10,
        offset=2,
        with_payload=True,
    ).points
    cand = candidates(positive + negative)
    data = data_of(name)[cand]
    pos = np.stack([sims(name, data, vec(name, e)) for e in positive], axis=1)
    neg = np.stack([sims(name, data, vec(name, e)) for e in negative], axis=1)
    if strategy == "sum_scores":
        scores = pos.sum(axis=1) - neg.sum(axis=1)
    else:
        mp, mn = pos.max(axis=1), neg.max(axis=1)
        scores = np.where(mp > mn, ssig(mp), -ssig(mn))
    check(res, cand, scores, 10, offset=2)
    assert all(p.payload == {"g": GROUP[p.id]} for p in res)


def test_best_score_negatives_only(client, coll):
    res = client.query_points(
        coll,
        query=models.RecommendQuery(recommend=models.RecommendInput(negative=[9], strategy="best_score")),
        using="c",
        limit=5,
    ).points
    cand = candidates([9])
    scores = -ssig(sims("c", COS[cand], COS[9]))
    check(res, cand, scores, 5)


def test_discover(client, coll):
    target, pairs = 10, [(11, 12), (RAW_C, 13)]
    res = client.query_points(
        coll,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=target, context=[models.ContextPair(positive=p, negative=n) for p, n in pairs]
            )
        ),
        using="c",
        query_filter=G0,
        limit=8,
    ).points
    cand = candidates([target, 11, 12, 13], group=0)
    data = COS[cand]
    rank = sum(np.where(sims("c", data, vec("c", p)) > sims("c", data, vec("c", n)), 1.0, -1.0) for p, n in pairs)
    scores = rank + ssig(sims("c", data, COS[target]))
    check(res, cand, scores, 8)


@pytest.mark.parametrize("name", ["c", "e"])
def test_context(client, coll, name):
    pairs = [(20, 21), (22, 23)]
    res = client.query_points(
        coll,
        query=models.ContextQuery(context=[models.ContextPair(positive=p, negative=n) for p, n in pairs]),
        using=name,
        limit=10,
    ).points
    cand = candidates([20, 21, 22, 23])
    data = data_of(name)[cand]
    eps = float(np.finfo(np.float32).eps)
    scores = sum(
        sig(np.minimum(sims(name, data, vec(name, p)) - sims(name, data, vec(name, n)) - eps, 0.0)) for p, n in pairs
    )
    check(res, cand, scores, 10)


def test_recommend_rescores_prefetch(client, coll):
    prefetch = models.Prefetch(query=COS[30].tolist(), using="c", limit=15)
    res = client.query_points(
        coll,
        prefetch=prefetch,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[31], strategy="sum_scores")),
        using="c",
        limit=5,
    ).points
    pre = np.argsort(-(unit(COS) @ unit(COS[30])), kind="stable")[:15]
    cand = np.array([i for i in pre.tolist() if i != 31])
    scores = sims("c", COS[cand], COS[31])
    check(res, cand, scores, 5)


def test_recommend_errors(client, coll, http):
    url = f"{http.base}/collections/{coll}/points/query"
    r = http.post(url, json={"query": {"recommend": {"positive": [12345]}}, "using": "c"})
    assert r.status_code == 404, r.text
    r = http.post(url, json={"query": {"recommend": {"negative": [1]}}, "using": "c"})
    assert r.status_code == 400 and "positive" in r.json()["status"]["error"]
    r = http.post(url, json={"query": {"recommend": {"positive": [1], "strategy": "nope"}}, "using": "c"})
    assert r.status_code == 400
    r = http.post(url, json={"query": {"recommend": {"positive": [1]}}, "using": "missing"})
    assert r.status_code == 400


def test_legacy_endpoints(client, coll, http):
    base = f"{http.base}/collections/{coll}/points"
    body = {"positive": [1, RAW_C], "negative": [2], "strategy": "best_score", "using": "c", "limit": 4}
    single = http.post(base + "/recommend", json=body)
    assert single.status_code == 200, single.text
    via_query = client.query_points(
        coll,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=[1, RAW_C], negative=[2], strategy="best_score")
        ),
        using="c",
        limit=4,
    ).points
    assert [p["id"] for p in single.json()["result"]] == [p.id for p in via_query]
    batch = http.post(base + "/recommend/batch", json={"searches": [body, {**body, "limit": 2}]})
    assert batch.status_code == 200, batch.text
    assert [len(x) for x in batch.json()["result"]] == [4, 2]

    disc = {"target": 10, "context": [{"positive": 11, "negative": 12}], "using": "c", "limit": 3}
    r = http.post(base + "/discover", json=disc)
    assert r.status_code == 200, r.text
    via_query = client.query_points(
        coll,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(target=10, context=[models.ContextPair(positive=11, negative=12)])
        ),
        using="c",
        limit=3,
    ).points
    assert [p["id"] for p in r.json()["result"]] == [p.id for p in via_query]
    r = http.post(base + "/discover/batch", json={"searches": [disc, {**disc, "target": None}]})
    assert r.status_code == 200, r.text
    assert [len(x) for x in r.json()["result"]] == [3, 3]
    r = http.post(base + "/recommend", json={"positive": [1], "using": "c"})
    assert r.status_code == 400 and "limit" in r.json()["status"]["error"]
