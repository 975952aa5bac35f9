"""Tokenizers for full-text matching and the text payload index.

A :class:`TokenizerConfig` turns text into tokens the way a Qdrant text index
is configured to (``word``, ``whitespace``, ``prefix``, ``multilingual``;
lowercasing; ASCII folding; stopwords; Snowball stemming; min/max token length).
The pipeline per raw token follows Qdrant's: lowercase, fold, drop stopwords,
stem, then drop tokens outside the length bounds (measured after stemming).

Filters without a text index use :data:`DEFAULT_TOKENIZER` (word tokens,
lowercased). Configurations that only split on non-alphanumerics and lowercase
*coarsen* those tokens, which lets such a text index answer a filter written for
the default tokenizer with a superset of the matches.

Stopword lists live in ``shards/stopwords/<language>.txt`` (one word per line,
``#`` comments); stemming uses the ``snowballstemmer`` package.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any, Mapping

import snowballstemmer

logger = logging.getLogger(__name__)

TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")

_WORD_RE = re.compile(r"[^\W_]+")
_STOPWORDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stopwords")
_STEMMERS = threading.local()  # snowballstemmer objects keep state while stemming


def _fold_ascii(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@functools.lru_cache(maxsize=None)
def stopwords_for(language: str) -> frozenset[str]:
    """The stopword list of ``language`` (empty when the repository has none for it)."""
    path = os.path.join(_STOPWORDS_DIR, f"{language}.txt")
    if not re.fullmatch(r"[a-z_]+", language) or not os.path.isfile(path):
        logger.warning("No stopword list for language %r; none are removed", language)
        return frozenset()
    with open(path, encoding="utf-8") as handle:
        words = (line.strip() for line in handle)
        return frozenset(word for word in words if word and not word.startswith("#"))


def stemmer_available(language: str) -> bool:
    """Whether snowballstemmer has an algorithm for ``language``."""
    return language in snowballstemmer.algorithms()


@functools.lru_cache(maxsize=262144)
def stem(language: str, word: str) -> str:
    """The Snowball stem of ``word`` in ``language`` (thread-safe, cached)."""
    stemmers = getattr(_STEMMERS, "by_language", None)
    if stemmers is None:
        stemmers = _STEMMERS.by_language = {}
    stemmer = stemmers.get(language)
    if stemmer is None:
        stemmer = stemmers[language] = snowballstemmer.stemmer(language)
    return stemmer.stemWord(word)


@dataclass(frozen=True)
class TokenizerConfig:
    """How text is split into tokens; mirrors the tokenizing part of ``TextIndexParams``.

    ``stopwords`` is the resolved set (language lists plus custom words);
    ``stemmer`` a Snowball language or None. ``multilingual`` is approximated by
    the Unicode-aware word tokenizer.
    """

    tokenizer: str = "word"
    lowercase: bool = True
    min_token_len: int | None = None
    max_token_len: int | None = None
    ascii_folding: bool = False
    stopwords: frozenset[str] = frozenset()
    stemmer: str | None = None

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> "TokenizerConfig":
        """The config of a validated ``TextIndexParams`` object (None: the defaults)."""
        params = params or {}
        lowercase = bool(_param(params, "lowercase", True))
        stopwords: set[str] = set()
        spec = params.get("stopwords")
        if isinstance(spec, str):
            stopwords |= stopwords_for(spec)
        elif isinstance(spec, Mapping):
            for language in spec.get("languages") or ():
                stopwords |= stopwords_for(language)
            custom = spec.get("custom") or ()
            stopwords |= {word.lower() for word in custom} if lowercase else set(custom)
        stemmer = None
        stemmer_spec = params.get("stemmer")
        if isinstance(stemmer_spec, Mapping) and stemmer_spec.get("type") == "snowball":
            language = stemmer_spec.get("language")
            if isinstance(language, str) and stemmer_available(language):
                stemmer = language
        return cls(
            tokenizer=_param(params, "tokenizer", "word"),
            lowercase=lowercase,
            min_token_len=params.get("min_token_len"),
            max_token_len=params.get("max_token_len"),
            ascii_folding=bool(_param(params, "ascii_folding", False)),
            stopwords=frozenset(stopwords),
            stemmer=stemmer,
        )

    def _raw(self, text: str) -> list[str]:
        return text.split() if self.tokenizer == "whitespace" else _WORD_RE.findall(text)

    def _normalize(self, token: str, drop_stopwords: bool = True) -> str | None:
        """Lowercase, fold, stopword and stem one raw token; None when it is dropped."""
        if self.lowercase:
            token = token.lower()
        if self.ascii_folding:
            token = _fold_ascii(token)
        if drop_stopwords and token in self.stopwords:
            return None
        if self.stemmer is not None:
            token = stem(self.stemmer, token)
        return token or None

    def words(self, text: str, query: bool = False) -> list[str]:
        """The normalized word tokens of ``text``, in order (no prefix expansion).

        For the prefix tokenizer a word longer than ``max_token_len`` becomes its
        longest indexed prefix; with ``query`` stopwords are kept, as Qdrant does
        for prefix queries (a stopword may be the start of a longer word).
        """
        expand_prefixes = self.tokenizer == "prefix"
        keep_stopwords = query and expand_prefixes
        min_len = self.min_token_len
        max_len = self.max_token_len
        out: list[str] = []
        for raw in self._raw(text):
            token = self._normalize(raw, drop_stopwords=not keep_stopwords)
            if token is None:
                continue
            if max_len is not None and len(token) > max_len:
                if not expand_prefixes:
                    continue
                token = token[:max_len]
            if min_len is not None and len(token) < min_len:
                continue
            out.append(token)
        return out

    def document_tokens(self, text: str) -> set[str]:
        """Tokens a text index stores for ``text`` (all prefixes for the prefix tokenizer)."""
        words = self.words(text)
        if self.tokenizer != "prefix":
            return set(words)
        lowest = max(1, self.min_token_len or 1)
        tokens: set[str] = set()
        for word in words:
            for end in range(lowest, len(word) + 1):
                tokens.add(word[:end])
        return tokens

    def query_tokens(self, text: str) -> list[str]:
        """Tokens of a query string, deduplicated, in order."""
        return list(dict.fromkeys(self.words(text, query=True)))

    def phrase_tokens(self, text: str) -> list[str]:
        """Tokens of a phrase query, in order, duplicates kept."""
        return self.words(text)

    @property
    def coarsens_default(self) -> bool:
        """Whether this config's index always finds the matches of the default tokenizer."""
        return (
            self.lowercase
            and self.tokenizer in ("word", "prefix", "multilingual")
            and not self.stopwords
            and self.stemmer is None
            and not self.ascii_folding
            and self.min_token_len is None
            and self.max_token_len is None
        )


