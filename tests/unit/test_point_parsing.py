"""REST body parsing for points: upserts, other writes, write params and read requests."""

from __future__ import annotations

import random
import time
import uuid

import numpy as np
import pytest

from consensus.errors import BadInput
from shards.filters import Filter
from shards.operations import (
    ClearPayload,
    DeletePayload,
    DeletePoints,
    DeleteVectors,
    OrderBy,
    OverwritePayload,
    PointSelector,
    SetPayload,
    UpdateVectors,
    UpsertPoints,
)
from shards.types import PayloadSelector, SparseVector, VectorSelector
from transport.rest import point_parsing as parsing
from transport.rest.point_parsing import (
    DenseVectorSpec,
    ShardKeyWithFallback,
    SparseVectorSpec,
    VectorSchema,
)

UNNAMED = VectorSchema(dense={"": DenseVectorSpec("", 4)})
NAMED = VectorSchema(
    dense={
        "img": DenseVectorSpec("img", 3, distance="Dot"),
        "multi": DenseVectorSpec("multi", 2, multivector=True),
        "bytes": DenseVectorSpec("bytes", 2, datatype="uint8"),
    },
    sparse={"text": SparseVectorSpec("text")},
)
SIMPLE_FILTER = {"must": [{"key": "color", "match": {"value": "red"}}]}


def bad(fn, *args, **kwargs) -> str:
    """Run ``fn`` expecting BadInput; return its message."""
    with pytest.raises(BadInput) as caught:
        fn(*args, **kwargs)
    return caught.value.message


# --------------------------------------------------------------------------- upsert: record form


def test_upsert_records_unnamed_vector():
    op = parsing.parse_upsert(
        {"points": [{"id": 1, "vector": [1, 2, 3, 4], "payload": {"a": 1}}, {"id": 2, "vector": [0.5] * 4}]},
        UNNAMED,
    )
    assert isinstance(op, UpsertPoints)
    assert [p.id for p in op.points] == [1, 2]
    vec = op.points[0].vectors[""]
    assert vec.dtype == np.float32 and vec.tolist() == [1, 2, 3, 4]
    assert op.points[0].payload == {"a": 1}
    assert op.points[1].payload == {}
    assert op.update_filter is None and op.update_mode == "upsert"


def test_upsert_uuid_ids_are_canonical():
    raw = "550E8400E29B41D4A716446655440000"
    op = parsing.parse_upsert({"points": [{"id": raw, "vector": [0, 0, 0, 1]}]}, UNNAMED)
    assert op.points[0].id == str(uuid.UUID(raw))


def test_upsert_records_named_dense_sparse_multi():
    op = parsing.parse_upsert(
        {
            "points": [
                {
                    "id": 7,
                    "vector": {
                        "img": [1, 2, 3],
                        "multi": [[1, 2], [3, 4], [5, 6]],
                        "text": {"indices": [9, 2, 5], "values": [0.9, 0.2, 0.5]},
                        "bytes": [0, 255],
                    },
                    "payload": None,
                },
                {"id": 8, "vector": {}},
            ]
        },
        NAMED,
    )
    first, second = op.points
    assert first.vectors["img"].tolist() == [1, 2, 3]
    assert first.vectors["multi"].shape == (3, 2) and first.vectors["multi"].dtype == np.float32
    sparse = first.vectors["text"]
    assert isinstance(sparse, SparseVector)
    assert sparse.indices.tolist() == [2, 5, 9] and sparse.indices.dtype == np.uint32
    assert sparse.values.tolist() == pytest.approx([0.2, 0.5, 0.9])
    assert first.vectors["bytes"].dtype == np.float32
    assert first.payload == {}
    assert second.vectors == {}


def test_upsert_unnamed_multivector():
    schema = VectorSchema(dense={"": DenseVectorSpec("", 2, multivector=True)})
    op = parsing.parse_upsert({"points": [{"id": 1, "vector": [[1, 2], [3, 4]]}]}, schema)
    assert op.points[0].vectors[""].shape == (2, 2)


def test_upsert_empty_sparse_vector_is_allowed():
    op = parsing.parse_upsert({"points": [{"id": 1, "vector": {"text": {"indices": [], "values": []}}}]}, NAMED)
    assert op.points[0].vectors["text"].indices.shape == (0,)


def test_upsert_duplicate_ids_last_wins_keeping_first_position():
    op = parsing.parse_upsert(
        {
            "points": [
                {"id": 1, "vector": [1, 1, 1, 1], "payload": {"v": "old"}},
                {"id": 2, "vector": [2, 2, 2, 2]},
                {"id": 1, "vector": [3, 3, 3, 3], "payload": {"v": "new"}},
            ]
        },
        UNNAMED,
    )
    assert [p.id for p in op.points] == [1, 2]
    assert op.points[0].payload == {"v": "new"}
    assert op.points[0].vectors[""].tolist() == [3, 3, 3, 3]


