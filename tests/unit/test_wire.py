"""Round-trips of the inter-node encoding in shards/wire.py."""

from __future__ import annotations

import dataclasses
import math
import pickle
import struct
import time
import uuid
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import BadInput
from shards import wire
from shards.filters import Filter, parse_filter
from shards.operations import (
    ClearPayload,
    CountRequest,
    DeletePayload,
    DeletePoints,
    DeleteVectors,
    OrderBy,
    OverwritePayload,
    PointSelector,
    ScrollRequest,
    SearchRequest,
    SetPayload,
    UpdateVectors,
    UpsertPoints,
)
from shards.types import PayloadSelector, PointStruct, Record, ScoredPoint, SparseVector, VectorSelector


def assert_same(left: Any, right: Any, where: str = "value") -> None:
    """Deep equality that also checks types (int ids stay ints) and numpy contents."""
    assert type(left) is type(right), f"{where}: {type(left).__name__} != {type(right).__name__}"
    if isinstance(left, np.ndarray):
        assert left.dtype == right.dtype == np.float32, where
        assert left.shape == right.shape, where
        assert np.array_equal(left, right), where
    elif isinstance(left, SparseVector):
        assert left.indices.dtype == right.indices.dtype == np.uint32, where
        assert left.values.dtype == right.values.dtype == np.float32, where
        assert left == right, where
    elif isinstance(left, Filter):
        assert left == right, where
    elif dataclasses.is_dataclass(left):
        for f in dataclasses.fields(left):
            assert_same(getattr(left, f.name), getattr(right, f.name), f"{where}.{f.name}")
    elif isinstance(left, dict):
        assert list(left) == list(right), where
        for key in left:
            assert_same(left[key], right[key], f"{where}[{key!r}]")
    elif isinstance(left, (list, tuple)):
        assert len(left) == len(right), where
        for i, (a, b) in enumerate(zip(left, right)):
            assert_same(a, b, f"{where}[{i}]")
    elif isinstance(left, float) and math.isnan(left):
        assert math.isnan(right), where
    else:
        assert left == right, where


# --------------------------------------------------------------------------- strategies

point_ids = st.one_of(st.integers(0, 2**64 - 1), st.uuids().map(str))
names = st.sampled_from(["", "image", "text", "ünï"])
keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=10,
)
payloads = st.dictionaries(keys, json_values, max_size=4)
floats32 = st.floats(width=32, allow_nan=False)


def _dense(dim: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(floats32, min_size=dim, max_size=dim).map(lambda v: np.array(v, dtype=np.float32))


dense_vectors = st.integers(1, 8).flatmap(_dense)
multi_vectors = st.tuples(st.integers(1, 3), st.integers(1, 4)).flatmap(
    lambda shape: st.lists(floats32, min_size=shape[0] * shape[1], max_size=shape[0] * shape[1]).map(
        lambda v: np.array(v, dtype=np.float32).reshape(shape)
    )
)
sparse_vectors = st.dictionaries(st.integers(0, 2**32 - 1), floats32, max_size=6).map(
    lambda d: SparseVector(
        np.array(sorted(d), dtype=np.uint32), np.array([d[k] for k in sorted(d)], dtype=np.float32)
    )
)
vector_values = st.one_of(dense_vectors, multi_vectors, sparse_vectors)
vector_maps = st.dictionaries(names, vector_values, max_size=3)

FILTERS_JSON = [
    {"must": [{"key": "city", "match": {"value": "Berlin"}}]},
    {"should": [{"key": "n", "range": {"gte": 1, "lt": 5.5}}, {"is_empty": {"key": "tags"}}]},
    {"must_not": [{"has_id": [1, "8c9a4f8e-2b1d-4c3a-9f00-000000000001"]}]},
    {"must": [{"key": "when", "range": {"gt": "2024-01-31T12:00:00Z"}}]},
    {"must": [{"key": "loc", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000.0}}]},
    {"must": [{"nested": {"key": "items", "filter": {"must": [{"key": "x", "match": {"any": [1, 2]}}]}}}]},
    {"min_should": {"conditions": [{"key": "a", "match": {"except": ["x"]}}, {"has_vector": "img"}], "min_count": 1}},
    {"must": [{"key": "t", "match": {"text": "hello"}}, {"key": "c", "values_count": {"gte": 2}}]},
    {"must": [{"must": [{"is_null": {"key": "z"}}]}, {}]},
]
filters = st.one_of(st.none(), st.just(Filter()), st.sampled_from([parse_filter(f) for f in FILTERS_JSON]))
selectors = st.one_of(
    st.lists(point_ids, max_size=4).map(lambda ids: PointSelector(ids=tuple(ids))),
    filters.map(lambda f: PointSelector(filter=f)),
)
string_tuples = st.lists(keys, max_size=3).map(tuple)
payload_selectors = st.builds(
    PayloadSelector, st.booleans(), st.none() | string_tuples, st.none() | string_tuples
)
vector_selectors = st.builds(VectorSelector, st.booleans(), st.none() | string_tuples)
point_structs = st.builds(PointStruct, point_ids, vector_maps, payloads)

