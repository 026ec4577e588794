"""Keeping XMP sidecars in step with pictod's people ([metadata] write_sidecars, and `pictod metadata write`).

Corrections mark photos dirty in their own transaction (`store/metadata.py`, whichever process makes them); this
module drains the dirty photos in batches: one snapshot read per batch (files, named faces, tags), `write_sidecar`
per file (atomic, keeps what pictod did not write, never touches the photo), then `dirty` cleared only where no
change came meanwhile (`dirty_gen`) and the written digest remembered, so the watcher's event for pictod's own
write re-imports nothing. A rename of a person with 5,000 faces marks each of their photos once: each sidecar is
written once per batch however many edits came before it. A write that fails (a full disk, a read-only folder)
leaves the photo dirty and is tried again after a backoff that doubles up to ten minutes, as long as it stays
dirty and across restarts (`store/metadata.py` keeps the count, the next try and the last error, which `status`
shows). Blocking: the daemon runs `flush_batch` in its I/O executor (`SidecarFlusher`), the CLI in its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import structlog

from daemon.metadata import NamedFace, PlaceNames, SidecarContent, write_sidecar
from daemon.store import Store
from daemon.store.rows import SidecarSeen

log = structlog.get_logger()

BATCH = 200
IDLE_SECONDS = 1.0  # how often the daemon looks for dirty photos when there is nothing to do
BUSY_QUEUE = 50  # intake queue length above which the writer waits (analysis first)


@dataclass
class FlushStats:
    """What one or more batches did: the dirty photos taken, and per sidecar what happened to it."""

    files: list[dict[str, str]] = field(default_factory=list)  # per sidecar: path, status (for --json)
    photos: int = 0
    written: int = 0
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0  # failed: the photo stays dirty, retried later


def flush_batch(store: Store, *, tags: bool, limit: int = BATCH, stats: FlushStats | None = None) -> FlushStats:
    """Write the sidecars of up to `limit` dirty photos; blocking."""
    stats = stats if stats is not None else FlushStats()
    for job in store.sidecar_jobs(limit, tags=tags):
        stats.photos += 1
        content = SidecarContent(faces=tuple(NamedFace(name, box, f"face:{fid}") for fid, name, box in job.faces),
                                 keywords=job.tags, place=None if job.place is None else PlaceNames(*job.place),
                                 regions=not job.video)
        seen = SidecarSeen()
        error: str | None = None
        for path in job.paths:
            if not os.path.exists(path):
                continue  # the photo went: its sidecar is left alone (another program may be moving both)
            result = write_sidecar(Path(path), content)
            stats.files.append({"photo": path, "sidecar": str(result.path), "status": result.status})
            for dropped in result.dropped:
                log.info("sidecar_dropped", path=str(result.path), reason=dropped)
            if result.status == "skipped":
                error = f"{result.path}: {result.reason}"
                stats.skipped += 1
                log.warning("sidecar_skipped", path=str(result.path), reason=result.reason)
                continue
            if result.status == "written":
                stats.written += 1
            elif result.status == "removed":
                stats.removed += 1
            else:
                stats.unchanged += 1
            if seen.path is None:
                try:
                    st = os.stat(result.path)
                    seen = SidecarSeen(str(result.path), st.st_size, st.st_mtime_ns, result.digest)
                except OSError:
                    seen = SidecarSeen()
        if error is not None:
            retry = store.sidecar_failed(job.photo_id, error)
            log.info("sidecar_retry", photo_id=job.photo_id, retry_seconds=retry)
        else:
            store.sidecar_written(job.photo_id, job.gen, seen)
    return stats


def flush_all(store: Store, *, tags: bool) -> FlushStats:
    """Drain every dirty photo (the CLI's one-off); blocking."""
    stats = FlushStats()
    while True:
        before = stats.photos
        flush_batch(store, tags=tags, stats=stats)
        if stats.photos == before or store.sidecars_dirty() == 0:
            return stats


@dataclass
class SidecarFlusher:
    """The daemon's background writer: drains dirty photos off the event loop, a batch at a time, yielding
    between batches and waiting while the intake queue is long (`queue_length`); `before_write` checks the
    library file before each batch."""

    store: Store
    pool: Executor
    _: KW_ONLY
    tags: bool
    queue_length: Callable[[], int]
    stopping: asyncio.Event
    before_write: Callable[[], None] | None = None

    async def run(self) -> None:
        """Until the daemon stops: every IDLE_SECONDS, the dirty photos whose write is due, a batch at a time."""
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=IDLE_SECONDS)
            while not self.stopping.is_set():
                if self.queue_length() > BUSY_QUEUE:
                    await asyncio.sleep(IDLE_SECONDS)
                    continue
                dirty = await loop.run_in_executor(self.pool, self.store.sidecars_dirty)
                if not dirty:
                    break
                t0 = time.monotonic()
                stats = await loop.run_in_executor(self.pool, self._batch)
                if stats.photos == 0:
                    break  # the dirty ones wait for their retries
                seconds = max(time.monotonic() - t0, 1e-6)
                log.info("sidecars", sidecars_dirty=max(0, dirty - stats.photos + stats.skipped),
                         written=stats.written, unchanged=stats.unchanged, removed=stats.removed,
                         skipped=stats.skipped, written_per_s=round(stats.written / seconds, 1))
                await asyncio.sleep(0)  # let the loop breathe between batches

    def _batch(self) -> FlushStats:
        if self.before_write is not None:
            self.before_write()
        return flush_batch(self.store, tags=self.tags)
