"""Writes while a shard is transferred: the source forwards, the target is lenient,
coordinators include Partial replicas without depending on them."""

from __future__ import annotations

import asyncio

import pytest

from consensus.errors import NotFound, ServiceUnavailable
from shards.collection_config import build_config
from shards.local_shard import LocalShard
from shards.operations import PointSelector, SetPayload, UpsertPoints
from shards.replica_set import ReplicaSet
from shards.types import PayloadSelector, PointStruct, VectorSelector


class FakeReplica:
    def __init__(self, peer_id: int, fail: Exception | None = None) -> None:
        self.peer_id = peer_id
        self.fail = fail
        self.applied: list = []

    async def update(self, op, forward=False, op_num=None, missing_ok=False):
        if self.fail is not None:
            raise self.fail
        self.applied.append((op, missing_ok))
        return len(self.applied)


def replica_set(this_peer: int, replicas: dict[int, str], transfers=(), fakes=None) -> tuple[ReplicaSet, dict]:
    fakes = fakes or {}
    for peer in replicas:
        fakes.setdefault(peer, FakeReplica(peer))
    reported: list[int] = []

    async def report(shard_id: int, peer_id: int) -> None:
        reported.append(peer_id)

    rs = ReplicaSet(0, this_peer, None, remote=lambda peer: fakes[peer], on_replica_failure=report)
    rs._local_replica = fakes[this_peer]  # type: ignore[assignment]
    rs.set_replicas(replicas, transfers)
    fakes["reported"] = reported
    return rs, fakes


OP = SetPayload(selector=PointSelector(ids=(1,)), payload={"a": 1})


def test_source_forwards_direct_writes_to_its_ready_target():
    rs, fakes = replica_set(1, {1: "Active", 2: "Active", 3: "Partial"}, [(1, 3)])
    # Before the target was emptied nothing is forwarded ...
    asyncio.run(rs.update_local(OP))
    assert fakes[3].applied == []
    # ... afterwards every write the source applies, whoever coordinates it, is.
    rs.ready_targets.add(3)
    asyncio.run(rs.update_local(OP))
    assert len(fakes[1].applied) == 2 and len(fakes[3].applied) == 1
    # The transfer going away stops the forwarding.
    rs.set_replicas({1: "Active", 2: "Active", 3: "Active"}, [])
    assert rs.ready_targets == set()


def test_unreachable_target_is_recorded_for_the_transfer_to_abort():
    fakes = {3: FakeReplica(3, ServiceUnavailable("down"))}
    rs, fakes = replica_set(1, {1: "Active", 3: "Partial"}, [(1, 3)], fakes)
    rs.ready_targets.add(3)
    assert asyncio.run(rs.update_local(OP)) == 1  # the write itself succeeds
    assert isinstance(rs.transfer_failures[3], ServiceUnavailable)
    rs.set_replicas({1: "Active"}, [])
    assert rs.transfer_failures == {}


def test_coordinator_writes_partial_replicas_without_counting_or_reporting_them():
    fakes = {3: FakeReplica(3, ServiceUnavailable("not a target yet"))}
    rs, fakes = replica_set(2, {1: "Active", 2: "Active", 3: "Partial"}, [(1, 3)], fakes)
    rs.write_consistency_factor = 2
    asyncio.run(rs.update(OP))
    assert len(fakes[1].applied) == 1 and len(fakes[2].applied) == 1
    assert fakes["reported"] == []
    # A Partial replica that takes the write gets it too.
    fakes[3].fail = None
    asyncio.run(rs.update(OP))
    assert len(fakes[3].applied) == 1


def test_partial_local_replica_applies_leniently():
    rs, fakes = replica_set(3, {1: "Active", 3: "Partial"}, [(1, 3)])
    asyncio.run(rs.update_local(OP))
    assert fakes[3].applied == [(OP, True)]


def test_local_shard_missing_ok_skips_absent_points(tmp_path):
    config = build_config({"vectors": {"size": 2, "distance": "Dot"}})
    shard = LocalShard(str(tmp_path / "shard"), config, {})
    try:
        shard.apply(UpsertPoints(points=(PointStruct(1, {"": [1.0, 0.0]}, {}),)))
        both = SetPayload(selector=PointSelector(ids=(1, 2)), payload={"a": 1})
        with pytest.raises(NotFound):
            shard.apply(both)
        shard.apply(both, missing_ok=True)
        (record,) = shard.retrieve([1, 2], PayloadSelector(), VectorSelector())
        assert record.id == 1 and record.payload == {"a": 1}
    finally:
        shard.close()
