"""Shared pieces of REST body parsing: the collection's vector schema, Qdrant-style errors, vectors.

Every function here is pure: it takes already-decoded JSON (dicts, lists,
numbers) and either returns a validated value or raises :class:`BadInput`
whose message follows Qdrant's wording:

* ``Format error in JSON body: ...``      the body has the wrong shape or types;
* ``Validation error in JSON body: [path: problem]``  well-formed, but invalid;
* ``Wrong input: ...``                    valid JSON that does not fit the collection
  (unknown vector name, wrong dimension, sparse/dense or multi/regular mix-up).

Vector conversion is on the ingest hot path: :class:`DenseBatcher` gathers the
plain dense vectors of one name across a whole request and converts them with
one ``np.asarray`` call; a precise per-vector check runs only when that fast
path fails, to name the first bad vector.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol, Union

import numpy as np

from consensus.errors import BadInput
from shards import filters as _filters
from shards.types import DEFAULT_VECTOR, PointId, SparseVector, VectorValue, parse_point_id
from shards.vector_config import describe_value


# --------------------------------------------------------------------------- schema


class DenseVectorParams(Protocol):
    """What the parser needs to know about one dense vector of a collection."""

    @property
    def name(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def distance(self) -> str: ...
    @property
    def datatype(self) -> str: ...
    @property
    def multivector(self) -> bool: ...


class SparseVectorParams(Protocol):
    """What the parser needs to know about one sparse vector of a collection."""

    @property
    def name(self) -> str: ...
    @property
    def modifier(self) -> Optional[str]: ...


@dataclass(frozen=True)
class DenseVectorSpec:
    """A plain implementation of :class:`DenseVectorParams` (tests, simple callers)."""

    name: str
    size: int
    distance: str = "Cosine"
    datatype: str = "float32"
    multivector: bool = False


@dataclass(frozen=True)
class SparseVectorSpec:
    """A plain implementation of :class:`SparseVectorParams`."""

    name: str
    modifier: Optional[str] = None


@dataclass(frozen=True)
class VectorSchema:
    """The vectors a collection declares: dense by name ("" is the unnamed one) and sparse by name."""

    dense: Mapping[str, DenseVectorParams] = field(default_factory=dict)
    sparse: Mapping[str, SparseVectorParams] = field(default_factory=dict)


ShardKey = Union[str, int]


@dataclass(frozen=True)
class ShardKeyWithFallback:
    """Write to ``target`` if that shard key exists, else to ``fallback``."""

    target: ShardKey
    fallback: ShardKey


ShardKeys = tuple[Union[ShardKey, ShardKeyWithFallback], ...]

# --------------------------------------------------------------------------- errors


def format_error(message: str, where: str = "") -> BadInput:
    """The body does not have the expected shape (Qdrant: a serde decoding failure)."""
    return BadInput(f"Format error in JSON body: {where + ': ' if where else ''}{message}")


def validation_error(where: str, message: str) -> BadInput:
    """The body is well-formed but a value breaks a rule (Qdrant: a validator failure)."""
    return BadInput(f"Validation error in JSON body: [{where}: {message}]")


def type_error(raw: Any, expected: str, where: str = "") -> BadInput:
    """A value of the wrong JSON type, in serde's words: ``invalid type: X, expected Y``."""
    return format_error(f"invalid type: {describe_value(raw)}, expected {expected}", where)


def wrong_input(message: str) -> BadInput:
    """The request does not fit the collection (Qdrant: ``CollectionError::BadInput``)."""
    return BadInput(f"Wrong input: {message}")


def not_supported(what: str) -> BadInput:
    """A valid Qdrant feature this server does not implement yet."""
    return wrong_input(f"{what} is not supported yet")




def join_path(where: str, key: str) -> str:
    """``where.key``, or ``key`` at the top level."""
    return f"{where}.{key}" if where else key


def require_object(body: Any, where: str = "") -> dict[str, Any]:
    """The body (or a nested value) must be a JSON object."""
    if not isinstance(body, dict):
        raise type_error(body, "a JSON object", where)
    return body


def require_field(body: Mapping[str, Any], key: str, where: str = "") -> Any:
    """A field the schema marks as required; null counts as missing."""
    value = body.get(key)
    if value is None:
        raise format_error(f"missing field `{key}`", where)
    return value


