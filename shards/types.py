"""Value types of the data plane: point ids, vectors, records, selectors."""

from __future__ import annotations

import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Any, Union

import numpy as np

from consensus.errors import BadInput

PointId = Union[int, str]
"""An unsigned 64-bit integer, or a UUID in canonical hyphenated lower-case form."""

DEFAULT_VECTOR = ""
"""The name under which a collection's single unnamed dense vector is stored."""

_MAX_ID = 2**64 - 1


def parse_point_id(raw: Any) -> PointId:
    """Validate a point id given by a client; UUIDs in any accepted form become canonical."""
    if isinstance(raw, bool):
        raise BadInput(f"Unable to parse point id: {raw!r}")
    if isinstance(raw, int):
        if raw < 0 or raw > _MAX_ID:
            raise BadInput(f"Point id {raw} is out of range: expected an unsigned 64-bit integer")
        return raw
    if isinstance(raw, str):
        if _UUID_FORMS.match(raw):
            return str(uuid.UUID(raw))
        raise BadInput(f"Unable to parse UUID: {raw}. Point id must be an unsigned integer or a UUID")
    raise BadInput(f"Unable to parse point id: {raw!r}")


_HYPHENATED = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# The forms Qdrant (Rust's uuid crate) reads: simple, hyphenated, braced and URN. Python's
# uuid.UUID alone would also take stray hyphens, "uuid:" prefixes and lone braces.
_UUID_FORMS = re.compile(rf"(?:[0-9a-fA-F]{{32}}|{_HYPHENATED}|\{{{_HYPHENATED}\}}|urn:uuid:{_HYPHENATED})\Z")


def point_id_key(point_id: PointId) -> bytes:
    """Byte key that sorts as Qdrant orders ids: integers ascending, then UUIDs."""
    if isinstance(point_id, int):
        return b"i" + struct.pack(">Q", point_id)
    return b"u" + uuid.UUID(point_id).bytes


def point_id_from_key(key: bytes) -> PointId:
    """Inverse of :func:`point_id_key`."""
    if key[:1] == b"i":
        return struct.unpack(">Q", key[1:9])[0]
    return str(uuid.UUID(bytes=bytes(key[1:17])))


@dataclass(frozen=True)
class SparseVector:
    """A sparse vector: sorted unique indices with their values."""

    indices: np.ndarray  # uint32, strictly increasing
    values: np.ndarray  # float32, same length

    def to_json(self) -> dict[str, list]:
        return {"indices": self.indices.tolist(), "values": self.values.tolist()}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, SparseVector)
            and np.array_equal(self.indices, other.indices)
            and np.array_equal(self.values, other.values)
        )


VectorValue = Union[np.ndarray, SparseVector]
"""A dense vector (1-D float32), a multi-vector (2-D float32) or a sparse vector."""


def vector_to_json(value: VectorValue) -> Any:
    """Render one stored vector the way Qdrant's REST API shows it."""
    if isinstance(value, SparseVector):
        return value.to_json()
    return value.tolist()


@dataclass
class PointStruct:
    """A point as written by an upsert: id, its vectors by name, its payload."""

    id: PointId
    vectors: dict[str, VectorValue]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Record:
    """A stored point as read back, with the version (operation number) that last wrote it."""

    id: PointId
    version: int
    vectors: dict[str, VectorValue] | None
    payload: dict[str, Any] | None
    order_value: float | None = None


def order_sort_key(point: Any) -> tuple[float, bytes]:
    """Sort key of an ``order_by`` result (a Record or ScoredPoint): its order value, then its id.

    Qdrant breaks ties between equal values by point id, in the same direction as the order.
    """
    return (point.order_value, point_id_key(point.id))


@dataclass
class ScoredPoint:
    """A search hit."""

    id: PointId
    version: int
    score: float
    payload: dict[str, Any] | None = None
    vectors: dict[str, VectorValue] | None = None
    order_value: float | None = None  # set by ``order_by`` queries: the payload value ordered by


@dataclass(frozen=True)
class PayloadSelector:
    """Which payload keys to return: all, none, only ``include`` or all but ``exclude``."""

    enabled: bool = True
    include: tuple[str, ...] | None = None
    exclude: tuple[str, ...] | None = None

    def apply(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        if not self.enabled:
            return None
        if self.include is not None:
            return _select_keys(payload, self.include)
        if self.exclude is not None:
            return _drop_keys(payload, self.exclude)
        return payload


@dataclass(frozen=True)
class VectorSelector:
    """Which vectors to return: none, all, or the named ones."""

    enabled: bool = False
    names: tuple[str, ...] | None = None

    def apply(self, vectors: dict[str, VectorValue]) -> dict[str, VectorValue] | None:
        if not self.enabled:
            return None
        if self.names is None:
            return vectors
        return {name: vec for name, vec in vectors.items() if name in self.names}


def _select_keys(payload: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        parts = path.split(".")
        src: Any = payload
        for part in parts:
            if isinstance(src, dict) and part in src:
                src = src[part]
            else:
                break
        else:
            dst = out
            for part in parts[:-1]:
                dst = dst.setdefault(part, {})
            dst[parts[-1]] = src
    return out


def _drop_keys(payload: dict[str, Any], paths: tuple[str, ...]) -> dict[str, Any]:
    import copy

    out = copy.deepcopy(payload)
    for path in paths:
        parts = path.split(".")
        node: Any = out
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    return out
