"""Multi-stage query parsing (prefetch, fusion) and the fusion formulas of ``shards.query_plan``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from consensus.errors import BadInput
from shards.query_plan import Fusion, dbsf, rrf
from shards.types import ScoredPoint
from transport.rest import point_parsing as parsing
from transport.rest.vector_parsing import DenseVectorSpec, SparseVectorSpec, VectorSchema

SCHEMA = VectorSchema(
    dense={"": DenseVectorSpec("", 4), "multi": DenseVectorSpec("multi", 2, multivector=True)},
    sparse={"text": SparseVectorSpec("text")},
)


def bad(body) -> str:
    with pytest.raises(BadInput) as caught:
        parsing.parse_query(body, SCHEMA)
    return caught.value.message


def hits(*pairs) -> list[ScoredPoint]:
    return [ScoredPoint(id=pid, version=0, score=score) for pid, score in pairs]


def test_prefetch_list_with_fusion():
    parsed = parsing.parse_query(
        {
            "prefetch": [
                {"query": [1, 2, 3, 4], "limit": 20, "filter": {"must": [{"has_id": [1, 2]}]}},
                {"query": {"indices": [1], "values": [1.0]}, "using": "text", "score_threshold": 0.5},
            ],
            "query": {"fusion": "dbsf"},
            "limit": 3,
            "offset": 1,
            "with_payload": True,
        },
        SCHEMA,
    )
    assert parsed.is_multi_stage and not parsed.is_scroll
    assert parsed.fusion == Fusion("dbsf")
    first, second = parsed.prefetches
    assert first.request.limit == 20 and first.request.filter is not None
    assert isinstance(first.request.query, np.ndarray)
    assert second.request.vector_name == "text" and second.request.limit == 10
    assert second.request.score_threshold == 0.5
    plan = parsed.plan()
    assert plan.request.limit == 3 and plan.request.offset == 1 and plan.request.with_payload.enabled


def test_single_nested_prefetch_and_rrf_params():
    parsed = parsing.parse_query(
        {
            "prefetch": {
                "prefetch": [{"query": [1, 2, 3, 4]}, {"query": 7}],
                "query": {"rrf": {"k": 5, "weights": [1, 2.5]}},
                "limit": 30,
            },
            "query": [[1, 2], [3, 4]],
            "using": "multi",
        },
        SCHEMA,
    )
    (inner,) = parsed.prefetches
    assert inner.fusion == Fusion("rrf", k=5, weights=(1.0, 2.5))
    assert inner.prefetches[1].by_id == 7
    assert parsed.fusion is None and parsed.request.query.shape == (2, 2)


def test_plain_query_is_not_multi_stage():
    parsed = parsing.parse_query({"query": [1, 2, 3, 4], "prefetch": []}, SCHEMA)
    assert not parsed.is_multi_stage


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"query": {"fusion": "rrf"}}, "Fusion queries need at least one prefetch"),
        ({"query": {"fusion": "max"}, "prefetch": {"query": 1}}, "query.fusion: unknown variant `max`"),
        ({"prefetch": {"query": 1}}, "A query is needed to merge the prefetches"),
        ({"prefetch": [5], "query": {"fusion": "rrf"}}, "prefetch[0]: invalid type"),
        ({"prefetch": {"query": [1, 2]}, "query": {"fusion": "rrf"}}, "Wrong input"),
        ({"prefetch": {"query": 1, "limit": 0}, "query": {"fusion": "rrf"}}, "prefetch.limit: value 0 invalid"),
        ({"prefetch": {"query": 1}, "query": {"rrf": {"k": 0}}}, "query.rrf.k: value 0 invalid"),
    ],
)
def test_multi_stage_errors(body, fragment):
    assert fragment in bad(body)


def test_rrf_formula():
    fused = rrf([hits((1, 0.9), (2, 0.8), (3, 0.1)), hits((3, 5.0), (1, 4.0))])
    by_id = {hit.id: hit.score for hit in fused}
    assert by_id[1] == pytest.approx(1 / 2 + 1 / 3)
    assert by_id[3] == pytest.approx(1 / 4 + 1 / 2)
    assert by_id[2] == pytest.approx(1 / 3)
    assert [hit.id for hit in fused] == [1, 3, 2]
    weighted = rrf([hits((1, 1)), hits((2, 1), (1, 0))], k=60, weights=(2.0, 1.0))
    assert {h.id: h.score for h in weighted}[1] == pytest.approx(1 / (1 / 2 + 59) + 1 / 61)
    with pytest.raises(BadInput):
        rrf([hits((1, 1))], weights=(1.0, 2.0))


def test_dbsf_formula():
    a = [0.9, 0.5, 0.1]
    mean = sum(a) / 3
    std = math.sqrt(sum((x - mean) ** 2 for x in a) / 2)
    fused = dbsf([(hits((1, 0.9), (2, 0.5), (3, 0.1)), True), (hits((3, 0.2)), True)])
    by_id = {hit.id: hit.score for hit in fused}
    assert by_id[1] == pytest.approx((0.9 - mean + 3 * std) / (6 * std))
    assert by_id[3] == pytest.approx((0.1 - mean + 3 * std) / (6 * std) + 0.5)
    # lower-is-better lists are reversed
    euclid = dbsf([(hits((1, 0.0), (2, 0.4), (3, 0.8)), False)])
    assert [hit.id for hit in euclid] == [1, 2, 3]
