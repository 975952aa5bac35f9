"""The read/query family of ``qdrant.Points`` over gRPC (port 6334) against REST, on the same collection.

Two official clients drive one node: ``rest_client`` (REST) and ``grpc_client`` (``prefer_grpc=True``).
Methods the client no longer exposes (the legacy search/recommend/discover) are called through
its raw gRPC stub and over raw HTTP. Every answer must be the same both ways (ids, scores within
1e-5, payloads, vectors), and a few are also checked against brute force in numpy.
"""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client import grpc as pg
from qdrant_client.conversions.conversion import GrpcToRest

N = 120
DIM = 8
MULTI_DIM = 4
CITIES = ["berlin", "paris", "rome", "oslo"]
RNG = np.random.default_rng(11)
DENSE = RNG.normal(size=(N, DIM)).astype(np.float32)
MULTI = RNG.normal(size=(N, 2, MULTI_DIM)).astype(np.float32)
QUERY = RNG.normal(size=DIM).astype(np.float32).tolist()


def sparse_of(i: int) -> models.SparseVector:
    idx = sorted({(i * 7) % 50, (i * 3 + 1) % 50, i % 13})
    return models.SparseVector(indices=idx, values=[float((i % 5) + k + 1) / 4 for k in range(len(idx))])


def payload_of(i: int) -> dict:
    return {
        "city": CITIES[i % 4],
        "price": (i * 37) % 100,
        "bucket": i % 6,
        "rating": round((i % 10) / 2, 1),
        "tags": [f"t{i % 3}"],
        "location": {"lat": 52.0 + (i % 10) / 10, "lon": 13.0 + (i % 7) / 10},
    }


PAYLOADS = {i: payload_of(i) for i in range(1, N + 1)}