def test_upsert_update_mode_and_filter():
    op = parsing.parse_upsert(
        {"points": [], "update_mode": "insert_only", "update_filter": SIMPLE_FILTER}, UNNAMED
    )
    assert op.update_mode == "insert_only"
    assert isinstance(op.update_filter, Filter)
    assert "unknown variant `sometimes`" in bad(
        parsing.parse_upsert, {"points": [], "update_mode": "sometimes"}, UNNAMED
    )


@pytest.mark.parametrize(
    ("vector", "schema", "message"),
    [
        ([1, 2, 3], UNNAMED, "Wrong input: Vector dimension error: expected dim: 4, got 3"),
        ([], UNNAMED, "Wrong input: Vector dimension error: expected dim: 4, got 0"),
        ({"img": [1, 2]}, NAMED, "Wrong input: Vector dimension error: expected dim: 3, got 2"),
        ({"foo": [1, 2, 3]}, NAMED, "Wrong input: Not existing vector name error: foo"),
        ([1, 2, 3], NAMED, "Wrong input: Not existing vector name error: "),
        ({"img": {"indices": [1], "values": [1]}}, NAMED, "Wrong input: Conversion between sparse and regular vectors failed"),
        ({"text": [1, 2, 3]}, NAMED, "Wrong input: Conversion between sparse and regular vectors failed"),
        ({"img": [[1, 2, 3]]}, NAMED, "Wrong input: Conversion between multi and regular vectors failed"),
        ({"multi": [1, 2]}, NAMED, "Wrong input: Conversion between multi and regular vectors failed"),
        ({"multi": []}, NAMED, "Wrong input: Vector dimension error: expected dim: 2, got 0"),
        ({"multi": [[1, 2, 3]]}, NAMED, "Wrong input: Vector dimension error: expected dim: 2, got 3"),
        (
            {"multi": [[]]},
            NAMED,
            "Validation error in JSON body: [points[0].vector.?.data: all vectors must be non-empty]",
        ),
        (
            {"multi": [[1, 2], [1]]},
            NAMED,
            "Validation error in JSON body: [points[0].vector.?.data: all vectors must have the same "
            "dimension, found vector with dimension 1]",
        ),
        (
            {"text": {"indices": [1, 2], "values": [1.0]}},
            NAMED,
            "Validation error in JSON body: [points[0].vector.?.values: Validation error: must be the same "
            "length as indices [{}]]",
        ),
        (
            {"text": {"indices": [5, 1, 5], "values": [1, 2, 3]}},
            NAMED,
            "Validation error in JSON body: [points[0].vector.?.indices: Validation error: must be unique [{}]]",
        ),
    ],
)
def test_upsert_vector_errors(vector, schema, message):
    assert bad(parsing.parse_upsert, {"points": [{"id": 1, "vector": vector}]}, schema) == message


@pytest.mark.parametrize(
    ("vector", "fragment"),
    [
        ([1, float("nan"), 3, 4], "finite"),
        ([1, float("inf"), 3, 4], "finite"),
        ([1, 1e39, 3, 4], "finite"),  # overflows float32
        ([1, 10**400, 3, 4], "finite"),
        ([1, "2", 3, 4], 'points[0].vector[1]: invalid type: string "2", expected f32'),
        ([True, True, False, True], "points[0].vector[0]: invalid type: boolean `true`, expected f32"),
        ([1, None, 3, 4], "points[0].vector[1]: invalid type: null, expected f32"),
        ("abc", "points[0].vector: invalid type"),
        (5, "points[0].vector: invalid type"),
    ],
)
def test_upsert_rejects_non_numbers_and_non_finite(vector, fragment):
    message = bad(parsing.parse_upsert, {"points": [{"id": 1, "vector": vector}]}, UNNAMED)
    assert message.startswith("Format error in JSON body:")
    assert fragment in message


def test_upsert_names_the_bad_point_in_a_batch():
    points = [{"id": i, "vector": [0.1, 0.2, 0.3, 0.4]} for i in range(5)]
    points[3]["vector"] = [0.1, float("nan"), 0.3, 0.4]
    assert "points[3].vector" in bad(parsing.parse_upsert, {"points": points}, UNNAMED)
    points[3]["vector"] = [0.1, "x", 0.3, 0.4]
    assert "points[3].vector[1]" in bad(parsing.parse_upsert, {"points": points}, UNNAMED)
    points[3]["vector"] = [0.1, 0.3, 0.4]
    assert bad(parsing.parse_upsert, {"points": points}, UNNAMED) == (
        "Wrong input: Vector dimension error: expected dim: 4, got 3"
    )


