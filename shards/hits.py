"""Completing scored hits with what the request asked to see."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from shards.operations import SearchRequest
from shards.types import ScoredPoint


async def attach_records(
    collection: Any, hits: list[ScoredPoint], request: SearchRequest, options: Any, with_versions: bool = False
) -> list[ScoredPoint]:
    """Fill in payload and vectors (and versions, if asked) of hits scored elsewhere.

    Hits whose point was deleted meanwhile are dropped.
    """
    if not hits or (not with_versions and not request.with_payload.enabled and not request.with_vector.enabled):
        return hits
    records = await collection.retrieve([hit.id for hit in hits], request.with_payload, request.with_vector, options)
    by_id = {record.id: record for record in records}
    out: list[ScoredPoint] = []
    for hit in hits:
        record = by_id.get(hit.id)
        if record is None:
            continue
        version = record.version if with_versions else hit.version
        out.append(replace(hit, version=version, payload=record.payload, vectors=record.vectors))
    return out
