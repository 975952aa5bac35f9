"""The cluster admin API as domain operations: peers, Raft status, shard placement and transfers."""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import TYPE_CHECKING, Any

from consensus.errors import BadInput, NotFound, PreconditionFailed
from consensus.operations import (
    AbortTransfer,
    CreateShardKey,
    DropShardKey,
    RemovePeer,
    RemoveReplica,
    StartTransfer,
    shard_key_from_str,
)
from consensus.placement import place_key_shards
from node.membership import raft_address_of

if TYPE_CHECKING:
    from node.app import Node

logger = logging.getLogger(__name__)

_ROLES = {"leader": "Leader", "follower": "Follower", "candidate": "Candidate"}


class ClusterAdmin:
    """Answers ``/cluster`` and ``/collections/{c}/cluster|shards`` requests."""

    def __init__(self, node: "Node") -> None:
        self._node = node

    @property
    def enabled(self) -> bool:
        return self._node.cluster_enabled

    def _require_cluster(self) -> None:
        if not self.enabled:
            raise PreconditionFailed("Distributed mode disabled")

    async def _propose(self, op: Any) -> Any:
        return await self._node.tasks.propose(op)  # type: ignore[union-attr]

    # ------------------------------------------------------------------ peers

    def status(self) -> dict[str, Any]:
        if not self.enabled:
            return {"status": "disabled"}
        raft = self._node.raft
        assert raft is not None
        info = raft.status()
        state = raft.state
        leader_peer = None
        for peer, uri in state.peers.items():
            if raft_address_of(uri) == info.get("leader"):
                leader_peer = peer
        return {
            "status": "enabled",
            "peer_id": self._node.peer_id,
            "peers": {str(peer): {"uri": uri} for peer, uri in sorted(state.peers.items())},
            "raft_info": {
                "term": info.get("term") or 0,
                "commit": info.get("commit_index") or 0,
                "pending_operations": info.get("pending_ops") or 0,
                "leader": leader_peer,
                "role": _ROLES.get(str(info.get("role")), "Follower"),
                "is_voter": bool(info.get("is_voter")),
            },
            "consensus_thread_status": {
                "consensus_thread_status": "working",
                "last_update": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            },
            "message_send_failures": {},
            "state_digest": state.digest(),
        }

    async def remove_peer(self, peer_id: int, force: bool) -> bool:
        self._require_cluster()
        raft = self._node.raft
        assert raft is not None
        uri = raft.state.peers.get(peer_id)
        if uri is None:
            raise NotFound(f"Not found: Peer {peer_id} does not exist")
        await self._propose(RemovePeer(peer_id=peer_id, force=force))
        await asyncio.to_thread(raft.remove_member, raft_address_of(uri), 30.0)
        return True

    async def recover(self) -> bool:
        self._require_cluster()
        self._node.tasks.start()  # type: ignore[union-attr]
        return True

    # ------------------------------------------------------------------ collections

    def _meta(self, name: str) -> Any:
        state = self._node.raft.state  # type: ignore[union-attr]
        resolved = state.resolve(name)
        meta = state.collection(resolved) if resolved else None
        if meta is None:
            raise NotFound(f"Not found: Collection `{name}` doesn't exist!")
        return meta

    async def collection_info(self, name: str) -> dict[str, Any]:
        meta = self._meta(name)
        me = self._node.peer_id
        collection = self._node.catalog.get(name)  # type: ignore[union-attr]
        local, remote = [], []
        for shard_id, replicas in sorted(meta.shards.items()):
            key = meta.shard_key_of(shard_id)
            for peer, state in sorted(replicas.items()):
                entry: dict[str, Any] = {"shard_id": shard_id}
                if key is not None:
                    entry["shard_key"] = key  # shard_key_of decodes it already
                if peer == me:
                    replica_set = collection.shards.get(shard_id)
                    points = replica_set.local.stats()["points"] if replica_set and replica_set.local else 0
                    entry.update(points_count=points, state=state)
                    local.append(entry)
                else:
                    entry.update(peer_id=peer, state=state)
                    remote.append(entry)
        transfers = [
            {"shard_id": t.shard_id, "from": t.from_peer, "to": t.to_peer, "sync": t.sync, "method": t.method}
            for t in meta.transfers
        ]
        return {
            "peer_id": me,
            "shard_count": len(meta.shards),
            "local_shards": local,
            "remote_shards": remote,
            "shard_transfers": transfers,
        }

    async def apply_operation(self, name: str, body: dict[str, Any]) -> bool:
        """``POST /collections/{c}/cluster``: exactly one operation per request."""
        if not isinstance(body, dict) or len(body) != 1:
            raise BadInput(
                "Json deserialize error: expected exactly one of move_shard, replicate_shard, abort_transfer, "
                "drop_replica, create_sharding_key, drop_sharding_key"
            )
        (kind, args), = body.items()
        if not isinstance(args, dict):
            raise BadInput(f"Json deserialize error: `{kind}` must be an object")
        meta = self._meta(name)
        if kind in ("move_shard", "replicate_shard"):
            shard_id, source, target = _ints(args, "shard_id", "from_peer_id", "to_peer_id")
            await self._propose(
                StartTransfer(collection=meta.name, shard_id=shard_id, from_peer=source, to_peer=target,
                              sync=kind == "replicate_shard")
            )
        elif kind == "abort_transfer":
            shard_id, source, target = _ints(args, "shard_id", "from_peer_id", "to_peer_id")
            await self._propose(AbortTransfer(collection=meta.name, shard_id=shard_id, from_peer=source, to_peer=target))
        elif kind == "drop_replica":
            shard_id, peer = _ints(args, "shard_id", "peer_id")
            await self._propose(RemoveReplica(collection=meta.name, shard_id=shard_id, peer_id=peer))
        elif kind == "create_sharding_key":
            await self.create_shard_key(name, args)
        elif kind == "drop_sharding_key":
            await self.drop_shard_key(name, args)
        else:
            raise BadInput(f"Json deserialize error: unknown variant `{kind}`")
        return True

    async def create_shard_key(self, name: str, args: dict[str, Any]) -> bool:
        meta = self._meta(name)
        if "shard_key" not in args:
            raise BadInput("Json deserialize error: missing field `shard_key`")
        state = self._node.raft.state  # type: ignore[union-attr]
        params = meta.config.get("params", {})
        shards_number = args.get("shards_number") or params.get("shard_number", 1)
        replication = args.get("replication_factor") or params.get("replication_factor", 1)
        peers = args.get("placement") or await self._node.catalog.placeable_peers(  # type: ignore[union-attr]
            sorted(state.peers) or [self._node.peer_id]
        )
        for value in (shards_number, replication):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise BadInput("Validation error in JSON body: shards_number and replication_factor must be >= 1")
        shards = place_key_shards(meta.next_shard_id(), shards_number, replication, list(peers), state.replica_counts())
        initial = "Initializing" if self.enabled else "Active"
        await self._propose(
            CreateShardKey(collection=meta.name, shard_key=args["shard_key"], shards=shards, initial_state=initial)
        )
        if self.enabled:
            await self._node.catalog.wait_replicas_active(meta.name)  # type: ignore[union-attr]
        return True

    async def drop_shard_key(self, name: str, args: dict[str, Any]) -> bool:
        meta = self._meta(name)
        if "shard_key" not in args:
            raise BadInput("Json deserialize error: missing field `shard_key`")
        await self._propose(DropShardKey(collection=meta.name, shard_key=args["shard_key"]))
        return True

    def shard_keys(self, name: str) -> dict[str, Any]:
        meta = self._meta(name)
        if meta.sharding_method != "custom":
            return {"shard_keys": None}
        return {"shard_keys": [{"key": shard_key_from_str(key)} for key in sorted(meta.shard_keys)]}


def _ints(args: dict[str, Any], *names: str) -> tuple[int, ...]:
    values = []
    for name in names:
        value = args.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadInput(f"Json deserialize error: `{name}` must be a non-negative integer")
        values.append(value)
    return tuple(values)