@pytest.mark.parametrize(
    ("sparse", "fragment"),
    [
        ({"indices": [-1], "values": [1]}, "invalid value: integer `-1`, expected u32"),
        ({"indices": [2**32], "values": [1]}, f"invalid value: integer `{2**32}`, expected u32"),
        ({"indices": [1.5], "values": [1]}, "invalid type: floating point `1.5`, expected u32"),
        ({"indices": "x", "values": [1]}, "expected a sequence of u32"),
        ({"values": [1]}, "missing field `indices`"),
        ({"indices": [1]}, "missing field `values`"),
        ({"indices": [1], "values": [float("nan")]}, "finite"),
    ],
)
def test_upsert_sparse_format_errors(sparse, fragment):
    message = bad(parsing.parse_upsert, {"points": [{"id": 1, "vector": {"text": sparse}}]}, NAMED)
    assert message.startswith("Format error in JSON body:") and fragment in message


@pytest.mark.parametrize(
    ("point", "fragment"),
    [
        ({"vector": [1, 2, 3, 4]}, "points[0]: missing field `id`"),
        ({"id": 1}, "points[0]: missing field `vector`"),
        ({"id": 1, "vector": [1, 2, 3, 4], "payload": [1]}, "points[0].payload: invalid type: sequence"),
        ({"id": 1, "vector": [1, 2, 3, 4], "payload": "x"}, "points[0].payload"),
        ("not a point", "points[0]: invalid type"),
    ],
)
def test_upsert_record_shape_errors(point, fragment):
    message = bad(parsing.parse_upsert, {"points": [point]}, UNNAMED)
    assert message.startswith("Format error in JSON body:") and fragment in message


def test_upsert_bad_ids():
    assert "out of range" in bad(parsing.parse_upsert, {"points": [{"id": -1, "vector": [1, 2, 3, 4]}]}, UNNAMED)
    assert "Unable to parse UUID" in bad(
        parsing.parse_upsert, {"points": [{"id": "nope", "vector": [1, 2, 3, 4]}]}, UNNAMED
    )


def test_upsert_body_shape_errors():
    assert "expected `points` or `batch`" in bad(parsing.parse_upsert, {}, UNNAMED)
    assert "expected a JSON object" in bad(parsing.parse_upsert, [1], UNNAMED)
    assert "points: invalid type" in bad(parsing.parse_upsert, {"points": {"id": 1}}, UNNAMED)


def test_upsert_inference_objects_are_not_supported():
    doc = {"text": "hello", "model": "bm25"}
    assert "not supported" in bad(parsing.parse_upsert, {"points": [{"id": 1, "vector": doc}]}, NAMED)
    assert "not supported" in bad(parsing.parse_upsert, {"points": [{"id": 1, "vector": {"text": doc}}]}, NAMED)


# --------------------------------------------------------------------------- upsert: column form


def test_upsert_batch_unnamed():
    op = parsing.parse_upsert(
        {"batch": {"ids": [1, 2], "vectors": [[1, 2, 3, 4], [5, 6, 7, 8]], "payloads": [{"a": 1}, None]}},
        UNNAMED,
    )
    assert [p.id for p in op.points] == [1, 2]
    assert op.points[1].vectors[""].tolist() == [5, 6, 7, 8]
    assert op.points[0].payload == {"a": 1} and op.points[1].payload == {}


def test_upsert_batch_named_mixed():
    op = parsing.parse_upsert(
        {
            "batch": {
                "ids": [1, 2],
                "vectors": {
                    "img": [[1, 2, 3], [4, 5, 6]],
                    "multi": [[[1, 2]], [[3, 4], [5, 6]]],
                    "text": [{"indices": [3, 1], "values": [3, 1]}, {"indices": [], "values": []}],
                },
            }
        },
        NAMED,
    )
    first, second = op.points
    assert first.vectors["img"].tolist() == [1, 2, 3]
    assert second.vectors["multi"].shape == (2, 2)
    assert first.vectors["text"].indices.tolist() == [1, 3]
    assert first.payload == {} and second.payload == {}


def test_upsert_batch_unnamed_multivector():
    schema = VectorSchema(dense={"": DenseVectorSpec("", 2, multivector=True)})
    op = parsing.parse_upsert({"batch": {"ids": [1], "vectors": [[[1, 2], [3, 4]]]}}, schema)
    assert op.points[0].vectors[""].shape == (2, 2)


