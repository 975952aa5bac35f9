"""Payload indexes end to end: the create/delete API, ``payload_schema`` with its point
counts, rebuilding on restart, and filtered vector search over a graph-indexed collection
returning exactly the brute-force top-k."""

from __future__ import annotations

import uuid
from typing import Any, Callable

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from tests import polling
from tests.integration.filter_cases import CASES
from tests.integration.filter_oracle import Point, build_points, expected_ids, parse_datetime, values_at
from tests.integration.transport_errors import expect_error
from tests.integration.filter_support import (
    INDEXES_AFTER_LOAD,
    INDEXES_BEFORE_LOAD,
    create_loaded_collection,
    filter_json,
    point_structs,
    scroll_all,
    vectors_config,
)
from tests.node_process import NodeProcess

POINTS = build_points()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05, what: str = "condition"):
    return polling.wait_for(predicate, timeout=timeout, interval=interval, what=what)


# ------------------------------------------------------------------------- expected counts


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_uuid(v: Any) -> bool:
    try:
        uuid.UUID(v)
    except (TypeError, ValueError, AttributeError):
        return False
    return isinstance(v, str)


def _is_geo(v: Any) -> bool:
    return (
        isinstance(v, dict)
        and all(isinstance(v.get(k), (int, float)) and not isinstance(v.get(k), bool) for k in ("lon", "lat"))
        and -180 <= v["lon"] <= 180
        and -90 <= v["lat"] <= 90
    )


ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "keyword": lambda v: isinstance(v, str),
    "text": lambda v: isinstance(v, str),
    "integer": _is_int,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "datetime": lambda v: parse_datetime(v) is not None,
    "uuid": _is_uuid,
    "geo": _is_geo,
}


def indexed_points(points, field: str, data_type: str) -> int:
    """Points with at least one value at ``field`` that an index of ``data_type`` takes."""
    accepts = ACCEPTS[data_type]
    total = 0
    for point in points:
        flat: list = []
        for value in values_at(point.payload, field):
            flat.extend(value if isinstance(value, list) else [value])
        if any(v is not None and accepts(v) for v in flat):
            total += 1
    return total


# field -> (schema as the client sends it, data_type, params Qdrant echoes or None)
SCHEMAS: dict[str, tuple[Any, str, dict | None]] = {
    "city": (models.PayloadSchemaType.KEYWORD, "keyword", None),
    "count": (
        models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True),
        "integer",
        {"type": "integer", "lookup": True, "range": True},
    ),
    "price": (
        models.FloatIndexParams(type=models.FloatIndexType.FLOAT, on_disk=False),
        "float",
        {"type": "float", "on_disk": False},
    ),
    "flag": (models.BoolIndexParams(type=models.BoolIndexType.BOOL), "bool", {"type": "bool"}),
    "created": (
        models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME, is_principal=False),
        "datetime",
        {"type": "datetime", "is_principal": False},
    ),
    "location": (models.GeoIndexParams(type=models.GeoIndexType.GEO), "geo", {"type": "geo"}),
    "description": (
        models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            tokenizer=models.TokenizerType.WORD,
            min_token_len=2,
            max_token_len=20,
            lowercase=True,
        ),
        "text",
        {"type": "text", "tokenizer": "word", "min_token_len": 2, "max_token_len": 20, "lowercase": True},
    ),
    "uid": (models.UuidIndexParams(type=models.UuidIndexType.UUID), "uuid", {"type": "uuid"}),
    "meta.owner.name": (
        models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=False),
        "keyword",
        {"type": "keyword", "is_tenant": False},
    ),
    "reviews[].score": (models.PayloadSchemaType.INTEGER, "integer", None),
    "tags": (models.PayloadSchemaType.KEYWORD, "keyword", None),
}


def schema_of(client: QdrantClient, name: str) -> dict[str, dict]:
    info = client.get_collection(name)
    return {field: entry.model_dump(mode="json", exclude_none=True) for field, entry in info.payload_schema.items()}


def assert_schema(client: QdrantClient, name: str, points, fields) -> None:
    schema = schema_of(client, name)
    assert set(schema) == set(fields)
    for field in fields:
        _, data_type, params = SCHEMAS[field]
        entry = schema[field]
        assert entry["data_type"] == data_type, field
        assert entry["points"] == indexed_points(points, field, data_type), field
        if params is None:
            assert "params" not in entry, field
        else:
            assert {k: entry["params"].get(k) for k in params} == params, field


