"""Qdrant filters: the parsed structure, its evaluation and its REST JSON parser.

A :class:`Filter` holds ``must`` (all), ``should`` (at least one, when given),
``must_not`` (none) and ``min_should`` (at least ``min_count`` of its
conditions). A condition is a leaf from ``shards/conditions.py``, a
:class:`NestedCondition`, or another :class:`Filter`. Empty clause lists place
no constraint, as in Qdrant.

``parse_filter(None)`` and ``parse_filter({})`` both return ``None``, meaning
"no filter": callers skip filtering entirely. A ``{}`` *inside* a filter (a
sub-filter condition) is an empty :class:`Filter`, which matches every point.

Evaluation is compiled once per filter into closures (cached on the instance,
dropped when pickled), so ``Filter.matches`` is cheap to call per point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Union

from consensus.errors import BadInput
from shards.conditions import (
    Checker,
    DatetimeRange,
    FieldCondition,
    GeoBoundingBox,
    GeoPolygon,
    GeoRadius,
    HasIdCondition,
    HasVector,
    HasVectorCondition,
    IsEmptyCondition,
    IsNullCondition,
    Match,
    MatchAny,
    MatchExcept,
    MatchPhrase,
    MatchPrefix,
    MatchSubstring,
    MatchText,
    MatchTextAny,
    MatchValue,
    Range,
    SliceCondition,
    ValuesCount,
    parse_datetime_micros,
)
from shards.geo import GeoPoint, parse_geo_point
from shards.payload_path import WILDCARD, compile_getter, parse_path, path_to_str
from shards.types import PointId, parse_point_id

__all__ = [
    "Condition",
    "DatetimeRange",
    "FieldCondition",
    "Filter",
    "GeoBoundingBox",
    "GeoPoint",
    "GeoPolygon",
    "GeoRadius",
    "HasIdCondition",
    "HasVectorCondition",
    "IsEmptyCondition",
    "IsNullCondition",
    "Match",
    "MatchAny",
    "MatchExcept",
    "MatchPhrase",
    "MatchPrefix",
    "MatchSubstring",
    "MatchText",
    "MatchTextAny",
    "MatchValue",
    "MinShould",
    "NestedCondition",
    "Range",
    "SliceCondition",
    "ValuesCount",
    "count_conditions",
    "parse_condition",
    "parse_filter",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _always(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
    return True


def _no_vector(name: str) -> bool:
    return False


@dataclass(frozen=True)
class MinShould:
    """At least ``min_count`` of ``conditions`` must match."""

    conditions: tuple["Condition", ...]
    min_count: int

    def compile(self) -> Checker:
        checkers = [c.compile() for c in self.conditions]
        needed = self.min_count

        def check(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
            matched = 0
            for checker in checkers:
                if checker(point_id, payload, has_vector):
                    matched += 1
                    if matched >= needed:
                        return True
            return False

        return check

    def to_json(self) -> dict:
        return {"conditions": [c.to_json() for c in self.conditions], "min_count": self.min_count}


@dataclass(frozen=True)
class Filter:
    """A boolean combination of conditions; see the module docstring."""

    must: tuple["Condition", ...] = ()
    should: tuple["Condition", ...] = ()
    must_not: tuple["Condition", ...] = ()
    min_should: MinShould | None = None

    def matches(self, point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
        """Whether the point with this id, payload and vectors passes the filter."""
        return self._checker(point_id, payload, has_vector)

    @cached_property
    def _checker(self) -> Checker:
        return self.compile()

    def compile(self) -> Checker:
        """A closure equivalent to :meth:`matches`."""
        must = [c.compile() for c in self.must]
        should = [c.compile() for c in self.should]
        must_not = [c.compile() for c in self.must_not]
        min_should = self.min_should.compile() if self.min_should is not None else None
        if not should and not must_not and min_should is None:
            if not must:
                return _always
            if len(must) == 1:
                return must[0]

        def check(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
            for checker in must:
                if not checker(point_id, payload, has_vector):
                    return False
            for checker in must_not:
                if checker(point_id, payload, has_vector):
                    return False
            if should:
                for checker in should:
                    if checker(point_id, payload, has_vector):
                        break
                else:
                    return False
            if min_should is not None and not min_should(point_id, payload, has_vector):
                return False
            return True

        return check

    def to_json(self) -> dict:
        """The REST JSON form; ``parse_filter`` of it gives back an equal filter."""
        out: dict[str, Any] = {}
        if self.must:
            out["must"] = [c.to_json() for c in self.must]
        if self.should:
            out["should"] = [c.to_json() for c in self.should]
        if self.must_not:
            out["must_not"] = [c.to_json() for c in self.must_not]
        if self.min_should is not None:
            out["min_should"] = self.min_should.to_json()
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_checker", None)
        return state


@dataclass(frozen=True)
class NestedCondition:
    """``filter`` holds for at least one element of the array at ``key``, all its clauses
    evaluated against that same element (keys inside are relative to the element)."""

    key: str
    filter: Filter = field(default_factory=Filter)

    def array_path(self) -> str:
        """The path of the array elements: ``key`` with ``[]`` appended."""
        items = parse_path(self.key)
        if items[-1] is not WILDCARD:
            items = (*items, WILDCARD)
        return path_to_str(items)

    def compile(self) -> Checker:
        elements_of = compile_getter(self.array_path())
        inner = self.filter.compile()

        def check(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
            # As in Qdrant: only object elements are tested, and an element has no id and
            # no vectors, so has_id, has_vector and slice never hold inside ``nested``.
            for element in elements_of(payload):
                if type(element) is dict and inner(None, element, _no_vector):  # type: ignore[arg-type]
                    return True
            return False

        return check

    def to_json(self) -> dict:
        return {"nested": {"key": self.key, "filter": self.filter.to_json()}}


Condition = Union[
    FieldCondition,
    IsEmptyCondition,
    IsNullCondition,
    HasIdCondition,
    HasVectorCondition,
    SliceCondition,
    NestedCondition,
    Filter,
]


def count_conditions(filter: Filter | None) -> int:
    """Number of leaf conditions in the filter, counting inside sub-filters, nested
    filters and ``min_should``; ``None`` counts 0."""
    if filter is None:
        return 0
    total = 0
    clauses = [*filter.must, *filter.should, *filter.must_not]
    if filter.min_should is not None:
        clauses.extend(filter.min_should.conditions)
    for condition in clauses:
        if isinstance(condition, Filter):
            total += count_conditions(condition)
        elif isinstance(condition, NestedCondition):
            total += count_conditions(condition.filter)
        else:
            total += 1
    return total


# --------------------------------------------------------------------------- parsing


def parse_filter(raw: Any) -> Filter | None:
    """Parse a REST filter object; ``None`` and ``{}`` give ``None`` (no filtering)."""
    if raw is None:
        return None
    parsed = _parse_filter_object(raw, "filter")
    if parsed == Filter():
        return None
    return parsed


_FILTER_KEYS = frozenset({"must", "should", "must_not", "min_should"})


def _parse_filter_object(raw: Any, where: str) -> Filter:
    if not isinstance(raw, dict):
        raise BadInput(f"{where} must be an object, got {_describe(raw)}")
    unknown = set(raw) - _FILTER_KEYS
    if unknown:
        raise BadInput(f"{where} has unknown fields: {sorted(unknown)}")
    min_should = None
    if raw.get("min_should") is not None:
        min_should = _parse_min_should(raw["min_should"], f"{where}.min_should")
    return Filter(
        must=_parse_clause(raw.get("must"), f"{where}.must"),
        should=_parse_clause(raw.get("should"), f"{where}.should"),
        must_not=_parse_clause(raw.get("must_not"), f"{where}.must_not"),
        min_should=min_should,
    )


def _parse_clause(raw: Any, where: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if isinstance(raw, list):
        return tuple(parse_condition(item, f"{where}[{i}]") for i, item in enumerate(raw))
    return (parse_condition(raw, where),)


def _parse_min_should(raw: Any, where: str) -> MinShould:
    if not isinstance(raw, dict):
        raise BadInput(f"{where} must be an object with 'conditions' and 'min_count'")
    unknown = set(raw) - {"conditions", "min_count"}
    if unknown:
        raise BadInput(f"{where} has unknown fields: {sorted(unknown)}")
    conditions = raw.get("conditions")
    if not isinstance(conditions, list):
        raise BadInput(f"{where}.conditions must be a list of conditions")
    min_count = raw.get("min_count")
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise BadInput(f"{where}.min_count must be a positive integer, got {min_count!r}")
    return MinShould(
        conditions=tuple(parse_condition(c, f"{where}.conditions[{i}]") for i, c in enumerate(conditions)),
        min_count=min_count,
    )


def parse_condition(raw: Any, where: str = "condition") -> Condition:
    """Parse one condition of a filter clause."""
    if not isinstance(raw, dict):
        raise BadInput(f"{where} must be an object, got {_describe(raw)}")
    if "key" in raw:
        return _parse_field_condition(raw, where)
    if "is_empty" in raw:
        return IsEmptyCondition(key=_parse_payload_field(raw["is_empty"], f"{where}.is_empty"))
    if "is_null" in raw:
        return IsNullCondition(key=_parse_payload_field(raw["is_null"], f"{where}.is_null"))
    if "has_id" in raw:
        ids = raw["has_id"]
        if not isinstance(ids, list):
            raise BadInput(f"{where}.has_id must be a list of point ids")
        return HasIdCondition(ids=frozenset(parse_point_id(i) for i in ids))
    if "has_vector" in raw:
        name = raw["has_vector"]
        if not isinstance(name, str):
            raise BadInput(f"{where}.has_vector must be a vector name (string)")
        return HasVectorCondition(vector=name)
    if "nested" in raw:
        return _parse_nested(raw["nested"], f"{where}.nested")
    if "slice" in raw:
        return _parse_slice(raw["slice"], f"{where}.slice")
    if set(raw) <= _FILTER_KEYS:
        return _parse_filter_object(raw, where)
    raise BadInput(
        f"{where}: unknown condition with fields {sorted(raw)}; expected a field condition "
        "(key + match/range/...), is_empty, is_null, has_id, has_vector, nested, or a filter"
    )


def _parse_key(raw: Any, where: str) -> str:
    if not isinstance(raw, str):
        raise BadInput(f"{where} must be a string, got {_describe(raw)}")
    parse_path(raw)
    return raw


def _parse_payload_field(raw: Any, where: str) -> str:
    if not isinstance(raw, dict) or "key" not in raw:
        raise BadInput(f"{where} must be an object with a 'key'")
    return _parse_key(raw["key"], f"{where}.key")


def _parse_nested(raw: Any, where: str) -> NestedCondition:
    if not isinstance(raw, dict) or "key" not in raw or "filter" not in raw:
        raise BadInput(f"{where} must be an object with 'key' and 'filter'")
    key = _parse_key(raw["key"], f"{where}.key")
    return NestedCondition(key=key, filter=_parse_filter_object(raw["filter"], f"{where}.filter"))


def _parse_slice(raw: Any, where: str) -> SliceCondition:
    if not isinstance(raw, dict):
        raise BadInput(f"{where} must be an object with 'index' and 'total'")
    index = _uint(raw.get("index"), f"{where}.index")
    total = _uint(raw.get("total"), f"{where}.total")
    if total < 1:
        raise BadInput(f"{where}.total must be at least 1")
    if index >= total:
        raise BadInput(f"{where}.index must be less than total ({total}), got {index}")
    return SliceCondition(index=index, total=total)


_FIELD_CHECKS = ("match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count")


def _parse_field_condition(raw: dict, where: str) -> FieldCondition:
    key = _parse_key(raw["key"], f"{where}.key")
    where = f"{where} (key {key!r})"
    parsed: dict[str, Any] = {}
    if raw.get("match") is not None:
        parsed["match"] = _parse_match(raw["match"], f"{where}.match")
    if raw.get("range") is not None:
        parsed["range"] = _parse_range(raw["range"], f"{where}.range")
    if raw.get("geo_bounding_box") is not None:
        box = _object(raw["geo_bounding_box"], f"{where}.geo_bounding_box", {"top_left", "bottom_right"})
        parsed["geo_bounding_box"] = GeoBoundingBox(
            top_left=parse_geo_point(box.get("top_left"), f"{where}.geo_bounding_box.top_left"),
            bottom_right=parse_geo_point(box.get("bottom_right"), f"{where}.geo_bounding_box.bottom_right"),
        )
    if raw.get("geo_radius") is not None:
        circle = _object(raw["geo_radius"], f"{where}.geo_radius", {"center", "radius"})
        radius = circle.get("radius")
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not math.isfinite(radius):
            raise BadInput(f"{where}.geo_radius.radius must be a number (meters)")
        parsed["geo_radius"] = GeoRadius(
            center=parse_geo_point(circle.get("center"), f"{where}.geo_radius.center"), radius=float(radius)
        )
    if raw.get("geo_polygon") is not None:
        parsed["geo_polygon"] = _parse_polygon(raw["geo_polygon"], f"{where}.geo_polygon")
    if raw.get("values_count") is not None:
        bounds = _object(raw["values_count"], f"{where}.values_count", {"gt", "gte", "lt", "lte"})
        parsed["values_count"] = ValuesCount(
            **{k: _uint(v, f"{where}.values_count.{k}") for k, v in bounds.items() if v is not None}
        )
    for flag in ("is_empty", "is_null"):
        if raw.get(flag) is not None:
            if not isinstance(raw[flag], bool):
                raise BadInput(f"{where}.{flag} must be a boolean")
            parsed[flag] = raw[flag]
    if not parsed:
        raise BadInput(
            f"{where}: a field condition needs one of match, range, geo_bounding_box, "
            "geo_radius, geo_polygon, values_count, is_empty or is_null"
        )
    return FieldCondition(key=key, **parsed)


def _parse_match(raw: Any, where: str) -> Match:
    if not isinstance(raw, dict) or len(raw) != 1:
        raise BadInput(
            f"{where} must be an object with exactly one of value, any, except, text, "
            "text_any, phrase, prefix, substring"
        )
    (kind, value), = raw.items()
    if kind == "value":
        if isinstance(value, bool) or isinstance(value, str):
            return MatchValue(value=value)
        if isinstance(value, int):
            _check_int64(value, f"{where}.value")
            return MatchValue(value=value)
        raise BadInput(f"{where}.value must be a string, an integer or a boolean, got {_describe(value)}")
    if kind in ("any", "except"):
        values, integers = _parse_any_variants(value, f"{where}.{kind}")
        cls = MatchAny if kind == "any" else MatchExcept
        return cls(values=values, integers=integers)
    if kind in ("text", "text_any", "phrase", "prefix", "substring"):
        if not isinstance(value, str):
            raise BadInput(f"{where}.{kind} must be a string, got {_describe(value)}")
        if kind == "text":
            return MatchText(text=value)
        if kind == "text_any":
            return MatchTextAny(text_any=value)
        if kind == "phrase":
            return MatchPhrase(phrase=value)
        if kind == "substring":
            return MatchSubstring(substring=value)
        return MatchPrefix(prefix=value)
    raise BadInput(f"{where}: unknown match kind {kind!r}")


def _parse_any_variants(raw: Any, where: str) -> tuple[frozenset, bool]:
    if not isinstance(raw, list):
        raise BadInput(f"{where} must be a list of strings or a list of integers")
    if all(isinstance(v, str) for v in raw):
        return frozenset(raw), False
    if all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        for v in raw:
            _check_int64(v, where)
        return frozenset(raw), True
    raise BadInput(f"{where} must be a list of strings or a list of integers, not a mix or other types")


def _parse_range(raw: Any, where: str) -> Range | DatetimeRange:
    bounds = _object(raw, where, {"gt", "gte", "lt", "lte"})
    given = {k: v for k, v in bounds.items() if v is not None}
    if any(isinstance(v, str) for v in given.values()):
        out: dict[str, int] = {}
        for name, value in given.items():
            micros = parse_datetime_micros(value) if isinstance(value, str) else None
            if micros is None:
                raise BadInput(
                    f"{where}.{name}: expected an RFC 3339 datetime (e.g. 2024-01-31T12:00:00Z) "
                    f"like the other bounds, got {value!r}"
                )
            out[name] = micros
        return DatetimeRange(**out)
    numbers: dict[str, float] = {}
    for name, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise BadInput(f"{where}.{name} must be a number or a datetime string, got {_describe(value)}")
        numbers[name] = float(value)
    return Range(**numbers)


def _parse_ring(raw: Any, where: str) -> tuple[GeoPoint, ...]:
    line = _object(raw, where, {"points"})
    points = line.get("points")
    if not isinstance(points, list):
        raise BadInput(f"{where}.points must be a list of geo points")
    ring = tuple(parse_geo_point(p, f"{where}.points[{i}]") for i, p in enumerate(points))
    if len(ring) < 4:
        raise BadInput(f"{where}: a polygon ring needs at least 4 points, got {len(ring)}")
    if ring[0] != ring[-1]:
        raise BadInput(f"{where}: the first and the last point of a polygon ring must be the same")
    return ring


def _parse_polygon(raw: Any, where: str) -> GeoPolygon:
    polygon = _object(raw, where, {"exterior", "interiors"})
    exterior = _parse_ring(polygon.get("exterior"), f"{where}.exterior")
    interiors_raw = polygon.get("interiors") or []
    if not isinstance(interiors_raw, list):
        raise BadInput(f"{where}.interiors must be a list of line strings")
    interiors = tuple(_parse_ring(r, f"{where}.interiors[{i}]") for i, r in enumerate(interiors_raw))
    return GeoPolygon(exterior=exterior, interiors=interiors)


def _object(raw: Any, where: str, allowed: set[str]) -> dict:
    if not isinstance(raw, dict):
        raise BadInput(f"{where} must be an object, got {_describe(raw)}")
    unknown = set(raw) - allowed
    if unknown:
        raise BadInput(f"{where} has unknown fields: {sorted(unknown)}; allowed: {sorted(allowed)}")
    return raw


def _uint(raw: Any, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise BadInput(f"{where} must be a non-negative integer, got {_describe(raw)}")
    return raw


def _check_int64(value: int, where: str) -> None:
    if not _INT64_MIN <= value <= _INT64_MAX:
        raise BadInput(f"{where}: integer {value} does not fit in 64 bits")


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"
