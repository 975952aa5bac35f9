"""MMR re-ranking, ``lookup_from``, explore queries on sparse and multi-vectors, and collection-wide IDF.

Every collection has two shards (on one node), and every answer is checked
against numpy brute force over all points.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from qdrant_client import models

N = 60
RNG = np.random.default_rng(2024)
DENSE = RNG.normal(size=(N, 4)).astype(np.float32)
EUCLID = RNG.normal(size=(N, 3)).astype(np.float32)
MULTI = [RNG.normal(size=(int(RNG.integers(1, 4)), 3)).astype(np.float32) for _ in range(N)]


def _sparse(rng: np.random.Generator) -> dict[int, float]:
    # Dimension 0 everywhere, so every point shares a dimension with every query.
    dims = [0] + sorted(rng.choice(np.arange(1, 16), size=int(rng.integers(1, 6)), replace=False).tolist())
    return {int(d): float(np.float32(rng.uniform(0.1, 2.0))) for d in dims}


SPARSE = [_sparse(RNG) for _ in range(N)]
OTHER_N = 12
OTHER_D = RNG.normal(size=(OTHER_N, 4)).astype(np.float32)
OTHER_ALT = RNG.normal(size=(OTHER_N, 4)).astype(np.float32)


# --------------------------------------------------------------------------- brute force


def unit(v) -> np.ndarray:
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def sparse_dot(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(v * b[d] for d, v in a.items() if d in b)


def max_sim(query: np.ndarray, doc: np.ndarray) -> float:
    return float((np.asarray(query, np.float64) @ np.asarray(doc, np.float64).T).max(axis=1).sum())


def ssig(x):
    return 0.5 * (x / (1 + np.abs(x)) + 1)


def mmr_reference(query_sims: np.ndarray, pair: np.ndarray, lam: float, k: int) -> list[int]:
    """Greedy MMR written plainly: most relevant first, then best lam*rel - (1-lam)*max sim to picked."""
    picked = [int(np.argmax(query_sims))]
    left = [i for i in range(len(query_sims)) if i != picked[0]]
    while left and len(picked) < k:
        value = {i: lam * query_sims[i] - (1 - lam) * max(pair[i, j] for j in picked) for i in left}
        best = max(left, key=lambda i: value[i])
        picked.append(best)
        left.remove(best)
    return picked


def assert_ranking(points, expected_ids: list[int], expected_scores: dict[int, float]) -> None:
    assert [p.id for p in points] == expected_ids
    for p in points:
        assert p.score == pytest.approx(expected_scores[p.id], rel=1e-4, abs=1e-4)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def names(client):
    suffix = uuid.uuid4().hex[:8]  # the module may run once per client transport on the same node
    main, other, alias = f"qx_main_{suffix}", f"qx_other_{suffix}", f"qx_alias_{suffix}"
    client.create_collection(
        main,
        shard_number=2,
        vectors_config={
            "d": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "e": models.VectorParams(size=3, distance=models.Distance.EUCLID),
            "m": models.VectorParams(
                size=3,
                distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={
            "s": models.SparseVectorParams(),
            "idf": models.SparseVectorParams(modifier=models.Modifier.IDF),
        },
    )
    points = []
    for i in range(N):
        sparse = models.SparseVector(indices=list(SPARSE[i]), values=list(SPARSE[i].values()))
        points.append(
            models.PointStruct(
                id=i,
                vector={
                    "d": DENSE[i].tolist(),
                    "e": EUCLID[i].tolist(),
                    "m": MULTI[i].tolist(),
                    "s": sparse,
                    "idf": sparse,
                },
                payload={"i": i},
            )
        )
    client.upsert(main, points=points, wait=True)
    client.create_collection(
        other,
        shard_number=2,
        vectors_config={
            "d": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "alt": models.VectorParams(size=4, distance=models.Distance.COSINE),
        },
    )
    client.upsert(
        other,
        points=[
            models.PointStruct(id=i, vector={"d": OTHER_D[i].tolist(), "alt": OTHER_ALT[i].tolist()})
            for i in range(OTHER_N)
        ],
        wait=True,
    )
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=other, alias_name=alias))
        ]
    )
    return {"main": main, "other": other, "alias": alias}


# --------------------------------------------------------------------------- MMR


@pytest.mark.parametrize("diversity", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_mmr_dense_cosine_matches_reference(client, names, diversity):
    query = RNG.normal(size=4)
    cosine = unit(DENSE) @ unit(query)
    cand = np.argsort(-cosine, kind="stable")[:25]
    vecs = unit(DENSE[cand])
    picked = mmr_reference(cosine[cand], vecs @ vecs.T, 1.0 - diversity, 7)
    expected = [int(cand[i]) for i in picked]
    result = client.query_points(
        names["main"],
        query=models.NearestQuery(nearest=query.tolist(), mmr=models.Mmr(diversity=diversity, candidates_limit=25)),
        using="d",
        limit=7,
    ).points
    # The score stays the similarity to the query; MMR only decides the order.
    assert_ranking(result, expected, {i: float(cosine[i]) for i in range(N)})
    if diversity == 0.0:
        assert expected == cand[:7].tolist()


def test_mmr_euclid_offset_payload_and_default_diversity(client, names):
    query = RNG.normal(size=3)
    distances = np.sqrt(((EUCLID.astype(np.float64) - query) ** 2).sum(axis=1))
    cand = np.argsort(distances, kind="stable")[:20]
    diff = EUCLID[cand][:, None, :].astype(np.float64) - EUCLID[cand][None, :, :]
    pair = -(diff**2).sum(axis=2)
    picked = mmr_reference(-(distances[cand] ** 2), pair, 0.5, 8)
    expected = [int(cand[i]) for i in picked]
    result = client.query_points(
        names["main"],
        query=models.NearestQuery(nearest=query.tolist(), mmr=models.Mmr(candidates_limit=20)),
        using="e",
        limit=5,
        offset=3,
        with_payload=True,
    ).points
    assert_ranking(result, expected[3:8], {i: float(distances[i]) for i in range(N)})
    assert [p.payload["i"] for p in result] == expected[3:8]


def test_mmr_default_candidates_limit_is_limit(client, names):
    query = RNG.normal(size=4)
    cosine = unit(DENSE) @ unit(query)
    top = np.argsort(-cosine, kind="stable")[:6]
    result = client.query_points(
        names["main"], query=models.NearestQuery(nearest=query.tolist(), mmr=models.Mmr(diversity=0.8)), using="d", limit=6
    ).points
    vecs = unit(DENSE[top])
    picked = mmr_reference(cosine[top], vecs @ vecs.T, 0.2, 6)
    assert [p.id for p in result] == [int(top[i]) for i in picked]
    assert sorted(p.id for p in result) == sorted(top.tolist())


def test_mmr_by_point_id_excludes_the_point(client, names):
    source = 17
    cosine = unit(DENSE) @ unit(DENSE[source])
    cosine[source] = -np.inf
    cand = np.argsort(-cosine, kind="stable")[:15]
    vecs = unit(DENSE[cand])
    expected = [int(cand[i]) for i in mmr_reference(cosine[cand], vecs @ vecs.T, 0.4, 5)]
    result = client.query_points(
        names["main"],
        query=models.NearestQuery(nearest=source, mmr=models.Mmr(diversity=0.6, candidates_limit=15)),
        using="d",
        limit=5,
    ).points
    assert_ranking(result, expected, {i: float(cosine[i]) for i in range(N)})


def test_mmr_sparse_and_in_prefetch(client, names):
    query = {0: 0.3, 2: 1.0, 5: 0.7, 9: 1.5}
    scores = np.array([sparse_dot(query, SPARSE[i]) for i in range(N)])
    cand = np.argsort(-scores, kind="stable")[:12]
    pair = np.array([[sparse_dot(SPARSE[a], SPARSE[b]) for b in cand] for a in cand])
    expected = [int(cand[i]) for i in mmr_reference(scores[cand], pair, 0.5, 4)]
    sparse_query = models.SparseVector(indices=list(query), values=list(query.values()))
    result = client.query_points(
        names["main"],
        query=models.NearestQuery(nearest=sparse_query, mmr=models.Mmr(diversity=0.5, candidates_limit=12)),
        using="s",
        limit=4,
    ).points
    assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})
    # As the rescoring stage over a prefetch, candidates come from the prefetch only.
    allowed = [i for i in range(N) if i % 2 == 0]
    prefetch_ids = sorted(allowed, key=lambda i: -scores[i])[:12]
    pair = np.array([[sparse_dot(SPARSE[a], SPARSE[b]) for b in prefetch_ids] for a in prefetch_ids])
    picked = mmr_reference(scores[prefetch_ids], pair, 0.5, 4)
    result = client.query_points(
        names["main"],
        prefetch=models.Prefetch(
            query=sparse_query,
            using="s",
            limit=12,
            filter=models.Filter(must=[models.FieldCondition(key="i", match=models.MatchAny(any=allowed))]),
        ),
        query=models.NearestQuery(nearest=sparse_query, mmr=models.Mmr(candidates_limit=12)),
        using="s",
        limit=4,
    ).points
    assert [p.id for p in result] == [prefetch_ids[i] for i in picked]


def test_mmr_bad_input(http, names):
    url = f"{http.base}/collections/{names['main']}/points/query"
    for mmr in ({"diversity": 1.5}, {"diversity": -0.1}, {"candidates_limit": 20000}, {"lambda": 0.5}):
        answer = http.post(url, json={"query": {"nearest": [0.1, 0.2, 0.3, 0.4], "mmr": mmr}, "using": "d"})
        assert answer.status_code in (400, 422), (mmr, answer.text)
        assert answer.json()["status"]["error"]


# --------------------------------------------------------------------------- lookup_from


def test_recommend_with_lookup_from_alias(client, names):
    positive, negative = [1, 4], [7]
    alt = unit(OTHER_ALT)
    data = unit(DENSE)
    pos = (data @ alt[positive].T).max(axis=1)
    neg = (data @ alt[negative].T).max(axis=1)
    scores = np.where(pos > neg, ssig(pos), -ssig(neg))
    expected = np.argsort(-scores, kind="stable")[:10].tolist()  # ids 1, 4, 7 of main are NOT left out
    result = client.query_points(
        names["main"],
        query=models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=positive, negative=negative, strategy=models.RecommendStrategy.BEST_SCORE
            )
        ),
        using="d",
        lookup_from=models.LookupLocation(collection=names["alias"], vector="alt"),
        limit=10,
    ).points
    assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})


def test_nearest_by_id_and_average_with_lookup_from(client, names):
    # Without `vector`, the lookup reads the other collection's default vector: here it
    # has none, so name it; the id is not excluded since it is another collection's point.
    target = unit(OTHER_D[3])
    cosine = unit(DENSE) @ target
    result = client.query_points(
        names["main"],
        query=3,
        using="d",
        lookup_from=models.LookupLocation(collection=names["other"], vector="d"),
        limit=5,
    ).points
    expected = np.argsort(-cosine, kind="stable")[:5].tolist()
    assert_ranking(result, expected, {i: float(cosine[i]) for i in range(N)})

    avg = unit(OTHER_ALT[[2, 5]]).mean(axis=0)
    query = 2 * avg - unit(OTHER_ALT[[9]]).mean(axis=0)
    cosine = unit(DENSE) @ unit(query)
    result = client.query_points(
        names["main"],
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[2, 5], negative=[9])),
        using="d",
        lookup_from=models.LookupLocation(collection=names["other"], vector="alt"),
        limit=6,
    ).points
    expected = np.argsort(-cosine, kind="stable")[:6].tolist()
    assert_ranking(result, expected, {i: float(cosine[i]) for i in range(N)})


def test_discover_with_lookup_in_prefetch_and_legacy_endpoints(client, http, names):
    alt = unit(OTHER_ALT)
    data = unit(DENSE)
    target_sim = data @ alt[0]
    rank = np.where(data @ alt[1] > data @ alt[2], 1.0, -1.0)
    scores = rank + ssig(target_sim)
    expected = np.argsort(-scores, kind="stable")[:5].tolist()
    lookup = {"collection": names["alias"], "vector": "alt"}
    body = {"target": 0, "context": [{"positive": 1, "negative": 2}], "using": "d", "limit": 5, "lookup_from": lookup}
    answer = http.post(f"{http.base}/collections/{names['main']}/points/discover", json=body)
    assert answer.status_code == 200, answer.text
    assert_ranking_raw(answer.json()["result"], expected, scores)

    pos = data @ alt[[0, 3]].T
    reco = pos.sum(axis=1)
    expected = np.argsort(-reco, kind="stable")[:5].tolist()
    body = {"positive": [0, 3], "strategy": "sum_scores", "using": "d", "limit": 5, "lookup_from": lookup}
    answer = http.post(f"{http.base}/collections/{names['main']}/points/recommend", json=body)
    assert answer.status_code == 200, answer.text
    assert_ranking_raw(answer.json()["result"], expected, reco)

    # In a prefetch: candidates from the lookup-based discover, re-scored by plain cosine.
    prefetch_ids = np.argsort(-scores, kind="stable")[:8].tolist()
    query = RNG.normal(size=4)
    cosine = data @ unit(query)
    result = client.query_points(
        names["main"],
        prefetch=models.Prefetch(
            query=models.DiscoverQuery(
                discover=models.DiscoverInput(target=0, context=[models.ContextPair(positive=1, negative=2)])
            ),
            using="d",
            lookup_from=models.LookupLocation(collection=names["other"], vector="alt"),
            limit=8,
        ),
        query=query.tolist(),
        using="d",
        limit=3,
    ).points
    expected = sorted(prefetch_ids, key=lambda i: -cosine[i])[:3]
    assert [p.id for p in result] == expected


def assert_ranking_raw(points: list[dict], expected: list[int], scores: np.ndarray) -> None:
    assert [p["id"] for p in points] == expected
    for p in points:
        assert p["score"] == pytest.approx(float(scores[p["id"]]), rel=1e-4, abs=1e-4)


def test_lookup_from_errors(http, names):
    url = f"{http.base}/collections/{names['main']}/points/query"
    missing = http.post(
        url, json={"query": {"recommend": {"positive": [1]}}, "using": "d", "lookup_from": {"collection": "nope"}}
    )
    assert missing.status_code == 404, missing.text
    no_point = http.post(
        url,
        json={"query": {"recommend": {"positive": [500]}}, "using": "d", "lookup_from": {"collection": names["other"], "vector": "d"}},
    )
    assert no_point.status_code == 404, no_point.text
    bad_vector = http.post(
        url,
        json={"query": 1, "using": "d", "lookup_from": {"collection": names["other"], "vector": "zzz"}},
    )
    assert bad_vector.status_code == 400, bad_vector.text
    bad_shape = http.post(url, json={"query": 1, "using": "d", "lookup_from": {"vector": "d"}})
    assert bad_shape.status_code in (400, 422), bad_shape.text
    lookup = {"collection": names["other"], "vector": "d"}  # 4 dimensions, "e" has 3
    for query in (1, {"recommend": {"positive": [1], "strategy": "best_score"}}, {"recommend": {"positive": [1]}}):
        wrong_size = http.post(url, json={"query": query, "using": "e", "lookup_from": lookup})
        assert wrong_size.status_code == 400, wrong_size.text
        assert "dimension" in wrong_size.json()["status"]["error"]


# --------------------------------------------------------------------------- sparse and multi-vector explore


def _sparse_model(vector: dict[int, float]) -> models.SparseVector:
    return models.SparseVector(indices=list(vector), values=list(vector.values()))


def test_recommend_on_sparse(client, names):
    raw_negative = {0: 0.2, 3: 1.0, 11: 0.5}
    positive = [5, 9]
    pos = np.array([[sparse_dot(SPARSE[e], SPARSE[i]) for e in positive] for i in range(N)])
    neg = np.array([[sparse_dot(raw_negative, SPARSE[i])] for i in range(N)])
    candidates = [i for i in range(N) if i not in positive]
    for strategy, scores in (
        (models.RecommendStrategy.BEST_SCORE, np.where(pos.max(1) > neg.max(1), ssig(pos.max(1)), -ssig(neg.max(1)))),
        (models.RecommendStrategy.SUM_SCORES, pos.sum(1) - neg.sum(1)),
    ):
        expected = sorted(candidates, key=lambda i: -scores[i])[:8]
        result = client.query_points(
            names["main"],
            query=models.RecommendQuery(
                recommend=models.RecommendInput(positive=positive, negative=[_sparse_model(raw_negative)], strategy=strategy)
            ),
            using="s",
            limit=8,
        ).points
        assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})

    # average_vector: avg(pos) * 2 - avg(neg) over the union of dimensions, then a sparse search.
    query: dict[int, float] = {}
    for e in positive:
        for d, v in SPARSE[e].items():
            query[d] = query.get(d, 0.0) + 2 * v / len(positive)
    for d, v in raw_negative.items():
        query[d] = query.get(d, 0.0) - v
    scores = np.array([sparse_dot(query, SPARSE[i]) for i in range(N)])
    expected = sorted(candidates, key=lambda i: -scores[i])[:8]
    result = client.query_points(
        names["main"],
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=positive, negative=[_sparse_model(raw_negative)])
        ),
        using="s",
        limit=8,
    ).points
    assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})


def test_context_and_discover_on_sparse(client, names):
    pairs = [(2, 8), (13, 21)]
    eps = float(np.finfo(np.float32).eps)
    sim = np.array([[sparse_dot(SPARSE[e], SPARSE[i]) for e in range(N)] for i in range(N)])
    context = sum(
        np.minimum(sim[:, p] - sim[:, n] - eps, 0) / (1 + np.abs(np.minimum(sim[:, p] - sim[:, n] - eps, 0)))
        for p, n in pairs
    )
    used = {e for pair in pairs for e in pair}
    candidates = [i for i in range(N) if i not in used]
    result = client.query_points(
        names["main"],
        query=models.ContextQuery(context=[models.ContextPair(positive=p, negative=n) for p, n in pairs]),
        using="s",
        limit=6,
    ).points
    assert len(result) == 6
    for p in result:
        assert p.score == pytest.approx(float(context[p.id]), abs=1e-4)
    best = sorted(candidates, key=lambda i: -context[i])[:6]
    assert sorted(round(float(context[i]), 4) for i in best) == sorted(round(p.score, 4) for p in result)

    discover = sum(np.where(sim[:, p] > sim[:, n], 1.0, -1.0) for p, n in pairs) + ssig(sim[:, 30])
    candidates = [i for i in range(N) if i not in used | {30}]
    expected = sorted(candidates, key=lambda i: -discover[i])[:6]
    result = client.query_points(
        names["main"],
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(target=30, context=[models.ContextPair(positive=p, negative=n) for p, n in pairs])
        ),
        using="s",
        limit=6,
    ).points
    assert_ranking(result, expected, {i: float(discover[i]) for i in range(N)})


def test_recommend_on_multivector(client, names):
    raw_positive = RNG.normal(size=(2, 3))
    negative = [11]
    examples_pos = [MULTI[4], raw_positive]
    pos = np.array([[max_sim(e, MULTI[i]) for e in examples_pos] for i in range(N)])
    neg = np.array([[max_sim(MULTI[11], MULTI[i])] for i in range(N)])
    candidates = [i for i in range(N) if i not in (4, 11)]
    wire_positive = [4, raw_positive.tolist()]
    for strategy, scores in (
        (models.RecommendStrategy.BEST_SCORE, np.where(pos.max(1) > neg.max(1), ssig(pos.max(1)), -ssig(neg.max(1)))),
        (models.RecommendStrategy.SUM_SCORES, pos.sum(1) - neg.sum(1)),
    ):
        expected = sorted(candidates, key=lambda i: -scores[i])[:7]
        result = client.query_points(
            names["main"],
            query=models.RecommendQuery(
                recommend=models.RecommendInput(positive=wire_positive, negative=negative, strategy=strategy)
            ),
            using="m",
            limit=7,
        ).points
        assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})

    # average_vector on multi-vectors: positive rows, then negated negative rows, as one query.
    query = np.concatenate([MULTI[4], raw_positive, -MULTI[11]])
    scores = np.array([max_sim(query, MULTI[i]) for i in range(N)])
    expected = sorted(candidates, key=lambda i: -scores[i])[:7]
    result = client.query_points(
        names["main"],
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=wire_positive, negative=negative)),
        using="m",
        limit=7,
    ).points
    assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})


# --------------------------------------------------------------------------- IDF across shards


def _idf_scores(query: dict[int, float]) -> np.ndarray:
    total = N
    freq = {d: sum(1 for v in SPARSE if d in v) for d in query}
    weights = {d: w * math.log((total - freq[d] + 0.5) / (freq[d] + 0.5) + 1.0) for d, w in query.items()}
    return np.array([sparse_dot(weights, SPARSE[i]) for i in range(N)])


def test_idf_uses_statistics_of_the_whole_collection(client, names):
    for query in ({1: 1.0, 4: 0.5, 12: 2.0}, {0: 1.0, 7: 1.0}, {3: 0.7, 8: 1.2, 15: 0.4, 2: 1.0}):
        scores = _idf_scores(query)
        sharing = [i for i in range(N) if set(query) & set(SPARSE[i])]
        expected = sorted(sharing, key=lambda i: -scores[i])[:10]
        result = client.query_points(names["main"], query=_sparse_model(query), using="idf", limit=10).points
        assert_ranking(result, expected, {i: float(scores[i]) for i in range(N)})
        # Also as a prefetch re-scored by the same sparse query (restricted to candidate ids).
        result = client.query_points(
            names["main"],
            prefetch=models.Prefetch(query=_sparse_model(query), using="idf", limit=15),
            query=_sparse_model(query),
            using="idf",
            limit=5,
        ).points
        assert_ranking(result, expected[:5], {i: float(scores[i]) for i in range(N)})


# --------------------------------------------------------------------------- order_by query

ORDER_N = 50
ORDER_RANK = [(i * 7) % 11 for i in range(ORDER_N)]  # integers 0..10, every value repeated
ORDER_PRICE = [round(float(RNG.uniform(-50, 50)), 3) for _ in range(ORDER_N)]
ORDER_DENSE = RNG.normal(size=(ORDER_N, 4)).astype(np.float32)


@pytest.fixture(scope="module")
def ordered(client, rest_client):
    name = f"qx_order_{uuid.uuid4().hex[:8]}"
    rest_client.create_collection(
        name, shard_number=2, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    rest_client.upsert(
        name,
        points=[
            models.PointStruct(
                id=i,
                vector=ORDER_DENSE[i].tolist(),
                payload={"rank": ORDER_RANK[i], "price": ORDER_PRICE[i], "even": i % 2 == 0, "plain": i},
            )
            for i in range(ORDER_N)
        ],
        wait=True,
    )
    rest_client.create_payload_index(name, "rank", models.PayloadSchemaType.INTEGER, wait=True)
    rest_client.create_payload_index(name, "price", models.PayloadSchemaType.FLOAT, wait=True)
    rest_client.create_payload_index(name, "even", models.PayloadSchemaType.BOOL, wait=True)
    return name


def expected_order(values: list, ids, desc: bool = False, start_from=None) -> list[int]:
    """Ids by (value, id), both reversed for ``desc``; ``start_from`` bounds the values (inclusive)."""
    ids = [i for i in ids if start_from is None or (values[i] <= start_from if desc else values[i] >= start_from)]
    return sorted(ids, key=lambda i: (values[i], i), reverse=desc)


def test_order_by_query_ascending_with_duplicates(client, ordered):
    assert client.get_collection(ordered).config.params.shard_number == 2
    result = client.query_points(ordered, query=models.OrderByQuery(order_by="rank"), limit=20, with_payload=True).points
    expected = expected_order(ORDER_RANK, range(ORDER_N))[:20]
    assert [p.id for p in result] == expected
    for p in result:
        assert p.order_value == ORDER_RANK[p.id] and isinstance(p.order_value, int)
        assert p.score == 0
        assert p.payload["rank"] == ORDER_RANK[p.id]


def test_order_by_query_descending_start_from_offset(client, ordered):
    order = models.OrderBy(key="rank", direction=models.Direction.DESC, start_from=7)
    result = client.query_points(ordered, query=models.OrderByQuery(order_by=order), limit=9, offset=4).points
    expected = expected_order(ORDER_RANK, range(ORDER_N), desc=True, start_from=7)[4:13]
    assert [p.id for p in result] == expected
    assert [p.order_value for p in result] == [ORDER_RANK[i] for i in expected]


def test_order_by_query_float_key_filter_and_vectors(client, ordered):
    flt = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    order = models.OrderBy(key="price", direction=models.Direction.ASC, start_from=-10.5)
    result = client.query_points(
        ordered, query=models.OrderByQuery(order_by=order), query_filter=flt, limit=8, with_vectors=True, with_payload=False
    ).points
    expected = expected_order(ORDER_PRICE, range(0, ORDER_N, 2), start_from=-10.5)[:8]
    assert [p.id for p in result] == expected
    for p in result:
        assert p.order_value == pytest.approx(ORDER_PRICE[p.id])
        assert p.payload is None
        assert np.allclose(p.vector, unit(ORDER_DENSE[p.id]), atol=1e-6)


def test_order_by_query_over_prefetch_and_inside_prefetch(client, ordered):
    query = RNG.normal(size=4)
    cosine = unit(ORDER_DENSE) @ unit(query)
    candidates = np.argsort(-cosine, kind="stable")[:15].tolist()
    # Root order_by: the union of the prefetch's candidates, ordered by price descending.
    result = client.query_points(
        ordered,
        prefetch=models.Prefetch(query=query.tolist(), limit=15),
        query=models.OrderByQuery(order_by=models.OrderBy(key="price", direction=models.Direction.DESC)),
        limit=6,
    ).points
    assert [p.id for p in result] == expected_order(ORDER_PRICE, candidates, desc=True)[:6]
    assert [p.order_value for p in result] == pytest.approx([ORDER_PRICE[p.id] for p in result])
    # order_by as a prefetch: the 12 cheapest points, re-scored by the nearest query.
    cheapest = expected_order(ORDER_PRICE, range(ORDER_N))[:12]
    result = client.query_points(
        ordered,
        prefetch=models.Prefetch(query=models.OrderByQuery(order_by="price"), limit=12),
        query=query.tolist(),
        limit=5,
    ).points
    expected = sorted(cheapest, key=lambda i: -cosine[i])[:5]
    assert_ranking(result, expected, {i: float(cosine[i]) for i in range(ORDER_N)})


def test_order_by_query_matches_scroll_order_by(client, ordered):
    order = models.OrderBy(key="rank", direction=models.Direction.DESC)
    scrolled, _ = client.scroll(ordered, order_by=order, limit=30)
    queried = client.query_points(ordered, query=models.OrderByQuery(order_by=order), limit=30).points
    assert [p.id for p in scrolled] == [p.id for p in queried] == expected_order(ORDER_RANK, range(ORDER_N), desc=True)[:30]


def test_order_by_query_errors(http, ordered):
    url = f"{http.base}/collections/{ordered}/points/query"
    no_index = http.post(url, json={"query": {"order_by": "plain"}})
    assert no_index.status_code == 400, no_index.text
    assert "No range index for `order_by` key: `plain`" in no_index.json()["status"]["error"]
    bad_direction = http.post(url, json={"query": {"order_by": {"key": "rank", "direction": "up"}}})
    assert bad_direction.status_code == 400, bad_direction.text
    no_key = http.post(url, json={"query": {"order_by": {"direction": "asc"}}})
    assert no_key.status_code == 400, no_key.text
    # Raw REST answer: order_value as an integer for an integer key, score 0.
    body = http.post(url, json={"query": {"order_by": {"key": "rank", "start_from": 10}}, "limit": 3}).json()
    points = body["result"]["points"]
    assert [p["id"] for p in points] == expected_order(ORDER_RANK, range(ORDER_N), start_from=10)[:3]
    assert all(p["order_value"] == 10 and p["score"] == 0 for p in points)
