"""`pictod metadata write`: bring XMP sidecars in step with pictod's named people once, with or without a daemon.

Registered by `cli.build_parser` through `register`. The photos are marked dirty and drained in this process (its
own store connection, SQLite's busy timeout against a running daemon); a running daemon sees the sidecars as its
own writes (their digest) and imports nothing back.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from daemon.errors import NotFoundError


def register(sub: Any, common: Callable[[argparse.ArgumentParser], None], handler: Callable[..., Any]) -> None:
    """Add `metadata write` to the subcommands; `handler(args, action, read_only=False)` opens the store."""
    meta = sub.add_parser("metadata", help="XMP metadata: write sidecars now")
    msub = meta.add_subparsers(dest="metadata_command", required=True, metavar="ACTION")
    p = msub.add_parser("write", help="write pictod's named people into photo.jpg.xmp sidecars now "
                                      "(never touches the photos)")
    common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every photo in the library")
    which.add_argument("photos", nargs="*", metavar="PHOTO", default=[], help="photo files in the library")
    p.set_defaults(func=lambda args: handler(args, lambda store, cfg: _write(args, store, cfg)))


def _write(args: argparse.Namespace, store: Any, cfg: Any) -> int:
    from daemon.cli import main as cli
    from daemon.runtime import sidecar_sync as sidecars
    missing = store.mark_sidecars_dirty(None if args.all else [os.path.abspath(p) for p in args.photos])
    if missing:
        raise NotFoundError(f"not in the library (or not analysed yet): {cli._safe(missing[0])}"
                            + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    stats = sidecars.flush_all(store, tags=cfg.metadata.write_tags)
    if args.json:
        cli._print_json({"photos": stats.photos, "written": stats.written, "unchanged": stats.unchanged,
                         "removed": stats.removed, "skipped": stats.skipped, "sidecars": stats.files})
    else:
        print(f"sidecars: {stats.written} written, {stats.unchanged} unchanged, {stats.removed} removed, "
              f"{stats.skipped} skipped ({stats.photos} photos)")
        for item in stats.files:
            if item["status"] == "skipped":
                print(f"skipped: {cli._safe(str(Path(item['sidecar'])))}")
    return 1 if stats.skipped else 0
