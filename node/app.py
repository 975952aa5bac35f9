"""Wiring of one node: consensus, catalog, optimizer, metrics and the REST server."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from typing import Any

from aiohttp import web

from consensus.errors import NotFound
from consensus.raft import RaftNode
from node.catalog import CollectionCatalog
from node.metrics import CollectionStats, NodeMetrics
from node.version import VERSION
from transport.rest.app import RestContext, build_app

logger = logging.getLogger(__name__)

RAFT_PORT_OFFSET = 100
"""Raft traffic uses the p2p port plus this offset (6335 -> 6435 by default)."""


def load_or_create_peer_id(storage_path: str) -> int:
    """A random peer id, chosen once and kept in the storage directory."""
    path = os.path.join(storage_path, "raft_state", "peer_id")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        with open(path) as handle:
            return int(handle.read().strip())
    peer_id = secrets.randbits(63) or 1
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        handle.write(str(peer_id))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return peer_id


class Node:
    """One server process: starts its components in dependency order, stops them in reverse."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.storage_path = os.path.abspath(settings.storage.storage_path)
        os.makedirs(self.storage_path, exist_ok=True)
        self.peer_id = load_or_create_peer_id(self.storage_path)
        raft_port = settings.cluster.p2p_port + RAFT_PORT_OFFSET
        self.raft = RaftNode(
            f"127.0.0.1:{raft_port}", [], os.path.join(self.storage_path, "raft_state")
        )
        self.catalog = CollectionCatalog(
            self.storage_path, self.raft, self.peer_id, settings.storage.collection_defaults
        )
        self.metrics = NodeMetrics(self._collection_stats)
        self._ready = False
        self._runner: web.AppRunner | None = None

    def _collection_stats(self) -> list[CollectionStats]:
        out = []
        for name in self.catalog.names():
            try:
                stats = self.catalog.shard_stats(name)
            except NotFound:  # deleted between listing and reading
                continue
            points = sum(s["points"] for s in stats)
            out.append(CollectionStats(name, points, sum(s["vectors"] for s in stats)))
        return out

    def telemetry(self) -> dict[str, Any]:
        return {
            "id": str(self.peer_id),
            "app": {"name": "qdrant", "version": VERSION},
            "collections": {"number_of_collections": len(self.catalog.names())},
        }

    async def start(self) -> None:
        self.raft.start()
        if not await asyncio.to_thread(self.raft.wait_ready, 60.0):
            raise RuntimeError("consensus did not become ready")
        await asyncio.to_thread(self.catalog.start)
        service = self.settings.service
        ctx = RestContext(
            catalog=self.catalog,
            metrics=self.metrics,
            telemetry=self.telemetry,
            is_ready=lambda: self._ready,
            wake_optimizer=self.catalog.optimizer.wake,
        )
        app = build_app(
            ctx,
            service.api_key,
            service.read_only_api_key,
            service.max_request_size_mb,
            enable_cors=service.enable_cors,
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, service.host, service.http_port, reuse_address=True)
        await site.start()
        self._ready = True
        logger.info("REST API listening on %s:%d (peer %d)", service.host, service.http_port, self.peer_id)

    async def stop(self) -> None:
        self._ready = False
        if self._runner is not None:
            await self._runner.cleanup()
        await asyncio.to_thread(self.catalog.stop)
        self.raft.stop()


async def run_node(settings: Any) -> None:
    node = Node(settings)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    await node.stop()
