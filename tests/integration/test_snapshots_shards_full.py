"""Shard snapshots, full (storage) snapshots with ``--storage-snapshot``, shard keys and priorities."""

from __future__ import annotations

import io
import json
import os
import tarfile
import uuid

import pytest
import requests
from qdrant_client import QdrantClient, models

from tests.integration.test_snapshots import _dump, _make_collection, _name, _schema
from tests.node_process import NodeProcess, client_for


@pytest.fixture(scope="module")
def snap_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("snapnode2")
    proc = NodeProcess(
        storage=str(base / "storage"),
        env_extra={"QDRANT__STORAGE__SNAPSHOTS_PATH": str(base / "snapshots")},
    ).start()
    proc.snapshots_dir = str(base / "snapshots")  # type: ignore[attr-defined]
    proc.base = str(base)  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def sclient(snap_node, transport) -> QdrantClient:
    """A client of the snapshot node over ``transport`` (recover/upload are REST in qdrant-client either way)."""
    return client_for(snap_node, transport)


def _dump_any(client: QdrantClient, name: str) -> dict:
    """Every point of ``name`` (named or unnamed vectors) as comparable plain values."""
    records, offset = client.scroll(name, limit=1000, with_payload=True, with_vectors=True)
    assert offset is None
    out = {}
    for rec in records:
        vector = rec.vector
        if isinstance(vector, dict):
            vector = {k: (v if isinstance(v, list) else (list(v.indices), list(v.values))) for k, v in vector.items()}
        out[str(rec.id)] = (rec.payload, vector)
    return out


def _new_point(i: int) -> models.PointStruct:
    return models.PointStruct(
        id=1000 + i,
        vector={"dense": [1.0, 2.0, 3.0, 4.0], "sparse": models.SparseVector(indices=[1], values=[9.0])},
        payload={"city": "Lima", "n": -i},
    )


