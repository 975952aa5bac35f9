"""Scenarios and properties of the deterministic shard placement."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import BadInput
from consensus.operations import AddPeer, CreateCollection, CreateShardKey
from consensus.placement import highest_peer, place_key_shards, place_shards
from consensus.state import ClusterState


def _loads(placement) -> Counter:
    return Counter(peer for peers in placement for peer in peers)


def test_three_shards_two_replicas_on_three_peers() -> None:
    placement = place_shards(3, 2, [1, 2, 3])
    assert placement == ((1, 2), (1, 3), (2, 3))
    assert _loads(placement) == {1: 2, 2: 2, 3: 2}


def test_more_replicas_than_peers_uses_every_peer() -> None:
    assert place_shards(3, 10, [5, 1, 3, 2, 4]) == ((1, 2, 3, 4, 5),) * 3


def test_spreads_over_all_peers_when_there_are_enough() -> None:
    placement = place_shards(3, 2, [1, 2, 3, 4, 5, 6])
    assert sorted(peer for peers in placement for peer in peers) == [1, 2, 3, 4, 5, 6]


def test_single_peer_and_zero_shards() -> None:
    assert place_shards(4, 1, [7]) == ((7,),) * 4
    assert place_shards(0, 2, [1, 2]) == ()


def test_input_order_and_duplicates_do_not_matter() -> None:
    assert place_shards(5, 2, [3, 1, 2, 1]) == place_shards(5, 2, [1, 2, 3])


def test_existing_load_steers_new_replicas_to_idle_peers() -> None:
    assert place_shards(2, 1, [1, 2, 3], existing_load={1: 5, 2: 0, 3: 1}) == ((2,), (3,))
    # Peers missing from the load map count as idle; load of unknown peers is ignored.
    assert place_shards(1, 2, [1, 2, 3], existing_load={1: 2, 9: 0}) == ((2, 3),)


def test_place_key_shards_numbers_shards_from_the_first_id() -> None:
    assert place_key_shards(4, 3, 1, [1, 2]) == {4: (1,), 5: (2,), 6: (1,)}
    with pytest.raises(BadInput):
        place_key_shards(1, 0, 1, [1])
    with pytest.raises(BadInput):
        place_key_shards(-1, 1, 1, [1])


def test_placement_feeds_operations_and_state_load() -> None:
    cluster = ClusterState()
    for peer in (1, 2, 3):
        cluster.apply(AddPeer(peer, f"http://n{peer}"))
    placement = place_shards(2, 1, list(cluster.peers), cluster.replica_counts())
    cluster.apply(CreateCollection("a", {"params": {"shard_number": 2}}, placement))
    cluster.apply(CreateCollection("c", {"params": {"sharding_method": "custom"}}, ()))
    shards = place_key_shards(cluster.next_shard_id("c"), 1, 1, list(cluster.peers), cluster.replica_counts())
    assert shards == {1: (3,)}
    cluster.apply(CreateShardKey("c", "eu", shards))
    assert cluster.replica_counts() == {1: 1, 2: 1, 3: 1}


@pytest.mark.parametrize(
    "args",
    [(1, 1, []), (-1, 1, [1]), (1, 0, [1]), (True, 1, [1]), (1, 1, [-1]), (1, 1, [True]), (1, 1, ["1"])],
)
def test_invalid_arguments_are_rejected(args) -> None:
    with pytest.raises(BadInput):
        place_shards(*args)


def test_highest_peer() -> None:
    replicas = {1: "Active", 5: "Dead", 3: "Active"}
    assert highest_peer(replicas, only_active=True) == 3
    assert highest_peer(replicas, only_active=False) == 5
    assert highest_peer({1: "Partial"}, only_active=True) is None
    assert highest_peer({}, only_active=False) is None


@settings(max_examples=300, deadline=None)
@given(
    shard_number=st.integers(0, 12),
    replication_factor=st.integers(1, 5),
    peers=st.lists(st.integers(0, 50), min_size=1, max_size=7),
)
def test_property_placement_is_valid_balanced_and_deterministic(shard_number, replication_factor, peers) -> None:
    placement = place_shards(shard_number, replication_factor, peers)
    assert placement == place_shards(shard_number, replication_factor, list(reversed(peers)))
    assert len(placement) == shard_number
    copies = min(replication_factor, len(set(peers)))
    for shard in placement:
        assert len(shard) == copies and len(set(shard)) == copies
        assert set(shard) <= set(peers) and list(shard) == sorted(shard)
    if shard_number:
        loads = [_loads(placement).get(peer, 0) for peer in set(peers)]
        assert max(loads) - min(loads) <= 1
