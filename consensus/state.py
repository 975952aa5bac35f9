"""The replicated cluster metadata and the deterministic state machine over it.

``ClusterState.apply(op)`` is pure: it reads no clock, uses no randomness and
does no I/O, so every peer applying the same committed operations reaches the
same state (checked by :meth:`ClusterState.digest`).

Copy semantics (why readers on other threads are safe): all metadata lives in
one immutable ``_Tables`` value. ``apply`` builds a new ``_Tables`` from the
old one (copy-on-write: only the touched dicts are copied) and swaps the
reference in one assignment. Nothing reachable from a published ``_Tables``
is ever mutated afterwards, so a reader sees either the state before or after
an operation, never a half-applied one. Callers must treat the returned
mappings, ``CollectionMeta`` objects and their dicts as read-only; use
:meth:`ClusterState.snapshot` for several reads of one consistent version.
A failing ``apply`` leaves the state untouched.

Cluster rules kept by the handlers (Qdrant's, see ``consensus.operations``):
a shard transfer's source holds an Active replica when it starts and its
target holds a replica (``Partial`` until the transfer finishes); removing a
replica, a peer (with ``force``) or marking a replica ``Dead`` aborts the
transfers of that shard involving the peer; aborting marks a ``Partial``
target replica Dead (replication) or drops it (move). Shard keys map to the
shard ids created for them; in a custom-sharded collection every shard belongs
to exactly one key.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

from consensus.errors import AlreadyExists, BadInput, NotFound
from consensus.operations import (
    REPLICA_STATES,
    AbortTransfer,
    AddPeer,
    AddReplica,
    ChangeAliases,
    CreateAlias,
    CreateCollection,
    CreatePayloadIndex,
    CreateShardKey,
    DeleteAlias,
    DeleteCollection,
    DropPayloadIndex,
    DropShardKey,
    FinishTransfer,
    Operation,
    RemovePeer,
    RemoveReplica,
    RenameAlias,
    SetReplicaState,
    ShardKey,
    StartTransfer,
    UpdateCollection,
    canonical_json,
    config_params,
    json_copy,
    shard_key_from_str,
    shard_key_to_str,
    sharding_method_of,
)

logger = logging.getLogger(__name__)

STATE_FORMAT_VERSION = 1


def _collection_not_found(name: str) -> NotFound:
    return NotFound(f"Not found: Collection `{name}` doesn't exist!")


def _collection_exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"Wrong input: Collection `{name}` already exists!")


def _shard_not_found(collection: str, shard_id: int) -> NotFound:
    return NotFound(f"Not found: Shard {shard_id} of collection `{collection}` doesn't exist!")


def _bad_request(description: str) -> BadInput:
    # Qdrant renders StorageError::BadRequest as "Bad request: ...".
    return BadInput(f"Bad request: {description}")


def shard_key_not_found(collection: str, key: ShardKey) -> BadInput:
    """Qdrant's error for a request naming a shard key the collection lacks."""
    return BadInput(
        f"Wrong input: Shard key {shard_key_to_str(key)} does not exist for collection {collection}"
    )