def test_shard_snapshots_replace_each_shard(sclient, snap_node):
    name = _name()
    _make_collection(sclient, name)
    before = _dump(sclient, name)
    snaps = {}
    for shard_id in (0, 1):
        snap = sclient.create_shard_snapshot(name, shard_id, wait=True)
        assert snap.name.endswith(".snapshot") and len(snap.checksum) == 64
        assert [s.name for s in sclient.list_shard_snapshots(name, shard_id)] == [snap.name]
        snaps[shard_id] = snap
    # shard snapshots are not collection snapshots
    assert sclient.list_snapshots(name) == []

    # change everything: delete, overwrite, and add points the snapshots never saw
    sclient.delete(name, points_selector=models.PointIdsList(points=[1, 2, 4, 5, 7]), wait=True)
    sclient.set_payload(name, payload={"city": "Oslo"}, points=[8, 10], wait=True)
    sclient.upsert(name, points=[_new_point(i) for i in range(6)], wait=True)

    shard0 = os.path.join(snap_node.snapshots_dir, name, "shards", "0", snaps[0].name)
    assert sclient.recover_shard_snapshot(
        name, 0, location="file://" + shard0, checksum=snaps[0].checksum, priority=models.SnapshotPriority.SNAPSHOT
    )
    partial = _dump(sclient, name)
    restored = {pid for pid, value in partial.items() if before.get(pid) == value}
    assert 0 < len(restored) < 40

    # shard 1 through an upload with query parameters
    data = requests.get(f"{snap_node.url}/collections/{name}/shards/1/snapshots/{snaps[1].name}").content
    assert len(data) == snaps[1].size
    response = requests.post(
        f"{snap_node.url}/collections/{name}/shards/1/snapshots/upload",
        params={"priority": "no_sync", "checksum": snaps[1].checksum, "wait": "true"},
        files={"snapshot": (snaps[1].name, data, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    # every point is back exactly, and the points written after the snapshots are gone
    assert _dump(sclient, name) == before
    assert sclient.count(name, exact=True).count == 40
    assert _schema(sclient, name) == {"city": models.PayloadSchemaType.KEYWORD}
    # the payload index still answers filters on the recovered data
    berlin = sclient.count(
        name, count_filter=models.Filter(must=[models.FieldCondition(key="city", match=models.MatchValue(value="Berlin"))])
    ).count
    assert berlin == sum(1 for payload, _, _ in before.values() if payload["city"] == "Berlin")

    # a streamed shard snapshot holds the same points as the stored one
    streamed = requests.get(f"{snap_node.url}/collections/{name}/shards/0/snapshot")
    assert streamed.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(streamed.content)) as tar:
        header = json.load(tar.extractfile("config.json"))
    assert header["kind"] == "shard" and header["shard_id"] == 0 and header["collection"] == name

    assert sclient.delete_shard_snapshot(name, 0, snaps[0].name)
    assert sclient.list_shard_snapshots(name, 0) == []
    assert not os.path.exists(shard0)


def test_shard_snapshot_errors(sclient, snap_node):
    name = _name()
    _make_collection(sclient, name)
    base = f"{snap_node.url}/collections/{name}/shards"
    assert requests.post(f"{base}/7/snapshots").status_code == 404
    assert requests.get(f"{base}/x/snapshots").status_code == 400
    assert requests.get(f"{base}/0/snapshots/missing.snapshot").status_code == 404
    assert requests.delete(f"{base}/0/snapshots/..").status_code == 404
    snap = sclient.create_shard_snapshot(name, 0)
    path = os.path.join(snap_node.snapshots_dir, name, "shards", "0", snap.name)
    response = requests.put(f"{base}/0/snapshots/recover", json={"location": path, "priority": "sometimes"})
    assert response.status_code == 400 and "error" in response.json()["status"]
    response = requests.put(f"{base}/0/snapshots/recover", json={"location": path, "checksum": "ab" * 32})
    assert response.status_code == 400
    # a snapshot whose vectors do not fit the collection is refused, data untouched
    other = _name()
    sclient.create_collection(other, vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE))
    sclient.upsert(other, points=[models.PointStruct(id=1, vector=[1.0, 0.0, 0.0])], wait=True)
    response = requests.put(f"{snap_node.url}/collections/{other}/shards/0/snapshots/recover", json={"location": path})
    assert response.status_code == 400
    assert sclient.count(other).count == 1
    # a file whose record page is damaged is refused before anything changes
    with tarfile.open(path) as tar:
        header = tar.extractfile("config.json").read()
    damaged = io.BytesIO()
    with tarfile.open(fileobj=damaged, mode="w") as tar:
        for member, data in (("config.json", header), ("records/0/000000.bin", b"\x00garbage")):
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    before = sclient.count(name).count
    response = requests.post(
        f"{base}/0/snapshots/upload", files={"snapshot": ("d.snapshot", damaged.getvalue(), "application/octet-stream")}
    )
    assert response.status_code == 400, response.text
    response = requests.post(
        f"{snap_node.url}/collections/{name}/snapshots/upload",
        files={"snapshot": ("d.snapshot", damaged.getvalue(), "application/octet-stream")},
    )
    assert response.status_code == 400, response.text
    assert sclient.count(name).count == before == 40
    response = requests.post(
        f"{base}/0/snapshots/upload", params={"priority": "bogus"},
        files={"snapshot": ("a.snapshot", b"junk", "application/octet-stream")},
    )
    assert response.status_code == 400


def test_collection_recover_priorities_and_shard_keys(sclient, snap_node):
    name = _name()
    sclient.create_collection(
        name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID),
        sharding_method=models.ShardingMethod.CUSTOM,
    )
    for key in ("eu", 7):
        sclient.create_shard_key(name, key)
    sclient.create_payload_index(name, "n", models.PayloadSchemaType.INTEGER, wait=True)
    for key, ids in (("eu", range(0, 10)), (7, range(10, 25))):
        sclient.upsert(
            name,
            points=[models.PointStruct(id=i, vector=[i, -i], payload={"n": i}) for i in ids],
            shard_key_selector=key,
            wait=True,
        )
    snap = sclient.create_snapshot(name)
    path = os.path.join(snap_node.snapshots_dir, name, snap.name)
    sclient.delete_collection(name)

    for priority in (None, models.SnapshotPriority.REPLICA, models.SnapshotPriority.NO_SYNC):
        assert sclient.recover_snapshot(name, location=path, priority=priority)
        keys = requests.get(f"{snap_node.url}/collections/{name}/shards").json()["result"]["shard_keys"]
        assert sorted(str(k["key"]) for k in keys) == ["7", "eu"]
        for key, ids in (("eu", set(range(10))), (7, set(range(10, 25)))):
            records, _ = sclient.scroll(name, limit=100, with_vectors=True, shard_key_selector=key)
            assert {r.id for r in records} == ids
            assert all(r.payload == {"n": r.id} and r.vector == [r.id, -r.id] for r in records)
        assert _schema(sclient, name) == {"n": models.PayloadSchemaType.INTEGER}
        sclient.upsert(name, points=[models.PointStruct(id=99, vector=[0, 0])], shard_key_selector="eu", wait=True)


