"""Turn decoded REST bodies of point reads (retrieve, scroll, count, query) into domain requests.

Pure functions; errors are :class:`BadInput` with Qdrant's wording (see
``transport.rest.vector_parsing``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional

from consensus.errors import BadInput
from shards.conditions import parse_datetime_micros
from shards.formula import Formula, parse_formula
from shards.operations import CountRequest, OrderBy, ScrollRequest, SearchRequest
from shards.lookup import LookupLocation
from shards.mmr import DEFAULT_DIVERSITY, MAX_CANDIDATES_LIMIT, Mmr
from shards.query_plan import DEFAULT_RRF_K, Fusion, QueryPlan
from shards.recommend import ExploreQuery
from shards.types import DEFAULT_VECTOR, PayloadSelector, PointId, VectorSelector, parse_point_id
from transport.rest.explore_parsing import parse_explore_query, parse_lookup_from
from transport.rest.vector_parsing import (
    VectorSchema,
    format_error,
    inference_error,
    is_inference_object,
    not_supported,
    parse_bool,
    parse_filter_field,
    parse_optional_uint,
    parse_point_ids,
    parse_uint,
    parse_vector_value,
    require_field,
    require_object,
    type_error,
    validation_error,
    vector_name_error,
    wrong_input,
)

DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class ParsedQuery:
    """A parsed ``POST /points/query``, in one of three shapes.

    * nearest to a given vector: ``request.query`` is set and ``by_id`` is None;
    * nearest to a stored point: ``request.query`` is None and ``by_id`` names
      the point. The caller reads that point's ``request.vector_name`` vector
      (NotFound if missing), puts it in ``request.query`` with
      ``dataclasses.replace`` and, like Qdrant, leaves the point itself out of
      the results;
    * no query at all: both are None. Qdrant then returns the points matching
      ``request.filter`` in id order with score 0, honouring ``limit`` and
      ``offset`` (:attr:`is_scroll`).
    """

    request: SearchRequest
    by_id: Optional[PointId] = None
    fusion: Optional[Fusion] = None
    prefetches: tuple[QueryPlan, ...] = ()
    formula: Optional[Formula] = None
    sample: bool = False
    mmr: Optional[Mmr] = None
    lookup: Optional[LookupLocation] = None
    order_by: Optional[OrderBy] = None

    @property
    def is_scroll(self) -> bool:
        """True when the body had no ``query``: list points by id instead of searching."""
        return self.request.query is None and self.by_id is None and not self.is_multi_stage

    @property
    def is_multi_stage(self) -> bool:
        """True with ``prefetch`` or a fusion query: run it with ``shards.query_plan.run_query``."""
        return (
            bool(self.prefetches)
            or self.fusion is not None
            or self.formula is not None
            or self.sample
            or self.mmr is not None
            or self.order_by is not None
            or (self.lookup is not None and self.by_id is not None)
        )

    def plan(self) -> QueryPlan:
        return QueryPlan(
            request=self.request,
            by_id=self.by_id,
            fusion=self.fusion,
            prefetches=self.prefetches,
            formula=self.formula,
            sample=self.sample,
            mmr=self.mmr,
            lookup=self.lookup,
            order_by=self.order_by,
        )


# --------------------------------------------------------------------------- selectors


def parse_with_payload(
    raw: Any, default: PayloadSelector = PayloadSelector(), where: str = "with_payload"
) -> PayloadSelector:
    """``with_payload``: a bool, a list of keys, ``{"include": [...]}`` or ``{"exclude": [...]}``.

    Null gives ``default`` (true for retrieve and scroll, false for query).
    """
    if raw is None:
        return default
    if isinstance(raw, bool):
        return PayloadSelector(enabled=raw)
    if isinstance(raw, list):
        return PayloadSelector(include=_strings(raw, where))
    if isinstance(raw, dict) and len(raw) == 1:
        if "include" in raw:
            return PayloadSelector(include=_strings(raw["include"], f"{where}.include"))
        if "exclude" in raw:
            return PayloadSelector(exclude=_strings(raw["exclude"], f"{where}.exclude"))
    raise format_error(
        "data did not match any variant of untagged enum WithPayloadInterface: "
        "expected a boolean, a list of keys, {\"include\": [...]} or {\"exclude\": [...]}",
        where,
    )


def parse_with_vector(
    raw: Any, default: VectorSelector = VectorSelector(), where: str = "with_vector"
) -> VectorSelector:
    """``with_vector``: a bool or a list of vector names; null gives ``default``."""
    if raw is None:
        return default
    if isinstance(raw, bool):
        return VectorSelector(enabled=raw)
    if isinstance(raw, list):
        return VectorSelector(enabled=True, names=_strings(raw, where))
    raise format_error(
        "data did not match any variant of untagged enum WithVector: "
        "expected a boolean or a list of vector names",
        where,
    )


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, str) for item in raw):
        raise type_error(raw, "a sequence of strings", where)
    return tuple(raw)


def _with_vector_field(body: dict[str, Any]) -> Any:
    """``with_vector``, or its alias ``with_vectors``."""
    raw = body.get("with_vector")
    return body.get("with_vectors") if raw is None else raw


def _body(body: Any) -> dict[str, Any]:
    """Read requests may come without a body; that is the same as ``{}``."""
    return {} if body is None else require_object(body)


# --------------------------------------------------------------------------- retrieve, scroll, count


def parse_retrieve(body: Any) -> tuple[tuple[PointId, ...], PayloadSelector, VectorSelector]:
    """``POST /points``: ``{"ids", "with_payload" (default true), "with_vector" (default false)}``."""
    body = require_object(body)
    ids = parse_point_ids(require_field(body, "ids"), "ids")
    return (
        ids,
        parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=True)),
        parse_with_vector(_with_vector_field(body), VectorSelector(enabled=False)),
    )


def parse_scroll(body: Any) -> ScrollRequest:
    """``POST /points/scroll``: filter, limit (default 10), offset id, selectors and ``order_by``."""
    body = _body(body)
    offset_raw = body.get("offset")
    offset = parse_point_id(offset_raw) if offset_raw is not None else None
    order_by = _parse_order_by(body.get("order_by"))
    if order_by is not None and offset is not None:
        raise wrong_input(
            "Cannot use an `offset` when using `order_by`. The alternative for paging is to use "
            "`order_by.start_from` and a filter to exclude the IDs that you've already seen for the "
            "`order_by.start_from` value"
        )
    return ScrollRequest(
        filter=parse_filter_field(body.get("filter")),
        limit=parse_uint(body.get("limit"), "limit", default=DEFAULT_LIMIT, minimum=1),
        offset=offset,
        with_payload=parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=True)),
        with_vector=parse_with_vector(_with_vector_field(body), VectorSelector(enabled=False)),
        order_by=order_by,
    )


def _parse_order_by(raw: Any, where: str = "order_by") -> Optional[OrderBy]:
    """A payload key, or ``{key, direction, start_from}``; ``where`` names it in errors.

    A datetime ``start_from`` becomes seconds since the Unix epoch, the unit
    ``PayloadIndexes.order_by`` takes for datetime fields.
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        return OrderBy(key=raw)
    if not isinstance(raw, dict):
        raise format_error("Expected a string, or an object with a key, direction and/or start_from", where)
    key = require_field(raw, "key", where)
    if not isinstance(key, str):
        raise type_error(key, "a string", f"{where}.key")
    direction = raw.get("direction")
    if direction is None:
        direction = "asc"
    elif direction not in ("asc", "desc"):
        raise format_error(f"unknown variant `{direction}`, expected `asc` or `desc`", f"{where}.direction")
    start_raw = raw.get("start_from")
    start_from: Optional[float]
    if start_raw is None:
        start_from = None
    elif isinstance(start_raw, bool):
        raise type_error(start_raw, "a number or a datetime", f"{where}.start_from")
    elif isinstance(start_raw, (int, float)):
        start_from = float(start_raw)
    elif isinstance(start_raw, str) and (micros := parse_datetime_micros(start_raw)) is not None:
        start_from = micros / 1_000_000
    else:
        raise type_error(start_raw, "a number or an RFC 3339 datetime", f"{where}.start_from")
    return OrderBy(key=key, direction=direction, start_from=start_from)


