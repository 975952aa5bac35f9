"""The cluster admin API on live nodes: /cluster, collection placement, custom
sharding, peer removal, cluster metrics and readiness."""

from __future__ import annotations

import os

import pytest
from qdrant_client import QdrantClient, models

from tests.cluster.admin_support import Cluster, wait_until
from tests.node_process import NodeProcess

DIM = 4


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(str(tmp_path_factory.mktemp("admin"))).start(3)
    yield cluster
    cluster.stop()


def client_for(node) -> QdrantClient:
    return QdrantClient(url=node.url, timeout=60, check_compatibility=False)


def create(cluster: Cluster, name: str, **params) -> None:
    body = {"vectors": {"size": DIM, "distance": "Dot"}, **params}
    response = cluster.request(cluster.nodes[0], "PUT", f"/collections/{name}", json=body)
    assert response.status_code == 200, response.text
    wait_until(
        lambda: cluster.converged(name, lambda p: all(set(r.values()) == {"Active"} for r in p.values())),
        30,
        f"every replica of {name} Active on every node",
    )


def points(ids, **payload) -> list[dict]:
    return [{"id": i, "vector": [1.0, 0.5, 0.25, float(i % 7)], "payload": {"n": i, **payload}} for i in ids]


def leader(cluster: Cluster) -> int:
    return cluster.get(cluster.alive()[0], "/cluster")["raft_info"]["leader"]


def error_of(response) -> str:
    return response.json()["status"]["error"]


# ---------------------------------------------------------------------------- /cluster


def test_cluster_status_fields(cluster):
    ids = {cluster.peer_id(n) for n in cluster.nodes}
    assert len(ids) == 3
    roles = []
    for node in cluster.nodes:
        status = cluster.get(node, "/cluster")
        assert status["status"] == "enabled"
        assert status["peer_id"] == cluster.peer_id(node)
        assert {int(peer) for peer in status["peers"]} == ids
        for peer, info in status["peers"].items():
            assert info["uri"] == f"http://127.0.0.1:{cluster.node_of(int(peer)).p2p_port}" or info["uri"].startswith(
                f"http://127.0.0.1:{cluster.node_of(int(peer)).p2p_port}"
            )
        raft = status["raft_info"]
        assert raft["term"] >= 1
        assert raft["commit"] >= 3  # at least the three peers were added
        assert raft["pending_operations"] == 0
        assert raft["leader"] in ids
        assert raft["is_voter"] is True
        assert raft["role"] in ("Leader", "Follower")
        roles.append((raft["role"], raft["leader"], status["peer_id"]))
    # Everyone agrees on the leader, and exactly the leader says it leads.
    assert len({leader_id for _, leader_id, _ in roles}) == 1
    assert [peer for role, _, peer in roles if role == "Leader"] == [roles[0][1]]
    # The client's view of the same endpoint.
    info = client_for(cluster.nodes[1]).cluster_status()
    assert info.status == "enabled" and info.peer_id == cluster.peer_id(cluster.nodes[1])


def test_collection_cluster_info(cluster):
    create(cluster, "info", shard_number=3, replication_factor=2)
    response = cluster.request(cluster.nodes[0], "PUT", "/collections/info/points?wait=true", json={"points": points(range(60))})
    assert response.status_code == 200, response.text
    placement = None
    for node in cluster.nodes:
        info = cluster.get(node, "/collections/info/cluster")
        assert info["peer_id"] == cluster.peer_id(node)
        assert info["shard_count"] == 3
        assert info["shard_transfers"] == []
        for shard in info["local_shards"]:
            assert set(shard) >= {"shard_id", "points_count", "state"}
            assert shard["state"] == "Active"
        for shard in info["remote_shards"]:
            assert set(shard) >= {"shard_id", "peer_id", "state"} and shard["peer_id"] != info["peer_id"]
        view = cluster.replicas(node, "info")
        assert placement is None or view == placement
        placement = view
        # Six replicas over three peers, two per shard, never twice on one peer.
        assert len(info["local_shards"]) + len(info["remote_shards"]) == 6
    assert all(len(replicas) == 2 for replicas in placement.values())
    # points_count is each local replica's own count: replicas of a shard agree, shards add up.
    counts: dict[int, set[int]] = {}
    for node in cluster.nodes:
        for shard in cluster.get(node, "/collections/info/cluster")["local_shards"]:
            counts.setdefault(shard["shard_id"], set()).add(shard["points_count"])
    assert all(len(values) == 1 for values in counts.values()), counts
    assert sum(next(iter(values)) for values in counts.values()) == 60
    # qdrant-client parses it.
    parsed = client_for(cluster.nodes[2]).collection_cluster_info("info")
    assert parsed.shard_count == 3 and parsed.peer_id == cluster.peer_id(cluster.nodes[2])
    missing = cluster.request(cluster.nodes[0], "GET", "/collections/nope/cluster")
    assert missing.status_code == 404