@pytest.mark.parametrize(
    ("batch", "schema", "message"),
    [
        (
            {"ids": [1, 2], "vectors": [[1, 2, 3, 4]]},
            UNNAMED,
            "Validation error in JSON body: [batch: number of ids and vectors must be equal (2 != 1)]",
        ),
        (
            {"ids": [1], "vectors": {"img": [[1, 2, 3], [1, 2, 3]]}},
            NAMED,
            "Validation error in JSON body: [batch: number of ids and vectors must be equal (1 != 2)]",
        ),
        (
            {"ids": [1], "vectors": [[1, 2, 3, 4]], "payloads": []},
            UNNAMED,
            "Validation error in JSON body: [batch: number of ids and payloads must be equal (1 != 0)]",
        ),
        ({"ids": [1], "vectors": [[1, 2, 3]]}, UNNAMED, "Wrong input: Vector dimension error: expected dim: 4, got 3"),
        ({"ids": [1], "vectors": {"nope": [[1]]}}, NAMED, "Wrong input: Not existing vector name error: nope"),
        (
            {"ids": [1], "vectors": {"img": [{"indices": [1], "values": [1]}]}},
            NAMED,
            "Wrong input: Conversion between sparse and regular vectors failed",
        ),
    ],
)
def test_upsert_batch_errors(batch, schema, message):
    assert bad(parsing.parse_upsert, {"batch": batch}, schema) == message


@pytest.mark.parametrize(
    ("batch", "fragment"),
    [
        ({"vectors": []}, "batch: missing field `ids`"),
        ({"ids": []}, "batch: missing field `vectors`"),
        ({"ids": [1], "vectors": "x"}, "batch.vectors: invalid type"),
        ({"ids": [1], "vectors": {"img": "x"}}, "batch.vectors: invalid type"),
        ({"ids": [1], "vectors": [[1, 2, 3, 4]], "payloads": "x"}, "batch.payloads: invalid type"),
        ({"ids": [1], "vectors": [[1, 2, 3, 4]], "payloads": [5]}, "batch.payloads[0]: invalid type"),
        ({"ids": [1, 2], "vectors": [[1, 2, 3, 4], [1, "x", 3, 4]]}, "batch.vectors[1][1]"),
    ],
)
def test_upsert_batch_format_errors(batch, fragment):
    message = bad(parsing.parse_upsert, {"batch": batch}, UNNAMED)
    assert message.startswith("Format error in JSON body:") and fragment in message


def test_upsert_parse_is_fast_for_a_thousand_128d_points():
    rng = random.Random(7)
    schema = VectorSchema(dense={"": DenseVectorSpec("", 128)})
    body = {
        "points": [
            {"id": i, "vector": [rng.random() for _ in range(128)], "payload": {"n": i}} for i in range(1000)
        ]
    }
    parsing.parse_upsert(body, schema)  # warm up
    best = min(_timed(parsing.parse_upsert, body, schema) for _ in range(5))
    assert best < 0.05, f"parse took {best * 1000:.1f} ms"


def _timed(fn, *args) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


# --------------------------------------------------------------------------- selectors and shard keys


def test_point_selector_by_ids_and_by_filter():
    assert parsing.parse_point_selector({"points": [1, 2]}).ids == (1, 2)
    selector = parsing.parse_point_selector({"filter": SIMPLE_FILTER})
    assert selector.ids is None and isinstance(selector.filter, Filter)
    # An empty filter selects every point; it must not collapse into "no selector".
    assert parsing.parse_point_selector({"filter": {}}).filter == Filter()


def test_point_selector_errors():
    assert "expected `points` or `filter`" in bad(parsing.parse_point_selector, {})
    assert "points: invalid type" in bad(parsing.parse_point_selector, {"points": 3})
    assert "filter: invalid type" in bad(parsing.parse_point_selector, {"filter": [1]})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, None),
        ({"shard_key": None}, None),
        ({"shard_key": "eu"}, ("eu",)),
        ({"shard_key": 3}, (3,)),
        ({"shard_key": ["eu", 4]}, ("eu", 4)),
        ({"shard_key": {"target": "eu", "fallback": "default"}}, (ShardKeyWithFallback("eu", "default"),)),
    ],
)
def test_shard_key_selector(body, expected):
    assert parsing.parse_shard_key_selector(body) == expected


@pytest.mark.parametrize("raw", [-1, True, 1.5, [None], {"target": "eu"}])
def test_shard_key_selector_errors(raw):
    assert "shard_key" in bad(parsing.parse_shard_key_selector, {"shard_key": raw})


# --------------------------------------------------------------------------- other writes


def test_delete_points_and_clear_payload():
    assert parsing.parse_delete_points({"points": [1]}) == DeletePoints(selector=PointSelector(ids=(1,)))
    clear = parsing.parse_clear_payload({"filter": SIMPLE_FILTER})
    assert isinstance(clear, ClearPayload) and isinstance(clear.selector.filter, Filter)


def test_set_payload():
    op = parsing.parse_set_payload({"payload": {"a": 1}, "points": [1], "key": "nested"})
    assert op == SetPayload(selector=PointSelector(ids=(1,)), payload={"a": 1}, key="nested")
    by_filter = parsing.parse_set_payload({"payload": {}, "filter": SIMPLE_FILTER})
    assert isinstance(by_filter.selector.filter, Filter) and by_filter.key is None
    both = parsing.parse_set_payload({"payload": {}, "points": [2], "filter": SIMPLE_FILTER})
    assert both.selector.ids == (2,) and both.selector.filter is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"payload": {"a": 1}}, "Either list of point ids or filter must be provided"),
        ({"points": [1]}, "missing field `payload`"),
        ({"payload": [1], "points": [1]}, "payload: invalid type: sequence"),
        ({"payload": {}, "points": [1], "key": 5}, "key: invalid type"),
    ],
)
def test_set_payload_errors(body, fragment):
    assert fragment in bad(parsing.parse_set_payload, body)