operations = st.one_of(
    st.builds(
        UpsertPoints,
        st.lists(point_structs, max_size=4).map(tuple),
        filters,
        st.sampled_from(["upsert", "insert_only", "update_only"]),
    ),
    st.builds(DeletePoints, selectors),
    st.builds(UpdateVectors, st.lists(st.tuples(point_ids, vector_maps), max_size=4).map(tuple), filters),
    st.builds(DeleteVectors, selectors, string_tuples),
    st.builds(SetPayload, selectors, payloads, st.none() | st.sampled_from(["a", "a.b", "c[]"])),
    st.builds(OverwritePayload, selectors, payloads),
    st.builds(DeletePayload, selectors, string_tuples),
    st.builds(ClearPayload, selectors),
)

optional_floats = st.none() | st.floats(allow_nan=False) | st.integers(-100, 100)
records = st.builds(
    Record,
    point_ids,
    st.integers(0, 2**63 - 1),
    st.none() | vector_maps,
    st.none() | payloads,
    optional_floats,
)
scored_points = st.builds(
    ScoredPoint,
    point_ids,
    st.integers(0, 2**63 - 1),
    st.floats(),
    st.none() | payloads,
    st.none() | vector_maps,
)


# --------------------------------------------------------------------------- round-trips


@settings(max_examples=300, deadline=None)
@given(op=operations)
def test_every_operation_round_trips(op: Any) -> None:
    assert_same(op, wire.decode_operation(wire.encode_operation(op)))


@settings(deadline=None)
@given(
    query=vector_values,
    limit=st.integers(1, 1000),
    offset=st.integers(0, 1000),
    flt=filters,
    threshold=st.none() | st.floats(allow_nan=False),
    with_payload=payload_selectors,
    with_vector=vector_selectors,
    hnsw_ef=st.none() | st.integers(1, 1000),
    exact=st.booleans(),
)
def test_search_request_round_trips(query: Any, limit: int, offset: int, flt: Any, threshold: Any,
                                    with_payload: Any, with_vector: Any, hnsw_ef: Any, exact: bool) -> None:
    request = SearchRequest("image", query, limit, offset, flt, threshold, with_payload, with_vector, hnsw_ef, exact)
    assert_same(request, wire.decode_search(wire.encode_search(request)))


def test_search_request_defaults_round_trip() -> None:
    request = SearchRequest("", np.array([0.25, -1.5], dtype=np.float32))
    assert_same(request, wire.decode_search(wire.encode_search(request)))


@settings(deadline=None)
@given(
    flt=filters,
    limit=st.integers(0, 10_000),
    offset=st.none() | point_ids,
    with_payload=payload_selectors,
    with_vector=vector_selectors,
    order_by=st.none()
    | st.builds(OrderBy, keys, st.sampled_from(["asc", "desc"]), st.none() | st.floats(allow_nan=False)),
)
def test_scroll_request_round_trips(flt: Any, limit: int, offset: Any, with_payload: Any, with_vector: Any,
                                    order_by: Any) -> None:
    request = ScrollRequest(flt, limit, offset, with_payload, with_vector, order_by)
    assert_same(request, wire.decode_scroll(wire.encode_scroll(request)))


@given(flt=filters, exact=st.booleans())
def test_count_request_round_trips(flt: Any, exact: bool) -> None:
    request = CountRequest(flt, exact)
    assert_same(request, wire.decode_count(wire.encode_count(request)))


@given(ids=st.lists(point_ids, max_size=6), with_payload=payload_selectors, with_vector=vector_selectors)
def test_retrieve_args_round_trip(ids: list, with_payload: Any, with_vector: Any) -> None:
    args = wire.decode_retrieve(wire.encode_retrieve(ids, with_payload, with_vector))
    assert_same(tuple(ids), args.ids)
    assert_same(with_payload, args.with_payload)
    assert_same(with_vector, args.with_vector)
    ids_back, payload_back, vector_back = args
    assert ids_back == tuple(ids)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(records, max_size=5))
def test_records_round_trip(rows: list[Record]) -> None:
    assert_same(rows, wire.decode_records(wire.encode_records(rows)))


@settings(max_examples=200, deadline=None)
@given(hits=st.lists(scored_points, max_size=5))
def test_scored_points_round_trip(hits: list[ScoredPoint]) -> None:
    assert_same(hits, wire.decode_scored(wire.encode_scored(hits)))