@pytest.fixture(scope="module")
def coll(rest_client) -> str:
    name = "grpc_queries"
    rest_client.create_collection(
        name,
        vectors_config={
            "dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE),
            "multi": models.VectorParams(
                size=MULTI_DIM, distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
        shard_number=2,
    )
    rest_client.upsert(
        name,
        [
            models.PointStruct(
                id=i,
                vector={"dense": DENSE[i - 1].tolist(), "multi": MULTI[i - 1].tolist(), "sparse": sparse_of(i)},
                payload=PAYLOADS[i],
            )
            for i in range(1, N + 1)
        ],
        wait=True,
    )
    rest_client.create_payload_index(name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    rest_client.create_payload_index(name, "price", models.PayloadSchemaType.INTEGER, wait=True)
    rest_client.create_payload_index(name, "bucket", models.PayloadSchemaType.INTEGER, wait=True)
    # groups look up their ids here; lookup_from reads examples from here
    rest_client.create_collection("grpc_lookup", vectors_config={"dense": models.VectorParams(size=DIM, distance=models.Distance.COSINE)})
    rest_client.upsert(
        "grpc_lookup",
        [models.PointStruct(id=b, vector={"dense": RNG.normal(size=DIM).tolist()}, payload={"name": f"bucket {b}"})
         for b in range(6)],
        wait=True,
    )
    return name


# --------------------------------------------------------------------------- comparison helpers


def _vec(v):
    if isinstance(v, models.SparseVector):
        return ("sparse", tuple(v.indices), np.asarray(v.values, dtype=np.float64))
    return np.asarray(v, dtype=np.float64)


def _same_vectors(a, b) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b)
        for key in a:
            _same_vectors(a[key], b[key])
        return
    va, vb = _vec(a), _vec(b)
    if isinstance(va, tuple):
        assert va[:2] == vb[:2]
        assert np.allclose(va[2], vb[2], atol=1e-5)
    else:
        assert va.shape == vb.shape and np.allclose(va, vb, atol=1e-5)


def same_points(rest_points, grpc_points) -> None:
    """Ids in order, scores within 1e-5, payloads and vectors equal."""
    assert [p.id for p in rest_points] == [p.id for p in grpc_points]
    for r, g in zip(rest_points, grpc_points):
        if hasattr(r, "score"):
            assert abs(r.score - g.score) < 1e-5, (r.id, r.score, g.score)
        assert (r.payload or {}) == (g.payload or {})
        _same_vectors(r.vector, g.vector)
        if getattr(r, "order_value", None) is not None:
            assert r.order_value == g.order_value


def same_groups(rest_groups, grpc_groups) -> None:
    assert [g.id for g in rest_groups] == [g.id for g in grpc_groups]
    for r, g in zip(rest_groups, grpc_groups):
        same_points(r.hits, g.hits)
        assert (r.lookup is None) == (g.lookup is None)
        if r.lookup is not None:
            same_points([r.lookup], [g.lookup])


def rest_points(http, path: str, body: dict) -> list:
    response = http.post(http.base + path, json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def as_scored(raw: list) -> list[models.ScoredPoint]:
    return [models.ScoredPoint.model_validate(p) for p in raw]


def grpc_scored(points) -> list[models.ScoredPoint]:
    return [GrpcToRest.convert_scored_point(p) for p in points]


def cosine(q) -> np.ndarray:
    q = np.asarray(q, dtype=np.float32)
    m = DENSE / np.linalg.norm(DENSE, axis=1, keepdims=True)
    return m @ (q / np.linalg.norm(q))


def dense(values) -> pg.Vector:
    return pg.Vector(dense=pg.DenseVector(data=values))


def match_city(city: str) -> pg.Filter:
    return pg.Filter(must=[pg.Condition(field=pg.FieldCondition(key="city", match=pg.Match(keyword=city)))])


# --------------------------------------------------------------------------- legacy search


def test_search_matches_rest_and_brute_force(coll, grpc_client, http):
    stub = grpc_client.grpc_points
    reply = stub.Search(pg.SearchPoints(
        collection_name=coll, vector=QUERY, vector_name="dense", limit=7, offset=2, filter=match_city("berlin"),
        params=pg.SearchParams(exact=True), score_threshold=-0.9,
        with_payload=pg.WithPayloadSelector(include=pg.PayloadIncludeSelector(fields=["city", "price"])),
        with_vectors=pg.WithVectorsSelector(include=pg.VectorsSelector(names=["dense", "sparse"])),
    ))
    rest = rest_points(http, f"/collections/{coll}/points/search", {
        "vector": {"name": "dense", "vector": QUERY}, "limit": 7, "offset": 2,
        "filter": {"must": [{"key": "city", "match": {"value": "berlin"}}]}, "params": {"exact": True},
        "score_threshold": -0.9, "with_payload": {"include": ["city", "price"]}, "with_vector": ["dense", "sparse"],
    })
    got = grpc_scored(reply.result)
    same_points(as_scored(rest), got)
    # brute force: berlin points by cosine, skip 2, take 7
    scores = cosine(QUERY)
    berlin = sorted((i for i in PAYLOADS if PAYLOADS[i]["city"] == "berlin"), key=lambda i: -scores[i - 1])
    expected = [i for i in berlin if scores[i - 1] >= -0.9][2:9]
    assert [p.id for p in got] == expected
    assert all(set(p.payload) == {"city", "price"} for p in got)
    assert set(got[0].vector) == {"dense", "sparse"}
    assert isinstance(got[0].vector["sparse"], models.SparseVector)
    assert reply.time > 0


def test_search_sparse_exclude_payload(coll, grpc_client, http):
    q = sparse_of(5)
    reply = grpc_client.grpc_points.Search(pg.SearchPoints(
        collection_name=coll, vector=q.values, sparse_indices=pg.SparseIndices(data=q.indices), vector_name="sparse",
        limit=5, with_payload=pg.WithPayloadSelector(exclude=pg.PayloadExcludeSelector(fields=["location", "tags"])),
    ))
    rest = rest_points(http, f"/collections/{coll}/points/search", {
        "vector": {"name": "sparse", "vector": q.model_dump()}, "limit": 5,
        "with_payload": {"exclude": ["location", "tags"]},
    })
    got = grpc_scored(reply.result)
    assert len(got) == 5 and "location" not in got[0].payload and "city" in got[0].payload
    same_points(as_scored(rest), got)


def test_search_batch(coll, grpc_client, http):
    other = RNG.normal(size=DIM).tolist()
    reply = grpc_client.grpc_points.SearchBatch(pg.SearchBatchPoints(collection_name=coll, search_points=[
        pg.SearchPoints(collection_name=coll, vector=QUERY, vector_name="dense", limit=4),
        pg.SearchPoints(collection_name=coll, vector=other, vector_name="dense", limit=3, filter=match_city("oslo"),
                        with_payload=pg.WithPayloadSelector(enable=True)),
    ]))
    rest = rest_points(http, f"/collections/{coll}/points/search/batch", {"searches": [
        {"vector": {"name": "dense", "vector": QUERY}, "limit": 4},
        {"vector": {"name": "dense", "vector": other}, "limit": 3, "with_payload": True,
         "filter": {"must": [{"key": "city", "match": {"value": "oslo"}}]}},
    ]})
    assert len(reply.result) == 2
    for r, g in zip(rest, reply.result):
        same_points(as_scored(r), grpc_scored(g.result))
    assert [p.payload["city"] for p in grpc_scored(reply.result[1].result)] == ["oslo"] * 3


def test_search_groups_with_lookup(coll, grpc_client, http):
    reply = grpc_client.grpc_points.SearchGroups(pg.SearchPointGroups(
        collection_name=coll, vector=QUERY, vector_name="dense", limit=4, group_by="bucket", group_size=2,
        with_payload=pg.WithPayloadSelector(enable=True),
        with_lookup=pg.WithLookup(collection="grpc_lookup", with_payload=pg.WithPayloadSelector(enable=True)),
    ))
    rest = http.post(http.base + f"/collections/{coll}/points/search/groups", json={
        "vector": {"name": "dense", "vector": QUERY}, "limit": 4, "group_by": "bucket", "group_size": 2,
        "with_payload": True, "with_lookup": {"collection": "grpc_lookup", "with_payload": True},
    }).json()["result"]
    got = GrpcToRest.convert_groups_result(reply.result)
    same_groups(models.GroupsResult.model_validate(rest).groups, got.groups)
    assert len(got.groups) == 4 and all(isinstance(g.id, int) for g in got.groups)
    assert reply.result.groups[0].id.HasField("unsigned_value")
    assert got.groups[0].lookup.payload == {"name": f"bucket {got.groups[0].id}"}


# --------------------------------------------------------------------------- legacy recommend / discover


@pytest.mark.parametrize("strategy", ["average_vector", "best_score", "sum_scores"])
def test_recommend_strategies(coll, grpc_client, http, strategy):
    grpc_strategy = {"average_vector": pg.RecommendStrategy.AverageVector, "best_score": pg.RecommendStrategy.BestScore,
                     "sum_scores": pg.RecommendStrategy.SumScores}[strategy]
    reply = grpc_client.grpc_points.Recommend(pg.RecommendPoints(
        collection_name=coll, positive=[pg.PointId(num=3), pg.PointId(num=10)], negative=[pg.PointId(num=7)],
        positive_vectors=[dense(QUERY)], using="dense", strategy=grpc_strategy, limit=6, offset=1,
        with_payload=pg.WithPayloadSelector(enable=True), filter=match_city("paris"),
    ))
    rest = rest_points(http, f"/collections/{coll}/points/recommend", {
        "positive": [3, 10, QUERY], "negative": [7], "using": "dense", "strategy": strategy, "limit": 6, "offset": 1,
        "with_payload": True, "filter": {"must": [{"key": "city", "match": {"value": "paris"}}]},
    })
    got = grpc_scored(reply.result)
    assert len(got) == 6 and {3, 10, 7}.isdisjoint(p.id for p in got)
    same_points(as_scored(rest), got)


def test_recommend_lookup_from_and_batch(coll, grpc_client, http):
    reply = grpc_client.grpc_points.RecommendBatch(pg.RecommendBatchPoints(collection_name=coll, recommend_points=[
        pg.RecommendPoints(collection_name=coll, positive=[pg.PointId(num=2)], using="dense", limit=5,
                           lookup_from=pg.LookupLocation(collection_name="grpc_lookup", vector_name="dense")),
        pg.RecommendPoints(collection_name=coll, positive=[pg.PointId(num=4)], negative=[pg.PointId(num=5)],
                           using="dense", limit=3, strategy=pg.RecommendStrategy.BestScore),
    ]))
    rest = rest_points(http, f"/collections/{coll}/points/recommend/batch", {"searches": [
        {"positive": [2], "using": "dense", "limit": 5, "lookup_from": {"collection": "grpc_lookup", "vector": "dense"}},
        {"positive": [4], "negative": [5], "using": "dense", "limit": 3, "strategy": "best_score"},
    ]})
    for r, g in zip(rest, reply.result):
        same_points(as_scored(r), grpc_scored(g.result))
    # lookup_from: the example is point 2 of grpc_lookup, so point 2 of this collection may come back
    lookup_vec = http.post(http.base + "/collections/grpc_lookup/points", json={"ids": [2], "with_vector": True}).json()
    ranking = (np.argsort(-cosine(lookup_vec["result"][0]["vector"]["dense"])) + 1).tolist()
    got = [p.id.num for p in reply.result[0].result]
    assert got in (ranking[:5], [i for i in ranking if i != 2][:5])  # whether or not the example id is excluded


def test_recommend_groups_match_rest_query_groups(coll, grpc_client, http):
    reply = grpc_client.grpc_points.RecommendGroups(pg.RecommendPointGroups(
        collection_name=coll, positive=[pg.PointId(num=1), pg.PointId(num=9)], using="dense", limit=3,
        group_by="city", group_size=2, strategy=pg.RecommendStrategy.SumScores,
        with_payload=pg.WithPayloadSelector(include=pg.PayloadIncludeSelector(fields=["city"])),
    ))
    rest = rest_points(http, f"/collections/{coll}/points/query/groups", {
        "query": {"recommend": {"positive": [1, 9], "strategy": "sum_scores"}}, "using": "dense", "limit": 3,
        "group_by": "city", "group_size": 2, "with_payload": {"include": ["city"]},
    })
    got = GrpcToRest.convert_groups_result(reply.result)
    assert len(got.groups) == 3 and all(isinstance(g.id, str) for g in got.groups)
    assert reply.result.groups[0].id.HasField("string_value")
    same_groups(models.GroupsResult.model_validate(rest).groups, got.groups)


def test_discover_and_batch(coll, grpc_client, http):
    pair = pg.ContextExamplePair(positive=pg.VectorExample(id=pg.PointId(num=11)),
                                 negative=pg.VectorExample(vector=dense(DENSE[20].tolist())))
    reply = grpc_client.grpc_points.Discover(pg.DiscoverPoints(
        collection_name=coll, target=pg.TargetVector(single=pg.VectorExample(vector=dense(QUERY))), context=[pair],
        using="dense", limit=5, params=pg.SearchParams(exact=True), with_payload=pg.WithPayloadSelector(enable=True),
    ))
    context = [{"positive": 11, "negative": DENSE[20].tolist()}]
    rest = rest_points(http, f"/collections/{coll}/points/discover", {
        "target": QUERY, "context": context, "using": "dense", "limit": 5, "params": {"exact": True},
        "with_payload": True,
    })
    assert len(reply.result) == 5
    same_points(as_scored(rest), grpc_scored(reply.result))

    batch = grpc_client.grpc_points.DiscoverBatch(pg.DiscoverBatchPoints(collection_name=coll, discover_points=[
        pg.DiscoverPoints(collection_name=coll, target=pg.TargetVector(single=pg.VectorExample(id=pg.PointId(num=30))),
                          context=[pair], using="dense", limit=4),
        pg.DiscoverPoints(collection_name=coll, context=[pair], using="dense", limit=4),  # context search
    ]))
    rest_batch = rest_points(http, f"/collections/{coll}/points/discover/batch", {"searches": [
        {"target": 30, "context": context, "using": "dense", "limit": 4},
        {"context": context, "using": "dense", "limit": 4},
    ]})
    assert len(batch.result) == 2
    for r, g in zip(rest_batch, batch.result):
        same_points(as_scored(r), grpc_scored(g.result))


# --------------------------------------------------------------------------- universal query


def _both(rest_client, grpc_client, **kwargs):
    rest = rest_client.query_points(**kwargs).points
    via_grpc = grpc_client.query_points(**kwargs).points
    same_points(rest, via_grpc)
    return via_grpc


def test_query_nearest_variants(coll, rest_client, grpc_client):
    filt = models.Filter(must=[models.FieldCondition(key="price", range=models.Range(gte=20, lt=80))])
    got = _both(rest_client, grpc_client, collection_name=coll, query=QUERY, using="dense", limit=6, query_filter=filt,
                with_payload=True, with_vectors=True, search_params=models.SearchParams(exact=True))
    scores = cosine(QUERY)
    expected = sorted((i for i in PAYLOADS if 20 <= PAYLOADS[i]["price"] < 80), key=lambda i: -scores[i - 1])[:6]
    assert [p.id for p in got] == expected
    assert np.allclose(got[0].vector["multi"], MULTI[got[0].id - 1], atol=1e-5)
    _both(rest_client, grpc_client, collection_name=coll, query=sparse_of(8), using="sparse", limit=5, with_payload=True)
    _both(rest_client, grpc_client, collection_name=coll, query=MULTI[3].tolist(), using="multi", limit=5,
          with_vectors=["multi"])
    by_id = _both(rest_client, grpc_client, collection_name=coll, query=17, using="dense", limit=4, score_threshold=0.1)
    assert 17 not in [p.id for p in by_id]
    _both(rest_client, grpc_client, collection_name=coll, query=QUERY, using="dense", limit=3, offset=4,
          with_payload=models.PayloadSelectorExclude(exclude=["location"]))


def test_query_recommend_discover_context(coll, rest_client, grpc_client):
    _both(rest_client, grpc_client, collection_name=coll, using="dense", limit=5,
          query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1, QUERY], negative=[2],
                                                                       strategy=models.RecommendStrategy.BEST_SCORE)))
    pair = models.ContextPair(positive=3, negative=DENSE[40].tolist())
    _both(rest_client, grpc_client, collection_name=coll, using="dense", limit=5,
          query=models.DiscoverQuery(discover=models.DiscoverInput(target=QUERY, context=[pair])))
    _both(rest_client, grpc_client, collection_name=coll, using="dense", limit=5,
          query=models.ContextQuery(context=[pair, models.ContextPair(positive=8, negative=9)]))


