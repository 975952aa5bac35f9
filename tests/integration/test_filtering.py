"""The filter language end to end: every read and write path that takes a filter returns
exactly the points a brute-force evaluator (``filter_oracle``) selects, with and without
payload indexes, on one shard and on several."""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests.integration.filter_cases import CASES
from tests.integration.filter_fuzz import FilterFuzzer
from tests.integration.filter_oracle import VECTOR_SIZE, Point, expected_ids, id_order
from tests.integration.filter_support import (
    POINTS,
    create_loaded_collection,
    filter_json,
    point_structs,
    scroll_all,
    vectors_config,
)

ALL_IDS = sorted((p.id for p in POINTS), key=id_order)
HANDCRAFTED = set(range(1, 13))


def expected_for(name: str) -> list:
    return expected_ids(filter_json(CASES[name][0]), POINTS)


VARIANTS = {
    "plain": {"shard_number": 1, "indexed": False},
    "indexed_sharded": {"shard_number": 3, "indexed": True},
}


@pytest.fixture(scope="module")
def collections(client: QdrantClient, transport: str) -> dict[str, str]:
    names = {}
    for variant, spec in VARIANTS.items():
        name = f"filters_{variant}_{transport}"
        create_loaded_collection(client, name, spec["shard_number"], spec["indexed"])
        names[variant] = name
    return names


# ------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("case", sorted(CASES))
def test_oracle_agrees_with_hand_computed_ids(case: str) -> None:
    flt, hand = CASES[case]
    selected = {i for i in expected_ids(filter_json(flt), POINTS) if i in HANDCRAFTED}
    assert selected == hand


def test_cases_are_selective() -> None:
    """The data set makes each filter meaningful: most select some but not all points."""
    sizes = [len(expected_for(name)) for name in CASES]
    assert sum(1 for size in sizes if 0 < size < len(POINTS)) >= 0.85 * len(CASES)


# ------------------------------------------------------------------------- reads


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_scroll_and_count(client: QdrantClient, collections: dict[str, str], variant: str, case: str) -> None:
    name = collections[variant]
    flt = CASES[case][0]
    expected = expected_for(case)
    assert scroll_all(client, name, flt) == expected
    assert client.count(name, count_filter=flt, exact=True).count == len(expected)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_query_points_with_filter(client: QdrantClient, collections: dict[str, str], variant: str, case: str) -> None:
    name = collections[variant]
    flt = CASES[case][0]
    with_image = {p.id: p.vectors["image"] for p in POINTS if "image" in p.vectors}
    expected = [i for i in expected_for(case) if i in with_image]
    query = np.array([0.3, -0.2, 0.9, 0.1], dtype=np.float64)
    hits = client.query_points(name, query=query.tolist(), using="image", query_filter=flt, limit=len(POINTS)).points
    assert sorted((h.id for h in hits), key=id_order) == expected
    # best first, scored as cosine similarity
    matrix = np.array([with_image[i] for i in expected], dtype=np.float64).reshape(-1, VECTOR_SIZE)
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    order = [expected[i] for i in np.argsort(-scores, kind="stable")]
    assert [h.id for h in hits] == order
    assert np.allclose([h.score for h in hits], np.sort(scores)[::-1], atol=1e-4)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", ["nested_same_element", "has_vector", "datetime_range", "should", "min_should"])
def test_query_without_vector_lists_filtered_points_in_id_order(
    client: QdrantClient, collections: dict[str, str], variant: str, case: str
) -> None:
    hits = client.query_points(collections[variant], query_filter=CASES[case][0], limit=1000).points
    assert [h.id for h in hits] == expected_for(case)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_query_other_vector_with_filter(client: QdrantClient, collections: dict[str, str], variant: str) -> None:
    """``using`` a vector some points lack: only points having it, and passing the filter."""
    flt = CASES["must_not_only"][0]
    with_text = {p.id for p in POINTS if "text" in p.vectors}
    expected = [i for i in expected_for("must_not_only") if i in with_text]
    hits = client.query_points(
        collections[variant], query=[1.0, 0.0, 0.0, 0.0], using="text", query_filter=flt, limit=len(POINTS)
    ).points
    assert sorted((h.id for h in hits), key=id_order) == expected


