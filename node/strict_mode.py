"""Strict mode: the per-collection limits of ``strict_mode_config``, as Qdrant enforces them.

Every check is a pure function of the collection config (and what the caller
measured); nothing is checked unless ``strict_mode_config.enabled`` is true.
Violations raise :class:`BadInput` worded as Qdrant's (``Bad request: ... Help: ...``)
and rate limits :class:`RateLimited` (429), with the seconds to wait in ``retry_after``.

Rate limits follow Qdrant: ``read_rate_limit`` / ``write_rate_limit`` are requests
(writes: points) per minute, a token bucket per collection that starts full, holds
``limit`` tokens and refills ``limit / 60`` tokens a second.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from consensus.errors import BadInput, RateLimited
from shards.conditions import (
    DatetimeRange,
    FieldCondition,
    MatchAny,
    MatchExcept,
    MatchPhrase,
    MatchPrefix,
    MatchText,
    MatchTextAny,
    MatchValue,
    Range,
)
from shards.filters import Filter, NestedCondition, count_conditions


def active(config: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    """The strict-mode section when it is enabled, else None."""
    strict = (config or {}).get("strict_mode_config")
    if isinstance(strict, Mapping) and strict.get("enabled"):
        return strict
    return None


def _error(description: str, solution: str) -> BadInput:
    return BadInput(f"Bad request: {description}. Help: {solution}")


def _num(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def check_limit(value: Any, limit: Any, name: str) -> None:
    if value is None or limit is None or value <= limit:
        return
    raise _error(
        f'Limit exceeded {_num(value)} > {_num(limit)} for "{name}"',
        f'Reduce the "{name}" parameter to or below {_num(limit)}.',
    )


# --------------------------------------------------------------------------- reads


def check_query(
    config: Mapping[str, Any] | None,
    *,
    limit: int | None = None,
    hnsw_ef: int | None = None,
    exact: bool | None = None,
    oversampling: float | None = None,
    timeout: int | None = None,
    filters: Iterable[Filter | None] = (),
    indexed_fields: Mapping[str, str] | None = None,
) -> None:
    """A read request (search, query, scroll, count, retrieve); ``filters`` are read filters."""
    strict = active(config)
    if strict is None:
        return
    check_limit(timeout, strict.get("max_timeout"), "timeout")
    check_limit(limit, strict.get("max_query_limit"), "limit")
    for filter in filters:
        check_filter(config, filter, indexed_fields or {})
    if exact and strict.get("search_allow_exact") is False:
        raise _error("Exact search disabled!", "Set exact=false.")
    check_limit(oversampling, strict.get("search_max_oversampling"), "oversampling")
    check_limit(hnsw_ef, strict.get("search_max_hnsw_ef"), "hnsw_ef")


def check_timeout(config: Mapping[str, Any] | None, timeout: int | None) -> None:
    strict = active(config)
    if strict is not None:
        check_limit(timeout, strict.get("max_timeout"), "timeout")


def check_batch_size(config: Mapping[str, Any] | None, size: int) -> None:
    strict = active(config)
    if strict is not None:
        check_limit(size, strict.get("search_max_batchsize"), "search batch size")


# --------------------------------------------------------------------------- filters


def max_condition_size(filter: Filter | None) -> int:
    """The largest ``match.any`` / ``match.except`` list in the filter (0 without one)."""
    if filter is None:
        return 0
    best = 0
    clauses = [*filter.must, *filter.should, *filter.must_not]
    if filter.min_should is not None:
        clauses.extend(filter.min_should.conditions)
    for condition in clauses:
        if isinstance(condition, Filter):
            best = max(best, max_condition_size(condition))
        elif isinstance(condition, NestedCondition):
            best = max(best, max_condition_size(condition.filter))
        elif isinstance(condition, FieldCondition) and isinstance(condition.match, (MatchAny, MatchExcept)):
            best = max(best, len(condition.match.values))
    return best


def _required_types(condition: FieldCondition) -> tuple[str, ...] | None:
    """Index types that can serve the condition; None when it needs no index."""
    match = condition.match
    if isinstance(match, MatchValue):
        if isinstance(match.value, bool):
            return ("bool",)
        if isinstance(match.value, int):
            return ("integer",)
        return ("keyword", "uuid")
    if isinstance(match, (MatchAny, MatchExcept)):
        return ("integer",) if match.integers else ("keyword", "uuid")
    if isinstance(match, (MatchText, MatchTextAny, MatchPhrase)):
        return ("text",)
    if isinstance(match, MatchPrefix):
        return ("keyword", "text")
    if isinstance(condition.range, DatetimeRange):
        return ("datetime",)
    if isinstance(condition.range, Range):
        return ("float", "integer")
    if any(g is not None for g in (condition.geo_bounding_box, condition.geo_radius, condition.geo_polygon)):
        return ("geo",)
    return None


def one_unindexed_key(filter: Filter | None, indexed_fields: Mapping[str, str], prefix: str = "") -> tuple[str, tuple[str, ...]] | None:
    """``(key, index types it needs)`` of the first condition without a fitting index."""
    if filter is None:
        return None
    clauses = [*filter.must, *filter.should, *filter.must_not]
    if filter.min_should is not None:
        clauses.extend(filter.min_should.conditions)
    for condition in clauses:
        found = None
        if isinstance(condition, Filter):
            found = one_unindexed_key(condition, indexed_fields, prefix)
        elif isinstance(condition, NestedCondition):
            found = one_unindexed_key(condition.filter, indexed_fields, f"{prefix}{condition.key}[].")
        elif isinstance(condition, FieldCondition):
            types = _required_types(condition)
            key = prefix + condition.key
            if types is not None and indexed_fields.get(key) not in types:
                found = (key, tuple(t for t in types if t != "uuid"))
        if found is not None:
            return found
    return None


def check_filter(
    config: Mapping[str, Any] | None,
    filter: Filter | None,
    indexed_fields: Mapping[str, str],
    *,
    write: bool = False,
) -> None:
    """Condition count and size limits, then the index requirement (read or update filter)."""
    strict = active(config)
    if strict is None or filter is None:
        return
    max_conditions = strict.get("filter_max_conditions")
    if max_conditions is not None:
        total = count_conditions(filter)
        if total > max_conditions:
            raise _error(
                f"Filter condition limit reached ({total} > {max_conditions})",
                "Reduce the amount of conditions of your filter.",
            )
    max_size = strict.get("condition_max_size")
    if max_size is not None:
        size = max_condition_size(filter)
        if size > max_size:
            raise _error(
                f"Condition size limit reached ({size} > {max_size})", "Reduce the size of your condition."
            )
    allowed = strict.get("unindexed_filtering_update" if write else "unindexed_filtering_retrieve")
    if allowed is False:
        missing = one_unindexed_key(filter, indexed_fields)
        if missing is not None:
            key, types = missing
            raise _error(
                f'Index required but not found for "{key}" of one of the following types: '
                f"[{', '.join(sorted(set(types)))}]",
                "Create an index for this key or use a different filter.",
            )


# --------------------------------------------------------------------------- writes


def check_upsert(
    config: Mapping[str, Any] | None,
    batch_size: int,
    *,
    points_count: int | None = None,
    vector_bytes: int | None = None,
    name: str = "upsert limit",
) -> None:
    """An upsert (or update of vectors) of ``batch_size`` points into a collection that
    holds ``points_count`` points and about ``vector_bytes`` of vector data."""
    strict = active(config)
    if strict is None:
        return
    check_limit(batch_size, strict.get("upsert_max_batchsize"), name)
    max_bytes = strict.get("max_collection_vector_size_bytes")
    if max_bytes is not None and vector_bytes is not None and vector_bytes >= max_bytes:
        size_mb = max_bytes / (1024.0 * 1024.0)
        raise BadInput(f"Bad request: Max vector storage size limit of {_num(size_mb)}MB reached!")
    max_points = strict.get("max_points_count")
    if max_points is not None and points_count is not None and points_count >= max_points:
        raise BadInput(f"Bad request: Max points count limit of {max_points} reached!")


def check_payload_index_count(config: Mapping[str, Any] | None, existing: int) -> None:
    strict = active(config)
    if strict is None:
        return
    limit = strict.get("max_payload_index_count")
    if limit is not None and existing >= limit:
        raise _error(
            f"Collection already has the maximum number of payload indices ({limit})",
            "Please delete an existing index before creating a new one.",
        )


def vector_bytes_per_point(config: Mapping[str, Any]) -> int:
    """Bytes of the dense vectors of one point (float32), from ``params.vectors``."""
    vectors = (config.get("params") or {}).get("vectors") or {}
    if isinstance(vectors, Mapping) and "size" in vectors:
        vectors = {"": vectors}
    total = 0
    for params in vectors.values() if isinstance(vectors, Mapping) else ():
        if isinstance(params, Mapping) and isinstance(params.get("size"), int):
            total += 4 * params["size"]
    return total


# --------------------------------------------------------------------------- rate limits


class RateLimitedError(RateLimited):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TokenBucket:
    """``limit`` tokens per minute; starts full."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.tokens = float(per_minute)
        self.clock = clock
        self.last = clock()

    def try_consume(self, cost: float) -> float | None:
        """Take ``cost`` tokens; None on success, else the tokens that were available."""
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if cost <= self.tokens:
            self.tokens -= cost
            return None
        return self.tokens


class RateLimiters:
    """One read and one write bucket per collection, rebuilt when its limit changes."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[int, TokenBucket]] = {}
        self._lock = threading.Lock()

    def check(self, collection: str, config: Mapping[str, Any] | None, kind: str, cost: int = 1) -> None:
        """``kind`` is ``read`` or ``write``; raises :class:`RateLimitedError` (429) when over."""
        strict = active(config)
        limit = strict.get(f"{kind}_rate_limit") if strict is not None else None
        if limit is None:
            return
        with self._lock:
            entry = self._buckets.get((collection, kind))
            if entry is None or entry[0] != limit:
                entry = (limit, TokenBucket(limit, self.clock))
                self._buckets[(collection, kind)] = entry
            bucket = entry[1]
            available = bucket.try_consume(cost)
        if available is None:
            return
        retry_after = max(1, math.ceil((cost - available) / bucket.rate))
        raise RateLimitedError(
            f"Rate limiting exceeded: {kind.capitalize()} rate limit exceeded: Operation requires "
            f"{cost} tokens but only {available:.1f} were available. Retry after {retry_after}s",
            retry_after,
        )