def test_query_prefetch_fusion(coll, rest_client, grpc_client):
    prefetch = [
        models.Prefetch(query=QUERY, using="dense", limit=20,
                        prefetch=[models.Prefetch(query=MULTI[2].tolist(), using="multi", limit=40)]),
        models.Prefetch(query=sparse_of(3), using="sparse", limit=20, filter=models.Filter(
            must_not=[models.FieldCondition(key="city", match=models.MatchValue(value="rome"))])),
    ]
    for query in (models.FusionQuery(fusion=models.Fusion.RRF), models.FusionQuery(fusion=models.Fusion.DBSF),
                  models.RrfQuery(rrf=models.Rrf(k=10))):
        got = _both(rest_client, grpc_client, collection_name=coll, prefetch=prefetch, query=query, limit=8,
                    with_payload=["city"])
        assert len(got) == 8


def test_query_formula_gauss_decay_and_condition(coll, rest_client, grpc_client):
    formula = models.FormulaQuery(
        formula=models.SumExpression(sum=[
            "$score",
            models.MultExpression(mult=[0.5, models.FieldCondition(key="city", match=models.MatchValue(value="rome"))]),
            models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(
                x="price", target=50, scale=20, midpoint=0.3)),
        ]),
        defaults={"price": 0},
    )
    prefetch = models.Prefetch(query=QUERY, using="dense", limit=30)
    got = _both(rest_client, grpc_client, collection_name=coll, prefetch=prefetch, query=formula, limit=10,
                with_payload=True)
    # brute force over the prefetch candidates
    scores = cosine(QUERY)
    candidates = np.argsort(-scores)[:30] + 1
    expect = {}
    for i in candidates:
        p = PAYLOADS[int(i)]
        decay = np.exp(np.log(0.3) * ((p["price"] - 50) / 20) ** 2)
        expect[int(i)] = float(scores[i - 1]) + (0.5 if p["city"] == "rome" else 0.0) + decay
    top = sorted(expect, key=lambda i: -expect[i])[:10]
    assert [p.id for p in got] == top
    assert np.allclose([p.score for p in got], [expect[i] for i in top], atol=1e-4)


