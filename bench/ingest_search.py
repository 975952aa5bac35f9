"""Ingest and search benchmark against a real node, with raw hnswlib as the baseline.

Starts a node process on loopback, uploads N clustered vectors in batches with
wait=true, waits for the background HNSW build, then measures REST search
throughput with concurrent clients and recall@10 against brute force. The same
queries run on an in-process hnswlib index (same M, ef_construct and ef, one
thread) in the same run, so the figures are ratios on the same noisy machine.

    python bench/ingest_search.py [--points 100000] [--dim 128] [--ef 100]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

import aiohttp
import hnswlib
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.node_process import NodeProcess  # noqa: E402


def clustered(n: int, dim: int, clusters: int, rng: np.random.Generator) -> np.ndarray:
    centers = rng.normal(size=(clusters, dim)).astype(np.float32)
    labels = rng.integers(0, clusters, size=n)
    data = centers[labels] + 0.35 * rng.normal(size=(n, dim)).astype(np.float32)
    return data.astype(np.float32)


def normalized(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def brute_force_top(data_n: np.ndarray, queries_n: np.ndarray, k: int) -> np.ndarray:
    scores = queries_n @ data_n.T
    return np.argsort(-scores, axis=1)[:, :k]


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    hits = sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


async def upload(url: str, data: np.ndarray, batch: int, uploaders: int) -> float:
    bodies = []
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        ids = list(range(start, start + len(chunk)))
        payloads = [{"n": i % 100} for i in ids]
        bodies.append(json.dumps({"batch": {"ids": ids, "vectors": chunk.tolist(), "payloads": payloads}}))
    queue: asyncio.Queue[str] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.put(f"{url}/collections/bench/points?wait=true", data=body, headers=headers) as r:
                assert r.status == 200, await r.text()
                await r.read()

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(uploaders)))
        return time.perf_counter() - started


async def wait_indexed(url: str, total: int, timeout: float) -> float:
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            async with session.get(f"{url}/collections/bench") as r:
                info = (await r.json())["result"]
            if info["indexed_vectors_count"] >= total and info["status"] == "green":
                return time.perf_counter() - started
            await asyncio.sleep(0.5)
    raise TimeoutError("indexing did not finish")


async def search(url: str, queries: np.ndarray, ef: int, k: int, concurrency: int) -> tuple[float, list[list[int]]]:
    bodies = [
        json.dumps({"query": q.tolist(), "limit": k, "params": {"hnsw_ef": ef}}) for q in queries
    ]
    results: list[list[int]] = [[] for _ in queries]
    next_index = 0
    headers = {"Content-Type": "application/json"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index
        while next_index < len(bodies):
            i = next_index
            next_index += 1
            async with session.post(f"{url}/collections/bench/points/query", data=bodies[i], headers=headers) as r:
                payload = await r.json()
            results[i] = [p["id"] for p in payload["result"]["points"]]

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return len(bodies) / elapsed, results


def raw_hnswlib(data_n: np.ndarray, queries_n: np.ndarray, ef: int, k: int) -> tuple[float, float, list[list[int]]]:
    index = hnswlib.Index(space="ip", dim=data_n.shape[1])
    index.init_index(max_elements=len(data_n), M=16, ef_construction=100)
    started = time.perf_counter()
    index.add_items(data_n, np.arange(len(data_n)), num_threads=2)
    build = time.perf_counter() - started
    index.set_ef(ef)
    found = []
    started = time.perf_counter()
    for q in queries_n:
        labels, _ = index.knn_query(q, k=k, num_threads=1)
        found.append(labels[0].tolist())
    return len(queries_n) / (time.perf_counter() - started), build, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--ef", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    data = clustered(args.points, args.dim, 100, rng)
    queries = clustered(args.queries, args.dim, 100, np.random.default_rng(7))[: args.queries]
    queries = queries + 0.1 * rng.normal(size=queries.shape).astype(np.float32)
    data_n, queries_n = normalized(data), normalized(queries)
    truth = brute_force_top(data_n, queries_n, args.k)

    with tempfile.TemporaryDirectory() as tmp:
        node = NodeProcess(storage=os.path.join(tmp, "storage")).start()
        try:
            import urllib.request

            request = urllib.request.Request(
                f"{node.url}/collections/bench",
                data=json.dumps({"vectors": {"size": args.dim, "distance": "Cosine"}}).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request).read()
            ingest_seconds = asyncio.run(upload(node.url, data, args.batch, args.uploaders))
            index_seconds = asyncio.run(wait_indexed(node.url, args.points, 1800))
            asyncio.run(search(node.url, queries[:200], args.ef, args.k, args.concurrency))  # warm-up
            rest_qps, rest_found = asyncio.run(search(node.url, queries, args.ef, args.k, args.concurrency))
        finally:
            node.stop()
    raw_qps, raw_build, raw_found = raw_hnswlib(data_n, queries_n, args.ef, args.k)
    print(
        json.dumps(
            {
                "points": args.points,
                "dim": args.dim,
                "ef": args.ef,
                "ingest_points_per_s": round(args.points / ingest_seconds, 1),
                "index_wait_s": round(index_seconds, 2),
                "rest_search_qps": round(rest_qps, 1),
                "rest_recall_at_10": round(recall(rest_found, truth), 4),
                "raw_hnswlib_qps_single_thread": round(raw_qps, 1),
                "raw_hnswlib_build_s": round(raw_build, 2),
                "raw_hnswlib_recall_at_10": round(recall(raw_found, truth), 4),
                "rest_over_raw_ratio": round(rest_qps / raw_qps, 3),
                "concurrency": args.concurrency,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
