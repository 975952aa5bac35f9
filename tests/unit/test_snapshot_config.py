"""Snapshot configs are validated before they reach consensus; snapshot files are read safely."""

from __future__ import annotations

import copy
import io
import json
import tarfile

import pytest

from consensus.errors import BadInput
from node.snapshot_archive import read_snapshot
from node.snapshots import validate_config
from shards.collection_config import apply_update, build_config

BODIES = [
    {"vectors": {"size": 4, "distance": "Cosine"}},
    {
        "vectors": {"a": {"size": 3, "distance": "Dot", "on_disk": True, "datatype": "float16"}},
        "sparse_vectors": {"s": {"modifier": "idf"}},
        "shard_number": 3,
        "replication_factor": 2,
        "sharding_method": "custom",
        "hnsw_config": {"m": 8, "payload_m": 4},
        "optimizers_config": {"indexing_threshold": 0},
        "quantization_config": {"scalar": {"type": "int8", "always_ram": True}},
        "strict_mode_config": {"enabled": True, "max_query_limit": 10},
        "metadata": {"owner": "x"},
    },
]


@pytest.mark.parametrize("body", BODIES)
def test_valid_configs_pass(body):
    config = build_config(body)
    validate_config(config)
    validate_config(apply_update(config, {"params": {"read_fan_out_factor": 2}}))


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.pop("params"),
        lambda c: c["params"].update(vectors={"size": -1, "distance": "Cosine"}),
        lambda c: c["params"].update(shard_number="many"),
        lambda c: c["params"].update(vectors=[1, 2]),
        lambda c: c.update(hnsw_config={"m": "x"}),
        lambda c: c["params"].update(read_fan_out_factor=-3),
    ],
)
def test_broken_configs_are_bad_input(change):
    config = copy.deepcopy(build_config(BODIES[0]))
    change(config)
    with pytest.raises(BadInput):
        validate_config(config)


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a tar at all",
        _tar({"records/0/000000.bin": b"x"}),
        _tar({"config.json": b"{not json"}),
        _tar({"config.json": json.dumps({"format": 99, "config": {}}).encode()}),
        _tar({"config.json": json.dumps({"format": 2, "kind": "full", "config": {}}).encode()}),
    ],
)
def test_bad_files_are_bad_input(tmp_path, data):
    path = tmp_path / "x.snapshot"
    path.write_bytes(data)
    with pytest.raises(BadInput):
        read_snapshot(str(path))


def test_pages_are_grouped_by_shard(tmp_path):
    header = {"format": 2, "kind": "collection", "config": {"params": {}}}
    path = tmp_path / "y.snapshot"
    path.write_bytes(
        _tar(
            {
                "config.json": json.dumps(header).encode(),
                "records/1/000001.bin": b"b",
                "records/1/000000.bin": b"a",
                "records/0/000000.bin": b"c",
            }
        )
    )
    content = read_snapshot(str(path))
    assert content.pages == {0: [b"c"], 1: [b"a", b"b"]}
    assert list(content.all_pages()) == [(0, b"c"), (1, b"a"), (1, b"b")]