@dataclass(frozen=True)
class ShardTransfer:
    """A shard transfer in progress (Qdrant's ``ShardTransferInfo``).

    ``sync=True`` replicates (the source keeps its replica), ``sync=False``
    moves the shard.
    """

    shard_id: int
    from_peer: int
    to_peer: int
    sync: bool
    method: str = "stream_records"

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.shard_id, self.from_peer, self.to_peer)

    def involves(self, peer_id: int) -> bool:
        return peer_id in (self.from_peer, self.to_peer)

    def to_json(self) -> dict[str, Any]:
        return {
            "shard_id": self.shard_id,
            "from_peer": self.from_peer,
            "to_peer": self.to_peer,
            "sync": self.sync,
            "method": self.method,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardTransfer:
        return cls(
            shard_id=int(data["shard_id"]),
            from_peer=int(data["from_peer"]),
            to_peer=int(data["to_peer"]),
            sync=bool(data["sync"]),
            method=str(data["method"]),
        )


@dataclass(frozen=True)
class CollectionMeta:
    """Replicated metadata of one collection (read-only once published).

    ``shards`` maps shard id -> peer id -> replica state. ``version`` starts
    at 1 and grows by one with every applied change to this collection.
    ``sharding_method`` is fixed at creation ("auto" or "custom");
    ``shard_keys`` maps :func:`shard_key_to_str` of each key to its shard ids
    (use :meth:`shard_key_items` for the original key values).
    """

    name: str
    config: dict[str, Any]
    payload_indexes: dict[str, dict[str, Any]]
    shards: dict[int, dict[int, str]]
    version: int
    sharding_method: str = "auto"
    shard_keys: dict[str, tuple[int, ...]] = field(default_factory=dict)
    transfers: tuple[ShardTransfer, ...] = ()

    @property
    def shard_number(self) -> int:
        return len(self.shards)

    @property
    def replication_factor(self) -> int:
        factor = config_params(self.config).get("replication_factor")
        return factor if isinstance(factor, int) else 1

    def replicas(self, shard_id: int) -> Mapping[int, str]:
        """Peer id -> state for one shard ({} for an unknown shard)."""
        return MappingProxyType(self.shards.get(shard_id, {}))

    def shard_ids_for_key(self, key: ShardKey) -> tuple[int, ...] | None:
        """The shards of a shard key, or None when the key does not exist."""
        return self.shard_keys.get(shard_key_to_str(key))

    def shard_key_of(self, shard_id: int) -> ShardKey | None:
        """The shard key owning ``shard_id`` (None for auto sharding)."""
        for key_text, shard_ids in self.shard_keys.items():
            if shard_id in shard_ids:
                return shard_key_from_str(key_text)
        return None

    def shard_key_items(self) -> list[tuple[ShardKey, tuple[int, ...]]]:
        """(original key value, shard ids) for every shard key."""
        return [(shard_key_from_str(text), ids) for text, ids in self.shard_keys.items()]

    def transfer(self, shard_id: int, from_peer: int, to_peer: int) -> ShardTransfer | None:
        for transfer in self.transfers:
            if transfer.key == (shard_id, from_peer, to_peer):
                return transfer
        return None

    def next_shard_id(self) -> int:
        """The id for a new shard: one above the highest (1 when there is none, like Qdrant)."""
        return max(self.shards, default=0) + 1

    def to_json(self) -> dict[str, Any]:
        return {
            "config": json_copy(self.config),
            "payload_indexes": json_copy(self.payload_indexes),
            "shards": {
                str(shard_id): {str(peer): state for peer, state in replicas.items()}
                for shard_id, replicas in self.shards.items()
            },
            "version": self.version,
            "sharding_method": self.sharding_method,
            "shard_keys": {key: list(ids) for key, ids in self.shard_keys.items()},
            "transfers": [transfer.to_json() for transfer in self.transfers],
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> CollectionMeta:
        shards: dict[int, dict[int, str]] = {}
        for shard_id, replicas in data["shards"].items():
            shards[int(shard_id)] = {int(peer): str(state) for peer, state in replicas.items()}
        # The last three fields are absent from states written before they existed.
        return cls(
            name=name,
            config=json_copy(data["config"]),
            payload_indexes=json_copy(data["payload_indexes"]),
            shards=shards,
            version=int(data["version"]),
            sharding_method=str(data.get("sharding_method", "auto")),
            shard_keys={
                str(key): tuple(int(shard_id) for shard_id in ids)
                for key, ids in data.get("shard_keys", {}).items()
            },
            transfers=tuple(ShardTransfer.from_json(item) for item in data.get("transfers", [])),
        )


@dataclass(frozen=True)
class _Tables:
    """One immutable version of all metadata tables."""

    collections: dict[str, CollectionMeta]
    aliases: dict[str, str]
    peers: dict[int, str]


_EMPTY = _Tables(collections={}, aliases={}, peers={})


class ClusterState:
    """Deterministic state machine over the cluster metadata (see module doc)."""

    def __init__(self, _tables: _Tables = _EMPTY) -> None:
        self._tables = _tables

    # ---- reads ---------------------------------------------------------

    @property
    def collections(self) -> Mapping[str, CollectionMeta]:
        return MappingProxyType(self._tables.collections)

    @property
    def aliases(self) -> Mapping[str, str]:
        """Alias name -> collection name."""
        return MappingProxyType(self._tables.aliases)

    @property
    def peers(self) -> Mapping[int, str]:
        """Peer id -> URI."""
        return MappingProxyType(self._tables.peers)

    def collection(self, name: str) -> CollectionMeta | None:
        return self._tables.collections.get(name)

    def resolve(self, name_or_alias: str) -> str | None:
        """The collection a name or alias refers to, or None."""
        tables = self._tables
        if name_or_alias in tables.collections:
            return name_or_alias
        return tables.aliases.get(name_or_alias)

    def aliases_of(self, collection: str) -> list[str]:
        """Aliases pointing to ``collection``, sorted."""
        return sorted(alias for alias, target in self._tables.aliases.items() if target == collection)

    def replica_state(self, collection: str, shard_id: int, peer_id: int) -> str | None:
        """State of ``peer_id``'s replica of a shard, or None when it has none."""
        meta = self._tables.collections.get(collection)
        if meta is None:
            return None
        return meta.shards.get(shard_id, {}).get(peer_id)

    def transfers_of(self, collection: str) -> tuple[ShardTransfer, ...]:
        """Transfers in progress in ``collection`` (() for an unknown collection)."""
        meta = self._tables.collections.get(collection)
        return () if meta is None else meta.transfers

    def shard_ids_for_key(self, collection: str, key: ShardKey) -> tuple[int, ...] | None:
        """Shard ids of a shard key; None when the collection or key is unknown
        (raise :func:`shard_key_not_found` for Qdrant's error)."""
        meta = self._tables.collections.get(collection)
        return None if meta is None else meta.shard_ids_for_key(key)

    def next_shard_id(self, collection: str) -> int:
        """Id for the first shard of a new shard key of ``collection``."""
        return _existing(self._tables, collection).next_shard_id()

    def peer_shard_count(self, peer_id: int) -> int:
        """Number of replicas (any state) ``peer_id`` holds across all collections."""
        return sum(
            1
            for meta in self._tables.collections.values()
            for replicas in meta.shards.values()
            if peer_id in replicas
        )

    def replica_counts(self) -> dict[int, int]:
        """Replicas per peer, every known peer included (placement's ``existing_load``)."""
        counts = {peer: 0 for peer in self._tables.peers}
        for meta in self._tables.collections.values():
            for replicas in meta.shards.values():
                for peer in replicas:
                    counts[peer] = counts.get(peer, 0) + 1
        return counts

    def snapshot(self) -> ClusterState:
        """A point-in-time view unaffected by later ``apply`` calls (O(1))."""
        return ClusterState(self._tables)

    # ---- writes --------------------------------------------------------

    def apply(self, op: Operation) -> Any:
        """Validate ``op`` against the current state, apply it and return its result.

        Raises a ``DomainError`` (state unchanged) when the operation is invalid.
        """
        handler = _HANDLERS.get(type(op))
        if handler is None:
            raise BadInput(f"Wrong input: unsupported operation {type(op).__name__}")
        new_tables, result = handler(self._tables, op)
        self._tables = new_tables
        return result

    # ---- serialization -------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """The whole state as plain JSON (used for Raft snapshots)."""
        tables = self._tables
        return {
            "format": STATE_FORMAT_VERSION,
            "collections": {name: meta.to_json() for name, meta in tables.collections.items()},
            "aliases": dict(tables.aliases),
            "peers": {str(peer): uri for peer, uri in tables.peers.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT_VERSION:
            raise BadInput(f"Wrong input: unsupported cluster state format {data.get('format')!r}"
                           if isinstance(data, dict) else "Wrong input: state must be an object")
        try:
            tables = _Tables(
                collections={
                    name: CollectionMeta.from_json(name, meta)
                    for name, meta in data["collections"].items()
                },
                aliases={str(alias): str(target) for alias, target in data["aliases"].items()},
                peers={int(peer): str(uri) for peer, uri in data["peers"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise BadInput(f"Wrong input: malformed cluster state: {error}") from None
        return cls(tables)

    def digest(self) -> str:
        """sha256 hex of the canonical JSON state; equal on peers with equal state."""
        return hashlib.sha256(canonical_json(self.to_json())).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ClusterState):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        tables = self._tables
        return (
            f"ClusterState(collections={sorted(tables.collections)}, "
            f"aliases={len(tables.aliases)}, peers={sorted(tables.peers)})"
        )


# --------------------------------------------------------------------------
# Handlers: (old tables, op) -> (new tables, result). Never mutate `tables`.
# --------------------------------------------------------------------------


def _existing(tables: _Tables, name: str) -> CollectionMeta:
    meta = tables.collections.get(name)
    if meta is None:
        raise _collection_not_found(name)
    return meta


def _with_collection(tables: _Tables, meta: CollectionMeta) -> _Tables:
    collections = dict(tables.collections)
    collections[meta.name] = meta
    return replace(tables, collections=collections)


def _create_collection(tables: _Tables, op: CreateCollection) -> tuple[_Tables, Any]:
    if op.name in tables.collections:
        raise _collection_exists(op.name)
    if op.name in tables.aliases:
        raise BadInput(
            f"Wrong input: Can't create collection with name {op.name}. "
            "Alias with the same name already exists"
        )
    shards = {
        shard_id: {peer: op.initial_replica_state for peer in peers}
        for shard_id, peers in enumerate(op.shard_placement)
    }
    meta = CollectionMeta(
        name=op.name,
        config=json_copy(op.config),
        payload_indexes={},
        shards=shards,
        version=1,
        sharding_method=sharding_method_of(op.config),
    )
    return _with_collection(tables, meta), True


def _update_collection(tables: _Tables, op: UpdateCollection) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.name)
    params = config_params(op.config)
    method = params.get("sharding_method")
    if method is not None and method != meta.sharding_method:
        raise BadInput(
            f"Wrong input: sharding_method of collection `{op.name}` cannot be changed "
            f"from {meta.sharding_method} to {method}"
        )
    shard_number = params.get("shard_number")
    # With custom sharding shard_number is the default per key, not the total.
    current = (
        config_params(meta.config).get("shard_number")
        if meta.sharding_method == "custom"
        else meta.shard_number
    )
    if shard_number is not None and current is not None and shard_number != current:
        raise BadInput(
            f"Wrong input: shard_number of collection `{op.name}` cannot be changed "
            f"from {current} to {shard_number}"
        )
    new_meta = replace(meta, config=json_copy(op.config), version=meta.version + 1)
    return _with_collection(tables, new_meta), True


def _delete_collection(tables: _Tables, op: DeleteCollection) -> tuple[_Tables, Any]:
    # Like Qdrant: deleting a missing collection is not an error, it returns False.
    if op.name not in tables.collections:
        return tables, False
    collections = dict(tables.collections)
    del collections[op.name]
    aliases = {alias: target for alias, target in tables.aliases.items() if target != op.name}
    return replace(tables, collections=collections, aliases=aliases), True


def _create_payload_index(tables: _Tables, op: CreatePayloadIndex) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    if meta.payload_indexes.get(op.field_name) == op.field_schema:
        return tables, True
    indexes = dict(meta.payload_indexes)
    indexes[op.field_name] = json_copy(op.field_schema)
    new_meta = replace(meta, payload_indexes=indexes, version=meta.version + 1)
    return _with_collection(tables, new_meta), True


def _drop_payload_index(tables: _Tables, op: DropPayloadIndex) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    if op.field_name not in meta.payload_indexes:
        return tables, True
    indexes = {name: schema for name, schema in meta.payload_indexes.items() if name != op.field_name}
    new_meta = replace(meta, payload_indexes=indexes, version=meta.version + 1)
    return _with_collection(tables, new_meta), True


def _change_aliases(tables: _Tables, op: ChangeAliases) -> tuple[_Tables, Any]:
    # Actions run in order on a private copy; any error discards all of them.
    aliases = dict(tables.aliases)
    for action in op.actions:
        if isinstance(action, CreateAlias):
            if action.collection not in tables.collections:
                raise _collection_not_found(action.collection)
            if action.alias in tables.collections:
                raise _collection_exists(action.alias)
            aliases[action.alias] = action.collection
        elif isinstance(action, DeleteAlias):
            aliases.pop(action.alias, None)
        elif isinstance(action, RenameAlias):
            if action.old not in aliases:
                raise NotFound(f"Not found: Alias {action.old} does not exists!")
            if action.new in tables.collections:
                raise _collection_exists(action.new)
            aliases[action.new] = aliases.pop(action.old)
        else:  # pragma: no cover - ChangeAliases validates its actions
            raise BadInput(f"Wrong input: unknown alias action {action!r}")
    return replace(tables, aliases=aliases), True


def _add_peer(tables: _Tables, op: AddPeer) -> tuple[_Tables, Any]:
    if tables.peers.get(op.peer_id) == op.uri:
        return tables, True
    peers = dict(tables.peers)
    peers[op.peer_id] = op.uri
    return replace(tables, peers=peers), True


def _remove_peer(tables: _Tables, op: RemovePeer) -> tuple[_Tables, Any]:
    if op.peer_id not in tables.peers:
        raise NotFound(f"Not found: Peer {op.peer_id} doesn't exist!")
    peers = {peer: uri for peer, uri in tables.peers.items() if peer != op.peer_id}
    collections = dict(tables.collections)
    for name, meta in tables.collections.items():
        holds_replica = any(op.peer_id in replicas for replicas in meta.shards.values())
        if holds_replica and not op.force:
            raise _bad_request(f"Cannot remove peer {op.peer_id} as there are shards on it")
        in_transfer = any(transfer.involves(op.peer_id) for transfer in meta.transfers)
        if not (holds_replica or in_transfer):
            continue
        new_meta = _abort_transfers(meta, lambda transfer: transfer.involves(op.peer_id))
        shards = {
            shard_id: {peer: state for peer, state in replicas.items() if peer != op.peer_id}
            for shard_id, replicas in new_meta.shards.items()
        }
        collections[name] = replace(new_meta, shards=shards, version=meta.version + 1)
    return replace(tables, peers=peers, collections=collections), True


def _set_replica_state(tables: _Tables, op: SetReplicaState) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    replicas = meta.shards.get(op.shard_id)
    if replicas is None:
        raise _shard_not_found(op.collection, op.shard_id)
    if op.state not in REPLICA_STATES:  # pragma: no cover - validated by the op
        raise BadInput(f"Wrong input: unknown replica state {op.state!r}")
    if replicas.get(op.peer_id) == op.state:
        return tables, True
    if op.peer_id not in replicas and op.state in ("Dead", "Active"):
        # Stale: a peer that saw an older placement reports a replica that has since been
        # moved or dropped. Marking it Dead or Active must not bring it back.
        return tables, False
    new_meta = _with_replicas(meta, op.shard_id, {**replicas, op.peer_id: op.state})
    if op.state == "Dead":
        # A dead replica can neither send nor receive: its transfers are over (Qdrant too).
        new_meta = _abort_transfers(
            new_meta,
            lambda transfer: transfer.shard_id == op.shard_id and transfer.involves(op.peer_id),
        )
    return _with_collection(tables, _bumped(meta, new_meta)), True


# ---- replicas ----------------------------------------------------------------


def _bumped(old: CollectionMeta, new: CollectionMeta) -> CollectionMeta:
    """``new`` with the version one above ``old``'s (one bump per operation)."""
    return replace(new, version=old.version + 1)


def _with_replicas(meta: CollectionMeta, shard_id: int, replicas: dict[int, str]) -> CollectionMeta:
    shards = dict(meta.shards)
    shards[shard_id] = replicas
    return replace(meta, shards=shards)


def _require_shard(meta: CollectionMeta, shard_id: int) -> dict[int, str]:
    replicas = meta.shards.get(shard_id)
    if replicas is None:
        raise _shard_not_found(meta.name, shard_id)
    return replicas


def _require_peer(tables: _Tables, peer_id: int) -> None:
    if peer_id not in tables.peers:
        raise _bad_request(f"Peer {peer_id} does not exist")


def _abort_transfers(meta: CollectionMeta, selected: Callable[[ShardTransfer], bool]) -> CollectionMeta:
    """Drop the selected transfers and settle a target replica still ``Partial``.

    As Qdrant: the target of a replication (``sync``, which includes the recovery of a
    Dead replica) becomes ``Dead``, to be recovered again, so that a cut transfer never
    costs the shard a replica; the target of a move is dropped. The version is left to
    the caller, which bumps it once per operation.
    """
    doomed = [transfer for transfer in meta.transfers if selected(transfer)]
    if not doomed:
        return meta
    new_meta = replace(meta, transfers=tuple(t for t in meta.transfers if not selected(t)))
    for transfer in doomed:
        replicas = new_meta.shards.get(transfer.shard_id, {})
        if replicas.get(transfer.to_peer) != "Partial":
            continue
        if transfer.sync:
            new_meta = _with_replicas(new_meta, transfer.shard_id, {**replicas, transfer.to_peer: "Dead"})
        else:
            remaining = {peer: state for peer, state in replicas.items() if peer != transfer.to_peer}
            new_meta = _with_replicas(new_meta, transfer.shard_id, remaining)
    return new_meta


def _add_replica(tables: _Tables, op: AddReplica) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    replicas = _require_shard(meta, op.shard_id)
    _require_peer(tables, op.peer_id)
    current = replicas.get(op.peer_id)
    if current == op.state:
        return tables, True
    if current is not None:
        raise _bad_request(f"Peer {op.peer_id} already has a replica of shard {op.shard_id}")
    new_meta = _with_replicas(meta, op.shard_id, {**replicas, op.peer_id: op.state})
    return _with_collection(tables, _bumped(meta, new_meta)), True


def _remove_replica(tables: _Tables, op: RemoveReplica) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    replicas = _require_shard(meta, op.shard_id)
    if op.peer_id not in replicas:
        raise _bad_request(f"Peer {op.peer_id} has no replica of shard {op.shard_id}")
    others_active = any(
        state == "Active" for peer, state in replicas.items() if peer != op.peer_id
    )
    if len(replicas) == 1 or (replicas[op.peer_id] == "Active" and not others_active):
        raise _bad_request(
            f"Shard {op.shard_id} must have at least one active replica after removing {op.peer_id}"
        )
    new_meta = _abort_transfers(
        meta, lambda transfer: transfer.shard_id == op.shard_id and transfer.involves(op.peer_id)
    )
    remaining = {
        peer: state for peer, state in new_meta.shards[op.shard_id].items() if peer != op.peer_id
    }
    new_meta = _with_replicas(new_meta, op.shard_id, remaining)
    return _with_collection(tables, _bumped(meta, new_meta)), True


# ---- shard keys ----------------------------------------------------------------


def _create_shard_key(tables: _Tables, op: CreateShardKey) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    key_text = shard_key_to_str(op.shard_key)
    # Messages as Qdrant's REST handler words them (it validates before consensus).
    if meta.sharding_method != "custom":
        raise _bad_request("Shard Key cannot be created with Auto sharding method")
    if key_text in meta.shard_keys:
        raise _bad_request(f"Sharding key {key_text} already exists for collection {op.collection}")
    unknown = sorted({peer for peers in op.shards.values() for peer in peers} - set(tables.peers))
    if unknown:
        raise _bad_request(f"Shard Key {key_text} placement contains unknown peers: {unknown}")
    taken = sorted(set(op.shards) & set(meta.shards))
    if taken:
        raise _bad_request(f"Shards {taken} already exist in collection {op.collection}")
    shards = dict(meta.shards)
    for shard_id, peers in op.shards.items():
        shards[shard_id] = {peer: op.initial_state for peer in peers}
    shard_keys = dict(meta.shard_keys)
    shard_keys[key_text] = tuple(sorted(op.shards))
    new_meta = replace(meta, shards=shards, shard_keys=shard_keys, version=meta.version + 1)
    return _with_collection(tables, new_meta), True


def _drop_shard_key(tables: _Tables, op: DropShardKey) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    key_text = shard_key_to_str(op.shard_key)
    if meta.sharding_method != "custom":
        # Qdrant's REST handler says "created" here too.
        raise _bad_request("Shard Key cannot be created with Auto sharding method")
    shard_ids = meta.shard_keys.get(key_text)
    if shard_ids is None:
        raise _bad_request(f"Sharding key {key_text} does not exists for collection {op.collection}")
    dropped = set(shard_ids)
    new_meta = replace(
        meta,
        shards={shard_id: r for shard_id, r in meta.shards.items() if shard_id not in dropped},
        shard_keys={key: ids for key, ids in meta.shard_keys.items() if key != key_text},
        transfers=tuple(t for t in meta.transfers if t.shard_id not in dropped),
        version=meta.version + 1,
    )
    return _with_collection(tables, new_meta), True


# ---- shard transfers -------------------------------------------------------------


def _start_transfer(tables: _Tables, op: StartTransfer) -> tuple[_Tables, Any]:
    # Checks in the order of Qdrant's validate_transfer, then the target check.
    meta = _existing(tables, op.collection)
    replicas = meta.shards.get(op.shard_id)
    if replicas is None:
        raise _bad_request(f"Shard {op.shard_id} of {op.collection} does not exist")
    _require_peer(tables, op.from_peer)
    _require_peer(tables, op.to_peer)
    if replicas.get(op.from_peer) != "Active":
        raise _bad_request(f"Shard {op.shard_id} is not active on peer {op.from_peer}")
    if replicas.get(op.to_peer) == "Active":
        raise _bad_request(f"Shard {op.shard_id} is already active on peer {op.to_peer}")
    for transfer in meta.transfers:
        if transfer.shard_id == op.shard_id and (
            transfer.involves(op.from_peer) or transfer.involves(op.to_peer)
        ):
            raise _bad_request(
                f"Shard {op.shard_id} is already involved in transfer "
                f"{transfer.from_peer} -> {transfer.to_peer}"
            )
    transfer = ShardTransfer(op.shard_id, op.from_peer, op.to_peer, op.sync, op.method)
    new_meta = _with_replicas(meta, op.shard_id, {**replicas, op.to_peer: "Partial"})
    new_meta = replace(new_meta, transfers=meta.transfers + (transfer,), version=meta.version + 1)
    return _with_collection(tables, new_meta), True


def _existing_transfer(meta: CollectionMeta, op: FinishTransfer | AbortTransfer) -> ShardTransfer:
    transfer = meta.transfer(op.shard_id, op.from_peer, op.to_peer)
    if transfer is None:
        raise NotFound(
            f"Not found: Shard transfer {op.from_peer} -> {op.to_peer} for collection "
            f"{op.collection}:{op.shard_id} does not exist"
        )
    return transfer


def _finish_transfer(tables: _Tables, op: FinishTransfer) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    transfer = _existing_transfer(meta, op)
    replicas = dict(meta.shards.get(op.shard_id, {}))
    replicas[op.to_peer] = "Active"
    if not transfer.sync:
        replicas.pop(op.from_peer, None)
    new_meta = _with_replicas(meta, op.shard_id, replicas)
    new_meta = replace(
        new_meta,
        transfers=tuple(t for t in meta.transfers if t.key != transfer.key),
        version=meta.version + 1,
    )
    return _with_collection(tables, new_meta), True


def _abort_transfer(tables: _Tables, op: AbortTransfer) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    transfer = _existing_transfer(meta, op)
    new_meta = _abort_transfers(meta, lambda candidate: candidate.key == transfer.key)
    return _with_collection(tables, _bumped(meta, new_meta)), True


_HANDLERS: dict[type, Callable[[_Tables, Any], tuple[_Tables, Any]]] = {
    CreateCollection: _create_collection,
    UpdateCollection: _update_collection,
    DeleteCollection: _delete_collection,
    CreatePayloadIndex: _create_payload_index,
    DropPayloadIndex: _drop_payload_index,
    ChangeAliases: _change_aliases,
    AddPeer: _add_peer,
    RemovePeer: _remove_peer,
    SetReplicaState: _set_replica_state,
    AddReplica: _add_replica,
    RemoveReplica: _remove_replica,
    CreateShardKey: _create_shard_key,
    DropShardKey: _drop_shard_key,
    StartTransfer: _start_transfer,
    FinishTransfer: _finish_transfer,
    AbortTransfer: _abort_transfer,
}
