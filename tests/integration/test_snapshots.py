"""Collection snapshots: create, list, download, delete, recover (path, URL, upload)."""

from __future__ import annotations

import os
import uuid

import pytest
import requests
from qdrant_client import QdrantClient, models

from tests.node_process import NodeProcess, client_for


@pytest.fixture(scope="module")
def snap_node(tmp_path_factory):
    base = tmp_path_factory.mktemp("snapnode")
    proc = NodeProcess(
        storage=str(base / "storage"),
        env_extra={"QDRANT__STORAGE__SNAPSHOTS_PATH": str(base / "snapshots")},
    ).start()
    proc.snapshots_dir = str(base / "snapshots")  # type: ignore[attr-defined]
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def sclient(snap_node, transport) -> QdrantClient:
    """A client of the snapshot node over ``transport`` (recover/upload are REST in qdrant-client either way)."""
    return client_for(snap_node, transport)


def _name() -> str:
    return "s_" + uuid.uuid4().hex[:10]


def _make_collection(client: QdrantClient, name: str) -> None:
    client.create_collection(
        name,
        vectors_config={"dense": models.VectorParams(size=4, distance=models.Distance.DOT)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
        shard_number=2,
    )
    client.create_payload_index(name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    points = [
        models.PointStruct(
            id=i if i % 3 else str(uuid.UUID(int=i + 1)),
            vector={
                "dense": [float(i), 0.5, -1.0, i / 7.0],
                "sparse": models.SparseVector(indices=[i % 5, 10 + i], values=[0.25 * i, 1.5]),
            },
            payload={"city": ["Berlin", "Paris", "Rome"][i % 3], "n": i, "nested": {"k": [i, "x"]}},
        )
        for i in range(40)
    ]
    client.upsert(name, points=points, wait=True)


def _dump(client: QdrantClient, name: str) -> dict:
    records, offset = client.scroll(name, limit=1000, with_payload=True, with_vectors=True)
    assert offset is None
    out = {}
    for rec in records:
        vectors = dict(rec.vector)
        sparse = vectors.pop("sparse", None)
        out[str(rec.id)] = (
            rec.payload,
            vectors,
            (list(sparse.indices), list(sparse.values)) if sparse is not None else None,
        )
    return out


def _schema(client: QdrantClient, name: str) -> dict:
    info = client.get_collection(name)
    return {k: v.data_type for k, v in info.payload_schema.items()}


def test_snapshot_roundtrip_recover_by_path(sclient, snap_node):
    name = _name()
    _make_collection(sclient, name)
    before = _dump(sclient, name)
    schema = _schema(sclient, name)
    assert len(before) == 40

    snap = sclient.create_snapshot(name, wait=True)
    assert snap.name.startswith(f"{name}-") and snap.name.endswith(".snapshot")
    assert snap.size > 0 and len(snap.checksum) == 64
    listed = sclient.list_snapshots(name)
    assert [s.name for s in listed] == [snap.name]
    assert listed[0].checksum == snap.checksum

    sclient.delete(name, points_selector=models.PointIdsList(points=[1, 2, 4]), wait=True)
    sclient.set_payload(name, payload={"city": "Oslo"}, points=[5], wait=True)
    sclient.delete_payload_index(name, "city", wait=True)
    assert len(_dump(sclient, name)) == 37

    path = os.path.join(snap_node.snapshots_dir, name, snap.name)
    assert os.path.isfile(path)
    assert sclient.recover_snapshot(name, location="file://" + path, checksum=snap.checksum, wait=True)
    assert _dump(sclient, name) == before
    assert _schema(sclient, name) == schema
    info = sclient.get_collection(name)
    assert info.config.params.shard_number == 2
    assert info.points_count == 40

    # a plain path works too, and into a new collection name
    other = _name()
    assert sclient.recover_snapshot(other, location=path, wait=True)
    assert _dump(sclient, other) == before
    assert _schema(sclient, other) == schema

    assert sclient.delete_snapshot(name, snap.name, wait=True)
    assert sclient.list_snapshots(name) == []
    assert not os.path.exists(path)


def test_download_and_upload(sclient, snap_node):
    name = _name()
    _make_collection(sclient, name)
    before = _dump(sclient, name)
    snap = sclient.create_snapshot(name, wait=True)

    response = requests.get(f"{snap_node.url}/collections/{name}/snapshots/{snap.name}")
    assert response.status_code == 200
    data = response.content
    assert len(data) == snap.size

    sclient.delete(name, points_selector=models.FilterSelector(filter=models.Filter()), wait=True)
    target = _name()
    response = requests.post(
        f"{snap_node.url}/collections/{target}/snapshots/upload",
        files={"snapshot": (snap.name, data, "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"] is True
    assert _dump(sclient, target) == before
    assert _schema(sclient, target) == {"city": models.PayloadSchemaType.KEYWORD}

    # recover from an http URL on loopback (the node's own download endpoint)
    url = f"{snap_node.url}/collections/{name}/snapshots/{snap.name}"
    third = _name()
    assert sclient.recover_snapshot(third, location=url, wait=True)
    assert _dump(sclient, third) == before


def test_snapshot_errors(sclient, snap_node):
    name = _name()
    sclient.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE))
    base = f"{snap_node.url}/collections/{name}/snapshots"
    assert requests.get(f"{base}/missing.snapshot").status_code == 404
    response = requests.delete(f"{base}/missing.snapshot")
    assert response.status_code == 404
    assert "error" in response.json()["status"]
    assert requests.get(f"{snap_node.url}/collections/nope_{uuid.uuid4().hex[:6]}/snapshots").status_code == 404
    assert requests.post(f"{snap_node.url}/collections/nope_{uuid.uuid4().hex[:6]}/snapshots").status_code == 404
    response = requests.put(f"{base}/recover", json={"location": "/nonexistent/x.snapshot"})
    assert response.status_code == 404
    response = requests.put(f"{base}/recover", json={})
    assert response.status_code == 400
    response = requests.put(f"{base}/recover", json={"location": "http://10.255.255.1/x.snapshot"})
    assert response.status_code == 400
    snap = sclient.create_snapshot(name, wait=True)
    path = os.path.join(snap_node.snapshots_dir, name, snap.name)
    response = requests.put(f"{base}/recover", json={"location": path, "checksum": "0" * 64})
    assert response.status_code == 400
    assert sclient.collection_exists(name)
    response = requests.post(f"{base}/upload", files={"snapshot": ("x.snapshot", b"not a tar", "application/octet-stream")})
    assert response.status_code == 400
    # an empty collection round-trips
    assert sclient.recover_snapshot(name, location=path, wait=True)
    assert sclient.count(name).count == 0
