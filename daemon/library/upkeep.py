"""The library's upkeep use cases, for both front ends: analyse failed files again (`retry`), bring XMP
sidecars in step now (`write_sidecars`), recluster now (`recluster`).

`retry` only marks rows (`files.retry`): a running daemon picks them up on its next status tick
(`Service._pick_up_retries`, at most `daemon.status_interval` seconds later), otherwise the next scan or daemon
start treats them as changed (`reconcile.plan`). `write_sidecars` drains the photos it marks dirty in this
process (its own store connection, SQLite's busy timeout against a running daemon); a running daemon sees the
sidecars as its own writes (their digest) and imports nothing back.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daemon import logs
from daemon.config import ClusteringConfig, MetadataConfig
from daemon.errors import NotFoundError
from daemon.people.manager import ReclusterResult, recluster_now
from daemon.runtime.sidecar_sync import FlushStats, flush_all
from daemon.store import Store

__all__ = ["FlushStats", "ReclusterResult", "Retry", "recluster", "retry", "sidecar_report", "write_sidecars"]


@dataclass(frozen=True)
class Retry:
    """What `retry` marked."""

    marked: list[str]  # the failed files now marked
    unmatched: list[str]  # paths given that hold no failed file


def retry(store: Store, paths: Sequence[str] | None) -> Retry:
    """Mark failed files to be analysed again: these (files, or folders holding them; made absolute), or all."""
    wanted = None if paths is None else [os.path.abspath(p) for p in paths]
    marked = store.mark_retry(wanted)
    unmatched = [] if wanted is None else [p for p in wanted if not any(
        m == p or m.startswith(p.rstrip("/") + "/") for m in marked)]
    return Retry(marked=marked, unmatched=unmatched)


def write_sidecars(store: Store, cfg: MetadataConfig, photos: Sequence[str] | None) -> FlushStats:
    """Write pictod's named people into the sidecars of these photo files (None: every photo) now.
    NotFoundError when a file is not in the library (or not analysed yet); nothing is written then."""
    missing = store.mark_sidecars_dirty(None if photos is None else [os.path.abspath(p) for p in photos])
    if missing:
        raise NotFoundError(f"not in the library (or not analysed yet): {logs.escape(missing[0])}"
                            + (f" and {len(missing) - 1} more" if len(missing) > 1 else ""))
    return flush_all(store, tags=cfg.write_tags)


def sidecar_report(stats: FlushStats) -> dict[str, Any]:
    """What `write_sidecars` did, as `pictod metadata write --json` prints it."""
    return {"photos": stats.photos, "written": stats.written, "unchanged": stats.unchanged, "removed": stats.removed,
            "skipped": stats.skipped, "sidecars": stats.files}


def recluster(store: Store, cfg: ClusteringConfig) -> ReclusterResult:
    """A full recluster from the database, now (`pictod recluster`)."""
    return recluster_now(store, cfg)
