"""Leaf filter conditions: what they hold and how they test a point.

Each condition is a frozen dataclass that can ``compile()`` itself into a
:data:`Checker` closure, so a scan over many points pays the dispatch once.
Composite conditions (``Filter``, ``nested``, ``min_should``) live in
``shards/filters.py``, which also parses the REST JSON.

Value semantics follow Qdrant's condition checker:

- ``match.value``: a string matches equal strings, an integer matches integer
  payload numbers only (not ``1.0``, not ``true``), a bool matches bools only.
- ``match.any`` / ``match.except``: lists of strings or of integers. ``except``
  matches any non-null value outside the list, including values of other types;
  a missing field or ``null`` does not match.
- ``range``: numbers only (ints and floats, never bools); ``datetime range``:
  strings parseable as datetimes (RFC 3339, also naive = UTC, and date-only).
- arrays reached by the key are looked into one level: any element may match.
- ``match.text`` / ``text_any`` / ``phrase``: token matching with the condition's
  tokenizer (default: lowercased word tokens; a text index binds its own, see
  ``PayloadIndexes.bind_text``). ``text`` needs every query token, ``text_any``
  one of them, ``phrase`` the query tokens consecutively in order.
- ``match.prefix`` / ``substring``: case-sensitive, on strings only.
- several checks in one field condition are OR-ed, as in Qdrant, except that
  ``values_count``, ``is_empty`` and ``is_null`` (in that order) take over.
"""

from __future__ import annotations

import functools
import re
import struct
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Union

from shards.geo import (
    GeoPoint,
    haversine_m,
    in_bounding_box,
    in_polygon,
    payload_geo_point,
)
from shards.payload_path import compile_getter, parse_path, values_are_empty, values_are_null
from shards.text_tokenizer import (
    DEFAULT_TOKENIZER,
    TokenizerConfig,
    text_matches_all,
    text_matches_any,
    text_matches_phrase,
)
from shards.types import PointId

HasVector = Callable[[str], bool]
"""Tells whether the point being checked has a vector of the given name."""

Checker = Callable[[PointId, dict, HasVector], bool]
"""A compiled condition: ``checker(point_id, payload, has_vector) -> bool``."""

ValuePredicate = Callable[[Any], bool]

_MISSING = object()
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SPACED_OFFSET = re.compile(r"(?<=\d) +([+-]\d\d:?\d\d|Z)$")


# --------------------------------------------------------------------------- datetimes


@functools.lru_cache(maxsize=65536)
def parse_datetime_micros(text: str) -> int | None:
    """Microseconds since the Unix epoch of a datetime string, or None if it is not one.

    Accepts RFC 3339 (``Z`` or offsets), offsets without a colon, a space instead
    of ``T``, no seconds, no time at all (midnight) and no zone (UTC); and, as Qdrant
    reads back its own rendering, leading blanks, a lowercase ``z``, `` UTC`` and a
    space before the offset.
    """
    text = text.lstrip()
    if len(text) < 10 or text[4] != "-" or text[7] != "-":
        return None
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    elif text.endswith("z"):
        text = text[:-1] + "Z"
    text = _SPACED_OFFSET.sub(r"\1", text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_datetime_micros(micros: int) -> str:
    """RFC 3339 UTC rendering of epoch microseconds."""
    moment = _EPOCH + timedelta(microseconds=micros)
    return moment.isoformat().replace("+00:00", "Z")


# --------------------------------------------------------------------------- match kinds


@dataclass(frozen=True)
class MatchValue:
    """Exact match of a string, integer or bool."""

    value: Union[str, int, bool]

    def predicate(self) -> ValuePredicate:
        expected = self.value
        if isinstance(expected, bool):
            return lambda v: v is expected
        if isinstance(expected, int):
            return lambda v: type(v) is int and v == expected
        return lambda v: type(v) is str and v == expected

    def to_json(self) -> dict:
        return {"value": self.value}


@dataclass(frozen=True)
class MatchAny:
    """The value equals one of ``values`` (all strings or all integers)."""

    values: frozenset
    integers: bool = False

    def predicate(self) -> ValuePredicate:
        allowed = self.values
        wanted_type = int if self.integers else str
        return lambda v: type(v) is wanted_type and v in allowed

    def to_json(self) -> dict:
        return {"any": sorted(self.values)}


@dataclass(frozen=True)
class MatchExcept:
    """Some value is not null and not one of ``values`` (Qdrant's NOT IN)."""

    values: frozenset
    integers: bool = False

    def predicate(self) -> ValuePredicate:
        excluded = self.values
        compared_type = int if self.integers else str

        def check(v: Any) -> bool:
            if v is None:
                return False
            if type(v) is compared_type:
                return v not in excluded
            return True

        return check

    def to_json(self) -> dict:
        return {"except": sorted(self.values)}


@dataclass(frozen=True)
class MatchText:
    """Every token of ``text`` is a token of the value."""

    text: str
    tokenizer: TokenizerConfig = DEFAULT_TOKENIZER

    @property
    def query_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.query_tokens(self.text))

    def predicate(self) -> ValuePredicate:
        config = self.tokenizer
        tokens = self.query_tokens
        return lambda v: type(v) is str and text_matches_all(config, tokens, v)

    def to_json(self) -> dict:
        return {"text": self.text}


