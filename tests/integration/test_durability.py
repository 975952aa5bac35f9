"""Durability with real processes: whatever the server answered survives ``kill -9``.

Every test kills the module's node with SIGKILL and starts it again on the same
storage, then compares what it serves with a model of the writes kept by the test.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests import polling
from tests.node_process import client_for
import requests
from qdrant_client import QdrantClient, models


def wait_for(predicate, timeout: float = 40.0, interval: float = 0.1, what: str = "condition"):
    return polling.wait_for(predicate, timeout=timeout, interval=interval, what=what)


def fresh_client(node, transport: str = "rest") -> QdrantClient:
    """A new client (the node's ports survive restarts) over ``transport``: each test runs over REST and gRPC."""
    return client_for(node, transport)


def crash_and_restart(node, transport: str = "rest") -> QdrantClient:
    node.kill()
    node.start()
    return fresh_client(node, transport)


def normalized(vector) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def all_points(client: QdrantClient, name: str) -> dict:
    """Every point as {id: (payload, vectors)}, read with scroll."""
    out = {}
    offset = None
    while True:
        page, offset = client.scroll(name, limit=500, offset=offset, with_payload=True, with_vectors=True)
        for record in page:
            out[record.id] = (record.payload, record.vector)
        if offset is None:
            return out


def settled_index(client: QdrantClient, name: str, at_least: int = 1, expected: int | None = None) -> int:
    """Wait until the collection is green with its HNSW graphs built; returns indexed_vectors_count."""

    def ready():
        info = client.get_collection(name)
        count = info.indexed_vectors_count or 0
        if info.status != models.CollectionStatus.GREEN or count < at_least:
            return None
        # The graphs come back at least as complete as before the kill (vectors written
        # after the last build may be indexed later, once writes pause).
        if expected is not None and count < expected:
            return None
        return count

    return wait_for(ready, what=f"index of {name} (expected {expected})")


def search_snapshot(client: QdrantClient, name: str, queries: dict) -> dict:
    out = {}
    for key, (using, vector, flt) in queries.items():
        hits = client.query_points(name, query=vector, using=using, query_filter=flt, limit=10).points
        out[key] = [(hit.id, hit.score) for hit in hits]
    return out


def assert_same_search(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key in before:
        assert [pid for pid, _ in after[key]] == [pid for pid, _ in before[key]], key
        assert [s for _, s in after[key]] == pytest.approx([s for _, s in before[key]], abs=1e-6), key


# --------------------------------------------------------------------------- tests


def test_acknowledged_writes_indexes_and_metadata_survive_kill_9(node, transport, collection_name):
    client = fresh_client(node, transport)
    name = collection_name
    rng = np.random.default_rng(5)
    client.create_collection(
        name,
        vectors_config={
            "dense": models.VectorParams(size=32, distance=models.Distance.COSINE),
            "euc": models.VectorParams(size=8, distance=models.Distance.EUCLID),
            "mv": models.VectorParams(
                size=4, distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            ),
        },
        sparse_vectors_config={"s": models.SparseVectorParams()},
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=20),  # KB
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64),
        shard_number=2,
    )
    client.create_payload_index(name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    client.create_payload_index(name, "n", models.PayloadSchemaType.INTEGER, wait=True)

    cities = ["Berlin", "Paris", "Oslo", "Rome"]
    model: dict[int, dict] = {}  # id -> {"payload", "dense", "euc", "s"}

    def make_point(pid: int) -> models.PointStruct:
        dense = rng.normal(size=32).astype(np.float32)
        euc = rng.normal(size=8).astype(np.float32)
        multi = rng.normal(size=(1 + pid % 3, 4)).astype(np.float32)
        indices = sorted(rng.choice(50, size=3, replace=False).tolist())
        values = rng.normal(size=3).astype(np.float32).tolist()
        payload = {"n": pid, "city": cities[pid % 4], "nested": {"k": [pid, "x"]}}
        model[pid] = {"payload": payload, "dense": dense, "euc": euc, "mv": multi, "s": (indices, values)}
        return models.PointStruct(
            id=pid,
            payload=payload,
            vector={"dense": dense.tolist(), "euc": euc.tolist(), "mv": multi.tolist(),
                    "s": models.SparseVector(indices=indices, values=values)},
        )

    for lo in range(0, 1200, 300):  # answered "completed"
        result = client.upsert(name, points=[make_point(pid) for pid in range(lo, lo + 300)], wait=True)
        assert result.status == models.UpdateStatus.COMPLETED
    for lo in range(1200, 2000, 200):  # answered "acknowledged"
        result = client.upsert(name, points=[make_point(pid) for pid in range(lo, lo + 200)], wait=False)
        assert result.status == models.UpdateStatus.ACKNOWLEDGED
    # Payload edits, vector updates and deletes, some only acknowledged.
    client.set_payload(name, payload={"flag": True}, points=list(range(0, 50)), wait=False)
    for pid in range(0, 50):
        model[pid]["payload"] = {**model[pid]["payload"], "flag": True}
    client.overwrite_payload(name, payload={"only": "this"}, points=[60, 61, 62], wait=True)
    for pid in (60, 61, 62):
        model[pid]["payload"] = {"only": "this"}
    client.delete_payload(name, keys=["nested"], points=list(range(100, 120)), wait=False)
    for pid in range(100, 120):
        model[pid]["payload"] = {k: v for k, v in model[pid]["payload"].items() if k != "nested"}
    new_dense = rng.normal(size=(10, 32)).astype(np.float32)
    client.update_vectors(
        name,
        points=[models.PointVectors(id=300 + i, vector={"dense": new_dense[i].tolist()}) for i in range(10)],
        wait=False,
    )
    for i in range(10):
        model[300 + i]["dense"] = new_dense[i]
    client.delete(name, points_selector=models.PointIdsList(points=list(range(1990, 2000))), wait=False)
    client.delete(
        name,
        points_selector=models.FilterSelector(filter=models.Filter(must=[
            models.FieldCondition(key="city", match=models.MatchValue(value="Rome")),
            models.FieldCondition(key="n", range=models.Range(gte=500, lt=700)),
        ])),
        wait=True,
    )
    for pid in list(model):
        if 1990 <= pid < 2000 or (model[pid]["payload"].get("city") == "Rome" and 500 <= pid < 700):
            del model[pid]

    def assert_matches_model(points: dict) -> None:
        assert set(points) == set(model)
        for pid, (payload, vectors) in points.items():
            want = model[pid]
            assert payload == want["payload"], pid
            assert np.allclose(vectors["dense"], normalized(want["dense"]), atol=1e-5), pid
            assert np.allclose(vectors["euc"], want["euc"], atol=1e-6), pid
            assert np.asarray(vectors["mv"]).shape == want["mv"].shape, pid
            assert np.allclose(vectors["mv"], want["mv"], atol=1e-6), pid
            assert vectors["s"].indices == want["s"][0], pid
            assert np.allclose(vectors["s"].values, want["s"][1], atol=1e-6), pid

    indexed_before = settled_index(client, name)
    assert_matches_model(all_points(client, name))
    queries = {f"dense{i}": ("dense", rng.normal(size=32).tolist(), None) for i in range(8)}
    queries.update({f"euc{i}": ("euc", rng.normal(size=8).tolist(), None) for i in range(4)})
    queries["multi"] = ("mv", rng.normal(size=(2, 4)).tolist(), None)
    queries["sparse"] = ("s", models.SparseVector(indices=[1, 2, 3, 4, 5], values=[1.0, -1.0, 0.5, 2.0, 1.0]), None)
    queries["filtered"] = ("dense", rng.normal(size=32).tolist(),
                           models.Filter(must=[models.FieldCondition(key="city", match=models.MatchValue(value="Oslo"))]))
    searches_before = search_snapshot(client, name, queries)
    config_before = requests.get(f"{node.url}/collections/{name}").json()["result"]
    assert set(config_before["payload_schema"]) == {"city", "n"}

    client = crash_and_restart(node, transport)

    config_after = requests.get(f"{node.url}/collections/{name}").json()["result"]
    assert config_after["config"] == config_before["config"]
    assert config_after["payload_schema"] == config_before["payload_schema"]
    assert config_after["points_count"] == len(model)
    assert settled_index(client, name, expected=indexed_before) >= indexed_before
    assert_matches_model(all_points(client, name))
    assert_same_search(searches_before, search_snapshot(client, name, queries))
    # The payload indexes answer filters again.
    oslo = client.count(name, count_filter=models.Filter(must=[
        models.FieldCondition(key="city", match=models.MatchValue(value="Oslo"))]), exact=True).count
    assert oslo == sum(1 for p in model.values() if p["payload"].get("city") == "Oslo")


def test_points_written_after_a_restart_stay_searchable_after_the_next(node, transport, collection_name):
    """New points must never inherit the graph slot of a point deleted before an earlier restart."""
    client = fresh_client(node, transport)
    name = collection_name
    rng = np.random.default_rng(9)
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=16, distance=models.Distance.DOT),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=30),  # KB: ~480 vectors
    )
    data = rng.normal(size=(1000, 16)).astype(np.float32)
    client.upsert(name, points=models.Batch(ids=list(range(1000)), vectors=data.tolist()), wait=True)
    settled_index(client, name, expected=1000)
    # Delete the most recently written points, then crash.
    client.delete(name, points_selector=models.PointIdsList(points=list(range(800, 1000))), wait=True)
    client = crash_and_restart(node, transport)
    settled_index(client, name, expected=800)
    fresh = (rng.normal(size=(200, 16)) * 3).astype(np.float32)
    client.upsert(name, points=models.Batch(ids=list(range(5000, 5200)), vectors=fresh.tolist()), wait=True)
    client = crash_and_restart(node, transport)
    settled_index(client, name)
    everything = {**{pid: data[pid] for pid in range(800)}, **{5000 + i: fresh[i] for i in range(200)}}
    assert client.count(name, exact=True).count == len(everything)
    ids = list(everything)
    matrix = np.stack([everything[pid] for pid in ids]).astype(np.float64)
    found = 0
    for i in range(0, 200, 4):
        scores = matrix @ fresh[i].astype(np.float64)
        truth = {ids[j] for j in np.argsort(-scores)[:10]}
        hits = client.query_points(name, query=fresh[i].tolist(), limit=10).points
        for hit in hits:
            assert hit.score == pytest.approx(float(everything[hit.id].astype(np.float64) @ fresh[i]), rel=1e-4, abs=1e-4)
        found += len(truth & {hit.id for hit in hits})
    assert found / (10 * 50) >= 0.95