def test_overwrite_payload():
    op = parsing.parse_overwrite_payload({"payload": {"b": 2}, "points": [1]})
    assert op == OverwritePayload(selector=PointSelector(ids=(1,)), payload={"b": 2})
    assert "not supported" in bad(parsing.parse_overwrite_payload, {"payload": {}, "points": [1], "key": "k"})


def test_delete_payload():
    op = parsing.parse_delete_payload({"keys": ["a", "b.c"], "points": [1]})
    assert op == DeletePayload(selector=PointSelector(ids=(1,)), keys=("a", "b.c"))
    assert "missing field `keys`" in bad(parsing.parse_delete_payload, {"points": [1]})
    assert "keys: invalid type" in bad(parsing.parse_delete_payload, {"keys": [1], "points": [1]})
    assert "Either list" in bad(parsing.parse_delete_payload, {"keys": ["a"]})


def test_update_vectors():
    op = parsing.parse_update_vectors(
        {
            "points": [
                {"id": 1, "vector": {"img": [1, 2, 3]}},
                {"id": 2, "vector": {"text": {"indices": [1], "values": [1]}, "img": [4, 5, 6]}},
            ],
            "update_filter": SIMPLE_FILTER,
        },
        NAMED,
    )
    assert isinstance(op, UpdateVectors) and isinstance(op.update_filter, Filter)
    (id1, v1), (id2, v2) = op.points
    assert (id1, id2) == (1, 2)
    assert v1["img"].tolist() == [1, 2, 3] and v2["img"].tolist() == [4, 5, 6]
    assert isinstance(v2["text"], SparseVector)
    unnamed = parsing.parse_update_vectors({"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}, UNNAMED)
    assert unnamed.points[0][1][""].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"points": []}, "Validation error in JSON body: [points: must contain at least 1 item]"),
        (
            {"points": [{"id": 1, "vector": {}}]},
            "Validation error in JSON body: [points[0].vector: must specify vectors to update for point]",
        ),
        ({"points": [{"id": 1, "vector": {"nope": [1]}}]}, "Wrong input: Not existing vector name error: nope"),
        ({"points": [{"id": 1, "vector": {"img": [1]}}]}, "Wrong input: Vector dimension error: expected dim: 3, got 1"),
        ({"points": [{"vector": {"img": [1, 2, 3]}}]}, "Format error in JSON body: points[0]: missing field `id`"),
        ({"points": [{"id": 1}]}, "Format error in JSON body: points[0]: missing field `vector`"),
        ({}, "Format error in JSON body: missing field `points`"),
    ],
)
def test_update_vectors_errors(body, message):
    assert bad(parsing.parse_update_vectors, body, NAMED) == message


def test_delete_vectors():
    op = parsing.parse_delete_vectors({"points": [1], "vector": ["img", "text"]}, NAMED)
    assert op == DeleteVectors(selector=PointSelector(ids=(1,)), names=("img", "text"))
    assert parsing.parse_delete_vectors({"filter": {}, "vector": ["x"]}).names == ("x",)  # no schema: no name check


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"points": [1], "vector": []}, "[vector: must contain at least 1 item]"),
        ({"points": [1], "vector": ["img", "img"]}, "[vector: items must be unique]"),
        ({"points": [1], "vector": "img"}, "vector: invalid type"),
        ({"points": [1]}, "missing field `vector`"),
        ({"points": [1], "vector": ["nope"]}, "Wrong input: Not existing vector name error: nope"),
        ({"vector": ["img"]}, "Either list of point ids or filter must be provided"),
    ],
)
def test_delete_vectors_errors(body, fragment):
    assert fragment in bad(parsing.parse_delete_vectors, body, NAMED)


def test_update_batch_all_kinds():
    ops = parsing.parse_update_batch(
        {
            "operations": [
                {"upsert": {"points": [{"id": 1, "vector": {"img": [1, 2, 3]}}]}},
                {"upsert": {"batch": {"ids": [2], "vectors": {"img": [[1, 2, 3]]}}}},
                {"delete": {"points": [1]}},
                {"set_payload": {"payload": {"a": 1}, "points": [2]}},
                {"overwrite_payload": {"payload": {"a": 2}, "filter": SIMPLE_FILTER}},
                {"delete_payload": {"keys": ["a"], "points": [2]}},
                {"clear_payload": {"points": [2]}},
                {"update_vectors": {"points": [{"id": 2, "vector": {"img": [3, 2, 1]}}]}},
                {"delete_vectors": {"points": [2], "vector": ["img"]}},
            ]
        },
        NAMED,
    )
    assert [type(op) for op in ops] == [
        UpsertPoints,
        UpsertPoints,
        DeletePoints,
        SetPayload,
        OverwritePayload,
        DeletePayload,
        ClearPayload,
        UpdateVectors,
        DeleteVectors,
    ]


