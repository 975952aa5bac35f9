"""The query surface on a three-node cluster, checked against numpy brute force.

The collection of :mod:`tests.cluster.query_surface_data` (3 shards x 2
replicas, so every node holds two shards and reaches the third remotely) is
built once; every check then runs through qdrant-client connected to each node
in turn, so each answer is a fan-out over local and remote replicas merged by
the node that was asked.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from qdrant_client import models

from tests.cluster import brute_force as bf
from tests.cluster.query_surface_data import (
    BASE, COS, DIM, DOT, EUC, EXACT, IDS, LOOKUP, MDIM, MULTI, N, NAME, ORIGIN, PAYLOADS, RNG, SPARSE, VOCAB,
    build, check_ranked, check_rescored_cut, check_scored, cos_sims, dist_of, each, facet_counts, node_clients, ts_of,
)


@pytest.fixture(scope="module")
def clients(cluster):
    yield from node_clients(cluster)


@pytest.fixture(scope="module")
def coll(cluster, clients) -> str:
    return build(cluster, clients)


# --------------------------------------------------------------------------- nearest


def test_dense_nearest_with_selectors_on_every_node(coll, clients):
    q = RNG.normal(size=DIM)
    cos, dot = bf.cosine(COS, q), bf.dot(DOT, q)
    for index, client in each(clients):
        hits = client.query_points(
            coll, query=q.tolist(), using="cos", limit=10, search_params=EXACT,
            with_payload=["cat", "n"], with_vectors=["dot"],
        ).points
        check_ranked(hits, bf.top(cos, 10))
        for hit in hits:
            assert hit.payload == {"cat": PAYLOADS[hit.id]["cat"], "n": PAYLOADS[hit.id]["n"]}
            assert set(hit.vector) == {"dot"}
            assert np.allclose(hit.vector["dot"], DOT[hit.id], atol=1e-5)
        paged = client.query_points(coll, query=q.tolist(), using="dot", limit=6, offset=7, search_params=EXACT,
                                   with_payload=False).points
        check_ranked(paged, bf.top(dot, 6, offset=7))
        assert all(not p.payload for p in paged) and all(p.vector is None for p in paged)
    threshold = 0.4
    above = clients[1].query_points(coll, query=q.tolist(), using="cos", limit=N, score_threshold=threshold,
                                    search_params=EXACT).points
    assert {p.id for p in above} == {i for i in IDS if cos[i] >= threshold}
    assert [p.score for p in above] == sorted((p.score for p in above), reverse=True)


def test_filtered_nearest_with_keyword_range_geo_datetime(coll, clients):
    q = RNG.normal(size=DIM)
    since, until = BASE - timedelta(days=20), BASE + timedelta(days=15)
    flt = models.Filter(
        must=[
            models.FieldCondition(key="cat", match=models.MatchAny(any=["a", "c"])),
            models.FieldCondition(key="n", range=models.Range(gte=100, lt=800)),
            models.FieldCondition(
                key="loc",
                geo_radius=models.GeoRadius(center=models.GeoPoint(lon=ORIGIN[0], lat=ORIGIN[1]), radius=30_000),
            ),
            models.FieldCondition(key="ts", range=models.DatetimeRange(gte=since, lt=until)),
        ],
        must_not=[models.HasIdCondition(has_id=[0, 1, 2, 3])],
    )
    keep = [
        i for i in IDS
        if PAYLOADS[i]["cat"] in ("a", "c") and 100 <= PAYLOADS[i]["n"] < 800 and dist_of(i) <= 30_000
        and since.timestamp() <= ts_of(i) < until.timestamp() and i > 3
    ]
    assert 5 < len(keep) < N // 2
    scores = bf.cosine(COS, q)
    for index, client in each(clients):
        hits = client.query_points(coll, query=q.tolist(), using="cos", query_filter=flt, limit=N,
                                   search_params=EXACT).points
        check_ranked(hits, bf.top(scores, N, ids=keep))
        assert client.count(coll, count_filter=flt, exact=True).count == len(keep)


def test_nearest_by_id_sparse_and_multivector(coll, clients):
    anchor = 17
    by_id = bf.dot(DOT, DOT[anchor])
    q_idx = sorted(RNG.choice(VOCAB, size=6, replace=False).tolist())
    q_val = RNG.uniform(0.5, 1.5, size=6).tolist()
    sparse = bf.sparse_dot(SPARSE, q_idx, q_val)
    q_multi = RNG.normal(size=(3, MDIM))
    multi = bf.max_sim(MULTI, q_multi)
    for index, client in each(clients):
        hits = client.query_points(coll, query=anchor, using="dot", limit=8, search_params=EXACT).points
        check_ranked(hits, bf.top(by_id, 8, keep=lambda i: i != anchor))
        hits = client.query_points(
            coll, query=models.SparseVector(indices=q_idx, values=q_val), using="sp", limit=12
        ).points
        check_ranked(hits, bf.top(sparse, 12, keep=lambda i: sparse[i] > 0))
        hits = client.query_points(coll, query=q_multi.tolist(), using="multi", limit=9, search_params=EXACT).points
        check_ranked(hits, bf.top(multi, 9))


# --------------------------------------------------------------------------- multi-stage


def test_rrf_with_k_and_dbsf(coll, clients):
    q_dense = RNG.normal(size=DIM)
    q_idx = sorted(RNG.choice(VOCAB, size=8, replace=False).tolist())
    q_val = RNG.uniform(0.5, 1.5, size=8).tolist()
    sparse = bf.sparse_dot(SPARSE, q_idx, q_val)
    dense_hits = bf.top(bf.cosine(COS, q_dense), 25)
    sparse_hits = bf.top(sparse, 20, keep=lambda i: sparse[i] > 0)
    prefetch = [
        models.Prefetch(query=q_dense.tolist(), using="cos", limit=25, params=EXACT),
        models.Prefetch(query=models.SparseVector(indices=q_idx, values=q_val), using="sp", limit=20),
    ]
    for index, client in each(clients):
        fused = client.query_points(coll, prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.RRF),
                                    limit=10).points
        check_scored(fused, bf.rrf([dense_hits, sparse_hits]), 10)
        custom = client.query_points(coll, prefetch=prefetch, query=models.RrfQuery(rrf=models.Rrf(k=30)),
                                     limit=8, offset=2).points
        check_scored(custom, bf.rrf([dense_hits, sparse_hits], k=30), 8, offset=2)
    q1, q2 = RNG.normal(size=DIM), RNG.normal(size=DIM)
    lists = [bf.top(bf.cosine(COS, q1), 30), bf.top(bf.dot(DOT, q2), 30)]
    for index, client in each(clients):
        fused = client.query_points(
            coll,
            prefetch=[
                models.Prefetch(query=q1.tolist(), using="cos", limit=30, params=EXACT),
                models.Prefetch(query=q2.tolist(), using="dot", limit=30, params=EXACT),
            ],
            query=models.FusionQuery(fusion=models.Fusion.DBSF),
            limit=12,
            with_payload=True,
        ).points
        check_scored(fused, bf.dbsf(lists), 12)
        assert all(p.payload == PAYLOADS[p.id] for p in fused)


def test_two_stage_multivector_rerank(coll, clients):
    q_dense, q_multi = RNG.normal(size=DIM), RNG.normal(size=(2, MDIM))
    flt = models.Filter(must_not=[models.FieldCondition(key="cat", match=models.MatchValue(value="a"))])
    candidates = [pid for pid, _ in bf.top(bf.cosine(COS, q_dense), 30, keep=lambda i: PAYLOADS[i]["cat"] != "a")]
    expected = bf.top(bf.max_sim(MULTI, q_multi), 7, ids=candidates)
    for index, client in each(clients):
        hits = client.query_points(
            coll,
            prefetch=models.Prefetch(query=q_dense.tolist(), using="cos", limit=30, params=EXACT),
            query=q_multi.tolist(),
            using="multi",
            query_filter=flt,
            limit=7,
            with_vectors=["multi"],
        ).points
        check_ranked(hits, expected)
        for hit in hits:
            assert np.allclose(np.asarray(hit.vector["multi"]), MULTI[hit.id], atol=1e-5)


# --------------------------------------------------------------------------- recommend, discover, context


def recommend(client, positive, negative, strategy, using, limit, **kwargs):
    return client.query_points(
        NAME,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(positive=positive, negative=negative, strategy=strategy)
        ),
        using=using, limit=limit, search_params=EXACT, **kwargs,
    ).points


def test_recommend_strategies(coll, clients):
    raw_cos, raw_dot = RNG.normal(size=DIM), RNG.normal(size=DIM)
    used = {3, 5, 8}

    def cand(i):
        return i not in used

    # average_vector on Cosine: averages of unit vectors, target = 2*avg(pos) - avg(neg)
    positive, negative = [3, raw_cos.tolist()], [5]
    avg_pos = np.mean([bf.unit(COS[3]), bf.unit(raw_cos)], axis=0)
    target = 2 * avg_pos - bf.unit(COS[5])
    avg_scores = bf.cosine(COS, target)
    # best_score and sum_scores on Dot
    pos_dot, neg_dot = [8, raw_dot.tolist()], [3, 5]
    pos = np.stack([bf.dot(DOT, DOT[8]), bf.dot(DOT, raw_dot)], axis=1)
    neg = np.stack([bf.dot(DOT, DOT[3]), bf.dot(DOT, DOT[5])], axis=1)
    sum_scores = pos.sum(axis=1) - neg.sum(axis=1)
    best, worst = pos.max(axis=1), neg.max(axis=1)
    best_scores = np.where(best > worst, bf.scaled_sigmoid(best), -bf.scaled_sigmoid(worst))
    for index, client in each(clients):
        got = recommend(client, positive, negative, models.RecommendStrategy.AVERAGE_VECTOR, "cos", 8)
        check_ranked(got, bf.top(avg_scores, 8, keep=cand))
        got = recommend(client, pos_dot, neg_dot, models.RecommendStrategy.SUM_SCORES, "dot", 8, offset=3)
        check_ranked(got, bf.top(sum_scores, 8, keep=cand, offset=3), tol=1e-3)
        got = recommend(client, pos_dot, neg_dot, models.RecommendStrategy.BEST_SCORE, "dot", 10)
        check_ranked(got, bf.top(best_scores, 10, keep=cand))


def test_discover_and_context(coll, clients):
    raw = RNG.normal(size=DIM)
    target, pairs = 40, [(41, 42), (raw.tolist(), 43)]
    used = {40, 41, 42, 43}
    rank = sum(np.where(cos_sims(p if isinstance(p, int) else np.asarray(p)) > cos_sims(n), 1.0, -1.0) for p, n in pairs)
    discover = rank + bf.scaled_sigmoid(cos_sims(target))
    eps = float(np.finfo(np.float32).eps)
    ctx_pairs = [(50, 51), (52, 53)]
    context = sum(bf.sigmoid(np.minimum(cos_sims(p) - cos_sims(n) - eps, 0.0)) for p, n in ctx_pairs)
    for index, client in each(clients):
        got = client.query_points(
            coll,
            query=models.DiscoverQuery(discover=models.DiscoverInput(
                target=target, context=[models.ContextPair(positive=p, negative=n) for p, n in pairs])),
            using="cos", limit=9, search_params=EXACT,
        ).points
        check_ranked(got, bf.top(discover, 9, keep=lambda i: i not in used))
        got = client.query_points(
            coll,
            query=models.ContextQuery(context=[models.ContextPair(positive=p, negative=n) for p, n in ctx_pairs]),
            using="cos", limit=10, search_params=EXACT,
        ).points
        want = bf.top(context, 10, keep=lambda i: i not in {50, 51, 52, 53})
        assert [p.score for p in got] == pytest.approx([s for _, s in want], abs=1e-4)


# --------------------------------------------------------------------------- formula, sample


def test_formula_boosts(coll, clients):
    q = RNG.normal(size=DIM)
    cos = bf.cosine(COS, q)
    scale_t = 86400 * 10
    formula = models.SumExpression(sum=[
        "$score",
        models.MultExpression(mult=[0.5, models.FieldCondition(key="cat", match=models.MatchValue(value="b"))]),
        models.MultExpression(mult=[0.0005, "n"]),
        models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(x="n", target=500, scale=200)),
        models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(
            x=models.GeoDistance(geo_distance=models.GeoDistanceParams(
                origin=models.GeoPoint(lon=ORIGIN[0], lat=ORIGIN[1]), to="loc")),
            scale=10_000,
        )),
        models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(
            x=models.DatetimeKeyExpression(datetime_key="ts"),
            target=models.DatetimeExpression(datetime="2024-01-01T00:00:00Z"), scale=scale_t,
        )),
    ])
    expected = {}
    for i in IDS:
        p = PAYLOADS[i]
        expected[i] = (cos[i] + (0.5 if p["cat"] == "b" else 0.0) + 0.0005 * p["n"] + bf.gauss_decay(p["n"], 500, 200)
                       + bf.gauss_decay(dist_of(i), 0, 10_000) + bf.gauss_decay(ts_of(i), BASE.timestamp(), scale_t))
    for index, client in each(clients):
        got = client.query_points(
            coll,
            prefetch=models.Prefetch(query=q.tolist(), using="cos", limit=N, params=EXACT),
            query=models.FormulaQuery(formula=formula),
            limit=10, offset=index, with_payload=["cat"],
        ).points
        check_scored(got, expected, 10, offset=index, tol=1e-5)
        assert all(p.payload == {"cat": PAYLOADS[p.id]["cat"]} for p in got)


def test_random_sample(coll, clients):
    flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchValue(value="c"))])
    members = {i for i in IDS if PAYLOADS[i]["cat"] == "c"}
    for index, client in each(clients):
        got = client.query_points(coll, query=models.SampleQuery(sample=models.Sample.RANDOM), limit=20).points
        assert len(got) == 20 and len({p.id for p in got}) == 20 and {p.id for p in got} <= set(IDS)
        sampled = client.query_points(coll, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=flt,
                                      limit=N, with_payload=True).points
        assert sorted(p.id for p in sampled) == sorted(members)
        assert all(p.score == 0 and p.payload == PAYLOADS[p.id] for p in sampled)


# --------------------------------------------------------------------------- groups


def test_query_groups_with_lookup(coll, clients):
    q = RNG.normal(size=DIM)
    scores = bf.cosine(COS, q)
    order = list(np.argsort(-scores, kind="stable"))
    want = bf.groups((int(i) for i in order), lambda i: PAYLOADS[i]["bucket"], 4, 3)
    for index, client in each(clients):
        got = client.query_points_groups(
            coll, group_by="bucket", query=q.tolist(), using="cos", limit=4, group_size=3, search_params=EXACT,
            with_payload=["bucket"],
            with_lookup=models.WithLookup(collection=LOOKUP, with_payload=True, with_vectors=True),
        )
        assert [(g.id, [h.id for h in g.hits]) for g in got.groups] == want
        for group in got.groups:
            for hit in group.hits:
                assert hit.score == pytest.approx(float(scores[hit.id]), abs=1e-5)
                assert hit.payload == {"bucket": PAYLOADS[hit.id]["bucket"]}
            if group.id < 5:
                assert group.lookup.id == group.id and group.lookup.payload == {"label": f"b{group.id}"}
                assert group.lookup.vector == [1.0, float(group.id)]
            else:
                assert group.lookup is None


def test_legacy_search_groups(coll, cluster):
    q = RNG.normal(size=DIM)
    scores = bf.dot(DOT, q)
    flt = {"must": [{"key": "n", "range": {"gte": 200}}]}
    order = [int(i) for i in np.argsort(-scores, kind="stable") if PAYLOADS[int(i)]["n"] >= 200]
    want = bf.groups(order, lambda i: PAYLOADS[i]["cat"], 3, 4)
    body = {"vector": {"name": "dot", "vector": q.tolist()}, "group_by": "cat", "limit": 3, "group_size": 4,
            "filter": flt, "params": {"exact": True}}
    for node in cluster.nodes:
        response = cluster.request(node, "POST", f"/collections/{coll}/points/search/groups", json=body)
        assert response.status_code == 200, response.text
        groups = response.json()["result"]["groups"]
        assert [(g["id"], [h["id"] for h in g["hits"]]) for g in groups] == want


# --------------------------------------------------------------------------- facet, matrix


def test_facet_counts(coll, clients):
    all_cats = facet_counts(lambda i: PAYLOADS[i]["cat"])
    high = [i for i in IDS if PAYLOADS[i]["n"] >= 500]
    high_buckets = facet_counts(lambda i: PAYLOADS[i]["bucket"], high)
    flt = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=500))])
    for index, client in each(clients):
        got = client.facet(coll, key="cat", exact=True)
        assert [(h.value, h.count) for h in got.hits] == all_cats
        got = client.facet(coll, key="bucket", facet_filter=flt, exact=True, limit=3)
        assert [(h.value, h.count) for h in got.hits] == high_buckets[:3]


def test_search_matrix_pairs_and_offsets(coll, clients):
    for index, client in each(clients):
        pairs = client.search_matrix_pairs(coll, sample=20, limit=3, using="cos").pairs
        rows: dict = {}
        for pair in pairs:
            assert pair.score == pytest.approx(float(bf.cosine(COS[pair.a], COS[pair.b])), abs=1e-4)
            rows.setdefault(pair.a, []).append(pair.b)
        assert len(rows) == 20 and all(len(r) == 3 for r in rows.values())
        sample = list(rows)
        for a, neighbours in rows.items():
            sims = {b: float(bf.cosine(COS[b], COS[a])) for b in sample if b != a}
            assert [sims[b] for b in neighbours] == pytest.approx(sorted(sims.values(), reverse=True)[:3], abs=1e-4)
    flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchValue(value="e"))])
    members = {i for i in IDS if PAYLOADS[i]["cat"] == "e"}
    got = clients[2].search_matrix_offsets(coll, query_filter=flt, sample=N, limit=2, using="dot")
    assert set(got.ids) == members and len(got.ids) == len(members)
    for r, c, s in zip(got.offsets_row, got.offsets_col, got.scores):
        assert s == pytest.approx(float(DOT[got.ids[r]].astype(np.float64) @ DOT[got.ids[c]]), abs=1e-4)
    assert len(got.scores) == 2 * len(members)


# --------------------------------------------------------------------------- legacy endpoints


def post(cluster, node, path: str, body: dict):
    response = cluster.request(node, "POST", f"/collections/{NAME}/points/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def check_raw(hits: list[dict], expected: list[tuple[int, float]]) -> None:
    assert [h["score"] for h in hits] == pytest.approx([s for _, s in expected], abs=1e-4)
    truth = dict(expected)
    assert all(h["id"] in truth for h in hits)


def test_legacy_search_recommend_discover(coll, cluster):
    q1, q2 = RNG.normal(size=DIM), RNG.normal(size=DIM)
    for node in cluster.nodes:
        hits = post(cluster, node, "search", {"vector": {"name": "cos", "vector": q1.tolist()}, "limit": 6,
                                              "offset": 2, "with_payload": ["n"], "params": {"exact": True}})
        check_raw(hits, bf.top(bf.cosine(COS, q1), 6, offset=2))
        assert all(h["payload"] == {"n": PAYLOADS[h["id"]]["n"]} for h in hits)
        batch = post(cluster, node, "search/batch", {"searches": [
            {"vector": {"name": "dot", "vector": q2.tolist()}, "limit": 4, "params": {"exact": True}},
            {"vector": {"name": "sp", "vector": {"indices": [1, 2, 3], "values": [1.0, 0.5, 2.0]}}, "limit": 5},
        ]})
        check_raw(batch[0], bf.top(bf.dot(DOT, q2), 4))
        sparse = bf.sparse_dot(SPARSE, [1, 2, 3], [1.0, 0.5, 2.0])
        check_raw(batch[1], bf.top(sparse, 5, keep=lambda i: sparse[i] > 0))
        reco = post(cluster, node, "recommend", {"positive": [10, 11], "negative": [12], "using": "dot",
                                                 "strategy": "sum_scores", "limit": 5, "params": {"exact": True}})
        sums = bf.dot(DOT, DOT[10]) + bf.dot(DOT, DOT[11]) - bf.dot(DOT, DOT[12])
        check_raw(reco, bf.top(sums, 5, keep=lambda i: i not in (10, 11, 12)))
        reco_batch = post(cluster, node, "recommend/batch", {"searches": [
            {"positive": [10], "using": "cos", "limit": 3, "params": {"exact": True}},
            {"positive": [11], "using": "cos", "limit": 2, "params": {"exact": True}},
        ]})
        check_raw(reco_batch[0], bf.top(cos_sims(10), 3, keep=lambda i: i != 10))
        check_raw(reco_batch[1], bf.top(cos_sims(11), 2, keep=lambda i: i != 11))
        found = post(cluster, node, "discover", {"target": 60, "context": [{"positive": 61, "negative": 62}],
                                                 "using": "cos", "limit": 4, "params": {"exact": True}})
        rank = np.where(cos_sims(61) > cos_sims(62), 1.0, -1.0)
        check_raw(found, bf.top(rank + bf.scaled_sigmoid(cos_sims(60)), 4, keep=lambda i: i not in (60, 61, 62)))


# --------------------------------------------------------------------------- order_by, scroll


def test_order_by_scroll_on_every_node(coll, clients):
    by_n = sorted(IDS, key=lambda i: PAYLOADS[i]["n"])
    flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchValue(value="b"))])
    for index, client in each(clients):
        page, _ = client.scroll(coll, order_by=models.OrderBy(key="n", direction=models.Direction.DESC), limit=15)
        assert [r.id for r in page] == by_n[::-1][:15]
        page, _ = client.scroll(coll, order_by=models.OrderBy(key="n", start_from=300), scroll_filter=flt, limit=10,
                                with_payload=["n"])
        want = [i for i in by_n if PAYLOADS[i]["n"] >= 300 and PAYLOADS[i]["cat"] == "b"][:10]
        assert [r.id for r in page] == want
        assert [r.payload for r in page] == [{"n": PAYLOADS[i]["n"]} for i in want]
        ids, offset = [], None
        while True:  # id-ordered pages cover every point exactly once
            records, offset = client.scroll(coll, limit=64, offset=offset)
            ids += [r.id for r in records]
            if offset is None:
                break
        assert ids == IDS


def test_order_by_query_on_every_node(coll, clients):
    """``{"query": {"order_by": ...}}``: the scroll order as scored points, alone and over a prefetch."""
    by_n = sorted(IDS, key=lambda i: PAYLOADS[i]["n"])
    flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchAny(any=["a", "c"]))])
    q = RNG.normal(size=DIM)
    near = [pid for pid, _ in bf.top(bf.cosine(COS, q), 40)]
    for index, client in each(clients):
        order = models.OrderBy(key="n", direction=models.Direction.DESC, start_from=700)
        hits = client.query_points(coll, query=models.OrderByQuery(order_by=order), query_filter=flt, limit=12,
                                   offset=3, with_payload=["n"]).points
        want = [i for i in by_n[::-1] if PAYLOADS[i]["n"] <= 700 and PAYLOADS[i]["cat"] in ("a", "c")][3:15]
        assert [h.id for h in hits] == want
        assert [h.order_value for h in hits] == [PAYLOADS[i]["n"] for i in want]
        assert all(h.score == 0 and h.payload == {"n": PAYLOADS[h.id]["n"]} for h in hits)
        hits = client.query_points(coll, prefetch=models.Prefetch(query=q.tolist(), using="cos", limit=40,
                                                                  params=EXACT),
                                   query=models.OrderByQuery(order_by="n"), limit=10, with_payload=False).points
        assert [h.id for h in hits] == sorted(near, key=lambda i: PAYLOADS[i]["n"])[:10]


# --------------------------------------------------------------------------- deeper cross-shard cases


def test_euclid_deep_offset_and_consistency(coll, clients):
    q = RNG.normal(size=DIM)
    dist = bf.euclid(EUC, q)
    for index, client in each(clients):
        deep = client.query_points(coll, query=q.tolist(), using="euc", limit=8, offset=200, search_params=EXACT,
                                   with_payload=False).points
        check_ranked(deep, bf.top(dist, 8, offset=200, higher=False))
        for consistency in (models.ReadConsistencyType.ALL, models.ReadConsistencyType.MAJORITY, 2):
            hits = client.query_points(coll, query=q.tolist(), using="euc", limit=12, search_params=EXACT,
                                       consistency=consistency).points
            check_ranked(hits, bf.top(dist, 12, higher=False))
        records = client.retrieve(coll, ids=list(range(0, N, 9)), consistency=models.ReadConsistencyType.ALL)
        assert [r.id for r in records] == list(range(0, N, 9))
        assert client.count(coll, exact=True).count == N
    q2 = RNG.normal(size=DIM)
    lists = [bf.top(bf.cosine(COS, q2), 20), bf.top(dist, 20, higher=False)]
    fused = clients[1].query_points(
        coll,
        prefetch=[
            models.Prefetch(query=q2.tolist(), using="cos", limit=20, params=EXACT),
            models.Prefetch(query=q.tolist(), using="euc", limit=20, params=EXACT),
        ],
        query=models.FusionQuery(fusion=models.Fusion.DBSF),
        limit=10,
    ).points
    check_scored(fused, bf.dbsf(lists, higher=[True, False]), 10)


def test_all_vector_kinds_and_payload_exclude_round_trip(coll, clients):
    q = RNG.normal(size=DIM)
    for index, client in each(clients):
        hits = client.query_points(
            coll, query=q.tolist(), using="dot", limit=15, search_params=EXACT, with_vectors=True,
            with_payload=models.PayloadSelectorExclude(exclude=["loc", "ts"]),
        ).points
        check_ranked(hits, bf.top(bf.dot(DOT, q), 15))
        for hit in hits:
            assert hit.payload == {k: v for k, v in PAYLOADS[hit.id].items() if k not in ("loc", "ts")}
            assert set(hit.vector) == {"cos", "dot", "euc", "multi", "sp"}
            assert np.allclose(hit.vector["euc"], EUC[hit.id], atol=1e-5)
            assert np.allclose(np.asarray(hit.vector["multi"]), MULTI[hit.id], atol=1e-5)
            sparse = hit.vector["sp"]
            assert list(sparse.indices) == SPARSE[hit.id][0]
            assert np.allclose(sparse.values, SPARSE[hit.id][1], atol=1e-6)
        records = client.retrieve(coll, ids=[5, 100, 239, 77], with_payload=True, with_vectors=["sp"])
        assert [r.id for r in records] == [5, 100, 239, 77]
        assert all(r.payload == PAYLOADS[r.id] and set(r.vector) == {"sp"} for r in records)


def test_query_batch_and_prefetch_level_options(coll, clients):
    q1, q2 = RNG.normal(size=DIM), RNG.normal(size=DIM)
    low_n = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(lt=400))])
    cos, dot = bf.cosine(COS, q1), bf.dot(DOT, q2)
    for index, client in each(clients):
        answers = client.query_batch_points(coll, requests=[
            models.QueryRequest(query=q1.tolist(), using="cos", limit=5, params=EXACT),
            models.QueryRequest(query=11, using="sp", limit=4),
            models.QueryRequest(
                prefetch=[
                    models.Prefetch(query=q1.tolist(), using="cos", limit=40, filter=low_n, params=EXACT,
                                    score_threshold=0.1),
                    models.Prefetch(query=q2.tolist(), using="dot", limit=15, params=EXACT),
                ],
                query=models.FusionQuery(fusion=models.Fusion.RRF),
                limit=10,
            ),
            models.QueryRequest(limit=6, offset=30, filter=low_n),  # no query: id order
        ])
        check_ranked(answers[0].points, bf.top(cos, 5))
        sparse = bf.sparse_dot(SPARSE, *SPARSE[11])
        check_ranked(answers[1].points, bf.top(sparse, 4, keep=lambda i: i != 11 and sparse[i] > 0))
        first = bf.top(cos, 40, keep=lambda i: PAYLOADS[i]["n"] < 400 and cos[i] > 0.1)
        check_scored(answers[2].points, bf.rrf([first, bf.top(dot, 15)]), 10)
        assert [p.id for p in answers[3].points] == [i for i in IDS if PAYLOADS[i]["n"] < 400][30:36]


def test_wide_groups_and_recommend_groups(coll, clients):
    q = RNG.normal(size=DIM)
    scores = bf.cosine(COS, q)
    order = [int(i) for i in np.argsort(-scores, kind="stable")]
    want = bf.groups(order, lambda i: PAYLOADS[i]["cat"], 5, 30)
    got = clients[2].query_points_groups(coll, group_by="cat", query=q.tolist(), using="cos", limit=5,
                                         group_size=30, search_params=EXACT, with_payload=False)
    assert [(g.id, [h.id for h in g.hits]) for g in got.groups] == want
    sums = bf.dot(DOT, DOT[20]) - bf.dot(DOT, DOT[21])
    reco_order = [int(i) for i in np.argsort(-sums, kind="stable") if int(i) not in (20, 21)]
    want = bf.groups(reco_order, lambda i: PAYLOADS[i]["bucket"], 3, 2)
    for index, client in each(clients):  # recommend as the grouped query
        got = client.query_points_groups(
            coll, group_by="bucket", using="dot", limit=3, group_size=2, search_params=EXACT,
            query=models.RecommendQuery(recommend=models.RecommendInput(
                positive=[20], negative=[21], strategy=models.RecommendStrategy.SUM_SCORES)),
        )
        assert [(g.id, [h.id for h in g.hits]) for g in got.groups] == want
        for group in got.groups:
            assert [h.score for h in group.hits] == pytest.approx([float(sums[h.id]) for h in group.hits], abs=1e-3)


def test_formula_over_several_prefetches_and_threshold(coll, clients):
    q1, q2 = RNG.normal(size=DIM), RNG.normal(size=DIM)
    first, second = dict(bf.top(bf.cosine(COS, q1), 25)), dict(bf.top(bf.dot(DOT, q2), 25))
    expected = {i: first.get(i, 0.0) + 0.1 * second.get(i, 0.0) for i in set(first) | set(second)}
    threshold = sorted(expected.values(), reverse=True)[6]
    for index, client in each(clients):
        got = client.query_points(
            coll,
            prefetch=[
                models.Prefetch(query=q1.tolist(), using="cos", limit=25, params=EXACT),
                models.Prefetch(query=q2.tolist(), using="dot", limit=25, params=EXACT),
            ],
            query=models.FormulaQuery(formula=models.SumExpression(
                sum=["$score[0]", models.MultExpression(mult=[0.1, "$score[1]"])])),
            score_threshold=threshold - 1e-6,
            limit=20,
        ).points
        check_scored(got, expected, 7)


def test_concurrent_queries_from_every_node(coll, clients):
    from concurrent.futures import ThreadPoolExecutor

    queries = [RNG.normal(size=DIM) for _ in range(48)]

    def run(k: int):
        client = clients[k % 3]
        if k % 4 == 0:
            return client.query_points(coll, query=queries[k].tolist(), using="cos", limit=7, search_params=EXACT,
                                       with_payload=["n"]).points
        if k % 4 == 1:
            return client.query_points(coll, query=queries[k].tolist(), using="euc", limit=7, search_params=EXACT,
                                       with_payload=["n"]).points
        if k % 4 == 2:
            return client.query_points(coll, query=int(k), using="dot", limit=7, search_params=EXACT,
                                       with_payload=["n"]).points
        return client.retrieve(coll, ids=list(range(k, N, 11)), with_payload=["n"])

    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(run, range(len(queries))))
    for k, got in enumerate(answers):
        if k % 4 == 0:
            check_ranked(got, bf.top(bf.cosine(COS, queries[k]), 7))
        elif k % 4 == 1:
            check_ranked(got, bf.top(bf.euclid(EUC, queries[k]), 7, higher=False))
        elif k % 4 == 2:
            check_ranked(got, bf.top(bf.dot(DOT, DOT[k]), 7, keep=lambda i, k=k: i != k))
        else:
            assert [r.id for r in got] == list(range(k, N, 11))
        assert all(p.payload == {"n": PAYLOADS[p.id]["n"]} for p in got)


def test_order_by_datetime_on_every_node(coll, clients):
    by_ts = sorted(IDS, key=lambda i: (-ts_of(i), i))
    for index, client in each(clients):
        page, _ = client.scroll(coll, order_by=models.OrderBy(key="ts", direction=models.Direction.DESC), limit=20,
                                with_payload=["ts"])
        got = [ts_of(r.id) for r in page]
        assert got == [ts_of(i) for i in by_ts[:20]]
        assert all(r.payload == {"ts": PAYLOADS[r.id]["ts"]} for r in page)


def test_nested_prefetch_groups_over_fusion_and_sparse_matrix(coll, clients):
    q1, q2, q_multi = RNG.normal(size=DIM), RNG.normal(size=DIM), RNG.normal(size=(2, MDIM))
    even = models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchAny(any=[0, 2, 4, 6]))])
    keep = lambda i: PAYLOADS[i]["bucket"] % 2 == 0  # noqa: E731
    inner = bf.rrf([bf.top(bf.cosine(COS, q1), 30, keep=keep), bf.top(bf.dot(DOT, q2), 30, keep=keep)])
    nested = models.Prefetch(
        prefetch=[
            models.Prefetch(query=q1.tolist(), using="cos", limit=30, params=EXACT),
            models.Prefetch(query=q2.tolist(), using="dot", limit=30, params=EXACT),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=20,
    )
    for index, client in each(clients):
        hits = client.query_points(coll, prefetch=nested, query=q_multi.tolist(), using="multi", query_filter=even,
                                   limit=6).points
        check_rescored_cut(hits, inner, 20, bf.max_sim(MULTI, q_multi), 6)
        groups = client.query_points_groups(
            coll, group_by="cat", limit=3, group_size=2, query=models.FusionQuery(fusion=models.Fusion.RRF),
            prefetch=nested.prefetch, query_filter=even, with_payload=False,
        ).groups
        ranked = sorted(inner, key=lambda pid: (-inner[pid], pid))
        want = bf.groups(ranked, lambda i: PAYLOADS[i]["cat"], 3, 2)
        assert [g.id for g in groups] == [g for g, _ in want]
        for group, (_, members) in zip(groups, want):
            assert [h.score for h in group.hits] == pytest.approx([inner[m] for m in members], abs=1e-6)
        pairs = client.search_matrix_pairs(coll, sample=25, limit=2, using="sp").pairs
        for pair in pairs:
            a, b = SPARSE[pair.a], SPARSE[pair.b]
            assert pair.score == pytest.approx(float(bf.sparse_dot([a], *b)[0]), abs=1e-4)
        pairs = client.search_matrix_pairs(coll, sample=10, limit=2, using="multi").pairs
        for pair in pairs:
            assert pair.score == pytest.approx(float(bf.max_sim([MULTI[pair.b]], MULTI[pair.a])[0]), abs=1e-4)
        approx = client.facet(coll, key="cat")  # exact=False: still exact at this size
        assert [(h.value, h.count) for h in approx.hits] == facet_counts(lambda i: PAYLOADS[i]["cat"])
