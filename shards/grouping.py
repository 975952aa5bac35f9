"""Grouped search (``/points/query/groups``, ``/points/search/groups``).

A grouped search runs an ordinary search with a growing limit and deals its
hits, best first, into groups keyed by the values of one payload field:

* only keyword (string) and integer values make groups; a point whose field
  holds an array joins one group per distinct value; points without a usable
  value are skipped;
* the first ``limit`` distinct values met form the groups, so groups are
  ordered by their best hit; each group keeps its first ``group_size`` hits.

The search is repeated with twice the limit until every group is full or the
search returns fewer hits than asked for (the candidates are exhausted).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from shards.payload_path import values_at
from shards.types import ScoredPoint

Fetch = Callable[[int], Awaitable[list[ScoredPoint]]]

MIN_FETCH = 16


@dataclass
class Group:
    id: Any  # str or int
    hits: list[ScoredPoint] = field(default_factory=list)


def group_values(payload: dict[str, Any] | None, key: str) -> list[Any]:
    """Distinct keyword/integer values of ``key`` in ``payload``, in payload order."""
    if not payload:
        return []
    out: list[Any] = []
    seen: set = set()
    for value in values_at(payload, key):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            continue
        marker = (type(value), value)
        if marker not in seen:
            seen.add(marker)
            out.append(value)
    return out


def deal(hits: list[ScoredPoint], key: str, limit: int, group_size: int) -> list[Group]:
    """Deal ``hits`` (best first) into at most ``limit`` groups of at most ``group_size``."""
    groups: dict[tuple, Group] = {}
    for hit in hits:
        for value in group_values(hit.payload, key):
            marker = (type(value), value)
            group = groups.get(marker)
            if group is None:
                if len(groups) >= limit:
                    continue
                group = groups[marker] = Group(id=value)
            if len(group.hits) < group_size:
                group.hits.append(hit)
    return list(groups.values())


def _complete(groups: list[Group], limit: int, group_size: int) -> bool:
    return len(groups) >= limit and all(len(g.hits) >= group_size for g in groups)


async def search_groups(fetch: Fetch, key: str, limit: int, group_size: int) -> list[Group]:
    """Groups from ``fetch(n)`` (up to ``n`` hits, best first, with the payload of ``key``)."""
    n = max(MIN_FETCH, 2 * limit * group_size)
    while True:
        hits = await fetch(n)
        groups = deal(hits, key, limit, group_size)
        if len(hits) < n or _complete(groups, limit, group_size):
            return groups
        n *= 2