def test_update_batch_keeps_shard_keys():
    keyed = parsing.parse_update_batch_keyed(
        {"operations": [{"delete": {"points": [1], "shard_key": "eu"}}, {"clear_payload": {"points": [1]}}]},
        NAMED,
    )
    assert [keys for _, keys in keyed] == [("eu",), None]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "missing field `operations`"),
        ({"operations": {}}, "operations: invalid type"),
        ({"operations": [{"explode": {}}]}, "operations[0]: data did not match any variant"),
        ({"operations": [{"delete": {"points": [1]}, "clear_payload": {"points": [1]}}]}, "operations[0]"),
        ({"operations": [5]}, "operations[0]: invalid type"),
        (
            {"operations": [{"upsert": {"points": [{"id": 1, "vector": {"img": [1, "x", 3]}}]}}]},
            "operations[0].upsert.points[0].vector.?[1]",
        ),
        ({"operations": [{"update_vectors": {"points": []}}]}, "[operations[0].update_vectors.points: must contain"),
        ({"operations": [{"delete_vectors": {"points": [1], "vector": ["zzz"]}}]}, "Not existing vector name error: zzz"),
    ],
)
def test_update_batch_errors(body, fragment):
    assert fragment in bad(parsing.parse_update_batch, body, NAMED)


# --------------------------------------------------------------------------- write params


@pytest.mark.parametrize(
    ("query", "wait", "ordering"),
    [
        ({}, False, "weak"),
        ({"wait": "true"}, True, "weak"),
        ({"wait": "false", "ordering": "strong"}, False, "strong"),
        ({"ordering": "medium"}, False, "medium"),
    ],
)
def test_write_params(query, wait, ordering):
    options = parsing.parse_write_params(query)
    assert (options.wait, options.ordering, options.shard_keys) == (wait, ordering, None)


def test_write_params_errors():
    assert bad(parsing.parse_write_params, {"wait": "yes"}) == (
        "Query deserialize error: provided string was not `true` or `false`"
    )
    assert "unknown variant `fast`" in bad(parsing.parse_write_params, {"ordering": "fast"})


# --------------------------------------------------------------------------- selectors of reads


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, PayloadSelector(enabled=False)),
        (True, PayloadSelector(enabled=True)),
        (False, PayloadSelector(enabled=False)),
        (["a", "b.c"], PayloadSelector(include=("a", "b.c"))),
        ({"include": ["a"]}, PayloadSelector(include=("a",))),
        ({"exclude": ["a"]}, PayloadSelector(exclude=("a",))),
    ],
)
def test_with_payload(raw, expected):
    assert parsing.parse_with_payload(raw, PayloadSelector(enabled=False)) == expected


@pytest.mark.parametrize("raw", [1, "a", [1], {"include": "a"}, {"include": ["a"], "exclude": ["b"]}, {}])
def test_with_payload_errors(raw):
    assert bad(parsing.parse_with_payload, raw).startswith("Format error in JSON body: with_payload")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, VectorSelector(enabled=False)),
        (True, VectorSelector(enabled=True)),
        (["img"], VectorSelector(enabled=True, names=("img",))),
    ],
)
def test_with_vector(raw, expected):
    assert parsing.parse_with_vector(raw) == expected


@pytest.mark.parametrize("raw", [1, "img", [1], {}])
def test_with_vector_errors(raw):
    assert bad(parsing.parse_with_vector, raw).startswith("Format error in JSON body: with_vector")


# --------------------------------------------------------------------------- retrieve, scroll, count


def test_retrieve():
    ids, with_payload, with_vector = parsing.parse_retrieve({"ids": [1, str(uuid.UUID(int=5))]})
    assert ids == (1, str(uuid.UUID(int=5)))
    assert with_payload == PayloadSelector(enabled=True) and with_vector == VectorSelector(enabled=False)
    _, with_payload, with_vector = parsing.parse_retrieve({"ids": [], "with_payload": False, "with_vectors": True})
    assert not with_payload.enabled and with_vector.enabled
    assert "missing field `ids`" in bad(parsing.parse_retrieve, {})
    assert "ids: invalid type" in bad(parsing.parse_retrieve, {"ids": 1})


def test_scroll_defaults():
    request = parsing.parse_scroll(None)
    assert request.limit == 10 and request.offset is None and request.filter is None
    assert request.with_payload == PayloadSelector(enabled=True)
    assert request.with_vector == VectorSelector(enabled=False)
    assert request.order_by is None


