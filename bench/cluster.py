"""Cluster benchmark: a 3-node cluster against one node, then failover figures.

In one run, on the same machine:

1. a standalone node (as ``bench/ingest_search.py`` starts it): upload N clustered
   vectors in batches of ``--batch`` with wait=true, wait for the HNSW build,
   measure search throughput with the raw-socket client and recall@10;
2. a 3-node cluster started with ``deploy.local_cluster`` (the compose topology),
   collection with ``--shards`` shards and ``--replication-factor`` replicas: the
   same upload, spread over the nodes (uploader i writes through node i mod 3),
   and the same search, spread over the nodes; reported as ratios to step 1;
3. failover: ``kill -9`` of the Raft leader, then at once and concurrently
   (a) metadata writes (create a payload index) retried against the survivors
   every ``--poll`` seconds until one succeeds: seconds from the kill;
   (b) a read loop (query / retrieve / count, round robin over the survivors) for
   ``--read-seconds``: the share of reads that failed (error status, timeout,
   or a wrong count / missing points).

Both collections use the same ``--indexing-threshold-kb`` so that the shards of
the cluster (N/3 points each) are indexed as the single node's one shard is.

    python bench/cluster.py [--points 50000] [--dim 128] [--queries 1000] [--clients 12]

Prints one JSON object (progress goes to stderr). Targets: cluster ingest >= 50 %
of single-node; metadata writes resume <= 3 s after leader loss; no failed read
with replication factor >= 2 while one node is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time

import aiohttp
import numpy as np
import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.ingest_search import (  # noqa: E402
    _run,
    brute_force_top,
    clustered,
    normalized,
    recall,
    search,
    wait_indexed,
)
from deploy.local_cluster import (  # noqa: E402
    free_first_http_port,
    load_compose,
    plan_nodes,
    start_cluster,
    stop_cluster,
)
from tests.node_process import NodeProcess  # noqa: E402

TARGETS = {
    "cluster_ingest_over_single_min": 0.5,
    "metadata_write_resumed_max_s": 3.0,
    "failed_read_share_max": 0.0,
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)




# --- workload ---------------------------------------------------------------------------------


def create_collection(url: str, dim: int, threshold_kb: int, extra: dict | None = None) -> None:
    body = {
        "vectors": {"size": dim, "distance": "Cosine"},
        "optimizers_config": {"indexing_threshold": threshold_kb},
        **(extra or {}),
    }
    response = requests.put(f"{url}/collections/bench", json=body, timeout=60)
    assert response.status_code == 200, response.text


async def upload_spread(urls: list[str], data: np.ndarray, batch: int, uploaders: int) -> float:
    """``ingest_search.upload`` with uploader i writing through ``urls[i % len(urls)]``.

    Same bodies (column form, payload ``{"n": id % 100}``), same wait=true; with one
    URL it is the same client as ``ingest_search.upload``.
    """
    queue: asyncio.Queue[str] = asyncio.Queue()
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        ids = list(range(start, start + len(chunk)))
        payloads = [{"n": i % 100} for i in ids]
        queue.put_nowait(json.dumps({"batch": {"ids": ids, "vectors": chunk.tolist(), "payloads": payloads}}))
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.put(f"{url}/collections/bench/points?wait=true", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, urls[i % len(urls)]) for i in range(uploaders)))
        return time.perf_counter() - started


async def search_spread(
    urls: list[str], queries: np.ndarray, ef: int, k: int, clients: int
) -> tuple[float, list[list[int]]]:
    """``ingest_search.search`` on every URL at once, queries and clients split between them."""
    parts = [list(range(i, len(queries), len(urls))) for i in range(len(urls))]
    per_url = [max(1, clients // len(urls) + (1 if i < clients % len(urls) else 0)) for i in range(len(urls))]
    started = time.perf_counter()
    answers = await asyncio.gather(
        *(search(url, queries[part], ef, k, n) for url, part, n in zip(urls, parts, per_url))
    )
    elapsed = time.perf_counter() - started
    found: list[list[int]] = [[] for _ in queries]
    for part, (_, part_found) in zip(parts, answers):
        for index, ids in zip(part, part_found):
            found[index] = ids
    return len(queries) / elapsed, found


def measure(urls: list[str], args, data, queries, truth) -> dict:
    ingest_s = _run(upload_spread(urls, data, args.batch, args.uploaders))
    log(f"ingest {ingest_s:.1f}s; waiting for the HNSW build")
    started = time.perf_counter()
    indexed = 0
    for url in urls:
        indexed += asyncio.run(wait_indexed(url, 1800))[1]
    index_wait_s = time.perf_counter() - started
    _run(search_spread(urls, queries[:200], args.ef, args.k, args.clients))  # warm-up
    qps, found = _run(search_spread(urls, queries, args.ef, args.k, args.clients))
    log(f"search {qps:.0f} qps")
    count = requests.post(f"{urls[0]}/collections/bench/points/count", json={"exact": True}, timeout=60)
    return {
        "ingest_s": round(ingest_s, 2),
        "ingest_points_per_s": round(len(data) / ingest_s, 1),
        "index_wait_s": round(index_wait_s, 2),
        "indexed_vectors_all_replicas": indexed,
        "search_qps": round(qps, 1),
        "recall_at_10": round(recall(found, truth), 4),
        "count": count.json()["result"]["count"],
    }


# --- failover ---------------------------------------------------------------------------------


def cluster_status(url: str) -> dict:
    return requests.get(f"{url}/cluster", timeout=2).json()["result"]


def metadata_writes(urls: list[str], t0: float, poll: float, deadline_s: float, out: dict) -> None:
    """Create a payload index through the survivors until one request succeeds."""
    attempt = 0
    errors: list[str] = []
    while time.monotonic() - t0 < deadline_s:
        url = urls[attempt % len(urls)]
        attempt += 1
        try:
            response = requests.put(
                f"{url}/collections/bench/index?wait=true",
                json={"field_name": f"failover_{attempt}", "field_schema": "keyword"},
                timeout=max(0.5, deadline_s - (time.monotonic() - t0)),
            )
            if response.status_code == 200:
                out.update(
                    metadata_write_resumed_s=round(time.monotonic() - t0, 3),
                    metadata_write_attempts=attempt,
                    metadata_write_errors_sample=errors[:3],
                )
                return
            errors.append(f"{response.status_code} {response.text[:160]}")
        except requests.RequestException as error:
            errors.append(f"{type(error).__name__}: {str(error)[:160]}")
        time.sleep(poll)
    out.update(metadata_write_resumed_s=None, metadata_write_attempts=attempt, metadata_write_errors_sample=errors[:3])


def leader_election(urls: list[str], old_leader: int, t0: float, poll: float, deadline_s: float, out: dict) -> None:
    """Seconds until every survivor names the same new leader in GET /cluster."""
    while time.monotonic() - t0 < deadline_s:
        try:
            leaders = {cluster_status(url)["raft_info"]["leader"] for url in urls}
            if len(leaders) == 1 and None not in leaders and old_leader not in leaders:
                out["new_leader_known_s"] = round(time.monotonic() - t0, 3)
                return
        except (requests.RequestException, KeyError, ValueError):
            pass
        time.sleep(poll)
    out["new_leader_known_s"] = None


def read_loop(urls: list[str], points: int, queries: np.ndarray, t0: float, seconds: float, out: dict) -> None:
    """Query / retrieve / count round robin over ``urls``; every failure is counted."""
    sessions = {url: requests.Session() for url in urls}
    rng = random.Random(3)
    total = failed = wrong = 0
    errors: list[str] = []
    failure_times: list[float] = []
    kinds = ("query", "retrieve", "count")
    while time.monotonic() - t0 < seconds:
        url = urls[total % len(urls)]
        kind = kinds[(total // len(urls)) % len(kinds)]
        total += 1
        try:
            if kind == "query":
                body = {"query": queries[rng.randrange(len(queries))].tolist(), "limit": 10}
                response = sessions[url].post(f"{url}/collections/bench/points/query", json=body, timeout=5)
                ok = response.status_code == 200 and len(response.json()["result"]["points"]) == 10
            elif kind == "retrieve":
                ids = rng.sample(range(points), 10)
                response = sessions[url].post(f"{url}/collections/bench/points", json={"ids": ids}, timeout=5)
                ok = response.status_code == 200 and sorted(p["id"] for p in response.json()["result"]) == sorted(ids)
            else:
                response = sessions[url].post(f"{url}/collections/bench/points/count", json={"exact": True}, timeout=5)
                ok = response.status_code == 200 and response.json()["result"]["count"] == points
            if response.status_code != 200:
                failed += 1
                errors.append(f"{kind} {response.status_code} {response.text[:160]}")
                failure_times.append(time.monotonic() - t0)
            elif not ok:
                wrong += 1
                errors.append(f"{kind} incomplete answer")
                failure_times.append(time.monotonic() - t0)
        except (requests.RequestException, ValueError, KeyError) as error:
            failed += 1
            errors.append(f"{kind} {type(error).__name__}: {str(error)[:160]}")
            failure_times.append(time.monotonic() - t0)
    out.update(
        reads_total=total,
        reads_failed=failed,
        reads_incomplete=wrong,
        failed_read_share=round((failed + wrong) / max(1, total), 5),
        read_failure_window_s=[round(min(failure_times), 3), round(max(failure_times), 3)] if failure_times else None,
        read_errors_sample=errors[:3],
    )


def failover(plans, processes, args, queries) -> dict:
    status = cluster_status(plans[0].url)
    leader = status["raft_info"]["leader"]
    leader_uri = status["peers"][str(leader)]["uri"]
    index = next(i for i, plan in enumerate(plans) if leader_uri.endswith(f":{plan.p2p_port}"))
    survivors = [plan.url for i, plan in enumerate(plans) if i != index]

    # A metadata write with every node up, for reference.
    started = time.monotonic()
    response = requests.put(
        f"{survivors[0]}/collections/bench/index?wait=true",
        json={"field_name": "before_kill", "field_schema": "keyword"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    baseline = time.monotonic() - started

    log(f"kill -9 {plans[index].name} (Raft leader {leader})")
    out: dict = {
        "killed": plans[index].name,
        "killed_was_leader": True,
        "metadata_write_before_kill_s": round(baseline, 3),
    }
    processes[index].kill()
    t0 = time.monotonic()
    threads = [
        threading.Thread(target=metadata_writes, args=(survivors, t0, args.poll, 30.0, out)),
        threading.Thread(target=leader_election, args=(survivors, leader, t0, args.poll, 30.0, out)),
        threading.Thread(target=read_loop, args=(survivors, args.points, queries, t0, args.read_seconds, out)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    processes[index].wait()
    return out


# --- main -------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=50_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--uploaders", type=int, default=3, help="concurrent uploads (both runs)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=12, help="concurrent search connections (both runs)")
    parser.add_argument("--ef", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--replication-factor", type=int, default=2)
    parser.add_argument("--indexing-threshold-kb", type=int, default=2000)
    parser.add_argument("--poll", type=float, default=0.05, help="seconds between failover retries")
    parser.add_argument("--read-seconds", type=float, default=10.0, help="length of the read loop after the kill")
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    data = clustered(args.points, args.dim, 100, rng)
    queries = clustered(args.queries, args.dim, 100, np.random.default_rng(7))[: args.queries]
    queries = queries + 0.1 * rng.normal(size=queries.shape).astype(np.float32)
    truth = brute_force_top(normalized(data), normalized(queries), args.k)
    run_started = time.monotonic()

    with tempfile.TemporaryDirectory() as tmp:
        log("single node")
        node = NodeProcess(storage=os.path.join(tmp, "single", "storage")).start()
        try:
            create_collection(node.url, args.dim, args.indexing_threshold_kb)
            single = measure([node.url], args, data, queries, truth)
        finally:
            node.stop()

        log(f"{args.nodes}-node cluster")
        plans = plan_nodes(load_compose(), args.nodes, os.path.join(tmp, "cluster"), free_first_http_port(args.nodes))
        processes = start_cluster(plans, timeout=60)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                statuses = [cluster_status(plan.url) for plan in plans]
                if all(len(s["peers"]) == args.nodes for s in statuses) and len(
                    {s["raft_info"]["leader"] for s in statuses} - {None}
                ) == 1:
                    break
                time.sleep(0.1)
            create_collection(
                plans[0].url,
                args.dim,
                args.indexing_threshold_kb,
                {"shard_number": args.shards, "replication_factor": args.replication_factor},
            )
            cluster = measure([plan.url for plan in plans], args, data, queries, truth)
            cluster.update(nodes=args.nodes, shard_number=args.shards, replication_factor=args.replication_factor)
            fail = failover(plans, processes, args, queries)
        finally:
            stop_cluster(processes)

    ratios = {
        "cluster_ingest_over_single": round(cluster["ingest_points_per_s"] / single["ingest_points_per_s"], 3),
        "cluster_search_over_single": round(cluster["search_qps"] / single["search_qps"], 3),
    }
    resumed = fail.get("metadata_write_resumed_s")
    print(
        json.dumps(
            {
                "points": args.points,
                "dim": args.dim,
                "batch": args.batch,
                "uploaders": args.uploaders,
                "search_clients": args.clients,
                "ef": args.ef,
                "indexing_threshold_kb": args.indexing_threshold_kb,
                "single_node": single,
                "cluster": cluster,
                "ratios": ratios,
                "failover": fail,
                "targets": TARGETS,
                "meets_targets": {
                    "cluster_ingest": ratios["cluster_ingest_over_single"] >= TARGETS["cluster_ingest_over_single_min"],
                    "metadata_write_resume": resumed is not None
                    and resumed <= TARGETS["metadata_write_resumed_max_s"],
                    "no_failed_reads": fail["failed_read_share"] <= TARGETS["failed_read_share_max"],
                },
                "run_s": round(time.monotonic() - run_started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
