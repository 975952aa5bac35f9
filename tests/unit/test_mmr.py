"""The MMR selection and re-ranking of shards.mmr, against a plain reference implementation."""

from __future__ import annotations

import numpy as np
import pytest

from shards.mmr import Mmr, rerank, select
from shards.types import ScoredPoint, SparseVector
from shards.vector_space import VectorSpace


def reference(query_sims, pair, lam, k):
    picked = [int(np.argmax(query_sims))]
    left = [i for i in range(len(query_sims)) if i != picked[0]]
    while left and len(picked) < k:
        best = max(left, key=lambda i: lam * query_sims[i] - (1 - lam) * max(pair[i][j] for j in picked))
        picked.append(best)
        left.remove(best)
    return picked


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_select_matches_reference(seed, lam):
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(30, 5))
    query = rng.normal(size=5)
    query_sims = vectors @ query
    pair = vectors @ vectors.T
    assert select(query_sims, pair, lam, 10) == reference(query_sims, pair, lam, 10)


def test_lambda_one_is_relevance_order_and_zero_spreads_out():
    query_sims = np.array([0.9, 0.89, 0.1, 0.5])
    pair = np.array(
        [
            [1.0, 0.99, 0.0, 0.5],
            [0.99, 1.0, 0.0, 0.5],
            [0.0, 0.0, 1.0, 0.2],
            [0.5, 0.5, 0.2, 1.0],
        ]
    )
    assert select(query_sims, pair, 1.0, 4) == [0, 1, 3, 2]
    # Pure diversity: after the most relevant, the least similar to what is picked.
    assert select(query_sims, pair, 0.0, 3) == [0, 2, 3]
    # lambda 0.5: 0.5*0.1 - 0 beats 0.5*0.5 - 0.5*0.5 and 0.5*0.89 - 0.5*0.99.
    assert select(query_sims, pair, 0.5, 2) == [0, 2]


def test_limits_and_empty():
    assert select(np.array([]), np.zeros((0, 0)), 0.5, 3) == []
    assert select(np.array([0.3, 0.9]), np.eye(2), 0.5, 0) == []
    assert select(np.array([0.3, 0.9]), np.eye(2), 0.5, 5) == [1, 0]


def test_defaults():
    assert Mmr().lambda_ == pytest.approx(0.5)
    assert Mmr(diversity=0.0).lambda_ == 1.0
    assert Mmr().candidates_limit is None


def _hit(pid, score, vector):
    return ScoredPoint(id=pid, version=1, score=score, vectors=None if vector is None else {"v": vector})


def test_rerank_keeps_original_scores_and_drops_points_without_the_vector():
    space = VectorSpace(name="v", kind="dense", distance="Cosine")
    hits = [
        _hit(1, 0.99, np.array([1.0, 0.0], np.float32)),
        _hit(2, 0.98, np.array([0.99, 0.05], np.float32)),
        _hit(3, 0.50, np.array([0.5, 0.8], np.float32)),
        _hit(4, 0.97, None),
    ]
    out = rerank(space, np.array([1.0, 0.0], np.float32), hits, 0.2, 3)
    assert [h.id for h in out] == [1, 3, 2]
    assert [h.score for h in out] == [0.99, 0.50, 0.98]
    # Fewer than two candidates: returned as they are.
    assert [h.id for h in rerank(space, np.array([1.0, 0.0]), hits[:1], 0.5, 3)] == [1]


def test_rerank_sparse_space():
    space = VectorSpace(name="v", kind="sparse")

    def sv(pairs):
        return SparseVector(np.array([p[0] for p in pairs], np.uint32), np.array([p[1] for p in pairs], np.float32))

    hits = [_hit(1, 2.0, sv([(1, 2.0)])), _hit(2, 1.9, sv([(1, 1.9)])), _hit(3, 1.0, sv([(1, 0.5), (2, 1.0)]))]
    query = sv([(1, 1.0), (2, 1.0)])
    # lambda 0.3: after 1, point 3 (dot with 1: 1.0) beats point 2 (dot with 1: 3.8).
    assert [h.id for h in rerank(space, query, hits, 0.3, 3)] == [1, 3, 2]


# --------------------------------------------------------------------------- parsing

from consensus.errors import BadInput  # noqa: E402
from shards.lookup import LookupLocation  # noqa: E402
from transport.rest import query_parsing  # noqa: E402
from transport.rest.vector_parsing import DenseVectorSpec, SparseVectorSpec, VectorSchema  # noqa: E402

SCHEMA = VectorSchema(
    dense={"": DenseVectorSpec("", 3), "multi": DenseVectorSpec("multi", 2, multivector=True)},
    sparse={"text": SparseVectorSpec("text")},
)


def test_parse_mmr_defaults_and_values():
    parsed = query_parsing.parse_query({"query": {"nearest": [1, 2, 3], "mmr": {}}}, SCHEMA)
    assert parsed.mmr == Mmr(diversity=0.5, candidates_limit=None) and parsed.is_multi_stage
    parsed = query_parsing.parse_query(
        {"query": {"nearest": 7, "mmr": {"diversity": 0, "candidates_limit": 40}}, "limit": 3}, SCHEMA
    )
    assert parsed.mmr == Mmr(diversity=0.0, candidates_limit=40) and parsed.by_id == 7
    assert query_parsing.parse_query({"query": {"nearest": [1, 2, 3], "mmr": None}}, SCHEMA).mmr is None


@pytest.mark.parametrize(
    ("mmr", "message"),
    [
        ({"diversity": 2}, "Validation error in JSON body: [query.mmr.diversity: value must be between 0.0 and 1.0]"),
        ({"candidates_limit": 16385}, "Validation error in JSON body: [query.mmr.candidates_limit: value 16385 invalid, must be 16384 or less]"),
    ],
)
def test_parse_mmr_errors(mmr, message):
    with pytest.raises(BadInput) as caught:
        query_parsing.parse_query({"query": {"nearest": [1, 2, 3], "mmr": mmr}}, SCHEMA)
    assert caught.value.message == message


def test_parse_lookup_from_and_sparse_multi_examples():
    parsed = query_parsing.parse_query(
        {
            "query": {"recommend": {"positive": [1, {"indices": [3], "values": [0.5]}], "strategy": "best_score"}},
            "using": "text",
            "lookup_from": {"collection": "other", "vector": "v"},
        },
        SCHEMA,
    )
    query = parsed.request.query
    assert query.lookup == LookupLocation(collection="other", vector="v")
    assert query.example_ids() == [1] and isinstance(query.positive[1], SparseVector)
    parsed = query_parsing.parse_query(
        {"query": {"context": {"positive": [[1, 2], [3, 4]], "negative": 2}}, "using": "multi"}, SCHEMA
    )
    assert parsed.request.query.pairs[0][0].shape == (2, 2)
    with pytest.raises(BadInput):
        query_parsing.parse_query({"query": 1, "lookup_from": {"vector": "v"}}, SCHEMA)
