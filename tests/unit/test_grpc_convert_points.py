"""gRPC point conversions: the packed-bytes dense path gives what the REST parser gives for JSON lists."""

from __future__ import annotations

import numpy as np
import pytest

from consensus.errors import BadInput
from transport.grpc_api import pb
from transport.grpc_api.services.points_service import _upsert_op
from transport.rest import point_parsing as parsing

SCHEMA = parsing.VectorSchema(
    dense={"": parsing.DenseVectorSpec("", 3), "m": parsing.DenseVectorSpec("m", 2, multivector=True)},
    sparse={"s": parsing.SparseVectorSpec("s")},
)


def upsert(points: list) -> tuple[list[str], object]:
    """The REST body keys the gRPC request became, and what the REST parser made of it (or the error)."""
    message = pb.UpsertPoints.FromString(pb.UpsertPoints(collection_name="c", points=points).SerializeToString())
    body: dict = {}
    try:
        body = _upsert_op(message)
        parsed = parsing.parse_upsert(body, SCHEMA)
    except BadInput as exc:
        return sorted(body), exc.message
    return sorted(body), [
        (p.id, {k: v.tolist() if hasattr(v, "tolist") else v for k, v in p.vectors.items()}, p.payload)
        for p in parsed.points
    ]


def dense_point(i: int, data: list[float], **payload: int) -> object:
    point = pb.PointStruct(id=pb.PointId(num=i), vectors=pb.Vectors(vector=pb.Vector(dense=pb.DenseVector(data=data))))
    for key, value in payload.items():
        point.payload[key].integer_value = value
    return point


def test_many_dense_points_go_as_columns_with_exact_values() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(size=(50, 3)).astype(np.float32)
    keys, parsed = upsert([dense_point(i, data[i].tolist(), n=i) for i in range(50)])
    assert keys == ["batch"]
    assert [p[0] for p in parsed] == list(range(50))
    assert np.array_equal(np.array([p[1][""] for p in parsed], dtype=np.float32), data)
    assert [p[2] for p in parsed] == [{"n": i} for i in range(50)]


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[1, 2], [3, 4]], "Vector dimension error: expected dim: 3, got 2"),
        ([[1, 2, 3], [3, 4]], "Vector dimension error: expected dim: 3, got 2"),
        ([[1, 2, 3], [3, float("nan"), 4]], "points[1].vector: vector values must be finite"),
        ([[1, 2, 3], [3, float("inf"), 4]], "points[1].vector: vector values must be finite"),
    ],
)
def test_bad_dense_vectors_are_rejected_with_the_rest_message(rows, message) -> None:
    _, error = upsert([dense_point(i, row) for i, row in enumerate(rows)])
    assert isinstance(error, str) and message in error


def test_legacy_vector_forms() -> None:
    legacy = pb.Vectors(
        vectors=pb.NamedVectors(
            vectors={
                "": pb.Vector(data=[1, 2, 3]),
                "m": pb.Vector(data=[1, 2, 3, 4, 5, 6], vectors_count=3),
                "s": pb.Vector(data=[0.5, 0.25], indices=pb.SparseIndices(data=[9, 2])),
            }
        )
    )
    _, parsed = upsert([pb.PointStruct(id=pb.PointId(num=1), vectors=legacy)])
    vectors = parsed[0][1]
    assert vectors[""] == [1.0, 2.0, 3.0]
    assert vectors["m"] == [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert vectors["s"].indices.tolist() == [2, 9] and vectors["s"].values.tolist() == [0.25, 0.5]
    bad = pb.Vectors(vectors=pb.NamedVectors(vectors={"m": pb.Vector(data=[1, 2, 3], vectors_count=2)}))
    _, error = upsert([pb.PointStruct(id=pb.PointId(num=1), vectors=bad)])
    assert "not a multiple of vectors_count" in error


def test_numpy_vectors_keep_the_rest_type_rules() -> None:
    """A flat numpy vector aimed at a multi or sparse vector fails as the same JSON list would."""
    for name, fragment in [("m", "multi and regular"), ("s", "sparse and regular"), ("x", "vector name error: x")]:
        point = pb.PointStruct(
            id=pb.PointId(num=1),
            vectors=pb.Vectors(vectors=pb.NamedVectors(vectors={name: pb.Vector(dense=pb.DenseVector(data=[1, 2]))})),
        )
        _, single = upsert([point])
        _, columns = upsert([point, point])
        assert fragment in single and single == columns
