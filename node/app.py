"""Wiring of one node: consensus, catalog, optimizer, metrics and the REST server."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from typing import Any

from aiohttp import web

from consensus.errors import DomainError, NotFound
from consensus.operations import AddPeer
from consensus.raft import RaftNode
from node.catalog import CollectionCatalog
from node.cluster_admin import ClusterAdmin
from node.cluster_tasks import ClusterTasks
from node.membership import RAFT_PORT_OFFSET, MembersFile, PeerAddress, raft_address_of  # noqa: F401 (re-exported)
from node.shard_host import NodePeerHost, NodeShardHost
from shards.remote_shard import RemoteShard
from transport.p2p.client import PeerClient
from transport.p2p.server import P2PServer
from node.metrics import ClusterStats, CollectionStats, NodeMetrics
from node.version import VERSION
from transport.grpc_api.server import PublicGrpcServer
from transport.rest.app import RestContext, build_app
from transport.rest.auth import ApiKeyPolicy

logger = logging.getLogger(__name__)

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
    """One server process: starts its components in dependency order, stops them in reverse.

    Standalone mode runs the same path as a cluster of one: a single Raft member on
    loopback, no p2p server. With ``cluster.enabled`` the node serves the internal
    gRPC API on the p2p port, and joins through ``--bootstrap`` on its first start
    or through its members file on later ones.
    """

    def __init__(self, settings: Any, storage_snapshot: str | None = None) -> None:
        self.settings = settings
        self.storage_snapshot = storage_snapshot  # --storage-snapshot: a full snapshot to start from
        self.storage_path = os.path.abspath(settings.storage.storage_path)
        os.makedirs(self.storage_path, exist_ok=True)
        self.raft_dir = os.path.join(self.storage_path, "raft_state")
        self.peer_id = load_or_create_peer_id(self.storage_path)
        self.cluster_enabled = bool(settings.cluster.enabled)
        p2p_port = settings.cluster.p2p_port
        if self.cluster_enabled and settings.uri:
            self.address = PeerAddress(settings.uri)
        else:
            self.address = PeerAddress(f"http://127.0.0.1:{p2p_port}")
        self.members = MembersFile(self.raft_dir)
        self.client: PeerClient | None = PeerClient() if self.cluster_enabled else None
        self.raft: RaftNode | None = None
        self.catalog: CollectionCatalog | None = None
        self.tasks: ClusterTasks | None = None
        self.metrics = NodeMetrics(self._collection_stats, self._cluster_stats)
        self._p2p: P2PServer | None = None
        self._grpc: PublicGrpcServer | None = None
        self._ready = False
        self._unhealthy: set[tuple[str, int]] | None = None  # local replicas to wait for (readiness)
        self._runner: web.AppRunner | None = None

    def _collection_stats(self) -> list[CollectionStats]:
        out = []
        if self.catalog is None:
            return out
        for name in self.catalog.names():
            try:
                stats = self.catalog.shard_stats(name)
            except NotFound:  # deleted between listing and reading
                continue
            points = sum(s["points"] for s in stats)
            out.append(CollectionStats(name, points, sum(s["vectors"] for s in stats)))
        return out

    def _cluster_stats(self) -> ClusterStats | None:
        raft = self.raft
        if raft is None:
            return None
        state = raft.state.snapshot()
        shards = {name: list(meta.shards.values()) for name, meta in state.collections.items()}
        transfers = {
            name: [(t.from_peer, t.to_peer) for t in meta.transfers] for name, meta in state.collections.items()
        }
        if not self.cluster_enabled:
            return ClusterStats(enabled=False, peer_id=self.peer_id, shards=shards, transfers=transfers)
        info = raft.status()
        return ClusterStats(
            enabled=True,
            peer_id=self.peer_id,
            peers=len(state.peers),
            term=int(info.get("term") or 0),
            commit=int(info.get("commit_index") or 0),
            pending_operations=int(info.get("pending_ops") or 0),
            voter=bool(info.get("is_voter")),
            shards=shards,
            transfers=transfers,
        )

    def _local_unhealthy(self) -> set[tuple[str, int]]:
        """(collection, shard) of this peer's replicas that are not Active."""
        assert self.raft is not None
        return {
            (name, shard_id)
            for name, meta in self.raft.state.collections.items()
            for shard_id, replicas in meta.shards.items()
            if replicas.get(self.peer_id, "Active") != "Active"
        }

    def is_ready(self) -> bool:
        """``/readyz``: started, and (as Qdrant) every local replica that was not Active
        when the node started has become Active (or gone). Once ready, always ready."""
        if not self._ready:
            return False
        if self._unhealthy:
            self._unhealthy &= self._local_unhealthy()
        return not self._unhealthy

    def telemetry(self) -> dict[str, Any]:
        return {
            "id": str(self.peer_id),
            "app": {"name": "qdrant", "version": VERSION},
            "collections": {"number_of_collections": len(self.catalog.names()) if self.catalog else 0},
        }

    async def _partners(self) -> list[str]:
        """Raft addresses of the other members: from the members file, or by joining."""
        me = self.address.raft_address
        if self.members.exists():
            known = self.members.load()
        elif self.cluster_enabled and self.settings.bootstrap:
            # pysyncobj's order for a new member: start it with every current member
            # as a partner, then have the leader add it (see ``_join``).
            known = await self._retry(
                self.settings.bootstrap, lambda: self.client.forward(self.settings.bootstrap, "members", {})
            )
            known = {int(peer): uri for peer, uri in known["members"].items()}
        else:
            known = {}
        return sorted({raft_address_of(uri) for peer, uri in known.items() if peer != self.peer_id} - {me})

    async def _retry(self, bootstrap: str, call: Any, timeout: float = 120.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                return await call()
            except DomainError as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    raise RuntimeError(f"could not join the cluster through {bootstrap}: {exc}") from None
                logger.info("request to bootstrap peer %s failed (%s); retrying", bootstrap, exc)
                await asyncio.sleep(0.5)

    async def _join(self) -> None:
        """Ask the cluster (through the bootstrap peer) to add this peer, once its Raft runs."""
        bootstrap = self.settings.bootstrap
        assert self.client is not None and bootstrap
        reply = await self._retry(
            bootstrap,
            lambda: self.client.join(bootstrap, self.peer_id, self.address.uri, self.address.raft_address),
        )
        members = {int(peer): uri for peer, uri in reply["members"].items()}
        self.members.save(members)
        logger.info("joined the cluster through %s: %s", bootstrap, members)

    def _remote_replica(self, collection: str, shard_id: int, peer_id: int) -> RemoteShard:
        assert self.tasks is not None
        return RemoteShard(self.client, peer_id, self.tasks.peer_uri(peer_id), collection, shard_id)

    async def start(self) -> None:
        joining = self.cluster_enabled and bool(self.settings.bootstrap) and not self.members.exists()
        partners = await self._partners()
        self.raft = RaftNode(self.address.raft_address, partners, self.raft_dir)
        self.raft.start()
        if joining:
            await self._join()
        if not await asyncio.to_thread(self.raft.wait_ready, 120.0):
            raise RuntimeError("consensus did not become ready")
        if self.raft.state.peers.get(self.peer_id) != self.address.uri:
            await asyncio.to_thread(self.raft.propose, AddPeer(peer_id=self.peer_id, uri=self.address.uri), 60.0)
        self.catalog = CollectionCatalog(
            self.storage_path,
            self.raft,
            self.peer_id,
            self.settings.storage.collection_defaults,
            remote=self._remote_replica if self.cluster_enabled else None,
            cluster_enabled=self.cluster_enabled,
        )
        self.tasks = ClusterTasks(
            self.catalog,
            self.raft,
            self.peer_id,
            self.client,
            self.members if self.cluster_enabled else None,
            asyncio.get_running_loop(),
        )
        self.catalog.hooks = self.tasks
        await asyncio.to_thread(self.catalog.start)
        self.tasks.start()
        if self.cluster_enabled:
            shard_host = NodeShardHost(self.catalog)
            self._p2p = P2PServer(
                self.settings.service.host,
                self.address.p2p_port if self.settings.uri else self.settings.cluster.p2p_port,
                shard_host,
                NodePeerHost(self.peer_id, self.tasks, shard_host),
            )
            await self._p2p.start()
        if self.storage_snapshot:
            await self._restore_storage_snapshot(self.storage_snapshot)
        await self._start_rest()
        self._unhealthy = self._local_unhealthy() if self.cluster_enabled else set()
        if self._unhealthy:
            logger.info("not ready until these local replicas are Active: %s", sorted(self._unhealthy))
        self._ready = True

    async def _restore_storage_snapshot(self, path: str) -> None:
        from node.full_snapshots import restore_storage_snapshot
        from node.snapshots import SnapshotManager

        manager = SnapshotManager(
            self.catalog, os.path.abspath(self.settings.storage.snapshots_path), ClusterAdmin(self).create_shard_key
        )
        if not os.path.isfile(path):
            raise RuntimeError(f"--storage-snapshot {path}: no such file")
        try:
            await restore_storage_snapshot(manager, path)
        except DomainError as exc:
            raise RuntimeError(f"--storage-snapshot {path}: {exc.message}") from None

    async def _start_rest(self) -> None:
        service = self.settings.service
        ctx = RestContext(
            catalog=self.catalog,
            metrics=self.metrics,
            telemetry=self.telemetry,
            is_ready=self.is_ready,
            wake_optimizer=self.catalog.optimizer.wake,
            cluster=ClusterAdmin(self),
            snapshots_path=os.path.abspath(self.settings.storage.snapshots_path),
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
        logger.info("REST API listening on %s:%d (peer %d)", service.host, service.http_port, self.peer_id)
        if service.grpc_port is not None:
            self._grpc = PublicGrpcServer(
                service.host,
                service.grpc_port,
                ctx,
                ApiKeyPolicy(service.api_key, service.read_only_api_key),
                max_message_mb=max(service.max_request_size_mb, 64),
            )
            await self._grpc.start()

    async def stop(self) -> None:
        self._ready = False
        if self._grpc is not None:
            await self._grpc.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.tasks is not None:
            await self.tasks.stop()
        if self._p2p is not None:
            await self._p2p.stop()
        if self.catalog is not None:
            await asyncio.to_thread(self.catalog.stop)
        if self.client is not None:
            await self.client.close()
        if self.raft is not None:
            self.raft.stop()


async def run_node(settings: Any, storage_snapshot: str | None = None) -> None:
    node = Node(settings, storage_snapshot)
    await node.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logger.info("shutting down")
    await node.stop()
