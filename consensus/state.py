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
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Callable, Mapping

from consensus.errors import AlreadyExists, BadInput, NotFound
from consensus.operations import (
    REPLICA_STATES,
    AddPeer,
    ChangeAliases,
    CreateAlias,
    CreateCollection,
    CreatePayloadIndex,
    DeleteAlias,
    DeleteCollection,
    DropPayloadIndex,
    Operation,
    RemovePeer,
    RenameAlias,
    SetReplicaState,
    UpdateCollection,
    canonical_json,
    config_params,
    json_copy,
)

logger = logging.getLogger(__name__)

STATE_FORMAT_VERSION = 1


def _collection_not_found(name: str) -> NotFound:
    return NotFound(f"Not found: Collection `{name}` doesn't exist!")


def _collection_exists(name: str) -> AlreadyExists:
    return AlreadyExists(f"Wrong input: Collection `{name}` already exists!")


@dataclass(frozen=True)
class CollectionMeta:
    """Replicated metadata of one collection (read-only once published).

    ``shards`` maps shard id -> peer id -> replica state. ``version`` starts
    at 1 and grows by one with every applied change to this collection.
    """

    name: str
    config: dict[str, Any]
    payload_indexes: dict[str, dict[str, Any]]
    shards: dict[int, dict[int, str]]
    version: int

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

    def to_json(self) -> dict[str, Any]:
        return {
            "config": json_copy(self.config),
            "payload_indexes": json_copy(self.payload_indexes),
            "shards": {
                str(shard_id): {str(peer): state for peer, state in replicas.items()}
                for shard_id, replicas in self.shards.items()
            },
            "version": self.version,
        }

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any]) -> CollectionMeta:
        shards: dict[int, dict[int, str]] = {}
        for shard_id, replicas in data["shards"].items():
            shards[int(shard_id)] = {int(peer): str(state) for peer, state in replicas.items()}
        return cls(
            name=name,
            config=json_copy(data["config"]),
            payload_indexes=json_copy(data["payload_indexes"]),
            shards=shards,
            version=int(data["version"]),
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
    )
    return _with_collection(tables, meta), True


def _update_collection(tables: _Tables, op: UpdateCollection) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.name)
    shard_number = config_params(op.config).get("shard_number")
    if shard_number is not None and shard_number != meta.shard_number:
        raise BadInput(
            f"Wrong input: shard_number of collection `{op.name}` cannot be changed "
            f"from {meta.shard_number} to {shard_number}"
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
        if not any(op.peer_id in replicas for replicas in meta.shards.values()):
            continue
        shards = {
            shard_id: {peer: state for peer, state in replicas.items() if peer != op.peer_id}
            for shard_id, replicas in meta.shards.items()
        }
        collections[name] = replace(meta, shards=shards, version=meta.version + 1)
    return replace(tables, peers=peers, collections=collections), True


def _set_replica_state(tables: _Tables, op: SetReplicaState) -> tuple[_Tables, Any]:
    meta = _existing(tables, op.collection)
    replicas = meta.shards.get(op.shard_id)
    if replicas is None:
        raise NotFound(f"Not found: Shard {op.shard_id} of collection `{op.collection}` doesn't exist!")
    if op.state not in REPLICA_STATES:  # pragma: no cover - validated by the op
        raise BadInput(f"Wrong input: unknown replica state {op.state!r}")
    if replicas.get(op.peer_id) == op.state:
        return tables, True
    new_replicas = dict(replicas)
    new_replicas[op.peer_id] = op.state
    shards = dict(meta.shards)
    shards[op.shard_id] = new_replicas
    new_meta = replace(meta, shards=shards, version=meta.version + 1)
    return _with_collection(tables, new_meta), True


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
}
