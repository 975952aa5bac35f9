"""Grouped search (``/points/query/groups``, ``/points/search/groups``) against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models

N = 150
DIM = 6
RNG = np.random.default_rng(7)
VECTORS = RNG.normal(size=(N, DIM)).astype(np.float32)
CATS = ["a", "b", "c", "d", "e", "f", "g"]


def payload(i: int) -> dict:
    p: dict = {"cat": CATS[(i * 7) % 7 if i % 11 == 0 else (i * i) % 7], "n": i % 5, "tags": [f"t{i % 3}", f"t{i % 4}"]}
    if i % 9 == 0:
        del p["cat"]  # no key: never grouped
    if i % 13 == 0:
        p["n"] = 2.5  # floats make no group
    if i % 17 == 0:
        p["rare"] = "r"
    return p


PAYLOADS = {i: payload(i) for i in range(N)}


def cosine_scores(query) -> np.ndarray:
    q = np.asarray(query, dtype=np.float32)
    q = q / np.linalg.norm(q)
    m = VECTORS / np.linalg.norm(VECTORS, axis=1, keepdims=True)
    return m @ q


def brute_groups(query, key, limit, group_size, ids=None):
    scores = cosine_scores(query)
    order = sorted(ids if ids is not None else range(N), key=lambda i: -scores[i])
    groups: dict = {}
    for i in order:
        raw = PAYLOADS[i].get(key)
        values = raw if isinstance(raw, list) else ([] if raw is None else [raw])
        for v in dict.fromkeys(v for v in values if isinstance(v, (str, int)) and not isinstance(v, bool)):
            if v not in groups:
                if len(groups) >= limit:
                    continue
                groups[v] = []
            if len(groups[v]) < group_size:
                groups[v].append(i)
    return [(k, ids_) for k, ids_ in groups.items()], scores


def shape(result):
    return [(g.id, [h.id for h in g.hits]) for g in result.groups]


@pytest.fixture(scope="module")
def coll(client, transport):
    name = f"groups_points_{transport}"
    client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE), shard_number=2
    )
    client.upsert(
        name,
        points=[models.PointStruct(id=i, vector=VECTORS[i].tolist(), payload=PAYLOADS[i]) for i in range(N)],
        wait=True,
    )
    return name


@pytest.fixture(scope="module")
def lookup_coll(client, transport):
    name = f"groups_lookup_{transport}"
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(
        name,
        points=[models.PointStruct(id=k, vector=[1.0, float(k)], payload={"label": f"n{k}"}) for k in (0, 1, 2, 3)],
        wait=True,
    )
    return name


QUERY = [0.3, -0.2, 0.9, 0.1, -0.5, 0.4]


def test_keyword_groups_match_brute_force(client, coll):
    got = client.query_points_groups(coll, group_by="cat", query=QUERY, limit=4, group_size=3)
    want, scores = brute_groups(QUERY, "cat", 4, 3)
    assert shape(got) == want
    for group in got.groups:
        for hit in group.hits:
            assert hit.score == pytest.approx(float(scores[hit.id]), abs=1e-5)
            assert hit.payload == PAYLOADS[hit.id]  # the client asks for payloads by default


def test_array_values_put_a_point_in_several_groups(client, coll):
    got = client.query_points_groups(coll, group_by="tags", query=QUERY, limit=10, group_size=5)
    want, _ = brute_groups(QUERY, "tags", 10, 5)
    assert shape(got) == want
    assert len(got.groups) == 4
    members = [h.id for g in got.groups for h in g.hits]
    assert len(members) > len(set(members))


def test_integer_groups_skip_floats(client, coll):
    got = client.query_points_groups(coll, group_by="n", query=QUERY, limit=10, group_size=4)
    want, _ = brute_groups(QUERY, "n", 10, 4)
    assert shape(got) == want
    assert all(isinstance(g.id, int) for g in got.groups)


def test_large_groups_widen_the_search(client, coll):
    got = client.query_points_groups(coll, group_by="cat", query=QUERY, limit=2, group_size=40)
    want, _ = brute_groups(QUERY, "cat", 2, 40)
    assert shape(got) == want
    rare = client.query_points_groups(coll, group_by="rare", query=QUERY, limit=3, group_size=100)
    assert shape(rare) == [("r", brute_groups(QUERY, "rare", 3, 100)[0][0][1])]


def test_filter_and_payload_selector(client, coll):
    flt = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=1, lte=3))])
    got = client.query_points_groups(
        coll, group_by="cat", query=QUERY, query_filter=flt, limit=3, group_size=2, with_payload=["n"]
    )
    ids = [i for i in range(N) if isinstance(PAYLOADS[i]["n"], int) and 1 <= PAYLOADS[i]["n"] <= 3]
    ids += [i for i in range(N) if PAYLOADS[i]["n"] == 2.5]
    want, _ = brute_groups(QUERY, "cat", 3, 2, ids=ids)
    assert shape(got) == want
    for group in got.groups:
        for hit in group.hits:
            assert hit.payload == {"n": PAYLOADS[hit.id]["n"]}
    bare = client.query_points_groups(coll, group_by="cat", query=QUERY, limit=2, with_payload=False)
    assert all(not hit.payload for g in bare.groups for hit in g.hits)


def test_query_by_point_id(client, coll):
    got = client.query_points_groups(coll, group_by="cat", query=5, limit=3, group_size=2)
    ids = [i for i in range(N) if i != 5]
    want, _ = brute_groups(VECTORS[5].tolist(), "cat", 3, 2, ids=ids)
    assert shape(got) == want


def test_with_lookup(client, coll, lookup_coll):
    got = client.query_points_groups(
        coll, group_by="n", query=QUERY, limit=5, group_size=1,
        with_lookup=models.WithLookup(collection=lookup_coll, with_payload=True, with_vectors=True),
    )
    for group in got.groups:
        if group.id in (0, 1, 2, 3):
            assert group.lookup.id == group.id
            assert group.lookup.payload == {"label": f"n{group.id}"}
            assert group.lookup.vector == [1.0, float(group.id)]
        else:
            assert group.lookup is None
    by_name = client.query_points_groups(coll, group_by="n", query=QUERY, limit=5, with_lookup=lookup_coll)
    assert {g.id: g.lookup.payload for g in by_name.groups if g.lookup} == {k: {"label": f"n{k}"} for k in range(4)}


def test_legacy_search_groups(http, coll):
    body = {"vector": QUERY, "group_by": "cat", "limit": 3, "group_size": 2, "with_payload": False}
    response = http.post(f"{http.base}/collections/{coll}/points/search/groups", json=body)
    assert response.status_code == 200, response.text
    groups = response.json()["result"]["groups"]
    want, _ = brute_groups(QUERY, "cat", 3, 2)
    assert [(g["id"], [h["id"] for h in g["hits"]]) for g in groups] == want
    assert all(h["payload"] is None for g in groups for h in g["hits"])


def test_missing_group_by_is_refused(http, coll):
    response = http.post(f"{http.base}/collections/{coll}/points/query/groups", json={"query": QUERY})
    assert response.status_code == 400
    assert "group_by" in response.json()["status"]["error"]
