"""Strict mode's pure checks (node/strict_mode.py)."""

from __future__ import annotations

import pytest

from consensus.errors import BadInput, RateLimited
from node import strict_mode
from shards.filters import parse_filter


def cfg(**limits):
    return {"params": {"vectors": {"size": 4, "distance": "Cosine"}}, "strict_mode_config": {"enabled": True, **limits}}


def test_disabled_checks_nothing():
    config = {"strict_mode_config": {"enabled": False, "max_query_limit": 1}}
    strict_mode.check_query(config, limit=100)
    strict_mode.check_upsert(config, 100, points_count=100)
    strict_mode.RateLimiters().check("c", {"strict_mode_config": {"enabled": False, "read_rate_limit": 1}}, "read")


def test_query_limits():
    with pytest.raises(BadInput, match=r'Bad request: Limit exceeded 11 > 10 for "limit". Help: Reduce the "limit" parameter to or below 10.'):
        strict_mode.check_query(cfg(max_query_limit=10), limit=11)
    strict_mode.check_query(cfg(max_query_limit=10), limit=10)
    with pytest.raises(BadInput, match='for "timeout"'):
        strict_mode.check_query(cfg(max_timeout=5), timeout=6)
    with pytest.raises(BadInput, match='for "hnsw_ef"'):
        strict_mode.check_query(cfg(search_max_hnsw_ef=8), hnsw_ef=9)
    with pytest.raises(BadInput, match=r"Exact search disabled!. Help: Set exact=false."):
        strict_mode.check_query(cfg(search_allow_exact=False), exact=True)
    strict_mode.check_query(cfg(search_allow_exact=False), exact=False)
    with pytest.raises(BadInput, match=r'Limit exceeded 2.5 > 2 for "oversampling"'):
        strict_mode.check_query(cfg(search_max_oversampling=2.0), oversampling=2.5)


def test_filter_checks():
    f = parse_filter({"must": [{"key": "a", "match": {"value": "x"}}, {"key": "n", "range": {"gt": 1}}]})
    with pytest.raises(BadInput, match=r"Filter condition limit reached \(2 > 1\)"):
        strict_mode.check_filter(cfg(filter_max_conditions=1), f, {})
    big = parse_filter({"must": [{"key": "a", "match": {"any": ["x", "y", "z"]}}]})
    with pytest.raises(BadInput, match=r"Condition size limit reached \(3 > 2\)"):
        strict_mode.check_filter(cfg(condition_max_size=2), big, {})
    strict = cfg(unindexed_filtering_retrieve=False)
    with pytest.raises(BadInput, match=r'Index required but not found for "a" of one of the following types: \[keyword\]'):
        strict_mode.check_filter(strict, f, {})
    with pytest.raises(BadInput, match=r'"n" of one of the following types: \[float, integer\]'):
        strict_mode.check_filter(strict, f, {"a": "keyword"})
    strict_mode.check_filter(strict, f, {"a": "keyword", "n": "float"})
    strict_mode.check_filter(strict, f, {}, write=True)  # only unindexed_filtering_update governs writes
    nested = parse_filter({"must": [{"nested": {"key": "c", "filter": {"must": [{"key": "d", "match": {"value": 1}}]}}}]})
    with pytest.raises(BadInput, match=r'"c\[\].d" of one of the following types: \[integer\]'):
        strict_mode.check_filter(cfg(unindexed_filtering_update=False), nested, {}, write=True)


def test_upsert_and_index_limits():
    with pytest.raises(BadInput, match='for "upsert limit"'):
        strict_mode.check_upsert(cfg(upsert_max_batchsize=2), 3)
    with pytest.raises(BadInput, match="Max points count limit of 5 reached!"):
        strict_mode.check_upsert(cfg(max_points_count=5), 1, points_count=5)
    strict_mode.check_upsert(cfg(max_points_count=5), 1, points_count=4)
    with pytest.raises(BadInput, match=r"Max vector storage size limit of 1MB reached!"):
        strict_mode.check_upsert(cfg(max_collection_vector_size_bytes=1024 * 1024), 1, vector_bytes=1024 * 1024)
    with pytest.raises(BadInput, match=r"maximum number of payload indices \(1\)"):
        strict_mode.check_payload_index_count(cfg(max_payload_index_count=1), 1)
    assert strict_mode.vector_bytes_per_point(cfg()) == 16


def test_rate_limiter_refills_per_minute():
    now = [0.0]
    limiters = strict_mode.RateLimiters(clock=lambda: now[0])
    config = cfg(read_rate_limit=2)
    limiters.check("c", config, "read")
    limiters.check("c", config, "read")
    with pytest.raises(RateLimited) as caught:
        limiters.check("c", config, "read")
    assert caught.value.message.startswith("Rate limiting exceeded: Read rate limit exceeded")
    assert caught.value.retry_after == 30
    now[0] = 30.0  # 2 per minute: one token back after 30 s
    limiters.check("c", config, "read")
    limiters.check("other", config, "read")  # buckets are per collection
    with pytest.raises(RateLimited, match="Write rate limit exceeded"):
        limiters.check("c", cfg(write_rate_limit=1), "write", cost=2)