def parse_count(body: Any) -> CountRequest:
    """``POST /points/count``: ``{"filter"?, "exact" (default true)}``."""
    body = _body(body)
    return CountRequest(
        filter=parse_filter_field(body.get("filter")),
        exact=parse_bool(body.get("exact"), "exact", default=True),
    )


# --------------------------------------------------------------------------- query


_UNSUPPORTED_QUERY_KINDS = ("relevance_feedback",)


def parse_query(body: Any, schema: VectorSchema) -> ParsedQuery:
    """``POST /points/query`` with a nearest-neighbour or fusion query (or none), and prefetches.

    ``query`` may be a dense vector, a multi-vector, a sparse ``{indices, values}``,
    a point id, any of those wrapped in ``{"nearest": ...}``, ``{"fusion": "rrf" | "dbsf"}``
    or ``{"rrf": {"k", "weights"}}``. ``prefetch`` is one stage object or a list of
    them, nested to any depth. ``{"nearest": ..., "mmr": {...}}`` re-ranks with MMR;
    ``lookup_from`` (per stage) says where example ids are read.
    """
    body = _body(body)
    plan = _parse_stage(body, schema, "", root=True)
    return ParsedQuery(
        request=plan.request,
        by_id=plan.by_id,
        fusion=plan.fusion,
        prefetches=plan.prefetches,
        formula=plan.formula,
        sample=plan.sample,
        mmr=plan.mmr,
        lookup=plan.lookup,
        order_by=plan.order_by,
    )