def test_kill_during_a_stream_of_writes_keeps_every_answered_write(node, transport, collection_name):
    client = fresh_client(node, transport)
    name = collection_name
    client.create_collection(name, vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID))
    url = f"{node.url}/collections/{name}/points"
    answered: dict[int, dict] = {}  # id -> {"vector", "payload"} for every answered write
    in_flight: dict[int, dict] = {}  # what the unanswered request would have written
    lock = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        rng = np.random.default_rng(3)
        session = requests.Session()
        batch = 0
        try:
            while not stop.is_set():
                wait = "true" if batch % 2 == 0 else "false"
                if batch % 5 == 4 and answered:
                    # A payload edit of points written earlier.
                    targets = list(range((batch - 4) * 4, (batch - 4) * 4 + 4))
                    payload = {"edited": batch}
                    with lock:
                        in_flight.clear()
                        for pid in targets:
                            in_flight[pid] = {"vector": answered[pid]["vector"],
                                              "payload": {**answered[pid]["payload"], **payload}}
                    response = session.post(f"{url}/payload?wait={wait}",
                                            json={"points": targets, "payload": payload}, timeout=30)
                else:
                    points = []
                    with lock:
                        in_flight.clear()
                        for pid in range(batch * 4, batch * 4 + 4):
                            vector = rng.normal(size=8).astype(np.float32).tolist()
                            payload = {"batch": batch, "wait": wait}
                            in_flight[pid] = {"vector": vector, "payload": payload}
                            points.append({"id": pid, "vector": vector, "payload": payload})
                    response = session.put(f"{url}?wait={wait}", json={"points": points}, timeout=30)
                assert response.status_code == 200, response.text
                with lock:
                    answered.update(in_flight)
                    in_flight.clear()
                batch += 1
        except requests.RequestException:
            return  # the node died under us: this request stays unanswered
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    wait_for(lambda: len(answered) >= 400 or errors, timeout=40, interval=0.01, what="writes")
    node.kill()
    thread.join(timeout=30)
    stop.set()
    assert not errors, errors
    assert not thread.is_alive()
    with lock:
        acknowledged, maybe = dict(answered), dict(in_flight)

    client = crash_and_restart(node, transport)
    stored = all_points(client, name)
    for pid, want in acknowledged.items():
        assert pid in stored, pid
        payload, vector = stored[pid]
        candidates = [want] + ([maybe[pid]] if pid in maybe else [])
        assert any(payload == c["payload"] and np.allclose(vector, c["vector"], atol=1e-6) for c in candidates), pid
    # Nothing appears that was never sent.
    assert set(stored) <= set(acknowledged) | set(maybe)
    # And the node takes writes again.
    client.upsert(name, points=[models.PointStruct(id=10**6, vector=[0.0] * 8)], wait=True)
    assert client.query_points(name, query=[0.0] * 8, limit=1).points[0].id == 10**6
