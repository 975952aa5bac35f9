"""The public gRPC API on a three-node cluster gives the same answers as REST.

Every node gets two official clients, one over REST and one over gRPC
(``prefer_grpc``). Collections are created, sharded (3 shards x 2 replicas, and
a custom-sharded one with two shard keys) and written over gRPC through
different nodes with every write ``ordering``, ``wait`` true/false and a
``timeout``. Reads over gRPC on each node (with every ``read_consistency`` and
with shard key selectors) must equal the REST answers on the same node and on
another node, and numpy brute force where that is cheap.
"""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import numpy as np
import pytest
import requests
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pg

from tests.polling import wait_for
from tests.node_process import client_for

N = 60
DIM = 6
CATS = ["a", "b", "c", "d"]
RNG = np.random.default_rng(20240611)
DENSE = RNG.normal(size=(N, DIM)).astype(np.float32)
SPARSE = [
    (sorted({i % 11, 11 + (i * 5) % 13}), RNG.uniform(0.1, 2.0, size=2).astype(np.float32)) for i in range(N)
]
QUERY = RNG.normal(size=DIM).astype(np.float32)
EXACT = models.SearchParams(exact=True)
ORDERINGS = [models.WriteOrdering.WEAK, models.WriteOrdering.MEDIUM, models.WriteOrdering.STRONG]
CONSISTENCIES: list[Any] = [
    models.ReadConsistencyType.ALL, models.ReadConsistencyType.MAJORITY, models.ReadConsistencyType.QUORUM, 2,
]
KEYS = ("alpha", "beta")
KEYED_BASE = 1000


def payload_of(i: int) -> dict:
    return {"cat": CATS[i % 4], "n": i, "grp": i % 7}


def key_of(i: int) -> str:
    return KEYS[0] if i < N // 2 else KEYS[1]


def point(i: int, base: int = 0) -> models.PointStruct:
    indices, values = SPARSE[i]
    vector = {"d": DENSE[i].tolist(), "s": models.SparseVector(indices=indices, values=values.tolist())}
    return models.PointStruct(id=base + i, vector=vector, payload=payload_of(i))


# --------------------------------------------------------------------------- brute force


def dense_scores(q: np.ndarray) -> np.ndarray:
    return DENSE.astype(np.float64) @ q.astype(np.float64)


def sparse_scores(indices: list[int], values: list[float]) -> dict[int, float]:
    query = dict(zip(indices, values))
    out = {}
    for i, (idx, vals) in enumerate(SPARSE):
        shared = [query[k] * float(v) for k, v in zip(idx, vals) if k in query]
        if shared:
            out[i] = sum(shared)
    return out