def test_alias_made_on_one_node_works_on_every_node(cluster):
    create(cluster, "aliased", shard_number=2, replication_factor=2)
    response = cluster.request(
        cluster.nodes[0], "PUT", "/collections/aliased/points?wait=true", json={"points": points(range(10))}
    )
    assert response.status_code == 200, response.text
    body = {"actions": [{"create_alias": {"collection_name": "aliased", "alias_name": "aliased_live"}}]}
    assert cluster.request(cluster.nodes[1], "POST", "/collections/aliases", json=body).status_code == 200
    for node in cluster.nodes:
        wait_until(
            lambda node=node: cluster.request(node, "POST", "/collections/aliased_live/points/count", json={}).json()
            .get("result", {}).get("count") == 10,
            20,
            "the alias on every node",
        )
        listed = cluster.get(node, "/aliases")["aliases"]
        assert {"alias_name": "aliased_live", "collection_name": "aliased"} in listed


def test_standalone_node_has_no_cluster(tmp_path):
    node = NodeProcess(storage=str(tmp_path / "storage")).start()
    try:
        solo = Cluster(str(tmp_path))
        assert solo.get(node, "/cluster") == {"status": "disabled"}
        response = solo.request(node, "DELETE", "/cluster/peer/1")
        assert response.status_code == 405, response.text
        assert "error" in response.json()["status"]
        response = solo.request(node, "PUT", "/collections/solo", json={"vectors": {"size": DIM, "distance": "Dot"}})
        assert response.status_code == 200
        info = solo.get(node, "/collections/solo/cluster")
        assert info["shard_count"] == 1 and info["remote_shards"] == [] and info["shard_transfers"] == []
        assert [(s["shard_id"], s["state"]) for s in info["local_shards"]] == [(0, "Active")]
        metrics = solo.metrics(node)
        assert metrics["cluster_enabled"] == 0
        assert "cluster_peers_total" not in metrics and "cluster_term" not in metrics
        assert metrics["collection_active_replicas_min"] == 1 and metrics["collection_active_replicas_max"] == 1
        assert metrics["collection_dead_replicas"] == 0
        assert metrics['collection_shard_transfer_incoming{id="solo"}'] == 0
        solo.session.close()
    finally:
        node.stop()


# ---------------------------------------------------------------------------- custom sharding


