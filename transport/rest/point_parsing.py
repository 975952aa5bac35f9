"""Turn decoded REST bodies of point writes into the domain operations of ``shards.operations``.

Pure functions over already-decoded JSON and the collection's
:class:`VectorSchema`; errors are :class:`BadInput` with Qdrant's wording (see
``transport.rest.vector_parsing``). Upserts are the ingest hot path: dense
vectors of one name are converted for the whole request at once.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from consensus.errors import BadInput
from shards.operations import (
    ClearPayload,
    DeletePayload,
    DeletePoints,
    DeleteVectors,
    OverwritePayload,
    PointSelector,
    SetPayload,
    UpdateOperation,
    UpdateVectors,
    UpsertPoints,
    WriteOptions,
)
from shards.types import DEFAULT_VECTOR, PointId, PointStruct, VectorValue, parse_point_id
from transport.rest.vector_parsing import (
    DenseBatcher,
    DenseVectorParams,
    DenseVectorSpec,
    ShardKey,
    ShardKeys,
    ShardKeyWithFallback,
    SparseVectorParams,
    SparseVectorSpec,
    VectorSchema,
    collect_vector_struct,
    dense_rows,
    format_error,
    is_inference_object,
    inference_error,
    join_path,
    not_supported,
    parse_filter_field,
    parse_point_ids,
    parse_selector_filter,
    parse_vector_value,
    require_field,
    require_object,
    type_error,
    validation_error,
    vector_name_error,
)

# The read side lives in its own module; handlers reach both through this one.
from transport.rest.query_parsing import (
    ParsedQuery,
    parse_count,
    parse_query,
    parse_retrieve,
    parse_scroll,
    parse_with_payload,
    parse_with_vector,
)


# --------------------------------------------------------------------------- ids, payloads, selectors


def _payload(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise type_error(raw, "a JSON object or null", where)
    return raw


def parse_point_selector(body: Any, *, where: str = "") -> PointSelector:
    """Qdrant's ``PointsSelector``: ``{"points": [ids]}`` or ``{"filter": {...}}``."""
    body = require_object(body, where)
    if body.get("points") is not None:
        return PointSelector(ids=parse_point_ids(body["points"], join_path(where, "points")))
    if body.get("filter") is not None:
        return PointSelector(filter=parse_selector_filter(body["filter"], join_path(where, "filter")))
    raise format_error(
        "data did not match any variant of untagged enum PointsSelector: expected `points` or `filter`", where
    )


def _points_or_filter(body: Mapping[str, Any], where: str) -> PointSelector:
    """Optional ``points`` / ``filter`` pair of SetPayload, DeletePayload, DeleteVectors.

    Qdrant needs at least one of them; when both are given the ids win.
    """
    if body.get("points") is not None:
        return PointSelector(ids=parse_point_ids(body["points"], join_path(where, "points")))
    if body.get("filter") is not None:
        return PointSelector(filter=parse_selector_filter(body["filter"], join_path(where, "filter")))
    raise format_error("Either list of point ids or filter must be provided", where)


def parse_shard_key_selector(body: Any) -> Optional[ShardKeys]:
    """The optional ``shard_key`` of a body: one key, a list of keys, or ``{target, fallback}``."""
    raw = body.get("shard_key") if isinstance(body, dict) else None
    if raw is None:
        return None
    if isinstance(raw, list):
        return tuple(_shard_key(item) for item in raw)
    if isinstance(raw, dict):
        return (ShardKeyWithFallback(_shard_key(raw.get("target")), _shard_key(raw.get("fallback"))),)
    return (_shard_key(raw),)


def _shard_key(raw: Any) -> ShardKey:
    if isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0):
        return raw
    raise type_error(raw, "a shard key (string or unsigned integer)", "shard_key")


# --------------------------------------------------------------------------- upsert


_UPDATE_MODES = ("upsert", "insert_only", "update_only")


