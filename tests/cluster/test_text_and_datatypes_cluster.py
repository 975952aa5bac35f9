"""Full-text matching, vector datatypes and strict mode on a three-node cluster.

One collection (3 shards, 2 replicas each) with a text index (word tokenizer,
English stopwords, Snowball English stemmer, phrase matching), a float16/Dot,
a uint8/Euclid and a float32/Manhattan named vector. Points are written
through every node, over REST and gRPC. Every node is then asked, over REST
and over gRPC, and each answer is checked against a brute force computed here:
a Python tokenizer (lowercase, the repository's stopword list,
``snowballstemmer``) for the text filters, and numpy for the vectors
(float16-rounded and uint8-converted like Qdrant does).
"""

from __future__ import annotations

import json
import os
import re

import grpc
import numpy as np
import pytest
import snowballstemmer
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from tests.cluster.conftest import wait_until

NAME = "text_dt"
N, DIM, LDIM = 150, 8, 4
RNG = np.random.default_rng(31)
WORDS = (
    "the a of and running runs ran runner dogs dog cat cats jumping jumped jumps quick quickly over "
    "lazy laziness foxes fox connection connected connecting is are was under into happily happy"
).split()
DOCS = [" ".join(RNG.choice(WORDS, size=int(RNG.integers(3, 9)))).capitalize() for _ in range(N)]
HALF = RNG.normal(size=(N, DIM)).astype(np.float32)
RAW_BYTES = RNG.uniform(-20.0, 280.0, size=(N, DIM)).astype(np.float32)  # fractions and out-of-range values
L1 = RNG.normal(size=(N, LDIM)).astype(np.float32)
STOPWORD_FILE = os.path.join(os.path.dirname(__file__), "..", "..", "shards", "stopwords", "english.txt")
TEXT_QUERIES = ["running dogs", "Jumped", "the connections", "happily lazy", "quick foxes over", "the of a"]
PHRASES = ["quick fox", "dogs jumping", "the lazy dog", "connected over the cats", "runs"]
EXACT = models.SearchParams(exact=True)


def f16(values) -> np.ndarray:
    """float32 values as a float16 vector stores them."""
    return np.asarray(values, dtype=np.float32).astype(np.float16).astype(np.float32)


def u8(values) -> np.ndarray:
    """float values as a uint8 vector stores them: truncated, saturated to 0..255."""
    arr = np.nan_to_num(np.asarray(values, dtype=np.float32), nan=0.0)
    return np.clip(np.trunc(arr), 0, 255).astype(np.float32)


class Tokens:
    """Brute-force word tokenizer: lowercase, drop English stopwords, Snowball-stem."""

    def __init__(self) -> None:
        with open(STOPWORD_FILE, encoding="utf-8") as handle:
            self.stop = {w.strip() for w in handle if w.strip() and not w.startswith("#")}
        self.stemmer = snowballstemmer.stemmer("english")

    def of(self, text: str) -> list[str]:
        words = (w.lower() for w in re.findall(r"[^\W_]+", text))
        return [self.stemmer.stemWord(w) for w in words if w not in self.stop]

    def text(self, doc: str, query: str) -> bool:
        wanted = set(self.of(query))
        return bool(wanted) and wanted <= set(self.of(doc))

    def text_any(self, doc: str, query: str) -> bool:
        return bool(set(self.of(query)) & set(self.of(doc)))

    def phrase(self, doc: str, query: str) -> bool:
        q, d = self.of(query), self.of(doc)
        return bool(q) and any(d[i : i + len(q)] == q for i in range(len(d) - len(q) + 1))


TOK = Tokens()


def point(pid: int) -> models.PointStruct:
    return models.PointStruct(
        id=pid,
        vector={"half": HALF[pid].tolist(), "byte": RAW_BYTES[pid].tolist(), "l1": L1[pid].tolist()},
        payload={"en": DOCS[pid], "raw": DOCS[pid], "n": pid},
    )


