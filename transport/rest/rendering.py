"""Domain values rendered as Qdrant's REST JSON."""

from __future__ import annotations

from typing import Any

import numpy as np

from shards.operations import UpdateResult
from shards.types import DEFAULT_VECTOR, Record, ScoredPoint, VectorValue, vector_to_json


def render_vectors(vectors: dict[str, VectorValue] | None) -> Any:
    if vectors is None:
        return None
    if set(vectors) == {DEFAULT_VECTOR}:
        return vector_to_json(vectors[DEFAULT_VECTOR])
    return {name: vector_to_json(value) for name, value in vectors.items()}


def render_record(record: Record, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record.id, "payload": record.payload, "vector": None}
    if record.vectors:
        out["vector"] = render_vectors(record.vectors)
    if record.order_value is not None:
        out["order_value"] = record.order_value
    return out


def f32(value: float) -> float:
    """A float32 score written with the fewest digits that round-trip, as Qdrant prints it."""
    return float(str(np.float32(value)))


def render_scored_point(hit: ScoredPoint, config: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": hit.id,
        "version": hit.version,
        "score": f32(hit.score),
        "payload": hit.payload,
        "vector": render_vectors(hit.vectors) if hit.vectors is not None else None,
    }


def render_update(result: UpdateResult) -> dict[str, Any]:
    return {"operation_id": result.operation_id, "status": "completed" if result.completed else "acknowledged"}
