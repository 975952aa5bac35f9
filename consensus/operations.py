"""Metadata operations replicated through consensus, and their wire encoding.

Every operation is a frozen dataclass holding only JSON-friendly values.
Construction validates the shape of the operation (types, non-empty names,
shard placement consistent with ``params.shard_number``); checks that depend
on the current cluster state live in :mod:`consensus.state`.

The encoding is explicit and versioned, never pickle::

    {"v": 1, "type": "create_collection", "name": "...", "config": {...},
     "shard_placement": [[1, 2], [2, 3]], "initial_replica_state": "Active"}

``encode`` produces canonical JSON (sorted keys, no whitespace) so the same
operation always yields the same bytes. ``decode`` rejects unknown versions,
unknown types, missing or extra fields and wrong types with ``BadInput``.
Tuples are encoded as JSON lists and decoded back to tuples.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import MISSING, dataclass, fields
from typing import Any, ClassVar, Union

from consensus.errors import BadInput

logger = logging.getLogger(__name__)

ENCODING_VERSION = 1

REPLICA_STATES: frozenset[str] = frozenset(
    {"Active", "Dead", "Partial", "Initializing", "Listener"}
)


# --------------------------------------------------------------------------
# Validation helpers (shared by constructors and decoding)
# --------------------------------------------------------------------------


def _require_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise BadInput(f"Wrong input: {what} must be a non-empty string")
    return value


def _require_int(value: Any, what: str, minimum: int = 0) -> int:
    # bool is an int subclass; True must not pass for a peer id.
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadInput(f"Wrong input: {what} must be an integer >= {minimum}")
    return value


def json_copy(value: Any, what: str = "value") -> Any:
    """Validate that ``value`` is plain JSON and return a detached deep copy.

    Tuples become lists; dict keys must be strings (JSON would silently turn
    an int key into a string, which would make the state differ from the
    operation that produced it). Floats must be finite.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise BadInput(f"Wrong input: {what} contains a non-finite number")
        return value
    if isinstance(value, (list, tuple)):
        return [json_copy(item, what) for item in value]
    if isinstance(value, dict):
        copied: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise BadInput(f"Wrong input: {what} has a non-string key {key!r}")
            copied[key] = json_copy(item, what)
        return copied
    raise BadInput(f"Wrong input: {what} contains a non-JSON value of type {type(value).__name__}")


def _require_json_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadInput(f"Wrong input: {what} must be a JSON object")
    return json_copy(value, what)