def ranked(scores: dict[int, float], limit: int) -> list[int]:
    return [i for i, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


# --------------------------------------------------------------------------- comparison helpers


def same_scored(left: list, right: list) -> None:
    assert [p.id for p in left] == [p.id for p in right]
    assert np.allclose([p.score for p in left], [p.score for p in right], atol=1e-5)
    assert [p.payload for p in left] == [p.payload for p in right]


def records(items: list) -> list[tuple]:
    out = []
    for r in items:
        vec = None
        if r.vector is not None:
            vec = {k: (list(v.indices), np.float32(v.values).tolist()) if isinstance(v, models.SparseVector)
                   else np.float32(v).tolist() for k, v in r.vector.items()}
        out.append((r.id, r.payload, vec))
    return sorted(out, key=lambda t: str(t[0]))


def expected_record(i: int, base: int = 0) -> tuple:
    indices, values = SPARSE[i]
    vec = {"d": DENSE[i].tolist(), "s": (indices, values.tolist())}
    return (base + i, payload_of(i), vec)


def views(clients: list[dict]) -> list[tuple[int, QdrantClient, list[QdrantClient]]]:
    """(node index, gRPC client of the node, REST clients of that node and of the next one)."""
    return [(i, c["grpc"], [c["rest"], clients[(i + 1) % len(clients)]["rest"]]) for i, c in enumerate(clients)]


def consistency_at(i: int) -> Any:
    return CONSISTENCIES[i % len(CONSISTENCIES)]


def grpc_consistency(value: Any) -> pg.ReadConsistency:
    if isinstance(value, int):
        return pg.ReadConsistency(factor=value)
    kind = {"all": pg.ReadConsistencyType.All, "majority": pg.ReadConsistencyType.Majority,
            "quorum": pg.ReadConsistencyType.Quorum}[value.value]
    return pg.ReadConsistency(type=kind)


def rest_consistency(value: Any) -> str:
    return str(value) if isinstance(value, int) else value.value


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def clients(cluster):
    made = []
    for node in cluster.nodes:
        made.append({
            transport: client_for(node, transport, timeout=30)
            for transport in ("rest", "grpc")
        })
    yield made
    for pair in made:
        for client in pair.values():
            client.close()


def _visible_everywhere(clients: list[dict], collection: str, ids: list[int], **kwargs: Any) -> bool:
    for pair in clients:
        got = pair["rest"].retrieve(collection, ids, with_payload=False, consistency=models.ReadConsistencyType.ALL,
                                    **kwargs)
        if len(got) != len(ids):
            return False
    return True


@pytest.fixture(scope="module")
def plain(cluster, clients) -> str:
    """3 shards x 2 replicas, created and filled over gRPC through every node."""
    name = f"grpc_cl_{uuid.uuid4().hex[:8]}"
    assert clients[0]["grpc"].create_collection(
        name, vectors_config={"d": models.VectorParams(size=DIM, distance=models.Distance.DOT)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
        shard_number=3, replication_factor=2, write_consistency_factor=2, timeout=20,
    ) is True
    cluster.wait_all_active(name)
    clients[1]["grpc"].create_payload_index(name, "cat", models.PayloadSchemaType.KEYWORD, wait=True)
    clients[2]["grpc"].create_payload_index(name, "n", models.PayloadSchemaType.INTEGER, wait=True)
    for batch in range(6):
        ids = list(range(batch * 10, batch * 10 + 10))
        client = clients[batch % 3]["grpc"]
        wait = batch % 2 == 0
        result = client.upsert(name, [point(i) for i in ids], wait=wait, ordering=ORDERINGS[batch % 3], timeout=10)
        expected_status = models.UpdateStatus.COMPLETED if wait else models.UpdateStatus.ACKNOWLEDGED
        assert result.status == expected_status
        if wait:
            assert _visible_everywhere(clients, name, ids)
        else:
            wait_for(lambda: _visible_everywhere(clients, name, ids), timeout=15, what=f"batch {batch} visible")
    return name


@pytest.fixture(scope="module")
def keyed(cluster, clients) -> str:
    """Custom sharding with two shard keys created over gRPC; points written with shard key selectors."""
    name = f"grpc_ck_{uuid.uuid4().hex[:8]}"
    assert clients[2]["grpc"].create_collection(
        name, vectors_config={"d": models.VectorParams(size=DIM, distance=models.Distance.DOT)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
        sharding_method=models.ShardingMethod.CUSTOM, shard_number=1, replication_factor=2,
        write_consistency_factor=2,
    ) is True
    for index, key in enumerate(KEYS):
        assert clients[index]["grpc"].create_shard_key(name, key, shards_number=1, replication_factor=2) is True
    cluster.wait_all_active(name)
    clients[0]["grpc"].create_payload_index(name, "cat", models.PayloadSchemaType.KEYWORD, wait=True)
    for batch in range(4):
        ids = list(range(batch * 15, batch * 15 + 15))
        key = key_of(ids[0])
        wait = batch != 1
        clients[batch % 3]["grpc"].upsert(name, [point(i, KEYED_BASE) for i in ids], wait=wait,
                                          ordering=ORDERINGS[batch % 3], shard_key_selector=key, timeout=10)
        keyed_ids = [KEYED_BASE + i for i in ids]
        wait_for(lambda: _visible_everywhere(clients, name, keyed_ids, shard_key_selector=key), timeout=15,
                 what=f"keyed batch {batch} visible")
    return name


# --------------------------------------------------------------------------- writes landed on the replicas


def test_grpc_created_layout_and_replicas_hold_the_writes(cluster, clients, plain):
    for pair in clients:
        info = pair["rest"].get_collection(plain)
        assert info.config.params.shard_number == 3
        assert info.config.params.replication_factor == 2
        assert info.config.params.write_consistency_factor == 2
    states = cluster.wait_all_active(plain)
    assert len(states) == 3 and all(len(replicas) == 2 for replicas in states.values())
    seen: dict[int, int] = {}
    for shard_id, replicas in states.items():
        contents = [cluster.read_replica(peer, plain, shard_id) for peer in replicas]
        assert contents[0] == contents[1], f"replicas of shard {shard_id} differ"
        for pid, (vectors, payload) in contents[0].items():
            seen[pid] = seen.get(pid, 0) + 1
            assert payload == payload_of(pid)
            assert np.allclose(vectors["d"], DENSE[pid], atol=1e-5)
    assert seen == {i: 1 for i in range(N)}


def test_keyed_points_live_on_their_key(cluster, clients, keyed):
    for index, (_, grpc_client, rests) in enumerate(views(clients)):
        for key in KEYS:
            expected = sorted(KEYED_BASE + i for i in range(N) if key_of(i) == key)
            got = grpc_client.scroll(keyed, limit=100, shard_key_selector=key, with_payload=False,
                                     consistency=consistency_at(index))[0]
            assert sorted(p.id for p in got) == expected
            for rest in rests:
                rest_got = rest.scroll(keyed, limit=100, shard_key_selector=key, with_payload=False,
                                       consistency=consistency_at(index))[0]
                assert [p.id for p in rest_got] == [p.id for p in got]
        both = grpc_client.scroll(keyed, limit=100, shard_key_selector=list(KEYS), with_payload=False)[0]
        assert sorted(p.id for p in both) == [KEYED_BASE + i for i in range(N)]
        every = grpc_client.count(keyed, exact=True).count
        assert every == N
        listed = grpc_client.list_shard_keys(keyed)
        assert listed == rests[1].list_shard_keys(keyed)
        assert sorted(k.key for k in listed.shard_keys) == sorted(KEYS)
        fallback = models.ShardKeyWithFallback(target="gamma", fallback=KEYS[1])
        outcomes = []
        for client in (grpc_client, *rests):
            try:
                outcomes.append(sorted(p.id for p in client.scroll(keyed, limit=100, shard_key_selector=fallback,
                                                                    with_payload=False)[0]))
            except grpc.RpcError as exc:
                outcomes.append(("error", str(exc.code())))
            except Exception as exc:  # noqa: BLE001 - REST errors, compared by status below
                outcomes.append(("error", str(getattr(exc, "status_code", exc))))
        assert outcomes[0] == [KEYED_BASE + i for i in range(N) if key_of(i) == KEYS[1]], outcomes
        assert outcomes[1] == outcomes[2] == outcomes[0]
        assert grpc_client.count(keyed, shard_key_selector=KEYS[0], exact=True).count == N // 2


# --------------------------------------------------------------------------- point reads


def test_retrieve_scroll_count_match_rest_and_data(cluster, clients, plain):
    ids = [0, 7, 13, 29, 44, 59, 12345]
    for index, grpc_client, rests in views(clients):
        consistency = consistency_at(index)
        got = grpc_client.retrieve(plain, ids, with_vectors=True, consistency=consistency, timeout=10)
        assert records(got) == sorted([expected_record(i) for i in ids if i < N], key=lambda t: str(t[0]))
        for rest in rests:
            assert records(rest.retrieve(plain, ids, with_vectors=True, consistency=consistency)) == records(got)

        flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchAny(any=["b", "c"]))])
        page, nxt = grpc_client.scroll(plain, scroll_filter=flt, limit=100, consistency=consistency)
        assert [p.id for p in page] == [i for i in range(N) if CATS[i % 4] in ("b", "c")] and nxt is None
        ordered = grpc_client.scroll(plain, limit=7, order_by=models.OrderBy(key="n", direction="desc"),
                                     consistency=consistency)[0]
        assert [p.id for p in ordered] == list(range(N - 1, N - 8, -1))
        for rest in rests:
            rest_page = rest.scroll(plain, scroll_filter=flt, limit=100, consistency=consistency)[0]
            assert records(rest_page) == records(page)
            rest_ordered = rest.scroll(plain, limit=7, order_by=models.OrderBy(key="n", direction="desc"),
                                       consistency=consistency)[0]
            assert [p.id for p in rest_ordered] == [p.id for p in ordered]

        # count with read_consistency: raw gRPC (the client does not expose it) against raw REST
        count_filter = pg.Filter(must=[pg.Condition(field=pg.FieldCondition(
            key="n", range=pg.Range(gte=10, lt=35)))])
        reply = grpc_client.grpc_points.Count(pg.CountPoints(
            collection_name=plain, filter=count_filter, exact=True, read_consistency=grpc_consistency(consistency)))
        assert reply.result.count == 25
        for node in (cluster.nodes[index], cluster.nodes[(index + 1) % 3]):
            response = requests.post(f"{node.url}/collections/{plain}/points/count",
                                     params={"consistency": rest_consistency(consistency)},
                                     json={"filter": {"must": [{"key": "n", "range": {"gte": 10, "lt": 35}}]},
                                           "exact": True}, timeout=10)
            assert response.status_code == 200 and response.json()["result"]["count"] == 25
        assert grpc_client.count(plain, exact=True, timeout=10).count == N