def _parse_stage(body: dict[str, Any], schema: VectorSchema, prefix: str, root: bool) -> QueryPlan:
    """The root request (``root``) or one prefetch; ``prefix`` names its place in error messages."""
    lookup = parse_lookup_from(body.get("lookup_from"), f"{prefix}lookup_from")
    prefetches = _parse_prefetches(body.get("prefetch"), schema, f"{prefix}prefetch")
    using = body.get("using")
    if using is None:
        using = DEFAULT_VECTOR
    elif not isinstance(using, str):
        raise type_error(using, "a string", f"{prefix}using")
    raw_query = body.get("query")
    fusion = _parse_fusion(raw_query, f"{prefix}query")
    formula, sample = _parse_formula_or_sample(raw_query, f"{prefix}query")
    order_by = _parse_order_by_query(raw_query, f"{prefix}query")
    mmr: Optional[Mmr] = None
    if order_by is not None:
        query, by_id = None, None
    elif formula is not None:
        if not prefetches:
            raise wrong_input("Formula queries need at least one prefetch: there is nothing to score")
        query, by_id = None, None
    elif sample:
        query, by_id = None, None
    elif fusion is not None:
        if not prefetches:
            raise wrong_input("Fusion queries need at least one prefetch: there is nothing to fuse")
        query, by_id = None, None
    else:
        query, by_id, mmr = _parse_query_interface(raw_query, using, schema, f"{prefix}query")
        if isinstance(query, ExploreQuery) and lookup is not None:
            query = replace(query, lookup=lookup)
        if prefetches and query is None and by_id is None:
            raise wrong_input("A query is needed to merge the prefetches. Can't have prefetches without a query.")
    hnsw_ef, exact = _parse_search_params(body.get("params"), f"{prefix}params")
    request = SearchRequest(
        vector_name=using,
        query=query,  # type: ignore[arg-type]  # None for by-id, fusion and scroll-like queries
        limit=parse_uint(body.get("limit"), f"{prefix}limit", default=DEFAULT_LIMIT, minimum=1),
        offset=parse_uint(body.get("offset"), "offset", default=0) if root else 0,
        filter=parse_filter_field(body.get("filter")),
        score_threshold=_optional_number(body.get("score_threshold"), f"{prefix}score_threshold"),
        with_payload=(
            parse_with_payload(body.get("with_payload"), PayloadSelector(enabled=False))
            if root
            else PayloadSelector(enabled=False)
        ),
        with_vector=(
            parse_with_vector(_with_vector_field(body), VectorSelector(enabled=False))
            if root
            else VectorSelector(enabled=False)
        ),
        hnsw_ef=hnsw_ef,
        exact=exact,
    )
    return QueryPlan(
        request=request,
        by_id=by_id,
        fusion=fusion,
        prefetches=prefetches,
        formula=formula,
        sample=sample,
        mmr=mmr,
        lookup=lookup,
        order_by=order_by,
    )


