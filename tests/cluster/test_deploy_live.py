"""The compose topology, started for real with ``deploy.local_cluster``.

Plans three nodes from ``deploy/docker-compose.yml`` on free loopback ports in a
temporary directory, starts them as the launcher does, checks that they form
one Raft group (three peers, one leader everyone agrees on), writes and reads a
replicated collection through different nodes, and stops the cluster with
SIGTERM: every node must exit cleanly.
"""

from __future__ import annotations

import time

import pytest
import requests

from deploy.local_cluster import (
    free_first_http_port,
    load_compose,
    plan_nodes,
    start_cluster,
    stop_cluster,
)

NODES = 3




def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except requests.RequestException as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached after {timeout}s; last: {last!r}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = tmp_path_factory.mktemp("deploy-live")
    plans = plan_nodes(load_compose(), NODES, str(base), free_first_http_port(NODES))
    processes = start_cluster(plans, timeout=30)
    try:
        yield plans, processes
    finally:
        stop_cluster(processes)


def test_compose_cluster_forms_replicates_and_stops(cluster) -> None:
    plans, processes = cluster
    session = requests.Session()

    def agreed():
        statuses = [session.get(plan.url + "/cluster", timeout=2).json()["result"] for plan in plans]
        leaders = {status["raft_info"]["leader"] for status in statuses}
        if all(len(status["peers"]) == NODES for status in statuses) and len(leaders) == 1 and None not in leaders:
            return statuses
        return None

    statuses = wait_for(agreed, 20, "three peers and one leader on every node")
    assert all(status["status"] == "enabled" for status in statuses)
    peer_ids = {status["peer_id"] for status in statuses}
    assert peer_ids == {int(peer) for peer in statuses[0]["peers"]}
    assert statuses[0]["raft_info"]["leader"] in peer_ids
    # Each node announces the p2p URI the launcher derived from the compose file.
    uris = {peer["uri"] for peer in statuses[0]["peers"].values()}
    assert uris == {f"http://127.0.0.1:{plan.p2p_port}" for plan in plans}

    # A replicated collection created on the last node ...
    created = session.put(
        plans[2].url + "/collections/live",
        json={"vectors": {"size": 4, "distance": "Dot"}, "shard_number": 3, "replication_factor": 2},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    for plan in plans:
        wait_for(
            lambda: session.get(plan.url + "/collections/live", timeout=2).status_code == 200,
            10,
            f"collection visible on {plan.name}",
        )
    placement = session.get(plans[0].url + "/collections/live/cluster", timeout=5).json()["result"]
    replicas: dict[int, int] = {}
    for shard in placement["local_shards"] + placement["remote_shards"]:
        replicas[shard["shard_id"]] = replicas.get(shard["shard_id"], 0) + 1
    assert replicas == {0: 2, 1: 2, 2: 2}

    # ... written through every node ...
    for index, plan in enumerate(plans):
        points = [
            {"id": index * 100 + j, "vector": [1.0, float(index), float(j), 1.0], "payload": {"writer": plan.name}}
            for j in range(30)
        ]
        written = session.put(plan.url + "/collections/live/points?wait=true", json={"points": points}, timeout=30)
        assert written.status_code == 200, written.text
        assert written.json()["result"]["status"] == "completed"

    # ... and read back through every node.
    all_ids = sorted(index * 100 + j for index in range(NODES) for j in range(30))
    for plan in plans:
        count = session.post(plan.url + "/collections/live/points/count", json={"exact": True}, timeout=10)
        assert count.json()["result"]["count"] == len(all_ids), (plan.name, count.text)
        got = session.post(
            plan.url + "/collections/live/points",
            json={"ids": [0, 101, 229], "with_payload": True},
            timeout=10,
        ).json()["result"]
        assert {(p["id"], p["payload"]["writer"]) for p in got} == {
            (0, "qdrant_node_1"),
            (101, "qdrant_node_2"),
            (229, "qdrant_node_3"),
        }
        hits = session.post(
            plan.url + "/collections/live/points/query", json={"query": [0.0, 0.0, 1.0, 0.0], "limit": 3}, timeout=10
        ).json()["result"]["points"]
        assert [hit["id"] for hit in hits][0] in (29, 129, 229)

    # A clean stop: SIGTERM, and every node exits by itself with status 0.
    stop_cluster(processes, timeout=20)
    assert [process.returncode for process in processes] == [0] * NODES, [
        (plan.name, plan.log_path) for plan in plans
    ]
