"""gRPC against REST on one node, in the same run: ingest and search throughput.

Starts a node, creates two identical collections and uploads the same clustered
vectors to one over REST (column batches, pre-encoded JSON, as
``bench/ingest_search.py`` does) and to the other over gRPC (pre-serialized
``UpsertPoints`` messages), in the order REST, gRPC, gRPC, REST so that drift
on a noisy machine cancels out. Indexing is off while uploading; then both
collections are indexed and searched with the same queries (``/points/query``
against ``qdrant.Points/Query``) by the same number of concurrent clients, again
REST, gRPC, gRPC, REST. Before each phase the node is left to go idle, so the
background work a phase leaves behind is not billed to the next one. Requests
are built before the clock starts; the same searches are also run through the
official ``AsyncQdrantClient`` on each transport.

    python bench/grpc_vs_rest.py [--points 60000] [--dim 128] [--clients 32]

Prints one JSON object; the figures to read are the two ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import urllib.request

import grpc
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench.ingest_search import _request, _run, clustered, normalized  # noqa: E402
from tests.node_process import NodeProcess  # noqa: E402

from qdrant_client.grpc import points_pb2 as pb  # noqa: E402  (the official client's messages)
from qdrant_client.grpc import json_with_int_pb2 as json_pb  # noqa: E402
from qdrant_client.grpc import qdrant_common_pb2 as common_pb  # noqa: E402


def _rest(url: str, method: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        url + path, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def rest_upsert_bodies(data: np.ndarray, first_id: int, batch: int) -> list[bytes]:
    bodies = []
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch]
        ids = list(range(first_id + start, first_id + start + len(chunk)))
        payloads = [{"n": i % 100} for i in ids]
        bodies.append(json.dumps({"batch": {"ids": ids, "vectors": chunk.tolist(), "payloads": payloads}}).encode())
    return bodies


def grpc_upsert_messages(collection: str, data: np.ndarray, first_id: int, batch: int) -> list[bytes]:
    messages = []
    for start in range(0, len(data), batch):
        points = []
        for offset, row in enumerate(data[start : start + batch]):
            point_id = first_id + start + offset
            points.append(
                pb.PointStruct(
                    id=common_pb.PointId(num=point_id),
                    vectors=pb.Vectors(vector=pb.Vector(dense=pb.DenseVector(data=row.tolist()))),
                    payload={"n": json_pb.Value(integer_value=point_id % 100)},
                )
            )
        messages.append(pb.UpsertPoints(collection_name=collection, wait=True, points=points).SerializeToString())
    return messages


async def rest_ingest(url: str, collection: str, bodies: list[bytes], uploaders: int) -> float:
    host, port = url.split("//")[1].split(":")
    queue = list(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while queue:
                body = queue.pop()
                raw = (
                    b"PUT /collections/%s/points?wait=true HTTP/1.1\r\nHost: %s\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                    % (collection.encode(), host.encode(), len(body), body)
                )
                reply = json.loads(await _request(reader, writer, raw))
                assert reply["status"] == "ok", reply
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(uploaders)))
    return time.perf_counter() - started


def _identity(raw: bytes) -> bytes:
    return raw


async def grpc_calls(target: str, method: str, messages: list[bytes], clients: int, channels: int = 4) -> tuple[float, list[bytes]]:
    """Unary calls of pre-serialized messages with ``clients`` concurrent callers; replies stay serialized."""
    opened = [grpc.aio.insecure_channel(target, options=[("grpc.max_send_message_length", 256 << 20)]) for _ in range(channels)]
    calls = [ch.unary_unary(method, request_serializer=_identity, response_deserializer=_identity) for ch in opened]
    replies: list[bytes] = [b""] * len(messages)
    next_index = 0

    async def worker(call) -> None:
        nonlocal next_index
        while next_index < len(messages):
            i = next_index
            next_index += 1
            replies[i] = await call(messages[i])

    started = time.perf_counter()
    await asyncio.gather(*(worker(calls[c % channels]) for c in range(clients)))
    elapsed = time.perf_counter() - started
    for ch in opened:
        await ch.close()
    return elapsed, replies


async def rest_search(url: str, collection: str, queries: np.ndarray, ef: int, k: int, clients: int) -> tuple[float, list[list[int]]]:
    host, port = url.split("//")[1].split(":")
    raws = []
    for q in queries:
        body = json.dumps({"query": q.tolist(), "limit": k, "params": {"hnsw_ef": ef}}).encode()
        raws.append(
            b"POST /collections/%s/points/query HTTP/1.1\r\nHost: %s\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (collection.encode(), host.encode(), len(body), body)
        )
    results: list[list[int]] = [[] for _ in queries]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while next_index < len(raws):
                i = next_index
                next_index += 1
                results[i] = [p["id"] for p in json.loads(await _request(reader, writer, raws[i]))["result"]["points"]]
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return time.perf_counter() - started, results


def grpc_query_messages(collection: str, queries: np.ndarray, ef: int, k: int) -> list[bytes]:
    return [
        pb.QueryPoints(
            collection_name=collection,
            query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=q.tolist()))),
            limit=k,
            params=pb.SearchParams(hnsw_ef=ef),
        ).SerializeToString()
        for q in queries
    ]


async def client_search(node: NodeProcess, collection: str, queries: np.ndarray, ef: int, k: int, clients: int, grpc_: bool) -> tuple[float, list[list[int]]]:
    """The same searches through the official ``AsyncQdrantClient`` (httpx for REST, grpc.aio for gRPC)."""
    from qdrant_client import AsyncQdrantClient, models

    client = AsyncQdrantClient(
        url=node.url, grpc_port=node.grpc_port, prefer_grpc=grpc_, check_compatibility=False, timeout=60
    )
    params = models.SearchParams(hnsw_ef=ef)
    vectors = [q.tolist() for q in queries]
    results: list[list[int]] = [[] for _ in queries]
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(vectors):
            i = next_index
            next_index += 1
            reply = await client.query_points(collection, query=vectors[i], limit=k, search_params=params)
            results[i] = [p.id for p in reply.points]

    await client.query_points(collection, query=vectors[0], limit=k, search_params=params)  # connect
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed, results


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return sum(len(set(f) & set(t.tolist())) for f, t in zip(found, truth)) / truth.size


def wait_indexed(url: str, collection: str, timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = json.loads(urllib.request.urlopen(f"{url}/collections/{collection}").read())["result"]
        if info["status"] == "green" and info["indexed_vectors_count"] >= info["points_count"] * 0.9:
            return
        time.sleep(0.5)
    raise TimeoutError("indexing did not finish")


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(node: NodeProcess, timeout: float = 60.0) -> None:
    """Wait until the node is idle (below 5% of a core over half a second): the background
    work one phase leaves behind (RocksDB flushes, compactions) must not be billed to the next."""
    pid = node.process.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_seconds(pid)
        time.sleep(0.5)
        if _cpu_seconds(pid) - before < 0.025:
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=60_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--uploaders", type=int, default=2)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--ef", type=int, default=100)
    args = parser.parse_args()

    rng = np.random.default_rng(11)
    data = normalized(clustered(args.points, args.dim, 100, rng))
    # Queries near the data: same cluster centres (same seed), then a little noise.
    queries = clustered(args.queries, args.dim, 100, np.random.default_rng(11))
    queries = normalized(queries + 0.1 * np.random.default_rng(12).normal(size=queries.shape).astype(np.float32))
    half = args.points // 2
    config = {"vectors": {"size": args.dim, "distance": "Cosine"}, "optimizers_config": {"indexing_threshold": 0}}
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        node = NodeProcess(storage=os.path.join(tmp, "storage")).start()
        target = f"127.0.0.1:{node.grpc_port}"
        try:
            for name in ("via_rest", "via_grpc"):
                _rest(node.url, "PUT", f"/collections/{name}", config)
            rest_parts = [rest_upsert_bodies(data[:half], 0, args.batch), rest_upsert_bodies(data[half:], half, args.batch)]
            grpc_parts = [
                grpc_upsert_messages("via_grpc", data[:half], 0, args.batch),
                grpc_upsert_messages("via_grpc", data[half:], half, args.batch),
            ]
            seconds = {"rest": 0.0, "grpc": 0.0}
            for transport, part in (("rest", 0), ("grpc", 0), ("grpc", 1), ("rest", 1)):
                settle(node)
                if transport == "rest":
                    seconds["rest"] += _run(rest_ingest(node.url, "via_rest", rest_parts[part], args.uploaders))
                else:
                    seconds["grpc"] += _run(grpc_calls(target, "/qdrant.Points/Upsert", grpc_parts[part], args.uploaders))[0]
            figures["rest_ingest_points_per_s"] = round(args.points / seconds["rest"], 1)
            figures["grpc_ingest_points_per_s"] = round(args.points / seconds["grpc"], 1)

            for name in ("via_rest", "via_grpc"):
                _rest(node.url, "PATCH", f"/collections/{name}", {"optimizers_config": {"indexing_threshold": 1000}})
            for name in ("via_rest", "via_grpc"):
                wait_indexed(node.url, name)
            messages = grpc_query_messages("via_grpc", queries, args.ef, 10)
            _run(rest_search(node.url, "via_rest", queries[:200], args.ef, 10, 8))  # warm-up
            _run(grpc_calls(target, "/qdrant.Points/Query", messages[:200], 8))
            search_seconds = {"rest": 0.0, "grpc": 0.0}
            rest_ids: list[list[int]] = []
            grpc_replies: list[bytes] = []
            for transport in ("rest", "grpc", "grpc", "rest"):
                settle(node)
                if transport == "rest":
                    elapsed, rest_ids = _run(rest_search(node.url, "via_rest", queries, args.ef, 10, args.clients))
                else:
                    elapsed, grpc_replies = _run(grpc_calls(target, "/qdrant.Points/Query", messages, args.clients))
                search_seconds[transport] += elapsed
            grpc_ids = [[p.id.num for p in pb.QueryResponse.FromString(r).result] for r in grpc_replies]
            # The official client on both transports: what a qdrant-client user sees end to end.
            client_seconds = {"rest": 0.0, "grpc": 0.0}
            for transport in ("rest", "grpc", "grpc", "rest"):
                settle(node)
                name = "via_rest" if transport == "rest" else "via_grpc"
                elapsed, _ = _run(client_search(node, name, queries, args.ef, 10, args.clients, transport == "grpc"))
                client_seconds[transport] += elapsed
        finally:
            node.stop()
    truth = np.argsort(-(queries @ data.T), axis=1)[:, :10]
    figures["rest_search_qps"] = round(2 * args.queries / search_seconds["rest"], 1)
    figures["grpc_search_qps"] = round(2 * args.queries / search_seconds["grpc"], 1)
    figures["grpc_over_rest_ingest"] = round(figures["grpc_ingest_points_per_s"] / figures["rest_ingest_points_per_s"], 3)
    figures["grpc_over_rest_search"] = round(figures["grpc_search_qps"] / figures["rest_search_qps"], 3)
    figures["official_client_rest_search_qps"] = round(2 * args.queries / client_seconds["rest"], 1)
    figures["official_client_grpc_search_qps"] = round(2 * args.queries / client_seconds["grpc"], 1)
    figures["official_client_grpc_over_rest_search"] = round(
        figures["official_client_grpc_search_qps"] / figures["official_client_rest_search_qps"], 3
    )
    figures["rest_recall_at_10"] = round(recall(rest_ids, truth), 4)
    figures["grpc_recall_at_10"] = round(recall(grpc_ids, truth), 4)
    print(json.dumps({"points": args.points, "dim": args.dim, "clients": args.clients, **figures}, indent=2))


if __name__ == "__main__":
    main()
