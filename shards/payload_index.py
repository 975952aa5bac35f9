"""Payload index schemas and the set of payload indexes of one shard.

``parse_field_schema`` validates what a client sends to create a field index
(a type name, or an object with ``type`` and parameters). ``PayloadIndexes``
keeps one in-memory index per indexed field, fed with ``add``/``remove`` by the
shard on every payload change, and narrows filters to candidate point offsets.

Candidate sets are always supersets of the points the filter matches: the
shard still checks each candidate with ``Filter.matches``. Not thread-safe;
the shard serializes access.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import numpy as np

from consensus.errors import BadInput
from shards.conditions import TEXT_MATCHES, FieldCondition
from shards.field_indexes import (
    EMPTY,
    BoolIndex,
    DatetimeIndex,
    FieldIndex,
    FloatIndex,
    GeoIndex,
    IntegerIndex,
    KeywordIndex,
    TextIndex,
    UuidIndex,
)
from shards.filters import Condition, Filter, MinShould, NestedCondition
from shards.payload_path import parse_path, path_to_str, values_at
from shards.text_tokenizer import TOKENIZERS, TokenizerConfig

SCHEMA_TYPES = ("keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid")

LANGUAGES = frozenset(
    "arabic azerbaijani basque bengali catalan chinese danish dutch english finnish french german "
    "greek hebrew hinglish hungarian indonesian italian japanese kazakh nepali norwegian portuguese "
    "romanian russian slovene spanish swedish tajik turkish".split()
)
SNOWBALL_LANGUAGES = frozenset(
    "arabic armenian danish dutch english finnish french german greek hungarian italian norwegian "
    "portuguese romanian russian spanish swedish tamil turkish".split()
)

_COMMON_PARAMS = {"on_disk": "bool", "memory": "memory", "enable_hnsw": "bool"}
_TYPE_PARAMS: dict[str, dict[str, str]] = {
    "keyword": {"is_tenant": "bool", "prefix": "bool"},
    "integer": {"lookup": "bool", "range": "bool", "is_principal": "bool"},
    "float": {"is_principal": "bool"},
    "geo": {},
    "text": {
        "tokenizer": "tokenizer",
        "min_token_len": "uint",
        "max_token_len": "uint",
        "lowercase": "bool",
        "ascii_folding": "bool",
        "phrase_matching": "bool",
        "stopwords": "stopwords",
        "stemmer": "stemmer",
    },
    "bool": {},
    "datetime": {"is_principal": "bool"},
    "uuid": {"is_tenant": "bool"},
}


@dataclass(frozen=True)
class FieldSchema:
    """The type of a payload index and, when given as an object, its parameters.

    ``params`` is None for the short form (``"keyword"``); otherwise it holds the
    non-null fields the client gave, ``type`` included, as Qdrant echoes them.
    """

    data_type: str
    params: dict[str, Any] | None = None

    def to_json(self, points: int = 0) -> dict[str, Any]:
        """A ``payload_schema`` entry: ``{"data_type", "params"?, "points"}``."""
        out: dict[str, Any] = {"data_type": self.data_type}
        if self.params is not None:
            out["params"] = dict(self.params)
        out["points"] = points
        return out

    def to_request_json(self) -> str | dict[str, Any]:
        """The form a client sends (and ``parse_field_schema`` accepts back)."""
        return self.data_type if self.params is None else dict(self.params)

    def to_spec(self) -> str | dict[str, Any]:
        """JSON-able form to store (e.g. in cluster metadata); same as :meth:`to_request_json`."""
        return self.to_request_json()

    def param(self, name: str, default: Any = None) -> Any:
        if self.params is None:
            return default
        value = self.params.get(name)
        return default if value is None else value

    def tokenizer_config(self) -> TokenizerConfig:
        """Tokenizing settings of a text index (defaults for other types)."""
        return TokenizerConfig.from_params(self.params)


def parse_field_schema(raw: Any) -> FieldSchema:
    """Validate a ``field_schema`` of a create-index request."""
    if isinstance(raw, str):
        if raw not in SCHEMA_TYPES:
            raise BadInput(f"Unknown field schema type {raw!r}; expected one of {', '.join(SCHEMA_TYPES)}")
        return FieldSchema(data_type=raw)
    if not isinstance(raw, dict):
        raise BadInput("field_schema must be a type name or an object with a 'type'")
    data_type = raw.get("type")
    if data_type not in SCHEMA_TYPES:
        raise BadInput(f"field_schema.type must be one of {', '.join(SCHEMA_TYPES)}, got {data_type!r}")
    allowed = {**_COMMON_PARAMS, **_TYPE_PARAMS[data_type]}
    params: dict[str, Any] = {"type": data_type}
    for name, value in raw.items():
        if name == "type" or value is None:
            continue
        kind = allowed.get(name)
        if kind is None:
            raise BadInput(
                f"field_schema: unknown parameter {name!r} for a {data_type} index; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        params[name] = _validate_param(name, kind, value)
    if data_type == "text":
        params.setdefault("tokenizer", "word")
        low, high = params.get("min_token_len"), params.get("max_token_len")
        if low is not None and high is not None and low > high:
            raise BadInput("field_schema: min_token_len must not exceed max_token_len")
    if data_type == "integer" and params.get("lookup") is False and params.get("range") is False:
        raise BadInput("field_schema: an integer index needs at least one of lookup or range enabled")
    return FieldSchema(data_type=data_type, params=params)


def _validate_param(name: str, kind: str, value: Any) -> Any:
    where = f"field_schema.{name}"
    if kind == "bool":
        if not isinstance(value, bool):
            raise BadInput(f"{where} must be a boolean")
        return value
    if kind == "uint":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise BadInput(f"{where} must be a non-negative integer")
        return value
    if kind == "memory":
        if value not in ("cold", "cached", "pinned"):
            raise BadInput(f"{where} must be one of cold, cached, pinned")
        return value
    if kind == "tokenizer":
        if value not in TOKENIZERS:
            raise BadInput(f"{where} must be one of {', '.join(TOKENIZERS)}")
        return value
    if kind == "stopwords":
        return _validate_stopwords(value, where)
    return _validate_stemmer(value, where)


def _validate_stopwords(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if value not in LANGUAGES:
            raise BadInput(f"{where}: unknown language {value!r}")
        return value
    if not isinstance(value, dict) or set(value) - {"languages", "custom"}:
        raise BadInput(f"{where} must be a language or an object with 'languages' and/or 'custom'")
    out: dict[str, Any] = {}
    languages = value.get("languages")
    if languages is not None:
        if not isinstance(languages, list) or any(lang not in LANGUAGES for lang in languages):
            raise BadInput(f"{where}.languages must be a list of known languages")
        out["languages"] = languages
    custom = value.get("custom")
    if custom is not None:
        if not isinstance(custom, list) or not all(isinstance(word, str) for word in custom):
            raise BadInput(f"{where}.custom must be a list of strings")
        out["custom"] = custom
    return out


def _validate_stemmer(value: Any, where: str) -> Any:
    if not isinstance(value, dict):
        raise BadInput(f"{where} must be an object with a 'type'")
    if value.get("type") == "none" and set(value) == {"type"}:
        return {"type": "none"}
    if value.get("type") == "snowball" and set(value) == {"type", "language"}:
        if value["language"] not in SNOWBALL_LANGUAGES:
            raise BadInput(f"{where}.language: snowball has no stemmer for {value['language']!r}")
        return dict(value)
    raise BadInput(f"{where} must be {{'type': 'snowball', 'language': ...}} or {{'type': 'none'}}")


def _canonical(path: str) -> str:
    return path_to_str(parse_path(path))


def _make_index(schema: FieldSchema) -> FieldIndex:
    kind = schema.data_type
    if kind == "keyword":
        return KeywordIndex()
    if kind == "integer":
        return IntegerIndex()
    if kind == "float":
        return FloatIndex()
    if kind == "bool":
        return BoolIndex()
    if kind == "datetime":
        return DatetimeIndex()
    if kind == "uuid":
        return UuidIndex()
    if kind == "geo":
        return GeoIndex()
    return TextIndex(schema.tokenizer_config())


def _intersect(parts: list[np.ndarray]) -> np.ndarray:
    parts.sort(key=len)
    result = parts[0]
    for part in parts[1:]:
        if not len(result):
            break
        result = np.intersect1d(result, part, assume_unique=True)
    return result


def _union(parts: list[np.ndarray]) -> np.ndarray:
    parts = [p for p in parts if len(p)]
    if not parts:
        return EMPTY
    if len(parts) == 1:
        return parts[0]
    return np.unique(np.concatenate(parts))


class PayloadIndexes:
    """The payload indexes of one shard, keyed by field path."""

    def __init__(self) -> None:
        self._schemas: dict[str, FieldSchema] = {}
        self._indexes: dict[str, FieldIndex] = {}
        self._by_canonical: dict[str, str] = {}

    # ----------------------------------------------------------------- maintenance

    def create(self, field: str, schema: FieldSchema, payloads: Iterable[tuple[int, dict]] = ()) -> None:
        """Create (or replace) the index of ``field``, filling it from ``(offset, payload)`` pairs."""
        canonical = _canonical(field)
        previous = self._by_canonical.get(canonical)
        if previous is not None:
            self.drop(previous)
        index = _make_index(schema)
        for offset, payload in payloads:
            index.add(offset, values_at(payload, field))
        self._schemas[field] = schema
        self._indexes[field] = index
        self._by_canonical[canonical] = field

    def drop(self, field: str) -> None:
        """Remove the index of ``field``; unknown fields are ignored."""
        name = self._by_canonical.pop(_canonical(field), None)
        if name is not None:
            del self._schemas[name]
            del self._indexes[name]

    def fields(self) -> dict[str, FieldSchema]:
        return dict(self._schemas)

    def add(self, offset: int, payload: dict) -> None:
        """Index the payload of the point at ``offset`` (replacing what was indexed for it)."""
        for field, index in self._indexes.items():
            index.add(offset, values_at(payload, field))

    def add_field(self, field: str, offset: int, payload: dict) -> None:
        """Index one point's payload in the index of ``field`` only (backfilling a new index)."""
        found = self._index(field)
        if found is not None:
            found[1].add(offset, values_at(payload, field))

    def remove(self, offset: int, payload: dict | None = None) -> None:
        """Forget the point at ``offset``; the indexes remember its values, so
        ``payload`` is not needed."""
        for index in self._indexes.values():
            index.remove(offset)

    # ----------------------------------------------------------------- reading

    def schema_json(self) -> dict[str, dict]:
        """``payload_schema`` of collection info: per field, type, params and point count."""
        return {
            field: self._schemas[field].to_json(points=index.points_count)
            for field, index in self._indexes.items()
        }

    def _index(self, field: str) -> tuple[FieldSchema, FieldIndex] | None:
        try:
            name = self._by_canonical.get(_canonical(field))
        except BadInput:
            return None
        if name is None:
            return None
        return self._schemas[name], self._indexes[name]

    def is_range_capable(self, field: str) -> bool:
        """Whether ``field`` has an index that supports ranges and ordering."""
        found = self._index(field)
        if found is None:
            return False
        schema, _ = found
        if schema.data_type == "integer":
            return bool(schema.param("range", True))
        return schema.data_type in ("float", "datetime")

    def order_by(
        self, field: str, descending: bool = False, start_from: float | None = None
    ) -> Iterator[tuple[float, int]]:
        """``(value, offset)`` for every indexed value of a range-capable field, in order.

        ``start_from`` skips values before it (below it ascending, above it descending).
        Datetimes are given as epoch seconds. Points with several values appear once per value.
        """
        found = self._index(field)
        if found is None or not self.is_range_capable(field):
            raise BadInput(f"No range index for order_by key {field!r}")
        index = found[1]
        return index.ordered(descending, start_from)  # type: ignore[attr-defined]

    def candidates(self, filter: Filter | None) -> np.ndarray | None:
        """Sorted unique offsets that include every point matching ``filter``, using only
        indexed conditions, or None when no index narrows the filter."""
        if filter is None:
            return None
        return self._filter_candidates(filter, "")

    def estimate(self, filter: Filter | None) -> int | None:
        """Upper bound of the number of matching points, or None when unknown."""
        found = self.candidates(filter)
        return None if found is None else int(len(found))

    def bind_text(self, filter: Filter | None) -> Filter | None:
        """The filter with its text matches on text-indexed fields using those indexes'
        tokenizers, as Qdrant does when a field has a full-text index."""
        if filter is None:
            return None
        return self._bind_filter(filter, "")

    # ----------------------------------------------------------------- internals

    def _filter_candidates(self, filter: Filter, prefix: str) -> np.ndarray | None:
        parts: list[np.ndarray] = []
        for condition in filter.must:
            found = self._condition_candidates(condition, prefix)
            if found is not None:
                parts.append(found)
        if filter.should:
            branches = [self._condition_candidates(c, prefix) for c in filter.should]
            if all(b is not None for b in branches):
                parts.append(_union(branches))  # type: ignore[arg-type]
        if filter.min_should is not None:
            found = self._min_should_candidates(filter.min_should, prefix)
            if found is not None:
                parts.append(found)
        if not parts:
            return None
        return _intersect(parts)

    def _min_should_candidates(self, min_should: MinShould, prefix: str) -> np.ndarray | None:
        branches = [self._condition_candidates(c, prefix) for c in min_should.conditions]
        if any(b is None for b in branches) or not branches:
            return None
        joined = np.concatenate(branches)  # type: ignore[arg-type]
        if not len(joined):
            return EMPTY
        offsets, counts = np.unique(joined, return_counts=True)
        return offsets[counts >= min_should.min_count]

    def _condition_candidates(self, condition: Condition, prefix: str) -> np.ndarray | None:
        if isinstance(condition, Filter):
            return self._filter_candidates(condition, prefix)
        if isinstance(condition, NestedCondition):
            return self._filter_candidates(condition.filter, f"{prefix}{condition.array_path()}.")
        if isinstance(condition, FieldCondition):
            return self._field_candidates(condition, prefix)
        return None

    def _field_candidates(self, condition: FieldCondition, prefix: str) -> np.ndarray | None:
        if condition.values_count is not None or condition.is_empty is not None or condition.is_null is not None:
            return None
        found = self._index(prefix + condition.key)
        if found is None:
            return None
        index = found[1]
        parts = []
        for check in condition.value_checks():
            hits = index.match(check)
            if hits is None:
                return None
            parts.append(hits)
        if index.other:
            parts.append(np.fromiter(index.other, dtype=np.int64, count=len(index.other)))
        return _union(parts)

    def _bind_filter(self, filter: Filter, prefix: str) -> Filter:
        def bind_all(conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
            return tuple(self._bind_condition(c, prefix) for c in conditions)

        min_should = filter.min_should
        if min_should is not None:
            min_should = MinShould(conditions=bind_all(min_should.conditions), min_count=min_should.min_count)
        return Filter(
            must=bind_all(filter.must),
            should=bind_all(filter.should),
            must_not=bind_all(filter.must_not),
            min_should=min_should,
        )

    def _bind_condition(self, condition: Condition, prefix: str) -> Condition:
        if isinstance(condition, Filter):
            return self._bind_filter(condition, prefix)
        if isinstance(condition, NestedCondition):
            inner = self._bind_filter(condition.filter, f"{prefix}{condition.array_path()}.")
            return NestedCondition(key=condition.key, filter=inner)
        if isinstance(condition, FieldCondition) and isinstance(condition.match, TEXT_MATCHES):
            found = self._index(prefix + condition.key)
            if found is not None and isinstance(found[1], TextIndex):
                match = dataclasses.replace(condition.match, tokenizer=found[1].tokenizer)
                return dataclasses.replace(condition, match=match)
        return condition

