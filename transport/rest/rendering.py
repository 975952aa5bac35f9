"""Domain values rendered as Qdrant's REST JSON."""

from __future__ import annotations

from typing import Any

import numpy as np

from shards.operations import UpdateResult
from shards.types import DEFAULT_VECTOR, Record, ScoredPoint, SparseVector, VectorValue

_EXACT_POWER = 22  # 10**22 is the largest power of ten a float64 holds exactly


def shortest_float32(values: np.ndarray) -> np.ndarray:
    """Float32 values as the float64s of their shortest round-trip decimals.

    Qdrant prints an f32 with the fewest digits that read back as the same f32
    (0.1, not 0.10000000149011612), so a client gets back the numbers it sent.
    Vectorised: for 1..9 significant digits, round every value still pending and
    keep those that convert back to the same float32.
    """
    v32 = np.asarray(values, dtype=np.float32)
    flat = v32.ravel()
    exact = flat.astype(np.float64)
    out = exact.copy()
    pending = np.isfinite(flat) & (flat != 0)
    with np.errstate(all="ignore"):
        exponent = np.floor(np.log10(np.abs(exact)))
    # Scaling by 10**power is exact only while |power| <= 22; other magnitudes go the slow way.
    vectorised = pending & (exponent >= 8 - _EXACT_POWER) & (exponent <= _EXACT_POWER)
    slow = pending & ~vectorised
    pending = vectorised
    for digits in range(1, 10):
        idx = np.flatnonzero(pending)
        if idx.size == 0:
            break
        x = exact[idx]
        power = digits - 1 - exponent[idx]
        up = power >= 0
        candidate = np.empty_like(x)
        scale_up = 10.0 ** power[up]
        candidate[up] = np.rint(x[up] * scale_up) / scale_up
        scale_down = 10.0 ** (-power[~up])
        candidate[~up] = np.rint(x[~up] / scale_down) * scale_down
        hit = candidate.astype(np.float32) == flat[idx]
        out[idx[hit]] = candidate[hit]
        pending[idx[hit]] = False
    for i in np.flatnonzero(pending | slow):
        out[i] = float(str(flat[i]))
    return out.reshape(v32.shape)


def vector_json(value: VectorValue) -> Any:
    """One stored vector as Qdrant's REST API shows it, with f32 values printed shortest."""
    if isinstance(value, SparseVector):
        return {"indices": value.indices.tolist(), "values": shortest_float32(value.values).tolist()}
    return shortest_float32(value).tolist()


def render_vectors(vectors: dict[str, VectorValue] | None) -> Any:
    if vectors is None:
        return None
    if set(vectors) == {DEFAULT_VECTOR}:
        return vector_json(vectors[DEFAULT_VECTOR])
    return {name: vector_json(value) for name, value in vectors.items()}


def render_record(record: Record, config: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"id": record.id, "payload": record.payload, "vector": None}
    if record.vectors is not None:
        out["vector"] = render_vectors(record.vectors)  # {} for a point without vectors, as Qdrant
    if record.order_value is not None:
        out["order_value"] = record.order_value
    return out


def f32(value: float) -> float:
    """A float32 score written with the fewest digits that round-trip, as Qdrant prints it."""
    return float(str(np.float32(value)))


def render_scored_point(hit: ScoredPoint, config: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": hit.id,
        "version": hit.version,
        "score": f32(hit.score),
        "payload": hit.payload,
        "vector": render_vectors(hit.vectors) if hit.vectors is not None else None,
    }
    if hit.order_value is not None:  # ``order_by`` queries; Qdrant leaves the field out otherwise
        out["order_value"] = hit.order_value
    return out


def render_update(result: UpdateResult) -> dict[str, Any]:
    return {"operation_id": result.operation_id, "status": "completed" if result.completed else "acknowledged"}
