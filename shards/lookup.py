"""Reading example vectors by point id, from the queried collection or a ``lookup_from`` one.

Queries that take point ids as examples (nearest by id, recommend, discover,
context) read those points' vectors. With ``lookup_from: {collection, vector}``
they are read from another collection (a name or an alias), from its vector
``vector`` (the default vector when absent, as in Qdrant). Ids are left out of
the results only when they come from the queried collection itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any, Optional

from consensus.errors import BadInput, NotFound
from shards.types import DEFAULT_VECTOR, PayloadSelector, PointId, VectorSelector

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LookupLocation:
    """``lookup_from``: where ids used as examples are looked up."""

    collection: str
    vector: Optional[str] = None
    shard_keys: Optional[tuple[Any, ...]] = None


@dataclass(frozen=True)
class VectorSource:
    """A resolved lookup: the collection to read, the vector name, and whether it is the queried one."""

    collection: Any
    vector_name: str
    same_collection: bool
    options: Any


def resolve_source(collection: Any, lookup: Optional[LookupLocation], using: str, options: Any) -> VectorSource:
    """Where ids of a query on ``collection`` (vector ``using``) are read from."""
    if lookup is None:
        return VectorSource(collection, using, True, replace(options, consistency=None))
    resolver = getattr(collection, "resolve_collection", None)
    if resolver is None:
        raise BadInput("Bad request: `lookup_from` is not available here")
    try:
        source = resolver(lookup.collection)
    except NotFound:
        raise NotFound(f"Not found: Collection `{lookup.collection}` doesn't exist!") from None
    name = lookup.vector if lookup.vector is not None else DEFAULT_VECTOR
    if name not in source.dense_params and name not in source.sparse_params:
        raise BadInput(f"Wrong input: Not existing vector name error: {name}")
    source_options = replace(options, consistency=None, shard_keys=lookup.shard_keys)
    return VectorSource(source, name, source is collection, source_options)


async def fetch_vectors(source: VectorSource, ids: list[PointId]) -> dict[PointId, Any]:
    """The ``source.vector_name`` vector of each of ``ids`` (NotFound / BadInput when missing)."""
    if not ids:
        return {}
    records = await source.collection.retrieve(
        ids,
        PayloadSelector(enabled=False),
        VectorSelector(enabled=True, names=(source.vector_name,)),
        source.options,
    )
    found = {record.id: record for record in records}
    out: dict[PointId, Any] = {}
    for pid in ids:
        record = found.get(pid)
        if record is None:
            raise NotFound(f"Not found: No point with id {pid} found")
        vector = (record.vectors or {}).get(source.vector_name)
        if vector is None:
            raise BadInput(f"Wrong input: Vector `{source.vector_name}` is not found in point {pid}")
        out[pid] = vector
    return out


__all__ = ["LookupLocation", "VectorSource", "fetch_vectors", "resolve_source"]
