"""In-memory indexes of one payload field, one class per Qdrant index type.

An index stores, per point offset, the values of its type found at the field
(arrays flattened one level, as filters see them). Values of another type are
not indexed, but the offsets that have them are remembered in ``other``: a
filter might still match such a point, so every candidate set includes them.
That keeps ``candidates`` a superset of the true matches whatever the payloads
hold.

``match(check)`` answers one value-level check (a ``match``, ``range`` or geo
object of a field condition) with the sorted offsets whose *indexed* values may
satisfy it, or None when the index cannot tell. Not thread-safe: the owner
serializes writes and reads.
"""

from __future__ import annotations

import uuid
from typing import Any, Iterable, Iterator

import numpy as np

from shards.conditions import (
    TEXT_MATCHES,
    DatetimeRange,
    GeoBoundingBox,
    GeoPolygon,
    GeoRadius,
    MatchAny,
    MatchExcept,
    MatchPhrase,
    MatchPrefix,
    MatchSubstring,
    MatchText,
    MatchTextAny,
    MatchValue,
    Range,
    parse_datetime_micros,
)
from shards.geo import haversine_m_np, in_bounding_box_np, in_polygon_np, valid_payload_geo_point
from shards.text_tokenizer import DEFAULT_TOKENIZER, TokenizerConfig

EMPTY = np.empty(0, dtype=np.int64)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def to_offsets(offsets: Iterable[int] | set[int]) -> np.ndarray:
    """A sorted unique int64 array of offsets."""
    if isinstance(offsets, (set, frozenset)):
        array = np.fromiter(offsets, dtype=np.int64, count=len(offsets))
        array.sort()
        return array
    return np.unique(np.fromiter(offsets, dtype=np.int64))


def _check_kinds(check: Any) -> frozenset[str]:
    """Python value kinds a value-level check can ever accept."""
    if isinstance(check, MatchValue):
        value = check.value
        return frozenset({"bool" if isinstance(value, bool) else "int" if isinstance(value, int) else "str"})
    if isinstance(check, MatchAny):
        return frozenset({"int" if check.integers else "str"})
    if isinstance(check, MatchExcept):
        return frozenset({"str", "int", "float", "bool", "geo", "other"})
    if isinstance(check, (*TEXT_MATCHES, MatchPrefix, MatchSubstring, DatetimeRange)):
        return frozenset({"str"})
    if isinstance(check, Range):
        return frozenset({"int", "float"})
    if isinstance(check, (GeoBoundingBox, GeoRadius, GeoPolygon)):
        return frozenset({"geo"})
    return frozenset({"str", "int", "float", "bool", "geo", "other"})


class FieldIndex:
    """Base of the index kinds: bookkeeping of indexed and other offsets."""

    kinds: frozenset[str] = frozenset()

    def __init__(self) -> None:
        self._values: dict[int, tuple] = {}
        self.other: set[int] = set()

    def convert(self, value: Any) -> Any:
        """The indexed form of a payload value, or None when this index does not take it."""
        raise NotImplementedError

    def _insert(self, offset: int, keys: tuple) -> None:
        pass

    def _delete(self, offset: int, keys: tuple) -> None:
        pass

    def add(self, offset: int, values: list) -> None:
        """Index the (flattened) values of one point, replacing what it had."""
        self.remove(offset)
        keys = []
        has_other = False
        for value in values:
            if value is None:
                continue
            key = self.convert(value)
            if key is None:
                has_other = True
            else:
                keys.append(key)
        if has_other:
            self.other.add(offset)
        if keys:
            stored = tuple(keys)
            self._values[offset] = stored
            self._insert(offset, stored)

    def remove(self, offset: int) -> None:
        self.other.discard(offset)
        stored = self._values.pop(offset, None)
        if stored is not None:
            self._delete(offset, stored)

    @property
    def points_count(self) -> int:
        """Points with at least one indexed value."""
        return len(self._values)

    def indexed_offsets(self) -> np.ndarray:
        return to_offsets(self._values.keys())

    def match(self, check: Any) -> np.ndarray | None:
        if not (_check_kinds(check) & self.kinds):
            return EMPTY
        return self._match(check)

    def _match(self, check: Any) -> np.ndarray | None:
        return None

    def values_of(self, offset: int) -> tuple:
        return self._values.get(offset, ())


