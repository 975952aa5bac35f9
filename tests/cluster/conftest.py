"""A reusable multi-node cluster on loopback for the cluster tests.

``Cluster`` starts N node processes (the first one alone, the others through
``--bootstrap``), waits until every node lists every peer with the same
metadata digest, kills (``kill -9``) and restarts nodes on the same storage and
ports, finds the Raft leader, and reads each shard replica directly over the
internal p2p API. Every wait polls against a deadline; nothing sleeps blindly.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any, Callable, Iterable, TypeVar

import pytest
import requests

from tests.node_process import NodeProcess

T = TypeVar("T")

CLUSTER_ENV = {"QDRANT__CLUSTER__ENABLED": "true"}


def wait_until(
    condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05, debug: Callable[[], str] | None = None
) -> T:
    """Poll ``condition`` until it returns something truthy; exceptions count as "not yet"."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = condition()
            if value:
                return value
            last = value
        except Exception as exc:  # noqa: BLE001 - polled conditions may fail while nodes move
            last = exc
        if time.monotonic() >= deadline:
            extra = f"\n{debug()}" if debug is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}{extra}")
        time.sleep(interval)


class Cluster:
    """N node processes forming one cluster; node objects keep their ports and storage."""

    def __init__(self, base_dir: str, size: int) -> None:
        self.base_dir = base_dir
        self.nodes: list[NodeProcess] = []
        for index in range(size):
            node = NodeProcess(storage=os.path.join(base_dir, f"n{index}", "storage"), env_extra=dict(CLUSTER_ENV))
            self.nodes.append(node)
        first = self.nodes[0]
        for node in self.nodes:
            node.args = ["--uri", self.p2p_uri(node)]
            if node is not first:
                node.args += ["--bootstrap", self.p2p_uri(first)]
        self._peer_ids: dict[int, int] = {}  # http port -> peer id
        self.session = requests.Session()

    # ------------------------------------------------------------------ addresses

    @staticmethod
    def p2p_uri(node: NodeProcess) -> str:
        return f"http://127.0.0.1:{node.p2p_port}"

    def peer_id(self, node: NodeProcess) -> int:
        if node.http_port not in self._peer_ids:
            self._peer_ids[node.http_port] = int(self.get(node, "/cluster")["peer_id"])
        return self._peer_ids[node.http_port]

    def node_of(self, peer_id: int) -> NodeProcess:
        for node in self.nodes:
            if self.peer_id(node) == peer_id:
                return node
        raise KeyError(peer_id)

    def alive(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 60.0) -> "Cluster":
        self.nodes[0].start(timeout)
        for node in self.nodes[1:]:
            node.start(timeout)
        for node in self.nodes:
            self.peer_id(node)
        self.wait_converged()
        return self

    def kill(self, node: NodeProcess) -> None:
        node.kill()

    def restart(self, node: NodeProcess, timeout: float = 60.0) -> None:
        """Start a killed or stopped node again with the same storage and ports."""
        node.kill()
        node.start(timeout)

    def stop_all(self) -> None:
        for node in self.nodes:
            node.stop()

    def kill_all(self) -> None:
        for node in self.nodes:
            node.kill()

    def start_all_at_once(self, timeout: float = 90.0) -> None:
        """Start every node concurrently: none can be ready before a Raft quorum is up."""
        errors: list[BaseException] = []

        def run(node: NodeProcess) -> None:
            try:
                node.start(timeout)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(node,)) for node in self.nodes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def close(self) -> None:
        for node in self.nodes:
            node.kill()
        self.session.close()

    # ------------------------------------------------------------------ HTTP

    def request(self, node: NodeProcess, method: str, path: str, timeout: float = 30.0, **kwargs: Any) -> requests.Response:
        return self.session.request(method, node.url + path, timeout=timeout, **kwargs)

    def get(self, node: NodeProcess, path: str, timeout: float = 10.0) -> Any:
        response = self.request(node, "GET", path, timeout=timeout)
        response.raise_for_status()
        return response.json()["result"]

    def cluster_info(self, node: NodeProcess) -> dict:
        return self.get(node, "/cluster", timeout=5.0)

    def collection_cluster(self, node: NodeProcess, collection: str) -> dict:
        return self.get(node, f"/collections/{collection}/cluster", timeout=5.0)

    # ------------------------------------------------------------------ cluster state

    def leader(self, nodes: Iterable[NodeProcess] | None = None) -> NodeProcess | None:
        """The node that reports itself as Raft leader (and that the others follow), if any."""
        nodes = list(nodes) if nodes is not None else self.alive()
        infos = {}
        for node in nodes:
            try:
                infos[node.http_port] = self.cluster_info(node)["raft_info"]
            except (requests.RequestException, ValueError, KeyError):
                return None
        leaders = [n for n in nodes if infos[n.http_port]["role"] == "Leader"]
        if len(leaders) != 1:
            return None
        leader_id = self.peer_id(leaders[0])
        if any(info["leader"] != leader_id for info in infos.values()):
            return None
        return leaders[0]

    def wait_leader(self, nodes: Iterable[NodeProcess] | None = None, timeout: float = 30.0) -> NodeProcess:
        nodes = list(nodes) if nodes is not None else None
        return wait_until(lambda: self.leader(nodes), timeout, "a Raft leader all nodes agree on", debug=self.describe)

    def converged(self, nodes: Iterable[NodeProcess] | None = None) -> str | None:
        """The common state digest when every node lists every peer and agrees on it, else None."""
        nodes = list(nodes) if nodes is not None else self.alive()
        expected = {str(self.peer_id(n)) for n in self.nodes}
        digests = set()
        for node in nodes:
            info = self.cluster_info(node)
            if set(info["peers"]) != expected or info["raft_info"]["leader"] is None:
                return None
            digests.add(info["state_digest"])
        return digests.pop() if len(digests) == 1 else None

    def wait_converged(self, nodes: Iterable[NodeProcess] | None = None, timeout: float = 30.0) -> str:
        nodes = list(nodes) if nodes is not None else None
        return wait_until(lambda: self.converged(nodes), timeout, "every node to list every peer with one digest",
                          debug=self.describe)

    def replica_states(self, collection: str, node: NodeProcess | None = None) -> dict[int, dict[int, str]]:
        """shard id -> peer id -> state, as ``node`` sees it."""
        node = node or self.alive()[0]
        info = self.collection_cluster(node, collection)
        me = int(info["peer_id"])
        states: dict[int, dict[int, str]] = {}
        for entry in info["local_shards"]:
            states.setdefault(entry["shard_id"], {})[me] = entry["state"]
        for entry in info["remote_shards"]:
            states.setdefault(entry["shard_id"], {})[int(entry["peer_id"])] = entry["state"]
        return states

    def wait_all_active(self, collection: str, timeout: float = 60.0) -> dict[int, dict[int, str]]:
        """Every replica Active and no transfer running, on every alive node."""

        def check() -> dict | None:
            seen = None
            for node in self.alive():
                info = self.collection_cluster(node, collection)
                if info["shard_transfers"]:
                    return None
                states = self.replica_states(collection, node)
                if any(s != "Active" for replicas in states.values() for s in replicas.values()):
                    return None
                if seen is not None and states != seen:
                    return None
                seen = states
            return seen

        return wait_until(check, timeout, f"every replica of {collection} Active", debug=self.describe)

    def describe(self) -> str:
        lines = []
        for node in self.nodes:
            status = "alive" if node in self.alive() else "down"
            lines.append(f"--- node {node.http_port} ({status}) log tail:\n{node.log_tail(25)}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ direct replica reads

    def read_replica(self, peer_id: int, collection: str, shard_id: int) -> dict:
        """Every point of one replica, read straight from its peer over p2p: id -> (vectors, payload)."""
        from shards.operations import ScrollRequest
        from shards.types import PayloadSelector, VectorSelector
        from transport.p2p.client import PeerClient

        uri = self.p2p_uri(self.node_of(peer_id))

        async def scroll_all() -> dict:
            client = PeerClient(timeout=10.0)
            out: dict = {}
            offset = None
            try:
                while True:
                    request = ScrollRequest(
                        limit=1001, offset=offset, with_payload=PayloadSelector(), with_vector=VectorSelector(enabled=True)
                    )
                    records = await client.scroll(uri, collection, shard_id, request)
                    for record in records[:1000]:
                        out[record.id] = (_plain(record.vectors), record.payload)
                    if len(records) <= 1000:
                        return out
                    offset = records[1000].id
            finally:
                await client.close()

        return asyncio.run(scroll_all())


def _plain(vectors: Any) -> Any:
    if vectors is None:
        return None
    return {name: [round(float(x), 5) for x in value] if isinstance(value, (list, tuple)) or hasattr(value, "tolist")
            else value for name, value in vectors.items()}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    cluster = Cluster(str(tmp_path_factory.mktemp("cluster")), 3)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
