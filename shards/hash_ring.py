"""Routing of point ids to shards: a consistent hash ring with virtual nodes."""

from __future__ import annotations

import bisect
import hashlib
import struct
from typing import Iterable

from shards.types import PointId, point_id_key

VIRTUAL_NODES_PER_SHARD = 100


def stable_hash(data: bytes) -> int:
    """A 64-bit hash that is the same in every process and on every machine."""
    return struct.unpack(">Q", hashlib.blake2b(data, digest_size=8).digest())[0]


class HashRing:
    """Maps a point id to one of a fixed set of shard ids.

    Each shard owns ``VIRTUAL_NODES_PER_SHARD`` points on a 64-bit ring; an id
    belongs to the first shard point at or after the id's hash.
    """

    def __init__(self, shard_ids: Iterable[int]) -> None:
        entries: list[tuple[int, int]] = []
        for shard_id in shard_ids:
            for replica in range(VIRTUAL_NODES_PER_SHARD):
                entries.append((stable_hash(b"shard:%d:%d" % (shard_id, replica)), shard_id))
        entries.sort()
        self._positions = [pos for pos, _ in entries]
        self._shards = [shard for _, shard in entries]
        if not self._shards:
            raise ValueError("a hash ring needs at least one shard")

    def shard_for(self, point_id: PointId) -> int:
        position = stable_hash(point_id_key(point_id))
        index = bisect.bisect_left(self._positions, position)
        if index == len(self._positions):
            index = 0
        return self._shards[index]