def text_index_ready(client: QdrantClient) -> bool:
    schema = client.get_collection(NAME).payload_schema.get("en")
    params = schema.params if schema is not None else None
    return bool(params is not None and params.phrase_matching and params.stemmer is not None)


@pytest.fixture(scope="module")
def clients(cluster):
    """(REST client, gRPC client) for every node."""
    made = []
    for node in cluster.nodes:
        made.append((
            QdrantClient(url=node.url, timeout=60, check_compatibility=False),
            QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, timeout=60,
                         check_compatibility=False),
        ))
    yield made
    for rest, rpc in made:
        rest.close()
        rpc.close()


@pytest.fixture(scope="module")
def every(clients) -> list[QdrantClient]:
    return [client for pair in clients for client in pair]


@pytest.fixture(scope="module")
def coll(cluster, clients, every) -> str:
    (rest0, _), (rest1, grpc1), (rest2, grpc2) = clients
    rest0.create_collection(
        NAME,
        shard_number=3,
        replication_factor=2,
        vectors_config={
            "half": models.VectorParams(size=DIM, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16),
            "byte": models.VectorParams(size=DIM, distance=models.Distance.EUCLID, datatype=models.Datatype.UINT8),
            "l1": models.VectorParams(size=LDIM, distance=models.Distance.MANHATTAN),
        },
    )
    cluster.wait_all_active(NAME)
    # a third of the points exists before the index is built, the rest is indexed on arrival
    rest1.upsert(NAME, points=[point(i) for i in range(0, N, 3)], wait=True)
    grpc2.create_payload_index(
        NAME,
        "en",
        models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            tokenizer=models.TokenizerType.WORD,
            stopwords=models.Language.ENGLISH,
            stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
            phrase_matching=True,
        ),
        wait=True,
    )
    rest2.upsert(NAME, points=[point(i) for i in range(1, N, 3)], wait=True)
    grpc1.upsert(NAME, points=[point(i) for i in range(2, N, 3)], wait=True)
    cluster.wait_all_active(NAME)
    for client in every:
        wait_until(lambda c=client: text_index_ready(c), 30, "the text index on every node", debug=cluster.describe)
        assert client.count(NAME, exact=True).count == N
    for node in cluster.nodes:
        placement = cluster.collection_cluster(node, NAME)
        assert len(placement["local_shards"]) == 2 and len(placement["remote_shards"]) == 4
    return NAME


def expected(test) -> list[int]:
    return [i for i, doc in enumerate(DOCS) if test(doc)]


def check_filter(client: QdrantClient, match, want: list[int]) -> None:
    """Scroll, count and a filtered Manhattan query all see exactly ``want``."""
    flt = models.Filter(must=[models.FieldCondition(key="en", match=match)])
    points, _ = client.scroll(NAME, scroll_filter=flt, limit=N + 10)
    assert sorted(p.id for p in points) == want
    assert client.count(NAME, count_filter=flt, exact=True).count == len(want)
    q = np.float32([0.3, -0.2, 0.1, 0.5])
    hits = client.query_points(NAME, query=q.tolist(), using="l1", query_filter=flt, limit=N,
                               search_params=EXACT).points
    assert sorted(h.id for h in hits) == want
    distances = np.abs(L1 - q).sum(axis=1)
    assert [h.score for h in hits] == pytest.approx(sorted(float(distances[i]) for i in want), abs=1e-4)


# --------------------------------------------------------------------------- full text


def test_text_and_text_any_on_every_node(coll, every):
    for query in TEXT_QUERIES:
        want_all = expected(lambda d: TOK.text(d, query))
        want_any = expected(lambda d: TOK.text_any(d, query))
        for client in every:
            check_filter(client, models.MatchText(text=query), want_all)
            check_filter(client, models.MatchTextAny(text_any=query), want_any)
    # the brute force is not trivial: some query matches, and stemming finds words the query does not contain
    assert expected(lambda d: TOK.text(d, "running dogs"))
    stemmed_only = expected(lambda d: TOK.text(d, "run") and "running" not in d.lower().split())
    assert stemmed_only
    for client in every:
        check_filter(client, models.MatchText(text="run"), expected(lambda d: TOK.text(d, "run")))


