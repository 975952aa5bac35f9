"""The sparse vector inverted index: dot-product scoring, removal, IDF."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.errors import BadInput
from shards.sparse_index import SparseVectorIndex, idf
from shards.types import SparseVector


def sv(pairs: dict[int, float]) -> SparseVector:
    keys = sorted(pairs)
    return SparseVector(
        indices=np.array(keys, dtype=np.uint32), values=np.array([pairs[k] for k in keys], dtype=np.float32)
    )


def test_dot_product_over_shared_indices_only_overlapping_returned():
    index = SparseVectorIndex()
    index.put(0, sv({1: 1.0, 2: 2.0}))
    index.put(1, sv({2: 0.5, 7: 3.0}))
    index.put(2, sv({9: 4.0}))
    offsets, scores = index.search(sv({2: 2.0, 7: 1.0}), 10)
    assert offsets.tolist() == [0, 1]
    np.testing.assert_allclose(scores, [4.0, 4.0])  # tie broken by offset
    assert index.search(sv({100: 1.0}), 10)[0].size == 0
    assert index.search(sv({}), 10)[0].size == 0


def test_negative_and_zero_scores_are_still_returned_when_indices_overlap():
    index = SparseVectorIndex()
    index.put(0, sv({1: -1.0}))
    index.put(1, sv({1: 0.0}))
    offsets, scores = index.search(sv({1: 1.0}), 10)
    assert offsets.tolist() == [1, 0]
    np.testing.assert_allclose(scores, [0.0, -1.0])


def test_get_len_remove_and_reput():
    index = SparseVectorIndex()
    index.put(3, sv({1: 1.0, 5: 2.0}))
    assert len(index) == 1 and index.has(3)
    assert index.get(3) == sv({1: 1.0, 5: 2.0})
    index.put(3, sv({5: 1.0}))  # replaces: dimension 1 must no longer match
    assert index.search(sv({1: 1.0}), 10)[0].size == 0
    assert index.doc_frequencies([1, 5]) == {1: 0, 5: 1}
    assert index.remove(3) and not index.remove(3)
    assert len(index) == 0 and index.get(3) is None
    assert index.search(sv({5: 1.0}), 10)[0].size == 0
    index.put(3, sv({1: 2.0}))  # same offset again: old postings stay dead
    offsets, scores = index.search(sv({1: 1.0, 5: 1.0}), 10)
    assert offsets.tolist() == [3] and scores.tolist() == [2.0]


def test_allowed_restricts_candidates():
    index = SparseVectorIndex()
    for offset in range(10):
        index.put(offset, sv({1: float(offset)}))
    allowed = np.array([2, 5, 7, 50], dtype=np.int64)
    offsets, _ = index.search(sv({1: 1.0}), 10, allowed=allowed)
    assert offsets.tolist() == [7, 5, 2]
    assert index.search(sv({1: 1.0}), 10, allowed=np.array([], dtype=np.int64))[0].size == 0
    assert index.search(sv({1: 1.0}), 2)[0].tolist() == [9, 8]


def test_idf_modifier_weights_query_by_qdrant_formula():
    index = SparseVectorIndex(modifier="idf")
    index.put(0, sv({1: 1.0, 2: 1.0}))
    index.put(1, sv({1: 1.0}))
    index.put(2, sv({1: 1.0, 3: 1.0}))
    assert index.num_docs == 3
    assert index.doc_frequencies([1, 2, 9]) == {1: 3, 2: 1, 9: 0}
    rare, common = idf(3, 1), idf(3, 3)
    assert rare == pytest.approx(math.log((3 - 1 + 0.5) / (1 + 0.5) + 1))
    offsets, scores = index.search(sv({1: 1.0, 2: 1.0}), 10)
    assert offsets.tolist() == [0, 1, 2]
    np.testing.assert_allclose(scores, [common + rare, common, common], rtol=1e-6)
    # Collection-wide statistics can replace the local ones.
    _, scores = index.search(sv({2: 1.0}), 10, idf_stats=(100, {2: 10}))
    np.testing.assert_allclose(scores, [idf(100, 10)], rtol=1e-6)
    plain = SparseVectorIndex()
    plain.put(0, sv({1: 1.0}))
    assert plain.search(sv({1: 2.0}), 1)[1].tolist() == [2.0]


def test_unknown_modifier_is_bad_input():
    with pytest.raises(BadInput):
        SparseVectorIndex(modifier="bm25")


def test_score_offsets():
    index = SparseVectorIndex()
    index.put(0, sv({1: 2.0, 3: 1.0}))
    np.testing.assert_allclose(index.score_offsets(sv({1: 1.0, 3: 3.0}), np.array([0, 9])), [5.0, 0.0])


@settings(max_examples=60, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.integers(0, 15),
            st.one_of(st.none(), st.dictionaries(st.integers(0, 20), st.floats(-5, 5, width=32), max_size=6)),
        ),
        max_size=60,
    ),
    query=st.dictionaries(st.integers(0, 20), st.floats(-5, 5, width=32), min_size=1, max_size=6),
)
def test_matches_brute_force_after_random_puts_and_removes(ops, query):
    index = SparseVectorIndex()
    model: dict[int, dict[int, float]] = {}
    for offset, pairs in ops:
        if pairs is None:
            assert index.remove(offset) == (offset in model)
            model.pop(offset, None)
        else:
            index.put(offset, sv(pairs))
            model[offset] = pairs
    expected = {
        offset: sum(np.float32(v) * np.float32(query[i]) for i, v in pairs.items() if i in query)
        for offset, pairs in model.items()
        if set(pairs) & set(query)
    }
    offsets, scores = index.search(sv(query), 100)
    assert sorted(offsets.tolist()) == sorted(expected)
    for offset, score in zip(offsets.tolist(), scores.tolist()):
        assert score == pytest.approx(float(expected[offset]), rel=1e-4, abs=1e-4)
    assert index.num_docs == len(model)