def parse_upsert(body: Any, schema: VectorSchema, *, where: str = "") -> UpsertPoints:
    """``PUT /points``: the record form ``{"points": [...]}`` or the column form ``{"batch": {...}}``.

    A request naming the same id twice keeps one point per id with the last
    one's content (Qdrant applies them in order, so the last write wins).
    """
    body = require_object(body, where)
    if body.get("points") is not None:
        points = _parse_point_records(body["points"], schema, join_path(where, "points"))
    elif body.get("batch") is not None:
        points = _parse_point_columns(body["batch"], schema, join_path(where, "batch"))
    else:
        raise format_error(
            "data did not match any variant of untagged enum PointInsertOperations: expected `points` or `batch`",
            where,
        )
    mode = body.get("update_mode")
    if mode is None:
        mode = "upsert"
    elif mode not in _UPDATE_MODES:
        raise format_error(
            f"unknown variant `{mode}`, expected one of `upsert`, `insert_only`, `update_only`",
            join_path(where, "update_mode"),
        )
    if len({point.id for point in points}) != len(points):
        points = list({point.id: point for point in points}.values())
    return UpsertPoints(
        points=tuple(points),
        update_filter=parse_filter_field(body.get("update_filter"), join_path(where, "update_filter")),
        update_mode=mode,
    )


def _parse_point_records(raw: Any, schema: VectorSchema, where: str) -> list[PointStruct]:
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence of points", where)
    batcher = DenseBatcher()
    points: list[PointStruct] = []
    for i, record in enumerate(raw):
        if not isinstance(record, dict):
            raise type_error(record, "struct PointStruct", f"{where}[{i}]")
        if "id" not in record:
            raise format_error("missing field `id`", f"{where}[{i}]")
        point_id = parse_point_id(record["id"])
        vector = record.get("vector")
        if vector is None:
            raise format_error("missing field `vector`", f"{where}[{i}]")
        vectors: dict[str, VectorValue] = {}
        collect_vector_struct(vector, schema, vectors, batcher, f"{where}[{i}].vector")
        payload = record.get("payload")
        if payload is None:
            payload = {}
        elif not isinstance(payload, dict):
            payload = _payload(payload, f"{where}[{i}].payload")
        points.append(PointStruct(id=point_id, vectors=vectors, payload=payload))
    batcher.flush()
    return points


def _parse_point_columns(raw: Any, schema: VectorSchema, where: str) -> list[PointStruct]:
    batch = require_object(raw, where)
    ids = parse_point_ids(require_field(batch, "ids", where), f"{where}.ids")
    count = len(ids)
    columns = batch.get("vectors")
    if columns is None:
        raise format_error("missing field `vectors`", where)
    payloads = batch.get("payloads")

    def count_mismatch(what: str, got: int) -> BadInput:
        return validation_error(where, f"number of ids and {what} must be equal ({count} != {got})")

    if isinstance(columns, (list, np.ndarray)):  # numpy: a (n, dim) matrix from the gRPC API
        if len(columns) != count:
            raise count_mismatch("vectors", len(columns))
        named_columns = {DEFAULT_VECTOR: columns}
        column_where = f"{where}.vectors"
    elif isinstance(columns, dict):
        if is_inference_object(columns):
            raise inference_error()
        for column in columns.values():
            if not isinstance(column, (list, np.ndarray)):
                raise type_error(column, "a sequence", f"{where}.vectors")
            if len(column) != count:
                raise count_mismatch("vectors", len(column))
        named_columns = columns
        column_where = f"{where}.vectors.?"
    else:
        raise type_error(columns, "a sequence or an object", f"{where}.vectors")
    if payloads is not None:
        if not isinstance(payloads, list):
            raise type_error(payloads, "a sequence", f"{where}.payloads")
        if len(payloads) != count:
            raise count_mismatch("payloads", len(payloads))

    vectors_of: list[dict[str, VectorValue]] = [{} for _ in range(count)]
    for name, column in named_columns.items():
        wheres = [f"{column_where}[{i}]" for i in range(count)]
        spec = schema.dense.get(name)
        plain = spec is not None and not spec.multivector
        if plain and isinstance(column, np.ndarray) and column.ndim == 2:
            matrix = dense_rows(column, spec, wheres)  # type: ignore[arg-type]
            for i in range(count):
                vectors_of[i][name] = matrix[i]
        elif plain and all(isinstance(row, list) and not (row and isinstance(row[0], list)) for row in column):
            matrix = dense_rows(column, spec, wheres)  # type: ignore[arg-type]
            for i in range(count):
                vectors_of[i][name] = matrix[i]
        else:
            for i, row in enumerate(column):
                vectors_of[i][name] = parse_vector_value(row, name, schema, wheres[i])
    return [
        PointStruct(
            id=point_id,
            vectors=vectors_of[i],
            payload=_payload(payloads[i], f"{where}.payloads[{i}]") if payloads is not None else {},
        )
        for i, point_id in enumerate(ids)
    ]


