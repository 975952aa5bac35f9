"""Scenarios for the metadata operations encoding and the ClusterState machine."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
    RemovePeer,
    RenameAlias,
    SetReplicaState,
    UpdateCollection,
    decode,
    encode,
)
from consensus.state import ClusterState

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
    state.apply(RemovePeer(2))
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
    SetReplicaState("books", 1, 3, "Listener"),
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
    st.builds(RemovePeer, peer_id=peer_ids),
    st.builds(
        SetReplicaState,
        collection=names,
        shard_id=st.integers(0, 4),
        peer_id=peer_ids,
        state=st.sampled_from(sorted(REPLICA_STATES)),
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
    st.builds(RemovePeer, peer_id=small_peers),
    st.builds(
        SetReplicaState, collection=small_names, shard_id=st.integers(0, 2), peer_id=small_peers,
        state=st.sampled_from(sorted(REPLICA_STATES)),
    ),
)


def _check_invariants(cluster: ClusterState) -> None:
    for alias, target in cluster.aliases.items():
        assert target in cluster.collections, "aliases point to existing collections"
        assert alias not in cluster.collections, "alias and collection names never clash"
    for name, meta in cluster.collections.items():
        assert meta.name == name and meta.version >= 1
        assert sorted(meta.shards) == list(range(meta.shard_number))


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