def test_custom_sharding(cluster):
    name = "custom"
    create(cluster, name, sharding_method="custom", shard_number=1)
    first, second, third = cluster.nodes
    client = client_for(second)
    assert cluster.get(first, f"/collections/{name}/shards") == {"shard_keys": []}
    assert cluster.get(first, f"/collections/{name}/cluster")["shard_count"] == 0

    # Three keys, created three ways.
    assert client.create_shard_key(name, "a", shards_number=2, replication_factor=2)
    only = cluster.peer_id(third)
    response = cluster.request(first, "PUT", f"/collections/{name}/shards", json={"shard_key": "b", "placement": [only]})
    assert response.status_code == 200 and response.json()["result"] is True, response.text
    assert client.cluster_collection_update(
        name, models.CreateShardingKeyOperation(create_sharding_key=models.CreateShardingKey(shard_key=7))
    )
    for node in cluster.nodes:
        wait_until(
            lambda n=node: sorted(map(str, (k["key"] for k in cluster.get(n, f"/collections/{name}/shards")["shard_keys"])))
            == ["7", "a", "b"],
            30,
            "three shard keys listed",
        )
    keys = client.list_shard_keys(name).shard_keys
    assert sorted(str(k.key) for k in keys) == ["7", "a", "b"]
    wait_until(
        lambda: cluster.converged(name, lambda p: len(p) == 4 and all(set(r.values()) == {"Active"} for r in p.values())),
        30,
        "four shards, all Active",
    )
    info = cluster.get(first, f"/collections/{name}/cluster")
    key_of: dict[int, object] = {}
    for shard in info["local_shards"] + info["remote_shards"]:
        key_of[shard["shard_id"]] = shard["shard_key"]
    placement = cluster.replicas(first, name)
    by_key: dict[object, list[int]] = {}
    for shard_id, key in key_of.items():
        by_key.setdefault(key, []).append(shard_id)
    assert sorted(len(v) for v in by_key.values()) == [1, 1, 2]
    assert all(len(placement[s]) == 2 for s in by_key["a"])
    assert placement[by_key["b"][0]] == {only: "Active"}
    assert len(placement[by_key[7][0]]) == 1

    # Errors: a second key of the same name, a shard key on an auto-sharded collection,
    # an unknown peer in the placement.
    response = cluster.request(first, "PUT", f"/collections/{name}/shards", json={"shard_key": "a"})
    assert response.status_code == 400 and "already exists" in error_of(response)
    create(cluster, "auto_sharded", shard_number=1)
    response = cluster.request(first, "PUT", "/collections/auto_sharded/shards", json={"shard_key": "a"})
    assert response.status_code == 400 and "Auto sharding" in error_of(response), response.text
    assert cluster.get(first, "/collections/auto_sharded/shards")["shard_keys"] is None
    response = cluster.request(first, "PUT", f"/collections/{name}/shards", json={"shard_key": "c", "placement": [12345]})
    assert response.status_code == 400, response.text

    # Writes without a key are refused as Qdrant does; with an unknown key too.
    response = cluster.request(first, "PUT", f"/collections/{name}/points?wait=true", json={"points": points([1])})
    assert response.status_code == 400, response.text
    assert "Shard key not specified" in error_of(response)
    response = cluster.request(
        first, "PUT", f"/collections/{name}/points?wait=true", json={"points": points([1]), "shard_key": "zzz"}
    )
    assert response.status_code == 400 and "zzz" in error_of(response), response.text

    # Writes with a key land only on that key's shards.
    wrote = {"a": range(0, 100), "b": range(100, 150), 7: range(150, 160)}
    for key, ids in wrote.items():
        client.upsert(
            name,
            points=[models.PointStruct(id=i, vector=[1.0, 0.5, 0.25, float(i % 7)], payload={"key": str(key)}) for i in ids],
            shard_key_selector=key,
            wait=True,
        )
    for key, ids in wrote.items():
        stored: set = set()
        for shard_id in by_key[key]:
            for peer in placement[shard_id]:
                stored |= set(cluster.replica_contents(cluster.node_of(peer), name, shard_id))
        assert stored == set(ids), key
    b_shard = by_key["b"][0]
    assert set(cluster.replica_contents(third, name, b_shard)) == set(range(100, 150))

    # Reads with a key see only its points; without a key, all of them.
    for node in cluster.nodes:
        reader = client_for(node)
        assert reader.count(name, shard_key_selector="a").count == 100
        assert reader.count(name, shard_key_selector="b").count == 50
        assert reader.count(name, shard_key_selector=["b", 7]).count == 60
        assert reader.count(name).count == 160
        page, _ = reader.scroll(name, shard_key_selector="b", limit=200)
        assert {p.id for p in page} == set(range(100, 150))
        hits = reader.query_points(name, query=[1.0, 0.5, 0.25, 3.0], shard_key_selector=7, limit=50).points
        assert {h.id for h in hits} == set(range(150, 160))
        hits = reader.query_points(name, query=[1.0, 0.5, 0.25, 3.0], limit=200).points
        assert len(hits) == 160
    response = cluster.request(first, "POST", f"/collections/{name}/points/count", json={"shard_key": "zzz"})
    assert response.status_code == 400, response.text
    response = cluster.request(first, "POST", "/collections/auto_sharded/points/count", json={"shard_key": "a"})
    assert response.status_code == 400, response.text

    # Dropping a key removes its shards (on every peer) and its points.
    a_shards = set(by_key["a"])
    assert client.delete_shard_key(name, "a")
    assert client.cluster_collection_update(
        name, models.DropShardingKeyOperation(drop_sharding_key=models.DropShardingKey(shard_key=7))
    )
    wait_until(lambda: cluster.converged(name, lambda p: set(p) == {b_shard}), 30, "only key b's shard left")
    for node in cluster.nodes:
        assert [k["key"] for k in cluster.get(node, f"/collections/{name}/shards")["shard_keys"]] == ["b"]
        local = {s["shard_id"] for s in cluster.get(node, f"/collections/{name}/cluster")["local_shards"]}
        assert not local & a_shards
        assert client_for(node).count(name).count == 50
    response = cluster.request(first, "POST", f"/collections/{name}/shards/delete", json={"shard_key": "a"})
    assert response.status_code == 400 and "does not exist" in error_of(response), response.text
    response = cluster.request(
        first, "PUT", f"/collections/{name}/points?wait=true", json={"points": points([1]), "shard_key": "a"}
    )
    assert response.status_code == 400, response.text
    # The shard directories are gone from disk on the peers that held them.
    for node in cluster.nodes:
        shard_dirs = os.path.join(node.storage, "collections", name)
        present = set(os.listdir(shard_dirs)) if os.path.isdir(shard_dirs) else set()
        assert not present & {str(s) for s in a_shards}, (node.http_port, present)