@pytest.fixture
def loaded(client: QdrantClient, collection_name: str) -> str:
    client.create_collection(collection_name, vectors_config=vectors_config(), shard_number=2)
    client.upsert(collection_name, points=point_structs(POINTS), wait=True)
    return collection_name


# ------------------------------------------------------------------------- the API


def test_every_index_type_appears_in_payload_schema_with_point_counts(client: QdrantClient, loaded: str) -> None:
    assert client.get_collection(loaded).payload_schema == {}
    for field, (schema, _, _) in SCHEMAS.items():
        result = client.create_payload_index(loaded, field, field_schema=schema, wait=True)
        assert result.status == models.UpdateStatus.COMPLETED
    assert_schema(client, loaded, POINTS, SCHEMAS)


def test_point_counts_follow_writes(client: QdrantClient, loaded: str) -> None:
    for field in ("city", "count", "location", "description"):
        client.create_payload_index(loaded, field, field_schema=SCHEMAS[field][0], wait=True)
    points = {p.id: p for p in build_points()}

    client.delete(loaded, points_selector=[1, 8], wait=True)  # a keyword, geo and text value each
    del points[1], points[8]
    client.set_payload(loaded, payload={"city": 5, "count": 11}, points=[9], wait=True)  # keyword -> other type
    points[9].payload.update({"city": 5, "count": 11})
    client.overwrite_payload(loaded, payload={"city": ["Oslo", "Bergen"], "description": "x"}, points=[6], wait=True)
    points[6].payload = {"city": ["Oslo", "Bergen"], "description": "x"}
    client.delete_payload(loaded, keys=["location"], points=[2, 3], wait=True)
    for pid in (2, 3):
        points[pid].payload.pop("location")
    client.clear_payload(loaded, points_selector=[12], wait=True)
    points[12].payload = {}
    client.upsert(
        loaded,
        points=[models.PointStruct(id=500, vector={"image": [0.1, 0.2, 0.3, 0.4]}, payload={"count": [1, 2], "city": "Bonn"})],
        wait=True,
    )
    points[500] = Point(500, {"count": [1, 2], "city": "Bonn"}, {"image": [0.1, 0.2, 0.3, 0.4]})

    assert_schema(client, loaded, list(points.values()), ("city", "count", "location", "description"))
    # and the indexes answer for the new state
    for case in ("value_keyword", "geo_bounding_box", "text_all_words", "any_integer"):
        flt = CASES[case][0]
        assert scroll_all(client, loaded, flt) == expected_ids(filter_json(flt), list(points.values())), case


def test_delete_payload_index_removes_it_and_keeps_results(client: QdrantClient, loaded: str) -> None:
    for field in ("city", "count", "tags"):
        client.create_payload_index(loaded, field, field_schema=SCHEMAS[field][0], wait=True)
    cases = ("value_keyword", "except_keyword", "any_integer", "is_empty", "values_count_gte")
    with_index = {case: scroll_all(client, loaded, CASES[case][0]) for case in cases}

    result = client.delete_payload_index(loaded, "city", wait=True)
    assert result.status == models.UpdateStatus.COMPLETED
    assert set(client.get_collection(loaded).payload_schema) == {"count", "tags"}
    for case in cases:
        assert scroll_all(client, loaded, CASES[case][0]) == with_index[case] == expected_ids(
            filter_json(CASES[case][0]), POINTS
        )

    client.delete_payload_index(loaded, "count", wait=True)
    client.delete_payload_index(loaded, "tags", wait=True)
    assert client.get_collection(loaded).payload_schema == {}
    # writes after the drop do not resurrect the index
    client.set_payload(loaded, payload={"city": "Berlin"}, points=[3], wait=True)
    assert client.get_collection(loaded).payload_schema == {}
    assert 3 in scroll_all(client, loaded, CASES["value_keyword"][0])


