"""Parse recommend, discover and context queries into :class:`shards.recommend.ExploreQuery`.

Query API forms (``query`` of ``/points/query`` and its prefetches)::

    {"recommend": {"positive": [...], "negative": [...], "strategy": "average_vector" | "best_score" | "sum_scores"}}
    {"discover": {"target": <example>, "context": [{"positive": <example>, "negative": <example>}, ...]}}
    {"context": [{"positive": <example>, "negative": <example>}, ...]}   (or one pair, or null)

and the legacy bodies of ``/points/recommend`` and ``/points/discover`` (see
``transport.rest.legacy_recommend``). An example is a point id or a vector of
the ``using`` vector's kind: dense, multi-vector or sparse.
"""

from __future__ import annotations

from typing import Any, Optional

from consensus.errors import BadInput
from shards.lookup import LookupLocation
from shards.recommend import STRATEGIES, ExploreQuery
from shards.types import parse_point_id
from transport.rest.vector_parsing import (
    VectorSchema,
    format_error,
    inference_error,
    is_inference_object,
    parse_vector_value,
    require_object,
    type_error,
    vector_name_error,
    wrong_input,
)

EXPLORE_KINDS = ("recommend", "discover", "context")


def parse_lookup_from(raw: Any, where: str = "lookup_from") -> Optional[LookupLocation]:
    """``lookup_from``: ``{"collection": str, "vector"?: str, "shard_key"?: ...}``, or null."""
    if raw is None:
        return None
    body = require_object(raw, where)
    collection = body.get("collection")
    if collection is None:
        raise format_error("missing field `collection`", where)
    if not isinstance(collection, str):
        raise type_error(collection, "a string", f"{where}.collection")
    vector = body.get("vector")
    if vector is not None and not isinstance(vector, str):
        raise type_error(vector, "a string", f"{where}.vector")
    from transport.rest.point_parsing import parse_shard_key_selector  # point_parsing imports this module

    return LookupLocation(collection=collection, vector=vector, shard_keys=parse_shard_key_selector(body))


def _example(raw: Any, using: str, schema: VectorSchema, where: str) -> Any:
    """A point id, or a vector for ``using`` (dense, multi-vector or sparse)."""
    if isinstance(raw, bool) or raw is None:
        raise format_error("data did not match any variant of untagged enum VectorInput", where)
    if isinstance(raw, (int, str)):
        return parse_point_id(raw)
    if isinstance(raw, dict):
        if is_inference_object(raw):
            raise inference_error()
        if "indices" not in raw and "values" not in raw:
            raise format_error("data did not match any variant of untagged enum VectorInput", where)
    elif not isinstance(raw, list):
        raise format_error("data did not match any variant of untagged enum VectorInput", where)
    return parse_vector_value(raw, using, schema, where, dense_as_single_multi=True)


def _examples(raw: Any, using: str, schema: VectorSchema, where: str) -> tuple[Any, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise type_error(raw, "a sequence", where)
    return tuple(_example(item, using, schema, f"{where}[{i}]") for i, item in enumerate(raw))


def _check_using(using: str, schema: VectorSchema, kind: str) -> None:
    if using not in schema.dense and using not in schema.sparse:
        raise vector_name_error(using)


def _strategy(raw: Any, where: str) -> str:
    if raw is None:
        return "average_vector"
    if raw not in STRATEGIES:
        raise format_error(
            f"unknown variant `{raw}`, expected one of `average_vector`, `best_score`, `sum_scores`", where
        )
    return raw


def _recommend(positive: tuple, negative: tuple, strategy: str) -> ExploreQuery:
    if strategy == "average_vector" and not positive:
        raise wrong_input("At least one positive vector ID required")
    if not positive and not negative:
        raise wrong_input("At least one positive or negative vector ID required")
    return ExploreQuery(kind="recommend", strategy=strategy, positive=positive, negative=negative)


def _pairs(raw: Any, using: str, schema: VectorSchema, where: str) -> tuple[tuple[Any, Any], ...]:
    if raw is None:
        return ()
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise type_error(raw, "a context pair or a sequence of them", where)
    out = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]"
        pair = require_object(item, at)
        for key in ("positive", "negative"):
            if pair.get(key) is None:
                raise format_error(f"missing field `{key}`", at)
        out.append(
            (
                _example(pair["positive"], using, schema, f"{at}.positive"),
                _example(pair["negative"], using, schema, f"{at}.negative"),
            )
        )
    return tuple(out)


def parse_explore_query(raw: Any, using: str, schema: VectorSchema, where: str = "query") -> Optional[ExploreQuery]:
    """The explore query in ``raw`` (a ``query`` value), or None if it is another kind."""
    if not isinstance(raw, dict):
        return None
    kind = next((k for k in EXPLORE_KINDS if k in raw), None)
    if kind is None:
        return None
    _check_using(using, schema, kind)
    at = f"{where}.{kind}"
    body = raw[kind]
    if kind == "recommend":
        body = require_object(body, at)
        return _recommend(
            _examples(body.get("positive"), using, schema, f"{at}.positive"),
            _examples(body.get("negative"), using, schema, f"{at}.negative"),
            _strategy(body.get("strategy"), f"{at}.strategy"),
        )
    if kind == "discover":
        body = require_object(body, at)
        if body.get("target") is None:
            raise format_error("missing field `target`", at)
        return ExploreQuery(
            kind="discover",
            target=_example(body["target"], using, schema, f"{at}.target"),
            pairs=_pairs(body.get("context"), using, schema, f"{at}.context"),
        )
    return ExploreQuery(kind="context", pairs=_pairs(body, using, schema, at))


def parse_legacy_recommend(body: dict[str, Any], using: str, schema: VectorSchema, where: str = "") -> ExploreQuery:
    """``positive``, ``negative`` and ``strategy`` of a legacy ``RecommendRequest``."""
    _check_using(using, schema, "recommend")
    prefix = f"{where}." if where else ""
    return _recommend(
        _examples(body.get("positive"), using, schema, f"{prefix}positive"),
        _examples(body.get("negative"), using, schema, f"{prefix}negative"),
        _strategy(body.get("strategy"), f"{prefix}strategy"),
    )


def parse_legacy_discover(body: dict[str, Any], using: str, schema: VectorSchema, where: str = "") -> ExploreQuery:
    """``target`` and ``context`` of a legacy ``DiscoverRequest``; without a target it is a context search."""
    _check_using(using, schema, "discover")
    prefix = f"{where}." if where else ""
    pairs = _pairs(body.get("context"), using, schema, f"{prefix}context")
    if body.get("target") is None:
        return ExploreQuery(kind="context", pairs=pairs)
    return ExploreQuery(kind="discover", target=_example(body["target"], using, schema, f"{prefix}target"), pairs=pairs)


__all__ = ["EXPLORE_KINDS", "parse_lookup_from", "parse_explore_query", "parse_legacy_discover", "parse_legacy_recommend", "BadInput"]