def test_scroll_fields():
    request = parsing.parse_scroll(
        {"limit": 3, "offset": 5, "filter": SIMPLE_FILTER, "with_payload": ["a"], "with_vector": ["img"]}
    )
    assert request.limit == 3 and request.offset == 5 and isinstance(request.filter, Filter)
    assert request.with_payload.include == ("a",) and request.with_vector.names == ("img",)


def test_scroll_order_by():
    assert parsing.parse_scroll({"order_by": "price"}).order_by == OrderBy(key="price")
    order = parsing.parse_scroll({"order_by": {"key": "price", "direction": "desc", "start_from": 10}}).order_by
    assert (order.key, order.direction, order.start_from) == ("price", "desc", 10.0)
    dated = parsing.parse_scroll({"order_by": {"key": "at", "start_from": "1970-01-01T00:00:01Z"}}).order_by
    assert dated.start_from == 1.0  # epoch seconds, as PayloadIndexes.order_by takes datetimes


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 0}, "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"),
        ({"limit": -2}, "Format error in JSON body: limit: invalid value: integer `-2`, expected usize"),
        ({"limit": 1.5}, "Format error in JSON body: limit: invalid type: floating point `1.5`, expected usize"),
        ({"limit": True}, "Format error in JSON body: limit: invalid type: boolean `true`, expected usize"),
        ({"order_by": {"key": "a", "direction": "up"}}, "Format error in JSON body: order_by.direction: unknown variant `up`, expected `asc` or `desc`"),
        ({"order_by": {"direction": "asc"}}, "Format error in JSON body: order_by: missing field `key`"),
        ({"order_by": 5}, "Format error in JSON body: order_by: Expected a string, or an object with a key, direction and/or start_from"),
    ],
)
def test_scroll_errors(body, message):
    assert bad(parsing.parse_scroll, body) == message


@pytest.mark.parametrize("start_from", ["yesterday", True, [1]])
def test_scroll_bad_start_from(start_from):
    message = bad(parsing.parse_scroll, {"order_by": {"key": "a", "start_from": start_from}})
    assert message.startswith("Format error in JSON body: order_by.start_from")


def test_scroll_offset_with_order_by_is_refused():
    message = bad(parsing.parse_scroll, {"order_by": "a", "offset": 1})
    assert message.startswith("Wrong input: Cannot use an `offset` when using `order_by`")


def test_count():
    assert parsing.parse_count(None).exact is True
    request = parsing.parse_count({"exact": False, "filter": SIMPLE_FILTER})
    assert request.exact is False and isinstance(request.filter, Filter)
    assert "exact: invalid type" in bad(parsing.parse_count, {"exact": "yes"})
    assert "expected a JSON object" in bad(parsing.parse_count, [1])


# --------------------------------------------------------------------------- query

QUERY_SCHEMA = VectorSchema(
    dense={"": DenseVectorSpec("", 4), **NAMED.dense},
    sparse=NAMED.sparse,
)


def test_query_dense_defaults():
    parsed = parsing.parse_query({"query": [1, 2, 3, 4]}, QUERY_SCHEMA)
    request = parsed.request
    assert parsed.by_id is None and not parsed.is_scroll
    assert request.vector_name == "" and request.query.tolist() == [1, 2, 3, 4]
    assert (request.limit, request.offset, request.score_threshold, request.hnsw_ef, request.exact) == (
        10,
        0,
        None,
        None,
        False,
    )
    assert request.with_payload == PayloadSelector(enabled=False)
    assert request.with_vector == VectorSelector(enabled=False)


def test_query_all_fields():
    request = parsing.parse_query(
        {
            "query": {"nearest": [1, 2, 3]},
            "using": "img",
            "limit": 3,
            "offset": 2,
            "score_threshold": 0.5,
            "filter": SIMPLE_FILTER,
            "with_payload": True,
            "with_vector": ["img"],
            "params": {"hnsw_ef": 64, "exact": True, "indexed_only": False, "quantization": {"rescore": True}},
        },
        QUERY_SCHEMA,
    ).request
    assert request.vector_name == "img" and request.query.tolist() == [1, 2, 3]
    assert (request.limit, request.offset, request.score_threshold) == (3, 2, 0.5)
    assert isinstance(request.filter, Filter)
    assert request.with_payload.enabled and request.with_vector.names == ("img",)
    assert (request.hnsw_ef, request.exact) == (64, True)