def test_query_formula_every_operator(coll, rest_client, grpc_client):
    """Each Expression variant crosses the gRPC conversion and scores the same as over REST."""
    geo = models.GeoDistance(geo_distance=models.GeoDistanceParams(
        origin=models.GeoPoint(lat=52.5, lon=13.4), to="location"))
    expression = models.SumExpression(sum=[
        models.DivExpression(div=models.DivParams(left="rating", right="bucket", by_zero_default=0.25)),
        models.PowExpression(pow=models.PowParams(base="$score", exponent=2)),
        models.SqrtExpression(sqrt=models.AbsExpression(abs=models.NegExpression(neg="price"))),
        models.ExpExpression(exp=models.MultExpression(mult=[-0.01, "price"])),
        models.Log10Expression(log10=models.SumExpression(sum=["price", 1])),
        models.LnExpression(ln=models.SumExpression(sum=["rating", 1])),
        models.ExpDecayExpression(exp_decay=models.DecayParamsExpression(x=geo, scale=50000)),
        models.LinDecayExpression(lin_decay=models.DecayParamsExpression(x="price", target=10, scale=100)),
        models.MultExpression(mult=[2, models.FieldCondition(key="tags", match=models.MatchValue(value="t1"))]),
    ])
    got = _both(rest_client, grpc_client, collection_name=coll, limit=10, with_payload=True,
                prefetch=models.Prefetch(query=QUERY, using="dense", limit=40),
                query=models.FormulaQuery(formula=expression))
    assert len(got) == 10