# --------------------------------------------------------------------------- other writes


def parse_delete_points(body: Any, *, where: str = "") -> DeletePoints:
    """``POST /points/delete``: a ``PointsSelector``."""
    return DeletePoints(selector=parse_point_selector(body, where=where))


def parse_update_vectors(body: Any, schema: VectorSchema, *, where: str = "") -> UpdateVectors:
    """``PUT /points/vectors``: ``{"points": [{id, vector}], "update_filter"?}``."""
    body = require_object(body, where)
    points_where = join_path(where, "points")
    raw_points = require_field(body, "points", where)
    if not isinstance(raw_points, list):
        raise type_error(raw_points, "a sequence", points_where)
    if not raw_points:
        raise validation_error(points_where, "must contain at least 1 item")
    batcher = DenseBatcher()
    updates: list[tuple[PointId, dict[str, VectorValue]]] = []
    for i, record in enumerate(raw_points):
        record_where = f"{points_where}[{i}]"
        record = require_object(record, record_where)
        if "id" not in record:
            raise format_error("missing field `id`", record_where)
        point_id = parse_point_id(record["id"])
        vector = require_field(record, "vector", record_where)
        if isinstance(vector, (list, dict)) and not vector:
            raise validation_error(f"{record_where}.vector", "must specify vectors to update for point")
        vectors: dict[str, VectorValue] = {}
        collect_vector_struct(vector, schema, vectors, batcher, f"{record_where}.vector")
        updates.append((point_id, vectors))
    batcher.flush()
    return UpdateVectors(
        points=tuple(updates),
        update_filter=parse_filter_field(body.get("update_filter"), join_path(where, "update_filter")),
    )


def parse_delete_vectors(
    body: Any, schema: Optional[VectorSchema] = None, *, where: str = ""
) -> DeleteVectors:
    """``POST /points/vectors/delete``: ``{"points" | "filter", "vector": [names]}``.

    With a ``schema``, every name must be one of the collection's vectors.
    """
    body = require_object(body, where)
    names_where = join_path(where, "vector")
    raw_names = require_field(body, "vector", where)
    if not isinstance(raw_names, list) or not all(isinstance(name, str) for name in raw_names):
        raise type_error(raw_names, "a sequence of strings", names_where)
    if not raw_names:
        raise validation_error(names_where, "must contain at least 1 item")
    if len(set(raw_names)) != len(raw_names):
        raise validation_error(names_where, "items must be unique")
    if schema is not None:
        for name in raw_names:
            if name not in schema.dense and name not in schema.sparse:
                raise vector_name_error(name)
    return DeleteVectors(selector=_points_or_filter(body, where), names=tuple(raw_names))


