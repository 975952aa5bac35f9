"""Conversions of the read/query family of ``qdrant.Points``: search, recommend, discover, query,
groups, facets and the distance matrix.

Requests become the REST bodies the REST handlers parse (``SearchRequest``,
``RecommendRequest``, ``DiscoverRequest``, ``QueryRequest``, ...); replies are
filled from the REST results. Shared pieces (ids, filters, selectors, vectors,
scored points) come from :mod:`transport.grpc_api.convert_points`, reached
through :func:`engine.to_rest` / :func:`engine.fill`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from consensus.errors import BadInput
from transport.grpc_api import common, convert_points, engine, values  # noqa: F401  (registers shared overrides)

logger = logging.getLogger(__name__)

# REST spells these enums in snake case; the generic rule would drop the underscores.
engine.enum_spelling(
    "RecommendStrategy", {"AverageVector": "average_vector", "BestScore": "best_score", "SumScores": "sum_scores"}
)
engine.rename("LookupLocation", collection_name="collection", vector_name="vector", shard_key_selector="shard_key")


def plain(value: Any) -> Any:
    """A REST value with numpy arrays turned into lists (the REST parsers expect JSON types)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def f32(value: float) -> float:
    """A float32 wire value as the shortest decimal that round-trips (0.1, not 0.10000000149...)."""
    return float(str(np.float32(value)))


def _set_f32(body: dict[str, Any], *keys: str) -> None:
    for key in keys:
        if isinstance(body.get(key), float):
            body[key] = f32(body[key])


def request_body(message: Any, *skip: str) -> dict[str, Any]:
    """``common.body_of`` with float32 fields made decimal and numpy arrays made lists."""
    body = common.body_of(message, *skip)
    _set_f32(body, "score_threshold")
    return plain(body)


# --------------------------------------------------------------------------- query inputs


@engine.to_rest_override("VectorInput")
def _vector_input(message: Any) -> Any:
    kind = message.WhichOneof("variant")
    if kind is None:
        raise BadInput("VectorInput: no variant set")
    if kind == "id":
        return values.point_id_to_py(message.id)
    return plain(engine.to_rest(getattr(message, kind)))


@engine.to_rest_override("ContextInput")
def _context_input(message: Any) -> Any:
    return [engine.to_rest(pair) for pair in message.pairs]