def test_results_identical_with_and_without_indexes(client: QdrantClient, collections: dict[str, str]) -> None:
    plain, indexed = collections["plain"], collections["indexed_sharded"]
    for case in sorted(CASES):
        flt = CASES[case][0]
        assert scroll_all(client, plain, flt, page=1000) == scroll_all(client, indexed, flt, page=1000), case


def test_payload_of_filtered_points_is_returned(client: QdrantClient, collections: dict[str, str]) -> None:
    records, _ = client.scroll(
        collections["indexed_sharded"], scroll_filter=CASES["key_dotted"][0], limit=100, with_payload=True
    )
    by_id = {p.id: p.payload for p in POINTS}
    assert {r.id for r in records} == set(expected_for("key_dotted"))
    for record in records:
        assert record.payload == by_id[record.id]


# ------------------------------------------------------------------------- writes by filter


@pytest.fixture(scope="module")
def scratch(client: QdrantClient, transport: str) -> dict[str, str]:
    """Collections the write tests reload before every case."""
    names = {}
    for variant, spec in VARIANTS.items():
        name = f"filter_writes_{variant}_{transport}"
        create_loaded_collection(client, name, spec["shard_number"], spec["indexed"])
        names[variant] = name
    return names


_marks = itertools.count(1)


def _reload(client: QdrantClient, name: str) -> None:
    client.upsert(name, points=point_structs(POINTS), wait=True)
    assert client.count(name, exact=True).count == len(POINTS)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_set_payload_and_delete_by_filter(client: QdrantClient, scratch: dict[str, str], variant: str, case: str) -> None:
    name = scratch[variant]
    flt = CASES[case][0]
    expected = expected_for(case)
    _reload(client, name)

    mark = next(_marks)
    client.set_payload(name, payload={"marked": mark}, points=models.FilterSelector(filter=flt), wait=True)
    marked = models.Filter(must=[models.FieldCondition(key="marked", match=models.MatchValue(value=mark))])
    assert scroll_all(client, name, marked, page=1000) == expected
    # the edit kept every other key, so the filter still selects the same points
    assert scroll_all(client, name, flt, page=1000) == expected

    client.delete(name, points_selector=models.FilterSelector(filter=flt), wait=True)
    remaining = [i for i in ALL_IDS if i not in set(expected)]
    assert scroll_all(client, name, None, page=1000) == remaining
    assert client.count(name, count_filter=flt, exact=True).count == 0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_filters_follow_payload_updates(client: QdrantClient, scratch: dict[str, str], variant: str) -> None:
    """Overwrite, delete-key and clear change what a filter (and its index) selects."""
    name = scratch[variant]
    _reload(client, name)
    berlin = CASES["value_keyword"][0]
    assert scroll_all(client, name, berlin) == expected_for("value_keyword")

    client.overwrite_payload(name, payload={"city": "Berlin"}, points=[9], wait=True)
    client.delete_payload(name, keys=["city"], points=[1], wait=True)
    client.clear_payload(name, points_selector=[2], wait=True)
    client.set_payload(name, payload={"city": ["x", "Berlin"]}, points=[12], wait=True)
    assert scroll_all(client, name, berlin) == sorted(
        {*expected_for("value_keyword"), 9, 12} - {1, 2}, key=id_order
    )
    counted = models.Filter(must=[models.FieldCondition(key="count", range=models.Range(gte=-100))])
    assert 9 not in scroll_all(client, name, counted)  # the overwrite dropped "count"


