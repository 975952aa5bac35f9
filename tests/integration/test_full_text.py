"""Full-text indexes with stopwords and Snowball stemming, through qdrant-client.

Every filter result is compared with a brute-force matcher written here: the
same tokenizing steps (split, lowercase, drop stopwords, stem with
``snowballstemmer``) applied to each document in Python.
"""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
import snowballstemmer
from qdrant_client import models

STOPWORD_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shards", "stopwords")
RNG = np.random.default_rng(7)
ENGLISH_WORDS = (
    "the a of and running runs ran runner dogs dog cat cats jumping jumped jumps quick quickly over "
    "lazy laziness foxes fox connection connected connecting is are was under into happily happy"
).split()
FRENCH_WORDS = "le la les chats chat mangent mangeait manger rapidement rapide des une foo Foo maisons maison".split()


def stopwords(language: str) -> set[str]:
    with open(os.path.join(STOPWORD_DIR, f"{language}.txt"), encoding="utf-8") as handle:
        return {w.strip() for w in handle if w.strip() and not w.startswith("#")}


class Oracle:
    """Brute-force word tokenizer: lowercase, stopwords, stemmer."""

    def __init__(self, stop: set[str], language: str | None) -> None:
        self.stop = stop
        self.stemmer = snowballstemmer.stemmer(language) if language else None

    def tokens(self, text: str) -> list[str]:
        out = []
        for word in re.findall(r"[^\W_]+", text):
            word = word.lower()
            if word in self.stop:
                continue
            out.append(self.stemmer.stemWord(word) if self.stemmer else word)
        return out

    def text(self, doc: str, query: str) -> bool:
        wanted = set(self.tokens(query))
        return bool(wanted) and wanted <= set(self.tokens(doc))

    def text_any(self, doc: str, query: str) -> bool:
        return bool(set(self.tokens(query)) & set(self.tokens(doc)))

    def phrase(self, doc: str, query: str) -> bool:
        q, d = self.tokens(query), self.tokens(doc)
        return bool(q) and any(d[i : i + len(q)] == q for i in range(len(d) - len(q) + 1))


N = 150
EN_DOCS = [" ".join(RNG.choice(ENGLISH_WORDS, size=RNG.integers(3, 9))) for _ in range(N)]
FR_DOCS = [" ".join(RNG.choice(FRENCH_WORDS, size=RNG.integers(2, 7))) for _ in range(N)]
EN = Oracle(stopwords("english"), "english")
FR = Oracle(stopwords("french") | {"foo"}, "french")


@pytest.fixture(scope="module")
def coll(client, transport):
    name = f"full_text_stem_{transport}"
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(
        name,
        [
            models.PointStruct(id=i, vector=[1.0, 0.0], payload={"en": EN_DOCS[i], "fr": FR_DOCS[i], "raw": EN_DOCS[i]})
            for i in range(N)
        ],
    )
    client.create_payload_index(
        name,
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
    client.create_payload_index(
        name,
        "fr",
        models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            tokenizer=models.TokenizerType.WORD,
            stopwords=models.StopwordsSet(languages=[models.Language.FRENCH], custom=["Foo"]),
            stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.FRENCH),
        ),
        wait=True,
    )
    return name


def matching_ids(client, name: str, key: str, match) -> list[int]:
    points, _ = client.scroll(
        name, scroll_filter=models.Filter(must=[models.FieldCondition(key=key, match=match)]), limit=N + 10
    )
    return sorted(p.id for p in points)


def expected(docs: list[str], test) -> list[int]:
    return [i for i, doc in enumerate(docs) if test(doc)]


EN_QUERIES = ["running dogs", "jumped", "The connections", "happily lazy", "quick foxes", "runner over cats"]


@pytest.mark.parametrize("query", EN_QUERIES)
def test_english_text_all_and_any(client, coll, query):
    got = matching_ids(client, coll, "en", models.MatchText(text=query))
    assert got == expected(EN_DOCS, lambda d: EN.text(d, query))
    got_any = matching_ids(client, coll, "en", models.MatchTextAny(text_any=query))
    assert got_any == expected(EN_DOCS, lambda d: EN.text_any(d, query))
    count = client.count(coll, count_filter=models.Filter(must=[
        models.FieldCondition(key="en", match=models.MatchText(text=query))
    ]), exact=True).count
    assert count == len(got)


def test_stemming_really_applies(client, coll):
    # "run" matches documents containing only "running"/"runs" (not "ran": irregular)
    got = set(matching_ids(client, coll, "en", models.MatchText(text="run")))
    with_running = {i for i, d in enumerate(EN_DOCS) if {"running", "runs"} & set(d.split())}
    assert with_running and with_running <= got
    assert not any("runs" not in d.split() and "running" not in d.split() for d in (EN_DOCS[i] for i in got))


def test_stopword_only_query_matches_nothing(client, coll):
    assert matching_ids(client, coll, "en", models.MatchText(text="the of a")) == []
    assert matching_ids(client, coll, "en", models.MatchTextAny(text_any="the and")) == []


@pytest.mark.parametrize("phrase", ["quick fox", "dogs jumping", "the lazy dog", "connected over the cats"])
def test_english_phrase(client, coll, phrase):
    got = matching_ids(client, coll, "en", models.MatchPhrase(phrase=phrase))
    assert got == expected(EN_DOCS, lambda d: EN.phrase(d, phrase))


@pytest.mark.parametrize("query", ["chats rapides", "mangeait", "maisons foo", "la Foo"])
def test_french_stopword_set_and_stemmer(client, coll, query):
    got = matching_ids(client, coll, "fr", models.MatchText(text=query))
    assert got == expected(FR_DOCS, lambda d: FR.text(d, query))
    got_any = matching_ids(client, coll, "fr", models.MatchTextAny(text_any=query))
    assert got_any == expected(FR_DOCS, lambda d: FR.text_any(d, query))


def test_prefix_tokenizer_with_stemmer(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    docs = ["connections everywhere", "the theory", "connecting people", "random words"]
    client.upsert(
        collection_name,
        [models.PointStruct(id=i, vector=[1.0, 0.0], payload={"t": d}) for i, d in enumerate(docs)],
    )
    client.create_payload_index(
        collection_name,
        "t",
        models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            tokenizer=models.TokenizerType.PREFIX,
            stopwords=models.Language.ENGLISH,
            stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.ENGLISH),
        ),
        wait=True,
    )
    # both documents stem to "connect"; a prefix of the stem finds them
    assert matching_ids(client, collection_name, "t", models.MatchText(text="conn")) == [0, 2]
    # prefix queries keep stopwords: "the" is the start of "theory"
    assert matching_ids(client, collection_name, "t", models.MatchText(text="the")) == [1]


def test_without_index_text_is_unchanged(client, coll):
    # the "raw" field has no text index: plain lowercased word tokens, no stemming
    got = matching_ids(client, coll, "raw", models.MatchText(text="running"))
    assert got == [i for i, d in enumerate(EN_DOCS) if "running" in d.split()]
    assert matching_ids(client, coll, "raw", models.MatchText(text="run")) == []


def test_bad_stemmer_language_is_rejected(http, coll):
    response = http.put(
        f"{http.base}/collections/{coll}/index?wait=true",
        json={"field_name": "x", "field_schema": {"type": "text", "stemmer": {"type": "snowball", "language": "klingon"}}},
    )
    assert response.status_code in (400, 422)
    assert "status" in response.json() and "error" in response.json()["status"]
