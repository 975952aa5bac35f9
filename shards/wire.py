"""Versioned encoding of everything the data plane sends between nodes.

A message is ``u8 format version | u32 header length | header JSON | vector blob``.
The header (orjson) holds the structure: a kind tag, ids, payloads, filters
(``Filter.to_json()``), selectors. Vectors are not in the JSON: each one is a
small spec in the header pointing into the blob, where it sits as raw
little-endian float32 (dense, multi-vector) or uint32 indices + float32 values
(sparse). That keeps a 1000x128 upsert at a few milliseconds each way and
makes round-trips bit-exact. Nothing is pickled: a peer can only make us build
the dataclasses below.

Vector specs (``pos`` is a byte offset into the blob):

    ["d", pos, dim]            1-D dense vector
    ["d", pos, rows, dim]      2-D multi-vector
    ["s", pos, n]              sparse: n uint32 indices, then n float32 values

Point ids stay JSON ints or strings, so an int id never comes back as a UUID
string or the reverse. Non-finite floats in our own fields (scores,
thresholds, order values) are written as strings, since JSON has no NaN.
Anything malformed raises :class:`BadInput`.
"""

from __future__ import annotations

import logging
import math
import struct
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
import orjson

from consensus.errors import BadInput
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
    UpdateOperation,
    UpdateVectors,
    UpsertPoints,
)
from shards.types import (
    PayloadSelector,
    PointId,
    PointStruct,
    Record,
    ScoredPoint,
    SparseVector,
    VectorSelector,
    VectorValue,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bumped whenever the layout of any message changes incompatibly."""

_PREFIX = struct.Struct("<BI")
_F32 = np.dtype("<f4")
_U32 = np.dtype("<u4")
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


class RetrieveArgs(NamedTuple):
    """The arguments of a shard's ``retrieve`` as they cross the wire."""

    ids: tuple[PointId, ...]
    with_payload: PayloadSelector
    with_vector: VectorSelector


# --------------------------------------------------------------------------- framing


class _Writer:
    """Collects vector blobs while the header is being built."""

    def __init__(self) -> None:
        self.blobs: list[bytes] = []
        self.size = 0

    def _add(self, data: bytes) -> None:
        self.blobs.append(data)
        self.size += len(data)

    def vector(self, value: VectorValue) -> list:
        pos = self.size
        if isinstance(value, SparseVector):
            indices = np.ascontiguousarray(value.indices, dtype=_U32)
            values = np.ascontiguousarray(value.values, dtype=_F32)
            if indices.ndim != 1 or indices.shape != values.shape:
                raise BadInput("sparse vector indices and values must be 1-D and of equal length")
            self._add(indices.tobytes())
            self._add(values.tobytes())
            return ["s", pos, int(indices.shape[0])]
        arr = np.ascontiguousarray(value, dtype=_F32)
        if arr.ndim not in (1, 2):
            raise BadInput(f"a dense vector must be 1-D or 2-D, got {arr.ndim} dimensions")
        self._add(arr.tobytes())
        return ["d", pos, *arr.shape]

    def vectors(self, vectors: dict[str, VectorValue] | None) -> dict[str, list] | None:
        if vectors is None:
            return None
        return {name: self.vector(value) for name, value in vectors.items()}

    def finish(self, header: dict[str, Any]) -> bytes:
        try:
            head = orjson.dumps(header)
        except (TypeError, orjson.JSONEncodeError) as exc:
            raise BadInput(f"cannot encode {header.get('k')} for the wire: {exc}") from exc
        return b"".join([_PREFIX.pack(FORMAT_VERSION, len(head)), head, *self.blobs])


class _Reader:
    """Parses the frame and hands out vectors from the blob."""

    def __init__(self, data: bytes, kind: str) -> None:
        if len(data) < _PREFIX.size:
            raise BadInput(f"wire message too short for {kind}")
        version, size = _PREFIX.unpack_from(data, 0)
        if version != FORMAT_VERSION:
            raise BadInput(f"unsupported wire format version {version} (this node speaks {FORMAT_VERSION})")
        start = _PREFIX.size
        try:
            self.header = orjson.loads(data[start : start + size])
        except orjson.JSONDecodeError as exc:
            raise BadInput(f"malformed wire header for {kind}: {exc}") from exc
        if not isinstance(self.header, dict) or self.header.get("k") != kind:
            got = self.header.get("k") if isinstance(self.header, dict) else None
            raise BadInput(f"expected a {kind} message on the wire, got {got!r}")
        self.blob = memoryview(data)[start + size :]

    def vector(self, spec: Any) -> VectorValue:
        try:
            tag, pos = spec[0], spec[1]
            if tag == "s":
                n = spec[2]
                indices = np.frombuffer(self.blob, dtype=_U32, count=n, offset=pos).astype(np.uint32)
                values = np.frombuffer(self.blob, dtype=_F32, count=n, offset=pos + 4 * n).astype(np.float32)
                return SparseVector(indices, values)
            if tag == "d":
                shape = tuple(spec[2:])
                if len(shape) not in (1, 2):
                    raise ValueError(f"bad shape {shape}")
                count = shape[0] if len(shape) == 1 else shape[0] * shape[1]
                arr = np.frombuffer(self.blob, dtype=_F32, count=count, offset=pos)
                # A copy: a view would pin the whole message in memory for as long as
                # the vector lives, and would be read-only.
                return arr.reshape(shape).astype(np.float32)
        except (TypeError, ValueError, IndexError) as exc:
            raise BadInput(f"malformed vector on the wire: {spec!r}: {exc}") from exc
        raise BadInput(f"unknown vector kind on the wire: {spec!r}")

    def vectors(self, specs: Any) -> dict[str, VectorValue] | None:
        if specs is None:
            return None
        if not isinstance(specs, dict):
            raise BadInput("vectors on the wire must be an object")
        return {name: self.vector(spec) for name, spec in specs.items()}


# --------------------------------------------------------------------------- small values


def _point_id(raw: Any) -> PointId:
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise BadInput(f"point id on the wire must be an integer or a string, got {raw!r}")
    return raw


def _ids(raw: Any) -> tuple[PointId, ...]:
    if not isinstance(raw, list):
        raise BadInput("point ids on the wire must be a list")
    return tuple(_point_id(i) for i in raw)


def _put_float(value: float | None) -> float | int | str | None:
    # Ints stay ints: an order value of an integer payload key is shown as one.
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    value = float(value)
    if math.isfinite(value):
        return value
    return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")


def _get_float(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, (int, float)) and not isinstance(raw, bool)):
        return raw
    if isinstance(raw, str) and raw in _NON_FINITE:
        return _NON_FINITE[raw]
    raise BadInput(f"expected a number on the wire, got {raw!r}")