def config_params(config: dict[str, Any]) -> dict[str, Any]:
    """The ``params`` section of a collection config ({} when absent)."""
    params = config.get("params", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise BadInput("Wrong input: config.params must be a JSON object")
    return params


def _validate_params(config: dict[str, Any]) -> None:
    params = config_params(config)
    for key in ("shard_number", "replication_factor"):
        if params.get(key) is not None:
            _require_int(params[key], f"params.{key}", minimum=1)


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


# --------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCollection:
    """Create a collection with a fixed shard placement.

    ``shard_placement[i]`` lists the peer ids holding shard ``i``; it is
    computed by the proposer so that applying the operation stays
    deterministic. New replicas start in ``initial_replica_state``.
    """

    TYPE: ClassVar[str] = "create_collection"
    name: str
    config: dict[str, Any]
    shard_placement: tuple[tuple[int, ...], ...]
    initial_replica_state: str = "Active"

    def __post_init__(self) -> None:
        _require_name(self.name, "collection name")
        config = _require_json_object(self.config, "collection config")
        _validate_params(config)
        if not isinstance(self.shard_placement, (list, tuple)) or not self.shard_placement:
            raise BadInput("Wrong input: shard placement must list at least one shard")
        placement: list[tuple[int, ...]] = []
        for shard_id, peers in enumerate(self.shard_placement):
            if not isinstance(peers, (list, tuple)) or not peers:
                raise BadInput(f"Wrong input: shard {shard_id} must have at least one replica")
            peer_ids = tuple(_require_int(peer, "peer id") for peer in peers)
            if len(set(peer_ids)) != len(peer_ids):
                raise BadInput(f"Wrong input: shard {shard_id} lists a peer twice")
            placement.append(peer_ids)
        shard_number = config_params(config).get("shard_number")
        if shard_number is not None and shard_number != len(placement):
            raise BadInput(
                f"Wrong input: shard placement has {len(placement)} shards "
                f"but params.shard_number is {shard_number}"
            )
        if self.initial_replica_state not in REPLICA_STATES:
            raise BadInput(f"Wrong input: unknown replica state {self.initial_replica_state!r}")
        object.__setattr__(self, "config", config)
        object.__setattr__(self, "shard_placement", tuple(placement))


@dataclass(frozen=True)
class UpdateCollection:
    """Replace a collection's config by ``config`` (the full new config)."""

    TYPE: ClassVar[str] = "update_collection"
    name: str
    config: dict[str, Any]

    def __post_init__(self) -> None:
        _require_name(self.name, "collection name")
        config = _require_json_object(self.config, "collection config")
        _validate_params(config)
        object.__setattr__(self, "config", config)


@dataclass(frozen=True)
class DeleteCollection:
    """Delete a collection and every alias pointing to it."""

    TYPE: ClassVar[str] = "delete_collection"
    name: str

    def __post_init__(self) -> None:
        _require_name(self.name, "collection name")


@dataclass(frozen=True)
class CreatePayloadIndex:
    """Declare a payload index on ``field_name`` with a JSON schema."""

    TYPE: ClassVar[str] = "create_payload_index"
    collection: str
    field_name: str
    field_schema: str | dict[str, Any]
    """A type name (Qdrant's short form, ``"keyword"``) or a params object."""

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        _require_name(self.field_name, "field name")
        if not isinstance(self.field_schema, str):
            object.__setattr__(
                self, "field_schema", _require_json_object(self.field_schema, "field schema")
            )


@dataclass(frozen=True)
class DropPayloadIndex:
    """Remove the payload index on ``field_name`` (no-op when absent)."""

    TYPE: ClassVar[str] = "drop_payload_index"
    collection: str
    field_name: str

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        _require_name(self.field_name, "field name")


@dataclass(frozen=True)
class CreateAlias:
    """Alias action: point ``alias`` at ``collection`` (overwrites)."""

    KIND: ClassVar[str] = "create"
    alias: str
    collection: str

    def __post_init__(self) -> None:
        _require_name(self.alias, "alias name")
        _require_name(self.collection, "collection name")


@dataclass(frozen=True)
class DeleteAlias:
    """Alias action: remove ``alias`` (no-op when absent, like Qdrant)."""

    KIND: ClassVar[str] = "delete"
    alias: str

    def __post_init__(self) -> None:
        _require_name(self.alias, "alias name")


@dataclass(frozen=True)
class RenameAlias:
    """Alias action: rename alias ``old`` to ``new``."""

    KIND: ClassVar[str] = "rename"
    old: str
    new: str

    def __post_init__(self) -> None:
        _require_name(self.old, "old alias name")
        _require_name(self.new, "new alias name")


AliasAction = Union[CreateAlias, DeleteAlias, RenameAlias]
_ALIAS_ACTIONS: dict[str, type] = {cls.KIND: cls for cls in (CreateAlias, DeleteAlias, RenameAlias)}


@dataclass(frozen=True)
class ChangeAliases:
    """Apply alias actions in order, atomically (all or nothing)."""

    TYPE: ClassVar[str] = "change_aliases"
    actions: tuple[AliasAction, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.actions, (list, tuple)):
            raise BadInput("Wrong input: alias actions must be a list")
        for action in self.actions:
            if not isinstance(action, (CreateAlias, DeleteAlias, RenameAlias)):
                raise BadInput(f"Wrong input: unknown alias action {action!r}")
        object.__setattr__(self, "actions", tuple(self.actions))


@dataclass(frozen=True)
class AddPeer:
    """Register (or re-address) a peer of the cluster."""

    TYPE: ClassVar[str] = "add_peer"
    peer_id: int
    uri: str

    def __post_init__(self) -> None:
        _require_int(self.peer_id, "peer id")
        _require_name(self.uri, "peer uri")


@dataclass(frozen=True)
class RemovePeer:
    """Forget a peer and drop its replicas from every shard."""

    TYPE: ClassVar[str] = "remove_peer"
    peer_id: int

    def __post_init__(self) -> None:
        _require_int(self.peer_id, "peer id")


@dataclass(frozen=True)
class SetReplicaState:
    """Set the state of ``peer_id``'s replica of a shard (adds the replica if absent)."""

    TYPE: ClassVar[str] = "set_replica_state"
    collection: str
    shard_id: int
    peer_id: int
    state: str

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        _require_int(self.shard_id, "shard id")
        _require_int(self.peer_id, "peer id")
        if self.state not in REPLICA_STATES:
            raise BadInput(f"Wrong input: unknown replica state {self.state!r}")


Operation = Union[
    CreateCollection,
    UpdateCollection,
    DeleteCollection,
    CreatePayloadIndex,
    DropPayloadIndex,
    ChangeAliases,
    AddPeer,
    RemovePeer,
    SetReplicaState,
]

OPERATION_TYPES: dict[str, type] = {
    cls.TYPE: cls
    for cls in (
        CreateCollection,
        UpdateCollection,
        DeleteCollection,
        CreatePayloadIndex,
        DropPayloadIndex,
        ChangeAliases,
        AddPeer,
        RemovePeer,
        SetReplicaState,
    )
}


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------


def _to_json_value(value: Any) -> Any:
    if isinstance(value, (CreateAlias, DeleteAlias, RenameAlias)):
        encoded = {"kind": value.KIND}
        encoded.update({f.name: getattr(value, f.name) for f in fields(value)})
        return encoded
    if isinstance(value, tuple):
        return [_to_json_value(item) for item in value]
    return value


def operation_to_json(op: Operation) -> dict[str, Any]:
    """The JSON object (not yet bytes) for ``op``, including version and type."""
    if type(op) not in OPERATION_TYPES.values():
        raise BadInput(f"Wrong input: not a consensus operation: {op!r}")
    encoded: dict[str, Any] = {"v": ENCODING_VERSION, "type": op.TYPE}
    for f in fields(op):
        encoded[f.name] = _to_json_value(getattr(op, f.name))
    return encoded


def encode(op: Operation) -> bytes:
    """Encode an operation as canonical, versioned JSON bytes."""
    return canonical_json(operation_to_json(op))


def _take_fields(cls: type, data: dict[str, Any], where: str) -> dict[str, Any]:
    """Extract exactly the dataclass fields of ``cls`` from ``data``."""
    names = {f.name for f in fields(cls)}
    required = {
        f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
    }
    unknown = set(data) - names
    if unknown:
        raise BadInput(f"Wrong input: unknown fields {sorted(unknown)} in {where}")
    missing = required - set(data)
    if missing:
        raise BadInput(f"Wrong input: missing fields {sorted(missing)} in {where}")
    return {name: data[name] for name in names if name in data}


def _decode_alias_action(data: Any) -> AliasAction:
    if not isinstance(data, dict):
        raise BadInput("Wrong input: alias action must be a JSON object")
    body = dict(data)
    kind = body.pop("kind", None)
    cls = _ALIAS_ACTIONS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise BadInput(f"Wrong input: unknown alias action kind {kind!r}")
    return cls(**_take_fields(cls, body, f"alias action {kind!r}"))


def operation_from_json(data: Any) -> Operation:
    """Inverse of :func:`operation_to_json`; raises ``BadInput`` on any mismatch."""
    if not isinstance(data, dict):
        raise BadInput("Wrong input: an encoded operation must be a JSON object")
    body = dict(data)
    version = body.pop("v", None)
    if version != ENCODING_VERSION or isinstance(version, bool):
        raise BadInput(f"Wrong input: unsupported operation encoding version {version!r}")
    op_type = body.pop("type", None)
    cls = OPERATION_TYPES.get(op_type) if isinstance(op_type, str) else None
    if cls is None:
        raise BadInput(f"Wrong input: unknown operation type {op_type!r}")
    kwargs = _take_fields(cls, body, f"operation {op_type!r}")
    if cls is ChangeAliases:
        actions = kwargs["actions"]
        if not isinstance(actions, list):
            raise BadInput("Wrong input: alias actions must be a list")
        kwargs["actions"] = tuple(_decode_alias_action(action) for action in actions)
    return cls(**kwargs)


def decode(data: bytes) -> Operation:
    """Decode bytes produced by :func:`encode`."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInput(f"Wrong input: operation is not valid JSON: {error}") from None
    return operation_from_json(parsed)