def parse_uint(raw: Any, where: str, *, default: int, minimum: int = 0) -> int:
    """An unsigned integer field with a default, with Qdrant's range-check wording."""
    value = parse_optional_uint(raw, where, minimum=minimum)
    return default if value is None else value


def parse_optional_uint(raw: Any, where: str, *, minimum: int = 0) -> Optional[int]:
    """An unsigned integer field that may be null."""
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise type_error(raw, "usize", where)
    if raw < 0:
        raise format_error(f"invalid value: integer `{raw}`, expected usize", where)
    if raw < minimum:
        raise validation_error(where, f"value {raw} invalid, must be {minimum} or larger")
    return raw


def parse_bool(raw: Any, where: str, *, default: bool) -> bool:
    if raw is None:
        return default
    if not isinstance(raw, bool):
        raise type_error(raw, "a boolean", where)
    return raw


def parse_filter_field(raw: Any, where: str = "filter") -> Optional[_filters.Filter]:
    """A ``Filter`` object or null; the grammar itself belongs to ``shards.filters``.

    An empty filter ``{}`` gives None, like no filter at all.
    """
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise type_error(raw, "struct Filter", where)
    return _filters.parse_filter(raw)


def parse_selector_filter(raw: Any, where: str = "filter") -> _filters.Filter:
    """The filter of a points selector: present, so never None (``{}`` selects every point)."""
    parsed = parse_filter_field(raw, where)
    return parsed if parsed is not None else _filters.Filter()


def parse_point_ids(raw: Any, where: str) -> tuple[PointId, ...]:
    """A JSON list of point ids (unsigned integers or UUID strings)."""
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence of point ids", where)
    return tuple(parse_point_id(item) for item in raw)


# --------------------------------------------------------------------------- vectors


def _dimension_error(expected: int, got: int) -> BadInput:
    return wrong_input(f"Vector dimension error: expected dim: {expected}, got {got}")


def vector_name_error(name: str) -> BadInput:
    return wrong_input(f"Not existing vector name error: {name}")


_SPARSE_MISMATCH = "Conversion between sparse and regular vectors failed"
_MULTI_MISMATCH = "Conversion between multi and regular vectors failed"
_NOT_FINITE = "vector values must be finite numbers (NaN and infinity are not valid JSON)"
_MAX_SPARSE_INDEX = 2**32 - 1


def is_inference_object(raw: Mapping[str, Any]) -> bool:
    """Qdrant's Document / Image / InferenceObject: raw input for a server-side model."""
    return "model" in raw and ("text" in raw or "image" in raw or "object" in raw)


def inference_error() -> BadInput:
    return not_supported("Inference of vectors from documents, images or objects")


def _to_float32(arr: np.ndarray) -> np.ndarray:
    """Cast to a new float32 array; values beyond float32 become inf and are refused by the caller."""
    with np.errstate(over="ignore"):
        return arr.astype(np.float32)


def _numbers(raw: Any, where: str) -> np.ndarray:
    """A JSON list of numbers as a 1-D float32 array; NaN and infinity are refused.

    Strings, nulls and all-boolean lists are refused; a boolean mixed among
    numbers slips through as 0/1, since finding it would cost a Python loop
    over every value on the hot path.
    """
    if isinstance(raw, np.ndarray):  # the gRPC API hands dense vectors over as numpy
        return _array_numbers(raw, where)
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence of numbers", where)
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "fiu":
        # Strings, booleans, nulls, nested lists or integers beyond int64.
        values = []
        for k, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise type_error(item, "f32", f"{where}[{k}]")
            try:
                values.append(float(item))
            except OverflowError:
                raise format_error(_NOT_FINITE, where) from None
        arr = np.asarray(values, dtype=np.float64)
    out = _to_float32(arr)
    if not np.isfinite(out).all():
        raise format_error(_NOT_FINITE, where)
    return out


