"""The node's collections: metadata changes go through Raft, local shards follow the applied state."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from typing import Any, Awaitable, Callable

from consensus.errors import BadInput, DomainError, NotFound
from consensus.operations import (
    ChangeAliases,
    CreateCollection,
    CreatePayloadIndex,
    DeleteCollection,
    DropPayloadIndex,
    UpdateCollection,
)
from consensus.raft import RaftNode
from consensus.state import ClusterState
from consensus.placement import place_shards
from node import strict_mode
from shards.collection import Collection
from shards.collection_config import (
    add_vector_name,
    apply_update,
    build_config,
    config_in_print_order,
    delete_vector_name,
    validate_collection_name,
)
from shards.local_shard import LocalShard
from shards.operations import CountRequest
from shards.optimizer import Optimizer
from shards.payload_index import parse_field_schema
from shards.payload_path import parse_path
from shards.replica_set import ReplicaSet

logger = logging.getLogger(__name__)

PROPOSE_TIMEOUT = 30.0


class CollectionCatalog:
    """Owns this node's ``Collection`` objects and keeps them equal to the Raft state.

    The Raft thread calls ``_on_applied`` after every committed operation; the
    catalog then opens, drops and re-wires local shards and replica sets. Work
    that needs the network or another proposal (activating a new replica,
    recovering a dead one, streaming a transfer) is handed to ``hooks`` on the
    event loop.
    """

    def __init__(
        self,
        storage_path: str,
        raft: RaftNode,
        peer_id: int,
        defaults: Any = None,
        remote: Callable[[str, int, int], Any] | None = None,
        cluster_enabled: bool = False,
    ) -> None:
        self._root = os.path.join(storage_path, "collections")
        self.rate_limiters = strict_mode.RateLimiters()
        os.makedirs(self._root, exist_ok=True)
        self._raft = raft
        self._peer_id = peer_id
        self._defaults = defaults
        self._remote = remote
        self.cluster_enabled = cluster_enabled
        self._lock = threading.RLock()
        self._collections: dict[str, Collection] = {}
        self._payload_schemas: dict[str, dict[str, Any]] = {}
        self._started = False
        self._update_lock = asyncio.Lock()
        self.optimizer = Optimizer(self.local_shards)
        self.hooks: Any = None  # node.cluster_tasks.ClusterTasks, set by the node

    @property
    def peer_id(self) -> int:
        return self._peer_id

    @property
    def state(self) -> ClusterState:
        return self._raft.state

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._raft.subscribe(self._on_applied)
        with self._lock:
            self._started = True
            self._reconcile(self._raft.state, startup=True)
        self.optimizer.start()

    def stop(self) -> None:
        self.optimizer.stop()
        with self._lock:
            self._started = False
            for collection in self._collections.values():
                collection.close()
            self._collections = {}

    def _on_applied(self, op: Any, state: ClusterState) -> None:
        with self._lock:
            if self._started:
                self._reconcile(state, startup=False)
        if self.hooks is not None:
            self.hooks.state_changed(state)

    def _reconcile(self, state: ClusterState, startup: bool) -> None:
        """Make the local collections match the applied metadata (idempotent)."""
        wanted = state.collections
        for name in list(self._collections):
            if name not in wanted:
                self._collections.pop(name).close()
                self._payload_schemas.pop(name, None)
                shutil.rmtree(self._collection_dir(name), ignore_errors=True)
        if startup:
            for entry in os.listdir(self._root):
                if entry not in wanted:
                    shutil.rmtree(os.path.join(self._root, entry), ignore_errors=True)
        for name, meta in wanted.items():
            collection = self._collections.get(name)
            indexes = _usable_indexes(name, meta.payload_indexes)
            if collection is None:
                collection = Collection(name, meta.config, {})
                collection.resolve_collection = self.get
                self._collections[name] = collection
                self._payload_schemas[name] = indexes
            elif collection.config != meta.config:
                collection.config = meta.config
                for shard in self._local_shards_of(collection):
                    shard.update_config(meta.config)
                self.optimizer.wake()  # new thresholds or graphs to rebuild
            self._sync_shards(name, meta, collection, indexes)
            self._sync_payload_indexes(name, collection, indexes)

    def _sync_shards(self, name: str, meta: Any, collection: Collection, indexes: dict[str, Any]) -> None:
        """Replica sets follow placement, replica states and transfers; local shards open or drop."""
        wcf = int(meta.config.get("params", {}).get("write_consistency_factor", 1) or 1)
        transfers = getattr(meta, "transfers", ())
        for shard_id, replicas in meta.shards.items():
            shard_id = int(shard_id)
            replica_set = collection.shards.get(shard_id)
            if replica_set is None:
                replica_set = ReplicaSet(
                    shard_id,
                    self._peer_id,
                    None,
                    remote=self._remote_factory(name, shard_id),
                    on_replica_failure=self._failure_reporter(name),
                )
                collection.shards[shard_id] = replica_set
            replica_set.write_consistency_factor = wcf
            replica_set.read_fan_out_factor = int(meta.config.get("params", {}).get("read_fan_out_factor") or 0)
            replica_set.set_replicas(
                {int(peer): state for peer, state in replicas.items()},
                [(t.from_peer, t.to_peer) for t in transfers if t.shard_id == shard_id],
            )
            here = self._peer_id in replicas
            if here and replica_set.local is None:
                path = os.path.join(self._collection_dir(name), str(shard_id))
                replica_set.set_local(LocalShard(path, meta.config, indexes))
            elif not here and replica_set.local is not None:
                local = replica_set.local
                replica_set.set_local(None)
                local.drop()
        for shard_id in [sid for sid in collection.shards if sid not in meta.shards]:
            replica_set = collection.shards.pop(shard_id)
            if replica_set.local is not None:
                replica_set.local.drop()
        collection.shard_keys = {key: list(ids) for key, ids in getattr(meta, "shard_keys", {}).items()}

    def _remote_factory(self, name: str, shard_id: int) -> Callable[[int], Any] | None:
        if self._remote is None:
            return None
        remote = self._remote
        return lambda peer_id: remote(name, shard_id, peer_id)

    def _failure_reporter(self, name: str) -> Callable[[int, int], Awaitable[None]]:
        async def report(shard_id: int, peer_id: int) -> None:
            if self.hooks is not None:
                await self.hooks.replica_failed(name, shard_id, peer_id)

        return report

    def _sync_payload_indexes(self, name: str, collection: Collection, wanted: dict[str, Any]) -> None:
        current = self._payload_schemas.get(name, {})
        for shard in self._local_shards_of(collection):
            have = set(shard.payload_schema())
            for field, schema in wanted.items():
                if field not in have or current.get(field) != schema:
                    shard.create_payload_index(field, schema)
            for field in have - set(wanted):
                shard.drop_payload_index(field)
        self._payload_schemas[name] = wanted

    def _collection_dir(self, name: str) -> str:
        return os.path.join(self._root, name)

    @staticmethod
    def _local_shards_of(collection: Collection) -> list[LocalShard]:
        return [rs.local for rs in collection.shards.values() if rs.local is not None]

    def local_shards(self) -> list[LocalShard]:
        with self._lock:
            collections = list(self._collections.values())
        return [shard for c in collections for shard in self._local_shards_of(c)]

    def local_shard(self, name: str, shard_id: int) -> LocalShard:
        collection = self.get(name)
        replica_set = collection.shards.get(shard_id)
        if replica_set is None or replica_set.local is None:
            raise NotFound(f"Not found: Shard {shard_id} of collection `{name}` is not on this peer")
        return replica_set.local

    # ------------------------------------------------------------------ reads

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._collections)

    def exists(self, name: str) -> bool:
        return self._raft.state.resolve(name) is not None

    def get(self, name: str) -> Collection:
        resolved = self._raft.state.resolve(name)
        with self._lock:
            collection = self._collections.get(resolved) if resolved else None
        if collection is None:
            raise NotFound(f"Not found: Collection `{name}` doesn't exist!")
        return collection

    def shard_stats(self, name: str) -> list[dict[str, int]]:
        """``LocalShard.stats()`` of each local shard of ``name`` (points, vectors...)."""
        return [shard.stats() for shard in self._local_shards_of(self.get(name))]

    async def info_across_cluster(self, name: str) -> dict[str, Any]:
        """Collection info; in a cluster the point count covers every shard, remote ones too."""
        info = self.info(name)
        if self.cluster_enabled:
            collection = self.get(name)
            try:
                info["points_count"] = await collection.count(CountRequest(exact=True))
            except DomainError as exc:  # a shard without a reachable replica: keep the local figure
                logger.info("collection %s: counting across the cluster failed: %s", name, exc)
        return info

    def info(self, name: str) -> dict[str, Any]:
        collection = self.get(name)
        shards = self._local_shards_of(collection)
        stats = [shard.stats() for shard in shards]
        optimizing = any(shard.optimizing for shard in shards)
        pending = any(shard.needs_optimization() for shard in shards)
        # Every index of the metadata, also on a peer without a local replica; the point
        # counts are those of the local replicas.
        schema: dict[str, dict[str, Any]] = {
            field: parse_field_schema(spec).to_json(points=0)
            for field, spec in self._payload_schemas.get(collection.name, {}).items()
        }
        for shard in shards:
            for field, entry in shard.payload_schema().items():
                if field in schema:
                    schema[field]["points"] = schema[field].get("points", 0) + entry.get("points", 0)
                else:
                    schema[field] = dict(entry)
        return {
            "status": "yellow" if optimizing else ("grey" if pending else "green"),
            "optimizer_status": "ok",
            "indexed_vectors_count": sum(s["indexed_vectors"] for s in stats),
            "points_count": sum(s["points"] for s in stats),
            "segments_count": max(1, len(shards)),
            "config": config_in_print_order(collection.config),
            "payload_schema": schema,
        }

    # ------------------------------------------------------------------ metadata writes

    async def _propose(self, op: Any) -> Any:
        return await asyncio.to_thread(self._raft.propose, op, PROPOSE_TIMEOUT)

    async def create_collection(self, name: str, body: dict[str, Any]) -> bool:
        """Create a collection; in a cluster, answer once every replica is Active."""
        validate_collection_name(name)
        state = self._raft.state
        peers = sorted(state.peers) or [self._peer_id]
        default_shards = len(peers) if self.cluster_enabled else 1
        config = build_config(body, default_shard_number=default_shards, defaults=self._defaults)
        return await self.create_collection_with_config(name, config)

    async def create_collection_with_config(self, name: str, config: dict[str, Any]) -> bool:
        """Create a collection from an already canonical config (e.g. a snapshot's)."""
        validate_collection_name(name)
        state = self._raft.state
        peers = sorted(state.peers) or [self._peer_id]
        params = config["params"]
        if params.get("sharding_method") == "custom":
            placement: tuple[tuple[int, ...], ...] = ()
        else:
            placement = place_shards(
                params.get("shard_number", 1),
                params.get("replication_factor", 1),
                await self.placeable_peers(peers),
                existing_load=state.replica_counts(),
            )
        initial = "Initializing" if self.cluster_enabled else "Active"
        await self._propose(
            CreateCollection(name=name, config=config, shard_placement=placement, initial_replica_state=initial)
        )
        if self.cluster_enabled:
            await self.wait_replicas_active(name)
        return True

    async def placeable_peers(self, peers: list[int]) -> list[int]:
        """Peers new replicas may go to: those that are up (every peer outside a cluster)."""
        if not self.cluster_enabled or self.hooks is None or len(peers) < 2:
            return peers
        return await self.hooks.live_peers(peers)

    async def wait_replicas_active(self, name: str, timeout: float = 30.0) -> None:
        """Poll the applied state until no replica of ``name`` is still Initializing."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            meta = self._raft.state.collection(name)
            if meta is None or all(
                state != "Initializing" for replicas in meta.shards.values() for state in replicas.values()
            ):
                return
            await asyncio.sleep(0.02)
        logger.warning("replicas of %s still initializing after %.0fs", name, timeout)

    async def update_collection(self, name: str, body: dict[str, Any]) -> bool:
        return await self._change_config(name, lambda config: apply_update(config, body))

    async def create_vector_name(self, name: str, vector_name: str, body: dict[str, Any]) -> bool:
        """Add a named (dense or sparse) vector; every replica builds an empty index for it."""
        return await self._change_config(name, lambda config: add_vector_name(config, vector_name, body))

    async def delete_vector_name(self, name: str, vector_name: str) -> bool:
        """Remove a named vector; every replica drops its index and its stored values."""
        return await self._change_config(name, lambda config: delete_vector_name(config, vector_name))

    async def _change_config(self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]]) -> bool:
        # A config change is read-modify-write of the whole config: serialize them, or two
        # concurrent ones would each start from the old config and one would be lost.
        async with self._update_lock:
            collection = self.get(name)
            meta = self._raft.state.collection(collection.name)
            config = change(meta.config if meta is not None else collection.config)
            await self._propose(UpdateCollection(name=collection.name, config=config))
        return True

    async def delete_collection(self, name: str) -> bool:
        resolved = self._raft.state.resolve(name)
        if resolved is None or resolved != name:
            return False
        await self._propose(DeleteCollection(name=name))
        return True

    async def create_payload_index(self, name: str, field: str, raw_schema: Any) -> None:
        collection = self.get(name)
        if not isinstance(field, str) or not field:
            raise BadInput("Wrong input: field_name must be a non-empty string")
        parse_path(field)  # a bad path must never reach the replicated state
        schema = parse_field_schema(raw_schema)
        strict_mode.check_payload_index_count(collection.config, len(self._payload_schemas.get(collection.name, {})))
        await self._propose(
            CreatePayloadIndex(collection=collection.name, field_name=field, field_schema=schema.to_spec())
        )

    def indexed_fields(self, name: str) -> dict[str, str]:
        """``field -> index type`` of the collection's payload indexes (strict-mode checks)."""
        return {
            field: parse_field_schema(spec).data_type
            for field, spec in self._payload_schemas.get(self.get(name).name, {}).items()
        }

    async def change_aliases(self, actions: list[Any]) -> None:
        """Apply alias actions atomically (all or none), as one replicated operation."""
        await self._propose(ChangeAliases(actions=tuple(actions)))

    def aliases(self) -> list[tuple[str, str]]:
        """(alias, collection) pairs, sorted by alias."""
        return sorted(self._raft.state.aliases.items())

    async def drop_payload_index(self, name: str, field: str) -> None:
        collection = self.get(name)
        await self._propose(DropPayloadIndex(collection=collection.name, field_name=field))


def _usable_indexes(collection: str, indexes: dict[str, Any]) -> dict[str, Any]:
    """The payload indexes of the metadata that a shard can build.

    The API validates fields and schemas before proposing them, but an entry that is
    invalid anyway (written by an older version) must not keep the collection, or every
    other collection reconciled after it, from opening: it is skipped with an error.
    """
    usable: dict[str, Any] = {}
    for field, schema in indexes.items():
        try:
            parse_path(field)
            parse_field_schema(schema)
        except BadInput as error:
            logger.error("collection %s: ignoring payload index %r: %s", collection, field, error)
            continue
        usable[field] = schema
    return usable