@given(value=st.integers(-(2**63), 2**64 - 1))
def test_ints_round_trip(value: int) -> None:
    assert wire.decode_int(wire.encode_int(value)) == value


def test_non_finite_scores_and_order_values_survive() -> None:
    hits = [ScoredPoint(1, 2, math.inf), ScoredPoint(2, 2, -math.inf), ScoredPoint(3, 2, math.nan)]
    back = wire.decode_scored(wire.encode_scored(hits))
    assert back[0].score == math.inf and back[1].score == -math.inf and math.isnan(back[2].score)
    rows = [Record(1, 1, None, None, order_value=-math.inf)]
    assert wire.decode_records(wire.encode_records(rows))[0].order_value == -math.inf


def test_id_types_are_kept() -> None:
    text_id = str(uuid.uuid4())
    op = DeletePoints(PointSelector(ids=(7, text_id, 2**64 - 1)))
    back = wire.decode_operation(wire.encode_operation(op))
    assert back.selector.ids == (7, text_id, 2**64 - 1)
    assert [type(i) for i in back.selector.ids] == [int, str, int]


def test_empty_filter_stays_a_filter() -> None:
    op = UpsertPoints(points=(), update_filter=Filter())
    assert wire.decode_operation(wire.encode_operation(op)).update_filter == Filter()


def test_numpy_scalar_scores_and_float64_vectors_are_accepted() -> None:
    hits = [ScoredPoint(1, 1, np.float32(0.5), vectors={"": np.array([1.0, 2.0], dtype=np.float64)})]
    back = wire.decode_scored(wire.encode_scored(hits))
    assert back[0].score == 0.5 and type(back[0].score) is float
    assert back[0].vectors[""].dtype == np.float32


def test_decoded_vectors_are_writable_copies() -> None:
    op = UpsertPoints(points=(PointStruct(1, {"": np.ones(4, dtype=np.float32)}),))
    vector = wire.decode_operation(wire.encode_operation(op)).points[0].vectors[""]
    assert vector.flags.writeable
    vector[0] = 5.0


# --------------------------------------------------------------------------- rejection


def test_wrong_kind_is_rejected() -> None:
    with pytest.raises(BadInput, match="expected a search"):
        wire.decode_search(wire.encode_count(CountRequest()))


def test_unknown_version_is_rejected() -> None:
    data = bytearray(wire.encode_count(CountRequest()))
    data[0] = wire.FORMAT_VERSION + 1
    with pytest.raises(BadInput, match="version"):
        wire.decode_count(bytes(data))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01",
        pickle.dumps(DeletePoints(PointSelector(ids=(1,)))),
        struct.pack("<BI", 1, 3) + b"{x}",
        struct.pack("<BI", 1, 2) + b"[]",
    ],
)
def test_garbage_is_rejected(data: bytes) -> None:
    with pytest.raises(BadInput):
        wire.decode_operation(data)


@pytest.mark.parametrize(
    "header",
    [
        b'{"k":"op","t":"nope"}',
        b'{"k":"op","t":"delete_points"}',
        b'{"k":"op","t":"delete_points","selector":{"ids":[1.5]}}',
        b'{"k":"op","t":"upsert","points":[[1,{"":["d",0,1000]},{}]],"update_filter":null,"update_mode":"upsert"}',
        b'{"k":"op","t":"upsert","points":[[1,{"":["q",0,1]},{}]],"update_filter":null,"update_mode":"upsert"}',
        b'{"k":"op","t":"upsert","points":[],"update_filter":null,"update_mode":"sometimes"}',
        b'{"k":"op","t":"delete_points","selector":{"ids":null,"filter":{"must":5}}}',
    ],
)
def test_malformed_operations_are_rejected(header: bytes) -> None:
    with pytest.raises(BadInput):
        wire.decode_operation(struct.pack("<BI", wire.FORMAT_VERSION, len(header)) + header)


def test_three_dimensional_vectors_are_refused() -> None:
    op = UpsertPoints(points=(PointStruct(1, {"": np.zeros((2, 2, 2), dtype=np.float32)}),))
    with pytest.raises(BadInput):
        wire.encode_operation(op)


# --------------------------------------------------------------------------- speed


def test_large_upsert_is_fast() -> None:
    rng = np.random.default_rng(0)
    matrix = rng.random((1000, 128), dtype=np.float32)
    op = UpsertPoints(points=tuple(PointStruct(i, {"": matrix[i]}, {"n": i, "tag": "x"}) for i in range(1000)))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        back = wire.decode_operation(wire.encode_operation(op))
        best = min(best, time.perf_counter() - start)
    assert np.array_equal(np.stack([p.vectors[""] for p in back.points]), matrix)
    # A few ms on a laptop; the bound only catches an accidental per-float encoding.
    assert best < 0.1, f"1000x128 upsert round-trip took {best * 1000:.1f} ms"