def test_query_sample_order_by_mmr(coll, rest_client, grpc_client):
    sampled = grpc_client.query_points(coll, query=models.SampleQuery(sample=models.Sample.RANDOM), limit=7).points
    assert len(sampled) == 7 and {p.id for p in sampled} <= set(PAYLOADS)
    # ``order_by``: the same points, order values and scores over both transports
    order_by = models.OrderByQuery(order_by=models.OrderBy(key="price", direction=models.Direction.DESC))
    ordered = _both(rest_client, grpc_client, collection_name=coll, query=order_by, limit=6)
    want = sorted(PAYLOADS, key=lambda i: (PAYLOADS[i]["price"], i), reverse=True)[:6]
    assert [p.id for p in ordered] == want
    assert [p.order_value for p in ordered] == [PAYLOADS[i]["price"] for i in want]
    _both(rest_client, grpc_client, collection_name=coll, using="dense", limit=5,
          query=models.NearestQuery(nearest=QUERY, mmr=models.Mmr(diversity=0.6, candidates_limit=30)))
    # no query at all: points in id order
    plain = _both(rest_client, grpc_client, collection_name=coll, limit=4)
    assert [p.id for p in plain] == [1, 2, 3, 4]


def test_query_lookup_from(coll, rest_client, grpc_client):
    got = _both(rest_client, grpc_client, collection_name=coll, query=3, using="dense", limit=5,
                lookup_from=models.LookupLocation(collection="grpc_lookup", vector="dense"))
    assert len(got) == 5


