"""The p2p gRPC server and client on loopback, with fake hosts on the serving side.

The fakes stand in for the node on the far side of the wire; the server, the
client, the proto and the wire encoding under test are all real.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from typing import Any, Awaitable, Iterator, Sequence, TypeVar

import grpc
import numpy as np
import pytest

from consensus.errors import (
    BadInput,
    DomainError,
    InternalError,
    NotFound,
    ServiceUnavailable,
)
from proto import internal_pb2 as pb
from proto import internal_pb2_grpc as pb_grpc
from shards.filters import Filter, parse_filter
from shards.operations import CountRequest, OrderBy, PointSelector, ScrollRequest, SearchRequest, SetPayload, UpsertPoints
from shards.types import PayloadSelector, PointStruct, Record, ScoredPoint, SparseVector, VectorSelector
from transport.p2p import ERROR_CLASSES, ERROR_KIND_KEY
from transport.p2p.client import PeerClient, target_of
from transport.p2p.server import P2PServer

T = TypeVar("T")


def assert_same(left: Any, right: Any) -> None:
    """Deep equality with numpy contents and exact types (int ids stay ints)."""
    assert type(left) is type(right), (left, right)
    if isinstance(left, np.ndarray):
        assert left.dtype == right.dtype and np.array_equal(left, right)
    elif dataclasses.is_dataclass(left) and not isinstance(left, (SparseVector, Filter)):
        for f in dataclasses.fields(left):
            assert_same(getattr(left, f.name), getattr(right, f.name))
    elif isinstance(left, dict):
        assert list(left) == list(right)
        for key in left:
            assert_same(left[key], right[key])
    elif isinstance(left, (list, tuple)):
        assert len(left) == len(right)
        for a, b in zip(left, right):
            assert_same(a, b)
    else:
        assert left == right

RECORDS = [
    Record(1, 3, {"": np.array([0.5, 1.5], dtype=np.float32)}, {"city": "Berlin"}),
    Record("0b6f3f8e-0f4b-4a8e-9c39-2f0c8c1d7a11", 4, None, None, order_value=2.5),
    Record(2, 5, {"s": SparseVector(np.array([1, 7], dtype=np.uint32), np.array([0.1, 0.2], dtype=np.float32))}, {}),
]
HITS = [
    ScoredPoint(9, 1, 0.75, {"a": [1, 2]}, {"m": np.ones((2, 3), dtype=np.float32)}),
    ScoredPoint("6c1b4d1e-8a4f-4f0e-8f8b-7b0b0d6c2a10", 2, -0.25),
]


class FakeShardHost:
    """Records what arrived; answers canned results or raises ``error``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.error: BaseException | None = None
        self.delay = 0.0

    async def _enter(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error

    async def update(self, collection: str, shard_id: int, op: Any, op_num: int | None, forward: bool) -> int:
        await self._enter("update", collection, shard_id, op, op_num, forward)
        return 41 if op_num is None else op_num

    async def search(self, collection: str, shard_id: int, request: SearchRequest) -> list[ScoredPoint]:
        await self._enter("search", collection, shard_id, request)
        return HITS

    async def scroll(self, collection: str, shard_id: int, request: ScrollRequest) -> list[Record]:
        await self._enter("scroll", collection, shard_id, request)
        return RECORDS

    async def count(self, collection: str, shard_id: int, request: CountRequest) -> int:
        await self._enter("count", collection, shard_id, request)
        return 12345

    async def retrieve(self, collection: str, shard_id: int, ids: Sequence, with_payload: PayloadSelector,
                       with_vector: VectorSelector) -> list[Record]:
        await self._enter("retrieve", collection, shard_id, ids, with_payload, with_vector)
        return RECORDS[:1]

    async def receive_transfer(self, collection: str, shard_id: int, records: list[Record], last: bool) -> None:
        await self._enter("receive_transfer", collection, shard_id, records, last)


class FakePeerHost:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple]] = []
        self.error: BaseException | None = None

    async def join(self, peer_id: int, uri: str, raft_address: str) -> dict:
        self.calls.append(("join", (peer_id, uri, raft_address)))
        if self.error is not None:
            raise self.error
        return {"peers": {str(peer_id): uri}, "leader": 1}

    def peer_id(self) -> int:  # a plain method: the server accepts sync or async
        return 2**63 + 5

    async def forward(self, kind: str, body: dict) -> dict:
        self.calls.append(("forward", (kind, body)))
        if self.error is not None:
            raise self.error
        return {"kind": kind, "echo": body}


