"""Polling with a deadline: how the tests wait for a condition (never a fixed sleep)."""

from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 30.0,
    interval: float = 0.05,
    what: str = "condition",
    tolerate: tuple[type[BaseException], ...] = (),
) -> Any:
    """Call ``predicate`` until it returns something truthy and return that value.

    Exceptions of the ``tolerate`` types count as "not yet"; at the deadline the
    test fails naming ``what`` and the last such exception.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except tolerate as exc:
            last_error = exc
        if time.monotonic() > deadline:
            suffix = f" (last error: {last_error!r})" if last_error is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{suffix}")
        time.sleep(interval)
