"""Domain operations of the data plane: what an update or a read asks a shard to do.

Transport parses requests into these; ``Collection`` splits them by shard;
``LocalShard`` applies them. They carry parsed, validated values only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional, Union

import numpy as np

from shards.filters import Filter
from shards.types import PayloadSelector, PointId, PointStruct, SparseVector, VectorSelector, VectorValue


@dataclass(frozen=True)
class PointSelector:
    """Points chosen by ids, or by a filter (never both)."""

    ids: tuple[PointId, ...] | None = None
    filter: Filter | None = None


@dataclass(frozen=True)
class UpsertPoints:
    points: tuple[PointStruct, ...]
    update_filter: Filter | None = None
    update_mode: Literal["upsert", "insert_only", "update_only"] = "upsert"


@dataclass(frozen=True)
class DeletePoints:
    selector: PointSelector


@dataclass(frozen=True)
class UpdateVectors:
    """Replace some named vectors of existing points, keeping the others."""

    points: tuple[tuple[PointId, dict[str, VectorValue]], ...]
    update_filter: Filter | None = None


@dataclass(frozen=True)
class DeleteVectors:
    selector: PointSelector
    names: tuple[str, ...]


@dataclass(frozen=True)
class SetPayload:
    """Merge ``payload`` into the points' payload, or into the object at ``key``."""

    selector: PointSelector
    payload: dict[str, Any]
    key: str | None = None


@dataclass(frozen=True)
class OverwritePayload:
    selector: PointSelector
    payload: dict[str, Any]


@dataclass(frozen=True)
class DeletePayload:
    selector: PointSelector
    keys: tuple[str, ...]


@dataclass(frozen=True)
class ClearPayload:
    selector: PointSelector


UpdateOperation = Union[
    UpsertPoints,
    DeletePoints,
    UpdateVectors,
    DeleteVectors,
    SetPayload,
    OverwritePayload,
    DeletePayload,
    ClearPayload,
]


@dataclass(frozen=True)
class UpdateResult:
    operation_id: int
    completed: bool


@dataclass(frozen=True)
class SearchRequest:
    """Nearest-neighbour search on one vector name, as a shard executes it."""

    vector_name: str
    query: Union[np.ndarray, SparseVector]  # 1-D dense, 2-D multi-vector, or sparse
    limit: int = 10
    offset: int = 0
    filter: Filter | None = None
    score_threshold: float | None = None
    with_payload: PayloadSelector = field(default_factory=lambda: PayloadSelector(enabled=False))
    with_vector: VectorSelector = field(default_factory=VectorSelector)
    hnsw_ef: int | None = None
    exact: bool = False
    # Sparse ``idf`` modifier: collection-wide (num_docs, {dimension: doc_frequency}) set by the
    # coordinator, so every shard weights the query alike; None = the shard's own statistics.
    idf_stats: tuple[int, dict[int, int]] | None = None


@dataclass(frozen=True)
class OrderBy:
    key: str
    direction: Literal["asc", "desc"] = "asc"
    start_from: float | None = None


@dataclass(frozen=True)
class ScrollRequest:
    filter: Filter | None = None
    limit: int = 10
    offset: PointId | None = None
    with_payload: PayloadSelector = field(default_factory=PayloadSelector)
    with_vector: VectorSelector = field(default_factory=VectorSelector)
    order_by: OrderBy | None = None


@dataclass(frozen=True)
class CountRequest:
    filter: Filter | None = None
    exact: bool = True


Ordering = Literal["weak", "medium", "strong"]


@dataclass(frozen=True)
class WriteOptions:
    wait: bool = False
    ordering: Ordering = "weak"
    shard_keys: Optional[tuple[Any, ...]] = None
