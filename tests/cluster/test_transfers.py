"""Shard transfers on a live three-node cluster: move, replicate, drop, abort.

A writer thread upserts and sets payloads for the whole length of each transfer,
through every node in turn; afterwards every replica of every shard must hold
the same points, and every write the writer got acknowledged must be there.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
import requests
from qdrant_client import QdrantClient, models

from tests.cluster.admin_support import Cluster, wait_until

DIM = 8
PRELOAD = 6000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(str(tmp_path_factory.mktemp("transfers"))).start(3)
    yield cluster
    cluster.stop()


def client_for(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=60, check_compatibility=False)


def vector(point_id: int, generation: int) -> list[float]:
    rng = random.Random(point_id * 1_000_003 + generation)
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


class Writer(threading.Thread):
    """Sequential upserts and payload updates through every node, recording what was acknowledged.

    ``expected`` maps a point id to its acknowledged payload and vector; a write
    that failed leaves its point uncertain until the next acknowledged upsert.
    """

    def __init__(self, cluster: Cluster, collection: str, ids: range, first_node: int = 0) -> None:
        super().__init__(daemon=True)
        self.first_node = first_node
        self.cluster = cluster
        self.collection = collection
        self.ids = ids
        self.expected: dict[int, tuple[dict, list[float]]] = {}
        self.uncertain: set[int] = set()
        self.acked = 0
        self.failed = 0
        self.errors: list[str] = []
        self._halt = threading.Event()
        self._rng = random.Random(7)

    def seed(self, expected: dict[int, tuple[dict, list[float]]]) -> None:
        self.expected.update(expected)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=60)
        assert not self.is_alive()

    def run(self) -> None:
        session = requests.Session()
        generation = 0
        while not self._halt.is_set():
            generation += 1
            nodes = self.cluster.alive()
            node = nodes[(generation + self.first_node) % len(nodes)]
            point_id = self._rng.choice(self.ids)
            known = point_id in self.expected and point_id not in self.uncertain
            if known and self._rng.random() < 0.5:
                payload, vec = self.expected[point_id]
                new_payload = {**payload, "w": generation}
                path = f"/collections/{self.collection}/points/payload?wait=true"
                body: dict[str, Any] = {"points": [point_id], "payload": {"w": generation}}
                effect = (new_payload, vec)
                method = "POST"
            else:
                vec = vector(point_id, generation)
                new_payload = {"v": generation, "w": 0}
                path = f"/collections/{self.collection}/points?wait=true"
                body = {"points": [{"id": point_id, "vector": vec, "payload": new_payload}]}
                effect = (new_payload, vec)
                method = "PUT"
            try:
                response = session.request(method, node.url + path, json=body, timeout=30)
                ok = response.status_code == 200
                if not ok:
                    self.errors.append(f"{response.status_code} {response.text[:200]}")
            except requests.RequestException as exc:
                ok = False
                self.errors.append(repr(exc))
            if ok:
                self.acked += 1
                self.expected[point_id] = effect
                self.uncertain.discard(point_id)
            else:
                self.failed += 1
                self.uncertain.add(point_id)
        session.close()

    def wait_for_more(self, count: int, timeout: float = 60) -> None:
        target = self.acked + count
        wait_until(lambda: self.acked >= target, timeout, f"{count} more acknowledged writes")


class Writers:
    """Several writers at once, each on its own ids (so each id still sees one writer's order)."""

    def __init__(self, cluster: Cluster, collection: str, ids: range, count: int = 3) -> None:
        self.writers = [
            Writer(cluster, collection, [pid for pid in ids if pid % count == k], first_node=k) for k in range(count)
        ]
        for k, writer in enumerate(self.writers):
            writer._rng = random.Random(k + 11)

    def seed(self, expected: dict[int, tuple[dict, list[float]]]) -> None:
        for writer in self.writers:
            writer.seed({pid: v for pid, v in expected.items() if pid in set(writer.ids)})

    def start(self) -> None:
        for writer in self.writers:
            writer.start()

    def stop(self) -> None:
        for writer in self.writers:
            writer._halt.set()
        for writer in self.writers:
            writer.stop()

    @property
    def acked(self) -> int:
        return sum(w.acked for w in self.writers)

    @property
    def failed(self) -> int:
        return sum(w.failed for w in self.writers)

    @property
    def errors(self) -> list[str]:
        return [e for w in self.writers for e in w.errors]

    @property
    def expected(self) -> dict[int, tuple[dict, list[float]]]:
        return {pid: v for w in self.writers for pid, v in w.expected.items()}

    @property
    def uncertain(self) -> set[int]:
        return {pid for w in self.writers for pid in w.uncertain}

    def wait_for_more(self, count: int, timeout: float = 60) -> None:
        target = self.acked + count
        wait_until(lambda: self.acked >= target, timeout, f"{count} more acknowledged writes")


def preload(cluster: Cluster, collection: str, ids: range) -> dict[int, tuple[dict, list[float]]]:
    node = cluster.nodes[0]
    expected = {}
    points = []
    for point_id in ids:
        vec = vector(point_id, 0)
        payload = {"v": 0, "w": 0}
        expected[point_id] = (payload, vec)
        points.append({"id": point_id, "vector": vec, "payload": payload})
    for start in range(0, len(points), 500):
        response = cluster.request(
            node, "PUT", f"/collections/{collection}/points?wait=true", json={"points": points[start : start + 500]}
        )
        assert response.status_code == 200, response.text
    return expected


def same_point(a: tuple, b: tuple) -> bool:
    """Equal payloads and vectors (up to float rounding: a transfer re-normalizes Cosine vectors)."""
    if a[0] != b[0] or a[1].keys() != b[1].keys():
        return False
    return all(
        len(a[1][name]) == len(b[1][name]) and all(abs(x - y) < 1e-5 for x, y in zip(a[1][name], b[1][name]))
        for name in a[1]
    )


def same_contents(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(same_point(a[pid], b[pid]) for pid in a)


def check_contents(cluster: Cluster, collection: str, writer: Writers) -> None:
    """Every replica of a shard holds the same points; together they hold every acknowledged write."""
    print(f"writes acknowledged {writer.acked}, failed {writer.failed}: {writer.errors[:3]}")
    placement = cluster.replicas(cluster.alive()[0], collection)
    seen: dict[int, tuple] = {}
    for shard_id, replicas in sorted(placement.items()):
        assert set(replicas.values()) == {"Active"}, placement
        copies = {peer: cluster.replica_contents(cluster.node_of(peer), collection, shard_id) for peer in replicas}
        first_peer, first = next(iter(copies.items()))
        for peer, copy in copies.items():
            assert copy.keys() == first.keys(), (
                f"shard {shard_id}: replicas on {first_peer} and {peer} differ in ids: "
                f"{sorted(set(copy) ^ set(first))[:10]}"
            )
            differing = [pid for pid in copy if not same_point(copy[pid], first[pid])]
            assert not differing, (
                f"shard {shard_id}: replicas differ for points {differing[:10]}: "
                + "; ".join(
                    f"{pid}: {first_peer}={first[pid][0]} {peer}={copy[pid][0]} "
                    f"acked={writer.expected.get(pid, (None,))[0]} uncertain={pid in writer.uncertain}"
                    for pid in differing[:3]
                )
            )
        overlap = set(first) & set(seen)
        assert not overlap, f"points {sorted(overlap)[:10]} are in several shards"
        seen.update(first)
    missing = [pid for pid in writer.expected if pid not in seen]
    assert not missing, f"acknowledged points lost: {missing[:10]}"
    for pid, (payload, vec) in writer.expected.items():
        if pid in writer.uncertain:
            continue
        stored_payload, stored_vectors = seen[pid]
        assert stored_payload == payload, f"point {pid}: acknowledged payload {payload}, stored {stored_payload}"
        norm = sum(x * x for x in vec) ** 0.5  # Cosine: stored normalized
        assert all(abs(a - b / norm) < 1e-3 for a, b in zip(stored_vectors[""], vec)), (
            f"point {pid}: acknowledged vector lost"
        )


@pytest.fixture(scope="module")
def collection(cluster):
    """Three shards, one replica each (one per node), preloaded."""
    name = "transfers"
    response = cluster.request(
        cluster.nodes[0],
        "PUT",
        f"/collections/{name}",
        json={"vectors": {"size": DIM, "distance": "Cosine"}, "shard_number": 3, "replication_factor": 1},
    )
    assert response.status_code == 200, response.text
    wait_until(
        lambda: cluster.converged(name, lambda p: all(set(r.values()) == {"Active"} for r in p.values())),
        30,
        "every replica Active on every node",
    )
    expected = preload(cluster, name, range(PRELOAD))
    return name, expected


def holders(cluster: Cluster, name: str, shard_id: int) -> list[int]:
    return sorted(cluster.replicas(cluster.nodes[0], name)[shard_id])


def other_peer(cluster: Cluster, exclude: list[int]) -> int:
    return next(cluster.peer_id(n) for n in cluster.alive() if cluster.peer_id(n) not in exclude)


def transfer_listed(cluster: Cluster, node, name: str, shard_id: int, source: int, target: int, sync: bool) -> bool:
    transfers = cluster.get(node, f"/collections/{name}/cluster")["shard_transfers"]
    return any(
        t["shard_id"] == shard_id and t["from"] == source and t["to"] == target and t["sync"] is sync
        for t in transfers
    )


def test_move_shard_under_writes(cluster, collection):
    name, expected = collection
    writer = Writers(cluster, name, range(PRELOAD + 500))
    writer.seed(expected)
    writer.start()
    try:
        writer.wait_for_more(30)
        (source,) = holders(cluster, name, 0)
        target = other_peer(cluster, [source])
        client = client_for(cluster.nodes[0])
        assert client.cluster_collection_update(
            name,
            models.MoveShardOperation(
                move_shard=models.MoveShard(shard_id=0, from_peer_id=source, to_peer_id=target)
            ),
        )
        # The node that proposed the move has applied it when the call returns: the transfer
        # (or, if it was already that fast, its outcome) is visible there.
        info = client.collection_cluster_info(name)
        listed = any(t.shard_id == 0 and t.from_ == source and t.to == target and not t.sync for t in info.shard_transfers)
        moved = {(s.shard_id, s.state) for s in info.remote_shards if s.peer_id == target} >= {(0, models.ReplicaState.ACTIVE)}
        assert listed or moved, info
        wait_until(
            lambda: cluster.converged(name, lambda p: p[0] == {target: "Active"}),
            60,
            "shard 0 Active on the target only, on every node",
        )
        for node in cluster.alive():
            assert cluster.get(node, f"/collections/{name}/cluster")["shard_transfers"] == []
        source_info = cluster.get(cluster.node_of(source), f"/collections/{name}/cluster")
        assert 0 not in [s["shard_id"] for s in source_info["local_shards"]]
        writer.wait_for_more(30)
    finally:
        writer.stop()
    assert writer.acked > 60
    assert writer.failed <= writer.acked // 10, writer.errors[:5]
    check_contents(cluster, name, writer)
    expected.clear()
    expected.update({pid: value for pid, value in writer.expected.items() if pid not in writer.uncertain})


def test_replicate_shard_under_writes_then_drop_replica(cluster, collection):
    name, expected = collection
    writer = Writers(cluster, name, range(PRELOAD + 500))
    writer.seed(expected)
    writer.start()
    try:
        writer.wait_for_more(30)
        (source,) = holders(cluster, name, 1)
        target = other_peer(cluster, [source])
        client = client_for(cluster.node_of(source))
        assert client.cluster_collection_update(
            name,
            models.ReplicateShardOperation(
                replicate_shard=models.ReplicateShard(shard_id=1, from_peer_id=source, to_peer_id=target)
            ),
        )
        info = client.collection_cluster_info(name)
        listed = any(t.shard_id == 1 and t.from_ == source and t.to == target and t.sync for t in info.shard_transfers)
        done = any(s.shard_id == 1 and s.peer_id == target and s.state == models.ReplicaState.ACTIVE for s in info.remote_shards)
        assert listed or done, info
        wait_until(
            lambda: cluster.converged(name, lambda p: p[1] == {source: "Active", target: "Active"}),
            60,
            "shard 1 Active on both peers, on every node",
        )
        writer.wait_for_more(40)
    finally:
        writer.stop()
    assert writer.failed <= writer.acked // 10, writer.errors[:5]
    check_contents(cluster, name, writer)
    expected.clear()
    expected.update({pid: value for pid, value in writer.expected.items() if pid not in writer.uncertain})

    # drop_replica removes the new replica everywhere ...
    client = client_for(cluster.nodes[2])
    assert client.cluster_collection_update(
        name, models.DropReplicaOperation(drop_replica=models.Replica(shard_id=1, peer_id=target))
    )
    wait_until(lambda: cluster.converged(name, lambda p: p[1] == {source: "Active"}), 30, "replica dropped")
    target_info = cluster.get(cluster.node_of(target), f"/collections/{name}/cluster")
    assert 1 not in [s["shard_id"] for s in target_info["local_shards"]]
    # ... and refuses to drop the last one, as Qdrant does.
    response = cluster.request(
        cluster.nodes[1], "POST", f"/collections/{name}/cluster", json={"drop_replica": {"shard_id": 1, "peer_id": source}}
    )
    assert response.status_code == 400, response.text
    assert "at least one active replica" in response.json()["status"]["error"]
    assert cluster.replicas(cluster.nodes[1], name)[1] == {source: "Active"}
    # Unknown shard and a peer without a replica are refused too.
    response = cluster.request(
        cluster.nodes[1], "POST", f"/collections/{name}/cluster", json={"drop_replica": {"shard_id": 1, "peer_id": target}}
    )
    assert response.status_code == 400, response.text
    response = cluster.request(
        cluster.nodes[1],
        "POST",
        f"/collections/{name}/cluster",
        json={"move_shard": {"shard_id": 99, "from_peer_id": source, "to_peer_id": target}},
    )
    assert response.status_code in (400, 404), response.text


def test_abort_transfer_leaves_source_intact(cluster, collection):
    name, _ = collection
    (source,) = holders(cluster, name, 2)
    target = other_peer(cluster, [source])
    target_node = cluster.node_of(target)
    source_node = cluster.node_of(source)
    before = cluster.replica_contents(source_node, name, 2)
    assert before
    other = next(n for n in cluster.alive() if n is not target_node)
    client = client_for(other)
    # A paused target cannot take the transfer: it stays running until it is aborted.
    cluster.pause(target_node)
    try:
        assert client.cluster_collection_update(
            name, models.MoveShardOperation(move_shard=models.MoveShard(shard_id=2, from_peer_id=source, to_peer_id=target))
        )
        for node in (source_node, other):
            wait_until(lambda n=node: transfer_listed(cluster, n, name, 2, source, target, False), 20, "transfer listed")
        assert cluster.replicas(other, name)[2] == {source: "Active", target: "Partial"}
        assert client.cluster_collection_update(
            name,
            models.AbortTransferOperation(
                abort_transfer=models.AbortShardTransfer(shard_id=2, from_peer_id=source, to_peer_id=target)
            ),
        )
        for node in (source_node, other):
            wait_until(
                lambda n=node: cluster.get(n, f"/collections/{name}/cluster")["shard_transfers"] == []
                and cluster.replicas(n, name)[2] == {source: "Active"},
                20,
                "transfer aborted and the partial replica dropped",
            )
        # Aborting again: there is no such transfer any more.
        response = cluster.request(
            other,
            "POST",
            f"/collections/{name}/cluster",
            json={"abort_transfer": {"shard_id": 2, "from_peer_id": source, "to_peer_id": target}},
        )
        assert response.status_code in (400, 404), response.text
    finally:
        cluster.resume(target_node)
    wait_until(lambda: cluster.converged(name, lambda p: p[2] == {source: "Active"}), 30, "every node saw the abort")
    assert same_contents(cluster.replica_contents(source_node, name, 2), before)
    target_info = cluster.get(target_node, f"/collections/{name}/cluster")
    assert 2 not in [s["shard_id"] for s in target_info["local_shards"]]
    # The aborted transfer left nothing behind: the same transfer can run again and complete.
    assert client.cluster_collection_update(
        name, models.MoveShardOperation(move_shard=models.MoveShard(shard_id=2, from_peer_id=source, to_peer_id=target))
    )
    wait_until(
        lambda: cluster.converged(name, lambda p: p[2] == {target: "Active"}),
        60,
        "the transfer started again completes",
    )
    assert same_contents(cluster.replica_contents(target_node, name, 2), before)
