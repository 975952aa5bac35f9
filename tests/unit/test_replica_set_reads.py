"""Read policy of a replica set: local first, retry elsewhere, consistency, fan-out."""

from __future__ import annotations

import asyncio

import pytest

from consensus.errors import BadInput, ServiceUnavailable
from shards.operations import CountRequest
from shards.replica_set import ReplicaSet


class CountingReplica:
    """The other side of the replica interface: answers ``count`` after a delay, or fails."""

    def __init__(self, peer_id: int, answer: int, delay: float = 0.0, fail: Exception | None = None) -> None:
        self.peer_id = peer_id
        self.answer = answer
        self.delay = delay
        self.fail = fail
        self.calls = 0

    async def count(self, request: CountRequest) -> int:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return self.answer


def make(replicas: dict[int, CountingReplica], this_peer: int = 1, fan_out: int = 0) -> ReplicaSet:
    rs = ReplicaSet(0, this_peer, None, remote=lambda peer: replicas[peer])
    rs._local_replica = replicas.get(this_peer)  # type: ignore[assignment]
    rs.set_replicas({peer: "Active" for peer in replicas})
    rs.read_fan_out_factor = fan_out
    return rs


def run(coro):
    return asyncio.run(coro)


def test_local_replica_answers_first():
    replicas = {1: CountingReplica(1, 10), 2: CountingReplica(2, 20), 3: CountingReplica(3, 30)}
    assert run(make(replicas).count(CountRequest())) == 10
    assert (replicas[2].calls, replicas[3].calls) == (0, 0)


def test_unreachable_replica_is_retried_on_another():
    replicas = {1: CountingReplica(1, 10, fail=ServiceUnavailable("down")), 2: CountingReplica(2, 20)}
    assert run(make(replicas).count(CountRequest())) == 20


def test_bad_input_is_not_retried():
    replicas = {1: CountingReplica(1, 10, fail=BadInput("no")), 2: CountingReplica(2, 20)}
    with pytest.raises(BadInput):
        run(make(replicas).count(CountRequest()))
    assert replicas[2].calls == 0


def test_all_replicas_down_fails_cleanly():
    replicas = {p: CountingReplica(p, p, fail=ServiceUnavailable("down")) for p in (1, 2)}
    with pytest.raises(ServiceUnavailable):
        run(make(replicas).count(CountRequest()))


def test_consistency_all_asks_every_replica():
    replicas = {1: CountingReplica(1, 10), 2: CountingReplica(2, 20), 3: CountingReplica(3, 30)}
    assert run(make(replicas).count(CountRequest(), "all")) == 30  # counts merge to the largest
    assert all(r.calls == 1 for r in replicas.values())


def test_consistency_all_fails_when_one_replica_is_down():
    replicas = {1: CountingReplica(1, 10), 2: CountingReplica(2, 20, fail=ServiceUnavailable("down"))}
    with pytest.raises(ServiceUnavailable):
        run(make(replicas).count(CountRequest(), "all"))


def test_majority_needs_more_than_half():
    replicas = {1: CountingReplica(1, 10), 2: CountingReplica(2, 20), 3: CountingReplica(3, 30)}
    run(make(replicas).count(CountRequest(), "majority"))
    assert sum(r.calls for r in replicas.values()) == 2


def test_fan_out_takes_the_first_answer_of_several_replicas():
    slow_local = CountingReplica(1, 10, delay=5.0)
    replicas = {1: slow_local, 2: CountingReplica(2, 20)}
    started = asyncio.run(_timed(make(replicas, fan_out=1).count(CountRequest())))
    answer, seconds = started
    assert answer == 20 and seconds < 2.0


async def _timed(coro):
    loop = asyncio.get_running_loop()
    start = loop.time()
    answer = await coro
    return answer, loop.time() - start
