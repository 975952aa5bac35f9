"""Metadata operations replicated through consensus, and their wire encoding.

Every operation is a frozen dataclass holding only JSON-friendly values.
Construction validates the shape of the operation (types, non-empty names,
shard placement consistent with ``params.shard_number`` and
``params.sharding_method``); checks that depend on the current cluster state
live in :mod:`consensus.state`.

The encoding is explicit and versioned, never pickle::

    {"v": 1, "type": "create_collection", "name": "...", "config": {...},
     "shard_placement": [[1, 2], [2, 3]], "initial_replica_state": "Active"}

``encode`` produces canonical JSON (sorted keys, no whitespace) so the same
operation always yields the same bytes. ``decode`` rejects unknown versions,
unknown types, missing or extra fields and wrong types with ``BadInput``.
Tuples are encoded as JSON lists and decoded back to tuples; maps keyed by
shard id (``CreateShardKey.shards``) are encoded as objects with decimal
string keys and decoded back to int keys.

Shard keys (custom sharding) are Qdrant's ``ShardKey``: a string or an
unsigned integer. ``"12"`` and ``12`` are different keys, so tables keyed by
shard key use :func:`shard_key_to_str` (the key's canonical JSON text).
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

SHARDING_METHODS: frozenset[str] = frozenset({"auto", "custom"})

TRANSFER_METHODS: frozenset[str] = frozenset({"stream_records", "snapshot", "wal_delta"})
"""Qdrant's ``ShardTransferMethod`` values, minus resharding (not supported)."""

ShardKey = Union[str, int]


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


def _require_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"Wrong input: {what} must be a boolean")
    return value


def _require_replica_state(value: Any) -> str:
    if not isinstance(value, str) or value not in REPLICA_STATES:
        raise BadInput(f"Wrong input: unknown replica state {value!r}")
    return value


def _require_peer_list(peers: Any, shard_id: int) -> tuple[int, ...]:
    if not isinstance(peers, (list, tuple)) or not peers:
        raise BadInput(f"Wrong input: shard {shard_id} must have at least one replica")
    peer_ids = tuple(_require_int(peer, "peer id") for peer in peers)
    if len(set(peer_ids)) != len(peer_ids):
        raise BadInput(f"Wrong input: shard {shard_id} lists a peer twice")
    return peer_ids


def require_shard_key(value: Any) -> ShardKey:
    """Validate a shard key: a string or an integer >= 0 (Qdrant's ``ShardKey``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise BadInput("Wrong input: shard key must be a string or an unsigned integer")


def shard_key_to_str(key: ShardKey) -> str:
    """Canonical text of a shard key, used as a table key: ``'"eu"'`` or ``'12'``.

    It is also how Qdrant displays a shard key in messages (strings quoted).
    """
    return json.dumps(require_shard_key(key), ensure_ascii=False)


def shard_key_from_str(text: str) -> ShardKey:
    """Inverse of :func:`shard_key_to_str`."""
    try:
        value = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        raise BadInput(f"Wrong input: malformed shard key {text!r}") from None
    return require_shard_key(value)


def sharding_method_of(config: dict[str, Any]) -> str:
    """``params.sharding_method`` of a collection config (``"auto"`` when absent)."""
    method = config_params(config).get("sharding_method")
    return "auto" if method is None else method


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
    method = params.get("sharding_method")
    if method is not None and method not in SHARDING_METHODS:
        raise BadInput(f"Wrong input: unknown sharding method {method!r}")


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

    With ``params.sharding_method == "custom"`` the placement must be empty:
    shards are created per shard key by :class:`CreateShardKey`, and
    ``params.shard_number`` is the default number of shards per key.
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
        if not isinstance(self.shard_placement, (list, tuple)):
            raise BadInput("Wrong input: shard placement must be a list")
        custom = sharding_method_of(config) == "custom"
        if custom and self.shard_placement:
            raise BadInput(
                "Wrong input: shard placement must be empty for custom sharding; "
                "shards are created per shard key"
            )
        if not custom and not self.shard_placement:
            raise BadInput("Wrong input: shard placement must list at least one shard")
        placement = [
            _require_peer_list(peers, shard_id) for shard_id, peers in enumerate(self.shard_placement)
        ]
        shard_number = config_params(config).get("shard_number")
        if not custom and shard_number is not None and shard_number != len(placement):
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
    """Forget a peer.

    Refused while the peer holds replicas, unless ``force``: then its replicas
    are dropped from every shard and transfers involving it are aborted.
    """

    TYPE: ClassVar[str] = "remove_peer"
    peer_id: int
    force: bool = False

    def __post_init__(self) -> None:
        _require_int(self.peer_id, "peer id")
        _require_bool(self.force, "force")


@dataclass(frozen=True)
class SetReplicaState:
    """Set the state of ``peer_id``'s replica of a shard (adds an absent replica only as Partial or Initializing)."""

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


@dataclass(frozen=True)
class AddReplica:
    """Add ``peer_id``'s replica of an existing shard in ``state``."""

    TYPE: ClassVar[str] = "add_replica"
    collection: str
    shard_id: int
    peer_id: int
    state: str

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        _require_int(self.shard_id, "shard id")
        _require_int(self.peer_id, "peer id")
        _require_replica_state(self.state)


