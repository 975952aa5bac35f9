"""``POST /collections/{c}/facet``: counts per payload value, checked against counting in Python."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from qdrant_client import models

N = 80
COLORS = ["red", "green", "blue", "black", "white"]
UUIDS = [str(uuid.UUID(int=i + 1)) for i in range(4)]


def payload(i: int) -> dict:
    p = {
        "color": COLORS[(i * i) % 5],
        "size": i % 7,
        "tags": [f"t{i % 4}", f"t{i % 6}"],  # t0..t5; a point with equal tags counts once
        "ref": UUIDS[i % 4],
        "free": f"x{i % 3}",
    }
    if i % 10 == 0:
        del p["color"]
    return p


PAYLOADS = {i: payload(i) for i in range(N)}


def expected(values_of, limit: int = 10, ids=None) -> list[tuple]:
    counts: Counter = Counter()
    for i in ids if ids is not None else PAYLOADS:
        counts.update(set(values_of(PAYLOADS[i])))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]


def pairs(response) -> list[tuple]:
    return [(hit.value, hit.count) for hit in response.hits]


@pytest.fixture(scope="module")
def coll(client, transport):
    name = f"facet_points_{transport}"
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT),
        shard_number=3,
    )
    client.upsert(name, points=[models.PointStruct(id=i, vector=[1.0, float(i)], payload=p) for i, p in PAYLOADS.items()],
                  wait=True)
    for field, schema in (
        ("color", models.PayloadSchemaType.KEYWORD),
        ("size", models.PayloadSchemaType.INTEGER),
        ("tags", models.PayloadSchemaType.KEYWORD),
        ("ref", models.PayloadSchemaType.UUID),
    ):
        client.create_payload_index(name, field, field_schema=schema, wait=True)
    return name


def test_keyword_facet(client, coll):
    got = client.facet(coll, key="color")
    assert pairs(got) == expected(lambda p: [p["color"]] if "color" in p else [])


def test_integer_facet_with_limit(client, coll):
    got = client.facet(coll, key="size", limit=3)
    assert pairs(got) == expected(lambda p: [p["size"]], limit=3)
    assert all(isinstance(value, int) for value, _ in pairs(got))


def test_array_values_count_once_per_point(client, coll):
    got = client.facet(coll, key="tags", limit=100)
    assert pairs(got) == expected(lambda p: p["tags"], limit=100)


def test_uuid_facet(client, coll):
    got = client.facet(coll, key="ref", exact=True)
    assert pairs(got) == expected(lambda p: [p["ref"]])


def test_facet_with_filter(client, coll):
    flt = models.Filter(must=[models.FieldCondition(key="size", range=models.Range(gte=2, lt=5))])
    got = client.facet(coll, key="color", facet_filter=flt)
    ids = [i for i, p in PAYLOADS.items() if 2 <= p["size"] < 5]
    assert pairs(got) == expected(lambda p: [p["color"]] if "color" in p else [], ids=ids)
    nothing = models.Filter(must=[models.FieldCondition(key="size", match=models.MatchValue(value=99))])
    assert client.facet(coll, key="color", facet_filter=nothing).hits == []


def expect_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["status"]["error"]
    assert fragment in message, message


def test_errors(http, coll):
    url = f"{http.base}/collections/{coll}/facet"
    expect_error(http.post(url, json={"key": "free"}), 400,
                 "Wrong input: No appropriate index for faceting: `free`")
    expect_error(http.post(url, json={"key": "unknown"}), 400, "No appropriate index for faceting: `unknown`")
    expect_error(http.post(url, json={"key": "color", "limit": 0}), 400, "Validation error")
    expect_error(http.post(url, json={}), 400, "missing field `key`")
    expect_error(http.post(url, json={"key": "color"}, params={"consistency": "bogus"}), 400, "invalid consistency")
    expect_error(http.post(f"{http.base}/collections/nope_missing/facet", json={"key": "color"}), 404, "nope_missing")
    ok = http.post(url, json={"key": "color", "limit": 2}, params={"consistency": "all"})
    assert ok.status_code == 200, ok.text
    assert [hit["count"] for hit in ok.json()["result"]["hits"]] == [c for _, c in expected(
        lambda p: [p["color"]] if "color" in p else [], limit=2)]
