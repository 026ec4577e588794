"""The running daemon's orchestration: the executors, the event queue and its workers, the recluster
scheduler, the status line, systemd notification, signals and the ordered shutdown, and the entry points
the CLI calls: `run(cfg) -> int` (watch until a signal) and `scan(cfg, paths) -> ScanSummary`.

What happens to each event is in `daemon/runtime/intake.py` (one photo: settle -> hash -> link or analyse -> record
-> place faces; deletes and moves), the roots' guard and reconciliation in `daemon/runtime/roots.py`, the lock in
`daemon/runtime/lock.py`, the generic queue, ordering and pixel budget in `daemon/runtime/flow.py`.
The event loop never blocks: stat, hashing and every store call run in the I/O executor, decoding and
inference in the analysis executor (one thread per worker), reclustering in its own single thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import functools
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from daemon.config import Config, FolderConfig
from daemon.errors import PictodError, StoreError, UsageError
from daemon.library import places, purge
from daemon.logs import ms_since
from daemon.runtime import memory, reconcile
from daemon.runtime import sidecar_sync as sidecars
from daemon.runtime.flow import CoalescingQueue, InPool, PathOrder
from daemon.runtime.intake import Intake, ScanSummary
from daemon.runtime.lock import DaemonLock, LibraryFile, daemon_pid
from daemon.runtime.notify import Notifier
from daemon.runtime.roots import Roots
from daemon.runtime.watch import PathFilter, PhotoEvent, Watcher

if TYPE_CHECKING:
    from daemon.analysis.analyzer import Analyzer
    from daemon.people.manager import PeopleManager, ReclusterResult
    from daemon.runtime.progress import ProgressLine
    from daemon.store import Store
__all__ = ["ScanSummary", "Service", "daemon_pid", "run", "scan"]

log = structlog.get_logger()
T = TypeVar("T")

DELETE_GRACE_SECONDS = 1.0  # deletes wait this long (or settle_seconds) before they are queued
EXPIRY_SECONDS = 24 * 3600.0  # missing photos past library.keep_missing_days are purged at start and this often
PROGRESS_SECONDS = 0.25  # how often the live progress line is fed (it redraws at most every 0.5 s)


class Service:
    """The daemon: owns the executors, the queue, the workers and the watcher for one library."""

    def __init__(self, cfg: Config, store: Store, people: PeopleManager, analyzer: Analyzer, *,
                 folders: Sequence[FolderConfig] | None = None, notifier: Notifier | None = None,
                 progress: ProgressLine | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.people = people
        self.folders = tuple(folders if folders is not None else cfg.library.folders)
        self.filter = PathFilter([f.path for f in self.folders], cfg.library.all_extensions,
                                 follow_symlinks=cfg.library.follow_symlinks)
        self.notifier = notifier or Notifier({})
        workers = cfg.daemon.workers
        self.io_pool = ThreadPoolExecutor(max_workers=workers * 2 + 2, thread_name_prefix="pictod-io")
        self._io = InPool(self.io_pool)
        self.cpu_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pictod-analysis")
        self.cluster_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pictod-recluster")
        self.queue: CoalescingQueue[PhotoEvent] = CoalescingQueue(cfg.daemon.queue_size, key=PhotoEvent.queue_key,
                                                                  merge=PhotoEvent.coalesce)
        self.order = PathOrder()
        self.watcher: Watcher | None = None
        self._stop = asyncio.Event()
        # The database file as opened: a library deleted, replaced or moved under the daemon stops it (exit 74).
        self.library = LibraryFile(store.path)
        self.roots = Roots(self.folders, self.filter, store, self.io_pool, queue=self.queue, submit=self.submit,
                           notifier=self.notifier, stopping=self._stop, spawn=self._spawn,
                           on_plan=self._on_plan, read_metadata=cfg.metadata.read)
        self.intake = Intake(cfg, store, people, analyzer, io_pool=self.io_pool, cpu_pool=self.cpu_pool,
                             roots=self.roots, requeue=self._submit_now, recluster=self._recluster,
                             library=self.library)
        self.summary = self.intake.summary
        # [metadata] write_sidecars: dirty photos' sidecars are written off the loop, in batches.
        self.flusher = sidecars.SidecarFlusher(store, self.io_pool, tags=cfg.metadata.write_tags,
                                               queue_length=self.queue.qsize, stopping=self._stop,
                                               before_write=self.library.check) \
            if cfg.metadata.write_sidecars else None
        # The last recluster handed to the cluster thread (the manager coalesces the calls queued there).
        self._recluster_future: asyncio.Future[tuple[ReclusterResult, float]] | None = None
        self._last_recluster: ReclusterResult | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._busy_workers = 0
        self._fatal: PictodError | None = None
        self._exit_code = 0
        self._started = time.monotonic()
        self._busy_since: float | None = None
        self._done_at_busy = 0
        self.progress = progress  # the live line on a terminal (daemon/runtime/progress.py), else None
        self._planned = 0  # photos the reconciliations queued: the progress line's total is known early
        self._handled = 0  # photo events handled
        self._expired_at: float | None = None  # when missing photos past their grace were last purged
        self._settled: int | None = None  # the revision the last places and events pass brought them to

    def _on_plan(self, plan: reconcile.Plan) -> None:
        self.summary.unchanged += plan.unchanged
        self._planned += len(plan.upserts)

    # ---------------------------------------------------------------- events in

    def submit(self, event: PhotoEvent) -> None:
        """Called on the loop by the watcher: queue, or on overflow drop it and schedule a rescan."""
        if self._stop.is_set():
            return
        if event.closed and event.kind == "upsert":
            # The file is complete: a handler already settling it need not wait out settle_seconds.
            self.intake.file_closed(event.path)
        if event.kind == "delete" and event.source == "watch":
            # A move into a folder created a moment ago reaches inotify as a bare delete (the new folder was
            # not watched yet) and the new path is found by scanning that folder. Holding deletes back a
            # little lets the new path link to the photo first, so the move costs no second inference.
            grace = max(DELETE_GRACE_SECONDS, self.cfg.daemon.settle_seconds)
            asyncio.get_running_loop().call_later(grace, self._submit_now, event)
            return
        self._submit_now(event)

    def _submit_now(self, event: PhotoEvent) -> None:
        if self._stop.is_set():
            return
        if not self.queue.put_nowait(event):
            self.roots.request_rescan(event.path)

    # ---------------------------------------------------------------- tasks

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.append(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        with contextlib.suppress(ValueError):
            self._tasks.remove(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        """A task died: an infrastructure failure (a PictodError) or a bug; either stops the daemon."""
        if self._fatal is None:
            if isinstance(exc, StoreError):
                # A store call that failed because the library file went away says "no such table" or "unable
                # to open": the lost file is the cause to report.
                try:
                    self.library.check()
                except StoreError as lost:
                    exc = lost
            if isinstance(exc, PictodError):
                log.error("fatal_error", error=str(exc))
                self._fatal = exc
            else:
                log.error("fatal_error", error=repr(exc), exc_info=exc)
                self._fatal = PictodError(f"internal error: {exc!r}")
        self._stop.set()

    # ---------------------------------------------------------------- workers

    async def _worker(self) -> None:
        while not self._stop.is_set():
            event = await self.queue.get()
            self._busy_workers += 1
            waits, own = self.order.claim(event.paths())
            try:
                if waits:
                    await asyncio.gather(*waits)
                if self._busy_since is None:
                    self._busy_since = time.monotonic()
                    self._done_at_busy = self.summary.done()
                await self.intake.handle(event)
                if event.kind == "upsert" and not event.is_dir:
                    self._handled += 1
            finally:
                self.order.release(own)
                self.roots.handled(event)
                self.queue.task_done()
                self._busy_workers -= 1

    # ---------------------------------------------------------------- people

    def _recluster(self) -> None:
        """A recluster is due (`people.recluster_due()`): hand one to the cluster thread. The service counts
        nothing itself: calls queued behind a running one return its result at once (`PeopleManager.recluster`)."""
        future = asyncio.get_running_loop().run_in_executor(self.cluster_pool, self._run_recluster)
        future.add_done_callback(self._recluster_done)
        self._recluster_future = future

    def _run_recluster(self) -> tuple[ReclusterResult, float]:
        t0 = time.perf_counter()
        return self.people.recluster(), ms_since(t0)

    def _recluster_done(self, future: asyncio.Future[tuple[ReclusterResult, float]]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, PictodError):
            log.error("recluster_failed", error=str(exc))
            return
        if exc is not None:
            self._fail(exc)
            return
        result, wall_ms = future.result()
        if result is self._last_recluster:
            return  # coalesced into a run already counted
        self._last_recluster = result
        self.summary.reclusters += 1
        log.debug("recluster_done", wall_ms=wall_ms, **_public(result))

    async def _wait_recluster(self, *others: asyncio.Future[Any], timeout: float | None = None) -> None:
        """Wait for the last recluster handed over (and so for every one before it), or one of `others`."""
        if self._recluster_future is not None and not self._recluster_future.done():
            await asyncio.wait([self._recluster_future, *others], timeout=timeout,
                               return_when=asyncio.FIRST_COMPLETED)

    # ---------------------------------------------------------------- status

    async def expire_missing(self) -> None:
        """Delete for good the photos missing longer than library.keep_missing_days (issue 22)."""
        self._expired_at = time.monotonic()
        keep = self.cfg.library.keep_missing_days
        result = await self._write(purge.expire, self.store, keep)
        if result.photo_ids:
            await self._io(self.people.on_removed, result)
            log.info("missing_purged", photos=len(result.photo_ids), faces=result.faces_removed,
                     people_pruned=len(result.people_pruned), keep_days=keep)
        await self.settle_places()

    async def settle_places(self) -> None:
        """Issue 25: the places of photos with GPS not placed yet (from before schema v10), and the events
        regrouped around the photos that arrived or left since the last pass; nothing when no photo, file or place
        changed since then (`library.places.settle`)."""
        done = await self._write(functools.partial(places.settle, self.store, self.cfg.events, seen=self._settled,
                                                   to_sidecars=self.cfg.metadata.write_sidecars))
        self._settled = done.rev  # the next pass is skipped unless a photo, a file or a place changes meanwhile
        changes = done.changes
        if changes is not None and (done.placed or changes.arrived or changes.left):
            log.info("places_events", placed=done.placed, arrived=changes.arrived, left=changes.left,
                     events_created=len(changes.created), events_deleted=len(changes.deleted))

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        await self._io(self.library.check)  # never a write into a library replaced under the daemon
        return await self._io(fn, *args)

    def backlog(self) -> int:
        """Photo events still to handle: those queued and those a reconciliation has yet to queue (the queue is
        bounded, so it alone stops at its size and the ETA came out wrong)."""
        return self.queue.unfinished + self.roots.waiting

    async def _idle_tick(self) -> None:
        """Idle: the write-ahead log back into the library and truncated (issue 22); the daily expiry."""
        await self._io(self.store.checkpoint)
        if self._expired_at is None or time.monotonic() - self._expired_at >= EXPIRY_SECONDS:
            await self.expire_missing()

    async def _status_loop(self) -> None:
        interval = max(0.2, self.cfg.daemon.status_interval)
        while True:
            await asyncio.sleep(interval)
            await self._io(self.library.check)
            if self.watcher is not None:
                await self._pick_up_retries()
            busy = self.queue.unfinished > 0
            if self._busy_since is None:
                if self.watcher is not None and self._expired_at is not None \
                        and time.monotonic() - self._expired_at >= EXPIRY_SECONDS:
                    await self.expire_missing()
                continue
            queued = self.backlog()
            await self._io(self.roots.note_backlog, queued if busy else 0)
            counts = await self._io(self.store.status_counts)
            done = self.summary.done() - self._done_at_busy
            elapsed = max(time.monotonic() - self._busy_since, 1e-6)
            rate = done / elapsed
            line = {
                "queued": queued, "done": self.summary.done(), "failed": self.summary.failed,
                "photos_per_s": round(rate, 2), "eta_s": round(queued / rate, 1) if rate > 0 else None,
                "people": counts.people, "last_recluster": counts.last_recluster,
                **({"roots_missing": sorted(map(str, self.roots.lost))} if self.roots.lost else {}),
            }
            log.info("status", **line)
            await self.settle_places()
            self.notifier.status(f"{queued} queued, {self.summary.done()} done, {self.summary.failed} failed, "
                                 f"{rate:.1f} photos/s, {line['people']} people")
            if not busy:
                self._busy_since = None
                await self._io(self.intake.heap.trim_now)  # idle: what the burst freed goes back to the OS
                away = f", {len(self.roots.lost)} missing" if self.roots.lost else ""
                self.notifier.status(f"idle; watching {len(self.folders)} folder(s){away}")
                await self._idle_tick()

    async def _pick_up_retries(self) -> None:
        """Queue the failed files `pictod retry` marked in the DB. Polled on the status tick rather than signalled:
        one probe of a partial index, no pid to trust, and any writer (the CLI, the web app) can mark rows."""
        paths = await self._io(self.store.claim_retries)
        for path in paths:
            self._submit_now(PhotoEvent("upsert", Path(path), closed=True, source="retry"))
        if paths:
            log.info("retry_queued", files=len(paths))

    async def _progress_loop(self, progress: ProgressLine) -> None:
        """Feed the live line: photos handled of those planned and queued, failed, people (read every 2 s)."""
        people, read_at = 0, 0.0
        while True:
            if time.monotonic() - read_at >= 2.0:
                people, read_at = await self._io(self.store.people_count), time.monotonic()
            total = max(self._planned, self._handled + self.backlog())
            idle = self.watcher is not None and self.queue.unfinished == 0
            progress.update(done=self._handled, total=total or None, failed=self.summary.failed, people=people,
                            idle=idle)
            await asyncio.sleep(PROGRESS_SECONDS)

    async def _watchdog_loop(self, interval: float) -> None:
        while True:
            self.notifier.watchdog()
            await asyncio.sleep(interval)

    # ---------------------------------------------------------------- lifecycle

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        loop = asyncio.get_running_loop()
        for s in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(s)
            # A second signal means "now": exit at once with the shell's 128+N.
            signal.signal(s, _exit_now)
        log.info("shutdown_requested", signal=sig.name, timeout_s=self.cfg.daemon.shutdown_timeout)
        self.summary.interrupted = True
        self._stop.set()

    async def serve(self, *, watch: bool = True, paths: Sequence[Path] | None = None) -> int:
        """Run until a signal (watch=True) or until everything under the roots is processed (scan)."""
        self._install_signals()
        loop = asyncio.get_running_loop()
        n = max(1, self.cfg.daemon.workers)
        self._workers = [loop.create_task(self._worker()) for _ in range(n)]
        for task in self._workers:
            task.add_done_callback(self._task_done)
        self._spawn(self._status_loop())
        if self.progress is not None:
            self._spawn(self._progress_loop(self.progress))
        try:
            if watch:
                self.watcher = Watcher(self.cfg.library, loop, self.submit, on_root_gone=self.roots.gone)
                self.roots.watcher = self.watcher
                missing = await self._io(self.watcher.start)
                for root in missing:
                    self.roots.gone(root)
                # What `status` reads from the last run (missing roots, backlog) is this run's from now on.
                await self._io(self.roots.record_lost)
                await self._io(self.roots.note_backlog, 0)
                for root in self.roots.present_roots():
                    await self.roots.remember(root)
                self._spawn(self.roots.monitor())
                self._spawn(self.roots.rescan_loop())
                roots = self.roots.present_roots()
                self.notifier.ready(f"watching {len(roots)} folder(s)")
                log.info("daemon_ready", folders=[str(r) for r in roots], workers=n, pid=os.getpid())
                interval = self.notifier.watchdog_interval
                if interval is not None:
                    self._watchdog_task = self._spawn(self._watchdog_loop(interval))
                await self.expire_missing()
                self._spawn(self.roots.reconcile_roots(roots))
                if self.flusher is not None:
                    self._spawn(self.flusher.run())
                await self._stop.wait()
            else:
                await self._scan_once(paths)
        finally:
            await self._shutdown()
            if self.progress is not None:
                try:
                    people = await self._io(self.store.people_count)
                except PictodError:
                    people = 0  # the library went away: the fatal error says so
                self.progress.update(done=self._handled, total=max(self._planned, self._handled) or None,
                                     failed=self.summary.failed, people=people)
                self.progress.close()
        if self._fatal is not None:
            return self._fatal.exit_code
        return self._exit_code

    async def _scan_once(self, paths: Sequence[Path] | None) -> None:
        given = [Path(os.path.abspath(p)) for p in paths or ()]
        files = [p for p in given if not os.path.isdir(p)]  # photos named one by one (checked by `scan`)
        roots = [p for p in given if p not in files] if paths else self.roots.all()
        if not paths:
            await self.expire_missing()
        for photo in files:
            await self.queue.put(PhotoEvent("upsert", photo, closed=True, source="scan"))
        reconciling = self._spawn(self.roots.reconcile_roots(roots))
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([reconciling, stop], return_when=asyncio.FIRST_COMPLETED)
        while not self._stop.is_set():
            join = asyncio.create_task(self.queue.join())
            await asyncio.wait([join, stop], return_when=asyncio.FIRST_COMPLETED)
            join.cancel()
            # A directory event handled late may queue more; done when the queue stays empty.
            if self.queue.unfinished == 0:
                break
        if not self._stop.is_set() and await self._io(self.people.added_since_recluster) > 0:
            self._recluster()
        # A scan ends with its people settled: wait for the recluster however long it takes (or a signal).
        await self._wait_recluster(stop)
        stop.cancel()
        if not self._stop.is_set():
            await self.settle_places()
        if self.cfg.metadata.write_sidecars and not self._stop.is_set():
            stats = await self._io(functools.partial(sidecars.flush_all, self.store, tags=self.cfg.metadata.write_tags))
            log.info("sidecars", written=stats.written, unchanged=stats.unchanged, removed=stats.removed,
                     skipped=stats.skipped)

    async def _shutdown(self) -> None:
        if self._watchdog_task is not None:
            self._watchdog_task.cancel()  # no WATCHDOG=1 after STOPPING=1
        self.notifier.stopping()
        timeout = self.cfg.daemon.shutdown_timeout
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self.watcher is not None:
            await self._io(self.watcher.stop)
        for task in list(self._tasks):
            task.cancel()
        # Workers idle in get() are cancelled; busy ones finish their photo within the timeout.
        pending = {t for t in self._workers if not t.done()}
        if pending and self._busy_workers:
            idle_wait = asyncio.create_task(self._all_idle())
            await asyncio.wait([idle_wait], timeout=max(0.0, deadline - time.monotonic()))
            idle_wait.cancel()
            if self._busy_workers:
                log.warning("shutdown_timeout", in_flight=self._busy_workers,
                            action="left pending; resumed at the next start")
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        # A recluster in flight commits or times out.
        await self._wait_recluster(timeout=max(0.0, deadline - time.monotonic()))
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        self.cluster_pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(PictodError):
            await self._io(self.roots.note_backlog, 0)  # nobody works on it now (resumed at the next start)
        s = self.summary
        log.info("daemon_stopped", analysed=s.analysed, linked=s.linked, failed=s.failed, removed=s.removed,
                 moved=s.moved, queued_left=self.queue.qsize(), seconds=round(time.monotonic() - self._started, 1))

    def close(self) -> None:
        """After `serve`: wait for file jobs still running (a hash, a folder walk) and let the library go."""
        self.io_pool.shutdown()
        self.library.close()

    async def _all_idle(self) -> None:
        while self._busy_workers:
            await asyncio.sleep(0.05)


def _exit_now(signum: int, _frame: object) -> None:
    os._exit(128 + signum)



def _public(result: Any) -> dict[str, Any]:
    try:
        data = asdict(result)
    except TypeError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int | float | str | bool) or v is None}


# --------------------------------------------------------------------------------------------- entry points


def scan_folders(cfg: Config, paths: Sequence[Path]) -> list[FolderConfig]:
    """The folders a scan of `paths` watches over: each folder given, and for a photo given the watched
    folder holding it; UsageError for a path that is not there or a file outside every watched folder."""
    roots = [Path(os.path.abspath(f.path)) for f in cfg.library.folders]
    folders: list[Path] = []
    for given in paths:
        path = Path(os.path.abspath(given))
        if os.path.isdir(path):
            folders.append(path)
        elif not os.path.lexists(path):
            raise UsageError(f"scan: {given}: no such file or folder")
        elif not os.path.isfile(path):
            raise UsageError(f"scan: {given}: not a photo file or a folder")
        else:
            holder = max((r for r in roots if path.is_relative_to(r)), key=lambda r: len(r.parts), default=None)
            if holder is None:
                raise UsageError(f"scan: {given} is a file outside the watched folders "
                                 f"({', '.join(map(str, roots)) or 'none configured'}): scan the folder holding "
                                 "it, or add that folder to library.folders")
            folders.append(holder)
    return [FolderConfig(path=p) for p in dict.fromkeys(folders)]


async def _open_and_serve(cfg: Config, *, watch: bool, paths: Sequence[Path] | None,
                          progress: ProgressLine | None = None, folders: list[FolderConfig] | None = None
                          ) -> tuple[int, ScanSummary, PictodError | None]:
    from daemon.analysis.analyzer import Analyzer
    from daemon.people.manager import PeopleManager
    from daemon.store import Store
    loop = asyncio.get_running_loop()
    notifier = Notifier() if watch else Notifier({})
    notifier.status("loading models")
    analyzer = await loop.run_in_executor(None, lambda: Analyzer.from_config(cfg, workers=cfg.daemon.workers))
    store = await loop.run_in_executor(None, Store.open, cfg.database_path)
    try:
        people = PeopleManager(store, cfg.clustering)
        service = Service(cfg, store, people, analyzer, folders=folders, notifier=notifier, progress=progress)
        code = await service.serve(watch=watch, paths=paths)
        # Off the loop, which must keep serving the jobs it waits for.
        await loop.run_in_executor(None, service.close)
        return code, service.summary, service._fatal
    finally:
        await loop.run_in_executor(None, store.close)
        notifier.close()


def run(cfg: Config, *, progress: ProgressLine | None = None) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; the process exit code. `progress`: the live line
    on a terminal."""
    memory.limit_arenas()  # before any pool thread or model session allocates (daemon/runtime/memory.py)
    lock = DaemonLock(cfg.database_path)
    lock.acquire()
    # `kill -USR1 <pid>` prints every thread's stack to stderr (the journal): how to report a stuck daemon.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Until the service installs its own handlers (after the models load), a stop request simply ends the
    # start-up: nothing has been written yet, so exiting 0 is the orderly stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_during_startup)
    try:
        code, _summary, fatal = asyncio.run(_open_and_serve(cfg, watch=True, paths=None, progress=progress))
    except _StartupStopped:
        log.info("daemon_stopped", during="startup")
        return 0
    finally:
        lock.release()
    if fatal is not None and cfg.log.file is not None:
        # The log file has the details; the service manager's journal and a person at a terminal need the line.
        print(f"pictod: {fatal}", file=sys.stderr)
    return code


class _StartupStopped(BaseException):
    """SIGTERM/SIGINT arrived while the models were loading."""


def _stop_during_startup(_signum: int, _frame: object) -> None:
    raise _StartupStopped


def scan(cfg: Config, paths: Sequence[Path] | None = None, *, progress: ProgressLine | None = None) -> ScanSummary:
    """Reconcile the watched folders (or `paths`: folders, or photos inside the watched folders) with the DB,
    process everything, recluster, return counts. A path that is missing, or a file outside the watched folders,
    is a UsageError (exit 2) before anything starts (issue 22: these exited 0 with the error only in the log)."""
    folders = scan_folders(cfg, paths) if paths else None
    memory.limit_arenas()  # before any pool thread or model session allocates (daemon/runtime/memory.py)
    lock = DaemonLock(cfg.database_path)
    lock.acquire()
    t0 = time.monotonic()
    try:
        _code, summary, fatal = asyncio.run(_open_and_serve(cfg, watch=False, paths=paths, progress=progress,
                                                            folders=folders))
    finally:
        lock.release()
    summary.seconds = round(time.monotonic() - t0, 2)
    if fatal is not None:
        raise fatal
    return summary