def test_recreating_an_index_with_another_type_reindexes(client: QdrantClient, loaded: str) -> None:
    client.create_payload_index(loaded, "count", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    client.create_payload_index(loaded, "count", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    entry = client.get_collection(loaded).payload_schema["count"]
    assert entry.data_type == models.PayloadSchemaType.KEYWORD
    assert entry.points == indexed_points(POINTS, "count", "keyword")
    assert entry.points != indexed_points(POINTS, "count", "integer")
    for case in ("value_integer", "range_integer_field", "except_integer"):
        assert scroll_all(client, loaded, CASES[case][0]) == expected_ids(filter_json(CASES[case][0]), POINTS)


def test_same_index_twice_is_idempotent(client: QdrantClient, loaded: str) -> None:
    for _ in range(2):
        client.create_payload_index(loaded, "city", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    assert schema_of(client, loaded) == {"city": {"data_type": "keyword", "points": indexed_points(POINTS, "city", "keyword")}}


def test_raw_schema_forms(http, loaded: str) -> None:
    """The REST forms Qdrant takes: a type name, or an object with ``type`` and parameters."""
    base = f"{http.base}/collections/{loaded}"
    response = http.put(f"{base}/index", json={"field_name": "price", "field_schema": {"type": "float", "is_principal": True}})
    assert response.status_code == 200, response.text
    response = http.put(f"{base}/index?wait=true", json={"field_name": "meta.level", "field_schema": "integer"})
    assert response.status_code == 200, response.text
    schema = http.get(base).json()["result"]["payload_schema"]
    assert schema["price"] == {
        "data_type": "float",
        "params": {"type": "float", "is_principal": True},
        "points": indexed_points(POINTS, "price", "float"),
    }
    assert schema["meta.level"] == {"data_type": "integer", "points": indexed_points(POINTS, "meta.level", "integer")}
    response = http.delete(f"{base}/index/meta.level")
    assert response.status_code == 200, response.text
    assert set(http.get(base).json()["result"]["payload_schema"]) == {"price"}


@pytest.mark.parametrize(
    "body",
    [
        {"field_name": "city", "field_schema": "nonsense"},
        {"field_name": "city", "field_schema": {"type": "keyword", "tokenizer": "word"}},
        {"field_name": "city", "field_schema": {"type": "integer", "lookup": False, "range": False}},
        {"field_name": "a..b", "field_schema": "keyword"},
        {"field_name": "a[x]", "field_schema": "keyword"},
        {"field_name": "", "field_schema": "keyword"},
        {"field_schema": "keyword"},
    ],
)
def test_invalid_index_requests_are_rejected_and_change_nothing(http, client: QdrantClient, loaded: str, body) -> None:
    response = http.put(f"{http.base}/collections/{loaded}/index", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["status"]["error"]
    assert client.get_collection(loaded).payload_schema == {}
    # the node still works, and takes a valid index afterwards
    client.create_payload_index(loaded, "city", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    assert set(client.get_collection(loaded).payload_schema) == {"city"}


def test_index_on_a_missing_collection_is_404(client: QdrantClient) -> None:
    with expect_error(404, "no_such_collection_x"):
        client.create_payload_index("no_such_collection_x", "city", field_schema=models.PayloadSchemaType.KEYWORD)


# ------------------------------------------------------------------------- restart


def results_of_all_cases(client: QdrantClient, name: str) -> dict[str, list]:
    return {case: scroll_all(client, name, CASES[case][0], page=1000) for case in sorted(CASES)}


def oracle_results(points) -> dict[str, list]:
    return {case: expected_ids(filter_json(CASES[case][0]), points) for case in sorted(CASES)}


def test_indexes_are_rebuilt_on_restart(tmp_path) -> None:
    node = NodeProcess(storage=str(tmp_path / "storage")).start()
    try:
        client = QdrantClient(url=node.url, timeout=60, check_compatibility=False)
        name = "restart_indexes"
        create_loaded_collection(client, name, shard_number=2, indexed=True)
        before_schema = schema_of(client, name)
        assert set(before_schema) == {*INDEXES_BEFORE_LOAD, *INDEXES_AFTER_LOAD}
        assert before_schema["description"]["params"]["tokenizer"] == "word"
        assert results_of_all_cases(client, name) == oracle_results(POINTS)

        node.restart()  # kill -9, then start again on the same storage
        client = QdrantClient(url=node.url, timeout=60, check_compatibility=False)
        assert schema_of(client, name) == before_schema
        assert results_of_all_cases(client, name) == oracle_results(POINTS)

        # the rebuilt indexes keep following writes and index changes
        points = build_points()
        for point in points:
            if point.id in (101, 102, 5):
                point.payload["city"] = "Berlin"
        client.set_payload(name, payload={"city": "Berlin"}, points=[101, 102, 5], wait=True)
        client.delete_payload_index(name, "tags", wait=True)
        client.create_payload_index(name, "price", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
        after_schema = schema_of(client, name)
        assert "tags" not in after_schema
        assert after_schema["city"]["points"] == indexed_points(points, "city", "keyword")
        assert after_schema["price"] == {"data_type": "integer", "points": indexed_points(points, "price", "integer")}
        assert results_of_all_cases(client, name) == oracle_results(points)

        node.stop()  # a clean shutdown this time
        node.start()
        client = QdrantClient(url=node.url, timeout=60, check_compatibility=False)
        assert schema_of(client, name) == after_schema
        assert results_of_all_cases(client, name) == oracle_results(points)
    finally:
        node.stop()


# ------------------------------------------------------------------------- filtered search

DIM = 16
N_POINTS = 3000


@pytest.fixture(scope="module")
def graph_collection(client: QdrantClient, transport: str) -> tuple[str, np.ndarray, list[dict]]:
    """3000 points whose HNSW graph is built (indexing and full-scan thresholds set low)."""
    name = f"filtered_search_graph_{transport}"
    rng = np.random.default_rng(20240611)
    data = rng.normal(size=(N_POINTS, DIM)).astype(np.float32)
    payloads = [
        {"group": f"g{i % 15}", "n": i, "score": float(rng.uniform(0, 1)), "rare": i % 300 == 7}
        for i in range(N_POINTS)
    ]
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=100, full_scan_threshold=10),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
    )
    client.create_payload_index(name, "group", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(name, "n", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    for lo in range(0, N_POINTS, 500):
        client.upsert(
            name,
            points=models.Batch(
                ids=list(range(lo, lo + 500)), vectors=data[lo : lo + 500].tolist(), payloads=payloads[lo : lo + 500]
            ),
            wait=True,
        )

    def indexed() -> bool:
        info = client.get_collection(name)
        return info.indexed_vectors_count == N_POINTS and info.status == models.CollectionStatus.GREEN

    wait_for(indexed, timeout=120, what="the HNSW graph over every point")
    return name, data, payloads


SEARCH_FILTERS: dict[str, tuple[models.Filter, Callable[[dict], bool]]] = {
    # 200 points (6.7%): enough to go through the graph with a filter
    "selective_indexed": (
        models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value="g4"))]),
        lambda p: p["group"] == "g4",
    ),
    # 10 points: scanned exactly
    "tiny_unindexed": (
        models.Filter(must=[models.FieldCondition(key="rare", match=models.MatchValue(value=True))]),
        lambda p: p["rare"],
    ),
    "broad_indexed_range": (
        models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=300))]),
        lambda p: p["n"] >= 300,
    ),
    "broad_unindexed": (
        models.Filter(must_not=[models.FieldCondition(key="score", range=models.Range(lt=0.2))]),
        lambda p: not p["score"] < 0.2,
    ),
    "mixed": (
        models.Filter(
            should=[
                models.FieldCondition(key="group", match=models.MatchAny(any=["g1", "g2"])),
                models.FieldCondition(key="score", range=models.Range(gt=0.9)),
            ],
            must_not=[models.HasIdCondition(has_id=list(range(0, 3000, 2)))],
        ),
        lambda p: (p["group"] in ("g1", "g2") or p["score"] > 0.9) and p["n"] % 2 == 1,
    ),
}


