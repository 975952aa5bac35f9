"""Facet counts: how many points hold each value of a payload key.

Exact and simple: the matching points are scrolled page by page (across every
targeted shard, through :meth:`Collection.scroll`) and each distinct value a
point holds at the key counts once for that point.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any, Optional

from consensus.errors import BadInput
from shards.collection import Collection, ReadOptions
from shards.filters import Filter
from shards.operations import ScrollRequest
from shards.payload_index import parse_field_schema
from shards.payload_path import values_at
from shards.types import PayloadSelector, VectorSelector

PAGE = 10_000

# Index types whose values Qdrant can facet on (its "map" indexes).
FACET_TYPES = ("keyword", "integer", "uuid", "bool")


@dataclass(frozen=True)
class FacetRequest:
    key: str
    filter: Optional[Filter] = None
    limit: int = 10
    exact: bool = False


def missing_index_error(key: str) -> BadInput:
    return BadInput(
        f"Wrong input: No appropriate index for faceting: `{key}`. Please create one to facet on this field. "
        "Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload "
        "schemas support Match conditions"
    )


def facet_type(key: str, index_spec: Any) -> str:
    """The index type to facet ``key`` by; BadInput when it has no suitable index."""
    if index_spec is None:
        raise missing_index_error(key)
    schema = parse_field_schema(index_spec)
    if schema.data_type not in FACET_TYPES:
        raise missing_index_error(key)
    if schema.data_type == "integer" and (schema.params or {}).get("lookup") is False:
        raise missing_index_error(key)
    return schema.data_type


def _facet_value(value: Any, data_type: str) -> Any:
    """The value as the index of ``data_type`` sees it, or None when it does not index it."""
    if data_type == "keyword":
        return value if type(value) is str else None
    if data_type == "integer":
        return value if type(value) is int else None
    if data_type == "bool":
        return value if type(value) is bool else None
    if type(value) is str:  # uuid
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return None
    return None


def _sort_key(item: tuple[Any, int]) -> tuple:
    value, count = item
    return (-count, str(type(value).__name__), value)


async def facet(
    collection: Collection, request: FacetRequest, data_type: str, options: ReadOptions
) -> list[tuple[Any, int]]:
    """``[(value, count)]``, most frequent first, ties by value ascending, at most ``limit``."""
    simple_key = "[" not in request.key
    selector = PayloadSelector(include=(request.key,)) if simple_key else PayloadSelector()
    counts: Counter = Counter()
    offset = None
    while True:
        scroll = ScrollRequest(
            filter=request.filter,
            limit=PAGE,
            offset=offset,
            with_payload=selector,
            with_vector=VectorSelector(enabled=False),
        )
        records, offset = await collection.scroll(scroll, options)
        for record in records:
            seen = set()
            for raw in values_at(record.payload or {}, request.key):
                value = _facet_value(raw, data_type)
                if value is not None:
                    seen.add(value)
            counts.update(seen)
        if offset is None:
            break
    return sorted(counts.items(), key=_sort_key)[: request.limit]