def _parse_order_by_query(raw: Any, where: str) -> Optional[OrderBy]:
    """``{"order_by": <key> | {key, direction?, start_from?}}``; None for other queries."""
    if not isinstance(raw, dict) or "order_by" not in raw:
        return None
    if raw["order_by"] is None:
        raise format_error("invalid type: null, expected a string or struct OrderBy", f"{where}.order_by")
    return _parse_order_by(raw["order_by"], f"{where}.order_by")


def _parse_formula_or_sample(raw: Any, where: str) -> tuple[Optional[Formula], bool]:
    """``{"formula": <expression>, "defaults"?: {...}}`` or ``{"sample": "random"}``."""
    if not isinstance(raw, dict):
        return None, False
    if "formula" in raw:
        for key in raw:
            if key not in ("formula", "defaults"):
                raise format_error(f"unknown field `{key}`, expected `formula` or `defaults`", where)
        if raw["formula"] is None:
            raise format_error("invalid type: null, expected an expression", f"{where}.formula")
        return parse_formula(raw["formula"], raw.get("defaults"), f"{where}.formula"), False
    if "sample" in raw:
        if raw["sample"] != "random":
            raise format_error(f"unknown variant `{raw['sample']}`, expected `random`", f"{where}.sample")
        return None, True
    return None, False


def _parse_prefetches(raw: Any, schema: VectorSchema, where: str) -> tuple[QueryPlan, ...]:
    """``prefetch``: null, one object or a list of objects."""
    if raw is None:
        return ()
    if isinstance(raw, dict):
        return (_parse_stage(raw, schema, f"{where}.", root=False),)
    if isinstance(raw, list):
        out = []
        for index, item in enumerate(raw):
            if not isinstance(item, dict):
                raise type_error(item, "struct Prefetch", f"{where}[{index}]")
            out.append(_parse_stage(item, schema, f"{where}[{index}].", root=False))
        return tuple(out)
    raise type_error(raw, "struct Prefetch or a sequence of them", where)


def _parse_fusion(raw: Any, where: str) -> Optional[Fusion]:
    """``{"fusion": "rrf" | "dbsf"}`` or ``{"rrf": {"k"?, "weights"?}}``; None for other queries."""
    if not isinstance(raw, dict):
        return None
    if "fusion" in raw:
        method = raw["fusion"]
        if method not in ("rrf", "dbsf"):
            raise format_error(f"unknown variant `{method}`, expected `rrf` or `dbsf`", f"{where}.fusion")
        return Fusion(method=method)
    if "rrf" in raw:
        params = require_object(raw["rrf"] if raw["rrf"] is not None else {}, f"{where}.rrf")
        k = parse_uint(params.get("k"), f"{where}.rrf.k", default=DEFAULT_RRF_K, minimum=1)
        weights_raw = params.get("weights")
        weights: Optional[tuple[float, ...]] = None
        if weights_raw is not None:
            if not isinstance(weights_raw, list):
                raise type_error(weights_raw, "a sequence of f32", f"{where}.rrf.weights")
            weights = tuple(
                _optional_number(w, f"{where}.rrf.weights[{i}]") for i, w in enumerate(weights_raw)  # type: ignore[misc]
            )
            if any(w is None for w in weights):
                raise type_error(None, "f32", f"{where}.rrf.weights")
        return Fusion(method="rrf", k=k, weights=weights)
    return None


