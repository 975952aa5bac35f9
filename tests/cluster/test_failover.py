"""Cluster behaviour under failures: three nodes on loopback, kill -9, restart.

The tests share one cluster and run in file order; each leaves the cluster
whole (every node up, every replica Active) for the next one. ``STORE``
keeps what was acknowledged, so later tests can check nothing was lost.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time

import pytest
import requests
from qdrant_client import QdrantClient, models

from shards.hash_ring import HashRing
from tests.cluster.conftest import Cluster, wait_until

COLLECTION = "failover"
DIM = 8
SHARDS = 3
ORDERINGS = ("weak", "medium", "strong")

# What the cluster acknowledged: point id -> (vector, payload), per collection.
STORE: dict[str, dict[int, tuple[list[float], dict]]] = {COLLECTION: {}}
RING = HashRing(range(SHARDS))
_rng = random.Random(7)


def vector() -> list[float]:
    return [round(_rng.uniform(-1, 1), 3) for _ in range(DIM)]


def client_of(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=30, check_compatibility=False)


@contextlib.contextmanager
def connect(node):
    client = client_of(node)
    try:
        yield client
    finally:
        client.close()


def upsert_raw(cluster: Cluster, node, points: dict[int, tuple[list[float], dict]], ordering: str,
               collection: str = COLLECTION, timeout: float = 30.0) -> requests.Response:
    body = {"points": [{"id": pid, "vector": vec, "payload": payload} for pid, (vec, payload) in points.items()]}
    return cluster.request(node, "PUT", f"/collections/{collection}/points?wait=true&ordering={ordering}",
                           json=body, timeout=timeout)


def write(cluster: Cluster, node, points: dict[int, tuple[list[float], dict]], ordering: str,
          collection: str = COLLECTION) -> None:
    """An upsert that must be acknowledged; recorded in STORE."""
    response = upsert_raw(cluster, node, points, ordering, collection)
    assert response.status_code == 200, (node.url, ordering, response.status_code, response.text)
    assert response.json()["result"]["status"] == "completed"
    STORE.setdefault(collection, {}).update(points)


def new_points(start: int, count: int, tag: str) -> dict[int, tuple[list[float], dict]]:
    return {pid: (vector(), {"tag": tag, "n": pid, "nested": {"k": [pid % 7, tag]}}) for pid in range(start, start + count)}


def next_id(collection: str = COLLECTION) -> int:
    return max(STORE.get(collection, {}), default=0) + 1


def expected_view(collection: str = COLLECTION) -> dict:
    return {pid: ([round(x, 3) for x in vec], payload) for pid, (vec, payload) in STORE[collection].items()}


def as_view(records) -> dict:
    """qdrant-client records -> id -> (rounded vector, payload)."""
    return {r.id: ([round(x, 3) for x in r.vector], r.payload) for r in records}


def scroll_everything(client: QdrantClient, collection: str) -> list:
    records, offset = [], None
    while True:
        page, offset = client.scroll(collection, limit=97, offset=offset, with_payload=True, with_vectors=True)
        records.extend(page)
        if offset is None:
            return records


def read_everything(cluster: Cluster, node, collection: str = COLLECTION) -> dict:
    """retrieve + scroll + count + query through one node; they must agree with each other."""
    client = client_of(node)
    try:
        ids = sorted(STORE[collection])
        retrieved = as_view(client.retrieve(collection, ids, with_payload=True, with_vectors=True))
        scrolled = as_view(scroll_everything(client, collection))
        count = client.count(collection, exact=True).count
        query = [0.5] * DIM
        hits = client.query_points(collection, query=query, limit=len(ids) + 5, with_payload=True).points
    finally:
        client.close()
    assert retrieved == scrolled, f"retrieve and scroll differ on {node.url}"
    assert count == len(scrolled), f"count {count} != {len(scrolled)} scrolled on {node.url}"
    assert {h.id for h in hits} == set(scrolled), f"query misses points on {node.url}"
    for hit in hits:  # scores are the dot products of what is stored
        stored = scrolled[hit.id][0]
        assert hit.score == pytest.approx(sum(0.5 * x for x in stored), abs=1e-3)
    return scrolled


def assert_replicas_identical(cluster: Cluster, collection: str = COLLECTION) -> None:
    """Every replica of every shard, read straight from its peer, holds the same points,
    and together they hold exactly what was acknowledged."""
    states = cluster.wait_all_active(collection)
    ring = HashRing(sorted(states))
    union: dict = {}
    for shard_id, replicas in sorted(states.items()):
        contents = {peer: cluster.read_replica(peer, collection, shard_id) for peer in replicas}
        first_peer, first = next(iter(contents.items()))
        for peer, content in contents.items():
            missing = sorted(set(first) ^ set(content))[:10]
            assert content == first, (
                f"shard {shard_id}: replica on peer {peer} differs from peer {first_peer} (ids differing: {missing})"
            )
        assert all(ring.shard_for(pid) == shard_id for pid in first), f"shard {shard_id} holds foreign points"
        union.update(first)
    assert sorted(union) == sorted(STORE[collection])
    expected = expected_view(collection)
    got = {pid: ([round(x, 3) for x in vectors[""]], payload) for pid, (vectors, payload) in union.items()}
    assert got == expected


def shard_leaders(states: dict[int, dict[int, str]]) -> dict[int, int]:
    """Highest-id replica of each shard (the one strong ordering writes through)."""
    return {shard_id: max(replicas) for shard_id, replicas in states.items()}


def point_in_shard(shard_id: int) -> int:
    return next(pid for pid in sorted(STORE[COLLECTION]) if RING.shard_for(pid) == shard_id)


# ------------------------------------------------------------------------------ tests


def test_replicated_writes_and_reads_agree_on_every_node(cluster: Cluster):
    first = cluster.nodes[0]
    client = client_of(first)
    assert client.create_collection(
        COLLECTION,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        shard_number=SHARDS,
        replication_factor=2,
        write_consistency_factor=2,
    )
    client.close()
    digest = cluster.wait_converged()
    assert digest
    states = cluster.wait_all_active(COLLECTION)
    assert sorted(states) == list(range(SHARDS))
    assert all(len(replicas) == 2 for replicas in states.values())
    for node in cluster.nodes:
        info = cluster.get(node, f"/collections/{COLLECTION}")
        assert info["config"]["params"]["write_consistency_factor"] == 2
        assert info["config"]["params"]["replication_factor"] == 2

    start = 1
    for node in cluster.nodes:
        for ordering in ORDERINGS:
            write(cluster, node, new_points(start, 40, f"{ordering}@{node.http_port}"), ordering)
            start += 40
    # Writes through the official client too.
    for node, ordering in zip(cluster.nodes, (models.WriteOrdering.WEAK, models.WriteOrdering.MEDIUM,
                                               models.WriteOrdering.STRONG)):
        points = new_points(start, 10, f"client-{ordering.value}")
        start += 10
        with connect(node) as c:
            result = c.upsert(COLLECTION, [models.PointStruct(id=p, vector=v, payload=pl) for p, (v, pl) in points.items()],
                              wait=True, ordering=ordering)
        assert result.status == models.UpdateStatus.COMPLETED
        STORE[COLLECTION].update(points)

    expected = expected_view()
    for node in cluster.nodes:
        assert read_everything(cluster, node) == expected
    # Metadata is the same everywhere after the writes too.
    assert cluster.wait_converged()
    assert_replicas_identical(cluster)


KILLED: dict[str, object] = {}


def test_kill_non_leader_keeps_reads_and_weak_writes(cluster: Cluster):
    leader = cluster.wait_leader()
    states = cluster.wait_all_active(COLLECTION)
    ids = sorted(cluster.peer_id(n) for n in cluster.nodes)
    # A follower that is not the lowest peer id is the highest-id replica of at least one
    # of its shards (each pair of peers shares a shard), so strong writes must fail there.
    victim = next(n for n in cluster.nodes if n is not leader and cluster.peer_id(n) != ids[0])
    victim_id = cluster.peer_id(victim)
    victim_shards = sorted(s for s, replicas in states.items() if victim_id in replicas)
    assert victim_shards, "the victim holds replicas"
    survivors = [n for n in cluster.nodes if n is not victim]

    cluster.kill(victim)
    KILLED["node"] = victim

    # Reads keep answering with every point, from every surviving node.
    expected = expected_view()
    for node in survivors:
        assert read_everything(cluster, node) == expected

    # A reader keeps reading through the survivors while writes find the replica gone.
    stop = threading.Event()
    read_failures: list[str] = []
    reads = {"n": 0}

    def reader() -> None:
        session = requests.Session()
        while not stop.is_set():
            node = survivors[reads["n"] % len(survivors)]
            known = len(STORE[COLLECTION])
            try:
                response = session.post(f"{node.url}/collections/{COLLECTION}/points/count", json={"exact": True},
                                        timeout=20)
                if response.status_code != 200 or response.json()["result"]["count"] < known:
                    read_failures.append(f"{node.http_port}: {response.status_code} {response.text[:200]} < {known}")
            except requests.RequestException as exc:
                read_failures.append(f"{node.http_port}: {exc}")
            reads["n"] += 1
        session.close()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        # Weak and medium writes keep succeeding (also the first ones, which find the replica gone).
        start = next_id()
        for node in survivors:
            for ordering in ("weak", "medium"):
                for _ in range(3):
                    write(cluster, node, new_points(start, 15, f"{ordering}-degraded"), ordering)
                    start += 15
    finally:
        stop.set()
        thread.join(30)
    assert reads["n"] > 0 and read_failures == [], read_failures[:5]
    expected = expected_view()
    for node in survivors:
        assert read_everything(cluster, node) == expected

    # The dead peer's replicas are Dead in every survivor's view.
    def victim_dead() -> bool:
        for node in survivors:
            seen = cluster.replica_states(COLLECTION, node)
            if any(seen[s][victim_id] != "Dead" for s in victim_shards):
                return False
            if any(state != "Active" for s, replicas in seen.items() for p, state in replicas.items() if p != victim_id):
                return False
        return True

    wait_until(victim_dead, 15, "the killed peer's replicas to be Dead", debug=cluster.describe)

    # Strong ordering: fails cleanly where the highest-id replica is the dead one,
    # succeeds where it is up.
    leaders = shard_leaders(states)
    assert victim_id in leaders.values(), "test setup: the victim leads a shard"
    assert any(p != victim_id for p in leaders.values()), "test setup: another peer leads a shard"
    for shard_id, shard_leader in leaders.items():
        pid = point_in_shard(shard_id)
        point = {pid: (vector(), {"tag": "strong-degraded", "n": pid})}
        for node in survivors:
            began = time.monotonic()
            response = upsert_raw(cluster, node, point, "strong", timeout=20)
            took = time.monotonic() - began
            if shard_leader == victim_id:
                assert 400 <= response.status_code < 600, (shard_id, response.status_code, response.text)
                assert response.status_code != 200
                body = response.json()
                assert isinstance(body["status"]["error"], str) and body["status"]["error"]
                assert took < 12, f"strong write took {took:.1f}s to fail"
            else:
                assert response.status_code == 200, (shard_id, response.status_code, response.text)
                STORE[COLLECTION].update(point)
    expected = expected_view()
    for node in survivors:
        assert read_everything(cluster, node) == expected


def test_restarted_node_recovers_by_transfer_while_writes_continue(cluster: Cluster):
    victim = KILLED.get("node")
    if victim is None:  # run alone: make the failure first
        leader = cluster.wait_leader()
        victim = next(n for n in cluster.nodes if n is not leader)
        cluster.kill(victim)
        write(cluster, next(n for n in cluster.nodes if n is not victim), new_points(next_id(), 30, "pre"), "weak")
    victim_id = cluster.peer_id(victim)
    survivors = [n for n in cluster.nodes if n is not victim]
    # More data while the peer is down, so that the transfers have something to carry.
    start = next_id()
    for i in range(4):
        write(cluster, survivors[i % 2], new_points(start, 200, "while-down"), "weak")
        start += 200

    # A writer keeps going through the recovery: new points and updates of old ones.
    stop = threading.Event()
    failures: list[str] = []
    acked: dict[int, tuple[list[float], dict]] = {}
    counter = {"n": 0}
    old_ids = sorted(STORE[COLLECTION])[:300]
    writer_rng = random.Random(11)

    def writer() -> None:
        pid = start + 10_000
        session = requests.Session()
        while not stop.is_set():
            counter["n"] += 1
            targets = [n for n in cluster.nodes if n.process is not None and n.process.poll() is None]
            node = targets[counter["n"] % len(targets)]
            points = {}
            for _ in range(5):
                points[pid] = ([round(writer_rng.uniform(-1, 1), 3) for _ in range(DIM)], {"tag": "during", "n": pid})
                pid += 1
            old = old_ids[counter["n"] % len(old_ids)]
            points[old] = ([round(writer_rng.uniform(-1, 1), 3) for _ in range(DIM)], {"tag": "updated", "n": old})
            body = {"points": [{"id": p, "vector": v, "payload": pl} for p, (v, pl) in points.items()]}
            try:
                response = session.put(f"{node.url}/collections/{COLLECTION}/points?wait=true&ordering=weak",
                                       json=body, timeout=30)
                if response.status_code == 200:
                    acked.update(points)
                else:
                    failures.append(f"{node.http_port}: {response.status_code} {response.text[:200]}")
            except requests.RequestException as exc:
                if node is victim:  # the victim's REST port may not be up yet
                    continue
                failures.append(f"{node.http_port}: {exc}")
        session.close()

    # Watch the victim's replicas from a survivor: they must pass through a transfer.
    seen: dict[int, set[str]] = {}

    def monitor() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                info = session.get(f"{survivors[0].url}/collections/{COLLECTION}/cluster", timeout=5).json()["result"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            for entry in info["remote_shards"] + info["local_shards"]:
                if int(entry.get("peer_id", info["peer_id"])) == victim_id:
                    seen.setdefault(entry["shard_id"], set()).add(entry["state"])
            for transfer in info["shard_transfers"]:
                if transfer["to"] == victim_id:
                    seen.setdefault(transfer["shard_id"], set()).add("transfer")
            time.sleep(0.005)
        session.close()

    thread = threading.Thread(target=writer, daemon=True)
    watcher = threading.Thread(target=monitor, daemon=True)
    thread.start()
    watcher.start()
    try:
        wait_until(lambda: counter["n"] >= 5, 20, "the writer to get going")
        cluster.restart(victim)
        cluster.wait_converged(timeout=30)
        states = cluster.wait_all_active(COLLECTION, timeout=60)
        assert all(state == "Active" for replicas in states.values() for state in replicas.values())
        at_active = counter["n"]
        wait_until(lambda: counter["n"] >= at_active + 10, 20, "writes after the recovery")
    finally:
        stop.set()
        thread.join(60)
        watcher.join(60)
    assert not thread.is_alive()
    assert failures == [], failures[:5]
    STORE[COLLECTION].update(acked)

    # The replicas came back through transfers from an Active peer.
    victim_shards = sorted(s for s, replicas in states.items() if victim_id in replicas)
    for shard_id in victim_shards:
        assert {"Partial", "transfer"} & seen.get(shard_id, set()), (shard_id, seen)
        assert "Active" in seen[shard_id]

    assert_replicas_identical(cluster)
    expected = expected_view()
    for node in cluster.nodes:
        assert read_everything(cluster, node) == expected
    KILLED.clear()


def test_node_killed_during_its_recovery_keeps_its_replicas(cluster: Cluster):
    """A recovery transfer cut short (the target dies again) leaves the replica Dead, not gone."""
    leader = cluster.wait_leader()
    states = cluster.wait_all_active(COLLECTION)
    victim = next(n for n in cluster.nodes if n is not leader)
    victim_id = cluster.peer_id(victim)
    victim_shards = sorted(s for s, replicas in states.items() if victim_id in replicas)
    survivors = [n for n in cluster.nodes if n is not victim]
    cluster.kill(victim)
    start = next_id()
    for i in range(6):  # enough to make the transfers last a while
        write(cluster, survivors[i % 2], new_points(start, 500, "bulk"), "weak")
        start += 500

    stop = threading.Event()
    caught: list[str] = []

    def killer() -> None:
        session = requests.Session()
        while not stop.is_set():
            try:
                info = session.get(f"{survivors[0].url}/collections/{COLLECTION}/cluster", timeout=5).json()["result"]
            except (requests.RequestException, ValueError, KeyError):
                continue
            if any(t["to"] == victim_id for t in info["shard_transfers"]):
                victim.kill()
                caught.append(repr(info["shard_transfers"]))
                return
            time.sleep(0.002)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    try:
        try:
            victim.start()
        except (RuntimeError, TimeoutError):
            pass  # killed while it waited to become ready: what the test wants
        wait_until(lambda: caught, 30, "a recovery transfer to kill the target in")
    finally:
        stop.set()
        thread.join(10)
    assert victim.process.poll() is not None

    # The transfers are over, and the victim still holds (Dead) replicas of its shards.
    def settled() -> dict | None:
        info = cluster.collection_cluster(survivors[0], COLLECTION)
        seen = cluster.replica_states(COLLECTION, survivors[0])
        if any(t["to"] == victim_id for t in info["shard_transfers"]) or any(
            seen[s].get(victim_id) != "Dead" for s in victim_shards
        ):
            raise AssertionError(f"transfers {info['shard_transfers']}, replicas {seen}")
        return seen

    # (the source gives a target that stays unreachable ~10 s before it aborts the transfer)
    seen = wait_until(settled, 40, "the cut transfer to leave the victim's replicas Dead", debug=cluster.describe)
    assert all(len(seen[s]) == 2 for s in seen)

    # Back again: the replicas recover and every replica holds the same points.
    cluster.restart(victim)
    states = cluster.wait_all_active(COLLECTION, timeout=60)
    assert all(len(replicas) == 2 for replicas in states.values())
    assert sorted(s for s, replicas in states.items() if victim_id in replicas) == victim_shards
    assert_replicas_identical(cluster)


def test_leader_failover(cluster: Cluster):
    cluster.wait_converged()
    leader = cluster.wait_leader()
    others = [n for n in cluster.nodes if n is not leader]
    old_leader_id = cluster.peer_id(leader)

    cluster.kill(leader)
    killed_at = time.monotonic()
    # Data writes do not need the leader; one that finds a replica on the dead peer
    # marks it Dead, which waits for the election.
    start = next_id()
    for node in others:
        write(cluster, node, new_points(start, 30, "leaderless"), "weak")
        start += 30
    took = time.monotonic() - killed_at
    assert took < 10, f"data writes took {took:.1f}s after the leader died"
    new_leader = cluster.wait_leader(others, timeout=15)
    assert cluster.peer_id(new_leader) != old_leader_id

    # Metadata writes from either remaining node go through again within seconds.
    proposer = next(n for n in others if n is not new_leader)  # a follower forwards to the leader
    with connect(proposer) as client:
        assert client.create_collection(
            "after_failover",
            vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
            shard_number=2,
            replication_factor=2,
        )
        client.create_payload_index(COLLECTION, "tag", models.PayloadSchemaType.KEYWORD, wait=True)
    with connect(new_leader) as client:
        client.create_payload_index("after_failover", "n", models.PayloadSchemaType.INTEGER, wait=True)
    took = time.monotonic() - killed_at
    assert took < 10, f"metadata writes took {took:.1f}s after the leader died"

    # The new collection is usable: writes and reads through both remaining nodes.
    points = new_points(1, 20, "after")
    write(cluster, proposer, points, "weak", collection="after_failover")
    for node in others:
        with connect(node) as client:
            assert client.count("after_failover", exact=True).count == 20
            info = client.get_collection(COLLECTION)
            assert "tag" in info.payload_schema
    expected = expected_view()
    for node in others:
        assert read_everything(cluster, node) == expected

    # The old leader rejoins as a follower with the same metadata.
    cluster.restart(leader)
    digest = cluster.wait_converged(timeout=30)
    settled = cluster.wait_leader(timeout=15)
    info = cluster.cluster_info(leader)
    assert info["state_digest"] == digest
    assert info["raft_info"]["role"] == "Follower" and settled is not leader
    assert cluster.get(leader, "/collections/after_failover/exists")["exists"] is True
    cluster.wait_all_active("after_failover")
    cluster.wait_all_active(COLLECTION)
    with connect(leader) as client:
        assert "n" in client.get_collection("after_failover").payload_schema
        assert client.count("after_failover", exact=True).count == 20
    assert read_everything(cluster, leader) == expected
    assert_replicas_identical(cluster)
    assert_replicas_identical(cluster, "after_failover")


def test_whole_cluster_restart(cluster: Cluster):
    digest = cluster.wait_converged()
    cluster.wait_all_active(COLLECTION)
    cluster.kill_all()
    cluster.start_all_at_once()
    assert cluster.wait_converged(timeout=60) == digest
    cluster.wait_leader()
    for node in cluster.nodes:
        names = sorted(c["name"] for c in cluster.get(node, "/collections")["collections"])
        assert names == sorted([COLLECTION, "after_failover"])
        info = cluster.get(node, f"/collections/{COLLECTION}")
        assert info["config"]["params"]["shard_number"] == SHARDS
        assert info["config"]["params"]["write_consistency_factor"] == 2
        assert "tag" in info["payload_schema"]
    expected = expected_view()
    for node in cluster.nodes:
        assert read_everything(cluster, node) == expected
    assert_replicas_identical(cluster)
    assert_replicas_identical(cluster, "after_failover")
    # And the cluster still takes writes in every ordering.
    start = next_id()
    for node, ordering in zip(cluster.nodes, ORDERINGS):
        write(cluster, node, new_points(start, 10, f"after-restart-{ordering}"), ordering)
        start += 10
    assert_replicas_identical(cluster)