# ---------------------------------------------------------------------------- metrics


def expected_replica_figures(cluster: Cluster, node) -> tuple[int, int, int]:
    """(min active, max active, shards with a non-active replica) over every collection."""
    active, dead = [], 0
    for collection in cluster.get(node, "/collections")["collections"]:
        for replicas in cluster.replicas(node, collection["name"]).values():
            active.append(sum(1 for state in replicas.values() if state == "Active"))
            dead += any(state != "Active" for state in replicas.values())
    return min(active, default=0), max(active, default=0), dead


def test_cluster_metrics(cluster):
    create(cluster, "metered", shard_number=2, replication_factor=2)
    for node in cluster.nodes:
        wait_until(lambda n=node: cluster.metrics(n)["cluster_pending_operations_total"] == 0, 10, "no pending ops")
        metrics = cluster.metrics(node)
        status = cluster.get(node, "/cluster")
        me = cluster.peer_id(node)
        assert metrics["cluster_enabled"] == 1
        assert metrics["cluster_peers_total"] == 3
        assert metrics["cluster_term"] == status["raft_info"]["term"] >= 1
        assert metrics[f'cluster_commit{{peer_id="{me}"}}'] >= 3
        assert metrics["cluster_voter"] == 1
        low, high, dead = expected_replica_figures(cluster, node)
        assert metrics["collection_active_replicas_min"] == low
        assert metrics["collection_active_replicas_max"] == high
        assert metrics["collection_dead_replicas"] == dead == 0
        assert metrics['collection_shard_transfer_incoming{id="metered"}'] == 0
        assert metrics['collection_shard_transfer_outgoing{id="metered"}'] == 0
    text = cluster.request(cluster.nodes[0], "GET", "/metrics").text
    for name in ("cluster_enabled", "cluster_peers_total", "cluster_pending_operations_total", "cluster_voter",
                 "collection_active_replicas_min", "collection_active_replicas_max", "collection_dead_replicas",
                 "collection_shard_transfer_incoming", "collection_shard_transfer_outgoing"):
        assert f"# TYPE {name} gauge" in text, name
    # The commit index grows with every metadata change.
    before = cluster.metrics(cluster.nodes[0])[f'cluster_commit{{peer_id="{cluster.peer_id(cluster.nodes[0])}"}}']
    create(cluster, "metered_more", shard_number=1, replication_factor=1)
    after = cluster.metrics(cluster.nodes[0])[f'cluster_commit{{peer_id="{cluster.peer_id(cluster.nodes[0])}"}}']
    assert after > before

    # A transfer stuck on a paused peer shows as outgoing on its source, incoming on its
    # target, and as a shard with a non-active replica everywhere.
    lead = leader(cluster)
    placement = cluster.replicas(cluster.nodes[0], "metered")
    for paused_role in ("target", "source"):
        shard_id, source, target = next(
            (shard_id, source, target)
            for shard_id, replicas in sorted(placement.items())
            for source in sorted(replicas)
            for target in [cluster.peer_id(n) for n in cluster.nodes]
            if target not in replicas and (target if paused_role == "target" else source) != lead
        )
        paused = cluster.node_of(target if paused_role == "target" else source)
        watching = cluster.node_of(source if paused_role == "target" else target)
        bystander = next(n for n in cluster.nodes if cluster.peer_id(n) not in (source, target))
        cluster.pause(paused)
        try:
            operation = {"shard_id": shard_id, "from_peer_id": source, "to_peer_id": target}
            response = cluster.request(bystander, "POST", "/collections/metered/cluster", json={"move_shard": operation})
            assert response.status_code == 200, response.text
            series = "outgoing" if paused_role == "target" else "incoming"
            wait_until(
                lambda: cluster.metrics(watching)[f'collection_shard_transfer_{series}{{id="metered"}}'] == 1,
                20,
                f"{series} transfer in the metrics",
            )
            for node in (watching, bystander):
                metrics = cluster.metrics(node)
                other = "incoming" if series == "outgoing" else "outgoing"
                if node is watching:
                    assert metrics[f'collection_shard_transfer_{other}{{id="metered"}}'] == 0
                else:
                    assert metrics['collection_shard_transfer_incoming{id="metered"}'] == 0
                    assert metrics['collection_shard_transfer_outgoing{id="metered"}'] == 0
                wait_until(lambda n=node: cluster.metrics(n)["collection_dead_replicas"] == 1, 10, "one unhealthy shard")
                assert cluster.metrics(node)["collection_active_replicas_min"] == expected_replica_figures(cluster, node)[0]
            response = cluster.request(bystander, "POST", "/collections/metered/cluster", json={"abort_transfer": operation})
            assert response.status_code == 200, response.text
        finally:
            cluster.resume(paused)
        wait_until(lambda: cluster.converged("metered", lambda p: p == placement), 30, "transfer aborted everywhere")
        for node in cluster.nodes:
            wait_until(
                lambda n=node: cluster.metrics(n)[f'collection_shard_transfer_{series}{{id="metered"}}'] == 0
                and cluster.metrics(n)["collection_dead_replicas"] == 0,
                20,
                "transfer gone from the metrics",
            )