def _parse_query_interface(
    raw: Any, using: str, schema: VectorSchema, where: str = "query"
) -> tuple[Any, Optional[PointId], Optional[Mmr]]:
    """``(vector, None, mmr)``, ``(None, point_id, mmr)`` or ``(None, None, None)`` when there is no query."""
    if raw is None:
        return None, None, None
    if isinstance(raw, dict):
        if "nearest" in raw:
            mmr = _parse_mmr(raw.get("mmr"), f"{where}.mmr")
            return (*_parse_vector_input(raw["nearest"], using, schema, f"{where}.nearest"), mmr)
        explore = parse_explore_query(raw, using, schema, where)  # recommend, discover, context
        if explore is not None:
            return explore, None, None
        for kind in _UNSUPPORTED_QUERY_KINDS:
            if kind in raw:
                raise not_supported(f"The `{kind}` query")
    return (*_parse_vector_input(raw, using, schema, where), None)


def _parse_mmr(raw: Any, where: str) -> Optional[Mmr]:
    """``{"diversity"?: 0..1 (default 0.5), "candidates_limit"?: 0..16384 (default: limit)}``."""
    if raw is None:
        return None
    body = require_object(raw, where)
    for key in body:
        if key not in ("diversity", "candidates_limit"):
            raise format_error(f"unknown field `{key}`, expected `diversity` or `candidates_limit`", where)
    diversity = _optional_number(body.get("diversity"), f"{where}.diversity")
    if diversity is None:
        diversity = DEFAULT_DIVERSITY
    elif not 0.0 <= diversity <= 1.0:
        raise validation_error(f"{where}.diversity", "value must be between 0.0 and 1.0")
    limit = parse_optional_uint(body.get("candidates_limit"), f"{where}.candidates_limit")
    if limit is not None and limit > MAX_CANDIDATES_LIMIT:
        raise validation_error(
            f"{where}.candidates_limit", f"value {limit} invalid, must be {MAX_CANDIDATES_LIMIT} or less"
        )
    return Mmr(diversity=diversity, candidates_limit=limit)


def _parse_vector_input(
    raw: Any, using: str, schema: VectorSchema, where: str
) -> tuple[Any, Optional[PointId]]:
    if isinstance(raw, bool) or raw is None:
        raise _no_variant(where)
    if isinstance(raw, (int, str)):
        point_id = parse_point_id(raw)
        if using not in schema.dense and using not in schema.sparse:
            raise vector_name_error(using)
        return None, point_id
    if isinstance(raw, dict):
        if is_inference_object(raw):
            raise inference_error()
        if "indices" not in raw and "values" not in raw:
            raise _no_variant(where)
    elif not isinstance(raw, list):
        raise _no_variant(where)
    return parse_vector_value(raw, using, schema, where, dense_as_single_multi=True), None


def _no_variant(where: str) -> BadInput:
    return format_error(
        "data did not match any variant of untagged enum QueryInterface: expected a vector, a sparse vector, "
        "a multi-vector, a point id or {\"nearest\": ...}",
        where,
    )


def _parse_search_params(raw: Any, where: str = "params") -> tuple[Optional[int], bool]:
    """``params``: ``hnsw_ef`` and ``exact`` are used.

    ``quantization``, ``indexed_only`` and ``acorn`` are checked for shape and
    otherwise ignored: this server keeps no quantized vectors and no ACORN.
    """
    if raw is None:
        return None, False
    params = require_object(raw, where)
    hnsw_ef = parse_optional_uint(params.get("hnsw_ef"), f"{where}.hnsw_ef", minimum=1)
    exact = parse_bool(params.get("exact"), f"{where}.exact", default=False)
    parse_bool(params.get("indexed_only"), f"{where}.indexed_only", default=False)
    for key in ("quantization", "acorn"):
        if params.get(key) is not None:
            require_object(params[key], f"{where}.{key}")
    return hnsw_ef, exact


def _optional_number(raw: Any, where: str) -> Optional[float]:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        raise type_error(raw, "f32", where)
    return float(raw)


__all__ = [
    "DEFAULT_LIMIT",
    "ParsedQuery",
    "parse_count",
    "parse_query",
    "parse_retrieve",
    "parse_scroll",
    "parse_with_payload",
    "parse_with_vector",
]
