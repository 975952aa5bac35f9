"""Snapshots of a cluster collection (3 nodes, 3 shards, 2 replicas each) recover on the cluster.

Every replica of every shard is read straight from its peer afterwards: the
snapshot's points, payloads and vectors must be on all of them.
"""

from __future__ import annotations

import os
import uuid

import pytest
from qdrant_client import QdrantClient, models

from tests.cluster.conftest import Cluster

N_POINTS = 60


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("snapcluster")
    cluster = Cluster(str(base), 3)
    for index, node in enumerate(cluster.nodes):
        node.env_extra["QDRANT__STORAGE__SNAPSHOTS_PATH"] = os.path.join(str(base), f"n{index}", "snapshots")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def _client(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=60, check_compatibility=False)


def _snapshots_dir(node) -> str:
    return node.env_extra["QDRANT__STORAGE__SNAPSHOTS_PATH"]


def _point(i: int, generation: int = 0) -> models.PointStruct:
    return models.PointStruct(
        id=i,
        vector={
            "dense": [float(i), 1.0 + generation, -0.5, i / 3.0],
            "sparse": models.SparseVector(indices=[i % 7, 20 + generation], values=[0.5 * i + 1, 2.0]),
        },
        payload={"tag": ["a", "b", "c"][i % 3], "i": i, "gen": generation},
    )


def _make(cluster: Cluster) -> str:
    name = "snap_" + uuid.uuid4().hex[:8]
    client = _client(cluster.nodes[0])
    client.create_collection(
        name,
        vectors_config={"dense": models.VectorParams(size=4, distance=models.Distance.DOT)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
        shard_number=3,
        replication_factor=2,
    )
    cluster.wait_all_active(name)
    client.create_payload_index(name, "tag", models.PayloadSchemaType.KEYWORD, wait=True)
    client.upsert(name, points=[_point(i) for i in range(N_POINTS)], wait=True)
    return name


def _replicas(cluster: Cluster, name: str) -> dict[int, dict[int, dict]]:
    """shard id -> peer id -> that replica's points."""
    states = cluster.wait_all_active(name)
    return {
        shard_id: {peer: cluster.read_replica(peer, name, shard_id) for peer in peers}
        for shard_id, peers in states.items()
    }


def _dump_all(client: QdrantClient, name: str) -> dict:
    records, offset = client.scroll(
        name, limit=1000, with_payload=True, with_vectors=True, consistency=models.ReadConsistencyType.ALL
    )
    assert offset is None
    return {rec.id: (rec.payload, rec.vector["dense"], rec.vector["sparse"]) for rec in records}


def _alter(client: QdrantClient, name: str) -> None:
    client.delete(name, points_selector=models.PointIdsList(points=list(range(0, N_POINTS, 4))), wait=True)
    client.upsert(name, points=[_point(i, generation=1) for i in range(1, N_POINTS, 4)], wait=True)
    client.upsert(name, points=[_point(i) for i in range(N_POINTS, N_POINTS + 9)], wait=True)


def test_collection_snapshot_recovers_on_every_replica(cluster):
    name = _make(cluster)
    before_replicas = _replicas(cluster, name)
    before = _dump_all(_client(cluster.nodes[0]), name)
    assert len(before) == N_POINTS

    called = cluster.nodes[1]
    client = _client(called)
    snap = client.create_snapshot(name)
    path = os.path.join(_snapshots_dir(called), name, snap.name)
    _alter(_client(cluster.nodes[2]), name)
    client.delete_payload_index(name, "tag", wait=True)
    assert _dump_all(client, name) != before

    assert client.recover_snapshot(
        name, location=path, checksum=snap.checksum, priority=models.SnapshotPriority.SNAPSHOT
    )
    after_replicas = _replicas(cluster, name)
    assert sorted(after_replicas) == [0, 1, 2]
    every_point: dict = {}
    for shard_id, replicas in after_replicas.items():
        assert len(replicas) == 2
        contents = list(replicas.values())
        assert contents[0] == contents[1], f"replicas of shard {shard_id} differ"
        every_point.update(contents[0])
    old_points = {pid: points for replicas in before_replicas.values() for pid, points in next(iter(replicas.values())).items()}
    assert every_point == old_points
    for node in cluster.nodes:
        reader = _client(node)
        assert _dump_all(reader, name) == before
        assert {k: v.data_type for k, v in reader.get_collection(name).payload_schema.items()} == {
            "tag": models.PayloadSchemaType.KEYWORD
        }
        info = reader.get_collection(name).config.params
        assert (info.shard_number, info.replication_factor) == (3, 2)


def test_shard_snapshot_priorities_on_a_cluster(cluster):
    name = _make(cluster)
    states = cluster.wait_all_active(name)
    shard_id = 0
    holder_peer = sorted(states[shard_id])[0]
    holder = cluster.node_of(holder_peer)
    client = _client(holder)
    snapshot_points = cluster.read_replica(holder_peer, name, shard_id)
    assert snapshot_points
    snap = client.create_shard_snapshot(name, shard_id)
    path = os.path.join(_snapshots_dir(holder), name, "shards", str(shard_id), snap.name)
    whole = client.create_snapshot(name)
    whole_path = os.path.join(_snapshots_dir(holder), name, whole.name)

    _alter(client, name)
    altered = _replicas(cluster, name)
    assert next(iter(altered[shard_id].values())) != snapshot_points

    # replica priority (the default): the other Active replica stays the source of truth
    assert client.recover_shard_snapshot(name, shard_id, location=path)
    assert _replicas(cluster, name) == altered
    # the same for a collection snapshot of an existing collection: every shard has another Active replica
    assert client.recover_snapshot(name, location=whole_path, priority=models.SnapshotPriority.REPLICA)
    assert _replicas(cluster, name) == altered

    # snapshot priority: both replicas of the shard get exactly the snapshot's points
    assert client.recover_shard_snapshot(name, shard_id, location=path, priority=models.SnapshotPriority.SNAPSHOT)
    recovered = _replicas(cluster, name)
    for peer, points in recovered[shard_id].items():
        assert points == snapshot_points, f"replica on peer {peer} differs from the snapshot"
    for other in (1, 2):
        assert recovered[other] == altered[other]