class _MapIndex(FieldIndex):
    """Exact value -> offsets lookups."""

    def __init__(self) -> None:
        super().__init__()
        self._postings: dict[Any, set[int]] = {}

    def _insert(self, offset: int, keys: tuple) -> None:
        for key in keys:
            self._postings.setdefault(key, set()).add(offset)

    def _delete(self, offset: int, keys: tuple) -> None:
        for key in keys:
            posting = self._postings.get(key)
            if posting is not None:
                posting.discard(offset)
                if not posting:
                    del self._postings[key]

    def lookup(self, keys: Iterable[Any]) -> np.ndarray:
        found: set[int] = set()
        for key in keys:
            posting = self._postings.get(key)
            if posting:
                found |= posting
        return to_offsets(found)

    def lookup_except(self, excluded: frozenset) -> np.ndarray:
        found: set[int] = set()
        for key, posting in self._postings.items():
            if key not in excluded:
                found |= posting
        return to_offsets(found)

    def distinct_values(self) -> int:
        return len(self._postings)


class KeywordIndex(_MapIndex):
    kinds = frozenset({"str"})

    def convert(self, value: Any) -> Any:
        return value if type(value) is str else None

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, MatchValue):
            return self.lookup([check.value])
        if isinstance(check, MatchAny):
            return self.lookup(check.values)
        if isinstance(check, MatchExcept):
            return self.indexed_offsets() if check.integers else self.lookup_except(check.values)
        if isinstance(check, MatchPrefix):
            prefix = check.prefix
            return self.lookup(k for k in self._postings if k.startswith(prefix))
        if isinstance(check, MatchSubstring):
            substring = check.substring
            return self.lookup(k for k in self._postings if substring in k)
        return None


def _uuid_key(value: Any) -> int | None:
    if type(value) is not str:
        return None
    try:
        return uuid.UUID(value).int
    except ValueError:
        return None


class UuidIndex(_MapIndex):
    """Keyword-like index of UUID strings, compared as UUIDs (case and form insensitive)."""

    kinds = frozenset({"str"})

    def convert(self, value: Any) -> Any:
        return _uuid_key(value)

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, (MatchValue, MatchAny)):
            wanted = [check.value] if isinstance(check, MatchValue) else check.values
            keys = [k for k in (_uuid_key(v) for v in wanted) if k is not None]
            return self.lookup(keys)
        return None


class BoolIndex(_MapIndex):
    kinds = frozenset({"bool"})

    def convert(self, value: Any) -> Any:
        return value if type(value) is bool else None

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, MatchValue):
            return self.lookup([check.value])
        if isinstance(check, MatchExcept):
            return self.indexed_offsets()
        return None