def test_query_multi_and_sparse():
    multi = parsing.parse_query({"query": [[1, 2], [3, 4]], "using": "multi"}, QUERY_SCHEMA).request
    assert multi.query.shape == (2, 2)
    single = parsing.parse_query({"query": [1, 2], "using": "multi"}, QUERY_SCHEMA).request
    assert single.query.shape == (1, 2)
    sparse = parsing.parse_query(
        {"query": {"nearest": {"indices": [2, 0, 1], "values": [0.1, 0.2, 0.3]}}, "using": "text"}, QUERY_SCHEMA
    ).request
    assert sparse.query.indices.tolist() == [0, 1, 2]
    assert sparse.query.values.tolist() == pytest.approx([0.2, 0.3, 0.1])
    direct = parsing.parse_query({"query": {"indices": [1], "values": [1]}, "using": "text"}, QUERY_SCHEMA)
    assert isinstance(direct.request.query, SparseVector)


def test_query_by_point_id():
    parsed = parsing.parse_query({"query": 42, "using": "img"}, QUERY_SCHEMA)
    assert parsed.by_id == 42 and parsed.request.query is None and not parsed.is_scroll
    raw = str(uuid.UUID(int=9))
    assert parsing.parse_query({"query": {"nearest": raw.upper()}}, QUERY_SCHEMA).by_id == raw


def test_query_without_query_is_scroll_like():
    parsed = parsing.parse_query({"filter": SIMPLE_FILTER, "limit": 5}, QUERY_SCHEMA)
    assert parsed.is_scroll and parsed.request.limit == 5
    assert parsing.parse_query(None, QUERY_SCHEMA).is_scroll


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"query": [1, 2, 3]}, "Wrong input: Vector dimension error: expected dim: 4, got 3"),
        ({"query": [1, 2, 3], "using": "foo"}, "Wrong input: Not existing vector name error: foo"),
        ({"query": 1, "using": "foo"}, "Wrong input: Not existing vector name error: foo"),
        ({"query": [[1, 2, 3, 4]]}, "Wrong input: Conversion between multi and regular vectors failed"),
        ({"query": [1, 2], "using": "text"}, "Wrong input: Conversion between sparse and regular vectors failed"),
        ({"query": {"indices": [1], "values": [1]}}, "Wrong input: Conversion between sparse and regular vectors failed"),
        ({"query": [1, 2, 3, 4], "limit": 0}, "Validation error in JSON body: [limit: value 0 invalid, must be 1 or larger]"),
        ({"query": [1, 2, 3, 4], "offset": -1}, "Format error in JSON body: offset: invalid value: integer `-1`, expected usize"),
        (
            {"query": [1, 2, 3, 4], "params": {"hnsw_ef": 0}},
            "Validation error in JSON body: [params.hnsw_ef: value 0 invalid, must be 1 or larger]",
        ),
        (
            {"query": {"indices": [1, 1], "values": [1, 2]}, "using": "text"},
            "Validation error in JSON body: [query.indices: Validation error: must be unique [{}]]",
        ),
    ],
)
def test_query_errors(body, message):
    assert bad(parsing.parse_query, body, QUERY_SCHEMA) == message


@pytest.mark.parametrize(
    "body",
    [
        {"query": {"relevance_feedback": {"target": 1}}},
        {"query": {"text": "hello", "model": "bm25"}},
    ],
)
def test_query_unsupported_kinds(body):
    message = bad(parsing.parse_query, body, QUERY_SCHEMA)
    assert message.startswith("Wrong input:") and "not supported yet" in message


def test_query_order_by():
    parsed = parsing.parse_query({"query": {"order_by": "price"}, "offset": 2}, QUERY_SCHEMA)
    assert parsed.order_by == OrderBy(key="price") and parsed.is_multi_stage and parsed.request.offset == 2
    parsed = parsing.parse_query(
        {"prefetch": {"query": {"order_by": {"key": "n", "direction": "desc", "start_from": 5}}}, "query": [1, 2, 3, 4]},
        QUERY_SCHEMA,
    )
    assert parsed.prefetches[0].order_by == OrderBy(key="n", direction="desc", start_from=5.0)
    assert "query.order_by.direction" in bad(parsing.parse_query, {"query": {"order_by": {"key": "n", "direction": "up"}}}, QUERY_SCHEMA)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"query": True}, "query: data did not match any variant"),
        ({"query": "not-a-uuid"}, "Unable to parse UUID"),
        ({"query": {"foo": 1}}, "query: data did not match any variant"),
        ({"query": 1.5}, "query: data did not match any variant"),
        ({"query": [1, 2, 3, 4], "using": 5}, "using: invalid type"),
        ({"query": [1, 2, 3, 4], "score_threshold": "high"}, "score_threshold: invalid type"),
        ({"query": [1, 2, 3, 4], "params": {"exact": "yes"}}, "params.exact: invalid type"),
        ({"query": [1, 2, 3, 4], "params": 5}, "params: invalid type"),
        ({"query": [1, 2, 3, 4], "params": {"quantization": 5}}, "params.quantization: invalid type"),
        ({"query": [1, float("nan"), 3, 4]}, "query: vector values must be finite"),
    ],
)
def test_query_format_errors(body, fragment):
    assert fragment in bad(parsing.parse_query, body, QUERY_SCHEMA)