def test_query_batch_and_groups(coll, rest_client, grpc_client):
    requests_ = [
        models.QueryRequest(query=QUERY, using="dense", limit=3, with_payload=True),
        models.QueryRequest(query=sparse_of(4), using="sparse", limit=2, filter=models.Filter(
            must=[models.FieldCondition(key="bucket", match=models.MatchAny(any=[1, 2]))])),
        models.QueryRequest(prefetch=[models.Prefetch(query=QUERY, using="dense", limit=10)],
                            query=models.FusionQuery(fusion=models.Fusion.RRF), limit=4),
    ]
    rest = rest_client.query_batch_points(coll, requests_)
    via_grpc = grpc_client.query_batch_points(coll, requests_)
    assert len(via_grpc) == 3
    for r, g in zip(rest, via_grpc):
        same_points(r.points, g.points)

    kwargs = dict(collection_name=coll, query=QUERY, using="dense", group_by="bucket", group_size=3, limit=4,
                  with_payload=True, with_lookup=models.WithLookup(collection="grpc_lookup", with_vectors=True))
    rest_groups = rest_client.query_points_groups(**kwargs).groups
    grpc_groups = grpc_client.query_points_groups(**kwargs).groups
    assert len(grpc_groups) == 4 and all(len(g.hits) == 3 for g in grpc_groups)
    same_groups(rest_groups, grpc_groups)
    assert grpc_groups[0].lookup.vector is not None


