"""Tokenizers for full-text matching and the text payload index.

A :class:`TokenizerConfig` turns text into tokens the way a Qdrant text index
is configured to (``word``, ``whitespace``, ``prefix``, ``multilingual``;
lowercasing; ASCII folding; min/max token length; custom stopwords).

Filters without a text index use :data:`DEFAULT_TOKENIZER` (word tokens,
lowercased). Every other configuration that splits on non-alphanumerics and
lowercases only *coarsens* those tokens, which is what lets a text index answer
a filter written for the default tokenizer with a superset of the matches.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TOKENIZERS = ("word", "whitespace", "prefix", "multilingual")

_WORD_RE = re.compile(r"[^\W_]+")


def _fold_ascii(token: str) -> str:
    decomposed = unicodedata.normalize("NFKD", token)
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@dataclass(frozen=True)
class TokenizerConfig:
    """How text is split into tokens; mirrors the tokenizing part of ``TextIndexParams``.

    ``multilingual`` is approximated by the Unicode-aware word tokenizer.
    Language stopword lists and stemmers are not implemented; custom stopwords are.
    """

    tokenizer: str = "word"
    lowercase: bool = True
    min_token_len: int | None = None
    max_token_len: int | None = None
    ascii_folding: bool = False
    stopwords: frozenset[str] = frozenset()

    def words(self, text: str) -> list[str]:
        """The normalized word tokens of ``text``, in order (no prefix expansion)."""
        if self.tokenizer == "whitespace":
            raw = text.split()
        else:
            raw = _WORD_RE.findall(text)
        out: list[str] = []
        min_len = self.min_token_len
        max_len = self.max_token_len
        expand_prefixes = self.tokenizer == "prefix"
        for token in raw:
            if self.lowercase:
                token = token.lower()
            if self.ascii_folding:
                token = _fold_ascii(token)
            if token in self.stopwords:
                continue
            if min_len is not None and len(token) < min_len:
                continue
            if max_len is not None and len(token) > max_len:
                if not expand_prefixes:
                    continue
                # prefix indexes keep only prefixes up to max_len; a long query
                # word is looked up by its longest indexed prefix
                token = token[:max_len]
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
        return list(dict.fromkeys(self.words(text)))

    @property
    def coarsens_default(self) -> bool:
        """Whether this config's index always finds the matches of the default tokenizer."""
        return self.lowercase and self.tokenizer in ("word", "prefix", "multilingual")


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