# --------------------------------------------------------------------------- queries


def test_dense_and_filtered_query_match_rest_and_brute_force(clients, plain):
    scores = dense_scores(QUERY)
    top = [int(i) for i in np.argsort(-scores)[:10]]
    flt = models.Filter(must=[models.FieldCondition(key="cat", match=models.MatchAny(any=["a", "c"]))])
    allowed = {i: scores[i] for i in range(N) if CATS[i % 4] in ("a", "c")}
    for index, grpc_client, rests in views(clients):
        consistency = consistency_at(index)
        hits = grpc_client.query_points(plain, query=QUERY.tolist(), using="d", limit=10, search_params=EXACT,
                                        consistency=consistency, timeout=10).points
        assert [p.id for p in hits] == top
        assert np.allclose([p.score for p in hits], scores[top], atol=1e-4)
        filtered = grpc_client.query_points(plain, query=QUERY.tolist(), using="d", limit=8, query_filter=flt,
                                            search_params=EXACT, consistency=consistency).points
        assert [p.id for p in filtered] == ranked(allowed, 8)
        for rest in rests:
            same_scored(rest.query_points(plain, query=QUERY.tolist(), using="d", limit=10, search_params=EXACT,
                                          consistency=consistency).points, hits)
            same_scored(rest.query_points(plain, query=QUERY.tolist(), using="d", limit=8, query_filter=flt,
                                          search_params=EXACT, consistency=consistency).points, filtered)