class _SortedIndex(FieldIndex):
    """Values kept in a lazily rebuilt sorted array, for ranges and ordering."""

    dtype: Any = np.float64

    def __init__(self) -> None:
        super().__init__()
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def _insert(self, offset: int, keys: tuple) -> None:
        self._sorted = None

    def _delete(self, offset: int, keys: tuple) -> None:
        self._sorted = None

    def sorted_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(values ascending, offsets) over every indexed value."""
        if self._sorted is None:
            total = sum(len(keys) for keys in self._values.values())
            values = np.empty(total, dtype=self.dtype)
            offsets = np.empty(total, dtype=np.int64)
            position = 0
            for offset, keys in self._values.items():
                for key in keys:
                    values[position] = key
                    offsets[position] = offset
                    position += 1
            order = np.lexsort((offsets, values))
            self._sorted = (values[order], offsets[order])
        return self._sorted

    def range_offsets(self, gt: Any, gte: Any, lt: Any, lte: Any) -> np.ndarray:
        values, offsets = self.sorted_arrays()
        start, stop = 0, len(values)
        if gte is not None:
            start = max(start, int(np.searchsorted(values, gte, side="left")))
        if gt is not None:
            start = max(start, int(np.searchsorted(values, gt, side="right")))
        if lte is not None:
            stop = min(stop, int(np.searchsorted(values, lte, side="right")))
        if lt is not None:
            stop = min(stop, int(np.searchsorted(values, lt, side="left")))
        if start >= stop:
            return EMPTY
        return np.unique(offsets[start:stop])

    def equal_offsets(self, keys: Iterable[Any]) -> np.ndarray:
        parts = [self.range_offsets(None, key, None, key) for key in keys]
        parts = [p for p in parts if len(p)]
        if not parts:
            return EMPTY
        return np.unique(np.concatenate(parts)) if len(parts) > 1 else parts[0]

    def to_order_value(self, key: Any) -> float:
        return float(key)

    def ordered(self, descending: bool, start_from: float | None) -> Iterator[tuple[float, int]]:
        values, offsets = self.sorted_arrays()
        if descending:
            stop = len(values)
            if start_from is not None:
                stop = int(np.searchsorted(values, self.order_key(start_from), side="right"))
            indices = range(stop - 1, -1, -1)
        else:
            start = 0
            if start_from is not None:
                start = int(np.searchsorted(values, self.order_key(start_from), side="left"))
            indices = range(start, len(values))
        for i in indices:
            yield self.to_order_value(values[i]), int(offsets[i])

    def order_key(self, start_from: float) -> Any:
        return start_from


class IntegerIndex(_SortedIndex):
    """Integer values: exact lookups (value map) and ranges (sorted array)."""

    kinds = frozenset({"int"})
    dtype = np.int64

    def __init__(self) -> None:
        super().__init__()
        self._map = _MapIndex()

    def convert(self, value: Any) -> Any:
        if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
            return value
        return None

    def _insert(self, offset: int, keys: tuple) -> None:
        super()._insert(offset, keys)
        self._map._insert(offset, keys)

    def _delete(self, offset: int, keys: tuple) -> None:
        super()._delete(offset, keys)
        self._map._delete(offset, keys)

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, MatchValue):
            return self._map.lookup([check.value])
        if isinstance(check, MatchAny):
            return self._map.lookup(check.values)
        if isinstance(check, MatchExcept):
            return self._map.lookup_except(check.values) if check.integers else self.indexed_offsets()
        if isinstance(check, Range):
            return self.range_offsets(check.gt, check.gte, check.lt, check.lte)
        return None

    def distinct_values(self) -> int:
        return self._map.distinct_values()

    def to_order_value(self, key: Any) -> int:
        return int(key)  # Qdrant shows an integer field's order_value as an integer


class FloatIndex(_SortedIndex):
    """Numbers (integers included) as floats: ranges and ordering."""

    kinds = frozenset({"int", "float"})

    def convert(self, value: Any) -> Any:
        if type(value) is float or type(value) is int:
            return float(value)
        return None

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, Range):
            return self.range_offsets(check.gt, check.gte, check.lt, check.lte)
        if isinstance(check, MatchValue):
            return self.equal_offsets([float(check.value)])
        if isinstance(check, MatchAny):
            return self.equal_offsets(float(v) for v in check.values)
        return None


class DatetimeIndex(_SortedIndex):
    """Datetime strings as epoch microseconds: ranges and ordering (in epoch seconds)."""

    kinds = frozenset({"str"})
    dtype = np.int64

    def convert(self, value: Any) -> Any:
        return parse_datetime_micros(value) if type(value) is str else None

    def _match(self, check: Any) -> np.ndarray | None:
        if isinstance(check, DatetimeRange):
            return self.range_offsets(check.gt, check.gte, check.lt, check.lte)
        if isinstance(check, (MatchValue, MatchAny)):
            wanted = [check.value] if isinstance(check, MatchValue) else check.values
            keys = [k for k in (parse_datetime_micros(v) for v in wanted) if k is not None]
            return self.equal_offsets(keys)
        return None

    def to_order_value(self, key: Any) -> float:
        return int(key) / 1_000_000

    def order_key(self, start_from: float) -> Any:
        return start_from * 1_000_000


class GeoIndex(FieldIndex):
    """Geo points in flat arrays; geo conditions are answered exactly with numpy."""

    kinds = frozenset({"geo"})

    def __init__(self) -> None:
        super().__init__()
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def convert(self, value: Any) -> Any:
        return valid_payload_geo_point(value)

    def _insert(self, offset: int, keys: tuple) -> None:
        self._arrays = None

    def _delete(self, offset: int, keys: tuple) -> None:
        self._arrays = None

    def _points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._arrays is None:
            rows = [(lon, lat, offset) for offset, keys in self._values.items() for lon, lat in keys]
            lons = np.fromiter((r[0] for r in rows), dtype=np.float64, count=len(rows))
            lats = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
            offsets = np.fromiter((r[2] for r in rows), dtype=np.int64, count=len(rows))
            self._arrays = (lons, lats, offsets)
        return self._arrays

    def _match(self, check: Any) -> np.ndarray | None:
        lons, lats, offsets = self._points()
        if isinstance(check, GeoBoundingBox):
            mask = in_bounding_box_np(lons, lats, check.top_left, check.bottom_right)
        elif isinstance(check, GeoRadius):
            mask = haversine_m_np(lons, lats, check.center.lon, check.center.lat) < check.radius
        elif isinstance(check, GeoPolygon):
            mask = in_polygon_np(lons, lats, check.exterior, check.interiors)
        elif isinstance(check, MatchExcept):
            return self.indexed_offsets()
        else:
            return None
        return np.unique(offsets[mask])


class TextIndex(_MapIndex):
    """Token -> offsets inverted index for full-text matches."""

    kinds = frozenset({"str"})

    def __init__(self, tokenizer: TokenizerConfig) -> None:
        super().__init__()
        self.tokenizer = tokenizer

    def convert(self, value: Any) -> Any:
        return frozenset(self.tokenizer.document_tokens(value)) if type(value) is str else None

    def _insert(self, offset: int, keys: tuple) -> None:
        super()._insert(offset, tuple(frozenset().union(*keys)))

    def _delete(self, offset: int, keys: tuple) -> None:
        super()._delete(offset, tuple(frozenset().union(*keys)))

    def _query_tokens(self, check: Any) -> list[str] | None:
        if check.tokenizer != self.tokenizer:
            if check.tokenizer != DEFAULT_TOKENIZER or not self.tokenizer.coarsens_default:
                return None
        if isinstance(check, MatchPhrase):
            # a phrase drops stopwords even for the prefix tokenizer; its tokens must all be present
            return list(dict.fromkeys(self.tokenizer.phrase_tokens(check.phrase)))
        text = check.text if isinstance(check, MatchText) else check.text_any
        return self.tokenizer.query_tokens(text)

    def _match(self, check: Any) -> np.ndarray | None:
        if not isinstance(check, TEXT_MATCHES):
            return None
        tokens = self._query_tokens(check)
        if tokens is None:
            return None
        if isinstance(check, MatchTextAny) or not tokens:
            return self.lookup(tokens)  # no tokens: nothing matches
        postings = [self._postings.get(token) for token in tokens]
        if any(not p for p in postings):
            return EMPTY
        postings.sort(key=len)
        found = set(postings[0])
        for posting in postings[1:]:
            found &= posting
        return to_offsets(found)