@dataclass(frozen=True)
class MatchTextAny:
    """At least one token of ``text_any`` is a token of the value."""

    text_any: str
    tokenizer: TokenizerConfig = DEFAULT_TOKENIZER

    @property
    def query_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.query_tokens(self.text_any))

    def predicate(self) -> ValuePredicate:
        config = self.tokenizer
        tokens = self.query_tokens
        return lambda v: type(v) is str and text_matches_any(config, tokens, v)

    def to_json(self) -> dict:
        return {"text_any": self.text_any}


@dataclass(frozen=True)
class MatchPhrase:
    """The tokens of ``phrase`` appear consecutively, in order, in the value."""

    phrase: str
    tokenizer: TokenizerConfig = DEFAULT_TOKENIZER

    @property
    def query_tokens(self) -> tuple[str, ...]:
        return tuple(self.tokenizer.phrase_tokens(self.phrase))

    def predicate(self) -> ValuePredicate:
        config = self.tokenizer
        tokens = self.query_tokens
        return lambda v: type(v) is str and text_matches_phrase(config, tokens, v)

    def to_json(self) -> dict:
        return {"phrase": self.phrase}


@dataclass(frozen=True)
class MatchPrefix:
    """A string value starting with ``prefix`` (case-sensitive)."""

    prefix: str

    def predicate(self) -> ValuePredicate:
        prefix = self.prefix
        return lambda v: type(v) is str and v.startswith(prefix)

    def to_json(self) -> dict:
        return {"prefix": self.prefix}


@dataclass(frozen=True)
class MatchSubstring:
    """A string value containing ``substring`` (case-sensitive)."""

    substring: str

    def predicate(self) -> ValuePredicate:
        substring = self.substring
        return lambda v: type(v) is str and substring in v

    def to_json(self) -> dict:
        return {"substring": self.substring}


Match = Union[
    MatchValue, MatchAny, MatchExcept, MatchText, MatchTextAny, MatchPhrase, MatchPrefix, MatchSubstring
]
TEXT_MATCHES = (MatchText, MatchTextAny, MatchPhrase)


# --------------------------------------------------------------------------- ranges and geo


def _bounds_predicate(
    gt: float | int | None, gte: float | int | None, lt: float | int | None, lte: float | int | None
) -> Callable[[float | int], bool]:
    def inside(x: float | int) -> bool:
        return (
            (gt is None or x > gt)
            and (gte is None or x >= gte)
            and (lt is None or x < lt)
            and (lte is None or x <= lte)
        )

    return inside


@dataclass(frozen=True)
class Range:
    """A numeric range; unset bounds are open."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None

    def predicate(self) -> ValuePredicate:
        inside = _bounds_predicate(self.gt, self.gte, self.lt, self.lte)
        return lambda v: (type(v) is float or type(v) is int) and inside(v)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("gt", "gte", "lt", "lte") if getattr(self, k) is not None}


@dataclass(frozen=True)
class DatetimeRange:
    """A datetime range, bounds in microseconds since the Unix epoch."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    def predicate(self) -> ValuePredicate:
        inside = _bounds_predicate(self.gt, self.gte, self.lt, self.lte)

        def check(v: Any) -> bool:
            if type(v) is not str:
                return False
            micros = parse_datetime_micros(v)
            return micros is not None and inside(micros)

        return check

    def to_json(self) -> dict:
        return {
            k: format_datetime_micros(getattr(self, k))
            for k in ("gt", "gte", "lt", "lte")
            if getattr(self, k) is not None
        }


@dataclass(frozen=True)
class GeoBoundingBox:
    """Points strictly inside the box from ``top_left`` to ``bottom_right``."""

    top_left: GeoPoint
    bottom_right: GeoPoint

    def predicate(self) -> ValuePredicate:
        top_left, bottom_right = self.top_left, self.bottom_right

        def check(v: Any) -> bool:
            point = payload_geo_point(v)
            return point is not None and in_bounding_box(point[0], point[1], top_left, bottom_right)

        return check

    def to_json(self) -> dict:
        return {"top_left": self.top_left.to_json(), "bottom_right": self.bottom_right.to_json()}