def _array_numbers(raw: np.ndarray, where: str) -> np.ndarray:
    """A numpy vector (already numbers): checked with numpy only, never element by element."""
    if raw.ndim != 1 or raw.dtype.kind not in "fiu":
        raise type_error(raw.tolist(), "a sequence of numbers", where)
    out = _to_float32(raw)
    if not np.isfinite(out).all():
        raise format_error(_NOT_FINITE, where)
    return out


def _dense(raw: Any, spec: DenseVectorParams, where: str) -> np.ndarray:
    """One regular dense vector for ``spec``; rejects sparse and multi input."""
    if isinstance(raw, dict):
        raise inference_error() if is_inference_object(raw) else wrong_input(_SPARSE_MISMATCH)
    if isinstance(raw, list) and raw and isinstance(raw[0], list):
        raise wrong_input(_MULTI_MISMATCH)
    vec = _numbers(raw, where)
    if vec.shape[0] != spec.size:
        raise _dimension_error(spec.size, vec.shape[0])
    return vec


def dense_rows(rows: list[Any], spec: DenseVectorParams, where_of: list[str]) -> np.ndarray:
    """Many dense vectors of one name as an ``(n, size)`` float32 matrix, in one numpy call."""
    if len(rows) == 0:  # rows may be a numpy matrix
        return np.empty((0, spec.size), dtype=np.float32)
    try:
        arr = np.asarray(rows)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is not None and arr.ndim == 2 and arr.dtype.kind in "fiu":
        if arr.shape[1] != spec.size:
            raise _dimension_error(spec.size, arr.shape[1])
        mat = _to_float32(arr)
        finite = np.isfinite(mat)
        if not finite.all():
            first_bad = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise format_error(_NOT_FINITE, where_of[first_bad])
        return mat
    # Slow path: ragged or odd input; check each row to name the first bad one.
    return np.stack([_dense(row, spec, where_of[k]) for k, row in enumerate(rows)])


def _multi(raw: list[Any], spec: DenseVectorParams, where: str) -> np.ndarray:
    """A multi-vector (list of same-size dense vectors) as a 2-D float32 array."""
    if not raw:
        raise _dimension_error(spec.size, 0)
    width = -1
    for k, row in enumerate(raw):
        if not isinstance(row, list):
            raise type_error(row, "a sequence", f"{where}[{k}]")
        if not row:
            raise validation_error(f"{where}.data", "all vectors must be non-empty")
        if width < 0:
            width = len(row)
        elif len(row) != width:
            raise validation_error(
                f"{where}.data",
                f"all vectors must have the same dimension, found vector with dimension {len(row)}",
            )
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.dtype.kind not in "fiu":
        mat = np.stack([_numbers(row, f"{where}[{k}]") for k, row in enumerate(raw)])
    else:
        mat = _to_float32(arr)
        if not np.isfinite(mat).all():
            raise format_error(_NOT_FINITE, where)
    if mat.shape[1] != spec.size:
        raise _dimension_error(spec.size, mat.shape[1])
    return mat


