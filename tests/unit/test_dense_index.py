"""Distance conventions and the dense vector index (exact, HNSW, tail, persistence)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.errors import BadInput
from shards import dense_index as dense_module
from shards import distance as dist
from shards.dense_index import DenseVectorIndex

DISTANCES = ["Cosine", "Euclid", "Dot", "Manhattan"]


def brute_force(distance: str, data: dict[int, np.ndarray], query: np.ndarray, k: int) -> list[int]:
    offsets = np.array(sorted(data), dtype=np.int64)
    matrix = dist.prepare(distance, np.stack([data[o] for o in offsets]))
    scores = dist.score_matrix(distance, dist.prepare(distance, query), matrix)
    return offsets[dist.top_k(scores, k, dist.higher_is_better(distance), offsets)].tolist()


def filled(distance: str, n: int = 200, dim: int = 8, seed: int = 0, **kwargs) -> tuple[DenseVectorIndex, dict[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    index = DenseVectorIndex(dim, distance, **kwargs)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    index.put(np.arange(n), vectors)
    return index, {i: vectors[i] for i in range(n)}


# ------------------------------------------------------------------ distance


def test_prepare_normalizes_cosine_only_and_keeps_zero_vectors():
    vectors = np.array([[3.0, 4.0], [0.0, 0.0]], dtype=np.float32)
    np.testing.assert_allclose(dist.prepare("Cosine", vectors), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_array_equal(dist.prepare("Dot", vectors), vectors)
    np.testing.assert_array_equal(dist.prepare("Euclid", vectors), vectors)


def test_score_matrix_follows_qdrant_conventions():
    query = np.array([1.0, 2.0], dtype=np.float32)
    matrix = np.array([[1.0, 2.0], [4.0, 6.0]], dtype=np.float32)
    np.testing.assert_allclose(dist.score_matrix("Dot", query, matrix), [5.0, 16.0])
    np.testing.assert_allclose(dist.score_matrix("Euclid", query, matrix), [0.0, 5.0])
    np.testing.assert_allclose(dist.score_matrix("Manhattan", query, matrix), [0.0, 7.0])
    assert dist.score_matrix("Euclid", query, matrix)[0] == 0.0  # exact zero for identical vectors
    assert dist.higher_is_better("Cosine") and dist.higher_is_better("Dot")
    assert not dist.higher_is_better("Euclid") and not dist.higher_is_better("Manhattan")


def test_threshold_is_a_floor_for_similarities_and_a_ceiling_for_distances():
    assert dist.passes_threshold("Cosine", 0.9, 0.5)
    assert not dist.passes_threshold("Dot", 0.4, 0.5)
    assert dist.passes_threshold("Euclid", 0.4, 0.5)
    assert not dist.passes_threshold("Manhattan", 0.9, 0.5)
    assert dist.passes_threshold("Euclid", 100.0, None)
    np.testing.assert_array_equal(dist.threshold_mask("Euclid", np.array([0.1, 0.9]), 0.5), [True, False])


def test_max_sim_dot_and_cosine():
    query = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    doc = np.array([[2.0, 1.0], [0.0, 3.0]], dtype=np.float32)
    assert dist.max_sim("Dot", query, doc) == pytest.approx(2.0 + 3.0)
    cosine = dist.max_sim("Cosine", dist.prepare("Cosine", query), dist.prepare("Cosine", doc))
    assert cosine == pytest.approx(2 / np.sqrt(5) + 1.0, rel=1e-6)


def test_max_sim_euclid_matches_qdrant_core():
    # qdrant/qdrant#6294: Qdrant sums negative squared distances, then takes sqrt(|sum|).
    query = np.array([[1, 2, 3], [3, 3, 3], [4, 5, 6]], dtype=np.float32)
    doc = np.array([[3, 3, 3], [4, 2, 1]], dtype=np.float32)
    assert dist.max_sim("Euclid", query, doc) == pytest.approx(4.358899, rel=1e-6)
    assert dist.max_sim("Manhattan", query, doc) == pytest.approx(3 + 0 + 6)


def test_max_sim_many_matches_single():
    rng = np.random.default_rng(1)
    query = rng.normal(size=(3, 4)).astype(np.float32)
    docs = [rng.normal(size=(n, 4)).astype(np.float32) for n in (1, 5, 2, 7)]
    for name in DISTANCES:
        many = dist.max_sim_many(name, query, docs)
        np.testing.assert_allclose(many, [dist.max_sim(name, query, d) for d in docs], rtol=1e-5)


def test_unknown_distance_is_bad_input():
    with pytest.raises(BadInput):
        dist.validate_distance("Hamming")
    with pytest.raises(BadInput):
        DenseVectorIndex(4, "cosine")


# --------------------------------------------------------------- exact search


@pytest.mark.parametrize("distance", DISTANCES)
def test_exact_search_matches_brute_force(distance):
    index, data = filled(distance)
    query = np.random.default_rng(5).normal(size=8).astype(np.float32)
    offsets, scores = index.search(query, 10)
    assert offsets.tolist() == brute_force(distance, data, query, 10)
    order = -scores if dist.higher_is_better(distance) else scores
    assert np.all(np.diff(order) >= 0)


def test_put_get_has_len_remove():
    index = DenseVectorIndex(2, "Cosine")
    index.put(np.array([0, 5]), np.array([[3.0, 4.0], [1.0, 0.0]], dtype=np.float32))
    assert len(index) == 2 and index.has(5) and not index.has(1)
    np.testing.assert_allclose(index.get(0), [0.6, 0.8])  # stored normalized, like Qdrant
    assert index.get(3) is None
    assert index.remove(0) and not index.remove(0)
    assert len(index) == 1 and index.get(0) is None
    assert index.live_offsets().tolist() == [5]


def test_search_with_allowed_and_k_larger_than_live():
    index, data = filled("Dot", n=50)
    allowed = np.array([3, 7, 11, 400], dtype=np.int64)  # 400 has no vector
    offsets, _ = index.search(np.ones(8, dtype=np.float32), 10, allowed=allowed)
    assert sorted(offsets.tolist()) == [3, 7, 11]
    assert index.search(np.ones(8, dtype=np.float32), 10, allowed=np.array([], dtype=np.int64))[0].size == 0
    assert len(index.search(np.ones(8, dtype=np.float32), 500)[0]) == 50


def test_float16_and_uint8_storage():
    half = DenseVectorIndex(2, "Dot", datatype="float16")
    half.put([0], np.array([[0.1, 0.2]], dtype=np.float32))
    assert half.get(0).dtype == np.float32
    np.testing.assert_allclose(half.get(0), [0.1, 0.2], rtol=1e-3)

    byte = DenseVectorIndex(2, "Cosine", datatype="uint8")
    byte.put([0, 1], np.array([[10, 0], [3, 4]], dtype=np.float32))
    np.testing.assert_array_equal(byte.get(1), [3.0, 4.0])  # raw bytes, not normalized to zero
    offsets, scores = byte.search(np.array([3.0, 4.0], dtype=np.float32), 2)
    assert offsets.tolist() == [1, 0]
    np.testing.assert_allclose(scores, [1.0, 0.6], rtol=1e-6)


def test_multivector_search_uses_max_sim():
    index = DenseVectorIndex(2, "Dot", multivector=True)
    docs = [np.array([[1.0, 0.0]]), np.array([[0.0, 1.0], [2.0, 2.0]]), np.array([[5.0, 0.0], [0.0, 0.5]])]
    index.put(np.array([0, 1, 2]), docs)
    query = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    offsets, scores = index.search(query, 3)
    expected = [dist.max_sim("Dot", query, d.astype(np.float32)) for d in docs]
    assert offsets.tolist() == list(np.argsort(expected)[::-1])
    np.testing.assert_allclose(scores, sorted(expected, reverse=True))
    assert index.search(query, 3, allowed=np.array([0], dtype=np.int64))[0].tolist() == [0]
    index.remove(2)
    assert 2 not in index.search(query, 3)[0].tolist()
    np.testing.assert_array_equal(index.get(1), docs[1])
    assert not index.needs_indexing(1)


# ------------------------------------------------------------------ HNSW path


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_needs_indexing_thresholds():
    clock = FakeClock()
    index, _ = filled("Cosine", n=400, dim=8, clock=clock)  # 400 * 32 bytes = 12.5 KB
    assert not index.needs_indexing(0)  # 0 disables indexing
    assert not index.needs_indexing(12)  # writes are still streaming in
    assert index.needs_indexing(1)  # ... unless the backlog is ten thresholds
    clock.now += 5  # writes paused
    assert not index.needs_indexing(13)
    assert index.needs_indexing(12)
    index.build_index()
    assert index.indexed_count == 400 and not index.needs_indexing(1)
    index.put(np.arange(400, 440), np.ones((40, 8), dtype=np.float32))  # 1.25 KB tail
    assert not index.needs_indexing(1)
    clock.now += 5
    assert index.needs_indexing(1)
    manhattan, _ = filled("Manhattan", n=300)
    assert not manhattan.needs_indexing(1)


@pytest.mark.parametrize("distance", ["Cosine", "Euclid", "Dot"])
def test_graph_search_never_returns_removed_and_finds_tail(distance):
    index, data = filled(distance, n=500, dim=16)
    index.build_index()
    assert index.indexed_count == 500
    rng = np.random.default_rng(9)
    for offset in rng.choice(500, size=200, replace=False).tolist():
        index.remove(offset)
        del data[offset]
    new = rng.normal(size=(20, 16)).astype(np.float32)
    index.put(np.arange(1000, 1020), new)
    data.update({1000 + i: new[i] for i in range(20)})
    assert len(index) == 320 and index.indexed_count == 300
    for i in range(20):
        offsets, _ = index.search(new[i], 5)
        assert set(offsets.tolist()) <= set(data)
        if distance != "Dot":
            assert offsets[0] == 1000 + i  # a vector put after the build is found at once
    everything, _ = index.search(new[0], 1000)
    assert sorted(everything.tolist()) == sorted(data)


def test_reput_of_indexed_offset_replaces_graph_vector():
    index, _ = filled("Euclid", n=100, dim=4)
    index.build_index()
    target = np.full(4, 50.0, dtype=np.float32)
    index.put([7], target[None, :])
    assert index.indexed_count == 99
    offsets, scores = index.search(target, 1)
    assert offsets.tolist() == [7] and scores[0] == 0.0


def test_filtered_graph_search_and_fallback_when_graph_falls_short():
    index, data = filled("Cosine", n=400, dim=8, full_scan_threshold_kb=0)
    index.build_index()
    query = np.random.default_rng(2).normal(size=8).astype(np.float32)
    allowed = np.arange(0, 400, 3, dtype=np.int64)
    offsets, _ = index.search(query, 10, allowed=allowed)
    assert set(offsets.tolist()) <= set(allowed.tolist())
    expected = brute_force("Cosine", {o: data[o] for o in allowed.tolist()}, query, 10)
    assert len(set(offsets.tolist()) & set(expected)) >= 9
    # Everything allowed but k larger than the allowed set: hnswlib raises, we scan exactly.
    few = np.array([1, 2, 3], dtype=np.int64)
    assert sorted(index.search(query, 10, allowed=few)[0].tolist()) == [1, 2, 3]


def test_exact_flag_bypasses_graph():
    index, data = filled("Euclid", n=300, dim=8)
    index.build_index()
    query = np.zeros(8, dtype=np.float32)
    assert index.search(query, 20, exact=True)[0].tolist() == brute_force("Euclid", data, query, 20)


def test_changes_during_build_are_reconciled(monkeypatch):
    index, data = filled("Euclid", n=200, dim=4)
    real_index = dense_module.hnswlib.Index

    class HookedIndex:
        """An hnswlib index that lets writes race the build deterministically."""

        def __init__(self, *args, **kwargs):
            self._inner = real_index(*args, **kwargs)

        def add_items(self, *args, **kwargs):
            assert index.is_indexing and index.optimizer_status == "indexing"
            index.remove(10)
            index.put([11], np.full((1, 4), 99.0, dtype=np.float32))
            index.put([500], np.full((1, 4), -99.0, dtype=np.float32))
            return self._inner.add_items(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self._inner, name)

    monkeypatch.setattr(dense_module.hnswlib, "Index", HookedIndex)
    index.build_index()
    assert not index.is_indexing and index.optimizer_status == "ok"
    assert index.indexed_count == 198  # 10 removed, 11 rewritten
    assert 10 not in index.search(data[10], 200)[0].tolist()
    assert index.search(np.full(4, 99.0, dtype=np.float32), 1)[0].tolist() == [11]
    assert index.search(np.full(4, -99.0, dtype=np.float32), 1)[0].tolist() == [500]


def test_concurrent_search_and_writes_during_build():
    index, data = filled("Cosine", n=3000, dim=16)
    errors: list[BaseException] = []

    def build():
        try:
            index.build_index()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=build)
    thread.start()
    rng = np.random.default_rng(3)
    next_offset = 3000
    while thread.is_alive() or next_offset < 3050:
        vector = rng.normal(size=16).astype(np.float32)
        index.put([next_offset], vector[None, :])
        data[next_offset] = vector
        offsets, _ = index.search(vector, 3)
        assert offsets[0] == next_offset
        next_offset += 1
    thread.join()
    assert not errors
    assert len(index) == len(data) and index.indexed_count >= 3000
    for offset in range(3000, next_offset, 7):
        assert index.search(data[offset], 1)[0].tolist() == [offset]


# ---------------------------------------------------------------- persistence


def test_save_and_load_round_trip(tmp_path):
    index, data = filled("Cosine", n=300, dim=8)
    index.build_index()
    index.remove(5)
    assert index.save(str(tmp_path))
    query = np.random.default_rng(4).normal(size=8).astype(np.float32)
    before = index.search(query, 10)

    # A restart: every live vector is put back at its offset, then the graph is loaded.
    restored = DenseVectorIndex(8, "Cosine")
    live = sorted(set(data) - {5, 6})  # 6 is removed after the save
    restored.put(np.array(live), np.stack([data[o] for o in live]))
    assert restored.load(str(tmp_path))
    assert restored.indexed_count == 298 and len(restored) == 298
    offsets, _ = restored.search(query, 10)
    assert 6 not in offsets.tolist() and 5 not in offsets.tolist()
    expected = [o for o in before[0].tolist() if o != 6]
    assert offsets.tolist()[: len(expected)] == expected
    assert 6 not in restored.search(data[6], 300)[0].tolist()


def test_load_rejects_missing_or_incompatible(tmp_path):
    assert not DenseVectorIndex(8, "Cosine").load(str(tmp_path))
    index, _ = filled("Cosine", n=50, dim=8)
    assert not index.save(str(tmp_path / "nothing"))  # no graph yet
    index.build_index()
    assert index.save(str(tmp_path))
    assert index.save(str(tmp_path))  # a second save replaces the first generation
    assert len(list(tmp_path.glob("hnsw_*.bin"))) == 1
    assert not DenseVectorIndex(4, "Cosine").load(str(tmp_path))
    assert not DenseVectorIndex(8, "Euclid").load(str(tmp_path))


# ------------------------------------------------------ hypothesis invariants


class DenseIndexMachine(RuleBasedStateMachine):
    """Random writes, builds and searches; results must agree with a plain dict model."""

    def __init__(self) -> None:
        super().__init__()
        self.index = DenseVectorIndex(4, "Euclid", full_scan_threshold_kb=0)
        self.model: dict[int, np.ndarray] = {}
        self.next_offset = 0

    @rule(values=st.lists(st.floats(-10, 10, width=32), min_size=4, max_size=4))
    def put(self, values):
        vector = np.array(values, dtype=np.float32)
        self.index.put([self.next_offset], vector[None, :])
        self.model[self.next_offset] = vector
        self.next_offset += 1

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def remove(self, data):
        offset = data.draw(st.sampled_from(sorted(self.model)))
        assert self.index.remove(offset)
        del self.model[offset]

    @rule()
    def build(self):
        self.index.build_index()

    @rule(values=st.lists(st.floats(-10, 10, width=32), min_size=4, max_size=4), k=st.integers(1, 8))
    def search(self, values, k):
        query = np.array(values, dtype=np.float32)
        offsets, scores = self.index.search(query, k)
        assert set(offsets.tolist()) <= set(self.model)
        assert len(offsets) == min(k, len(self.model))
        for offset, score in zip(offsets.tolist(), scores.tolist()):
            assert score == pytest.approx(float(np.linalg.norm(self.model[offset] - query)), rel=1e-4, abs=1e-4)
        if self.model:
            exact, exact_scores = self.index.search(query, k, exact=True)
            truth = brute_force("Euclid", self.model, query, k)
            np.testing.assert_allclose(exact_scores, self.index.score_offsets(query, np.array(truth)), rtol=1e-5)
            allowed = np.array(sorted(self.model)[::2], dtype=np.int64)
            filtered, _ = self.index.search(query, k, allowed=allowed)
            assert set(filtered.tolist()) <= set(allowed.tolist())

    @invariant()
    def sizes_agree(self):
        assert len(self.index) == len(self.model)
        assert self.index.indexed_count <= len(self.model)


TestDenseIndexMachine = DenseIndexMachine.TestCase
TestDenseIndexMachine.settings = settings(
    max_examples=25, stateful_step_count=30, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