def _apply_edits(points: list[Point], edits) -> list[Point]:
    """The payloads after ``edits``: (kind, filter, argument) applied in order, as the server should."""
    model = [Point(p.id, copy.deepcopy(p.payload), p.vectors) for p in points]
    for kind, flt, argument in edits:
        selected = set(expected_ids(filter_json(flt), model))
        for point in model:
            if point.id not in selected:
                continue
            if kind == "set":
                point.payload.update(copy.deepcopy(argument))
            elif kind == "overwrite":
                point.payload = copy.deepcopy(argument)
            elif kind == "delete_keys":
                for key in argument:
                    head, _, rest = key.partition(".")
                    if not rest:
                        point.payload.pop(head, None)
                    elif isinstance(point.payload.get(head), dict):
                        point.payload[head].pop(rest, None)
            elif kind == "clear":
                point.payload = {}
    return model


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_payload_writes_by_filter_keep_every_filter_and_index_right(
    client: QdrantClient, scratch: dict[str, str], variant: str
) -> None:
    name = scratch[variant]
    _reload(client, name)
    edits = [
        ("set", CASES["value_keyword"][0], {"city": "Tokyo", "count": [3, 4]}),
        ("overwrite", CASES["geo_radius"][0], {"city": "Oslo", "tags": ["z"], "location": {"lon": 10.75, "lat": 59.91}}),
        ("delete_keys", CASES["range_float"][0], ["count", "meta.level", "reviews"]),
        ("clear", CASES["nested_bool"][0], None),
        ("set", CASES["is_empty"][0], {"tags": ["fresh"], "description": "brown fox again"}),
    ]
    selector = models.FilterSelector
    for kind, flt, argument in edits:
        if kind == "set":
            client.set_payload(name, payload=argument, points=selector(filter=flt), wait=True)
        elif kind == "overwrite":
            client.overwrite_payload(name, payload=argument, points=selector(filter=flt), wait=True)
        elif kind == "delete_keys":
            client.delete_payload(name, keys=argument, points=selector(filter=flt), wait=True)
        else:
            client.clear_payload(name, points_selector=selector(filter=flt), wait=True)
    model = _apply_edits(POINTS, edits)
    assert sum(1 for before, after in zip(POINTS, model) if before.payload != after.payload) >= 10
    for case in sorted(CASES):
        flt = CASES[case][0]
        assert scroll_all(client, name, flt, page=1000) == expected_ids(filter_json(flt), model), case
    records, _ = client.scroll(name, limit=1000, with_payload=True)
    assert {r.id: r.payload for r in records} == {p.id: p.payload for p in model}


# ------------------------------------------------------------------------- invalid filters

INVALID_FILTERS = {
    "float_match_value": {"must": [{"key": "count", "match": {"value": 1.5}}]},
    "no_check": {"must": [{"key": "count"}]},
    "range_text_bound": {"must": [{"key": "count", "range": {"gt": "soon"}}]},
    "mixed_range_bounds": {"must": [{"key": "created", "range": {"gt": "2024-01-01T00:00:00Z", "lt": 5}}]},
    "latitude_out_of_range": {"must": [{"key": "location", "geo_radius": {"center": {"lon": 0, "lat": 100}, "radius": 1}}]},
    "polygon_too_short": {
        "must": [{"key": "location", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 0}]}}}]
    },
    "nested_without_filter": {"must": [{"nested": {"key": "reviews"}}]},
    "negative_id": {"must": [{"has_id": [-1]}]},
    "bad_key_path": {"must": [{"key": "a..b", "match": {"value": "x"}}]},
    "min_count_zero": {"min_should": {"conditions": [], "min_count": 0}},
    "mixed_any": {"must": [{"key": "city", "match": {"any": ["x", 1]}}]},
    "unknown_clause": {"maybe": []},
    "negative_values_count": {"must": [{"key": "tags", "values_count": {"gt": -1}}]},
    "unknown_condition": {"must": [{"frobnicate": {"key": "city"}}]},
    "condition_not_object": {"must": ["city"]},
}


