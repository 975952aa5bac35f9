"""The replicas of one shard, and the policy for writing and reading them.

A replica set knows every replica of its shard (peer id -> state) and talks to
each through the same small interface, whether the replica is the local shard
or a remote one. Failures are reported through ``on_replica_failure``; the
replica set never calls consensus itself.

Writes (Qdrant's ``ordering``):
* ``weak``: this node coordinates and sends to every Active and Partial
  replica in parallel; ``write_consistency_factor`` of the Active ones, capped
  by the number of Active replicas left after failed ones are deactivated,
  must apply the write. A Partial replica (a transfer's target) does not count
  and its failures are ignored: the transfer's source forwards what it misses.
* ``medium``: the highest-id Active replica coordinates; if it is unreachable
  it is reported and the next one is tried.
* ``strong``: the highest-id replica coordinates, whatever its state; if it is
  down the write fails.
* While the shard is being transferred, every write the source's replica
  applies is also forwarded to the target (``update_local``), serialized with
  the batches the source streams under ``transfer_lock``, so the target ends
  with the source's contents even when a coordinator's view of the transfer
  lags behind (Qdrant's forward proxy). A Partial target applies writes
  leniently: points it has not received yet are skipped.

Reads (Qdrant's ``consistency``): one Active replica, local first, the next one
on failure; or ``all`` / ``majority`` / ``quorum`` / an integer number of
replicas whose answers are merged (newest version of each point wins).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, Protocol

from consensus.errors import DomainError, InternalError, ServiceUnavailable, Timeout
from shards.local_shard import LocalShard
from shards.operations import CountRequest, ScrollRequest, SearchRequest, UpdateOperation
from shards.search_worker import GraphQuery, SearchWorker
from shards.types import PayloadSelector, PointId, Record, ScoredPoint, VectorSelector

logger = logging.getLogger(__name__)

ACTIVE = "Active"
PARTIAL = "Partial"
DEAD = "Dead"

_SEARCH_WORKER = SearchWorker()

# Errors that mean "this replica could not be reached", as opposed to errors
# every replica would give for the same request (bad input, missing point).
_UNREACHABLE = (ServiceUnavailable, Timeout, InternalError)


class Replica(Protocol):
    """One replica of a shard, local or remote."""

    peer_id: int

    async def update(self, op: UpdateOperation, forward: bool, op_num: int | None = None) -> int: ...

    async def search(self, request: SearchRequest) -> list[ScoredPoint]: ...

    async def scroll(self, request: ScrollRequest) -> list[Record]: ...

    async def count(self, request: CountRequest) -> int: ...

    async def retrieve(
        self, ids: list[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]: ...

    async def sparse_stats(self, vector_name: str, indices: list[int]) -> tuple[int, dict[int, int]]: ...


class LocalReplica:
    """The replica stored on this node: a ``LocalShard`` run off the event loop."""

    def __init__(self, peer_id: int, shard: LocalShard) -> None:
        self.peer_id = peer_id
        self.shard = shard

    async def update(
        self, op: UpdateOperation, forward: bool = False, op_num: int | None = None, missing_ok: bool = False
    ) -> int:
        return await asyncio.to_thread(self.shard.apply, op, op_num, missing_ok)

    async def search(self, request: SearchRequest) -> list[ScoredPoint]:
        shard = self.shard
        if shard.is_quick_search(request):
            # Only the graph walk goes to a worker thread (batched with concurrent
            # ones); results are assembled on the event loop.
            index = shard.dense_index(request.vector_name)
            job = GraphQuery(
                index,
                index.prepare_query(request.query),
                request.offset + request.limit,
                request.hnsw_ef,
                lambda: shard.vector_hits(request)[:2],
            )
            offsets, scores = await _SEARCH_WORKER.run(job)
            return shard.scored_points(request, offsets, scores, index.distance)
        return await asyncio.to_thread(shard.search, request)

    async def scroll(self, request: ScrollRequest) -> list[Record]:
        return await asyncio.to_thread(self.shard.scroll, request)

    async def count(self, request: CountRequest) -> int:
        return await asyncio.to_thread(self.shard.count, request)

    async def retrieve(
        self, ids: list[PointId], with_payload: PayloadSelector, with_vector: VectorSelector
    ) -> list[Record]:
        return await asyncio.to_thread(self.shard.retrieve, ids, with_payload, with_vector)

    async def sparse_stats(self, vector_name: str, indices: list[int]) -> tuple[int, dict[int, int]]:
        return self.shard.sparse_stats(vector_name, indices)  # dictionary look-ups: no thread needed


ReplicaFactory = Callable[[int], Replica]
FailureCallback = Callable[[int, int], Awaitable[None]]


class ReplicaSet:
    """All replicas of one shard id; routes reads and writes to them."""

    def __init__(
        self,
        shard_id: int,
        this_peer: int,
        local: LocalShard | None,
        replicas: dict[int, str] | None = None,
        remote: ReplicaFactory | None = None,
        on_replica_failure: FailureCallback | None = None,
        write_consistency_factor: int = 1,
    ) -> None:
        self.shard_id = shard_id
        self.this_peer = this_peer
        self.local = local
        self._local_replica = LocalReplica(this_peer, local) if local is not None else None
        self.replicas: dict[int, str] = dict(replicas) if replicas else ({this_peer: ACTIVE} if local else {})
        self._remote = remote
        self._remotes: dict[int, Replica] = {}
        self._on_replica_failure = on_replica_failure
        self.write_consistency_factor = write_consistency_factor
        self.read_fan_out_factor = 0
        self.transfers: list[tuple[int, int]] = []  # (from_peer, to_peer)
        self.ready_targets: set[int] = set()  # targets emptied by this source: it forwards writes to them
        self.transfer_failures: dict[int, DomainError] = {}  # target -> a forwarded write it could not take
        self.transfer_lock = asyncio.Lock()
        self._unforwarded_writes = 0  # local writes in flight that no transfer target gets
        self._unforwarded_done = asyncio.Event()

    # ------------------------------------------------------------------ membership

    def set_local(self, local: LocalShard | None) -> None:
        self.local = local
        self._local_replica = LocalReplica(self.this_peer, local) if local is not None else None

    def set_replicas(self, replicas: dict[int, str], transfers: Iterable[tuple[int, int]] = ()) -> None:
        self.replicas = dict(replicas)
        self.transfers = list(transfers)
        targets = {to for source, to in self.transfers if source == self.this_peer}
        self.ready_targets &= targets
        for target in [peer for peer in self.transfer_failures if peer not in targets]:
            del self.transfer_failures[target]

    def replica(self, peer_id: int) -> Replica:
        if peer_id == self.this_peer:
            if self._local_replica is None:
                raise ServiceUnavailable(f"Shard {self.shard_id} has no local replica on this peer")
            return self._local_replica
        replica = self._remotes.get(peer_id)
        if replica is None:
            if self._remote is None:
                raise ServiceUnavailable(f"No route to peer {peer_id}")
            replica = self._remote(peer_id)
            self._remotes[peer_id] = replica
        return replica

    def active_peers(self) -> list[int]:
        return sorted(peer for peer, state in self.replicas.items() if state == ACTIVE)

    def _read_order(self) -> list[int]:
        """Active replicas, the local one first."""
        peers = self.active_peers()
        if self.this_peer in peers:
            peers.remove(self.this_peer)
            peers.insert(0, self.this_peer)
        return peers

    async def _report(self, peer_id: int) -> None:
        if self._on_replica_failure is not None and self.replicas.get(peer_id) != DEAD:
            try:
                await self._on_replica_failure(self.shard_id, peer_id)
            except DomainError as exc:
                logger.warning("could not deactivate replica %d of shard %d: %s", peer_id, self.shard_id, exc)

    # ------------------------------------------------------------------ writes

    async def update(self, op: UpdateOperation, ordering: str = "weak", forwarded: bool = False) -> int:
        if forwarded:
            return await self._write_all(op)
        if ordering == "weak":
            return await self._write_all(op)
        if ordering == "medium":
            return await self._write_through_leader(op)
        if ordering == "strong":
            leader = max(self.replicas) if self.replicas else None
            if leader is None:
                raise ServiceUnavailable(f"No replicas for shard {self.shard_id}")
            if leader == self.this_peer:
                return await self._write_all(op)
            try:
                return await self.replica(leader).update(op, True)
            except _UNREACHABLE as exc:
                raise ServiceUnavailable(
                    f"Strong ordering requires the leader replica (peer {leader}) of shard {self.shard_id}, "
                    f"which is unavailable: {exc.message}"
                ) from None
        raise ServiceUnavailable(f"unknown ordering {ordering}")

    async def _write_through_leader(self, op: UpdateOperation) -> int:
        tried: set[int] = set()
        while True:
            candidates = [peer for peer in self.active_peers() if peer not in tried]
            if not candidates:
                raise ServiceUnavailable(f"No active replica of shard {self.shard_id} accepted the write")
            leader = max(candidates)
            if leader == self.this_peer:
                return await self._write_all(op)
            try:
                return await self.replica(leader).update(op, True)
            except _UNREACHABLE:
                tried.add(leader)
                await self._report(leader)

    async def update_local(self, op: UpdateOperation, op_num: int | None = None) -> int:
        """Apply a write to this peer's replica (whoever coordinates it).

        On a transfer's source the write is also forwarded, in the same order, to
        every target this source has already emptied; on a transfer's target
        (Partial) points that have not arrived yet are skipped.
        """
        local = self.replica(self.this_peer)
        if self.replicas.get(self.this_peer) == PARTIAL:
            return await local.update(op, False, op_num, missing_ok=True)  # type: ignore[call-arg]
        if not self.ready_targets:
            # Not forwarded: a transfer that adds a target meanwhile must wait for this
            # write before it reads the replica (``wait_unforwarded_writes``).
            self._unforwarded_writes += 1
            try:
                return await local.update(op, False, op_num)
            finally:
                self._unforwarded_writes -= 1
                if not self._unforwarded_writes:
                    self._unforwarded_done.set()
        async with self.transfer_lock:
            result = await local.update(op, False, op_num)
            targets = sorted(self.ready_targets)
            answers = await asyncio.gather(
                *(self.replica(peer).update(op, False, result) for peer in targets), return_exceptions=True
            )
            for peer, answer in zip(targets, answers):
                if isinstance(answer, BaseException) and _is_unreachable(answer):
                    # The target missed a write: the transfer must not finish (it aborts).
                    self.transfer_failures.setdefault(
                        peer, answer if isinstance(answer, DomainError) else ServiceUnavailable(str(answer))
                    )
            return result

    async def wait_unforwarded_writes(self) -> None:
        """Wait until the local writes that started before a transfer target was added
        (and so are not forwarded to it) are applied: the transfer's reads must see them."""
        while self._unforwarded_writes:
            self._unforwarded_done.clear()
            await self._unforwarded_done.wait()

    async def _write_all(self, op: UpdateOperation) -> int:
        """Apply on every Active and Partial replica; enforce write consistency on the Active ones."""
        active = self.active_peers()
        partial = sorted(peer for peer, state in self.replicas.items() if state == PARTIAL)
        targets = active + partial
        if not active:
            raise ServiceUnavailable(f"No active replica for shard {self.shard_id}")
        # One number for the write on every replica (see LocalShard.next_operation_number).
        op_num = self.local.next_operation_number() if self.local is not None else None
        results = await asyncio.gather(
            *(
                self.update_local(op, op_num)
                if peer == self.this_peer
                else self.replica(peer).update(op, False, op_num)
                for peer in targets
            ),
            return_exceptions=True,
        )
        successes = 0
        operation_id = 0
        unreachable: list[int] = []
        for peer, result in zip(targets, results):
            if peer not in active:
                if isinstance(result, BaseException):
                    logger.debug("transfer target %d of shard %d skipped a write: %s", peer, self.shard_id, result)
                continue
            if isinstance(result, BaseException):
                if isinstance(result, _UNREACHABLE) or not isinstance(result, DomainError):
                    unreachable.append(peer)
                    continue
                raise result  # every replica would refuse it the same way
            if peer in active:
                successes += 1
                operation_id = max(operation_id, int(result))
        for peer in unreachable:
            logger.warning("replica on peer %d of shard %d failed a write", peer, self.shard_id)
            await self._report(peer)
        still_active = len([peer for peer in active if peer not in unreachable])
        needed = max(1, min(self.write_consistency_factor, still_active))
        if successes < needed:
            raise ServiceUnavailable(
                f"Write consistency factor {self.write_consistency_factor} not reached for shard "
                f"{self.shard_id}: {successes} replica(s) applied the operation"
            )
        return operation_id

    # ------------------------------------------------------------------ reads

    def _replica_count(self, consistency: Any, available: int) -> int:
        if consistency is None or consistency == 1:
            return 1
        if consistency == "all":
            return available
        if consistency in ("majority", "quorum"):
            return available // 2 + 1
        if isinstance(consistency, int) and consistency > 0:
            return min(consistency, available)
        return 1

    async def _read(self, call: Callable[[Replica], Awaitable[Any]], consistency: Any = None) -> list[Any]:
        """Answers of as many replicas as the consistency asks for, trying others on failure."""
        order = self._read_order()
        if not order:
            raise ServiceUnavailable(f"No active replica for shard {self.shard_id}")
        needed = self._replica_count(consistency, len(order))
        if needed == 1 and self.read_fan_out_factor > 0 and len(order) > 1:
            return [await self._first_answer(call, order)]
        answers: list[Any] = []
        last_error: DomainError | None = None
        pending = list(order)
        while len(answers) < needed and pending:
            batch, pending = pending[: needed - len(answers)], pending[needed - len(answers) :]
            results = await asyncio.gather(*(call(self.replica(peer)) for peer in batch), return_exceptions=True)
            for result in results:
                if isinstance(result, BaseException):
                    if isinstance(result, DomainError) and not isinstance(result, _UNREACHABLE):
                        raise result
                    last_error = result if isinstance(result, DomainError) else ServiceUnavailable(str(result))
                else:
                    answers.append(result)
        if len(answers) < needed:
            message = last_error.message if last_error else "not enough replicas answered"
            raise ServiceUnavailable(f"Read of shard {self.shard_id} failed: {message}")
        return answers

    async def _first_answer(self, call: Callable[[Replica], Awaitable[Any]], order: list[int]) -> Any:
        """``read_fan_out_factor``: ask that many extra replicas at once, keep the first answer."""
        pending = list(order)
        last_error: BaseException | None = None
        while pending:
            batch, pending = pending[: 1 + self.read_fan_out_factor], pending[1 + self.read_fan_out_factor :]
            tasks = {asyncio.ensure_future(call(self.replica(peer))) for peer in batch}
            try:
                while tasks:
                    done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        error = task.exception()
                        if error is None:
                            return task.result()
                        if isinstance(error, DomainError) and not isinstance(error, _UNREACHABLE):
                            raise error
                        last_error = error
            finally:
                for task in tasks:
                    task.cancel()
        message = getattr(last_error, "message", str(last_error))
        raise ServiceUnavailable(f"Read of shard {self.shard_id} failed: {message}")

    async def search(self, request: SearchRequest, consistency: Any = None) -> list[ScoredPoint]:
        answers = await self._read(lambda replica: replica.search(request), consistency)
        if len(answers) == 1:
            return answers[0]
        return _newest_hits(answers)

    async def scroll(self, request: ScrollRequest, consistency: Any = None) -> list[Record]:
        answers = await self._read(lambda replica: replica.scroll(request), consistency)
        return answers[0] if len(answers) == 1 else _newest_records(answers)

    async def count(self, request: CountRequest, consistency: Any = None) -> int:
        answers = await self._read(lambda replica: replica.count(request), consistency)
        return max(answers)

    async def retrieve(
        self,
        ids: Iterable[PointId],
        with_payload: PayloadSelector,
        with_vector: VectorSelector,
        consistency: Any = None,
    ) -> list[Record]:
        wanted = list(ids)
        answers = await self._read(lambda replica: replica.retrieve(wanted, with_payload, with_vector), consistency)
        return answers[0] if len(answers) == 1 else _newest_records(answers)

    async def sparse_stats(self, vector_name: str, indices: list[int]) -> tuple[int, dict[int, int]]:
        """IDF statistics of one replica (any: replicas hold the same points)."""
        answers = await self._read(lambda replica: replica.sparse_stats(vector_name, indices))
        return answers[0]

    def close(self) -> None:
        if self.local is not None:
            self.local.close()


def _is_unreachable(error: BaseException) -> bool:
    return isinstance(error, _UNREACHABLE) or not isinstance(error, DomainError)


def _newest_records(answers: list[list[Record]]) -> list[Record]:
    best: dict[PointId, Record] = {}
    order: list[PointId] = []
    for answer in answers:
        for record in answer:
            current = best.get(record.id)
            if current is None:
                order.append(record.id)
            if current is None or record.version > current.version:
                best[record.id] = record
    return [best[pid] for pid in order]


def _newest_hits(answers: list[list[ScoredPoint]]) -> list[ScoredPoint]:
    best: dict[PointId, ScoredPoint] = {}
    for answer in answers:
        for hit in answer:
            current = best.get(hit.id)
            if current is None or hit.version > current.version:
                best[hit.id] = hit
    return list(best.values())