def test_prefetch_rrf_matches_rest_and_brute_force(clients, plain):
    sparse_q = models.SparseVector(indices=[1, 4, 12, 17], values=[1.0, 0.5, 2.0, 0.25])
    dense_rank = ranked({i: float(s) for i, s in enumerate(dense_scores(QUERY))}, 20)
    sparse_rank = ranked(sparse_scores(sparse_q.indices, sparse_q.values), 20)
    fused: dict[int, float] = {}
    for ranking in (dense_rank, sparse_rank):
        for position, pid in enumerate(ranking):
            fused[pid] = fused.get(pid, 0.0) + 1.0 / (position + 2)
    prefetch = [models.Prefetch(query=QUERY.tolist(), using="d", limit=20, params=EXACT),
                models.Prefetch(query=sparse_q, using="s", limit=20)]
    for index, grpc_client, rests in views(clients):
        consistency = consistency_at(index + 1)
        hits = grpc_client.query_points(plain, prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.RRF),
                                        limit=10, consistency=consistency).points
        assert len(hits) == 10
        for hit in hits:
            assert abs(hit.score - fused[hit.id]) < 1e-5
        cut = min(hit.score for hit in hits)
        assert all(score <= cut + 1e-9 for pid, score in fused.items() if pid not in {h.id for h in hits})
        for rest in rests:
            same_scored(rest.query_points(plain, prefetch=prefetch, limit=10, consistency=consistency,
                                          query=models.FusionQuery(fusion=models.Fusion.RRF)).points, hits)


