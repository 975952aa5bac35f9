"""An API call made in-process, without HTTP: what a REST handler reads from a request.

The gRPC API runs every operation through the same REST handlers. It hands
them an :class:`ApiCall` that carries the already-decoded JSON body and the
path and query parameters, so parsing, validation, strict mode and execution
exist once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class ApiCall:
    """Duck-types the parts of ``aiohttp.web.Request`` the handlers use."""

    app: Mapping[str, Any]
    method: str
    path: str
    match_info: dict[str, str]
    query: dict[str, str]
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._values[key] = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._values.get(key, default)