def _param(params: Mapping[str, Any], name: str, default: Any) -> Any:
    value = params.get(name)
    return default if value is None else value


DEFAULT_TOKENIZER = TokenizerConfig()
"""Tokenization of text matches on fields without a text index."""


def text_matches_all(config: TokenizerConfig, query_tokens: tuple[str, ...], text: str) -> bool:
    """Every query token is a token of ``text``; a query without tokens matches nothing (as Qdrant)."""
    if not query_tokens:
        return False
    if config.tokenizer != "prefix" and len(query_tokens) == 1:
        return query_tokens[0] in config.words(text)
    tokens = config.document_tokens(text)
    return all(token in tokens for token in query_tokens)


def text_matches_any(config: TokenizerConfig, query_tokens: tuple[str, ...], text: str) -> bool:
    """At least one query token is a token of ``text``."""
    tokens = config.document_tokens(text)
    return any(token in tokens for token in query_tokens)


def text_matches_phrase(config: TokenizerConfig, query_tokens: tuple[str, ...], text: str) -> bool:
    """The query tokens appear consecutively, in order, among the word tokens of ``text``;
    a phrase without tokens matches nothing."""
    if not query_tokens:
        return False
    words = config.words(text)
    width = len(query_tokens)
    first = query_tokens[0]
    for start in range(len(words) - width + 1):
        if words[start] == first and tuple(words[start : start + width]) == query_tokens:
            return True
    return False