@dataclass(frozen=True)
class GeoRadius:
    """Points closer than ``radius`` meters to ``center``."""

    center: GeoPoint
    radius: float

    def predicate(self) -> ValuePredicate:
        lon0, lat0, radius = self.center.lon, self.center.lat, self.radius

        def check(v: Any) -> bool:
            point = payload_geo_point(v)
            return point is not None and haversine_m(lon0, lat0, point[0], point[1]) < radius

        return check

    def to_json(self) -> dict:
        return {"center": self.center.to_json(), "radius": self.radius}


@dataclass(frozen=True)
class GeoPolygon:
    """Points inside ``exterior`` and outside every ring of ``interiors``."""

    exterior: tuple[GeoPoint, ...]
    interiors: tuple[tuple[GeoPoint, ...], ...] = ()

    def predicate(self) -> ValuePredicate:
        exterior, interiors = self.exterior, self.interiors

        def check(v: Any) -> bool:
            point = payload_geo_point(v)
            return point is not None and in_polygon(point[0], point[1], exterior, interiors)

        return check

    def to_json(self) -> dict:
        out: dict = {"exterior": {"points": [p.to_json() for p in self.exterior]}}
        if self.interiors:
            out["interiors"] = [{"points": [p.to_json() for p in ring]} for ring in self.interiors]
        return out


@dataclass(frozen=True)
class ValuesCount:
    """Bounds on how many values a field has (an array counts its elements, null counts 0)."""

    gt: int | None = None
    gte: int | None = None
    lt: int | None = None
    lte: int | None = None

    def count_predicate(self) -> Callable[[int], bool]:
        return _bounds_predicate(self.gt, self.gte, self.lt, self.lte)

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("gt", "gte", "lt", "lte") if getattr(self, k) is not None}


# --------------------------------------------------------------------------- field conditions


def _field_is_empty(expected: bool) -> ValuePredicate:
    def check(v: Any) -> bool:
        if v is None:
            return expected
        if type(v) is list:
            return (not v) == expected
        return not expected

    return check


def _field_is_null(expected: bool) -> ValuePredicate:
    def check(v: Any) -> bool:
        if v is None:
            return expected
        if type(v) is list:
            return any(x is None for x in v) == expected
        return not expected

    return check


def _values_count(count_ok: Callable[[int], bool]) -> ValuePredicate:
    def check(v: Any) -> bool:
        if v is None:
            return count_ok(0)
        if type(v) is list:
            return count_ok(len(v))
        return count_ok(1)

    return check


def _looking_into_arrays(scalar: ValuePredicate) -> ValuePredicate:
    def check(v: Any) -> bool:
        if type(v) is list:
            for element in v:
                if scalar(element):
                    return True
            return False
        return scalar(v)

    return check


def _any_of(predicates: list[ValuePredicate]) -> ValuePredicate:
    if len(predicates) == 1:
        return predicates[0]
    return lambda v: any(p(v) for p in predicates)