def test_phrase_on_every_node(coll, every):
    for phrase in PHRASES:
        want = expected(lambda d: TOK.phrase(d, phrase))
        for client in every:
            check_filter(client, models.MatchPhrase(phrase=phrase), want)
    assert any(expected(lambda d: TOK.phrase(d, p)) for p in PHRASES)
    # words in the wrong order are no phrase, though every word is there
    swapped = expected(lambda d: TOK.text(d, "fox quick") and not TOK.phrase(d, "fox quick"))
    assert swapped
    for client in every:
        check_filter(client, models.MatchPhrase(phrase="fox quick"), expected(lambda d: TOK.phrase(d, "fox quick")))


# --------------------------------------------------------------------------- datatypes


def test_vectors_come_back_as_stored_on_every_node(cluster, coll, every):
    ids = list(range(0, N, 4))
    for client in every:
        records = {r.id: r.vector for r in client.retrieve(NAME, ids, with_vectors=True)}
        assert sorted(records) == ids
        half = np.asarray([records[i]["half"] for i in ids], dtype=np.float32)
        byte = np.asarray([records[i]["byte"] for i in ids], dtype=np.float32)
        l1 = np.asarray([records[i]["l1"] for i in ids], dtype=np.float32)
        np.testing.assert_array_equal(half, f16(HALF[ids]))
        np.testing.assert_array_equal(byte, u8(RAW_BYTES[ids]))
        np.testing.assert_allclose(l1, L1[ids], rtol=1e-6)
    assert not np.array_equal(f16(HALF), HALF) and not np.array_equal(u8(RAW_BYTES), RAW_BYTES)
    # and every replica, read straight from its peer, holds the converted values
    states = cluster.replica_states(NAME)
    seen: dict[int, int] = {}
    for shard_id, replicas in states.items():
        for peer_id in replicas:
            stored = cluster.read_replica(peer_id, NAME, shard_id)
            assert stored
            for pid, (vectors, _payload) in stored.items():
                seen[pid] = seen.get(pid, 0) + 1
                assert vectors["half"] == pytest.approx(f16(HALF[pid]).tolist(), abs=1e-5)
                assert vectors["byte"] == u8(RAW_BYTES[pid]).tolist()
    assert seen == {pid: 2 for pid in range(N)}


def test_float16_dot_exact_search_on_every_node(coll, every):
    stored = f16(HALF).astype(np.float64)
    for query in RNG.normal(size=(3, DIM)).astype(np.float32):
        scores = stored @ f16(query).astype(np.float64)
        want = [int(i) for i in np.argsort(-scores, kind="stable")[:10]]
        for client in every:
            hits = client.query_points(NAME, query=query.tolist(), using="half", limit=10, search_params=EXACT).points
            assert [h.id for h in hits] == want
            assert [h.score for h in hits] == pytest.approx([float(scores[i]) for i in want], abs=1e-3)


def test_uint8_euclid_exact_search_on_every_node(coll, every):
    stored = u8(RAW_BYTES).astype(np.float64)
    for query in RNG.uniform(-30.0, 290.0, size=(3, DIM)).astype(np.float32):
        distances = np.sqrt(((stored - u8(query)) ** 2).sum(axis=1))
        best = sorted(float(d) for d in distances)[:10]
        for client in every:
            hits = client.query_points(NAME, query=query.tolist(), using="byte", limit=10, search_params=EXACT).points
            # integer vectors may tie: check the ranked distances and each hit's own distance
            assert [h.score for h in hits] == pytest.approx(best, rel=1e-5)
            assert [h.score for h in hits] == pytest.approx([float(distances[h.id]) for h in hits], rel=1e-5)


