"""Conversions shared by every points method: values, ids, filters, selectors, vectors, points.

Requests become REST JSON (``engine.to_rest``), replies are filled from REST JSON (``engine.fill``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from consensus.errors import BadInput
from transport.grpc_api import engine, values

# --------------------------------------------------------------------------- JSON values and ids


@engine.to_rest_override("Value")
def _value(message: Any) -> Any:
    return values.value_to_py(message)


@engine.filler("Value")
def _fill_value(message: Any, value: Any) -> None:
    values.fill_value(message, value)


@engine.to_rest_override("Struct")
def _struct(message: Any) -> Any:
    return values.struct_to_py(message.fields)


@engine.to_rest_override("PointId")
def _point_id(message: Any) -> Any:
    return values.point_id_to_py(message)


@engine.filler("PointId")
def _fill_point_id(message: Any, value: Any) -> None:
    values.fill_point_id(message, value)


@engine.to_rest_override("google.protobuf.Timestamp")
def _timestamp(message: Any) -> Any:
    return values.timestamp_to_py(message)


@engine.filler("google.protobuf.Timestamp")
def _fill_timestamp(message: Any, value: Any) -> None:
    values.fill_timestamp(message, value)


# --------------------------------------------------------------------------- filters


@engine.to_rest_override("Condition")
def _condition(message: Any) -> Any:
    kind = message.WhichOneof("condition_one_of")
    if kind is None:
        return {}
    inner = getattr(message, kind)
    if kind == "field":
        return engine.to_rest(inner)
    if kind == "filter":
        return engine.to_rest(inner)
    if kind == "has_id":
        return {"has_id": [values.point_id_to_py(i) for i in inner.has_id]}
    if kind == "has_vector":
        return {"has_vector": inner.has_vector}
    if kind == "nested":
        return {"nested": {"key": inner.key, "filter": engine.to_rest(inner.filter)}}
    return {kind: engine.to_rest(inner)}  # is_empty, is_null: {"key": ...}; slice


@engine.to_rest_override("FieldCondition")
def _field_condition(message: Any) -> Any:
    """The generic walk (``is_empty`` / ``is_null`` flags included, as REST has them), one ``range`` key."""
    out = engine.fields_to_rest(message)
    if "datetime_range" in out:  # REST has one `range` key for numbers and datetimes
        out["range"] = out.pop("datetime_range")
    return out


# proto3 leaves zero scalars out of ListFields: these messages always carry theirs (lon 0 is a place).


@engine.to_rest_override("GeoPoint")
def _geo_point(message: Any) -> Any:
    return {"lon": message.lon, "lat": message.lat}


@engine.to_rest_override("GeoRadius")
def _geo_radius(message: Any) -> Any:
    return {"center": _geo_point(message.center), "radius": message.radius}


@engine.to_rest_override("MinShould")
def _min_should(message: Any) -> Any:
    return {"conditions": [engine.to_rest(c) for c in message.conditions], "min_count": message.min_count}


@engine.to_rest_override("Match")
def _match(message: Any) -> Any:
    kind = message.WhichOneof("match_value")
    if kind in ("keyword", "integer", "boolean"):
        return {"value": getattr(message, kind)}
    if kind in ("text", "phrase", "text_any", "prefix", "substring"):
        return {kind: getattr(message, kind)}
    if kind == "keywords":
        return {"any": list(message.keywords.strings)}
    if kind == "integers":
        return {"any": list(message.integers.integers)}
    if kind == "except_keywords":
        return {"except": list(message.except_keywords.strings)}
    if kind == "except_integers":
        return {"except": list(message.except_integers.integers)}
    return {}


# --------------------------------------------------------------------------- selectors


@engine.to_rest_override("WithPayloadSelector")
def _with_payload(message: Any) -> Any:
    kind = message.WhichOneof("selector_options")
    if kind == "enable":
        return message.enable
    if kind == "include":
        return {"include": list(message.include.fields)}
    if kind == "exclude":
        return {"exclude": list(message.exclude.fields)}
    return False


@engine.to_rest_override("WithVectorsSelector")
def _with_vectors(message: Any) -> Any:
    kind = message.WhichOneof("selector_options")
    if kind == "include":
        return list(message.include.names)
    return bool(message.enable) if kind == "enable" else False


@engine.to_rest_override("VectorsSelector")
def _vectors_selector(message: Any) -> Any:
    return list(message.names)


@engine.to_rest_override("PointsSelector")
def _points_selector(message: Any) -> Any:
    kind = message.WhichOneof("points_selector_one_of")
    if kind == "points":
        return {"points": [values.point_id_to_py(i) for i in message.points.ids]}
    if kind == "filter":
        return {"filter": engine.to_rest(message.filter)}
    return {}  # nothing selected: the REST parser names the missing `points` / `filter`


def selector_fields(message: Any, name: str) -> dict[str, Any]:
    """A (possibly unset) ``PointsSelector`` field as the REST ``points`` / ``filter`` keys."""
    if not message.HasField(name):
        return {}
    return _points_selector(getattr(message, name))


def payload_map(fields: Any) -> dict[str, Any]:
    """A ``map<string, Value>`` as a JSON object."""
    return values.struct_to_py(fields)


# --------------------------------------------------------------------------- enums and ordering

engine.enum_spelling("UpdateMode", {"Upsert": "upsert", "InsertOnly": "insert_only", "UpdateOnly": "update_only"})
engine.enum_spelling(
    "UpdateStatus",
    {
        "UnknownUpdateStatus": "unknown",
        "Acknowledged": "acknowledged",
        "Completed": "completed",
        "ClockRejected": "clock_rejected",
        "WaitTimeout": "wait_timeout",
    },
)


@engine.to_rest_override("StartFrom")
def _start_from(message: Any) -> Any:
    kind = message.WhichOneof("value")
    if kind == "timestamp":
        return values.timestamp_to_py(message.timestamp)
    return getattr(message, kind) if kind is not None else None


@engine.to_rest_override("OrderBy")
def _order_by(message: Any) -> Any:
    out: dict[str, Any] = {"key": message.key}
    if message.HasField("direction"):
        out["direction"] = engine.enum_to_rest(message.DESCRIPTOR.fields_by_name["direction"].enum_type,
                                               message.direction)
    if message.HasField("start_from") and message.start_from.WhichOneof("value") is not None:
        out["start_from"] = _start_from(message.start_from)
    return out


# --------------------------------------------------------------------------- payload index parameters
# ``PayloadIndexParams`` and its parts convert in ``convert_collections`` (one copy, shared with
# the collection info replies); field indexes only pick the REST ``field_schema`` shape here.


def field_index_schema(message: Any) -> Any:
    """The REST ``field_schema`` of a ``CreateFieldIndexCollection``: a type name, or params with a type."""
    field_type = None
    if message.HasField("field_type"):
        field_type = engine.enum_to_rest(message.DESCRIPTOR.fields_by_name["field_type"].enum_type,
                                         message.field_type)
    if message.HasField("field_index_params") and message.field_index_params.WhichOneof("index_params"):
        params = engine.to_rest(message.field_index_params)  # {"type": ..., **params}
        if field_type is not None and params["type"] != field_type:
            raise BadInput(
                f"Wrong input: field_type {field_type} does not match the field_index_params of type {params['type']}"
            )
        return params
    return field_type


# --------------------------------------------------------------------------- vectors in requests


def dense_array(dense: Any) -> np.ndarray:
    """A repeated float field as float32 numpy, read from the packed wire bytes (much faster than iterating)."""
    raw = dense.SerializeToString()
    if not raw:
        return np.zeros(0, dtype=np.float32)
    # field 1, wire type 2 (packed): tag byte, varint length, then little-endian floats
    pos, length, shift = 1, 0, 0
    while True:
        byte = raw[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            break
        shift += 7
    if pos + length != len(raw):  # other fields present: fall back to the generic path
        return np.asarray(dense.data, dtype=np.float32)
    return np.frombuffer(raw, dtype="<f4", count=length // 4, offset=pos)


@engine.to_rest_override("DenseVector")
def _dense(message: Any) -> Any:
    return dense_array(message)


@engine.to_rest_override("SparseVector")
def _sparse(message: Any) -> Any:
    return {"indices": list(message.indices), "values": list(message.values)}


@engine.to_rest_override("MultiDenseVector")
def _multi(message: Any) -> Any:
    return [dense_array(v).tolist() for v in message.vectors]


@engine.to_rest_override("Vector")
def _vector(message: Any) -> Any:
    """The oneof forms (dense, sparse, multi_dense, document...) and the legacy data/indices/vectors_count."""
    kind = message.WhichOneof("vector")
    if kind is not None:
        return engine.to_rest(getattr(message, kind))
    if message.HasField("indices"):
        return {"indices": list(message.indices.data), "values": list(message.data)}
    if message.HasField("vectors_count"):
        data = list(message.data)
        count = message.vectors_count
        if count == 0 or len(data) % count:
            raise BadInput(
                f"Wrong input: Vector data size {len(data)} is not a multiple of vectors_count {count}"
            )
        size = len(data) // count
        return [data[i * size : (i + 1) * size] for i in range(count)]
    return dense_array(message)  # only field 1 is set: the packed-bytes path applies


@engine.to_rest_override("NamedVectors")
def _named(message: Any) -> Any:
    return {name: engine.to_rest(vector) for name, vector in message.vectors.items()}


@engine.to_rest_override("Vectors")
def _vectors(message: Any) -> Any:
    kind = message.WhichOneof("vectors_options")
    return engine.to_rest(getattr(message, kind)) if kind is not None else {}


@engine.to_rest_override("PointStruct")
def _point(message: Any) -> Any:
    point: dict[str, Any] = {"id": values.point_id_to_py(message.id)}
    if message.HasField("vectors"):
        point["vector"] = engine.to_rest(message.vectors)
    else:
        point["vector"] = {}
    if len(message.payload):
        point["payload"] = values.struct_to_py(message.payload)
    return point


def _packed_rows(blobs: list[bytes]) -> np.ndarray | None:
    """Serialized ``DenseVector`` messages of one byte length as an ``(n, dim)`` float32 matrix.

    Same length means the same header (tag 1, varint length), so one strided
    view over the joined bytes reads every vector; None when the bytes are not
    a lone packed field 1 (then each vector takes the general path).
    """
    first = blobs[0]
    if not first:
        return np.zeros((len(blobs), 0), dtype=np.float32)
    if first[0] != 0x0A:
        return None
    pos, length, shift = 1, 0, 0
    while pos < len(first):
        byte = first[pos]
        length |= (byte & 0x7F) << shift
        pos += 1
        if byte < 0x80:
            break
        shift += 7
    if pos + length != len(first) or length % 4:
        return None
    table = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), len(first))
    if len(blobs) > 1 and not (table[:, :pos] == table[0, :pos]).all():
        return None
    return table[:, pos:].copy().view("<f4")


class _DenseDecoder:
    """Collects the dense vectors of many points, to decode each byte length at once."""

    def __init__(self) -> None:
        self._pending: dict[int, list[tuple[dict[str, Any], str, bytes, Any]]] = {}

    def add(self, target: dict[str, Any], key: str, dense: Any) -> None:
        blob = dense.SerializeToString()
        self._pending.setdefault(len(blob), []).append((target, key, blob, dense))

    def flush(self) -> None:
        for entries in self._pending.values():
            matrix = _packed_rows([entry[2] for entry in entries])
            for k, (target, key, _, dense) in enumerate(entries):
                target[key] = matrix[k] if matrix is not None else dense_array(dense)
        self._pending.clear()


def _vector_into(target: dict[str, Any], key: str, vector: Any, decoder: _DenseDecoder) -> None:
    kind = vector.WhichOneof("vector")
    if kind == "dense":
        decoder.add(target, key, vector.dense)
    elif kind is None and not vector.HasField("indices") and not vector.HasField("vectors_count"):
        decoder.add(target, key, vector)  # legacy data-only: field 1 is the same packed floats
    else:
        target[key] = _vector(vector)


def points_to_rest(points: Any) -> list[dict[str, Any]]:
    """A repeated ``PointStruct`` as REST point records: the upsert hot path.

    Same result as ``engine.to_rest`` on each point, but dense vectors of equal
    length are read from their wire bytes together.
    """
    decoder = _DenseDecoder()
    out: list[dict[str, Any]] = []
    point_id, value_to_py = values.point_id_to_py, values.value_to_py
    for message in points:
        point: dict[str, Any] = {"id": point_id(message.id)}
        vectors = message.vectors
        kind = vectors.WhichOneof("vectors_options") if message.HasField("vectors") else None
        if kind == "vector":
            _vector_into(point, "vector", vectors.vector, decoder)
        elif kind == "vectors":
            named: dict[str, Any] = {}
            for name, vector in vectors.vectors.vectors.items():
                _vector_into(named, name, vector, decoder)
            point["vector"] = named
        else:
            point["vector"] = {}
        payload = message.payload
        if len(payload):
            point["payload"] = {key: value_to_py(payload[key]) for key in payload}  # keys: faster than items()
        out.append(point)
    decoder.flush()
    return out


def _dense_blob(vector: Any) -> bytes | None:
    """The wire bytes of a plain dense vector (``dense`` or the legacy data-only form), else None."""
    kind = vector.WhichOneof("vector")
    if kind == "dense":
        return vector.dense.SerializeToString()
    if kind is None and not vector.HasField("indices") and not vector.HasField("vectors_count"):
        return vector.SerializeToString()
    return None


def _points_columns(points: Any) -> dict[str, Any] | None:
    """The REST column form ``{ids, vectors, payloads}`` with one float32 matrix per vector name.

    Only when every point has the same plain dense vectors, each name of one
    size and every value finite; otherwise None, and the record form (whose
    error messages name the point) is used instead.
    """
    count = len(points)
    if count < 2:
        return None
    point_id, value_to_py = values.point_id_to_py, values.value_to_py
    ids: list[Any] = []
    payloads: list[Any] = []
    blobs: dict[str, list[bytes]] = {}
    unnamed = False
    for message in points:
        ids.append(point_id(message.id))
        if not message.HasField("vectors"):
            return None
        vectors = message.vectors
        kind = vectors.WhichOneof("vectors_options")
        if kind == "vector":
            blob = _dense_blob(vectors.vector)
            if blob is None:
                return None
            blobs.setdefault("", []).append(blob)
            unnamed = True
        elif kind == "vectors":
            named = vectors.vectors.vectors
            for name in named:
                blob = _dense_blob(named[name])
                if blob is None:
                    return None
                blobs.setdefault(name, []).append(blob)
        else:
            return None
        payload = message.payload
        payloads.append({key: value_to_py(payload[key]) for key in payload} if len(payload) else None)
    if unnamed and len(blobs) > 1:
        return None  # some points unnamed, some named
    columns: dict[str, np.ndarray] = {}
    for name, rows in blobs.items():
        if len(rows) != count or len({len(blob) for blob in rows}) != 1:
            return None
        matrix = _packed_rows(rows)
        if matrix is None or not np.isfinite(matrix).all():
            return None
        columns[name] = matrix
    return {"ids": ids, "vectors": columns[""] if unnamed else columns, "payloads": payloads}


def points_body(points: Any) -> dict[str, Any]:
    """The points of an upsert as REST body keys: ``batch`` (columns) when possible, else ``points``."""
    columns = _points_columns(points)
    if columns is not None:
        return {"batch": columns}
    return {"points": points_to_rest(points)}


@engine.to_rest_override("PointVectors")
def _point_vectors(message: Any) -> Any:
    return {"id": values.point_id_to_py(message.id), "vector": engine.to_rest(message.vectors)}


# --------------------------------------------------------------------------- points in replies


def _fill_vector_output(message: Any, value: Any) -> None:
    if isinstance(value, dict):  # sparse
        message.sparse.indices.extend(value["indices"])
        message.sparse.values.extend(value["values"])
    elif value and isinstance(value[0], list):
        for row in value:
            message.multi_dense.vectors.add().data.extend(row)
    else:
        message.dense.data.extend(value)


@engine.filler("VectorsOutput")
def _fill_vectors_output(message: Any, value: Any) -> None:
    if isinstance(value, dict) and not ("indices" in value and "values" in value and len(value) == 2):
        named = message.vectors.vectors
        for name, vector in value.items():
            _fill_vector_output(named[name], vector)
        message.vectors.SetInParent()
    else:
        _fill_vector_output(message.vector, value)


@engine.filler("OrderValue")
def _fill_order_value(message: Any, value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        message.int = value
    else:
        message.float = float(value)


def _fill_point_common(message: Any, value: Any) -> None:
    values.fill_point_id(message.id, value["id"])
    payload = value.get("payload")
    if payload:
        values.fill_struct(message.payload, payload)
    vector = value.get("vector")
    if vector is not None:
        _fill_vectors_output(message.vectors, vector)
        message.vectors.SetInParent()
    shard_key = value.get("shard_key")
    if shard_key is not None:
        engine.fill(message.shard_key, shard_key)
    order_value = value.get("order_value")
    if order_value is not None:
        _fill_order_value(message.order_value, order_value)


@engine.filler("ScoredPoint")
def _fill_scored_point(message: Any, value: Any) -> None:
    """Written out field by field: search replies are the hottest path of the gRPC API."""
    _fill_point_common(message, value)
    score = value.get("score")
    if score is not None:
        message.score = score
    version = value.get("version")
    if version:
        message.version = version


@engine.filler("RetrievedPoint")
def _fill_retrieved_point(message: Any, value: Any) -> None:
    _fill_point_common(message, value)