def _mmr(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if message.HasField("diversity"):
        out["diversity"] = f32(message.diversity)
    if message.HasField("candidates_limit"):
        out["candidates_limit"] = message.candidates_limit
    return out


@engine.to_rest_override("Query")
def _query(message: Any) -> Any:
    kind = message.WhichOneof("variant")
    if kind is None:
        raise BadInput("Query: no variant set")
    inner = getattr(message, kind)
    if kind == "fusion":
        return {"fusion": engine.enum_to_rest(message.DESCRIPTOR.fields_by_name["fusion"].enum_type, inner)}
    if kind == "sample":
        return {"sample": engine.enum_to_rest(message.DESCRIPTOR.fields_by_name["sample"].enum_type, inner)}
    if kind == "formula":
        return engine.to_rest(inner)
    if kind == "nearest_with_mmr":
        return {"nearest": engine.to_rest(inner.nearest), "mmr": _mmr(inner.mmr)}
    if kind == "rrf":
        rrf: dict[str, Any] = {}
        if inner.HasField("k"):
            rrf["k"] = inner.k
        if len(inner.weights):
            rrf["weights"] = [f32(w) for w in inner.weights]
        return {"rrf": rrf}
    return {kind: engine.to_rest(inner)}


# --------------------------------------------------------------------------- formulas


@engine.to_rest_override("Formula")
def _formula(message: Any) -> Any:
    out: dict[str, Any] = {"formula": engine.to_rest(message.expression)}
    if message.defaults:
        out["defaults"] = values.struct_to_py(message.defaults)
    return out


_UNARY = ("neg", "abs", "sqrt", "exp", "log10", "ln", "acosh")
_LISTS = ("mult", "sum", "max", "min")
_DECAYS = ("exp_decay", "gauss_decay", "lin_decay")


@engine.to_rest_override("Expression")
def _expression(message: Any) -> Any:
    kind = message.WhichOneof("variant")
    if kind is None:
        raise BadInput("Expression: no variant set")
    inner = getattr(message, kind)
    if kind == "constant":
        return f32(inner)
    if kind == "variable":
        return inner
    if kind == "condition":
        return engine.to_rest(inner)
    if kind in ("datetime", "datetime_key"):
        return {kind: inner}
    if kind in _UNARY:
        return {kind: engine.to_rest(inner)}
    if kind in _LISTS:
        return {kind: [engine.to_rest(item) for item in getattr(inner, kind)]}
    if kind == "div":
        div: dict[str, Any] = {"left": engine.to_rest(inner.left), "right": engine.to_rest(inner.right)}
        if inner.HasField("by_zero_default"):
            div["by_zero_default"] = f32(inner.by_zero_default)
        return {"div": div}
    if kind == "pow":
        return {"pow": {"base": engine.to_rest(inner.base), "exponent": engine.to_rest(inner.exponent)}}
    if kind == "geo_distance":
        origin = {"lon": inner.origin.lon, "lat": inner.origin.lat}
        return {"geo_distance": {"origin": origin, "to": inner.to}}
    if kind in _DECAYS:
        decay: dict[str, Any] = {"x": engine.to_rest(inner.x)}
        if inner.HasField("target"):
            decay["target"] = engine.to_rest(inner.target)
        for name in ("scale", "midpoint"):
            if inner.HasField(name):
                decay[name] = f32(getattr(inner, name))
        return {kind: decay}
    raise BadInput(f"Expression: unsupported variant {kind}")


# --------------------------------------------------------------------------- legacy requests


def _named_query_vector(vector: Any, vector_name: str | None, sparse_indices: Any) -> Any:
    """``vector`` of a legacy SearchRequest: a plain list, ``{name, vector}`` or a named sparse vector."""
    data = [float(x) for x in np.asarray(vector, dtype=np.float32).tolist()] if len(vector) else []
    if sparse_indices is not None:
        return {"name": vector_name or "", "vector": {"indices": list(sparse_indices.data), "values": data}}
    if vector_name:
        return {"name": vector_name, "vector": data}
    return data


def search_body(message: Any) -> dict[str, Any]:
    """``SearchPoints`` / ``SearchPointGroups`` as a REST ``SearchRequest`` (plus group fields)."""
    body = request_body(message, "vector", "vector_name", "sparse_indices")
    vector_name = message.vector_name if message.HasField("vector_name") else None
    sparse = message.sparse_indices if message.HasField("sparse_indices") else None
    body["vector"] = _named_query_vector(message.vector, vector_name, sparse)
    return body


def _examples(ids: Any, vectors: Any) -> list[Any]:
    return [values.point_id_to_py(i) for i in ids] + [plain(engine.to_rest(v)) for v in vectors]


def recommend_body(message: Any) -> dict[str, Any]:
    """``RecommendPoints`` / ``RecommendPointGroups`` as a REST ``RecommendRequest``."""
    body = request_body(message, "positive", "negative", "positive_vectors", "negative_vectors")
    body["positive"] = _examples(message.positive, message.positive_vectors)
    body["negative"] = _examples(message.negative, message.negative_vectors)
    return body


@engine.to_rest_override("VectorExample")
def _vector_example(message: Any) -> Any:
    kind = message.WhichOneof("example")
    if kind == "id":
        return values.point_id_to_py(message.id)
    if kind == "vector":
        return plain(engine.to_rest(message.vector))
    raise BadInput("VectorExample: no example set")


@engine.to_rest_override("TargetVector")
def _target_vector(message: Any) -> Any:
    if message.WhichOneof("target") != "single":
        raise BadInput("TargetVector: no target set")
    return engine.to_rest(message.single)


def discover_body(message: Any) -> dict[str, Any]:
    """``DiscoverPoints`` as a REST ``DiscoverRequest`` (context pairs via the generic walk)."""
    body = request_body(message)
    body.setdefault("context", [])
    return body


def query_body(message: Any) -> dict[str, Any]:
    """``QueryPoints`` / ``QueryPointGroups`` as a REST ``QueryRequest``."""
    body = request_body(message)
    for stage in _stages(body):
        _set_f32(stage, "score_threshold")
    return body


def _stages(body: Any):
    yield body
    for prefetch in body.get("prefetch", []) or []:
        yield from _stages(prefetch)


def batch_body(messages: Any, convert: Any) -> dict[str, Any]:
    """A gRPC batch as the REST ``{"searches": [...]}``; the batch's collection and consistency apply to all."""
    return {"searches": [convert(inner) for inner in messages]}


# --------------------------------------------------------------------------- replies


def fill_scored(reply: Any, hits: list[Any]) -> None:
    """``reply.result`` (repeated ScoredPoint) from a REST list of scored points."""
    for hit in hits or []:
        engine.fill(reply.result.add(), hit)


def fill_batch(reply: Any, batches: list[list[Any]]) -> None:
    """``reply.result`` (repeated BatchResult) from a REST list of lists of scored points."""
    for hits in batches or []:
        fill_scored(reply.result.add(), hits)


@engine.filler("GroupId")
def _fill_group_id(message: Any, value: Any) -> None:
    if isinstance(value, str):
        message.string_value = value
    elif isinstance(value, int) and not isinstance(value, bool):
        if value >= 0:
            message.unsigned_value = value
        else:
            message.integer_value = value
    else:
        message.string_value = str(value)


@engine.filler("FacetValue")
def _fill_facet_value(message: Any, value: Any) -> None:
    if isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        message.integer_value = value
    else:
        message.string_value = str(value)


__all__ = [
    "batch_body",
    "discover_body",
    "f32",
    "fill_batch",
    "fill_scored",
    "plain",
    "query_body",
    "recommend_body",
    "request_body",
    "search_body",
]
