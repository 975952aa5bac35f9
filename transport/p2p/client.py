"""Client side of the p2p API: call another node's ShardService / PeerService.

One :class:`PeerClient` serves the whole node. It keeps one grpc.aio channel
per peer, opened on first use from the running event loop. Every call has a
deadline (``timeout``, 10 s unless given) and raises only
:class:`DomainError`: the error the peer raised, rebuilt as the same class, or
:class:`ServiceUnavailable` when the peer cannot be reached in time.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Sequence

import grpc
import orjson

from consensus.errors import BadInput, DomainError, InternalError, ServiceUnavailable
from proto import internal_pb2 as pb
from proto import internal_pb2_grpc as pb_grpc
from shards import wire
from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector
from transport.p2p import ERROR_CLASSES, ERROR_KIND_KEY, MAX_MESSAGE_BYTES

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
"""Seconds a call may take before the peer counts as unreachable."""

CHANNEL_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Peers are on the cluster network; an http_proxy in the environment must not
    # capture node-to-node traffic.
    ("grpc.enable_http_proxy", 0),
    # A restarted peer should be reachable again within a second, not after gRPC's
    # default exponential backoff of up to two minutes.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)

# Transport failures (no domain error attached) that mean "cannot reach the peer now".
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)


def target_of(uri: str) -> str:
    """The gRPC target of a peer uri: ``http://host:port/`` -> ``host:port``.

    The scheme is dropped: the p2p port speaks plain (insecure) HTTP/2.
    """
    rest = uri.split("://", 1)[1] if "://" in uri else uri
    rest = rest.split("/", 1)[0]
    if not rest:
        raise BadInput(f"peer uri {uri!r} has no host")
    return rest


@dataclass
class _Peer:
    channel: grpc.aio.Channel
    shards: pb_grpc.ShardServiceStub
    peers: pb_grpc.PeerServiceStub
    loop: asyncio.AbstractEventLoop


class PeerClient:
    """Calls other nodes over the p2p port; one lazily opened channel per peer uri.

    Must be used from one event loop (the node's); a channel opened on a loop that
    is no longer the running one is replaced transparently.
    """

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._peers: dict[str, _Peer] = {}

    # ------------------------------------------------------------------ shard service

    async def update(
        self,
        peer: str,
        collection: str,
        shard_id: int,
        op: UpdateOperation,
        op_num: int | None = None,
        forward: bool = False,
        *,
        timeout: float | None = None,
    ) -> int:
        """Apply ``op`` on ``peer``'s replica (or, with ``forward``, let it coordinate);
        returns the operation number used."""
        if op_num is not None and op_num < 1:
            raise BadInput(f"operation numbers start at 1, got {op_num}")
        request = pb.UpdateRequest(
            collection=collection,
            shard_id=shard_id,
            operation=wire.encode_operation(op),
            op_num=op_num or 0,
            forward=forward,
        )
        reply = await self._call(peer, "update", lambda p: p.shards.Update, request, timeout)
        return reply.operation_id

    async def search(
        self, peer: str, collection: str, shard_id: int, request: SearchRequest, *, timeout: float | None = None
    ) -> list[ScoredPoint]:
        read = pb.ShardRead(collection=collection, shard_id=shard_id, request=wire.encode_search(request))
        reply = await self._call(peer, "search", lambda p: p.shards.Search, read, timeout)
        return wire.decode_scored(reply.result)

    async def sparse_stats(
        self,
        peer: str,
        collection: str,
        shard_id: int,
        vector_name: str,
        indices: list[int],
        *,
        timeout: float | None = None,
    ) -> tuple[int, dict[int, int]]:
        """IDF statistics of a sparse vector in a shard replica on ``peer``."""
        payload = wire.encode_sparse_stats_request(vector_name, indices)
        read = pb.ShardRead(collection=collection, shard_id=shard_id, request=payload)
        reply = await self._call(peer, "sparse stats", lambda p: p.shards.SparseStats, read, timeout)
        return wire.decode_sparse_stats(reply.result)

    async def scroll(
        self, peer: str, collection: str, shard_id: int, request: ScrollRequest, *, timeout: float | None = None
    ) -> list[Record]:
        read = pb.ShardRead(collection=collection, shard_id=shard_id, request=wire.encode_scroll(request))
        reply = await self._call(peer, "scroll", lambda p: p.shards.Scroll, read, timeout)
        return wire.decode_records(reply.result)

    async def count(
        self, peer: str, collection: str, shard_id: int, request: CountRequest, *, timeout: float | None = None
    ) -> int:
        read = pb.ShardRead(collection=collection, shard_id=shard_id, request=wire.encode_count(request))
        reply = await self._call(peer, "count", lambda p: p.shards.Count, read, timeout)
        return wire.decode_int(reply.result)

    async def retrieve(
        self,
        peer: str,
        collection: str,
        shard_id: int,
        ids: Sequence[PointId],
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
        *,
        timeout: float | None = None,
    ) -> list[Record]:
        body = wire.encode_retrieve(ids, with_payload, with_vector)
        read = pb.ShardRead(collection=collection, shard_id=shard_id, request=body)
        reply = await self._call(peer, "retrieve", lambda p: p.shards.Retrieve, read, timeout)
        return wire.decode_records(reply.result)

    async def transfer_batch(
        self,
        peer: str,
        collection: str,
        shard_id: int,
        records: Sequence[Record],
        last: bool,
        *,
        timeout: float | None = None,
    ) -> None:
        """Send one batch of a shard transfer; ``peer`` upserts it into its replica."""
        request = pb.TransferBatchRequest(
            collection=collection, shard_id=shard_id, records=wire.encode_records(records), last=last
        )
        await self._call(peer, "transfer batch", lambda p: p.shards.TransferBatch, request, timeout)

    # ------------------------------------------------------------------ peer service

    async def join(
        self, peer: str, peer_id: int, uri: str, raft_address: str, *, timeout: float | None = None
    ) -> dict:
        """Ask ``peer`` to admit this node (``peer_id`` at ``uri``); returns its JSON answer."""
        request = pb.JoinRequest(peer_id=peer_id, uri=uri, raft_address=raft_address)
        reply = await self._call(peer, "join", lambda p: p.peers.Join, request, timeout)
        return _json_object(reply.members_json, peer, "join reply")

    async def health(self, peer: str, *, timeout: float | None = None) -> int:
        """The peer id of the node at ``peer``; raises ServiceUnavailable if it is down."""
        reply = await self._call(peer, "health", lambda p: p.peers.Health, pb.Empty(), timeout)
        return reply.peer_id

    async def forward(self, peer: str, kind: str, body: dict, *, timeout: float | None = None) -> dict:
        """Send a node-defined request to ``peer``; returns its JSON answer."""
        try:
            encoded = orjson.dumps(body)
        except TypeError as exc:
            raise BadInput(f"forwarded {kind!r} body is not JSON-serializable: {exc}") from exc
        request = pb.ForwardRequest(kind=kind, body=encoded)
        reply = await self._call(peer, f"forward {kind!r}", lambda p: p.peers.Forward, request, timeout)
        return _json_object(reply.body, peer, f"forwarded {kind!r} reply")

    # ------------------------------------------------------------------ channels

    async def forget(self, peer: str) -> None:
        """Close the channel to ``peer`` (e.g. after it left the cluster)."""
        entry = self._peers.pop(peer, None)
        if entry is not None:
            await _close(entry)

    async def close(self) -> None:
        """Close every channel; the client may still be used afterwards (reopens lazily)."""
        entries, self._peers = list(self._peers.values()), {}
        for entry in entries:
            await _close(entry)

    def _peer(self, peer: str) -> _Peer:
        loop = asyncio.get_running_loop()
        entry = self._peers.get(peer)
        if entry is not None and entry.loop is loop:
            return entry
        # A channel belongs to the loop it was made on; one from an old loop is unusable.
        channel = grpc.aio.insecure_channel(target_of(peer), options=CHANNEL_OPTIONS)
        entry = _Peer(channel, pb_grpc.ShardServiceStub(channel), pb_grpc.PeerServiceStub(channel), loop)
        self._peers[peer] = entry
        return entry

    async def _call(self, peer: str, what: str, method: Any, request: Any, timeout: float | None) -> Any:
        rpc = method(self._peer(peer))
        deadline = self.timeout if timeout is None else timeout
        try:
            return await rpc(request, timeout=deadline)
        except grpc.aio.AioRpcError as exc:
            raise _domain_error(peer, what, exc) from None


async def _close(entry: _Peer) -> None:
    if entry.loop is asyncio.get_running_loop() and not entry.loop.is_closed():
        await entry.channel.close()


def _domain_error(peer: str, what: str, exc: grpc.aio.AioRpcError) -> DomainError:
    """The error to raise for a failed call: the peer's own, or a transport failure."""
    kind = None
    for key, value in exc.trailing_metadata() or ():
        if key == ERROR_KIND_KEY:
            kind = value.decode() if isinstance(value, bytes) else value
    if kind is not None:
        return ERROR_CLASSES.get(kind, InternalError)(exc.details() or "")
    code = exc.code()
    logger.debug("p2p %s to %s failed: %s %s", what, peer, code, exc.details())
    if code in _UNREACHABLE:
        return ServiceUnavailable(f"peer {peer} unreachable: {what}: {code.name}: {exc.details()}")
    return InternalError(f"peer {peer} failed {what}: {code.name}: {exc.details()}")


def _json_object(data: bytes, peer: str, what: str) -> dict:
    try:
        value = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError as exc:
        raise InternalError(f"peer {peer} sent an invalid {what}: {exc}") from exc
    if not isinstance(value, dict):
        raise InternalError(f"peer {peer} sent a {what} that is not a JSON object")
    return value