@dataclass(frozen=True)
class FieldCondition:
    """A test of the values at payload key ``key``; at least one check is set."""

    key: str
    match: Match | None = None
    range: Range | DatetimeRange | None = None
    geo_bounding_box: GeoBoundingBox | None = None
    geo_radius: GeoRadius | None = None
    geo_polygon: GeoPolygon | None = None
    values_count: ValuesCount | None = None
    is_empty: bool | None = None
    is_null: bool | None = None

    def value_checks(self) -> list:
        """The value-level checks that are set (match, range, geo), OR-ed together."""
        checks = (self.match, self.range, self.geo_bounding_box, self.geo_radius, self.geo_polygon)
        return [check for check in checks if check is not None]

    def compile(self) -> Checker:
        per_value: ValuePredicate
        if self.values_count is not None:
            count_ok = self.values_count.count_predicate()
            per_value, when_missing = _values_count(count_ok), count_ok(0)
        elif self.is_empty is not None:
            per_value, when_missing = _field_is_empty(self.is_empty), self.is_empty
        elif self.is_null is not None:
            per_value, when_missing = _field_is_null(self.is_null), not self.is_null
        else:
            scalar = _any_of([check.predicate() for check in self.value_checks()])
            per_value, when_missing = _looking_into_arrays(scalar), False
        return _field_checker(self.key, per_value, when_missing)

    def to_json(self) -> dict:
        out: dict = {"key": self.key}
        for name in ("match", "range", "geo_bounding_box", "geo_radius", "geo_polygon", "values_count"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.to_json()
        if self.is_empty is not None:
            out["is_empty"] = self.is_empty
        if self.is_null is not None:
            out["is_null"] = self.is_null
        return out


def _field_checker(key: str, per_value: ValuePredicate, when_missing: bool) -> Checker:
    items = parse_path(key)
    if len(items) == 1:
        top_key = items[0]

        def check_top_level(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
            value = payload.get(top_key, _MISSING)
            if value is _MISSING:
                return when_missing
            return per_value(value)

        return check_top_level

    getter = compile_getter(key)

    def check_path(point_id: PointId, payload: dict, has_vector: HasVector) -> bool:
        values = getter(payload)
        if not values:
            return when_missing
        for value in values:
            if per_value(value):
                return True
        return False

    return check_path


# --------------------------------------------------------------------------- other leaves


@dataclass(frozen=True)
class IsEmptyCondition:
    """The key is missing, or every value at it is ``null`` or ``[]``."""

    key: str

    def compile(self) -> Checker:
        getter = compile_getter(self.key)
        return lambda point_id, payload, has_vector: values_are_empty(getter(payload))

    def to_json(self) -> dict:
        return {"is_empty": {"key": self.key}}


@dataclass(frozen=True)
class IsNullCondition:
    """Some value at the key is ``null`` or an array holding ``null``."""

    key: str

    def compile(self) -> Checker:
        getter = compile_getter(self.key)
        return lambda point_id, payload, has_vector: values_are_null(getter(payload))

    def to_json(self) -> dict:
        return {"is_null": {"key": self.key}}


@dataclass(frozen=True)
class HasIdCondition:
    """The point id is one of ``ids``."""

    ids: frozenset

    def compile(self) -> Checker:
        ids = self.ids
        return lambda point_id, payload, has_vector: point_id in ids

    def to_json(self) -> dict:
        ints = sorted(i for i in self.ids if isinstance(i, int))
        uuids = sorted(i for i in self.ids if isinstance(i, str))
        return {"has_id": [*ints, *uuids]}


@dataclass(frozen=True)
class HasVectorCondition:
    """The point has a vector named ``vector`` (``""`` is the unnamed default vector)."""

    vector: str

    def compile(self) -> Checker:
        name = self.vector
        return lambda point_id, payload, has_vector: has_vector(name)

    def to_json(self) -> dict:
        return {"has_vector": self.vector}


def _rotl(x: int, bits: int) -> int:
    return ((x << bits) | (x >> (64 - bits))) & 0xFFFFFFFFFFFFFFFF


def siphash24(data: bytes, k0: int = 0, k1: int = 0) -> int:
    """SipHash-2-4 of ``data`` under the key ``(k0, k1)``; Qdrant slices use the zero key."""
    mask = 0xFFFFFFFFFFFFFFFF
    v0 = k0 ^ 0x736F6D6570736575
    v1 = k1 ^ 0x646F72616E646F6D
    v2 = k0 ^ 0x6C7967656E657261
    v3 = k1 ^ 0x7465646279746573

    def rounds(count: int) -> None:
        nonlocal v0, v1, v2, v3
        for _ in range(count):
            v0 = (v0 + v1) & mask
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & mask
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & mask
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & mask
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    length = len(data)
    whole = length - length % 8
    for start in range(0, whole, 8):
        (word,) = struct.unpack_from("<Q", data, start)
        v3 ^= word
        rounds(2)
        v0 ^= word
    tail = data[whole:] + b"\x00" * (7 - length % 8) + bytes([length & 0xFF])
    (last,) = struct.unpack("<Q", tail)
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xFF
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def point_id_hash(point_id: PointId) -> int:
    """The slice hash of a point id: 8 little-endian bytes, or the 16 UUID bytes."""
    if isinstance(point_id, int):
        return siphash24(struct.pack("<Q", point_id))
    return siphash24(uuid.UUID(point_id).bytes)


@dataclass(frozen=True)
class SliceCondition:
    """The point belongs to slice ``index`` of ``total`` disjoint slices of the id space."""

    index: int
    total: int

    def compile(self) -> Checker:
        index, total = self.index, self.total
        # point_id is None inside ``nested``, where a slice never holds
        return lambda point_id, payload, has_vector: (
            point_id is not None and point_id_hash(point_id) % total == index
        )

    def to_json(self) -> dict:
        return {"slice": {"index": self.index, "total": self.total}}
