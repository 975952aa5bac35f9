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


async def wait_indexed(url: str, timeout: float) -> tuple[float, int]:
    """Wait until the optimizer is idle: status green with a built graph.

    As in Qdrant, vectors written after the last build stay unindexed (and are
    scanned exactly) while they are fewer than the indexing threshold.
    """
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() - started < timeout:
            async with session.get(f"{url}/collections/bench") as r:
                info = (await r.json())["result"]
            if info["indexed_vectors_count"] > 0 and info["status"] == "green":
                return time.perf_counter() - started, info["indexed_vectors_count"]
            await asyncio.sleep(0.2)
    raise TimeoutError("indexing did not finish")


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> bytes:
    """One keep-alive HTTP/1.1 exchange over an open connection; returns the body."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return await reader.readexactly(length)


async def search(url: str, queries: np.ndarray, ef: int, k: int, concurrency: int) -> tuple[float, list[list[int]]]:
    """Search throughput with ``concurrency`` keep-alive connections.

    The client is a minimal HTTP/1.1 writer on raw sockets with requests built
    beforehand (like wrk), so that on a 2-core machine the load generator takes as
    little CPU from the server as possible.
    """
    host, port = url.split("//")[1].split(":")
    requests_raw = []
    for q in queries:
        body = json.dumps({"query": q.tolist(), "limit": k, "params": {"hnsw_ef": ef}}).encode()
        requests_raw.append(
            b"POST /collections/bench/points/query HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (host.encode(), len(body), body)
        )
    results: list[list[int]] = [[] for _ in queries]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_index < len(requests_raw):
                i = next_index
                next_index += 1
                body = await _request(reader, writer, requests_raw[i])
                results[i] = [p["id"] for p in json.loads(body)["result"]["points"]]
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return len(requests_raw) / elapsed, results


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


def _run(coro):
    """The load generator runs on uvloop when it is installed: less client CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--concurrency", default="8,32", help="comma-separated client counts to measure")
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
            index_seconds, indexed = asyncio.run(wait_indexed(node.url, 1800))
            _run(search(node.url, queries[:200], args.ef, args.k, 8))  # warm-up
            rest_qps_by_clients = {}
            for clients in [int(c) for c in args.concurrency.split(",")]:
                rest_qps, rest_found = _run(search(node.url, queries, args.ef, args.k, clients))
                rest_qps_by_clients[clients] = round(rest_qps, 1)
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
                "indexed_vectors": indexed,
                "rest_search_qps_by_clients": rest_qps_by_clients,
                "rest_recall_at_10": round(recall(rest_found, truth), 4),
                "raw_hnswlib_qps_single_thread": round(raw_qps, 1),
                "raw_hnswlib_build_s": round(raw_build, 2),
                "raw_hnswlib_recall_at_10": round(recall(raw_found, truth), 4),
                "rest_over_raw_ratio_by_clients": {
                    clients: round(qps / raw_qps, 3) for clients, qps in rest_qps_by_clients.items()
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
