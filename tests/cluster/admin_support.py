"""A small cluster of real node processes for the admin and transfer tests."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any, Callable

import requests

from shards.operations import ScrollRequest
from shards.types import PayloadSelector, VectorSelector
from tests import polling
from tests.node_process import NodeProcess
from transport.p2p.client import PeerClient

CLUSTER_ENV = {"QDRANT__CLUSTER__ENABLED": "true"}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` at the deadline."""
    return polling.wait_for(
        predicate, timeout, interval, what, tolerate=(requests.RequestException, AssertionError, KeyError)
    )


class Cluster:
    """Nodes started in ``root``: the first bootstraps, the others join it."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.nodes: list[NodeProcess] = []
        self.session = requests.Session()
        self._peer_ids: dict[int, int] = {}

    # ---------------------------------------------------------------- lifecycle

    def add_node(self, wait: bool = True) -> NodeProcess:
        index = len(self.nodes) + 1
        node = NodeProcess(storage=os.path.join(self.root, f"n{index}", "storage"), env_extra=dict(CLUSTER_ENV))
        node.args = ["--uri", f"http://127.0.0.1:{node.p2p_port}"]
        if self.nodes:
            node.args += ["--bootstrap", f"http://127.0.0.1:{self.nodes[0].p2p_port}"]
        self.nodes.append(node)
        node.start(timeout=90)
        if wait:
            expected = len(self.alive())
            wait_until(
                lambda: all(len(self.get(n, "/cluster")["peers"]) == expected for n in self.alive()),
                60,
                f"{expected} peers known on every node",
            )
        return node

    def start(self, count: int) -> "Cluster":
        for _ in range(count):
            self.add_node()
        return self

    def alive(self) -> list[NodeProcess]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                os.kill(node.process.pid, signal.SIGCONT)
            node.stop()
        self.session.close()

    @staticmethod
    def pause(node: NodeProcess) -> None:
        os.kill(node.process.pid, signal.SIGSTOP)

    @staticmethod
    def resume(node: NodeProcess) -> None:
        os.kill(node.process.pid, signal.SIGCONT)

    # ---------------------------------------------------------------- http

    def request(self, node: NodeProcess, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, node.url + path, **kwargs)

    def get(self, node: NodeProcess, path: str) -> Any:
        response = self.request(node, "GET", path)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response.json()["result"]

    def peer_id(self, node: NodeProcess) -> int:
        key = node.http_port
        if key not in self._peer_ids:
            self._peer_ids[key] = self.get(node, "/cluster")["peer_id"]
        return self._peer_ids[key]

    def node_of(self, peer_id: int) -> NodeProcess:
        for node in self.nodes:
            if self.peer_id(node) == peer_id:
                return node
        raise KeyError(peer_id)

    def replicas(self, node: NodeProcess, collection: str) -> dict[int, dict[int, str]]:
        """shard id -> peer id -> state, as ``node`` sees it."""
        info = self.get(node, f"/collections/{collection}/cluster")
        shards: dict[int, dict[int, str]] = {}
        for entry in info["local_shards"]:
            shards.setdefault(entry["shard_id"], {})[info["peer_id"]] = entry["state"]
        for entry in info["remote_shards"]:
            shards.setdefault(entry["shard_id"], {})[entry["peer_id"]] = entry["state"]
        return shards

    def converged(self, collection: str, check: Callable[[dict[int, dict[int, str]]], bool]) -> bool:
        """``check`` holds for the placement every live node reports, and they all have
        applied the same metadata (equal state digests: none is still catching up)."""
        digests = {self.get(n, "/cluster")["state_digest"] for n in self.alive()}
        views = [self.replicas(n, collection) for n in self.alive()]
        return len(digests) == 1 and all(view == views[0] for view in views) and check(views[0])

    def metrics(self, node: NodeProcess) -> dict[str, float]:
        """``/metrics`` samples as ``name{labels}`` -> value."""
        response = self.request(node, "GET", "/metrics")
        assert response.status_code == 200
        samples = {}
        for line in response.text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        return samples

    def replica_contents(self, node: NodeProcess, collection: str, shard_id: int) -> dict[Any, tuple]:
        """Every point of ``node``'s replica of one shard: id -> (payload, vectors).

        Read over the internal p2p API, which serves exactly that peer's local copy.
        """
        return asyncio.run(_scroll_replica(f"http://127.0.0.1:{node.p2p_port}", collection, shard_id))


async def _scroll_replica(uri: str, collection: str, shard_id: int) -> dict[Any, tuple]:
    client = PeerClient(timeout=30)
    try:
        out: dict[Any, tuple] = {}
        offset = None
        while True:
            request = ScrollRequest(
                limit=1001,
                offset=offset,
                with_payload=PayloadSelector(),
                with_vector=VectorSelector(enabled=True),
            )
            records = await client.scroll(uri, collection, shard_id, request)
            for record in records[:1000]:
                vectors = {name: [float(x) for x in value] for name, value in (record.vectors or {}).items()}
                out[record.id] = (record.payload or {}, vectors)
            if len(records) <= 1000:
                return out
            offset = records[1000].id
    finally:
        await client.close()
