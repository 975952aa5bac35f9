"""API-key checks as Qdrant does them: full key for everything, read-only key for reads."""

from __future__ import annotations

import hmac

from consensus.errors import Forbidden, Unauthorized

# Qdrant's whitelist: these answer without a key (probes and the version banner).
_OPEN_PATHS = frozenset({"/", "/healthz"})
_OPEN_PREFIXES = ("/readyz", "/livez")
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_READ_POST_SUFFIXES = (
    "/points",
    "/points/scroll",
    "/points/count",
    "/points/query",
    "/points/query/batch",
    "/points/query/groups",
    "/points/search",
    "/points/search/batch",
    "/points/search/groups",
    "/points/recommend",
    "/points/recommend/batch",
    "/points/recommend/groups",
    "/points/discover",
    "/points/discover/batch",
    "/facet",
    "/points/search/matrix/pairs",
    "/points/search/matrix/offsets",
)


class ApiKeyPolicy:
    """Decides whether a request's credentials allow it."""

    def __init__(self, api_key: str | None, read_only_api_key: str | None) -> None:
        self._api_key = api_key or None
        self._read_only_key = read_only_api_key or None

    @property
    def enabled(self) -> bool:
        return self._api_key is not None or self._read_only_key is not None

    def check(self, method: str, path: str, headers: dict[str, str] | object) -> None:
        if not self.enabled or path in _OPEN_PATHS or path.startswith(_OPEN_PREFIXES):
            return
        given = _presented_key(headers)
        if given is None:
            raise Unauthorized("Must provide an API key or an Authorization bearer token")
        if self._api_key is not None and _same_key(given, self._api_key):
            return
        if self._read_only_key is not None and _same_key(given, self._read_only_key):
            if is_read_request(method, path):
                return
            raise Forbidden("Forbidden: Global manage access is required")
        raise Unauthorized("Invalid API key or JWT")


def is_read_request(method: str, path: str) -> bool:
    if method in _READ_METHODS:
        return True
    return method == "POST" and path.startswith("/collections/") and path.endswith(_READ_POST_SUFFIXES)


def _same_key(given: str, expected: str) -> bool:
    # Constant-time; compared as bytes since compare_digest refuses non-ASCII str.
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def _presented_key(headers: object) -> str | None:
    get = getattr(headers, "get")
    key = get("api-key")
    if key:
        return key
    auth = get("Authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None