# ---------------------------------------------------------------------------- readiness


def start_without_waiting(node: NodeProcess) -> None:
    node.wait_ready = lambda timeout: None  # type: ignore[method-assign]
    try:
        node.start()
    finally:
        del node.wait_ready


def test_readyz_waits_for_local_replicas(cluster):
    """A restarted peer whose replica is Dead answers /readyz 503 until recovery made it Active."""
    lead = leader(cluster)
    followers = [n for n in cluster.nodes if cluster.peer_id(n) != lead]
    source, restarted = followers
    name = "readiness"
    create(cluster, name, shard_number=1, replication_factor=1)
    (holder,) = cluster.replicas(cluster.nodes[0], name)[0]
    client = client_for(cluster.node_of(lead))
    if holder != cluster.peer_id(source):
        client.cluster_collection_update(
            name,
            models.MoveShardOperation(
                move_shard=models.MoveShard(shard_id=0, from_peer_id=holder, to_peer_id=cluster.peer_id(source))
            ),
        )
        wait_until(lambda: cluster.converged(name, lambda p: p[0] == {cluster.peer_id(source): "Active"}), 30, "moved")
    client.cluster_collection_update(
        name,
        models.ReplicateShardOperation(
            replicate_shard=models.ReplicateShard(
                shard_id=0, from_peer_id=cluster.peer_id(source), to_peer_id=cluster.peer_id(restarted)
            )
        ),
    )
    both = {cluster.peer_id(source): "Active", cluster.peer_id(restarted): "Active"}
    wait_until(lambda: cluster.converged(name, lambda p: p[0] == both), 30, "replicated")

    restarted.kill()
    # A write while it is down marks its replica Dead.
    client.upsert(name, points=[models.PointStruct(id=i, vector=[1, 1, 1, 1]) for i in range(20)], wait=True)
    wait_until(
        lambda: cluster.replicas(cluster.node_of(lead), name)[0][cluster.peer_id(restarted)] == "Dead", 20, "Dead"
    )
    # With the only source paused, the restarted peer cannot recover yet.
    cluster.pause(source)
    try:
        start_without_waiting(restarted)
        wait_until(lambda: cluster.get(restarted, "/cluster")["peer_id"], 60, "the restarted peer's API up")
        wait_until(
            lambda: cluster.replicas(restarted, name)[0][cluster.peer_id(restarted)] in ("Partial", "Dead"), 20, "caught up"
        )
        for _ in range(5):
            response = cluster.request(restarted, "GET", "/readyz")
            assert response.status_code == 503, response.text
        assert cluster.request(restarted, "GET", "/healthz").status_code == 200
    finally:
        cluster.resume(source)
    wait_until(lambda: cluster.request(restarted, "GET", "/readyz").status_code == 200, 60, "ready after recovery")
    assert cluster.replicas(restarted, name)[0][cluster.peer_id(restarted)] == "Active"
    assert len(cluster.replica_contents(restarted, name, 0)) == 20
    for node in cluster.nodes:
        assert cluster.request(node, "GET", "/readyz").status_code == 200