def test_full_snapshot_and_storage_snapshot_flag(sclient, transport, snap_node, tmp_path):
    first, second = _name(), _name()
    _make_collection(sclient, first)
    sclient.create_collection(second, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    sclient.upsert(second, points=[models.PointStruct(id=5, vector=[0.6, 0.8], payload={"k": "v"})], wait=True)
    alias = "al_" + uuid.uuid4().hex[:8]
    sclient.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=first, alias_name=alias))
        ]
    )
    expected = {c.name: _dump_any(sclient, c.name) for c in sclient.get_collections().collections}
    schemas = {name: _schema(sclient, name) for name in expected}
    aliases = {(a.alias_name, a.collection_name) for a in sclient.get_aliases().aliases}

    snap = sclient.create_full_snapshot()
    assert snap.name.startswith("full-snapshot-") and len(snap.checksum) == 64
    assert [s.name for s in sclient.list_full_snapshots()] == [snap.name]
    download = requests.get(f"{snap_node.url}/snapshots/{snap.name}")
    assert download.status_code == 200 and len(download.content) == snap.size
    archive = tmp_path / snap.name
    archive.write_bytes(download.content)

    fresh = NodeProcess(
        storage=str(tmp_path / "fresh"),
        env_extra={"QDRANT__STORAGE__SNAPSHOTS_PATH": str(tmp_path / "fresh_snapshots")},
        args=["--storage-snapshot", str(archive)],
    ).start()
    try:
        # Same transport as ``expected`` was read with (gRPC widens float32 exactly, REST prints it short).
        client = client_for(fresh, transport)
        assert {c.name for c in client.get_collections().collections} == set(expected)
        for name, dump in expected.items():
            assert _dump_any(client, name) == dump
            assert _schema(client, name) == schemas[name]
        assert {(a.alias_name, a.collection_name) for a in client.get_aliases().aliases} == aliases
        assert client.get_collection(first).config.params.shard_number == 2
        # a restart with the flag does not overwrite what was written since
        client.delete(second, points_selector=models.PointIdsList(points=[5]), wait=True)
        fresh.stop()
        fresh.start()
        assert client.count(second).count == 0
        assert client.count(first).count == 40
    finally:
        fresh.stop()

    assert sclient.delete_full_snapshot(snap.name)
    assert sclient.list_full_snapshots() == []
    assert requests.get(f"{snap_node.url}/snapshots/{snap.name}").status_code == 404
    assert requests.delete(f"{snap_node.url}/snapshots/{snap.name}").status_code == 404