def test_manhattan_search_and_recommend_on_every_node(coll, every):
    query = RNG.normal(size=LDIM).astype(np.float32)
    distances = np.abs(L1.astype(np.float64) - query).sum(axis=1)
    want = [int(i) for i in np.argsort(distances, kind="stable")[:8]]
    positive, negative = [3, 70], [121]
    avg = L1[positive].astype(np.float64).mean(axis=0)
    rec_query = avg + (avg - L1[negative].astype(np.float64).mean(axis=0))
    rec_distances = np.abs(L1.astype(np.float64) - rec_query).sum(axis=1)
    rec_distances[positive + negative] = np.inf
    rec_want = [int(i) for i in np.argsort(rec_distances, kind="stable")[:5]]
    for client in every:
        hits = client.query_points(NAME, query=query.tolist(), using="l1", limit=8, search_params=EXACT).points
        assert [h.id for h in hits] == want
        assert [h.score for h in hits] == pytest.approx([float(distances[i]) for i in want], abs=1e-4)
        rec = client.query_points(
            NAME, query=models.RecommendQuery(recommend=models.RecommendInput(positive=positive, negative=negative)),
            using="l1", limit=5, search_params=EXACT,
        ).points
        assert [h.id for h in rec] == rec_want
        assert [h.score for h in rec] == pytest.approx([float(rec_distances[i]) for i in rec_want], abs=1e-4)


# --------------------------------------------------------------------------- strict mode


def test_unindexed_filtering_refused_on_every_node(cluster, coll, clients, every):
    clients[1][0].update_collection(
        NAME, strict_mode_config=models.StrictModeConfig(enabled=True, unindexed_filtering_retrieve=False)
    )

    def strict_on(client: QdrantClient) -> bool:
        config = client.get_collection(NAME).config.strict_mode_config
        return bool(config and config.enabled and config.unindexed_filtering_retrieve is False)

    for client in every:
        wait_until(lambda c=client: strict_on(c), 30, "strict mode on every node", debug=cluster.describe)
    on_raw = models.Filter(must=[models.FieldCondition(key="raw", match=models.MatchText(text="dogs"))])
    on_en = models.Filter(must=[models.FieldCondition(key="en", match=models.MatchText(text="dogs"))])
    want = expected(lambda d: TOK.text(d, "dogs"))
    assert want
    message = 'Index required but not found for "raw" of one of the following types: [text]'
    for rest, rpc in clients:
        for call in (
            lambda: rest.count(NAME, count_filter=on_raw, exact=True),
            lambda: rest.scroll(NAME, scroll_filter=on_raw, limit=5),
            lambda: rest.query_points(NAME, query=[0.0] * LDIM, using="l1", query_filter=on_raw, limit=5),
        ):
            with pytest.raises(UnexpectedResponse) as error:
                call()
            assert error.value.status_code == 400
            assert message in json.loads(error.value.content)["status"]["error"]
        for call in (
            lambda: rpc.count(NAME, count_filter=on_raw, exact=True),
            lambda: rpc.scroll(NAME, scroll_filter=on_raw, limit=5),
            lambda: rpc.query_points(NAME, query=[0.0] * LDIM, using="l1", query_filter=on_raw, limit=5),
        ):
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and message in error.value.details()
        for client in (rest, rpc):
            assert client.count(NAME, count_filter=on_en, exact=True).count == len(want)
            points, _ = client.scroll(NAME, scroll_filter=on_en, limit=N)
            assert sorted(p.id for p in points) == want
    clients[2][1].update_collection(NAME, strict_mode_config=models.StrictModeConfig(enabled=False))
    for client in every:
        wait_until(lambda c=client: not strict_on(c), 30, "strict mode off on every node", debug=cluster.describe)
        assert client.count(NAME, count_filter=on_raw, exact=True).count == len(
            [d for d in DOCS if "dogs" in d.lower().split()]
        )
