"""The p2p gRPC server: decodes internal calls and hands them to the node.

The server holds no rules of its own. Each RPC decodes its request with
``shards.wire``, awaits one method of the host object the node injected
(:class:`ShardHost` for shard traffic, :class:`PeerHost` for membership and
forwarded requests) and encodes the answer. Errors follow the contract in
``transport/p2p/__init__.py``.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Awaitable, Callable, Protocol, Sequence, TypeVar

import grpc
import orjson

from consensus.errors import BadInput, DomainError, InternalError
from proto import internal_pb2 as pb
from proto import internal_pb2_grpc as pb_grpc
from shards import wire
from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector
from transport.p2p import ERROR_KIND_KEY, MAX_MESSAGE_BYTES, kind_of, status_of

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ShardHost(Protocol):
    """What the node does with shard traffic from other peers (its local replicas)."""

    async def update(
        self, collection: str, shard_id: int, op: UpdateOperation, op_num: int | None, forward: bool
    ) -> int:
        """Apply ``op`` to the shard; ``op_num`` None lets the replica number it.

        ``forward`` True asks this node to coordinate the write across the shard's
        replica set (the sender is not a replica leader); False applies it to the
        local replica only. Returns the operation number used.
        """
        ...

    async def search(self, collection: str, shard_id: int, request: SearchRequest) -> list[ScoredPoint]: ...

    async def scroll(self, collection: str, shard_id: int, request: ScrollRequest) -> list[Record]: ...

    async def count(self, collection: str, shard_id: int, request: CountRequest) -> int: ...

    async def retrieve(
        self,
        collection: str,
        shard_id: int,
        ids: Sequence[PointId],
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
    ) -> list[Record]: ...

    async def sparse_stats(
        self, collection: str, shard_id: int, vector_name: str, indices: list[int]
    ) -> tuple[int, dict[int, int]]: ...

    async def receive_transfer(self, collection: str, shard_id: int, records: list[Record], last: bool) -> None:
        """Upsert one transfer batch into the local replica, keeping ids, payloads,
        vectors and versions; ``last`` marks the end of the transfer."""
        ...


class PeerHost(Protocol):
    """What the node does with membership and node-defined requests."""

    async def join(self, peer_id: int, uri: str, raft_address: str) -> dict:
        """Admit a peer; the returned JSON object is sent back as is."""
        ...

    async def peer_id(self) -> int:
        """This node's peer id (a plain ``def`` returning an int is accepted too)."""
        ...

    async def forward(self, kind: str, body: dict) -> dict:
        """Handle a node-defined request (e.g. a proposal sent to the Raft leader)."""
        ...


async def _answer(context: grpc.aio.ServicerContext, what: str, work: Callable[[], Awaitable[T]]) -> T:
    """Run one handler body; domain errors and bugs become gRPC statuses."""
    try:
        return await work()
    except DomainError as exc:
        code, kind, message = status_of(exc), kind_of(exc), exc.message
        logger.debug("p2p %s failed: %s: %s", what, kind, message)
    except Exception as exc:  # a bug in this node: report it, keep serving
        logger.exception("p2p %s failed unexpectedly", what)
        code, kind, message = grpc.StatusCode.INTERNAL, InternalError.__name__, f"{what} failed: {exc!r}"
    await context.abort(code, message, ((ERROR_KIND_KEY, kind),))
    raise AssertionError("unreachable: abort raises")


class _ShardServicer(pb_grpc.ShardServiceServicer):
    def __init__(self, host: ShardHost) -> None:
        self._host = host

    async def Update(self, request: pb.UpdateRequest, context: grpc.aio.ServicerContext) -> pb.UpdateReply:
        async def work() -> pb.UpdateReply:
            op = wire.decode_operation(request.operation)
            op_num = request.op_num if request.op_num > 0 else None
            number = await self._host.update(request.collection, request.shard_id, op, op_num, request.forward)
            return pb.UpdateReply(operation_id=number)

        return await _answer(context, "update", work)

    async def Search(self, request: pb.ShardRead, context: grpc.aio.ServicerContext) -> pb.ShardReadReply:
        async def work() -> pb.ShardReadReply:
            query = wire.decode_search(request.request)
            hits = await self._host.search(request.collection, request.shard_id, query)
            return pb.ShardReadReply(result=wire.encode_scored(hits))

        return await _answer(context, "search", work)

    async def Scroll(self, request: pb.ShardRead, context: grpc.aio.ServicerContext) -> pb.ShardReadReply:
        async def work() -> pb.ShardReadReply:
            scroll = wire.decode_scroll(request.request)
            records = await self._host.scroll(request.collection, request.shard_id, scroll)
            return pb.ShardReadReply(result=wire.encode_records(records))

        return await _answer(context, "scroll", work)

    async def Count(self, request: pb.ShardRead, context: grpc.aio.ServicerContext) -> pb.ShardReadReply:
        async def work() -> pb.ShardReadReply:
            count = wire.decode_count(request.request)
            total = await self._host.count(request.collection, request.shard_id, count)
            return pb.ShardReadReply(result=wire.encode_int(total))

        return await _answer(context, "count", work)

    async def Retrieve(self, request: pb.ShardRead, context: grpc.aio.ServicerContext) -> pb.ShardReadReply:
        async def work() -> pb.ShardReadReply:
            args = wire.decode_retrieve(request.request)
            records = await self._host.retrieve(
                request.collection, request.shard_id, args.ids, args.with_payload, args.with_vector
            )
            return pb.ShardReadReply(result=wire.encode_records(records))

        return await _answer(context, "retrieve", work)

    async def SparseStats(self, request: pb.ShardRead, context: grpc.aio.ServicerContext) -> pb.ShardReadReply:
        async def work() -> pb.ShardReadReply:
            name, indices = wire.decode_sparse_stats_request(request.request)
            stats = await self._host.sparse_stats(request.collection, request.shard_id, name, indices)
            return pb.ShardReadReply(result=wire.encode_sparse_stats(stats))

        return await _answer(context, "sparse stats", work)

    async def TransferBatch(
        self, request: pb.TransferBatchRequest, context: grpc.aio.ServicerContext
    ) -> pb.Empty:
        async def work() -> pb.Empty:
            records = wire.decode_records(request.records)
            await self._host.receive_transfer(request.collection, request.shard_id, records, request.last)
            return pb.Empty()

        return await _answer(context, "transfer batch", work)