def test_facet_and_groups_match_rest_and_brute_force(clients, plain):
    scores = dense_scores(QUERY)
    best: dict[int, list[int]] = {}
    for pid in np.argsort(-scores):
        best.setdefault(int(pid) % 7, []).append(int(pid))
    group_order = sorted(best, key=lambda g: -scores[best[g][0]])[:4]
    for index, grpc_client, rests in views(clients):
        consistency = consistency_at(index + 2)
        facet = grpc_client.facet(plain, "cat", exact=True, consistency=consistency, timeout=10)
        assert {(h.value, h.count) for h in facet.hits} == {(c, N // 4) for c in CATS}
        flt = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(lt=10))])
        facet_f = grpc_client.facet(plain, "cat", facet_filter=flt, exact=True, consistency=consistency)
        for rest in rests:
            assert rest.facet(plain, "cat", exact=True, consistency=consistency).hits == facet.hits
            assert rest.facet(plain, "cat", facet_filter=flt, exact=True, consistency=consistency).hits == facet_f.hits
        assert {(h.value, h.count) for h in facet_f.hits} == {("a", 3), ("b", 3), ("c", 2), ("d", 2)}

        groups = grpc_client.query_points_groups(plain, group_by="grp", query=QUERY.tolist(), using="d", limit=4,
                                                 group_size=2, search_params=EXACT, consistency=consistency).groups
        assert [g.id for g in groups] == group_order
        for group in groups:
            assert [h.id for h in group.hits] == best[group.id][:2]
        for rest in rests:
            rest_groups = rest.query_points_groups(plain, group_by="grp", query=QUERY.tolist(), using="d", limit=4,
                                                   group_size=2, search_params=EXACT, consistency=consistency).groups
            assert [g.id for g in rest_groups] == [g.id for g in groups]
            for mine, theirs in zip(groups, rest_groups):
                same_scored(theirs.hits, mine.hits)


def test_keyed_reads_with_shard_key_selectors(clients, keyed):
    scores = dense_scores(QUERY)
    for index, grpc_client, rests in views(clients):
        consistency = consistency_at(index)
        for selector in (KEYS[0], KEYS[1], list(KEYS), None):
            members = [i for i in range(N) if selector is None or key_of(i) in
                       ([selector] if isinstance(selector, str) else selector)]
            top = ranked({KEYED_BASE + i: float(scores[i]) for i in members}, 6)
            hits = grpc_client.query_points(keyed, query=QUERY.tolist(), using="d", limit=6, search_params=EXACT,
                                            shard_key_selector=selector, consistency=consistency).points
            assert [h.id for h in hits] == top
            got = grpc_client.retrieve(keyed, [KEYED_BASE, KEYED_BASE + N - 1], with_vectors=True,
                                       shard_key_selector=selector, consistency=consistency)
            facet = grpc_client.facet(keyed, "cat", exact=True, shard_key_selector=selector, consistency=consistency)
            expected_facet: dict[str, int] = {}
            for i in members:
                expected_facet[CATS[i % 4]] = expected_facet.get(CATS[i % 4], 0) + 1
            assert {h.value: h.count for h in facet.hits} == expected_facet
            for rest in rests:
                same_scored(rest.query_points(keyed, query=QUERY.tolist(), using="d", limit=6, search_params=EXACT,
                                              shard_key_selector=selector, consistency=consistency).points, hits)
                assert records(rest.retrieve(keyed, [KEYED_BASE, KEYED_BASE + N - 1], with_vectors=True,
                                             shard_key_selector=selector, consistency=consistency)) == records(got)
                assert rest.facet(keyed, "cat", exact=True, shard_key_selector=selector,
                                  consistency=consistency).hits == facet.hits
            assert {r.id for r in got} == {KEYED_BASE + i for i in (0, N - 1) if i in members}


# --------------------------------------------------------------------------- updates over gRPC seen everywhere


def _all_nodes(clients: list[dict], check) -> bool:
    return all(check(pair["rest"]) for pair in clients)