def _sparse_indices(raw: Any, where: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence of u32", where)
    if not raw:
        return np.empty(0, dtype=np.uint32)
    try:
        arr = np.asarray(raw)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 1 or arr.dtype.kind not in "iu":
        for k, item in enumerate(raw):
            if isinstance(item, bool) or not isinstance(item, int):
                raise type_error(item, "u32", f"{where}[{k}]")
        arr = None
    if arr is None or arr.min() < 0 or arr.max() > _MAX_SPARSE_INDEX:
        bad = next((i for i in raw if i < 0 or i > _MAX_SPARSE_INDEX), raw[0])
        raise format_error(f"invalid value: integer `{bad}`, expected u32", where)
    return arr.astype(np.uint32)


def _sparse(raw: Any, where: str) -> SparseVector:
    """``{indices, values}`` as a :class:`SparseVector` with indices sorted ascending."""
    if not isinstance(raw, dict):
        raise type_error(raw, "struct SparseVector", where)
    if is_inference_object(raw):
        raise inference_error()
    indices = _sparse_indices(require_field(raw, "indices", where), f"{where}.indices")
    values = _numbers(require_field(raw, "values", where), f"{where}.values")
    if indices.shape[0] != values.shape[0]:
        raise validation_error(f"{where}.values", "Validation error: must be the same length as indices [{}]")
    if indices.shape[0] > 1:
        steps = np.diff(indices.astype(np.int64))
        if not (steps > 0).all():
            order = np.argsort(indices, kind="stable")
            indices, values = indices[order], values[order]
            if not (np.diff(indices.astype(np.int64)) > 0).all():
                raise validation_error(f"{where}.indices", "Validation error: must be unique [{}]")
    return SparseVector(indices=indices, values=values)


def parse_vector_value(
    raw: Any,
    name: str,
    schema: VectorSchema,
    where: str,
    *,
    dense_as_single_multi: bool = False,
) -> VectorValue:
    """One vector for the collection's vector ``name``: dense, multi-vector or sparse.

    With ``dense_as_single_multi`` (queries), a plain dense vector aimed at a
    multi-vector is accepted as a multi-vector of one row.
    """
    spec = schema.dense.get(name)
    if spec is not None:
        if isinstance(raw, np.ndarray) and spec.multivector and raw.size and not dense_as_single_multi:
            raise wrong_input(_MULTI_MISMATCH)  # a flat numpy vector is a regular dense vector
        if isinstance(raw, list) and raw and isinstance(raw[0], list):
            if not spec.multivector:
                raise wrong_input(_MULTI_MISMATCH)
            return _multi(raw, spec, where)
        if spec.multivector:
            if isinstance(raw, list) and raw and not dense_as_single_multi:
                raise wrong_input(_MULTI_MISMATCH)
            if isinstance(raw, list) and not raw:
                raise _dimension_error(spec.size, 0)
            return _dense(raw, spec, where).reshape(1, -1)
        return _dense(raw, spec, where)
    if name in schema.sparse:
        if isinstance(raw, (list, np.ndarray)):
            raise wrong_input(_SPARSE_MISMATCH)
        return _sparse(raw, where)
    raise vector_name_error(name)


_PendingRows = tuple[DenseVectorParams, list[Any], list[dict[str, VectorValue]], list[str]]


class DenseBatcher:
    """Gathers plain dense vectors of many points, to convert each name's rows at once."""

    def __init__(self) -> None:
        # name -> (spec, raw rows, the dicts to put each converted row in, each row's path)
        self._pending: dict[str, _PendingRows] = {}

    def add(
        self, name: str, spec: DenseVectorParams, raw: list[Any], target: dict[str, VectorValue], where: str
    ) -> None:
        """Queue ``raw`` (a flat list) to be converted and stored as ``target[name]`` on :meth:`flush`."""
        entry = self._pending.get(name)
        if entry is None:
            entry = self._pending[name] = (spec, [], [], [])
        entry[1].append(raw)
        entry[2].append(target)
        entry[3].append(where)

    def flush(self) -> None:
        """Convert every queued row; raises BadInput naming the first bad one."""
        for name, (spec, rows, targets, wheres) in self._pending.items():
            matrix = dense_rows(rows, spec, wheres)
            for k, target in enumerate(targets):
                target[name] = matrix[k]
        self._pending.clear()


def _collect_vector(
    raw: Any, name: str, schema: VectorSchema, out: dict[str, VectorValue], batcher: DenseBatcher, where: str
) -> None:
    spec = schema.dense.get(name)
    if isinstance(raw, np.ndarray):
        plain = raw.ndim == 1
    else:
        plain = isinstance(raw, list) and not (raw and isinstance(raw[0], list))
    if plain and spec is not None and not spec.multivector:
        batcher.add(name, spec, raw, out, where)
    else:
        out[name] = parse_vector_value(raw, name, schema, where)


def collect_vector_struct(
    raw: Any, schema: VectorSchema, out: dict[str, VectorValue], batcher: DenseBatcher, where: str
) -> None:
    """A point's ``vector``: a list (the unnamed vector) or an object of named vectors."""
    if isinstance(raw, (list, np.ndarray)):
        _collect_vector(raw, DEFAULT_VECTOR, schema, out, batcher, where)
    elif isinstance(raw, dict):
        if is_inference_object(raw):
            raise inference_error()
        named_where = f"{where}.?"
        for name, value in raw.items():
            _collect_vector(value, name, schema, out, batcher, named_where)
    else:
        raise type_error(raw, "a vector or an object of named vectors", where)