def _json_object(data: bytes, what: str) -> dict:
    try:
        value = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError as exc:
        raise BadInput(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise BadInput(f"{what} must be a JSON object")
    return value


def _dump_object(value: Any, what: str) -> bytes:
    if not isinstance(value, dict):
        raise InternalError(f"{what} must be a JSON object, the host returned {type(value).__name__}")
    return orjson.dumps(value)


class _PeerServicer(pb_grpc.PeerServiceServicer):
    def __init__(self, host: PeerHost) -> None:
        self._host = host

    async def Join(self, request: pb.JoinRequest, context: grpc.aio.ServicerContext) -> pb.JoinReply:
        async def work() -> pb.JoinReply:
            members = await self._host.join(request.peer_id, request.uri, request.raft_address)
            return pb.JoinReply(members_json=_dump_object(members, "join reply"))

        return await _answer(context, "join", work)

    async def Health(self, request: pb.Empty, context: grpc.aio.ServicerContext) -> pb.HealthReply:
        async def work() -> pb.HealthReply:
            peer_id = self._host.peer_id()
            if inspect.isawaitable(peer_id):
                peer_id = await peer_id
            return pb.HealthReply(peer_id=peer_id)

        return await _answer(context, "health", work)

    async def Forward(self, request: pb.ForwardRequest, context: grpc.aio.ServicerContext) -> pb.ForwardReply:
        async def work() -> pb.ForwardReply:
            body = _json_object(request.body, f"forwarded {request.kind!r} body")
            answer = await self._host.forward(request.kind, body)
            return pb.ForwardReply(body=_dump_object(answer, f"forwarded {request.kind!r} reply"))

        return await _answer(context, f"forward {request.kind!r}", work)


SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # Without this, gRPC sets SO_REUSEPORT and a second node on the same port would
    # silently share it instead of failing to start.
    ("grpc.so_reuseport", 0),
)


class P2PServer:
    """The internal gRPC server of one node (``ShardService`` and ``PeerService``).

    ``start`` and ``stop`` are idempotent and must run on the node's event loop,
    which then runs every handler. ``port`` is the bound port (useful with 0).
    """

    def __init__(self, host: str, port: int, shard_host: ShardHost, peer_host: PeerHost) -> None:
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._shard_host = shard_host
        self._peer_host = peer_host
        self._server: grpc.aio.Server | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (the requested one until started)."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def address(self) -> str:
        """``host:port`` as a client would dial it."""
        return f"{_bracket(self.host)}:{self.port}"

    async def start(self) -> None:
        if self._server is not None:
            return
        server = grpc.aio.server(options=SERVER_OPTIONS)
        pb_grpc.add_ShardServiceServicer_to_server(_ShardServicer(self._shard_host), server)
        pb_grpc.add_PeerServiceServicer_to_server(_PeerServicer(self._peer_host), server)
        target = f"{_bracket(self.host)}:{self._requested_port}"
        try:
            bound = server.add_insecure_port(target)
        except RuntimeError as exc:
            raise OSError(f"cannot listen for p2p on {target}: {exc}") from exc
        if not bound:
            raise OSError(f"cannot listen for p2p on {target}")
        await server.start()
        self._server = server
        self._bound_port = bound
        logger.info("p2p server listening on %s", self.address)

    async def stop(self, grace: float | None = 1.0) -> None:
        """Stop accepting calls; in-flight calls get ``grace`` seconds to finish."""
        server, self._server = self._server, None
        if server is None:
            return
        await server.stop(grace)
        logger.info("p2p server on %s stopped", self.address)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
