"""Binary encoding of a stored point: one RocksDB value per point.

Layout: ``u32 header length | header JSON | vector blobs``. The header holds
the point's offset, version, payload and, for each vector, its name, kind and
shape; the blobs are the raw little-endian arrays in header order. JSON keeps
payloads exact; raw blobs keep vectors cheap to decode.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shards.types import SparseVector, VectorValue

_LEN = struct.Struct("<I")


@dataclass
class StoredPoint:
    """What a shard persists for one point."""

    offset: int
    version: int
    payload: dict[str, Any]
    vectors: dict[str, VectorValue]


def encode_point(point: StoredPoint) -> bytes:
    specs: list[list[Any]] = []
    blobs: list[bytes] = []
    for name, value in point.vectors.items():
        if isinstance(value, SparseVector):
            specs.append([name, "s", int(value.indices.shape[0])])
            blobs.append(value.indices.astype("<u4", copy=False).tobytes())
            blobs.append(value.values.astype("<f4", copy=False).tobytes())
        else:
            arr = np.asarray(value, dtype="<f4")
            specs.append([name, "d", list(arr.shape)])
            blobs.append(arr.tobytes())
    header = orjson.dumps({"o": point.offset, "v": point.version, "p": point.payload, "x": specs})
    return b"".join([_LEN.pack(len(header)), header, *blobs])


def decode_point(data: bytes) -> StoredPoint:
    (size,) = _LEN.unpack_from(data, 0)
    header = orjson.loads(data[4 : 4 + size])
    pos = 4 + size
    vectors: dict[str, VectorValue] = {}
    for spec in header["x"]:
        name, kind = spec[0], spec[1]
        if kind == "s":
            n = spec[2]
            indices = np.frombuffer(data, dtype="<u4", count=n, offset=pos).astype(np.uint32)
            pos += 4 * n
            values = np.frombuffer(data, dtype="<f4", count=n, offset=pos).astype(np.float32)
            pos += 4 * n
            vectors[name] = SparseVector(indices, values)
        else:
            shape = tuple(spec[2])
            count = int(np.prod(shape)) if shape else 1
            arr = np.frombuffer(data, dtype="<f4", count=count, offset=pos).reshape(shape)
            pos += 4 * count
            vectors[name] = arr.astype(np.float32)
    return StoredPoint(header["o"], header["v"], header["p"], vectors)
