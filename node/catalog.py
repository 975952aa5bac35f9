"""The node's collections: metadata changes go through Raft, local shards follow the applied state."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from typing import Any

from consensus.errors import BadInput, NotFound
from consensus.operations import (
    CreateCollection,
    CreatePayloadIndex,
    DeleteCollection,
    DropPayloadIndex,
    UpdateCollection,
)
from consensus.raft import RaftNode
from consensus.state import ClusterState
from shards.collection import Collection
from shards.collection_config import (
    apply_update,
    build_config,
    config_in_print_order,
    validate_collection_name,
)
from shards.local_shard import LocalShard
from shards.optimizer import Optimizer
from shards.payload_index import parse_field_schema
from shards.payload_path import parse_path
from shards.replica_set import ReplicaSet

logger = logging.getLogger(__name__)

PROPOSE_TIMEOUT = 30.0


class CollectionCatalog:
    """Owns this node's ``Collection`` objects and keeps them equal to the Raft state."""

    def __init__(self, storage_path: str, raft: RaftNode, peer_id: int, defaults: Any = None) -> None:
        self._root = os.path.join(storage_path, "collections")
        os.makedirs(self._root, exist_ok=True)
        self._raft = raft
        self._peer_id = peer_id
        self._defaults = defaults
        self._lock = threading.RLock()
        self._collections: dict[str, Collection] = {}
        self._payload_schemas: dict[str, dict[str, Any]] = {}
        self._started = False
        self._update_lock = asyncio.Lock()
        self.optimizer = Optimizer(self.local_shards)

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
            for collection in self._collections.values():
                collection.close()
            self._collections = {}

    def _on_applied(self, op: Any, state: ClusterState) -> None:
        with self._lock:
            if self._started:
                self._reconcile(state, startup=False)

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
            if collection is None:
                self._collections[name] = self._open(name, meta)
                self._payload_schemas[name] = _usable_indexes(name, meta.payload_indexes)
                continue
            if collection.config != meta.config:
                collection.config = meta.config
                for replica_set in collection.shards.values():
                    if replica_set.local is not None:
                        replica_set.local.update_config(meta.config)
            self._sync_payload_indexes(name, collection, _usable_indexes(name, meta.payload_indexes))

    def _open(self, name: str, meta: Any) -> Collection:
        shards: dict[int, ReplicaSet] = {}
        for shard_id, replicas in meta.shards.items():
            local = None
            if self._peer_id in replicas:
                path = os.path.join(self._collection_dir(name), str(shard_id))
                local = LocalShard(path, meta.config, _usable_indexes(name, meta.payload_indexes))
            shards[int(shard_id)] = ReplicaSet(int(shard_id), local)
        logger.info("opened collection %s with %d shards", name, len(shards))
        return Collection(name, meta.config, shards)

    def _sync_payload_indexes(self, name: str, collection: Collection, wanted: dict[str, Any]) -> None:
        current = self._payload_schemas.get(name, {})
        if current == wanted:
            return
        for field, schema in wanted.items():
            if current.get(field) != schema:
                for shard in self._local_shards_of(collection):
                    shard.create_payload_index(field, schema)
        for field in current:
            if field not in wanted:
                for shard in self._local_shards_of(collection):
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

    def info(self, name: str) -> dict[str, Any]:
        collection = self.get(name)
        shards = self._local_shards_of(collection)
        stats = [shard.stats() for shard in shards]
        optimizing = any(shard.optimizing for shard in shards)
        pending = any(shard.needs_optimization() for shard in shards)
        schema: dict[str, dict[str, Any]] = {}
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
        validate_collection_name(name)
        config = build_config(body, defaults=self._defaults)
        shard_number = config["params"].get("shard_number", 1)
        placement = tuple((self._peer_id,) for _ in range(shard_number))
        await self._propose(CreateCollection(name=name, config=config, shard_placement=placement))
        return True

    async def update_collection(self, name: str, body: dict[str, Any]) -> bool:
        # A PATCH is read-modify-write of the whole config: serialize them, or two
        # concurrent ones would each start from the old config and one would be lost.
        async with self._update_lock:
            collection = self.get(name)
            meta = self._raft.state.collection(collection.name)
            config = apply_update(meta.config if meta is not None else collection.config, body)
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
        await self._propose(
            CreatePayloadIndex(collection=collection.name, field_name=field, field_schema=schema.to_spec())
        )

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