def test_set_payload_and_delete_visible_on_every_node(clients, plain, keyed):
    all_ = models.ReadConsistencyType.ALL
    assert clients[1]["grpc"].set_payload(plain, {"flag": "set"}, points=[1, 2, 3], wait=True,
                                          ordering=models.WriteOrdering.STRONG, timeout=10).status == "completed"
    clients[2]["grpc"].delete(plain, [4, 5], wait=False, ordering=models.WriteOrdering.MEDIUM)

    def plain_done(rest: QdrantClient) -> bool:
        got = {r.id: r.payload for r in rest.retrieve(plain, [1, 2, 3, 4, 5], consistency=all_)}
        return set(got) == {1, 2, 3} and all(got[i] == {**payload_of(i), "flag": "set"} for i in got)

    assert _all_nodes(clients, plain_done)
    wait_for(lambda: _all_nodes(clients, lambda r: r.count(plain, exact=True).count == N - 2), timeout=15,
             what="deletes counted on every node")

    target = KEYED_BASE + N - 1  # lives under the second key
    clients[0]["grpc"].set_payload(keyed, {"flag": 1}, points=[target], shard_key_selector=KEYS[1], wait=True)
    clients[0]["grpc"].delete(keyed, models.FilterSelector(filter=models.Filter(must=[
        models.FieldCondition(key="n", match=models.MatchValue(value=0))])), shard_key_selector=KEYS[0], wait=True)

    def keyed_done(rest: QdrantClient) -> bool:
        got = {r.id: r.payload for r in rest.retrieve(keyed, [KEYED_BASE, target], consistency=all_)}
        return set(got) == {target} and got[target] == {**payload_of(N - 1), "flag": 1}

    assert _all_nodes(clients, keyed_done)
    for pair in clients:
        assert pair["grpc"].count(keyed, exact=True).count == N - 1
        assert pair["grpc"].retrieve(keyed, [target], shard_key_selector=KEYS[0]) == []


# --------------------------------------------------------------------------- collection metadata


def test_collection_and_cluster_info_match_rest(cluster, clients, plain):
    for index, pair in enumerate(clients):
        grpc_info = pair["grpc"].get_collection(plain)
        for rest in (pair["rest"], clients[(index + 1) % 3]["rest"]):
            rest_info = rest.get_collection(plain)
            assert grpc_info.config == rest_info.config
            assert grpc_info.points_count == rest_info.points_count
            assert grpc_info.payload_schema.keys() == rest_info.payload_schema.keys() == {"cat", "n"}
        grpc_cluster = pair["grpc"].collection_cluster_info(plain)
        rest_cluster = pair["rest"].collection_cluster_info(plain)
        assert grpc_cluster.peer_id == rest_cluster.peer_id == cluster.peer_id(cluster.nodes[index])
        assert grpc_cluster.shard_count == rest_cluster.shard_count == 3

        def shards(info) -> set:
            local = {(s.shard_id, str(s.state), info.peer_id) for s in info.local_shards}
            return local | {(s.shard_id, str(s.state), s.peer_id) for s in info.remote_shards}

        assert shards(grpc_cluster) == shards(rest_cluster)
        assert len(grpc_cluster.local_shards) == 2 and len(grpc_cluster.remote_shards) == 4


def test_aliases_over_grpc_seen_on_every_node(clients, plain):
    alias = f"grpc_alias_{uuid.uuid4().hex[:6]}"
    assert clients[0]["grpc"].update_collection_aliases([
        models.CreateAliasOperation(create_alias=models.CreateAlias(collection_name=plain, alias_name=alias))
    ], timeout=10) is True

    def listed(pair: dict) -> bool:
        names = [(a.alias_name, a.collection_name) for a in pair["rest"].get_aliases().aliases]
        return (alias, plain) in names

    wait_for(lambda: all(listed(pair) for pair in clients), timeout=15, what="alias on every node")
    for index, pair in enumerate(clients):
        grpc_aliases = pair["grpc"].get_collection_aliases(plain)
        assert grpc_aliases == pair["rest"].get_collection_aliases(plain)
        assert alias in [a.alias_name for a in grpc_aliases.aliases]
        via_alias = pair["grpc"].query_points(alias, query=QUERY.tolist(), using="d", limit=3, search_params=EXACT)
        same_scored(via_alias.points, clients[(index + 2) % 3]["rest"].query_points(
            plain, query=QUERY.tolist(), using="d", limit=3, search_params=EXACT).points)
    assert clients[2]["grpc"].update_collection_aliases([
        models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias))]) is True
    wait_for(lambda: not any(listed(pair) for pair in clients), timeout=15, what="alias gone on every node")


