"""The text tokenizer pipeline: split, lowercase, fold, stopwords, stem, length bounds."""

from __future__ import annotations

import snowballstemmer

from shards.text_tokenizer import (
    DEFAULT_TOKENIZER,
    TokenizerConfig,
    stopwords_for,
    text_matches_all,
    text_matches_phrase,
)

LANGUAGES = ("english", "french", "german", "spanish", "italian", "portuguese", "russian", "dutch", "swedish")


def test_stopword_lists_exist_and_are_lowercase_words():
    for language in LANGUAGES:
        words = stopwords_for(language)
        assert len(words) > 50, language
        assert all(word == word.lower() and " " not in word for word in words), language
        assert language in snowballstemmer.algorithms()
    assert {"the", "and", "of"} <= stopwords_for("english")
    assert stopwords_for("chinese") == frozenset()  # accepted language without a list


def test_language_stopwords_and_stemmer():
    config = TokenizerConfig.from_params(
        {"stopwords": "english", "stemmer": {"type": "snowball", "language": "english"}}
    )
    assert config.words("The Running dogs are jumping over the lazy foxes") == ["run", "dog", "jump", "lazi", "fox"]
    assert config.query_tokens("dogs dog DOG") == ["dog"]


def test_stopword_set_with_custom_words_lowercased():
    config = TokenizerConfig.from_params({"stopwords": {"languages": ["german"], "custom": ["Foo"]}})
    assert config.words("Der Hund und FOO bellt") == ["hund", "bellt"]
    kept_case = TokenizerConfig.from_params({"lowercase": False, "stopwords": {"custom": ["Foo"]}})
    assert kept_case.words("Foo foo") == ["foo"]


def test_length_bounds_apply_after_stemming():
    config = TokenizerConfig.from_params(
        {"min_token_len": 4, "stemmer": {"type": "snowball", "language": "english"}}
    )
    # "runs" has 4 characters but its stem "run" has 3: dropped, as in Qdrant
    assert config.words("runs jumping") == ["jump"]


def test_prefix_tokenizer_stems_and_keeps_stopwords_in_queries():
    config = TokenizerConfig.from_params(
        {"tokenizer": "prefix", "stopwords": "english", "stemmer": {"type": "snowball", "language": "english"}}
    )
    assert config.document_tokens("the connections") == {"c", "co", "con", "conn", "conne", "connec", "connect"}
    assert config.query_tokens("the conn") == ["the", "conn"]


def test_phrase_matches_consecutive_tokens_after_stopwords():
    config = TokenizerConfig.from_params({"stopwords": "english", "stemmer": {"type": "snowball", "language": "english"}})
    tokens = tuple(config.phrase_tokens("the lazy dogs"))
    assert tokens == ("lazi", "dog")
    assert text_matches_phrase(config, tokens, "a lazy dog sleeps")
    assert not text_matches_phrase(config, tokens, "a dog lazy")
    assert not text_matches_phrase(config, tokens, "lazy brown dog")
    assert text_matches_all(config, tuple(config.query_tokens("dog lazy")), "lazy brown dogs")


def test_default_tokenizer_unchanged_and_coarsening():
    assert DEFAULT_TOKENIZER.words("Hello, World_x!") == ["hello", "world", "x"]
    assert TokenizerConfig.from_params({"tokenizer": "word"}).coarsens_default
    assert not TokenizerConfig.from_params({"stopwords": "english"}).coarsens_default
    assert not TokenizerConfig.from_params({"stemmer": {"type": "snowball", "language": "english"}}).coarsens_default
    assert TokenizerConfig.from_params(None) == DEFAULT_TOKENIZER
