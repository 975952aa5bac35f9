"""Raft replication of metadata operations: the one module importing pysyncobj.

``RaftNode`` drives a ``SyncObj`` subclass with exactly one replicated method,
``apply_operation(data, proposal_id)`` (pysyncobj numbers replicated methods by
name; one method keeps journal entries stable). ``data`` is our versioned JSON
encoding; pysyncobj wraps it in its own pickled framing in the journal and on
the wire, which is out of our hands.

Decisions, and pysyncobj 0.3.17 pitfalls handled here:

* The journal is in memory unless ``journalFile`` is set. ``FileJournal``
  writes through ``mmap`` and never msyncs: entries survive ``kill -9`` (the
  page cache is the kernel's) but not a power loss, so a wrapper msyncs after
  every append/truncation, before pysyncobj acknowledges the entry.
* Batched append entries cost a tick per commit, so batching is off; a
  single-node leader still needs a second tick to commit, so while local
  proposals are pending the loop ticks every 1 ms.
* We tick SyncObj from our own thread (``autoTick=False``): pysyncobj's thread
  exits when the thread that constructed the SyncObj exits, and cannot be
  joined. A one-node cluster still binds its TCP port; it starts its first
  election at once instead of after the 0.4-1.4 s election timeout.
* Snapshots (``fullDumpFile``) default to pickling ``__dict__``; our
  serializer/deserializer store the ClusterState as JSON with the two Raft
  entries and member list pysyncobj needs. pysyncobj compacts the journal one
  tick after the dump and *clears* a non-matching journal on load, losing
  entries after the dump; the deserializer compacts first (see
  ``_align_journal_with_snapshot``).
* Exceptions never escape into pysyncobj: the replicated method returns
  ``("ok", result)`` or ``("err", error_class_name, message)``.
* A submission whose outcome is unknown (leader changed) is resubmitted under
  the same proposal id; every peer remembers the outcomes of the last
  ``RECENT_PROPOSALS`` ids (also in snapshots) and skips duplicates.
* Security: pysyncobj unpickles every message on the Raft port and accepts
  membership commands from any client: never expose the port outside the
  cluster network; ``password`` enables its encryption.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.config import FAIL_REASON
from pysyncobj.node import TCPNode
from pysyncobj.syncobj import SyncObjException

from consensus import errors
from consensus.errors import (
    DomainError,
    InternalError,
    PreconditionFailed,
    ServiceUnavailable,
    Timeout,
)
from consensus.operations import Operation, canonical_json, decode, encode
from consensus.state import ClusterState

logger = logging.getLogger(__name__)

Subscriber = Callable[[Operation | None, ClusterState], None]

SNAPSHOT_FORMAT_VERSION = 1
_ROLE_NAMES = {0: "follower", 1: "candidate", 2: "leader"}
_FAIL_NAMES = {
    value: name
    for name, value in vars(FAIL_REASON).items()
    if not name.startswith("_") and isinstance(value, int)
}
_BUSY_TICK_SECONDS = 0.001
_RETRY_BACKOFF_SECONDS = 0.05
# Outcomes of the last N applied proposals, kept identically on every peer
# (and in snapshots) so that a resubmitted proposal is applied at most once.
RECENT_PROPOSALS = 1024


@dataclass(frozen=True)
class RaftTimings:
    """Timing knobs of the Raft loop, in seconds (pysyncobj defaults otherwise)."""

    tick_period: float = 0.05
    heartbeat_period: float = 0.1
    election_timeout_min: float = 0.4
    election_timeout_max: float = 1.4
    connection_timeout: float = 3.5
    connection_retry: float = 1.0
    log_compaction_min_entries: int = 5000
    log_compaction_min_time: float = 300.0

    def __post_init__(self) -> None:
        # The same constraints pysyncobj asserts, reported as a readable error.
        if self.tick_period <= 0 or self.heartbeat_period <= 0:
            raise ValueError("tick and heartbeat periods must be positive")
        if self.election_timeout_min <= 3 * self.heartbeat_period:
            raise ValueError("election_timeout_min must exceed 3 heartbeat periods")
        if self.election_timeout_max <= self.election_timeout_min:
            raise ValueError("election_timeout_max must exceed election_timeout_min")
        if self.connection_timeout < self.election_timeout_max:
            raise ValueError("connection_timeout must be at least election_timeout_max")
        if self.log_compaction_min_entries < 2 or self.log_compaction_min_time <= 0:
            raise ValueError("log compaction thresholds are too small")


class _Proposal:
    """A local proposal waiting for its entry to be applied on this node."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.outcome: tuple | None = None
        self._failures: list[int] = []

    def resolve(self, outcome: tuple) -> None:
        with self._cond:
            if self.outcome is None:
                self.outcome = outcome
            self._cond.notify_all()

    def on_callback(self, result: Any, reason: int) -> None:
        """pysyncobj's completion callback (tick thread, or caller on QUEUE_FULL)."""
        if reason == FAIL_REASON.SUCCESS:
            self.resolve(result)
        else:
            with self._cond:
                self._failures.append(reason)
                self._cond.notify_all()

    def wait(self, deadline: float, until_failure: bool = True) -> int | None:
        """Wait for the outcome (returns None) or, if ``until_failure``, the next
        failure reason of a submission. Also returns None past the deadline."""
        with self._cond:
            while self.outcome is None and not (until_failure and self._failures):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            return None if self.outcome is not None else self._failures.pop(0)