def test_delete_shard_key_over_grpc_seen_on_every_node(cluster, clients, keyed):
    assert clients[1]["grpc"].delete_shard_key(keyed, KEYS[0]) is True

    def only_beta(pair: dict) -> bool:
        keys = [k.key for k in pair["rest"].list_shard_keys(keyed).shard_keys]
        return keys == [KEYS[1]] and pair["rest"].count(keyed, exact=True).count == N // 2

    wait_for(lambda: all(only_beta(pair) for pair in clients), timeout=15, what="shard key gone everywhere",
             tolerate=(Exception,))
    for node, pair in zip(cluster.nodes, clients):
        assert pair["grpc"].list_shard_keys(keyed) == pair["rest"].list_shard_keys(keyed)
        assert pair["grpc"].count(keyed, exact=True).count == N // 2
        with pytest.raises(grpc.RpcError) as caught:
            pair["grpc"].count(keyed, shard_key_selector=KEYS[0], exact=True)
        rest = requests.post(f"{node.url}/collections/{keyed}/points/count",
                             json={"exact": True, "shard_key": KEYS[0]}, timeout=10)
        assert rest.status_code in (400, 404)
        assert caught.value.code() == {400: grpc.StatusCode.INVALID_ARGUMENT,
                                       404: grpc.StatusCode.NOT_FOUND}[rest.status_code]
        assert caught.value.details() == rest.json()["status"]["error"]


# --------------------------------------------------------------------------- errors


def test_missing_collection_is_not_found_on_every_node(cluster, clients):
    missing = f"no_such_{uuid.uuid4().hex[:6]}"
    for node, pair in zip(cluster.nodes, clients):
        calls = [
            lambda c: c.get_collection(missing),
            lambda c: c.query_points(missing, query=QUERY.tolist(), using="d", limit=3),
            lambda c: c.upsert(missing, [point(0)], wait=True),
            lambda c: c.retrieve(missing, [1], consistency=models.ReadConsistencyType.ALL),
            lambda c: c.collection_cluster_info(missing),
        ]
        for call in calls:
            with pytest.raises(grpc.RpcError) as caught:
                call(pair["grpc"])
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
            assert missing in caught.value.details()
        rest = requests.get(f"{node.url}/collections/{missing}", timeout=10)
        assert rest.status_code == 404
        with pytest.raises(grpc.RpcError) as caught:
            pair["grpc"].get_collection(missing)
        assert caught.value.details() == rest.json()["status"]["error"]


# --------------------------------------------------------------------------- read_consistency with a peer down


def test_read_consistency_with_a_peer_down_fails_alike(cluster, clients, plain):
    """With one node killed, a one-replica read still answers; ``all``/2 cannot, over both transports alike."""
    ids = list(range(6, N))  # 4 and 5 were deleted above
    down = cluster.nodes[2]
    cluster.kill(down)
    try:
        for node, pair in zip(cluster.nodes[:2], clients[:2]):
            for transport in ("grpc", "rest"):
                got = pair[transport].retrieve(plain, ids, with_payload=False, timeout=10)
                assert sorted(r.id for r in got) == ids
            for consistency in (models.ReadConsistencyType.ALL, 2):
                with pytest.raises(grpc.RpcError) as caught:
                    pair["grpc"].retrieve(plain, ids, with_payload=False, consistency=consistency, timeout=10)
                assert caught.value.code() == grpc.StatusCode.UNAVAILABLE, caught.value.details()
                rest = requests.post(f"{node.url}/collections/{plain}/points",
                                     params={"consistency": rest_consistency(consistency)},
                                     json={"ids": ids, "with_payload": False}, timeout=10)
                assert rest.status_code == 503
                assert rest.json()["status"]["error"].split(":")[0] == caught.value.details().split(":")[0]
                reply_error = None
                try:
                    pair["grpc"].grpc_points.Count(pg.CountPoints(
                        collection_name=plain, exact=True, read_consistency=grpc_consistency(consistency)))
                except grpc.RpcError as exc:
                    reply_error = exc.code()
                assert reply_error == grpc.StatusCode.UNAVAILABLE
    finally:
        cluster.restart(down)
    cluster.wait_converged()
    cluster.wait_all_active(plain)
    assert sorted(r.id for r in clients[2]["grpc"].retrieve(
        plain, ids, with_payload=False, consistency=models.ReadConsistencyType.ALL)) == ids