@pytest.mark.parametrize("case", sorted(SEARCH_FILTERS))
def test_filtered_search_returns_the_exact_top_k(client: QdrantClient, graph_collection, case: str) -> None:
    name, data, payloads = graph_collection
    flt, keep = SEARCH_FILTERS[case]
    allowed = np.array([i for i, p in enumerate(payloads) if keep(p)])
    assert client.count(name, count_filter=flt, exact=True).count == len(allowed)
    normalized = data[allowed].astype(np.float64)
    normalized /= np.linalg.norm(normalized, axis=1, keepdims=True)
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    for _ in range(8):
        query = rng.normal(size=DIM)
        scores = normalized @ (query / np.linalg.norm(query))
        order = np.argsort(-scores, kind="stable")[:10]
        brute = [int(allowed[i]) for i in order]
        approx = client.query_points(
            name, query=query.tolist(), query_filter=flt, limit=10, search_params=models.SearchParams(hnsw_ef=128)
        ).points
        exact = client.query_points(
            name, query=query.tolist(), query_filter=flt, limit=10, search_params=models.SearchParams(exact=True)
        ).points
        assert [h.id for h in exact] == brute
        assert [h.id for h in approx] == brute
        assert np.allclose([h.score for h in approx], scores[order], atol=1e-4)
        assert all(keep(payloads[h.id]) for h in approx)
