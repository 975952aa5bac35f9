"""Where shard replicas go: pure, deterministic placement functions.

The proposer of ``CreateCollection`` / ``CreateShardKey`` computes placement
with these functions before proposing, so that applying the committed
operation stays deterministic. Qdrant shuffles its peer pool at random; here
the same inputs always give the same placement, and the spread also accounts
for the replicas peers already hold (``existing_load``, e.g.
``ClusterState.replica_counts()``).

Rule: each replica goes to the least loaded peer not yet holding the shard;
ties go to the peer that has been picked least recently in this call, then to
the lowest peer id. Load counts replicas already placed in this call, so
shards are spread as evenly as possible (max - min load <= 1 when every peer
starts equal).
"""

from __future__ import annotations

import logging
from typing import Iterable, Mapping

from consensus.errors import BadInput

logger = logging.getLogger(__name__)

Placement = tuple[tuple[int, ...], ...]


def _validated_peers(peer_ids: Iterable[int]) -> list[int]:
    peers = sorted(set(peer_ids))
    if not peers:
        raise BadInput("Wrong input: no peers to place shards on")
    for peer in peers:
        if isinstance(peer, bool) or not isinstance(peer, int) or peer < 0:
            raise BadInput(f"Wrong input: invalid peer id {peer!r}")
    return peers


def place_shards(
    shard_number: int,
    replication_factor: int,
    peer_ids: Iterable[int],
    existing_load: Mapping[int, int] | None = None,
) -> Placement:
    """Peers for each of ``shard_number`` shards, ``replication_factor`` distinct each.

    With fewer peers than ``replication_factor`` every shard goes to all peers.
    Each shard's peers are returned sorted. Raises ``BadInput`` on no peers or
    non-positive counts (``shard_number`` may be 0: empty placement).
    """
    if isinstance(shard_number, bool) or not isinstance(shard_number, int) or shard_number < 0:
        raise BadInput("Wrong input: shard_number must be an integer >= 0")
    if (
        isinstance(replication_factor, bool)
        or not isinstance(replication_factor, int)
        or replication_factor < 1
    ):
        raise BadInput("Wrong input: replication_factor must be an integer >= 1")
    peers = _validated_peers(peer_ids)
    load = {peer: (existing_load or {}).get(peer, 0) for peer in peers}
    last_pick = {peer: -1 for peer in peers}
    copies = min(replication_factor, len(peers))
    placement: list[tuple[int, ...]] = []
    pick = 0
    for _ in range(shard_number):
        chosen: list[int] = []
        for _ in range(copies):
            peer = min(
                (candidate for candidate in peers if candidate not in chosen),
                key=lambda candidate: (load[candidate], last_pick[candidate], candidate),
            )
            chosen.append(peer)
            load[peer] += 1
            last_pick[peer] = pick
            pick += 1
        placement.append(tuple(sorted(chosen)))
    return tuple(placement)


def place_key_shards(
    first_shard_id: int,
    shard_number: int,
    replication_factor: int,
    peer_ids: Iterable[int],
    existing_load: Mapping[int, int] | None = None,
) -> dict[int, tuple[int, ...]]:
    """``CreateShardKey.shards`` for a new key: ids from ``first_shard_id`` on.

    ``first_shard_id`` is usually ``ClusterState.next_shard_id(collection)``;
    ``peer_ids`` is the key's requested placement or all peers.
    """
    if isinstance(first_shard_id, bool) or not isinstance(first_shard_id, int) or first_shard_id < 0:
        raise BadInput("Wrong input: first shard id must be an integer >= 0")
    if shard_number < 1:
        raise BadInput("Wrong input: a shard key needs at least one shard")
    placement = place_shards(shard_number, replication_factor, peer_ids, existing_load)
    return {first_shard_id + index: peers for index, peers in enumerate(placement)}


def highest_peer(replicas: Mapping[int, str], only_active: bool = True) -> int | None:
    """The highest peer id among a shard's replicas (Active ones if ``only_active``).

    Gives every peer the same answer to "which replica acts for this shard"
    (for example, which one sources a transfer) without any coordination.
    """
    candidates = [peer for peer, state in replicas.items() if not only_active or state == "Active"]
    return max(candidates, default=None)