@pytest.mark.parametrize("case", sorted(INVALID_FILTERS))
def test_invalid_filters_are_400_everywhere_and_change_nothing(http, client: QdrantClient, scratch: dict[str, str], case: str) -> None:
    name = scratch["indexed_sharded"]
    _reload(client, name)
    raw = INVALID_FILTERS[case]
    base = f"{http.base}/collections/{name}/points"
    requests = [
        ("post", f"{base}/scroll", {"filter": raw}),
        ("post", f"{base}/count", {"filter": raw}),
        ("post", f"{base}/query", {"query": [0.1, 0.2, 0.3, 0.4], "using": "image", "filter": raw}),
        ("post", f"{base}/delete?wait=true", {"filter": raw}),
        ("post", f"{base}/payload?wait=true", {"payload": {"bad": 1}, "filter": raw}),
    ]
    for method, url, body in requests:
        response = getattr(http, method)(url, json=body)
        assert response.status_code == 400, (url, response.status_code, response.text)
        assert response.json()["status"]["error"], url
    assert client.count(name, exact=True).count == len(POINTS)
    assert client.count(name, count_filter=models.Filter(must=[models.FieldCondition(key="bad", match=models.MatchValue(value=1))])).count == 0


def test_single_condition_without_list_and_empty_filter(http, collections: dict[str, str]) -> None:
    """Qdrant takes one condition in place of a list, and ``{}`` as no filter."""
    base = f"{http.base}/collections/{collections['plain']}/points"
    one = {"must": {"key": "city", "match": {"value": "Berlin"}}, "must_not": {"has_id": [2]}}
    response = http.post(f"{base}/count", json={"filter": one})
    assert response.status_code == 200, response.text
    assert response.json()["result"]["count"] == len([i for i in expected_for("value_keyword") if i != 2])
    response = http.post(f"{base}/count", json={"filter": {}})
    assert response.json()["result"]["count"] == len(POINTS)
    response = http.post(f"{base}/count", json={"filter": {"must": [{}]}})  # an empty sub-filter matches all
    assert response.json()["result"]["count"] == len(POINTS)


def test_approximate_count_with_filter_is_exact_here(client: QdrantClient, collections: dict[str, str]) -> None:
    for variant, name in collections.items():
        flt = CASES["all_clauses"][0]
        assert client.count(name, count_filter=flt, exact=False).count == len(expected_for("all_clauses")), variant


# ------------------------------------------------------------------------- index-specific behaviour


def test_text_index_tokenizer_decides_what_matches(client: QdrantClient, collection_name: str) -> None:
    """A text index with the prefix tokenizer matches word prefixes; without one, whole words."""
    docs = {1: "Brown foxes jump", 2: "a brownish river", 3: "Red apples", 4: "BROWN"}
    client.create_collection(collection_name, vectors_config=vectors_config())
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"image": [1, 0, 0, 0]}, payload={"d": d}) for i, d in docs.items()],
        wait=True,
    )
    prefix = models.Filter(must=[models.FieldCondition(key="d", match=models.MatchText(text="brow"))])
    words = models.Filter(must=[models.FieldCondition(key="d", match=models.MatchText(text="brown"))])
    assert scroll_all(client, collection_name, prefix) == []
    assert scroll_all(client, collection_name, words) == [1, 4]

    client.create_payload_index(
        collection_name,
        "d",
        field_schema=models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.PREFIX, min_token_len=2),
        wait=True,
    )
    assert scroll_all(client, collection_name, prefix) == [1, 2, 4]
    assert scroll_all(client, collection_name, words) == [1, 2, 4]  # "brownish" starts with "brown"
    assert client.get_collection(collection_name).payload_schema["d"].points == 4

    client.delete_payload_index(collection_name, "d", wait=True)
    assert scroll_all(client, collection_name, prefix) == []


