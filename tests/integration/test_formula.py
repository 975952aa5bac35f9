"""Formula (score boosting) and random sample queries on a two-shard collection,
with expected scores computed here."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from qdrant_client import models

from tests.integration.transport_errors import expect_error

COUNT, DIM = 60, 4
ORIGIN = (13.40, 52.52)  # lon, lat
BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def haversine(lon1, lat1, lon2, lat2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * 6371008.8 * math.asin(min(1.0, math.sqrt(a)))


@pytest.fixture
def data(client, collection_name):
    rng = np.random.default_rng(11)
    vectors = rng.normal(size=(COUNT, DIM)).astype(np.float32)
    payloads = []
    for pid in range(COUNT):
        payload = {
            "tag": "a" if pid % 3 == 0 else "b",
            "location": {"lon": ORIGIN[0] + float(rng.uniform(-0.2, 0.2)), "lat": ORIGIN[1] + float(rng.uniform(-0.2, 0.2))},
            "ts": (BASE + timedelta(hours=int(rng.integers(-500, 500)))).isoformat().replace("+00:00", "Z"),
        }
        if pid % 4:
            payload["popularity"] = float(rng.uniform(1, 10))
        payloads.append(payload)
    client.create_collection(
        collection_name, shard_number=2, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=pid, vector=vectors[pid].tolist(), payload=payloads[pid]) for pid in range(COUNT)],
        wait=True,
    )
    query = rng.normal(size=DIM)
    v = vectors.astype(np.float64)
    cos = (v / np.linalg.norm(v, axis=1, keepdims=True)) @ (query / np.linalg.norm(query))
    return {"payloads": payloads, "query": query.tolist(), "cos": cos, "vectors": vectors}


def run(client, name, data, formula, limit=10, defaults=None, **kwargs):
    return client.query_points(
        name,
        prefetch=models.Prefetch(query=data["query"], limit=COUNT),
        query=models.FormulaQuery(formula=formula, defaults=defaults or {}),
        limit=limit,
        with_payload=True,
        **kwargs,
    ).points


def check(points, expected, limit=10, offset=0):
    order = sorted(expected, key=lambda pid: (-expected[pid], pid))[offset : offset + limit]
    assert [p.id for p in points] == order
    for p in points:
        assert p.score == pytest.approx(expected[p.id], rel=1e-5, abs=1e-6)


def test_score_plus_condition_boost(client, collection_name, data):
    formula = models.SumExpression(
        sum=[
            "$score",
            models.MultExpression(
                mult=[0.5, models.FieldCondition(key="tag", match=models.MatchValue(value="a"))]
            ),
        ]
    )
    points = run(client, collection_name, data, formula)
    expected = {pid: data["cos"][pid] + (0.5 if data["payloads"][pid]["tag"] == "a" else 0.0) for pid in range(COUNT)}
    check(points, expected)
    assert points[0].payload["tag"] in ("a", "b")
    # offset and score_threshold apply to the formula scores
    check(run(client, collection_name, data, formula, limit=5, offset=3), expected, limit=5, offset=3)
    thresholded = run(client, collection_name, data, formula, limit=COUNT, score_threshold=0.5)
    assert {p.id for p in thresholded} == {pid for pid, s in expected.items() if s >= 0.5}


def test_geo_exp_decay(client, collection_name, data):
    formula = models.SumExpression(
        sum=[
            "$score",
            models.ExpDecayExpression(
                exp_decay=models.DecayParamsExpression(
                    x=models.GeoDistance(
                        geo_distance=models.GeoDistanceParams(
                            origin=models.GeoPoint(lon=ORIGIN[0], lat=ORIGIN[1]), to="location"
                        )
                    ),
                    scale=5000,
                )
            ),
        ]
    )
    expected = {}
    for pid in range(COUNT):
        loc = data["payloads"][pid]["location"]
        dist = haversine(ORIGIN[0], ORIGIN[1], loc["lon"], loc["lat"])
        expected[pid] = data["cos"][pid] + math.exp(math.log(0.5) * dist / 5000)
    check(run(client, collection_name, data, formula), expected)


def test_datetime_decays(client, collection_name, data):
    scale = 86400 * 10
    target = models.DatetimeExpression(datetime="2024-01-01T00:00:00Z")
    formula = models.SumExpression(
        sum=[
            models.LinDecayExpression(
                lin_decay=models.DecayParamsExpression(
                    x=models.DatetimeKeyExpression(datetime_key="ts"), target=target, scale=scale, midpoint=0.2
                )
            ),
            models.GaussDecayExpression(
                gauss_decay=models.DecayParamsExpression(
                    x=models.DatetimeKeyExpression(datetime_key="ts"), target=target, scale=scale
                )
            ),
        ]
    )
    expected = {}
    for pid in range(COUNT):
        ts = datetime.fromisoformat(data["payloads"][pid]["ts"].replace("Z", "+00:00")).timestamp()
        diff = ts - BASE.timestamp()
        lin = max(0.0, 1 - (1 - 0.2) / scale * abs(diff))
        gauss = math.exp(math.log(0.5) * (diff / scale) ** 2)
        expected[pid] = lin + gauss
    check(run(client, collection_name, data, formula), expected)


def test_defaults_arithmetic_and_missing_variable(client, collection_name, data):
    formula = models.SumExpression(
        sum=[
            models.MultExpression(mult=["$score", models.Log10Expression(log10="popularity")]),
            models.DivExpression(
                div=models.DivParams(left=1, right=models.NegExpression(neg="$score"), by_zero_default=0)
            ),
            models.PowExpression(pow=models.PowParams(base=models.AbsExpression(abs="$score"), exponent=2)),
        ]
    )
    expected = {}
    for pid in range(COUNT):
        pop = data["payloads"][pid].get("popularity", 2.0)
        s = data["cos"][pid]
        expected[pid] = s * math.log10(pop) + 1 / -s + abs(s) ** 2
    check(run(client, collection_name, data, formula, defaults={"popularity": 2.0}), expected)

    with expect_error(400, "popularity"):
        run(client, collection_name, data, models.MultExpression(mult=["$score", "popularity"]))


def test_score_of_each_prefetch(client, collection_name, data):
    other = (-np.asarray(data["query"])).tolist()
    points = client.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=data["query"], limit=10),
            models.Prefetch(query=other, limit=10),
        ],
        query=models.FormulaQuery(formula=models.SumExpression(sum=["$score[0]", models.MultExpression(mult=[2, "$score[1]"])])),
        limit=20,
    ).points
    cos = data["cos"]
    first = sorted(range(COUNT), key=lambda pid: -cos[pid])[:10]
    second = sorted(range(COUNT), key=lambda pid: cos[pid])[:10]
    expected = {pid: (cos[pid] if pid in first else 0.0) + (2 * -cos[pid] if pid in second else 0.0) for pid in set(first) | set(second)}
    check(points, expected, limit=20)


def test_malformed_formulas_are_rejected(http, collection_name, client, data):
    url = f"{http.base}/collections/{collection_name}/points/query"
    for formula in [{"pow": {"base": 1}}, {"exp_decay": {"x": 1, "midpoint": 1.5}}, "$score[x]", [1, 2]]:
        body = {"prefetch": {"query": data["query"]}, "query": {"formula": formula}}
        answer = http.post(url, json=body)
        assert answer.status_code == 400, (formula, answer.text)
    answer = http.post(url, json={"query": {"formula": "$score"}})
    assert answer.status_code == 400


def test_random_sample(client, collection_name, data):
    flt = models.Filter(must=[models.FieldCondition(key="tag", match=models.MatchValue(value="a"))])
    points = client.query_points(
        collection_name, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=flt, limit=5, with_payload=True
    ).points
    assert len(points) == 5 and len({p.id for p in points}) == 5
    assert all(p.score == 0 and p.payload["tag"] == "a" for p in points)
    everything = client.query_points(
        collection_name, query=models.SampleQuery(sample=models.Sample.RANDOM), limit=COUNT + 10
    ).points
    assert sorted(p.id for p in everything) == list(range(COUNT))