def _put_filter(flt: Filter | None) -> dict | None:
    return None if flt is None else flt.to_json()


def _get_filter(raw: Any) -> Filter | None:
    if raw is None:
        return None
    if raw == {}:
        # parse_filter reads {} as "no filter"; the sender had an empty Filter.
        return Filter()
    return parse_filter(raw)


def _put_selector(selector: PointSelector) -> dict:
    ids = None if selector.ids is None else list(selector.ids)
    return {"ids": ids, "filter": _put_filter(selector.filter)}


def _get_selector(raw: Any) -> PointSelector:
    if not isinstance(raw, dict):
        raise BadInput("point selector on the wire must be an object")
    ids = raw.get("ids")
    return PointSelector(ids=None if ids is None else _ids(ids), filter=_get_filter(raw.get("filter")))


def _strings(raw: Any) -> tuple[str, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        raise BadInput("expected a list of strings on the wire")
    return tuple(raw)


def _put_payload_selector(selector: PayloadSelector) -> list:
    return [
        selector.enabled,
        None if selector.include is None else list(selector.include),
        None if selector.exclude is None else list(selector.exclude),
    ]


def _get_payload_selector(raw: Any) -> PayloadSelector:
    if not isinstance(raw, list) or len(raw) != 3:
        raise BadInput("payload selector on the wire must be [enabled, include, exclude]")
    return PayloadSelector(enabled=bool(raw[0]), include=_strings(raw[1]), exclude=_strings(raw[2]))


def _put_vector_selector(selector: VectorSelector) -> list:
    return [selector.enabled, None if selector.names is None else list(selector.names)]


def _get_vector_selector(raw: Any) -> VectorSelector:
    if not isinstance(raw, list) or len(raw) != 2:
        raise BadInput("vector selector on the wire must be [enabled, names]")
    return VectorSelector(enabled=bool(raw[0]), names=_strings(raw[1]))


def _payload(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise BadInput("payload on the wire must be an object")
    return raw


def _optional_payload(raw: Any) -> dict[str, Any] | None:
    return None if raw is None else _payload(raw)


# --------------------------------------------------------------------------- update operations


def _enc_upsert(op: UpsertPoints, w: _Writer) -> dict:
    return {
        "points": [[p.id, w.vectors(p.vectors), p.payload] for p in op.points],
        "update_filter": _put_filter(op.update_filter),
        "update_mode": op.update_mode,
    }


def _dec_upsert(h: dict, r: _Reader) -> UpsertPoints:
    points = tuple(
        PointStruct(id=_point_id(pid), vectors=r.vectors(vecs) or {}, payload=_payload(payload))
        for pid, vecs, payload in h["points"]
    )
    mode = h["update_mode"]
    if mode not in ("upsert", "insert_only", "update_only"):
        raise BadInput(f"unknown update_mode on the wire: {mode!r}")
    return UpsertPoints(points=points, update_filter=_get_filter(h["update_filter"]), update_mode=mode)


def _enc_update_vectors(op: UpdateVectors, w: _Writer) -> dict:
    return {
        "points": [[pid, w.vectors(vecs)] for pid, vecs in op.points],
        "update_filter": _put_filter(op.update_filter),
    }


def _dec_update_vectors(h: dict, r: _Reader) -> UpdateVectors:
    points = tuple((_point_id(pid), r.vectors(vecs) or {}) for pid, vecs in h["points"])
    return UpdateVectors(points=points, update_filter=_get_filter(h["update_filter"]))


_OP_CODECS: dict[type, tuple[str, Callable[[Any, _Writer], dict]]] = {
    UpsertPoints: ("upsert", _enc_upsert),
    DeletePoints: ("delete_points", lambda op, w: {"selector": _put_selector(op.selector)}),
    UpdateVectors: ("update_vectors", _enc_update_vectors),
    DeleteVectors: (
        "delete_vectors",
        lambda op, w: {"selector": _put_selector(op.selector), "names": list(op.names)},
    ),
    SetPayload: (
        "set_payload",
        lambda op, w: {"selector": _put_selector(op.selector), "payload": op.payload, "key": op.key},
    ),
    OverwritePayload: (
        "overwrite_payload",
        lambda op, w: {"selector": _put_selector(op.selector), "payload": op.payload},
    ),
    DeletePayload: (
        "delete_payload",
        lambda op, w: {"selector": _put_selector(op.selector), "keys": list(op.keys)},
    ),
    ClearPayload: ("clear_payload", lambda op, w: {"selector": _put_selector(op.selector)}),
}


def _dec_set_payload(h: dict, r: _Reader) -> SetPayload:
    key = h.get("key")
    if key is not None and not isinstance(key, str):
        raise BadInput("set_payload key on the wire must be a string")
    return SetPayload(selector=_get_selector(h["selector"]), payload=_payload(h["payload"]), key=key)


_OP_DECODERS: dict[str, Callable[[dict, _Reader], UpdateOperation]] = {
    "upsert": _dec_upsert,
    "delete_points": lambda h, r: DeletePoints(selector=_get_selector(h["selector"])),
    "update_vectors": _dec_update_vectors,
    "delete_vectors": lambda h, r: DeleteVectors(
        selector=_get_selector(h["selector"]), names=_strings(h["names"]) or ()
    ),
    "set_payload": _dec_set_payload,
    "overwrite_payload": lambda h, r: OverwritePayload(
        selector=_get_selector(h["selector"]), payload=_payload(h["payload"])
    ),
    "delete_payload": lambda h, r: DeletePayload(selector=_get_selector(h["selector"]), keys=_strings(h["keys"]) or ()),
    "clear_payload": lambda h, r: ClearPayload(selector=_get_selector(h["selector"])),
}


def encode_operation(op: UpdateOperation) -> bytes:
    """Encode one update operation for another node."""
    codec = _OP_CODECS.get(type(op))
    if codec is None:
        raise BadInput(f"cannot encode operation of type {type(op).__name__} for the wire")
    tag, encode = codec
    w = _Writer()
    header = encode(op, w)
    header["k"] = "op"
    header["t"] = tag
    return w.finish(header)


def decode_operation(data: bytes) -> UpdateOperation:
    """Inverse of :func:`encode_operation`."""
    r = _Reader(data, "op")
    decoder = _OP_DECODERS.get(r.header.get("t"))
    if decoder is None:
        raise BadInput(f"unknown operation type on the wire: {r.header.get('t')!r}")
    return _guard(decoder, r.header, r)


def _guard(fn: Callable[[dict, _Reader], Any], header: dict, reader: _Reader) -> Any:
    """Run a decoder, turning a structurally wrong header into BadInput."""
    try:
        return fn(header, reader)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"malformed {header.get('k')} message on the wire: {exc!r}") from exc


# --------------------------------------------------------------------------- read requests


def encode_search(request: SearchRequest) -> bytes:
    """Encode a shard search request."""
    w = _Writer()
    return w.finish(
        {
            "k": "search",
            "vector_name": request.vector_name,
            "query": w.vector(request.query),
            "limit": request.limit,
            "offset": request.offset,
            "filter": _put_filter(request.filter),
            "score_threshold": _put_float(request.score_threshold),
            "with_payload": _put_payload_selector(request.with_payload),
            "with_vector": _put_vector_selector(request.with_vector),
            "hnsw_ef": request.hnsw_ef,
            "exact": request.exact,
            "idf": None if request.idf_stats is None else _put_idf_stats(request.idf_stats),
        }
    )


def _put_idf_stats(stats: tuple[int, dict[int, int]]) -> list:
    num_docs, doc_freq = stats
    return [int(num_docs), [[int(dim), int(n)] for dim, n in doc_freq.items()]]


def _get_idf_stats(raw: Any) -> tuple[int, dict[int, int]] | None:
    if raw is None:
        return None
    num_docs, pairs = raw
    return int(num_docs), {int(dim): int(n) for dim, n in pairs}


def encode_sparse_stats_request(vector_name: str, indices: Sequence[int]) -> bytes:
    """Ask a shard for IDF statistics of ``indices`` of its sparse vector ``vector_name``."""
    return _Writer().finish({"k": "sparse_stats_req", "vector_name": vector_name, "indices": [int(i) for i in indices]})


def decode_sparse_stats_request(data: bytes) -> tuple[str, list[int]]:
    """Inverse of :func:`encode_sparse_stats_request`."""
    r = _Reader(data, "sparse_stats_req")
    return _guard(lambda h, _: (str(h["vector_name"]), [int(i) for i in h["indices"]]), r.header, r)


def encode_sparse_stats(stats: tuple[int, dict[int, int]]) -> bytes:
    """Encode ``(num_docs, {dimension: doc_frequency})``."""
    return _Writer().finish({"k": "sparse_stats", "stats": _put_idf_stats(stats)})


def decode_sparse_stats(data: bytes) -> tuple[int, dict[int, int]]:
    """Inverse of :func:`encode_sparse_stats`."""
    r = _Reader(data, "sparse_stats")
    return _guard(lambda h, _: _get_idf_stats(h["stats"]), r.header, r)


def _dec_search(h: dict, r: _Reader) -> SearchRequest:
    return SearchRequest(
        vector_name=h["vector_name"],
        query=r.vector(h["query"]),
        limit=int(h["limit"]),
        offset=int(h["offset"]),
        filter=_get_filter(h["filter"]),
        score_threshold=_get_float(h["score_threshold"]),
        with_payload=_get_payload_selector(h["with_payload"]),
        with_vector=_get_vector_selector(h["with_vector"]),
        hnsw_ef=h["hnsw_ef"],
        exact=bool(h["exact"]),
        idf_stats=_get_idf_stats(h.get("idf")),
    )


def decode_search(data: bytes) -> SearchRequest:
    """Inverse of :func:`encode_search`."""
    r = _Reader(data, "search")
    return _guard(_dec_search, r.header, r)


def encode_scroll(request: ScrollRequest) -> bytes:
    """Encode a shard scroll request."""
    order = request.order_by
    return _Writer().finish(
        {
            "k": "scroll",
            "filter": _put_filter(request.filter),
            "limit": request.limit,
            "offset": request.offset,
            "with_payload": _put_payload_selector(request.with_payload),
            "with_vector": _put_vector_selector(request.with_vector),
            "order_by": None if order is None else [order.key, order.direction, _put_float(order.start_from)],
        }
    )


def _dec_scroll(h: dict, r: _Reader) -> ScrollRequest:
    order = h["order_by"]
    order_by = None
    if order is not None:
        key, direction, start_from = order
        if direction not in ("asc", "desc"):
            raise BadInput(f"unknown order direction on the wire: {direction!r}")
        order_by = OrderBy(key=key, direction=direction, start_from=_get_float(start_from))
    offset = h["offset"]
    return ScrollRequest(
        filter=_get_filter(h["filter"]),
        limit=int(h["limit"]),
        offset=None if offset is None else _point_id(offset),
        with_payload=_get_payload_selector(h["with_payload"]),
        with_vector=_get_vector_selector(h["with_vector"]),
        order_by=order_by,
    )


def decode_scroll(data: bytes) -> ScrollRequest:
    """Inverse of :func:`encode_scroll`."""
    r = _Reader(data, "scroll")
    return _guard(_dec_scroll, r.header, r)


def encode_count(request: CountRequest) -> bytes:
    """Encode a shard count request."""
    return _Writer().finish({"k": "count", "filter": _put_filter(request.filter), "exact": request.exact})


def decode_count(data: bytes) -> CountRequest:
    """Inverse of :func:`encode_count`."""
    r = _Reader(data, "count")
    return _guard(lambda h, _: CountRequest(filter=_get_filter(h["filter"]), exact=bool(h["exact"])), r.header, r)


def encode_retrieve(
    ids: Sequence[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
) -> bytes:
    """Encode the arguments of a shard's ``retrieve``."""
    return _Writer().finish(
        {
            "k": "retrieve",
            "ids": list(ids),
            "with_payload": _put_payload_selector(with_payload),
            "with_vector": _put_vector_selector(with_vector),
        }
    )


def decode_retrieve(data: bytes) -> RetrieveArgs:
    """Inverse of :func:`encode_retrieve`; ids come back as a tuple."""
    r = _Reader(data, "retrieve")
    return _guard(
        lambda h, _: RetrieveArgs(
            _ids(h["ids"]), _get_payload_selector(h["with_payload"]), _get_vector_selector(h["with_vector"])
        ),
        r.header,
        r,
    )


# --------------------------------------------------------------------------- results


def encode_records(records: Sequence[Record]) -> bytes:
    """Encode stored points as read back (retrieve, scroll, shard transfer batches)."""
    w = _Writer()
    rows = [
        [rec.id, rec.version, w.vectors(rec.vectors), rec.payload, _put_float(rec.order_value)]
        for rec in records
    ]
    return w.finish({"k": "records", "records": rows})


def _dec_records(h: dict, r: _Reader) -> list[Record]:
    return [
        Record(
            id=_point_id(pid),
            version=int(version),
            vectors=r.vectors(vecs),
            payload=_optional_payload(payload),
            order_value=_get_float(order_value),
        )
        for pid, version, vecs, payload, order_value in h["records"]
    ]


def decode_records(data: bytes) -> list[Record]:
    """Inverse of :func:`encode_records`."""
    r = _Reader(data, "records")
    return _guard(_dec_records, r.header, r)


def encode_scored(points: Sequence[ScoredPoint]) -> bytes:
    """Encode search hits."""
    w = _Writer()
    rows = [[p.id, p.version, _put_float(p.score), p.payload, w.vectors(p.vectors)] for p in points]
    return w.finish({"k": "scored", "points": rows})


def _dec_scored(h: dict, r: _Reader) -> list[ScoredPoint]:
    out = []
    for pid, version, score, payload, vecs in h["points"]:
        value = _get_float(score)
        if value is None:
            raise BadInput("a scored point on the wire has no score")
        out.append(
            ScoredPoint(
                id=_point_id(pid),
                version=int(version),
                score=float(value),
                payload=_optional_payload(payload),
                vectors=r.vectors(vecs),
            )
        )
    return out


def decode_scored(data: bytes) -> list[ScoredPoint]:
    """Inverse of :func:`encode_scored`."""
    r = _Reader(data, "scored")
    return _guard(_dec_scored, r.header, r)


def encode_int(value: int) -> bytes:
    """Encode an integer result (a count, an operation number)."""
    return _Writer().finish({"k": "int", "value": int(value)})


def decode_int(data: bytes) -> int:
    """Inverse of :func:`encode_int`."""
    value = _Reader(data, "int").header.get("value")
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadInput(f"expected an integer result on the wire, got {value!r}")
    return value