class _DurableJournal:
    """Wraps pysyncobj's FileJournal and msyncs after every change of the log."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def add(self, command: bytes, idx: int, term: int) -> None:
        self._inner.add(command, idx, term)
        self._inner.flush()

    def clear(self) -> None:
        self._inner.clear()
        self._inner.flush()

    def deleteEntriesFrom(self, entry_from: int) -> None:  # noqa: N802 - pysyncobj API
        self._inner.deleteEntriesFrom(entry_from)
        self._inner.flush()

    def deleteEntriesTo(self, entry_to: int) -> None:  # noqa: N802 - pysyncobj API
        self._inner.deleteEntriesTo(entry_to)
        self._inner.flush()

    def __getitem__(self, item: Any) -> Any:
        return self._inner[item]

    def __len__(self) -> int:
        return len(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _MetadataSyncObj(SyncObj):
    """SyncObj with a single replicated method; all logic lives in RaftNode."""

    def __init__(
        self,
        self_address: str,
        partner_addresses: list[str],
        conf: SyncObjConf,
        applier: Callable[[bytes, str], tuple],
    ) -> None:
        self._applier = applier
        super().__init__(self_address, partner_addresses, conf)

    @replicated
    def apply_operation(self, data: bytes, proposal_id: str) -> tuple:
        return self._applier(data, proposal_id)


def _error_class_name(error: DomainError) -> str:
    """Name of the nearest class of the shared error tree (transportable by name)."""
    for cls in type(error).__mro__:
        if getattr(errors, cls.__name__, None) is cls and issubclass(cls, DomainError):
            return cls.__name__
    return InternalError.__name__


def _error_from_name(name: str, message: str) -> DomainError:
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, DomainError)):
        cls = InternalError
    return cls(message)


def _entry_to_json(entry: tuple) -> list:
    command, idx, term = entry
    return [base64.b64encode(bytes(command)).decode("ascii"), idx, term]


def _entry_from_json(data: list) -> tuple:
    command, idx, term = data
    return (base64.b64decode(command), int(idx), int(term))


def _default_bind_address(self_address: str) -> str:
    """Bind the advertised host when it is an IP literal, else every interface."""
    host, port = self_address.rsplit(":", 1)
    try:
        ipaddress.ip_address(host.strip("[]"))
        return self_address
    except ValueError:
        return f"{'::' if ':' in host else '0.0.0.0'}:{port}"


class RaftNode:
    """One member of the metadata Raft group, applying operations to a ClusterState.

    Thread model: SyncObj is only touched by the node's tick thread, except for
    the thread-safe command queue used by ``propose``/``add_member`` and atomic
    reads in ``status``. Subscribers run on the tick thread, after each applied
    operation (including journal replay at startup; subscribe before
    ``start()`` to see it) and with ``op=None`` when the whole state was
    replaced from a snapshot, in which case they should reconcile from scratch.
    """

    def __init__(
        self,
        self_address: str,
        partner_addresses: list[str],
        data_dir: str,
        *,
        timings: RaftTimings = RaftTimings(),
        bind_address: str | None = None,
        password: str | None = None,
    ) -> None:
        self.self_address = self_address
        self.partner_addresses = [a for a in partner_addresses if a != self_address]
        self.data_dir = data_dir
        self._timings = timings
        self._bind_address = bind_address or _default_bind_address(self_address)
        self._password = password
        self._state = ClusterState()
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()
        self._pending = 0
        self._proposals: dict[str, _Proposal] = {}
        self._recent_outcomes: OrderedDict[str, tuple] = OrderedDict()
        self._role = "stopped"
        self._syncobj: _MetadataSyncObj | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._ready = threading.Event()

    # ---- lifecycle -----------------------------------------------------

    def start(self) -> None:
        """Open the journal, bind the Raft port and start ticking (idempotent)."""
        with self._lock:
            if self._syncobj is not None:
                return
            os.makedirs(self.data_dir, exist_ok=True)
            # The journal (and snapshot) are replayed from scratch on every start.
            self._state = ClusterState()
            self._recent_outcomes = OrderedDict()
            self._ready.clear()
            timings = self._timings
            conf = SyncObjConf(
                autoTick=False,
                journalFile=os.path.join(self.data_dir, "raft.journal"),
                fullDumpFile=os.path.join(self.data_dir, "raft.dump"),
                serializer=self._write_snapshot,
                deserializer=self._read_snapshot,
                appendEntriesUseBatch=False,
                dynamicMembershipChange=True,
                commandsWaitLeader=True,
                bindAddress=self._bind_address,
                bindRetryTime=0.1,
                maxBindRetries=3,
                password=self._password,
                appendEntriesPeriod=timings.heartbeat_period,
                raftMinTimeout=timings.election_timeout_min,
                raftMaxTimeout=timings.election_timeout_max,
                connectionTimeout=timings.connection_timeout,
                connectionRetryTime=timings.connection_retry,
                logCompactionMinEntries=timings.log_compaction_min_entries,
                logCompactionMinTime=timings.log_compaction_min_time,
                onStateChanged=self._on_role_changed,
            )
            try:
                syncobj = _MetadataSyncObj(
                    self.self_address, self.partner_addresses, conf, self._apply_entry
                )
            except SyncObjException as error:
                raise ServiceUnavailable(
                    f"Service internal error: cannot bind Raft port {self._bind_address}: {error}"
                ) from None
            self._install_durable_journal(syncobj)
            if not self.partner_addresses and hasattr(syncobj, "_SyncObj__raftElectionDeadline"):
                # Alone in the cluster: no reason to wait for an election timeout.
                syncobj._SyncObj__raftElectionDeadline = 0
            self._role = "follower"
            self._stopping.clear()
            self._syncobj = syncobj
            self._thread = threading.Thread(
                target=self._run, name=f"raft-{self.self_address}", daemon=True
            )
            self._thread.start()
        logger.info(
            "Raft node %s started (partners: %s, data dir: %s)",
            self.self_address, self.partner_addresses, self.data_dir,
        )

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking, close connections and the journal (idempotent)."""
        with self._lock:
            thread = self._thread
            if thread is None:
                return
            self._stopping.set()
            self._thread = None
        if thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                logger.warning("Raft tick thread of %s did not stop in time", self.self_address)
        self._syncobj = None
        self._ready.clear()
        self._role = "stopped"

    def _run(self) -> None:
        syncobj = self._syncobj
        assert syncobj is not None
        while not self._stopping.is_set():
            wait = _BUSY_TICK_SECONDS if self._pending else self._timings.tick_period
            try:
                syncobj.doTick(wait)
            except Exception:
                logger.exception("Raft tick failed on %s", self.self_address)
                self._stopping.wait(self._timings.tick_period)
            if syncobj.isReady() and syncobj._getLeader() is not None:
                self._ready.set()
            else:
                self._ready.clear()
        try:
            syncobj.destroy()
        except Exception:
            logger.exception("Failed to close Raft node %s", self.self_address)

    def _install_durable_journal(self, syncobj: SyncObj) -> None:
        journal = getattr(syncobj, "_SyncObj__raftLog", None)
        if journal is None or not hasattr(journal, "flush"):
            logger.warning("pysyncobj journal layout changed; journal is not msync'ed per entry")
            return
        syncobj._SyncObj__raftLog = _DurableJournal(journal)
        journal.flush()

    # ---- state machine glue (runs on the tick thread) --------------------

    def _apply_entry(self, data: bytes, proposal_id: str) -> tuple:
        """Apply one committed entry at most once per proposal id; never raises."""
        outcome = self._recent_outcomes.get(proposal_id)
        if outcome is None:
            outcome = self._apply_encoded(data)
            self._recent_outcomes[proposal_id] = outcome
            while len(self._recent_outcomes) > RECENT_PROPOSALS:
                self._recent_outcomes.popitem(last=False)
        proposal = self._proposals.get(proposal_id)
        if proposal is not None:
            proposal.resolve(outcome)
        return outcome

    def _apply_encoded(self, data: bytes) -> tuple:
        try:
            op = decode(data)
        except DomainError as error:
            logger.error("Undecodable committed operation skipped: %s", error.message)
            return ("err", _error_class_name(error), error.message)
        try:
            result = self._state.apply(op)
        except DomainError as error:
            return ("err", _error_class_name(error), error.message)
        except Exception as error:  # a bug: keep pysyncobj alive, state is unchanged
            logger.exception("Applying %r failed", op)
            return ("err", InternalError.__name__, f"Service internal error: {error}")
        self._notify(op)
        return ("ok", result)

    def _notify(self, op: Operation | None) -> None:
        state = self._state
        for subscriber in self._subscribers:
            try:
                subscriber(op, state)
            except Exception:
                logger.exception("Consensus subscriber %r failed on %r", subscriber, op)

    def _on_role_changed(self, old: int, new: int) -> None:
        self._role = _ROLE_NAMES.get(new, str(new))
        logger.info("Raft node %s is now %s", self.self_address, self._role)

    def _write_snapshot(self, file_name: str, data: tuple) -> None:
        try:
            last_entry, prev_entry, cluster = data
            payload = {
                "format": SNAPSHOT_FORMAT_VERSION,
                "state": self._state.to_json(),
                "last_entry": _entry_to_json(last_entry),
                "prev_entry": _entry_to_json(prev_entry),
                "members": sorted(str(node.id) for node in cluster),
                "recent_outcomes": [
                    [proposal_id, list(outcome)]
                    for proposal_id, outcome in self._recent_outcomes.items()
                ],
            }
            with open(file_name, "wb") as file:
                file.write(canonical_json(payload))
                file.flush()
                os.fsync(file.fileno())
        except Exception:
            logger.exception("Writing Raft snapshot %s failed", file_name)
            raise

    def _read_snapshot(self, file_name: str) -> tuple:
        try:
            with open(file_name, "rb") as file:
                payload = json.loads(file.read())
            if payload.get("format") != SNAPSHOT_FORMAT_VERSION:
                raise ValueError(f"unsupported snapshot format {payload.get('format')!r}")
            state = ClusterState.from_json(payload["state"])
            recent = OrderedDict(
                (str(proposal_id), tuple(outcome))
                for proposal_id, outcome in payload["recent_outcomes"]
            )
            result = (
                _entry_from_json(payload["last_entry"]),
                _entry_from_json(payload["prev_entry"]),
                {TCPNode(address) for address in payload["members"]},
            )
        except Exception:
            logger.exception("Loading Raft snapshot %s failed", file_name)
            raise
        self._align_journal_with_snapshot(result[1], result[0])
        self._state = state
        self._recent_outcomes = recent
        self._notify(None)
        return result

    def _align_journal_with_snapshot(self, prev_entry: tuple, last_entry: tuple) -> None:
        """Compact the journal up to a snapshot that was written but not yet compacted.

        pysyncobj writes the dump, then compacts the journal one tick later. After
        a crash in between, it finds a journal not starting at the dump's two
        entries and *clears* it, losing entries after the dump. Cutting the
        journal here makes it keep them.
        """
        syncobj = self._syncobj
        journal = getattr(syncobj, "_SyncObj__raftLog", None) if syncobj is not None else None
        if journal is None or len(journal) < 2:
            return
        offset = prev_entry[1] - journal[0][1]
        if 0 < offset < len(journal) - 1 and (
            journal[offset] == prev_entry and journal[offset + 1] == last_entry
        ):
            logger.warning("Journal was not compacted after the last snapshot; compacting now")
            journal.deleteEntriesTo(offset)

    # ---- public API ----------------------------------------------------

    @property
    def state(self) -> ClusterState:
        """The current state; read-only use (``state.snapshot()`` for a stable view)."""
        return self._state

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(op, state)`` after each applied op; returns an unsubscribe function."""
        with self._lock:
            self._subscribers = self._subscribers + (callback,)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def wait_ready(self, timeout: float) -> bool:
        """True once a leader is known and the local log is applied up to its commit."""
        return self._ready.wait(timeout)

    @property
    def is_leader(self) -> bool:
        return self._role == "leader"

    @property
    def leader_address(self) -> str | None:
        syncobj = self._syncobj
        leader = syncobj._getLeader() if syncobj is not None else None
        return str(leader.id) if leader is not None else None

    def propose(self, op: Operation, timeout: float = 10.0) -> Any:
        """Replicate ``op`` and return its result once applied on this node.

        Raises the DomainError the state machine raised; ``ServiceUnavailable``
        when no leader is known at the deadline, else ``Timeout``. Failed or
        unknown submissions (leader change) are resubmitted under the same
        proposal id until the deadline; the apply side deduplicates by id, so
        the op is applied at most once. After a timeout it may still be
        applied later.
        """
        data = encode(op)
        proposal_id = uuid.uuid4().hex
        proposal = _Proposal()
        deadline = time.monotonic() + timeout
        with self._lock:
            self._proposals[proposal_id] = proposal
            self._pending += 1
        last_failure: int | None = None
        try:
            while True:
                syncobj = self._require_syncobj()
                try:
                    syncobj.apply_operation(data, proposal_id, callback=proposal.on_callback)
                except BlockingIOError:
                    pass  # the wake-up pipe is full; the command is queued anyway
                reason = proposal.wait(deadline)
                if reason is None:
                    break
                # Not committed, or outcome unknown (leader changed): resubmit the same
                # proposal id; the apply side deduplicates, so this stays at-most-once.
                last_failure = reason
                logger.debug("Retrying %s after %s", type(op).__name__, _FAIL_NAMES.get(reason, reason))
                backoff_until = min(deadline, time.monotonic() + _RETRY_BACKOFF_SECONDS)
                proposal.wait(backoff_until, until_failure=False)
                if proposal.outcome is not None or time.monotonic() >= deadline:
                    break
        finally:
            with self._lock:
                self._proposals.pop(proposal_id, None)
                self._pending -= 1
        outcome = proposal.outcome
        if outcome is None:
            self._raise_not_committed(syncobj, type(op).__name__, timeout, last_failure)
        if outcome[0] == "ok":
            return outcome[1]
        raise _error_from_name(outcome[1], outcome[2])

    @staticmethod
    def _raise_not_committed(syncobj: SyncObj, what: str, timeout: float, reason: int | None) -> None:
        if syncobj._getLeader() is None:
            raise ServiceUnavailable(f"Service internal error: no consensus leader to commit {what}")
        detail = f" (last failure: {_FAIL_NAMES.get(reason, reason)})" if reason is not None else ""
        raise Timeout(f"Timeout: {what} was not committed within {timeout} s{detail}")

    def add_member(self, address: str, timeout: float = 10.0) -> None:
        """Add a voting member (start it first with all current members as partners)."""
        self._change_membership("add", address, timeout)

    def remove_member(self, address: str, timeout: float = 10.0) -> None:
        """Remove a voting member (not this node itself)."""
        self._change_membership("remove", address, timeout)

    def status(self) -> dict[str, Any]:
        """Snapshot of Raft progress for diagnostics and health checks."""
        syncobj = self._syncobj
        if syncobj is None:
            return {"address": self.self_address, "role": "stopped", "term": None,
                    "commit_index": None, "last_applied": None, "leader": None,
                    "is_voter": False, "pending_ops": self._pending, "ready": False,
                    "members": []}
        leader = syncobj._getLeader()
        return {
            "address": self.self_address,
            "role": self._role,
            "term": syncobj.raftCurrentTerm,
            "commit_index": syncobj.raftCommitIndex,
            "last_applied": syncobj.raftLastApplied,
            "leader": str(leader.id) if leader is not None else None,
            # pysyncobj has no learners: every node with an address votes.
            "is_voter": True,
            "pending_ops": self._pending,
            "ready": self._ready.is_set(),
            "members": sorted({self.self_address} | {str(n.id) for n in syncobj.otherNodes}),
        }

    def force_snapshot(self) -> None:
        """Ask for a snapshot + journal compaction at the next tick (tests, admin)."""
        self._require_syncobj().forceLogCompaction()

    # ---- helpers -------------------------------------------------------

    def _require_syncobj(self) -> _MetadataSyncObj:
        syncobj = self._syncobj
        if syncobj is None:
            raise ServiceUnavailable("Service internal error: Raft node is not running")
        return syncobj

    def _change_membership(self, kind: str, address: str, timeout: float) -> None:
        syncobj = self._require_syncobj()
        change = syncobj.addNodeToCluster if kind == "add" else syncobj.removeNodeFromCluster
        done = threading.Event()
        reasons: list[int] = []

        def on_result(_result: Any, reason: int) -> None:
            reasons.append(reason)
            done.set()

        with self._lock:
            self._pending += 1
        try:
            change(address, callback=on_result)
            if not done.wait(timeout):
                self._raise_not_committed(syncobj, f"{kind} member {address}", timeout, None)
        finally:
            with self._lock:
                self._pending -= 1
        if reasons[0] == FAIL_REASON.REQUEST_DENIED:
            raise PreconditionFailed(
                f"Cannot {kind} member {address}: another membership change is in "
                "progress, the leader is not settled, or the membership already matches"
            )
        if reasons[0] != FAIL_REASON.SUCCESS:
            raise ServiceUnavailable(
                f"Service internal error: {kind} member {address} failed: "
                f"{_FAIL_NAMES.get(reasons[0], reasons[0])}"
            )