@dataclass(frozen=True)
class RemoveReplica:
    """Drop ``peer_id``'s replica of a shard (Qdrant's ``drop_replica``).

    Refused when it is the shard's last replica or its last Active one;
    transfers of the shard involving the peer are aborted.
    """

    TYPE: ClassVar[str] = "remove_replica"
    collection: str
    shard_id: int
    peer_id: int

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        _require_int(self.shard_id, "shard id")
        _require_int(self.peer_id, "peer id")


@dataclass(frozen=True)
class CreateShardKey:
    """Create the shards of a new shard key of a custom-sharded collection.

    ``shards`` maps each new shard id to the peers holding it; the proposer
    picks ids (``ClusterState.next_shard_id``) and placement
    (:mod:`consensus.placement`) so that applying stays deterministic.
    """

    TYPE: ClassVar[str] = "create_shard_key"
    collection: str
    shard_key: ShardKey
    shards: dict[int, tuple[int, ...]]
    initial_state: str = "Active"

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        require_shard_key(self.shard_key)
        if not isinstance(self.shards, dict) or not self.shards:
            raise BadInput("Wrong input: a shard key needs at least one shard")
        shards = {
            _require_int(shard_id, "shard id"): _require_peer_list(peers, shard_id)
            for shard_id, peers in sorted(self.shards.items(), key=lambda item: _sort_key(item[0]))
        }
        _require_replica_state(self.initial_state)
        object.__setattr__(self, "shards", shards)


def _sort_key(value: Any) -> tuple[str, Any]:
    # Sorting must not fail on mixed garbage before validation reports it.
    return (type(value).__name__, value if isinstance(value, (int, str)) else repr(value))


@dataclass(frozen=True)
class DropShardKey:
    """Drop a shard key and all its shards (and their transfers)."""

    TYPE: ClassVar[str] = "drop_shard_key"
    collection: str
    shard_key: ShardKey

    def __post_init__(self) -> None:
        _require_name(self.collection, "collection name")
        require_shard_key(self.shard_key)


@dataclass(frozen=True)
class StartTransfer:
    """Start copying a shard from ``from_peer`` to ``to_peer``.

    ``sync=True`` replicates (the source keeps its replica), ``sync=False``
    moves (the source replica is dropped when the transfer finishes). The
    target replica is added (or reset) in state ``Partial``.
    """

    TYPE: ClassVar[str] = "start_transfer"
    collection: str
    shard_id: int
    from_peer: int
    to_peer: int
    sync: bool
    method: str = "stream_records"

    def __post_init__(self) -> None:
        _require_transfer_key(self)
        _require_bool(self.sync, "sync")
        if self.method not in TRANSFER_METHODS:
            raise BadInput(f"Wrong input: unknown shard transfer method {self.method!r}")


@dataclass(frozen=True)
class FinishTransfer:
    """Complete a transfer: target Active; a move also drops the source replica."""

    TYPE: ClassVar[str] = "finish_transfer"
    collection: str
    shard_id: int
    from_peer: int
    to_peer: int

    def __post_init__(self) -> None:
        _require_transfer_key(self)


@dataclass(frozen=True)
class AbortTransfer:
    """Cancel a transfer: the source is untouched, a Partial target is dropped."""

    TYPE: ClassVar[str] = "abort_transfer"
    collection: str
    shard_id: int
    from_peer: int
    to_peer: int

    def __post_init__(self) -> None:
        _require_transfer_key(self)


def _require_transfer_key(op: Any) -> None:
    _require_name(op.collection, "collection name")
    _require_int(op.shard_id, "shard id")
    _require_int(op.from_peer, "source peer id")
    _require_int(op.to_peer, "target peer id")
    if op.from_peer == op.to_peer:
        raise BadInput("Wrong input: cannot transfer a shard to the peer it comes from")


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
    AddReplica,
    RemoveReplica,
    CreateShardKey,
    DropShardKey,
    StartTransfer,
    FinishTransfer,
    AbortTransfer,
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
        AddReplica,
        RemoveReplica,
        CreateShardKey,
        DropShardKey,
        StartTransfer,
        FinishTransfer,
        AbortTransfer,
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
    if isinstance(value, dict) and all(isinstance(key, int) for key in value):
        # Shard-id maps: JSON object keys are strings.
        return {str(key): _to_json_value(item) for key, item in value.items()}
    return value


def _decode_shard_map(data: Any) -> dict[int, Any]:
    if not isinstance(data, dict):
        raise BadInput("Wrong input: shards must be a JSON object keyed by shard id")
    decoded: dict[int, Any] = {}
    for key, value in data.items():
        # Only canonical decimals, so that decoding then encoding is the identity.
        if not (isinstance(key, str) and key.isdigit() and str(int(key)) == key):
            raise BadInput(f"Wrong input: shard id {key!r} is not a decimal integer")
        decoded[int(key)] = value
    return decoded


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
    if cls is CreateShardKey:
        kwargs["shards"] = _decode_shard_map(kwargs["shards"])
    return cls(**kwargs)


def decode(data: bytes) -> Operation:
    """Decode bytes produced by :func:`encode`."""
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadInput(f"Wrong input: operation is not valid JSON: {error}") from None
    return operation_from_json(parsed)