# ---------------------------------------------------------------------------- peer removal


def test_remove_peer(cluster):
    name = "removal"
    create(cluster, name, shard_number=1, replication_factor=1)
    (holder,) = cluster.replicas(cluster.nodes[0], name)[0]
    client_for(cluster.nodes[0]).upsert(
        name, points=[models.PointStruct(id=i, vector=[1, 2, 3, 4]) for i in range(30)], wait=True
    )
    for force in (False, True):
        extra = cluster.add_node()
        extra_id = cluster.peer_id(extra)
        operation = {"shard_id": 0, "from_peer_id": holder, "to_peer_id": extra_id}
        response = cluster.request(cluster.nodes[0], "POST", f"/collections/{name}/cluster", json={"replicate_shard": operation})
        assert response.status_code == 200, response.text
        wait_until(lambda: cluster.converged(name, lambda p: p[0].get(extra_id) == "Active"), 30, "replica on the new peer")

        # A peer that holds a replica cannot be removed ...
        response = cluster.request(cluster.nodes[1], "DELETE", f"/cluster/peer/{extra_id}")
        assert response.status_code == 400, response.text
        assert error_of(response) == f"Bad request: Cannot remove peer {extra_id} as there are shards on it"
        assert str(extra_id) in cluster.get(cluster.nodes[0], "/cluster")["peers"]
        if not force:
            # ... until its replicas are gone ...
            response = cluster.request(
                cluster.nodes[0], "POST", f"/collections/{name}/cluster", json={"drop_replica": {"shard_id": 0, "peer_id": extra_id}}
            )
            assert response.status_code == 200, response.text
            wait_until(lambda: cluster.converged(name, lambda p: extra_id not in p[0]), 30, "replica dropped")
            response = cluster.request(cluster.nodes[1], "DELETE", f"/cluster/peer/{extra_id}")
        else:
            # ... or with force, which drops its replicas with it.
            extra.kill()
            response = cluster.request(cluster.nodes[1], "DELETE", f"/cluster/peer/{extra_id}?force=true")
        assert response.status_code == 200, response.text
        assert response.json()["result"] is True
        extra.kill()
        for node in cluster.alive():
            wait_until(
                lambda n=node: str(extra_id) not in cluster.get(n, "/cluster")["peers"]
                and extra_id not in cluster.replicas(n, name)[0],
                30,
                "peer gone from every node",
            )
            assert cluster.get(node, "/cluster")["peers"].keys() == {str(cluster.peer_id(n)) for n in cluster.nodes[:3]}
            assert client_for(node).count(name).count == 30
            assert cluster.metrics(node)["cluster_peers_total"] == 3
    response = cluster.request(cluster.nodes[0], "DELETE", "/cluster/peer/12345")
    assert response.status_code == 404, response.text
    # The remaining three still agree on metadata changes.
    create(cluster, "after_removal", shard_number=3, replication_factor=1)
