"""kill -9 a node while it takes writes; check no acknowledged write is lost.

    python chaos_tests/kill_under_load.py [--rounds 5] [--seed 1]

Exits non-zero and prints the missing ids if an acknowledged write is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.node_process import NodeProcess  # noqa: E402


def writer(url: str, start_id: int, acknowledged: dict[int, int], stop: threading.Event) -> None:
    """Upsert one point per request until the node dies; record what was acknowledged."""
    session = requests.Session()
    point_id = start_id
    while not stop.is_set():
        body = {"points": [{"id": point_id, "vector": [float(point_id % 7), 1.0, 2.0, 3.0], "payload": {"n": point_id}}]}
        try:
            response = session.put(f"{url}/collections/chaos/points", json=body, timeout=5)
        except requests.RequestException:
            return
        if response.status_code == 200:
            acknowledged[point_id] = point_id
        point_id += 1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    acknowledged: dict[int, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        node = NodeProcess(storage=os.path.join(tmp, "storage")).start()
        requests.put(f"{node.url}/collections/chaos", json={"vectors": {"size": 4, "distance": "Dot"}}, timeout=10)
        for round_number in range(args.rounds):
            stop = threading.Event()
            thread = threading.Thread(target=writer, args=(node.url, round_number * 1_000_000, acknowledged, stop))
            thread.start()
            time.sleep(rng.uniform(0.2, 1.5))  # the fault's moment is random on purpose
            node.kill()
            stop.set()
            thread.join()
            node.start()
            ids = list(acknowledged)
            found: set[int] = set()
            for chunk in range(0, len(ids), 1000):
                response = requests.post(
                    f"{node.url}/collections/chaos/points",
                    json={"ids": ids[chunk : chunk + 1000], "with_payload": True},
                    timeout=30,
                )
                for record in response.json()["result"]:
                    if record["payload"] == {"n": record["id"]}:
                        found.add(record["id"])
            missing = sorted(set(ids) - found)
            print(json.dumps({"round": round_number, "acknowledged": len(ids), "missing": len(missing)}))
            if missing:
                print("lost acknowledged writes:", missing[:20])
                node.stop()
                return 1
        node.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