def test_index_on_a_nested_path_follows_set_payload_by_key(client: QdrantClient, collection_name: str) -> None:
    client.create_collection(collection_name, vectors_config=vectors_config())
    client.create_payload_index(collection_name, "meta.owner.name", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector={"image": [1, 0, 0, 0]}, payload={"meta": {"owner": {"name": n}}})
            for i, n in ((1, "alice"), (2, "bob"), (3, "alice"))
        ],
        wait=True,
    )
    alice = models.Filter(must=[models.FieldCondition(key="meta.owner.name", match=models.MatchValue(value="alice"))])
    assert scroll_all(client, collection_name, alice) == [1, 3]
    client.set_payload(collection_name, payload={"name": "alice"}, points=[2], key="meta.owner", wait=True)
    client.set_payload(collection_name, payload={"name": "carol"}, points=models.FilterSelector(filter=models.Filter(must=[models.HasIdCondition(has_id=[1])])), key="meta.owner", wait=True)
    assert scroll_all(client, collection_name, alice) == [2, 3]
    assert client.get_collection(collection_name).payload_schema["meta.owner.name"].points == 3


# ------------------------------------------------------------------------- random filters


@pytest.mark.parametrize("seed", range(8))
def test_random_filters_match_the_oracle(http, collections: dict[str, str], seed: int) -> None:
    fuzzer = FilterFuzzer(seed)
    selective = 0
    for number in range(80):
        raw = fuzzer.filter()
        expected = expected_ids(raw, POINTS)
        selective += 0 < len(expected) < len(POINTS)
        for name in collections.values():
            response = http.post(f"{http.base}/collections/{name}/points/scroll", json={"filter": raw, "limit": 1000})
            assert response.status_code == 200, (raw, response.text)
            got = [p["id"] for p in response.json()["result"]["points"]]
            assert got == expected, (name, number, raw)
    assert selective >= 25  # the generator must keep producing filters that discriminate


DATETIME_FORMS = {
    1: "2024-03-10T12:00:00Z",
    2: "2024-03-10T13:30:00+01:00",  # 12:30 UTC
    3: "2024-03-10 12:45:00",  # naive: UTC
    4: "2024-03-10T13:00",  # no seconds
    5: "2024-03-11",  # midnight
    6: "2024-03-10T12:59:59.999999Z",
    7: "2024-03-10 14:00:00 +01:00",  # Qdrant's own rendering: space before the offset
    8: "2024-03-10 12:10:00 UTC",
    9: "2024-03-10T12:20:00z",
    10: "2024-03-10T13:00:00.123456789Z",  # nanoseconds: cut to microseconds
    11: "March 10th",
    12: "2024-03-10T12:00:00+0100",  # 11:00 UTC
}


@pytest.mark.parametrize("indexed", [False, True])
def test_datetime_forms_qdrant_accepts(client: QdrantClient, collection_name: str, indexed: bool) -> None:
    client.create_collection(collection_name, vectors_config=vectors_config())
    if indexed:
        client.create_payload_index(collection_name, "at", field_schema=models.PayloadSchemaType.DATETIME, wait=True)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector={"image": [1, 0, 0, 0]}, payload={"at": at}) for i, at in DATETIME_FORMS.items()],
        wait=True,
    )
    window = models.Filter(
        must=[models.FieldCondition(key="at", range=models.DatetimeRange(gte="2024-03-10T12:00:00Z", lte="2024-03-10T13:00:00Z"))]
    )
    assert scroll_all(client, collection_name, window) == [1, 2, 3, 4, 6, 7, 8, 9]
    after = models.Filter(must=[models.FieldCondition(key="at", range=models.DatetimeRange(gt="2024-03-10T13:00:00Z"))])
    assert scroll_all(client, collection_name, after) == [5, 10]
    if indexed:
        assert client.get_collection(collection_name).payload_schema["at"].points == len(DATETIME_FORMS) - 1