class Harness:
    """One event loop running a real server and a real client."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.shards = FakeShardHost()
        self.peers = FakePeerHost()
        self.server = P2PServer("127.0.0.1", 0, self.shards, self.peers)
        self.run(self.server.start())
        self.uri = f"http://127.0.0.1:{self.server.port}"
        self.client = PeerClient(timeout=5.0)

    def run(self, coro: Awaitable[T]) -> T:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self.run(self.client.close())
        self.run(self.server.stop(0))
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.close()


@pytest.fixture(autouse=True)
def reset(harness: Harness) -> None:
    harness.shards.calls.clear()
    harness.shards.error = None
    harness.shards.delay = 0.0
    harness.peers.calls.clear()
    harness.peers.error = None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- data round-trips


def test_update_carries_op_number_and_forward_flag(harness: Harness) -> None:
    op = UpsertPoints(points=(PointStruct(7, {"": np.arange(4, dtype=np.float32)}, {"k": "v"}),))
    assert harness.run(harness.client.update(harness.uri, "docs", 3, op)) == 41
    assert harness.run(harness.client.update(harness.uri, "docs", 3, op, op_num=99, forward=True)) == 99
    (name1, args1), (name2, args2) = harness.shards.calls
    assert (args1[0], args1[1], args1[3], args1[4]) == ("docs", 3, None, False)
    assert (args2[3], args2[4]) == (99, True)
    assert_same(op, args1[2])


def test_update_rejects_non_positive_op_number(harness: Harness) -> None:
    with pytest.raises(BadInput):
        harness.run(harness.client.update(harness.uri, "docs", 0, SetPayload(PointSelector(ids=(1,)), {}), op_num=0))


def test_search_round_trips_request_and_hits(harness: Harness) -> None:
    request = SearchRequest(
        "img", np.array([1.0, 2.0], dtype=np.float32), limit=3, offset=1,
        filter=parse_filter({"must": [{"key": "a", "match": {"value": 1}}]}), score_threshold=0.1,
        with_payload=PayloadSelector(include=("a",)), with_vector=VectorSelector(True, ("img",)), hnsw_ef=64,
        exact=True,
    )
    hits = harness.run(harness.client.search(harness.uri, "docs", 1, request))
    assert_same(HITS, hits)
    assert_same(("search", ("docs", 1, request)), harness.shards.calls[0])


def test_scroll_count_retrieve(harness: Harness) -> None:
    scroll = ScrollRequest(limit=5, offset="0b6f3f8e-0f4b-4a8e-9c39-2f0c8c1d7a11", order_by=OrderBy("n", "desc", 3.0))
    assert_same(RECORDS, harness.run(harness.client.scroll(harness.uri, "c", 2, scroll)))
    count = CountRequest(parse_filter({"must": [{"has_id": [1, 2]}]}), exact=False)
    assert harness.run(harness.client.count(harness.uri, "c", 2, count)) == 12345
    records = harness.run(
        harness.client.retrieve(harness.uri, "c", 2, [1, "0b6f3f8e-0f4b-4a8e-9c39-2f0c8c1d7a11"],
                                PayloadSelector(enabled=False), VectorSelector(enabled=True))
    )
    assert_same(RECORDS[:1], records)
    names = [name for name, _ in harness.shards.calls]
    assert names == ["scroll", "count", "retrieve"]
    assert_same(scroll, harness.shards.calls[0][1][2])
    assert_same(count, harness.shards.calls[1][1][2])
    assert_same(
        ("c", 2, (1, "0b6f3f8e-0f4b-4a8e-9c39-2f0c8c1d7a11"), PayloadSelector(enabled=False), VectorSelector(True)),
        harness.shards.calls[2][1],
    )


def test_transfer_batch_delivers_records(harness: Harness) -> None:
    harness.run(harness.client.transfer_batch(harness.uri, "c", 4, RECORDS, last=True))
    assert_same([("receive_transfer", ("c", 4, RECORDS, True))], harness.shards.calls)


def test_messages_beyond_grpc_default_limit(harness: Harness) -> None:
    # ~20 MB: well past gRPC's 4 MB default, as shard transfer batches can be.
    big = [Record(i, 1, {"": np.full(1024, i, dtype=np.float32)}, {"i": i}) for i in range(5000)]
    harness.run(harness.client.transfer_batch(harness.uri, "c", 0, big, last=False))
    assert_same(big, harness.shards.calls[0][1][2])


def test_peer_service(harness: Harness) -> None:
    reply = harness.run(harness.client.join(harness.uri, 17, "http://10.0.0.2:6335", "10.0.0.2:6435"))
    assert reply == {"peers": {"17": "http://10.0.0.2:6335"}, "leader": 1}
    assert harness.peers.calls == [("join", (17, "http://10.0.0.2:6335", "10.0.0.2:6435"))]
    assert harness.run(harness.client.health(harness.uri)) == 2**63 + 5
    body = {"collection": "docs", "n": [1, 2.5, None]}
    assert harness.run(harness.client.forward(harness.uri, "propose", body)) == {"kind": "propose", "echo": body}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("cls", sorted(ERROR_CLASSES.values(), key=lambda c: c.__name__))
def test_each_domain_error_comes_back_as_itself(harness: Harness, cls: type[DomainError]) -> None:
    message = f"{cls.__name__}: collection `dócs` — shard 3 said no"
    harness.shards.error = cls(message)
    with pytest.raises(cls) as caught:
        harness.run(harness.client.count(harness.uri, "dócs", 3, CountRequest()))
    assert type(caught.value) is cls and caught.value.message == message
    harness.peers.error = cls(message)
    with pytest.raises(cls) as caught:
        harness.run(harness.client.forward(harness.uri, "x", {}))
    assert type(caught.value) is cls and caught.value.message == message


def test_domain_error_subclass_comes_back_as_its_known_base(harness: Harness) -> None:
    class CollectionMissing(NotFound):
        pass

    harness.shards.error = CollectionMissing("Collection `x` doesn't exist!")
    with pytest.raises(NotFound, match="doesn't exist") as caught:
        harness.run(harness.client.scroll(harness.uri, "x", 0, ScrollRequest()))
    assert type(caught.value) is NotFound


def test_status_codes_on_the_wire(harness: Harness) -> None:
    async def call() -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{harness.server.port}") as channel:
            stub = pb_grpc.ShardServiceStub(channel)
            try:
                await stub.Count(pb.ShardRead(collection="c", shard_id=0, request=b"\x01garbage"))
            except grpc.aio.AioRpcError as exc:
                return exc
        raise AssertionError("call succeeded")

    exc = harness.run(call())
    assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (ERROR_KIND_KEY, "BadInput") in tuple(exc.trailing_metadata())
    assert "wire" in exc.details()


def test_a_bug_on_the_server_is_internal_error(harness: Harness) -> None:
    harness.shards.error = ZeroDivisionError("oops")
    with pytest.raises(InternalError, match="ZeroDivisionError"):
        harness.run(harness.client.count(harness.uri, "c", 0, CountRequest()))
    # and the server keeps serving
    harness.shards.error = None
    assert harness.run(harness.client.count(harness.uri, "c", 0, CountRequest())) == 12345


def test_slow_peer_is_unavailable_after_the_timeout(harness: Harness) -> None:
    harness.shards.delay = 2.0
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable, match="unreachable"):
        harness.run(harness.client.count(harness.uri, "c", 0, CountRequest(), timeout=0.2))
    assert time.monotonic() - start < 1.5


def test_nobody_listening_is_unavailable_quickly(harness: Harness) -> None:
    uri = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=f"peer {uri} unreachable"):
        harness.run(harness.client.health(uri))
    assert time.monotonic() - start < 2.0


def test_stopped_server_is_unavailable_then_recovers_on_restart(harness: Harness) -> None:
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = P2PServer("127.0.0.1", port, harness.shards, harness.peers)
    harness.run(server.start())
    assert harness.run(harness.client.health(uri)) == 2**63 + 5
    harness.run(server.stop(0))
    start = time.monotonic()
    with pytest.raises(ServiceUnavailable):
        harness.run(harness.client.health(uri))
    assert time.monotonic() - start < 2.0

    server = P2PServer("127.0.0.1", port, harness.shards, harness.peers)
    harness.run(server.start())
    try:
        deadline = time.monotonic() + 5.0
        while True:
            try:
                assert harness.run(harness.client.health(uri, timeout=1.0)) == 2**63 + 5
                break
            except ServiceUnavailable:
                if time.monotonic() > deadline:
                    raise
                harness.run(asyncio.sleep(0.05))
    finally:
        harness.run(server.stop(0))
        harness.run(harness.client.forget(uri))


def test_port_in_use_fails_to_start(harness: Harness) -> None:
    second = P2PServer("127.0.0.1", harness.server.port, harness.shards, harness.peers)
    with pytest.raises(OSError):
        harness.run(second.start())


def test_start_and_stop_are_idempotent() -> None:
    async def scenario() -> None:
        server = P2PServer("127.0.0.1", 0, FakeShardHost(), FakePeerHost())
        await server.start()
        port = server.port
        await server.start()
        assert server.port == port
        client = PeerClient()
        assert await client.health(f"http://127.0.0.1:{port}") == 2**63 + 5
        await client.close()
        await server.stop()
        await server.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "uri,target",
    [
        ("http://10.0.0.1:6335", "10.0.0.1:6335"),
        ("http://node-2:6335/", "node-2:6335"),
        ("https://[::1]:6335", "[::1]:6335"),
        ("node-3:6335", "node-3:6335"),
    ],
)
def test_target_of(uri: str, target: str) -> None:
    assert target_of(uri) == target
