"""Scenarios for the metadata operations encoding and the ClusterState machine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    RemovePeer,
    RemoveReplica,
    RenameAlias,
    SetReplicaState,
    StartTransfer,
    UpdateCollection,
    decode,
    encode,
    shard_key_from_str,
    shard_key_to_str,
)
from consensus.state import ClusterState, ShardTransfer, shard_key_not_found

CONFIG = {"params": {"shard_number": 2, "replication_factor": 2}, "vectors": {"size": 4, "distance": "Cosine"}}


def create(name: str = "books", placement=((1, 2), (2, 3))) -> CreateCollection:
    config = json.loads(json.dumps(CONFIG))
    config["params"]["shard_number"] = len(placement)
    return CreateCollection(name=name, config=config, shard_placement=placement)


@pytest.fixture
def state() -> ClusterState:
    cluster = ClusterState()
    assert cluster.apply(create("books")) is True
    return cluster


# ---- collections ---------------------------------------------------------


def test_create_collection_records_config_placement_and_version(state: ClusterState) -> None:
    meta = state.collection("books")
    assert meta is not None
    assert meta.config == CONFIG
    assert meta.shards == {0: {1: "Active", 2: "Active"}, 1: {2: "Active", 3: "Active"}}
    assert meta.version == 1
    assert meta.shard_number == 2 and meta.replication_factor == 2
    assert state.resolve("books") == "books"
    assert state.resolve("missing") is None


def test_create_existing_collection_fails_and_leaves_state_unchanged(state: ClusterState) -> None:
    before = state.digest()
    with pytest.raises(AlreadyExists) as info:
        state.apply(create("books"))
    assert info.value.message == "Wrong input: Collection `books` already exists!"
    assert state.digest() == before


def test_create_collection_named_like_an_alias_fails(state: ClusterState) -> None:
    state.apply(ChangeAliases((CreateAlias(alias="novels", collection="books"),)))
    with pytest.raises(BadInput, match="Alias with the same name already exists"):
        state.apply(create("novels"))


def test_initial_replica_state_is_configurable() -> None:
    cluster = ClusterState()
    op = CreateCollection("c", {}, ((7,),), initial_replica_state="Initializing")
    cluster.apply(op)
    assert cluster.collection("c").shards == {0: {7: "Initializing"}}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "", "config": {}, "shard_placement": ((1,),)},
        {"name": "c", "config": {}, "shard_placement": ()},
        {"name": "c", "config": {}, "shard_placement": ((),)},
        {"name": "c", "config": {}, "shard_placement": ((1, 1),)},
        {"name": "c", "config": {}, "shard_placement": ((True,),)},
        {"name": "c", "config": {"params": {"shard_number": 2}}, "shard_placement": ((1,),)},
        {"name": "c", "config": {"params": {"replication_factor": 0}}, "shard_placement": ((1,),)},
        {"name": "c", "config": {1: "int key"}, "shard_placement": ((1,),)},
        {"name": "c", "config": {"x": float("nan")}, "shard_placement": ((1,),)},
        {"name": "c", "config": {"x": object()}, "shard_placement": ((1,),)},
        {"name": "c", "config": {}, "shard_placement": ((1,),), "initial_replica_state": "Up"},
    ],
)
def test_malformed_create_collection_is_rejected_at_construction(kwargs: dict) -> None:
    with pytest.raises(BadInput):
        CreateCollection(**kwargs)


def test_update_collection_replaces_config_and_bumps_version(state: ClusterState) -> None:
    new_config = {**CONFIG, "optimizers_config": {"indexing_threshold": 0}}
    assert state.apply(UpdateCollection("books", new_config)) is True
    meta = state.collection("books")
    assert meta.config == new_config
    assert meta.version == 2


def test_update_missing_collection_is_not_found(state: ClusterState) -> None:
    with pytest.raises(NotFound) as info:
        state.apply(UpdateCollection("nope", {}))
    assert info.value.message == "Not found: Collection `nope` doesn't exist!"


def test_update_cannot_change_shard_number(state: ClusterState) -> None:
    with pytest.raises(BadInput, match="shard_number"):
        state.apply(UpdateCollection("books", {"params": {"shard_number": 3}}))


def test_delete_collection_removes_it_and_its_aliases(state: ClusterState) -> None:
    state.apply(create("films", placement=((1,),)))
    state.apply(
        ChangeAliases(
            (
                CreateAlias(alias="novels", collection="books"),
                CreateAlias(alias="reading", collection="books"),
                CreateAlias(alias="movies", collection="films"),
            )
        )
    )
    assert state.aliases_of("books") == ["novels", "reading"]
    assert state.apply(DeleteCollection("books")) is True
    assert "books" not in state.collections
    assert dict(state.aliases) == {"movies": "films"}
    assert state.resolve("novels") is None


def test_delete_missing_collection_returns_false_like_qdrant(state: ClusterState) -> None:
    before = state.digest()
    assert state.apply(DeleteCollection("nope")) is False
    assert state.digest() == before


# ---- payload indexes -----------------------------------------------------


def test_payload_index_create_and_drop(state: ClusterState) -> None:
    state.apply(CreatePayloadIndex("books", "year", {"type": "integer"}))
    meta = state.collection("books")
    assert meta.payload_indexes == {"year": {"type": "integer"}}
    assert meta.version == 2
    # Re-creating the same index changes nothing; a new schema replaces it.
    state.apply(CreatePayloadIndex("books", "year", {"type": "integer"}))
    assert state.collection("books").version == 2
    state.apply(CreatePayloadIndex("books", "year", {"type": "float"}))
    assert state.collection("books").payload_indexes["year"] == {"type": "float"}
    state.apply(DropPayloadIndex("books", "year"))
    assert state.collection("books").payload_indexes == {}
    version = state.collection("books").version
    assert state.apply(DropPayloadIndex("books", "year")) is True
    assert state.collection("books").version == version


def test_payload_index_on_missing_collection_is_not_found(state: ClusterState) -> None:
    with pytest.raises(NotFound, match="Collection `nope` doesn't exist!"):
        state.apply(CreatePayloadIndex("nope", "year", {"type": "integer"}))
    with pytest.raises(NotFound):
        state.apply(DropPayloadIndex("nope", "year"))


# ---- aliases -------------------------------------------------------------


def test_alias_create_rename_delete(state: ClusterState) -> None:
    state.apply(ChangeAliases((CreateAlias(alias="a", collection="books"),)))
    assert state.resolve("a") == "books"
    state.apply(ChangeAliases((RenameAlias(old="a", new="b"),)))
    assert state.resolve("a") is None and state.resolve("b") == "books"
    state.apply(ChangeAliases((DeleteAlias(alias="b"),)))
    assert dict(state.aliases) == {}
    # Deleting a missing alias is not an error (Qdrant ignores it too).
    assert state.apply(ChangeAliases((DeleteAlias(alias="b"),))) is True


def test_alias_create_overwrites_target(state: ClusterState) -> None:
    state.apply(create("films", placement=((1,),)))
    state.apply(ChangeAliases((CreateAlias(alias="a", collection="books"),)))
    state.apply(ChangeAliases((CreateAlias(alias="a", collection="films"),)))
    assert state.resolve("a") == "films"


def test_alias_to_missing_collection_is_not_found(state: ClusterState) -> None:
    with pytest.raises(NotFound) as info:
        state.apply(ChangeAliases((CreateAlias(alias="a", collection="nope"),)))
    assert info.value.message == "Not found: Collection `nope` doesn't exist!"


def test_alias_named_like_a_collection_is_rejected(state: ClusterState) -> None:
    state.apply(create("films", placement=((1,),)))
    with pytest.raises(AlreadyExists, match="Collection `films` already exists!"):
        state.apply(ChangeAliases((CreateAlias(alias="films", collection="books"),)))
    state.apply(ChangeAliases((CreateAlias(alias="a", collection="books"),)))
    with pytest.raises(AlreadyExists):
        state.apply(ChangeAliases((RenameAlias(old="a", new="films"),)))


def test_rename_missing_alias_is_not_found(state: ClusterState) -> None:
    with pytest.raises(NotFound) as info:
        state.apply(ChangeAliases((RenameAlias(old="x", new="y"),)))
    assert info.value.message == "Not found: Alias x does not exists!"


def test_alias_actions_are_atomic(state: ClusterState) -> None:
    before = state.digest()
    actions = (
        CreateAlias(alias="first", collection="books"),
        CreateAlias(alias="second", collection="nope"),
    )
    with pytest.raises(NotFound):
        state.apply(ChangeAliases(actions))
    assert state.digest() == before
    assert state.resolve("first") is None


def test_alias_actions_apply_in_order(state: ClusterState) -> None:
    state.apply(
        ChangeAliases(
            (
                CreateAlias(alias="tmp", collection="books"),
                RenameAlias(old="tmp", new="final"),
            )
        )
    )
    assert dict(state.aliases) == {"final": "books"}


# ---- peers and replicas --------------------------------------------------


def test_peers_add_readdress_remove(state: ClusterState) -> None:
    state.apply(AddPeer(1, "http://a:6335"))
    state.apply(AddPeer(2, "http://b:6335"))
    state.apply(AddPeer(2, "http://b2:6335"))
    assert dict(state.peers) == {1: "http://a:6335", 2: "http://b2:6335"}
    version = state.collection("books").version
    state.apply(RemovePeer(2, force=True))
    assert dict(state.peers) == {1: "http://a:6335"}
    # Its replicas are gone from every shard.
    assert state.collection("books").shards == {0: {1: "Active"}, 1: {3: "Active"}}
    assert state.collection("books").version == version + 1
    with pytest.raises(NotFound):
        state.apply(RemovePeer(2))


def test_set_replica_state(state: ClusterState) -> None:
    state.apply(SetReplicaState("books", 0, 1, "Dead"))
    assert state.collection("books").shards[0] == {1: "Dead", 2: "Active"}
    assert state.collection("books").version == 2
    state.apply(SetReplicaState("books", 1, 9, "Partial"))
    assert state.collection("books").replicas(1) == {2: "Active", 3: "Active", 9: "Partial"}
    with pytest.raises(NotFound, match="Shard 5"):
        state.apply(SetReplicaState("books", 5, 1, "Active"))
    with pytest.raises(NotFound):
        state.apply(SetReplicaState("nope", 0, 1, "Active"))
    with pytest.raises(BadInput):
        SetReplicaState("books", 0, 1, "Sleeping")


def test_stale_dead_or_active_report_does_not_bring_a_replica_back(state: ClusterState) -> None:
    # A peer with an old view reports a replica that was moved away meanwhile.
    before = state.digest()
    assert state.apply(SetReplicaState("books", 0, 7, "Dead")) is False
    assert state.apply(SetReplicaState("books", 0, 7, "Active")) is False
    assert state.digest() == before
    assert 7 not in state.collection("books").shards[0]


def test_remove_peer_holding_replicas_is_refused_without_force(state: ClusterState) -> None:
    for peer in (1, 2, 3, 4):
        state.apply(AddPeer(peer, f"http://n{peer}:6335"))
    before = state.digest()
    with pytest.raises(BadInput) as info:
        state.apply(RemovePeer(2))
    assert info.value.message == "Bad request: Cannot remove peer 2 as there are shards on it"
    assert state.digest() == before
    # A peer without replicas goes without force and without touching collections.
    assert state.apply(RemovePeer(4)) is True
    assert state.collection("books").version == 1


def test_forced_remove_peer_aborts_its_transfers(state: ClusterState) -> None:
    for peer in (1, 2, 3, 4):
        state.apply(AddPeer(peer, f"http://n{peer}:6335"))
    state.apply(StartTransfer("books", 0, 1, 4, sync=True))
    state.apply(StartTransfer("books", 1, 2, 4, sync=False))
    version = state.collection("books").version
    state.apply(RemovePeer(4, force=True))
    meta = state.collection("books")
    assert meta.transfers == ()
    assert meta.shards == {0: {1: "Active", 2: "Active"}, 1: {2: "Active", 3: "Active"}}
    assert meta.version == version + 1
    # Removing a replication's source leaves its Partial target Dead, to be recovered
    # from another replica (Qdrant marks the target of an aborted sync transfer Dead).
    state.apply(StartTransfer("books", 1, 3, 1, sync=True))
    state.apply(RemovePeer(3, force=True))
    assert state.collection("books").shards[1] == {1: "Dead", 2: "Active"}
    assert state.transfers_of("books") == ()


def test_add_peer_is_idempotent(state: ClusterState) -> None:
    state.apply(AddPeer(1, "http://a:6335"))
    before = state.digest()
    assert state.apply(AddPeer(1, "http://a:6335")) is True
    assert state.digest() == before


# ---- replicas ----------------------------------------------------------------


@pytest.fixture
def cluster(state: ClusterState) -> ClusterState:
    """``books`` (shard 0 on 1,2; shard 1 on 2,3) with peers 1..4 registered."""
    for peer in (1, 2, 3, 4):
        state.apply(AddPeer(peer, f"http://n{peer}:6335"))
    return state


def test_add_and_remove_replica(cluster: ClusterState) -> None:
    assert cluster.apply(AddReplica("books", 0, 4, "Partial")) is True
    assert cluster.replica_state("books", 0, 4) == "Partial"
    assert cluster.collection("books").version == 2
    # Re-adding in the same state is a no-op; in another state it is refused.
    assert cluster.apply(AddReplica("books", 0, 4, "Partial")) is True
    assert cluster.collection("books").version == 2
    with pytest.raises(BadInput, match="Peer 4 already has a replica of shard 0"):
        cluster.apply(AddReplica("books", 0, 4, "Active"))
    assert cluster.apply(RemoveReplica("books", 0, 4)) is True
    assert cluster.replica_state("books", 0, 4) is None
    assert cluster.collection("books").version == 3


def test_add_replica_checks_shard_and_peer(cluster: ClusterState) -> None:
    with pytest.raises(NotFound, match="Shard 7 of collection `books` doesn't exist!"):
        cluster.apply(AddReplica("books", 7, 4, "Active"))
    with pytest.raises(BadInput) as info:
        cluster.apply(AddReplica("books", 0, 9, "Active"))
    assert info.value.message == "Bad request: Peer 9 does not exist"
    with pytest.raises(NotFound):
        cluster.apply(AddReplica("nope", 0, 1, "Active"))


def test_remove_replica_refuses_last_and_last_active(cluster: ClusterState) -> None:
    with pytest.raises(BadInput) as info:
        cluster.apply(RemoveReplica("books", 0, 4))
    assert info.value.message == "Bad request: Peer 4 has no replica of shard 0"
    cluster.apply(RemoveReplica("books", 0, 2))
    with pytest.raises(BadInput) as info:
        cluster.apply(RemoveReplica("books", 0, 1))
    assert info.value.message == "Bad request: Shard 0 must have at least one active replica after removing 1"
    # The last Active replica stays even when others exist; a Dead one may go.
    cluster.apply(SetReplicaState("books", 1, 3, "Dead"))
    before = cluster.digest()
    with pytest.raises(BadInput, match="at least one active replica"):
        cluster.apply(RemoveReplica("books", 1, 2))
    assert cluster.digest() == before
    cluster.apply(RemoveReplica("books", 1, 3))
    assert cluster.collection("books").shards[1] == {2: "Active"}


def test_remove_replica_aborts_its_transfers(cluster: ClusterState) -> None:
    cluster.apply(StartTransfer("books", 0, 1, 4, sync=True))
    cluster.apply(RemoveReplica("books", 0, 1))
    assert cluster.transfers_of("books") == ()
    # The cut replication leaves its target Dead (to be recovered from peer 2).
    assert cluster.collection("books").shards[0] == {2: "Active", 4: "Dead"}


def test_dead_replica_aborts_its_transfers(cluster: ClusterState) -> None:
    cluster.apply(StartTransfer("books", 0, 1, 4, sync=False))
    cluster.apply(StartTransfer("books", 1, 2, 1, sync=True))
    cluster.apply(SetReplicaState("books", 0, 4, "Dead"))
    assert [t.key for t in cluster.transfers_of("books")] == [(1, 2, 1)]
    assert cluster.replica_state("books", 0, 4) == "Dead"
    cluster.apply(SetReplicaState("books", 1, 2, "Dead"))
    assert cluster.transfers_of("books") == ()
    assert cluster.replica_state("books", 1, 1) == "Dead"


# ---- shard transfers -------------------------------------------------------------


def test_replicate_shard_keeps_the_source(cluster: ClusterState) -> None:
    assert cluster.apply(StartTransfer("books", 0, 1, 4, sync=True)) is True
    assert cluster.transfers_of("books") == (ShardTransfer(0, 1, 4, True, "stream_records"),)
    assert cluster.replica_state("books", 0, 4) == "Partial"
    assert cluster.apply(FinishTransfer("books", 0, 1, 4)) is True
    meta = cluster.collection("books")
    assert meta.shards[0] == {1: "Active", 2: "Active", 4: "Active"}
    assert meta.transfers == ()
    assert meta.version == 3


def test_move_shard_drops_the_source(cluster: ClusterState) -> None:
    cluster.apply(StartTransfer("books", 1, 3, 1, sync=False, method="snapshot"))
    assert cluster.collection("books").transfer(1, 3, 1).method == "snapshot"
    cluster.apply(FinishTransfer("books", 1, 3, 1))
    assert cluster.collection("books").shards[1] == {1: "Active", 2: "Active"}


def test_abort_transfer_drops_partial_target_and_keeps_source(cluster: ClusterState) -> None:
    before = cluster.collection("books").shards
    cluster.apply(StartTransfer("books", 0, 2, 4, sync=False))
    assert cluster.apply(AbortTransfer("books", 0, 2, 4)) is True
    meta = cluster.collection("books")
    assert meta.shards == before and meta.transfers == ()
    assert meta.version == 3
    # A Dead target is reset to Partial by its recovery; an aborted recovery (or any
    # replication) leaves it Dead, as Qdrant does: the replica is kept, to be recovered.
    cluster.apply(SetReplicaState("books", 0, 3, "Dead"))
    cluster.apply(StartTransfer("books", 0, 1, 3, sync=True))
    assert cluster.replica_state("books", 0, 3) == "Partial"
    cluster.apply(AbortTransfer("books", 0, 1, 3))
    assert cluster.replica_state("books", 0, 3) == "Dead"


def test_unknown_transfer_is_not_found(cluster: ClusterState) -> None:
    for op in (FinishTransfer("books", 0, 1, 4), AbortTransfer("books", 0, 1, 4)):
        with pytest.raises(NotFound) as info:
            cluster.apply(op)
        assert info.value.message == "Not found: Shard transfer 1 -> 4 for collection books:0 does not exist"
    with pytest.raises(NotFound, match="Collection `nope` doesn't exist!"):
        cluster.apply(AbortTransfer("nope", 0, 1, 4))


@pytest.mark.parametrize(
    ("op", "message"),
    [
        (StartTransfer("books", 9, 1, 4, True), "Bad request: Shard 9 of books does not exist"),
        (StartTransfer("books", 0, 8, 4, True), "Bad request: Peer 8 does not exist"),
        (StartTransfer("books", 0, 1, 8, True), "Bad request: Peer 8 does not exist"),
        (StartTransfer("books", 0, 3, 4, True), "Bad request: Shard 0 is not active on peer 3"),
        (StartTransfer("books", 0, 1, 2, True), "Bad request: Shard 0 is already active on peer 2"),
    ],
)
def test_start_transfer_validation(cluster: ClusterState, op: StartTransfer, message: str) -> None:
    before = cluster.digest()
    with pytest.raises(BadInput) as info:
        cluster.apply(op)
    assert info.value.message == message
    assert cluster.digest() == before


def test_start_transfer_requires_active_source_and_no_conflict(cluster: ClusterState) -> None:
    cluster.apply(SetReplicaState("books", 0, 1, "Dead"))
    with pytest.raises(BadInput, match="Shard 0 is not active on peer 1"):
        cluster.apply(StartTransfer("books", 0, 1, 4, True))
    cluster.apply(StartTransfer("books", 0, 2, 4, True))
    for conflicting in (StartTransfer("books", 0, 2, 3, True), StartTransfer("books", 0, 2, 4, False)):
        with pytest.raises(BadInput) as info:
            cluster.apply(conflicting)
        assert info.value.message == "Bad request: Shard 0 is already involved in transfer 2 -> 4"
    # Another shard's transfer with the same peers is fine.
    cluster.apply(StartTransfer("books", 1, 2, 4, True))
    assert len(cluster.transfers_of("books")) == 2


def test_transfer_ops_reject_same_source_and_target() -> None:
    with pytest.raises(BadInput):
        StartTransfer("books", 0, 1, 1, True)
    with pytest.raises(BadInput):
        StartTransfer("books", 0, 1, 2, 1)  # type: ignore[arg-type]


# ---- shard keys ------------------------------------------------------------------

CUSTOM = {"params": {"sharding_method": "custom", "shard_number": 2, "replication_factor": 1}}


@pytest.fixture
def custom(cluster: ClusterState) -> ClusterState:
    cluster.apply(CreateCollection("tenants", CUSTOM, ()))
    return cluster


def test_custom_collection_starts_without_shards(custom: ClusterState) -> None:
    meta = custom.collection("tenants")
    assert meta.sharding_method == "custom"
    assert meta.shards == {} and meta.shard_keys == {} and meta.shard_number == 0
    assert custom.collection("books").sharding_method == "auto"
    assert custom.next_shard_id("tenants") == 1
    with pytest.raises(BadInput, match="must be empty for custom sharding"):
        CreateCollection("x", CUSTOM, ((1,),))
    with pytest.raises(BadInput, match="sharding method"):
        CreateCollection("x", {"params": {"sharding_method": "random"}}, ((1,),))


def test_create_and_drop_shard_keys(custom: ClusterState) -> None:
    assert custom.apply(CreateShardKey("tenants", "eu", {1: (1, 2), 2: (3,)})) is True
    assert custom.apply(CreateShardKey("tenants", 12, {3: (4,)}, initial_state="Initializing")) is True
    assert custom.apply(CreateShardKey("tenants", "12", {4: (1,)})) is True
    meta = custom.collection("tenants")
    assert meta.shards == {1: {1: "Active", 2: "Active"}, 2: {3: "Active"}, 3: {4: "Initializing"}, 4: {1: "Active"}}
    assert meta.shard_keys == {'"eu"': (1, 2), "12": (3,), '"12"': (4,)}
    assert meta.shard_key_items() == [("eu", (1, 2)), (12, (3,)), ("12", (4,))]
    assert meta.shard_key_of(3) == 12 and meta.shard_key_of(4) == "12" and meta.shard_key_of(9) is None
    assert custom.shard_ids_for_key("tenants", "eu") == (1, 2)
    assert custom.shard_ids_for_key("tenants", "us") is None
    assert custom.shard_ids_for_key("nope", "eu") is None
    assert custom.next_shard_id("tenants") == 5
    assert meta.version == 4
    custom.apply(StartTransfer("tenants", 1, 1, 4, True))
    assert custom.apply(DropShardKey("tenants", "eu")) is True
    meta = custom.collection("tenants")
    assert sorted(meta.shards) == [3, 4] and meta.transfers == ()
    assert meta.shard_keys == {"12": (3,), '"12"': (4,)}


def test_shard_key_errors(custom: ClusterState) -> None:
    custom.apply(CreateShardKey("tenants", "eu", {1: (1,)}))
    before = custom.digest()
    cases = [
        (CreateShardKey("tenants", "eu", {2: (1,)}), 'Bad request: Sharding key "eu" already exists for collection tenants'),
        (CreateShardKey("books", "eu", {5: (1,)}), "Bad request: Shard Key cannot be created with Auto sharding method"),
        (DropShardKey("books", "eu"), "Bad request: Shard Key cannot be created with Auto sharding method"),
        (CreateShardKey("tenants", 7, {2: (1, 9, 8)}), "Bad request: Shard Key 7 placement contains unknown peers: [8, 9]"),
        (CreateShardKey("tenants", 7, {1: (2,)}), "Bad request: Shards [1] already exist in collection tenants"),
        (DropShardKey("tenants", "us"), 'Bad request: Sharding key "us" does not exists for collection tenants'),
    ]
    for op, message in cases:
        with pytest.raises(BadInput) as info:
            custom.apply(op)
        assert info.value.message == message
    assert custom.digest() == before
    with pytest.raises(NotFound):
        custom.apply(DropShardKey("nope", "eu"))
    assert shard_key_not_found("tenants", "us").message == (
        'Wrong input: Shard key "us" does not exist for collection tenants'
    )


def test_shard_key_text_round_trips() -> None:
    for key in ("eu", "12", 12, 0, "", "é\"x"):
        assert shard_key_from_str(shard_key_to_str(key)) == key
        assert type(shard_key_from_str(shard_key_to_str(key))) is type(key)
    assert shard_key_to_str("12") != shard_key_to_str(12)
    for bad in (True, -1, 1.5, None, ["a"]):
        with pytest.raises(BadInput):
            shard_key_to_str(bad)  # type: ignore[arg-type]


def test_update_custom_collection_keeps_method_and_per_key_shard_number(custom: ClusterState) -> None:
    custom.apply(CreateShardKey("tenants", "eu", {1: (1,), 2: (2,), 3: (3,)}))
    # shard_number is per key for custom sharding, so 2 (not 3 shards) is unchanged.
    assert custom.apply(UpdateCollection("tenants", {**CUSTOM, "hnsw_config": {"m": 8}})) is True
    with pytest.raises(BadInput, match="shard_number"):
        custom.apply(UpdateCollection("tenants", {"params": {"shard_number": 3}}))
    with pytest.raises(BadInput, match="sharding_method"):
        custom.apply(UpdateCollection("tenants", {"params": {"sharding_method": "auto"}}))
    with pytest.raises(BadInput, match="sharding_method"):
        custom.apply(UpdateCollection("books", {"params": {"sharding_method": "custom"}}))


def test_read_helpers(cluster: ClusterState) -> None:
    cluster.apply(create("films", placement=((2,),)))
    assert cluster.replica_state("books", 0, 1) == "Active"
    assert cluster.replica_state("books", 0, 3) is None
    assert cluster.replica_state("books", 9, 1) is None
    assert cluster.replica_state("nope", 0, 1) is None
    assert cluster.transfers_of("nope") == ()
    assert [cluster.peer_shard_count(peer) for peer in (1, 2, 3, 4, 5)] == [1, 3, 1, 0, 0]
    assert cluster.replica_counts() == {1: 1, 2: 3, 3: 1, 4: 0}
    with pytest.raises(NotFound):
        cluster.next_shard_id("nope")


def test_cluster_state_round_trips_with_keys_and_transfers(custom: ClusterState) -> None:
    custom.apply(CreateShardKey("tenants", 5, {1: (1, 2)}))
    custom.apply(StartTransfer("tenants", 1, 1, 3, sync=False))
    custom.apply(StartTransfer("books", 0, 1, 4, sync=True))
    restored = ClusterState.from_json(json.loads(json.dumps(custom.to_json())))
    assert restored == custom and restored.digest() == custom.digest()
    assert restored.collection("tenants").shard_keys == {"5": (1,)}
    assert restored.transfers_of("tenants") == (ShardTransfer(1, 1, 3, False),)
    # The digest covers every new table.
    for op in (AbortTransfer("books", 0, 1, 4), DropShardKey("tenants", 5)):
        digest = custom.digest()
        custom.apply(op)
        assert custom.digest() != digest


def test_states_written_before_shard_keys_still_load(state: ClusterState) -> None:
    data = json.loads(json.dumps(state.to_json()))
    for meta in data["collections"].values():
        del meta["sharding_method"], meta["shard_keys"], meta["transfers"]
    restored = ClusterState.from_json(data)
    assert restored == state


# ---- copy semantics, serialization, determinism ---------------------------


def test_state_is_detached_from_the_operation_input() -> None:
    config = {"params": {"shard_number": 1}, "vectors": {"size": 4}}
    op = CreateCollection("c", config, ((1,),))
    cluster = ClusterState()
    cluster.apply(op)
    config["vectors"]["size"] = 999
    op.config["vectors"]["size"] = 998
    assert cluster.collection("c").config["vectors"]["size"] == 4


def test_snapshot_is_a_stable_view(state: ClusterState) -> None:
    view = state.snapshot()
    collections_before = state.collections
    state.apply(DeleteCollection("books"))
    assert "books" in view.collections
    assert "books" in collections_before  # old mapping objects are never mutated
    assert "books" not in state.collections
    with pytest.raises(TypeError):
        state.collections["x"] = None  # type: ignore[index]


def test_json_round_trip_preserves_state_and_digest(state: ClusterState) -> None:
    state.apply(AddPeer(1, "http://a:6335"))
    state.apply(CreatePayloadIndex("books", "tag", {"type": "keyword"}))
    state.apply(ChangeAliases((CreateAlias(alias="a", collection="books"),)))
    restored = ClusterState.from_json(json.loads(json.dumps(state.to_json())))
    assert restored == state
    assert restored.digest() == state.digest()
    assert restored.collection("books").shards == state.collection("books").shards


def test_from_json_rejects_unknown_format() -> None:
    with pytest.raises(BadInput):
        ClusterState.from_json({"format": 99})
    with pytest.raises(BadInput):
        ClusterState.from_json({"format": 1, "collections": {}})


def test_same_operations_give_same_digest() -> None:
    ops = [
        AddPeer(1, "http://a"),
        create("b", placement=((1,),)),
        create("a", placement=((1,), (1,))),
        ChangeAliases((CreateAlias(alias="x", collection="a"),)),
        CreatePayloadIndex("a", "f", {"type": "keyword"}),
        SetReplicaState("a", 1, 1, "Dead"),
        DeleteCollection("b"),
    ]
    first, second = ClusterState(), ClusterState()
    for op in ops:
        first.apply(op)
        second.apply(decode(encode(op)))
    assert first.digest() == second.digest()
    assert ClusterState().digest() != first.digest()


# ---- encoding ------------------------------------------------------------

ALL_OPS = [
    create(),
    CreateCollection("c", {}, ((1,),), initial_replica_state="Partial"),
    UpdateCollection("books", {"params": {"shard_number": 2}, "hnsw_config": {"m": 32}}),
    DeleteCollection("books"),
    CreatePayloadIndex("books", "meta.year", {"type": "integer", "lookup": True}),
    DropPayloadIndex("books", "meta.year"),
    ChangeAliases(
        (CreateAlias(alias="a", collection="books"), DeleteAlias(alias="b"), RenameAlias(old="c", new="d"))
    ),
    ChangeAliases(()),
    AddPeer(3, "http://node3:6335"),
    RemovePeer(3),
    RemovePeer(3, force=True),
    SetReplicaState("books", 1, 3, "Listener"),
    CreateCollection("c", {"params": {"sharding_method": "custom", "shard_number": 3}}, ()),
    AddReplica("books", 1, 4, "Partial"),
    RemoveReplica("books", 1, 4),
    CreateShardKey("c", "eu", {1: (1, 2), 2: (2, 3)}),
    CreateShardKey("c", 12, {3: (1,)}, initial_state="Initializing"),
    CreateShardKey("c", "12", {10: (1,), 2: (5,)}),
    DropShardKey("c", "eu"),
    DropShardKey("c", 0),
    StartTransfer("books", 0, 1, 3, sync=True),
    StartTransfer("books", 0, 1, 3, sync=False, method="snapshot"),
    FinishTransfer("books", 0, 1, 3),
    AbortTransfer("books", 0, 1, 3),
]


@pytest.mark.parametrize("op", ALL_OPS, ids=lambda op: type(op).__name__)
def test_every_operation_round_trips(op) -> None:
    data = encode(op)
    decoded = decode(data)
    assert decoded == op
    assert type(decoded) is type(op)
    assert encode(decoded) == data
    parsed = json.loads(data)
    assert parsed["v"] == 1 and parsed["type"] == op.TYPE


def test_encoding_is_explicit_json() -> None:
    data = encode(ChangeAliases((RenameAlias(old="c", new="d"),)))
    assert data == b'{"actions":[{"kind":"rename","new":"d","old":"c"}],"type":"change_aliases","v":1}'
    op = decode(encode(create()))
    assert op.shard_placement == ((1, 2), (2, 3))
    assert isinstance(op.shard_placement[0], tuple)


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"type":"delete_collection","name":"x"}',
        b'{"v":2,"type":"delete_collection","name":"x"}',
        b'{"v":true,"type":"delete_collection","name":"x"}',
        b'{"v":1,"type":"drop_everything","name":"x"}',
        b'{"v":1,"type":"delete_collection"}',
        b'{"v":1,"type":"delete_collection","name":"x","extra":1}',
        b'{"v":1,"type":"delete_collection","name":7}',
        b'{"v":1,"type":"remove_peer","peer_id":"7"}',
        b'{"v":1,"type":"remove_peer","peer_id":1.0}',
        b'{"v":1,"type":"change_aliases","actions":[{"kind":"upsert","alias":"a"}]}',
        b'{"v":1,"type":"change_aliases","actions":[{"kind":"delete"}]}',
        b'{"v":1,"type":"change_aliases","actions":{"kind":"delete","alias":"a"}}',
        b'{"v":1,"type":"create_collection","name":"c","config":{"x":NaN},"shard_placement":[[1]]}',
        b'{"v":1,"type":"remove_peer","peer_id":1,"force":1}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":"k","shards":{"01":[1]}}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":"k","shards":{"x":[1]}}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":"k","shards":[[1]]}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":"k","shards":{}}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":-1,"shards":{"1":[1]}}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":true,"shards":{"1":[1]}}',
        b'{"v":1,"type":"create_shard_key","collection":"c","shard_key":1.5,"shards":{"1":[1]}}',
        b'{"v":1,"type":"drop_shard_key","collection":"c","shard_key":null}',
        b'{"v":1,"type":"start_transfer","collection":"c","shard_id":0,"from_peer":1,"to_peer":2,"sync":0}',
        b'{"v":1,"type":"start_transfer","collection":"c","shard_id":0,"from_peer":1,"to_peer":1,"sync":true}',
        b'{"v":1,"type":"start_transfer","collection":"c","shard_id":0,"from_peer":1,"to_peer":2,'
        b'"sync":true,"method":"carrier_pigeon"}',
        b'{"v":1,"type":"finish_transfer","collection":"c","shard_id":0,"from_peer":1}',
        b'{"v":1,"type":"add_replica","collection":"c","shard_id":0,"peer_id":1,"state":"Up"}',
    ],
)
def test_decode_rejects_malformed_payloads(payload: bytes) -> None:
    with pytest.raises(BadInput):
        decode(payload)


def test_encode_rejects_foreign_objects() -> None:
    with pytest.raises(BadInput):
        encode("delete everything")  # type: ignore[arg-type]


# ---- property tests ------------------------------------------------------

names = st.text(alphabet="abcxyz_-é1", min_size=1, max_size=6)
peer_ids = st.integers(min_value=0, max_value=2**53)
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(
    allow_nan=False, allow_infinity=False
) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=10,
)
json_objects = st.dictionaries(st.text(max_size=5), json_values, max_size=4)
shard_keys = st.text(max_size=6) | st.integers(0, 2**64 - 1)
placements = st.lists(
    st.lists(peer_ids, min_size=1, max_size=3, unique=True).map(tuple), min_size=1, max_size=4
).map(tuple)
alias_actions = st.one_of(
    st.builds(CreateAlias, alias=names, collection=names),
    st.builds(DeleteAlias, alias=names),
    st.builds(RenameAlias, old=names, new=names),
)
operations = st.one_of(
    st.builds(
        lambda name, config, placement, replica_state: CreateCollection(
            name, {**config, "params": {"shard_number": len(placement)}}, placement, replica_state
        ),
        names, json_objects, placements, st.sampled_from(sorted(REPLICA_STATES)),
    ),
    st.builds(UpdateCollection, name=names, config=json_objects),
    st.builds(DeleteCollection, name=names),
    st.builds(CreatePayloadIndex, collection=names, field_name=names, field_schema=json_objects),
    st.builds(DropPayloadIndex, collection=names, field_name=names),
    st.builds(ChangeAliases, actions=st.lists(alias_actions, max_size=4).map(tuple)),
    st.builds(AddPeer, peer_id=peer_ids, uri=names),
    st.builds(RemovePeer, peer_id=peer_ids, force=st.booleans()),
    st.builds(
        SetReplicaState,
        collection=names,
        shard_id=st.integers(0, 4),
        peer_id=peer_ids,
        state=st.sampled_from(sorted(REPLICA_STATES)),
    ),
    st.builds(
        AddReplica, collection=names, shard_id=st.integers(0, 2**32), peer_id=peer_ids,
        state=st.sampled_from(sorted(REPLICA_STATES)),
    ),
    st.builds(RemoveReplica, collection=names, shard_id=st.integers(0, 2**32), peer_id=peer_ids),
    st.builds(
        CreateShardKey,
        collection=names,
        shard_key=shard_keys,
        shards=st.dictionaries(
            st.integers(0, 2**32), st.lists(peer_ids, min_size=1, max_size=3, unique=True).map(tuple),
            min_size=1, max_size=3,
        ),
        initial_state=st.sampled_from(sorted(REPLICA_STATES)),
    ),
    st.builds(DropShardKey, collection=names, shard_key=shard_keys),
    st.builds(
        lambda collection, shard_id, peers, sync, method: StartTransfer(
            collection, shard_id, peers[0], peers[1], sync, method
        ),
        names, st.integers(0, 2**32), st.lists(peer_ids, min_size=2, max_size=2, unique=True),
        st.booleans(), st.sampled_from(["stream_records", "snapshot", "wal_delta"]),
    ),
    st.builds(
        lambda cls, collection, shard_id, peers: cls(collection, shard_id, peers[0], peers[1]),
        st.sampled_from([FinishTransfer, AbortTransfer]), names, st.integers(0, 2**32),
        st.lists(peer_ids, min_size=2, max_size=2, unique=True),
    ),
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_property_encode_decode_round_trip(op) -> None:
    data = encode(op)
    assert decode(data) == op
    assert encode(decode(data)) == data


# Small name/peer spaces so that random sequences hit existing objects often.
small_names = st.sampled_from(["a", "b", "c"])
small_peers = st.integers(0, 3)
small_operations = st.one_of(
    st.builds(
        lambda name, placement: CreateCollection(name, {"params": {"shard_number": len(placement)}}, placement),
        small_names,
        st.lists(st.lists(small_peers, min_size=1, max_size=2, unique=True).map(tuple), min_size=1, max_size=2).map(
            tuple
        ),
    ),
    st.builds(UpdateCollection, name=small_names, config=st.just({"hnsw_config": {"m": 8}})),
    st.builds(DeleteCollection, name=small_names),
    st.builds(CreatePayloadIndex, collection=small_names, field_name=small_names, field_schema=st.just({"type": "keyword"})),
    st.builds(DropPayloadIndex, collection=small_names, field_name=small_names),
    st.builds(
        ChangeAliases,
        actions=st.lists(
            st.one_of(
                st.builds(CreateAlias, alias=st.sampled_from(["x", "y", "a"]), collection=small_names),
                st.builds(DeleteAlias, alias=st.sampled_from(["x", "y"])),
                st.builds(RenameAlias, old=st.sampled_from(["x", "y"]), new=st.sampled_from(["x", "y", "b"])),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(AddPeer, peer_id=small_peers, uri=st.sampled_from(["u1", "u2"])),
    st.builds(RemovePeer, peer_id=small_peers, force=st.booleans()),
    st.builds(
        SetReplicaState, collection=small_names, shard_id=st.integers(0, 2), peer_id=small_peers,
        state=st.sampled_from(sorted(REPLICA_STATES)),
    ),
    # Custom-sharded collections and the cluster operations on them.
    st.builds(
        lambda name: CreateCollection(name, {"params": {"sharding_method": "custom"}}, ()), small_names
    ),
    st.builds(
        CreateShardKey,
        collection=small_names,
        shard_key=st.sampled_from(["k", 1, "1"]),
        shards=st.dictionaries(
            st.integers(0, 4), st.lists(small_peers, min_size=1, max_size=2, unique=True).map(tuple),
            min_size=1, max_size=2,
        ),
        initial_state=st.sampled_from(["Active", "Active", "Initializing"]),
    ),
    st.builds(DropShardKey, collection=small_names, shard_key=st.sampled_from(["k", 1, "1"])),
    st.builds(
        AddReplica, collection=small_names, shard_id=st.integers(0, 2), peer_id=small_peers,
        state=st.sampled_from(["Active", "Partial", "Dead"]),
    ),
    st.builds(RemoveReplica, collection=small_names, shard_id=st.integers(0, 2), peer_id=small_peers),
    st.builds(
        lambda collection, shard_id, peers, sync: StartTransfer(collection, shard_id, peers[0], peers[1], sync),
        small_names, st.integers(0, 2), st.lists(small_peers, min_size=2, max_size=2, unique=True), st.booleans(),
    ),
    st.builds(
        lambda cls, collection, shard_id, peers: cls(collection, shard_id, peers[0], peers[1]),
        st.sampled_from([FinishTransfer, AbortTransfer]), small_names, st.integers(0, 2),
        st.lists(small_peers, min_size=2, max_size=2, unique=True),
    ),
)


def _check_invariants(cluster: ClusterState) -> None:
    for alias, target in cluster.aliases.items():
        assert target in cluster.collections, "aliases point to existing collections"
        assert alias not in cluster.collections, "alias and collection names never clash"
    for name, meta in cluster.collections.items():
        assert meta.name == name and meta.version >= 1
        if meta.sharding_method == "auto":
            assert sorted(meta.shards) == list(range(meta.shard_number))
            assert meta.shard_keys == {}
        else:
            key_shards = [shard_id for ids in meta.shard_keys.values() for shard_id in ids]
            assert sorted(key_shards) == sorted(meta.shards), "every shard belongs to exactly one key"
        keys = [transfer.key for transfer in meta.transfers]
        assert len(set(keys)) == len(keys)
        for transfer in meta.transfers:
            replicas = meta.shards[transfer.shard_id]
            assert transfer.from_peer in replicas and transfer.to_peer in replicas
            assert transfer.from_peer in cluster.peers and transfer.to_peer in cluster.peers
        for peer in cluster.peers:
            assert cluster.peer_shard_count(peer) == cluster.replica_counts()[peer]


@settings(max_examples=200, deadline=None)
@given(st.lists(small_operations, max_size=25))
def test_property_replay_is_deterministic_and_errors_change_nothing(ops) -> None:
    leader, follower = ClusterState(), ClusterState()
    for op in ops:
        before = leader.digest()
        try:
            result = ("ok", leader.apply(op))
        except (AlreadyExists, BadInput, NotFound) as error:
            result = ("err", type(error).__name__)
            assert leader.digest() == before
        try:
            replayed = ("ok", follower.apply(decode(encode(op))))
        except (AlreadyExists, BadInput, NotFound) as error:
            replayed = ("err", type(error).__name__)
        assert replayed == result
        assert follower.digest() == leader.digest()
        _check_invariants(leader)
    restored = ClusterState.from_json(json.loads(json.dumps(leader.to_json())))
    assert restored.digest() == leader.digest()


# Cluster operations on a seeded cluster (peers 0..3 known, 4 unknown), so that
# random sequences actually start, finish and abort transfers and shard keys.
cluster_collections = st.sampled_from(["auto", "custom"])
cluster_shards = st.integers(0, 5)
cluster_peers = st.integers(0, 4)
peer_pairs = st.lists(cluster_peers, min_size=2, max_size=2, unique=True)
cluster_operations = st.one_of(
    st.builds(
        lambda collection, shard_id, peers, sync: StartTransfer(collection, shard_id, peers[0], peers[1], sync),
        cluster_collections, cluster_shards, peer_pairs, st.booleans(),
    ),
    st.builds(
        lambda cls, collection, shard_id, peers: cls(collection, shard_id, peers[0], peers[1]),
        st.sampled_from([FinishTransfer, AbortTransfer]), cluster_collections, cluster_shards, peer_pairs,
    ),
    st.builds(
        AddReplica, collection=cluster_collections, shard_id=cluster_shards, peer_id=cluster_peers,
        state=st.sampled_from(["Active", "Partial", "Dead"]),
    ),
    st.builds(RemoveReplica, collection=cluster_collections, shard_id=cluster_shards, peer_id=cluster_peers),
    st.builds(
        SetReplicaState, collection=cluster_collections, shard_id=cluster_shards, peer_id=st.integers(0, 3),
        state=st.sampled_from(["Active", "Dead", "Partial"]),
    ),
    st.builds(
        CreateShardKey,
        collection=cluster_collections,
        shard_key=st.sampled_from(["k", 1, "1"]),
        shards=st.dictionaries(
            cluster_shards, st.lists(cluster_peers, min_size=1, max_size=2, unique=True).map(tuple),
            min_size=1, max_size=2,
        ),
    ),
    st.builds(DropShardKey, collection=cluster_collections, shard_key=st.sampled_from(["k", 1, "1"])),
    st.builds(RemovePeer, peer_id=cluster_peers, force=st.booleans()),
    st.builds(AddPeer, peer_id=cluster_peers, uri=st.just("u")),
)


def _seeded_cluster() -> ClusterState:
    cluster = ClusterState()
    for peer in range(4):
        cluster.apply(AddPeer(peer, f"u{peer}"))
    cluster.apply(CreateCollection("auto", {"params": {"shard_number": 3}}, ((0, 1), (1, 2), (2, 3))))
    cluster.apply(CreateCollection("custom", {"params": {"sharding_method": "custom"}}, ()))
    return cluster


def _draw_cluster_operation(data: st.DataObject, cluster: ClusterState):
    transfers = [(name, t) for name in ("auto", "custom") for t in cluster.transfers_of(name)]
    if transfers and data.draw(st.booleans()):
        # End a transfer in progress (random ones rarely match an existing key).
        name, transfer = data.draw(st.sampled_from(transfers))
        cls = data.draw(st.sampled_from([FinishTransfer, AbortTransfer]))
        return cls(name, transfer.shard_id, transfer.from_peer, transfer.to_peer)
    return data.draw(cluster_operations)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_property_cluster_operations_keep_invariants(data) -> None:
    leader, follower = _seeded_cluster(), _seeded_cluster()
    for _ in range(data.draw(st.integers(0, 30))):
        op = _draw_cluster_operation(data, leader)
        before = leader.digest()
        try:
            result = ("ok", leader.apply(op))
        except (AlreadyExists, BadInput, NotFound) as error:
            result = ("err", error.message)
            assert leader.digest() == before
        try:
            replayed = ("ok", follower.apply(decode(encode(op))))
        except (AlreadyExists, BadInput, NotFound) as error:
            replayed = ("err", error.message)
        assert replayed == result
        assert follower.digest() == leader.digest()
        _check_invariants(leader)
        for meta in leader.collections.values():
            for transfer in meta.transfers:
                # The target holds a replica during the whole transfer (Partial unless reset).
                assert transfer.to_peer in meta.shards[transfer.shard_id]
    restored = ClusterState.from_json(json.loads(json.dumps(leader.to_json())))
    assert restored.digest() == leader.digest()