# --------------------------------------------------------------------------- facets and the matrix


def test_facet(coll, rest_client, grpc_client):
    for kwargs in (dict(key="city"), dict(key="price", limit=5, exact=True),
                   dict(key="bucket", facet_filter=models.Filter(
                       must=[models.FieldCondition(key="city", match=models.MatchValue(value="rome"))]))):
        rest = rest_client.facet(coll, **kwargs).hits
        via_grpc = grpc_client.facet(coll, **kwargs).hits
        assert [(h.value, h.count) for h in rest] == [(h.value, h.count) for h in via_grpc]
    cities = grpc_client.facet(coll, "city").hits
    assert sorted((h.value, h.count) for h in cities) == [(c, N // 4) for c in sorted(CITIES)]


def test_search_matrix(coll, rest_client, grpc_client):
    kwargs = dict(collection_name=coll, sample=12, limit=3, using="dense", query_filter=models.Filter(
        must_not=[models.FieldCondition(key="city", match=models.MatchValue(value="oslo"))]))
    rest_pairs = rest_client.search_matrix_pairs(**kwargs).pairs
    grpc_pairs = grpc_client.search_matrix_pairs(**kwargs).pairs
    assert len(grpc_pairs) == 12 * 3
    assert [(p.a, p.b) for p in rest_pairs] == [(p.a, p.b) for p in grpc_pairs]
    assert np.allclose([p.score for p in rest_pairs], [p.score for p in grpc_pairs], atol=1e-5)
    for pair in grpc_pairs[:5]:
        a, b = DENSE[pair.a - 1], DENSE[pair.b - 1]
        assert abs(pair.score - a @ b / np.linalg.norm(a) / np.linalg.norm(b)) < 1e-4

    rest_off = rest_client.search_matrix_offsets(**kwargs)
    grpc_off = grpc_client.search_matrix_offsets(**kwargs)
    assert rest_off.ids == grpc_off.ids and len(grpc_off.ids) == 12
    assert rest_off.offsets_row == grpc_off.offsets_row and rest_off.offsets_col == grpc_off.offsets_col
    assert np.allclose(rest_off.scores, grpc_off.scores, atol=1e-5)


# --------------------------------------------------------------------------- errors


def test_error_parity(coll, grpc_client, http):
    with pytest.raises(grpc.RpcError) as bad_dim:
        grpc_client.query_points(coll, query=[0.1, 0.2, 0.3], using="dense", limit=3)
    assert bad_dim.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    rest = http.post(http.base + f"/collections/{coll}/points/query",
                     json={"query": [0.1, 0.2, 0.3], "using": "dense", "limit": 3})
    assert rest.status_code == 400
    assert rest.json()["status"]["error"] == bad_dim.value.details()

    with pytest.raises(grpc.RpcError) as missing:
        grpc_client.grpc_points.Search(pg.SearchPoints(collection_name="no_such_coll", vector=QUERY, limit=3))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    rest = http.post(http.base + "/collections/no_such_coll/points/search", json={"vector": QUERY, "limit": 3})
    assert rest.status_code == 404
    assert rest.json()["status"]["error"] == missing.value.details()

    with pytest.raises(grpc.RpcError) as missing_facet:
        grpc_client.facet("no_such_coll", "city")
    assert missing_facet.value.code() == grpc.StatusCode.NOT_FOUND

    # a Query or Expression message with no variant set is bad input, and the node keeps serving
    for request in (pg.QueryPoints(collection_name=coll, query=pg.Query()),
                    pg.QueryPoints(collection_name=coll, query=pg.Query(formula=pg.Formula(expression=pg.Expression())))):
        with pytest.raises(grpc.RpcError) as empty:
            grpc_client.grpc_points.Query(request)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert len(grpc_client.query_points(coll, query=QUERY, using="dense", limit=2).points) == 2
