"""Command line entry point: ``python -m node`` or the ``qdrant-py`` console script."""

from __future__ import annotations

import asyncio
import gc
import logging
import shutil
import sys
from typing import Sequence

from node.app import run_node
from node.settings import SettingsError, settings_from_command_line


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _run(coro) -> None:
    """Run on uvloop where it is installed (a faster event loop), else on asyncio's own."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(coro)
        return
    uvloop.run(coro)


def main(argv: Sequence[str] | None = None) -> None:
    try:
        args, settings = settings_from_command_line(argv)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    _configure_logging(settings.log_level)
    # A node holds millions of long-lived objects (payloads, id maps); with the
    # default thresholds the collector re-walks them every few hundred requests.
    gc.set_threshold(50_000, 20, 100)
    # Threads that come back from C code (hnswlib, RocksDB) wait for the GIL up to
    # the switch interval; the default 5 ms would dominate a sub-millisecond search.
    sys.setswitchinterval(0.0002)
    if args.reinit:
        logging.getLogger(__name__).warning("--reinit: removing consensus state in %s", settings.storage.storage_path)
        shutil.rmtree(f"{settings.storage.storage_path}/raft_state", ignore_errors=True)
    try:
        _run(run_node(settings, storage_snapshot=args.storage_snapshot))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