def _payload_body(body: Any, where: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = require_object(body, where)
    payload_where = join_path(where, "payload")
    payload = require_field(body, "payload", where)
    if not isinstance(payload, dict):
        raise type_error(payload, "a JSON object", payload_where)
    return body, payload


def parse_set_payload(body: Any, *, where: str = "") -> SetPayload:
    """``POST /points/payload``: ``{"payload", "points" | "filter", "key"?}``."""
    body, payload = _payload_body(body, where)
    key = body.get("key")
    if key is not None and not isinstance(key, str):
        raise type_error(key, "a string", join_path(where, "key"))
    return SetPayload(selector=_points_or_filter(body, where), payload=payload, key=key)


def parse_overwrite_payload(body: Any, *, where: str = "") -> OverwritePayload:
    """``PUT /points/payload``: like set payload, replacing the whole payload."""
    body, payload = _payload_body(body, where)
    if body.get("key") is not None:
        raise not_supported("Overwriting the payload at a `key`")
    return OverwritePayload(selector=_points_or_filter(body, where), payload=payload)


def parse_delete_payload(body: Any, *, where: str = "") -> DeletePayload:
    """``POST /points/payload/delete``: ``{"keys": [...], "points" | "filter"}``."""
    body = require_object(body, where)
    keys = require_field(body, "keys", where)
    if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
        raise type_error(keys, "a sequence of strings", join_path(where, "keys"))
    return DeletePayload(selector=_points_or_filter(body, where), keys=tuple(keys))


def parse_clear_payload(body: Any, *, where: str = "") -> ClearPayload:
    """``POST /points/payload/clear``: a ``PointsSelector``."""
    return ClearPayload(selector=parse_point_selector(body, where=where))


_BATCH_OPERATIONS = (
    "upsert",
    "delete",
    "set_payload",
    "overwrite_payload",
    "delete_payload",
    "clear_payload",
    "update_vectors",
    "delete_vectors",
)


def parse_update_batch_keyed(
    body: Any, schema: VectorSchema
) -> list[tuple[UpdateOperation, Optional[ShardKeys]]]:
    """``POST /points/batch``, keeping each operation's own ``shard_key``."""
    body = require_object(body)
    raw_operations = require_field(body, "operations")
    if not isinstance(raw_operations, list):
        raise type_error(raw_operations, "a sequence", "operations")
    parsed: list[tuple[UpdateOperation, Optional[ShardKeys]]] = []
    for i, raw in enumerate(raw_operations):
        op_where = f"operations[{i}]"
        raw = require_object(raw, op_where)
        kinds = [key for key in raw if key in _BATCH_OPERATIONS]
        if len(kinds) != 1:
            raise format_error(
                "data did not match any variant of untagged enum UpdateOperation: expected exactly one of "
                + ", ".join(f"`{kind}`" for kind in _BATCH_OPERATIONS),
                op_where,
            )
        kind = kinds[0]
        inner = raw[kind]
        inner_where = f"{op_where}.{kind}"
        operation: UpdateOperation
        if kind == "upsert":
            operation = parse_upsert(inner, schema, where=inner_where)
        elif kind == "delete":
            operation = parse_delete_points(inner, where=inner_where)
        elif kind == "set_payload":
            operation = parse_set_payload(inner, where=inner_where)
        elif kind == "overwrite_payload":
            operation = parse_overwrite_payload(inner, where=inner_where)
        elif kind == "delete_payload":
            operation = parse_delete_payload(inner, where=inner_where)
        elif kind == "clear_payload":
            operation = parse_clear_payload(inner, where=inner_where)
        elif kind == "update_vectors":
            operation = parse_update_vectors(inner, schema, where=inner_where)
        else:
            operation = parse_delete_vectors(inner, schema, where=inner_where)
        parsed.append((operation, parse_shard_key_selector(inner)))
    return parsed


def parse_update_batch(body: Any, schema: VectorSchema) -> list[UpdateOperation]:
    """``POST /points/batch``: ``{"operations": [{"upsert": {...}}, {"delete": {...}}, ...]}``."""
    return [operation for operation, _ in parse_update_batch_keyed(body, schema)]


# --------------------------------------------------------------------------- query string


_ORDERINGS = ("weak", "medium", "strong")


def parse_write_params(query: Mapping[str, str]) -> WriteOptions:
    """The ``wait`` and ``ordering`` query parameters of a write."""
    wait_raw = query.get("wait")
    if wait_raw is None:
        wait = False
    elif wait_raw in ("true", "false"):
        wait = wait_raw == "true"
    else:
        raise BadInput("Query deserialize error: provided string was not `true` or `false`")
    ordering = query.get("ordering") or "weak"
    if ordering not in _ORDERINGS:
        raise BadInput(
            f"Query deserialize error: unknown variant `{ordering}`, expected one of `weak`, `medium`, `strong`"
        )
    return WriteOptions(wait=wait, ordering=ordering)  # type: ignore[arg-type]


__all__ = [
    # schema and shard keys (defined in vector_parsing)
    "DenseVectorParams",
    "DenseVectorSpec",
    "ShardKey",
    "ShardKeyWithFallback",
    "ShardKeys",
    "SparseVectorParams",
    "SparseVectorSpec",
    "VectorSchema",
    # writes
    "parse_clear_payload",
    "parse_delete_payload",
    "parse_delete_points",
    "parse_delete_vectors",
    "parse_overwrite_payload",
    "parse_point_selector",
    "parse_set_payload",
    "parse_shard_key_selector",
    "parse_update_batch",
    "parse_update_batch_keyed",
    "parse_update_vectors",
    "parse_upsert",
    "parse_write_params",
    # reads (defined in query_parsing)
    "ParsedQuery",
    "parse_count",
    "parse_query",
    "parse_retrieve",
    "parse_scroll",
    "parse_with_payload",
    "parse_with_vector",
]
