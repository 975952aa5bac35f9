"""Collection-wide IDF statistics when one shard lives on another peer.

Two real ``LocalShard``s: shard 0 in this "node", shard 1 behind a real p2p
server reached through ``RemoteShard`` and ``PeerClient``. The ``idf`` scores of
``Collection.search`` must equal brute force over all points of both shards.
"""

from __future__ import annotations

import asyncio
import math

import numpy as np
import pytest

from shards.collection import Collection
from shards.collection_config import build_config
from shards.local_shard import LocalShard
from shards.operations import SearchRequest, UpsertPoints
from shards.remote_shard import RemoteShard
from shards.replica_set import LocalReplica, ReplicaSet
from shards.types import PointStruct, SparseVector
from transport.p2p.client import PeerClient
from transport.p2p.server import P2PServer
from shards import wire

CONFIG = build_config({"vectors": {}, "sparse_vectors": {"text": {"modifier": "idf"}}})


class OneShardHost:
    """The serving side of the wire for one peer holding one shard replica."""

    def __init__(self, replica: LocalReplica) -> None:
        self.replica = replica

    async def update(self, collection, shard_id, op, op_num, forward):
        return await self.replica.update(op, forward, op_num)

    async def search(self, collection, shard_id, request):
        return await self.replica.search(request)

    async def sparse_stats(self, collection, shard_id, vector_name, indices):
        return await self.replica.sparse_stats(vector_name, indices)


def _vectors(rng: np.random.Generator, n: int) -> list[dict[int, float]]:
    out = []
    for _ in range(n):
        dims = sorted(rng.choice(np.arange(0, 12), size=int(rng.integers(1, 5)), replace=False).tolist())
        out.append({int(d): float(np.float32(rng.uniform(0.1, 2.0))) for d in dims})
    return out


def test_wire_round_trip_of_idf_stats():
    request = SearchRequest(vector_name="text", query=SparseVector(np.array([1], np.uint32), np.array([1.0], np.float32)),
                            idf_stats=(10, {1: 3, 7: 0}))
    assert wire.decode_search(wire.encode_search(request)).idf_stats == (10, {1: 3, 7: 0})
    assert wire.decode_sparse_stats(wire.encode_sparse_stats((4, {2: 1}))) == (4, {2: 1})
    assert wire.decode_sparse_stats_request(wire.encode_sparse_stats_request("t", [3, 5])) == ("t", [3, 5])


def test_idf_stats_gathered_from_remote_shard(tmp_path):
    rng = np.random.default_rng(5)
    data = _vectors(rng, 50)
    local = LocalShard(str(tmp_path / "s0"), CONFIG, {})
    remote = LocalShard(str(tmp_path / "s1"), CONFIG, {})
    loop = asyncio.new_event_loop()
    server = P2PServer("127.0.0.1", 0, OneShardHost(LocalReplica(2, remote)), None)
    client = PeerClient(timeout=5.0)
    try:
        loop.run_until_complete(server.start())
        uri = f"http://127.0.0.1:{server.port}"
        shards = {
            0: ReplicaSet(0, 1, local),
            1: ReplicaSet(1, 1, None, replicas={2: "Active"}, remote=lambda peer: RemoteShard(client, peer, uri, "c", 1)),
        }
        collection = Collection("c", CONFIG, shards)
        points = tuple(
            PointStruct(i, {"text": SparseVector(np.array(list(v), np.uint32), np.array(list(v.values()), np.float32))})
            for i, v in enumerate(data)
        )
        loop.run_until_complete(collection.update(UpsertPoints(points=points)))
        assert 0 < len(local.retrieve([p.id for p in points], *_no_selectors())) < len(points)

        query = {1: 1.0, 5: 0.5, 9: 2.0}
        freq = {d: sum(1 for v in data if d in v) for d in query}
        weights = {d: w * math.log((len(data) - freq[d] + 0.5) / (freq[d] + 0.5) + 1.0) for d, w in query.items()}
        expected = {i: sum(w * v[d] for d, w in weights.items() if d in v) for i, v in enumerate(data)}
        expected = {i: s for i, s in expected.items() if set(query) & set(data[i])}
        request = SearchRequest(
            vector_name="text",
            query=SparseVector(np.array(list(query), np.uint32), np.array(list(query.values()), np.float32)),
            limit=len(data),
        )
        hits = loop.run_until_complete(collection.search(request))
        assert {hit.id for hit in hits} == set(expected)
        for hit in hits:
            assert hit.score == pytest.approx(expected[hit.id], rel=1e-5)
        assert [hit.id for hit in hits] == sorted(expected, key=lambda i: -expected[i])
    finally:
        loop.run_until_complete(client.close())
        loop.run_until_complete(server.stop(0))
        loop.close()
        local.close()
        remote.close()


def _no_selectors():
    from shards.types import PayloadSelector, VectorSelector

    return PayloadSelector(enabled=False), VectorSelector(enabled=False)
