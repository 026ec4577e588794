"""The asyncio orchestration of the running daemon: the single-daemon lock, the coalescing event queue, the
workers (settle -> hash -> reuse or analyse -> store -> people), the coalesced recluster, the start-up and
overflow reconciliation, the missing-root guard, the status line, systemd notification and signals.

The event loop never blocks: stat, hashing and every store call run in the I/O executor, decoding and
inference in the analysis executor (one thread per worker), reclustering in its own single thread.
Public API for the CLI: `run(cfg) -> int`, `scan(cfg, paths) -> ScanSummary`, `daemon_pid(cfg)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import faulthandler
import fcntl
import os
import signal
import stat as stat_mod
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from daemon import memory, reconcile
from daemon.config import Config, FolderConfig
from daemon.errors import AlreadyRunningError, PhotoError, PictodError, StoreError
from daemon.hashing import FileChangedError, FileDigest, file_digest
from daemon.imaging import header_pixels
from daemon.sdnotify import Notifier
from daemon.watch import PathFilter, PhotoEvent, Watcher

if TYPE_CHECKING:
    from daemon.analysis import Analyzer
    from daemon.people import PeopleManager
    from daemon.store import AddResult, RemoveResult, Store

log = structlog.get_logger()
T = TypeVar("T")

ROOT_POLL_SECONDS = 2.0  # how often a missing root is checked for its return
SETTLE_LIMIT_SECONDS = 600.0  # a file still changing after this is read anyway: nothing waits forever
HASH_ATTEMPTS = 4  # a file that keeps changing while it is hashed is handed back to the queue after this
DELETE_GRACE_SECONDS = 1.0  # deletes wait this long (or settle_seconds) before they are queued


# --------------------------------------------------------------------------------------------- lock


def lock_path(db: Path) -> Path:
    """The lock file beside the database."""
    return db.with_name(db.name + ".lock")


class DaemonLock:
    """fcntl.flock on `<db>.lock`: one daemon (or scan) per database; released by the kernel if we die."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the owner's pid."""
        try:
            _private_dirs(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror} "
                             "(is the database folder writable?)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                pid = _read_pid(self.path)
                raise AlreadyRunningError(
                    f"another pictod daemon (pid {pid if pid is not None else '?'}) owns {self.db}") from None
            raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            os.close(fd)
            hint = "free some space" if exc.errno == errno.ENOSPC else "is the database folder writable?"
            raise StoreError(f"cannot write the lock file {self.path}: {exc.strerror} ({hint})") from None
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content is only a hint)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _private_dirs(folder: Path) -> None:
    """mkdir -p where every folder created is 0700 (Path.mkdir(parents=True) gives the parents 0777 & ~umask)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def daemon_pid(cfg: Config) -> int | None:
    """The pid of the daemon (or scan) holding the database's lock, or None when nobody holds it."""
    path = lock_path(cfg.database_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        pid = _read_pid(path)
        return pid if pid is not None else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------------- queue


class CoalescingQueue:
    """A bounded FIFO of PhotoEvents keyed by path: a repeated event for a queued path replaces it in place.

    `put_nowait` (the watcher's) refuses when full and the caller schedules a rescan; `put` (the
    reconciler's) waits for room, so reconciliation itself never drops anything.
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._items: OrderedDict[str, PhotoEvent] = OrderedDict()
        self._seq = 0
        self._nonempty = asyncio.Event()
        self._room = asyncio.Event()
        self._unfinished = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def qsize(self) -> int:
        """Events waiting."""
        return len(self._items)

    @property
    def unfinished(self) -> int:
        """Events queued or being handled."""
        return self._unfinished

    @staticmethod
    def _key(event: PhotoEvent) -> str | None:
        if event.kind == "move":
            return None  # moves keep their order and are never merged
        return ("d:" if event.is_dir else "f:") + str(event.path)

    def _merge(self, key: str | None, event: PhotoEvent) -> bool:
        if key is None or key not in self._items:
            return False
        old = self._items[key]
        if event.kind == "upsert" and old.kind == "upsert":
            event = PhotoEvent("upsert", event.path, is_dir=event.is_dir, closed=old.closed or event.closed,
                               source=old.source)
        self._items[key] = event  # delete after upsert wins, upsert after delete wins; position kept
        return True

    def _add(self, event: PhotoEvent) -> None:
        key = self._key(event)
        if self._merge(key, event):
            return
        if key is None:
            self._seq += 1
            key = f"m:{self._seq}"
        self._items[key] = event
        self._unfinished += 1
        self._idle.clear()
        self._nonempty.set()

    def put_nowait(self, event: PhotoEvent) -> bool:
        """Queue or coalesce; False (nothing queued) when full."""
        key = self._key(event)
        if len(self._items) >= self.maxsize and (key is None or key not in self._items):
            return False
        self._add(event)
        return True

    async def put(self, event: PhotoEvent) -> None:
        """Queue or coalesce, waiting for room."""
        while not self.put_nowait(event):
            self._room.clear()
            await self._room.wait()

    async def get(self) -> PhotoEvent:
        """The oldest event."""
        while not self._items:
            self._nonempty.clear()
            await self._nonempty.wait()
        _key, event = self._items.popitem(last=False)
        self._room.set()
        return event

    def task_done(self) -> None:
        """One event from `get` has been handled."""
        self._unfinished = max(0, self._unfinished - 1)
        if self._unfinished == 0:
            self._idle.set()

    async def join(self) -> None:
        """Wait until every queued event has been handled."""
        await self._idle.wait()




class PathOrder:
    """Per-path ordering of handlers: an event waits for earlier events on the same path, on a folder holding
    it, or (for a folder event) on anything below it. Claims are taken in queue order, without awaiting."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def claim(self, event: PhotoEvent) -> tuple[list[asyncio.Future[None]], list[tuple[str, asyncio.Future[None]]]]:
        """Register the event's paths; return (futures to wait for, own claims to release)."""
        loop = asyncio.get_running_loop()
        paths = [str(event.path)] + ([str(event.dest_path)] if event.dest_path is not None else [])
        waits: list[asyncio.Future[None]] = []
        for held, fut in self._tails.items():
            if any(_related(held, p) for p in paths):
                waits.append(fut)
        own: list[tuple[str, asyncio.Future[None]]] = []
        for p in paths:
            fut = loop.create_future()
            self._tails[p] = fut
            own.append((p, fut))
        return waits, own

    def release(self, own: list[tuple[str, asyncio.Future[None]]]) -> None:
        """Let the next handler of these paths go."""
        for p, fut in own:
            if not fut.done():
                fut.set_result(None)
            if self._tails.get(p) is fut:
                del self._tails[p]

    def busy(self) -> int:
        """Paths being handled or waited for."""
        return len(self._tails)


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + os.sep) or b.startswith(a + os.sep)


class PixelBudget:
    """Bounds the pixels being decoded and analysed at once, so N workers on N huge (but legal) photos do not
    need N times the memory: photos of ordinary size run side by side, a giant one waits its turn alone.
    Served in arrival order (tickets), so a stream of small photos cannot starve a big one."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self.used = 0
        self._cond = asyncio.Condition()
        self._next = 0  # next ticket to hand out
        self._serving = 0  # ticket whose turn it is
        self._abandoned: set[int] = set()  # tickets cancelled while waiting

    def _my_turn(self, ticket: int, weight: int) -> bool:
        while self._serving in self._abandoned:
            self._abandoned.discard(self._serving)
            self._serving += 1
        return self._serving == ticket and self.used + weight <= self.capacity

    @contextlib.asynccontextmanager
    async def hold(self, pixels: int) -> AsyncIterator[None]:
        """Reserve `pixels` (capped at the capacity) for the duration of the block."""
        weight = min(max(0, pixels), self.capacity)
        async with self._cond:
            ticket = self._next
            self._next += 1
            try:
                await self._cond.wait_for(lambda: self._my_turn(ticket, weight))
            except BaseException:
                self._abandoned.add(ticket)
                self._cond.notify_all()
                raise
            self._serving += 1
            self.used += weight
            self._cond.notify_all()  # the next in line may fit beside this one
        try:
            yield
        finally:
            async with self._cond:
                self.used -= weight
                self._cond.notify_all()


# --------------------------------------------------------------------------------------------- results


@dataclass
class ScanSummary:
    """What a `pictod scan` (or a daemon run) did."""

    seen: int = 0
    analysed: int = 0
    linked: int = 0
    unchanged: int = 0
    failed: int = 0
    vanished: int = 0
    moved: int = 0
    removed: int = 0
    reclusters: int = 0
    seconds: float = 0.0
    interrupted: bool = False  # stopped by SIGTERM/SIGINT before everything was processed


class _FatalError(Exception):
    def __init__(self, error: PictodError) -> None:
        super().__init__(str(error))
        self.error = error


# --------------------------------------------------------------------------------------------- service


class Service:
    """The daemon: owns the executors, the queue, the workers and the watcher for one library."""

    def __init__(self, cfg: Config, store: Store, people: PeopleManager, analyzer: Analyzer, *,
                 folders: Sequence[FolderConfig] | None = None, notifier: Notifier | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.people = people
        self.analyzer = analyzer
        self.folders = tuple(folders if folders is not None else cfg.library.folders)
        self.filter = PathFilter([f.path for f in self.folders], cfg.library.extensions,
                                 follow_symlinks=cfg.library.follow_symlinks)
        self.notifier = notifier or Notifier({})
        workers = cfg.daemon.workers
        self.io_pool = ThreadPoolExecutor(max_workers=workers * 2 + 2, thread_name_prefix="pictod-io")
        self.cpu_pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pictod-analysis")
        self.cluster_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pictod-recluster")
        self.queue = CoalescingQueue(cfg.daemon.queue_size)
        self.pixels = PixelBudget(cfg.analysis.max_pixels)
        # Freed heap goes back to the OS every memory.TRIM_INTERVAL_SECONDS while busy, after a giant photo,
        # and when the queue drains (daemon/memory.py has the measurements).
        self.heap = memory.HeapTrimmer()
        self.order = PathOrder()
        self.summary = ScanSummary()
        self.watcher: Watcher | None = None
        self._people_lock = threading.Lock()  # adds and removals touch the manager's means one at a time
        self._hash_busy: dict[str, asyncio.Event] = {}
        self._lost_roots: set[Path] = set()
        self._root_ids: dict[Path, tuple[int, int]] = {}
        self._rescan_needed = False
        self._rescan_wakeup = asyncio.Event()
        self._recluster_task: asyncio.Task[None] | None = None
        self._watchdog_task: asyncio.Task[None] | None = None
        self._recluster_again = False
        self._added_since_recluster = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._workers: list[asyncio.Task[None]] = []
        self._busy_workers = 0
        self._stop = asyncio.Event()
        self._fatal: PictodError | None = None
        self._exit_code = 0
        self._started = time.monotonic()
        self._busy_since: float | None = None
        self._done_at_busy = 0

    # ---------------------------------------------------------------- executors

    async def _io(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.io_pool, fn, *args)

    async def _cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)

    # ---------------------------------------------------------------- events in

    def submit(self, event: PhotoEvent) -> None:
        """Called on the loop by the watcher: queue, or on overflow drop it and schedule a rescan."""
        if self._stop.is_set():
            return
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
            if not self._rescan_needed:
                log.warning("queue_full", queue_size=self.queue.maxsize, dropped=str(event.path),
                            action="events dropped; a rescan will catch up")
            self._rescan_needed = True
            self._rescan_wakeup.set()

    def root_gone(self, root: Path, reason: str = "missing or replaced (unmounted, renamed or deleted?)") -> None:
        """A watched root vanished or became unreadable: stop its watch, remove nothing, wait for it."""
        if root in self._lost_roots or self._stop.is_set():
            return
        self._lost_roots.add(root)
        log.error("watched_root_missing", root=str(root), reason=reason,
                  action="nothing under it is removed; waiting for it to come back (remount or restore it)")
        self.notifier.status(f"waiting for missing folder {root}")
        self._spawn(self._wait_for_root(root))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
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
        if self._fatal is None:
            err = exc.error if isinstance(exc, _FatalError) else exc
            if not isinstance(err, PictodError):
                log.error("fatal_error", error=repr(err), exc_info=err)
                err = PictodError(f"internal error: {err!r}")
            else:
                log.error("fatal_error", error=str(err))
            self._fatal = err
        self._stop.set()

    def _root_id(self, root: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(root)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    async def _root_monitor(self) -> None:
        """Notice a root renamed away or unmounted under a live watch (inotify follows the old inode and may
        say nothing): its device/inode pair changes or it disappears."""
        while not self._stop.is_set():
            await asyncio.sleep(ROOT_POLL_SECONDS)
            for root, known in list(self._root_ids.items()):
                if root in self._lost_roots:
                    continue
                now = await self._io(self._root_id, root)
                if now != known:
                    self.root_gone(root)

    async def _remember_root(self, root: Path) -> None:
        ident = await self._io(self._root_id, root)
        if ident is not None:
            self._root_ids[root] = ident

    async def _wait_for_root(self, root: Path) -> None:
        if self.watcher is not None:
            await self._io(self.watcher.stop_root, root)
        while not self._stop.is_set():
            await asyncio.sleep(ROOT_POLL_SECONDS)
            if await self._io(self._root_ready, root):
                break
        else:
            return
        log.info("watched_root_back", root=str(root))
        self._lost_roots.discard(root)
        folder = self._folder(root)
        if self.watcher is not None and folder is not None:
            await self._io(self.watcher.start_folder, folder)
            await self._remember_root(root)
        await self._reconcile_roots([root])

    def _root_ready(self, root: Path) -> bool:
        """Back and usable: listable, and not an empty mount point while the library knows photos there."""
        try:
            reconcile.check_root(root)
            with os.scandir(root) as it:
                empty = next(it, None) is None
        except (reconcile.RootUnavailableError, OSError):
            return False
        return not empty or not self.store.has_files(str(root))

    def _folder(self, root: Path) -> FolderConfig | None:
        for folder in self.folders:
            if Path(os.path.abspath(folder.path)) == root:
                return folder
        return None

    # ---------------------------------------------------------------- reconciliation

    async def _reconcile_roots(self, roots: Sequence[Path]) -> None:
        """Queue every difference between disk and DB under `roots`: upserts first, deletions after they are
        handled (so a file moved while we were away is linked to its photo before the old path is removed)."""
        deletes: list[PhotoEvent] = []
        for root in roots:
            if root in self._lost_roots:
                continue
            folder = self._folder(root)
            recursive = folder.recursive if folder is not None else True
            try:
                plan = await self._io(self._plan_folder, root, recursive)
            except reconcile.RootUnavailableError as exc:
                if folder is not None and self.watcher is not None:
                    self.root_gone(root, exc.reason)
                else:
                    log.error("scan_path_unavailable", path=str(root), reason=exc.reason,
                              action="nothing under it was removed")
                continue
            log.info("reconcile", root=str(root), new=plan.new, changed=plan.changed, resumed=plan.resumed,
                     unchanged=plan.unchanged, vanished=len(plan.deletes), unreadable_folders=plan.unreadable)
            self.summary.unchanged += plan.unchanged
            for event in plan.upserts:
                if self._stop.is_set():
                    return
                await self.queue.put(event)
            deletes.extend(plan.deletes)
        if deletes:
            await self.queue.join()
            for event in deletes:
                if self._stop.is_set():
                    return
                await self.queue.put(event)

    def _plan_folder(self, folder: Path, recursive: bool) -> reconcile.Plan:
        rows = list(self.store.iter_files(under=str(folder)))
        return reconcile.reconcile_folder(folder, self.filter, rows, recursive=recursive)

    async def _rescan_loop(self) -> None:
        while not self._stop.is_set():
            await self._rescan_wakeup.wait()
            self._rescan_wakeup.clear()
            # Let the burst drain below half before walking the disk, so the rescan's own events fit.
            while self.queue.qsize() > self.queue.maxsize // 2 and not self._stop.is_set():
                await asyncio.sleep(0.2)
            if self._stop.is_set():
                return
            self._rescan_needed = False
            log.info("rescan", reason="queue overflow")
            await self._reconcile_roots(self._roots())

    def _roots(self) -> list[Path]:
        return [Path(os.path.abspath(f.path)) for f in self.folders]

    # ---------------------------------------------------------------- workers

    async def _worker(self) -> None:
        while not self._stop.is_set():
            event = await self.queue.get()
            self._busy_workers += 1
            waits, own = self.order.claim(event)
            try:
                if waits:
                    await asyncio.gather(*waits)
                await self._handle(event)
            except PictodError as exc:
                if isinstance(exc, PhotoError):
                    raise
                raise _FatalError(exc) from exc
            finally:
                self.order.release(own)
                self.queue.task_done()
                self._busy_workers -= 1

    async def _handle(self, event: PhotoEvent) -> None:
        if self._busy_since is None:
            self._busy_since = time.monotonic()
            self._done_at_busy = self._done()
        if event.kind == "move":
            await self._handle_move(event)
        elif event.kind == "delete":
            await self._handle_delete(event)
        elif event.is_dir:
            await self._reconcile_subfolder(event.path)
        else:
            await self._handle_file(event)

    async def _stat(self, path: Path) -> os.stat_result | None:
        try:
            st = await self._io(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            log.warning("stat_failed", path=str(path), error=exc.strerror)
            return None
        return st if stat_mod.S_ISREG(st.st_mode) else None

    async def _settle(self, path: Path, st: os.stat_result) -> os.stat_result | None:
        """Wait until size and mtime stay unchanged for settle_seconds (a file older than that already has)."""
        settle = self.cfg.daemon.settle_seconds
        deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
        while time.time_ns() - st.st_mtime_ns < settle * 1e9 and time.monotonic() < deadline:
            await asyncio.sleep(settle)
            again = await self._stat(path)
            if again is None:
                return None
            if (again.st_size, again.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                return again
            st = again
        return st

    async def _handle_file(self, event: PhotoEvent) -> None:
        path = event.path
        t0 = time.monotonic()
        self.summary.seen += 1
        st = await self._stat(path)
        if st is not None and not event.closed:
            st = await self._settle(path, st)
        if st is None:
            self.summary.vanished += 1
            log.debug("photo_vanished", path=str(path))
            return
        row = await self._io(self.store.get_file, str(path))
        if (row is not None and row.status in ("done", "failed")
                and (row.size, row.mtime_ns) == (st.st_size, st.st_mtime_ns)):
            self.summary.unchanged += 1
            return
        if st.st_size > self.cfg.analysis.max_file_bytes:
            # Refused from its size alone: hashing a 1 GB file (or a sparse one) would read all of it for nothing.
            await self._io(self.store.record_failure, str(path), st.st_size, st.st_mtime_ns, "file_too_large")
            self.summary.failed += 1
            log.info("photo", path=str(path), status="failed", reason="file_too_large", bytes=st.st_size,
                     limit=self.cfg.analysis.max_file_bytes, ms=_ms(t0))
            return
        try:
            digest = await self._hash_settled(path)
        except FileChangedError:
            # Still being written after several settles: hand it back (never wait for queue room while
            # holding a worker: a full queue would wait on itself); a rescan catches it if the queue is full.
            self._submit_now(PhotoEvent("upsert", path, source=event.source))
            return
        except FileNotFoundError:
            self.summary.vanished += 1
            return
        except OSError as exc:
            await self._io(self.store.record_failure, str(path), st.st_size, st.st_mtime_ns, "unreadable")
            self.summary.failed += 1
            log.info("photo", path=str(path), status="failed", reason="unreadable", error=exc.strerror,
                     ms=_ms(t0))
            return
        # Two paths with the same bytes arriving together are analysed once: the second waits, then links.
        while (busy := self._hash_busy.get(digest.sha256)) is not None:
            await busy.wait()
        done = asyncio.Event()
        self._hash_busy[digest.sha256] = done
        try:
            await self._store_photo(path, digest, t0)
        finally:
            del self._hash_busy[digest.sha256]
            done.set()

    async def _hash_settled(self, path: Path) -> FileDigest:
        """Hash the file; if it changed while being read, settle again and retry a few times."""
        for _attempt in range(HASH_ATTEMPTS - 1):
            try:
                return await self._io(file_digest, path)
            except FileChangedError:
                again = await self._stat(path)
                if again is None:
                    raise FileNotFoundError(str(path)) from None
                await self._settle(path, again)
        return await self._io(file_digest, path)

    async def _store_photo(self, path: Path, digest: FileDigest, t0: float) -> None:
        p, sha, size, mtime_ns = str(path), digest.sha256, digest.size, digest.mtime_ns
        if await self._io(self.store.photo_id_for_hash, sha) is not None:
            linked = await self._io(self.store.link_existing, p, size, mtime_ns, sha)
            if linked is not None:
                # Same bytes already analysed (a copy, or a move we saw as delete + create): no inference.
                await self._io(self._people_add, linked)
                self.summary.linked += 1
                log.info("photo", path=p, status="linked", photo_id=linked.photo_id, objects=linked.objects,
                         faces=len(linked.face_ids), people=0, ms=_ms(t0))
                return
        await self._io(self.store.mark_pending, p, size, mtime_ns)
        try:
            pixels = await self._io(header_pixels, digest.data)
            async with self.pixels.hold(pixels):
                try:
                    analysis = await self._cpu(self.analyzer.analyze_bytes, digest.data, path.name)
                finally:
                    # Rate-limited (every few seconds at most): a trim per photo costs ~25% more CPU.
                    if self.heap.due():
                        await self._io(self.heap.maybe_trim)
        except PhotoError as exc:
            if not await self._io(os.path.exists, path):
                await self._drop_vanished(path)
                return
            await self._io(self.store.record_failure, p, size, mtime_ns, exc.reason)
            self.summary.failed += 1
            log.info("photo", path=p, status="failed", reason=exc.reason, error=exc.message, ms=_ms(t0))
            return
        except FileNotFoundError:
            await self._drop_vanished(path)
            return
        except Exception as exc:
            # A decoder or model bug on one photo must not crash-loop the service on that photo: record it
            # as failed (not retried until the file changes) and log the traceback for a bug report.
            await self._io(self.store.record_failure, p, size, mtime_ns, "internal_error")
            self.summary.failed += 1
            log.error("photo", path=p, status="failed", reason="internal_error", error=repr(exc),
                      ms=_ms(t0), exc_info=exc)
            return
        result = await self._io(self.store.record_analysis, p, size, mtime_ns, sha, analysis)
        assigned, due = await self._io(self._people_add, result)
        self.summary.analysed += 1
        self._added_since_recluster += 1
        log.info("photo", path=p, status="analysed" if result.created else "linked", photo_id=result.photo_id,
                 objects=len(analysis.objects), faces=len(analysis.faces),
                 people=sum(1 for _face, person in assigned if person is not None), ms=_ms(t0))
        if due:
            self._request_recluster()

    async def _drop_vanished(self, path: Path) -> None:
        # Gone between stat and decode: forget the pending marker, say nothing above debug.
        self.summary.vanished += 1
        log.debug("photo_vanished", path=str(path))
        result = await self._io(self.store.remove, str(path))
        if result.files_removed:
            await self._io(self._people_removed, result)

    def _people_add(self, result: AddResult) -> tuple[list[tuple[int, int | None]], bool]:
        with self._people_lock:
            assigned = self.people.on_photo_added(result)
            return assigned, bool(self.people.recluster_due())

    def _people_removed(self, result: RemoveResult) -> None:
        with self._people_lock:
            self.people.on_removed(result)

    async def _root_present(self, path: Path) -> bool:
        root = self.filter.root_of(path)
        if root is None:
            return False
        if root in self._lost_roots:
            return False
        try:
            await self._io(reconcile.check_root, root)
        except reconcile.RootUnavailableError:
            if self._folder(root) is not None:
                self.root_gone(root)
            return False
        return True

    async def _handle_delete(self, event: PhotoEvent) -> None:
        path = event.path
        if await self._io(os.path.lexists, path):
            # Deleted and recreated before we got here: the path's current content is the truth.
            if event.is_dir:
                await self._reconcile_subfolder(path)
            else:
                await self._handle_file(PhotoEvent("upsert", path, source=event.source))
            return
        if not await self._root_present(path):
            return
        result = await self._io(self.store.remove, str(path))
        if not result.files_removed:
            return
        await self._io(self._people_removed, result)
        self.summary.removed += result.files_removed
        log.info("photo_removed", path=str(path), files=result.files_removed, photos=len(result.photo_ids),
                 faces=result.faces_removed, people_pruned=len(result.people_pruned))

    async def _handle_move(self, event: PhotoEvent) -> None:
        assert event.dest_path is not None
        src, dest = event.path, event.dest_path
        moved = await self._io(self.store.move, str(src), str(dest))
        if moved:
            self.summary.moved += int(moved)
            log.info("photo_moved", path=str(src), dest=str(dest), files=moved)
        # Whatever the DB had, the destination's current content is checked: a file moved before it was
        # processed is picked up here, and a moved row whose size and mtime match is left alone.
        if event.is_dir:
            await self._reconcile_subfolder(dest)
        else:
            await self._handle_file(PhotoEvent("upsert", dest, closed=True, source=event.source))

    async def _reconcile_subfolder(self, folder: Path) -> None:
        root = self.filter.root_of(folder)
        if root is None or root in self._lost_roots:
            return
        base = self._folder(root)
        try:
            plan = await self._io(self._plan_folder, folder, base.recursive if base is not None else True)
        except reconcile.RootUnavailableError:
            return  # the folder went again; its own delete event follows
        for upsert in plan.upserts:
            self.submit(upsert)
        for delete in plan.deletes:
            self.submit(delete)

    # ---------------------------------------------------------------- people

    def _request_recluster(self) -> None:
        if self._recluster_task is not None and not self._recluster_task.done():
            self._recluster_again = True  # due while one runs: run once more after it, never two at once
            return
        self._recluster_task = self._spawn(self._recluster_loop())

    async def _recluster_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._recluster_again = False
            self._added_since_recluster = 0
            t0 = time.monotonic()
            try:
                result = await loop.run_in_executor(self.cluster_pool, self.people.recluster)
            except PictodError as exc:
                log.error("recluster_failed", error=str(exc))
                return
            self.summary.reclusters += 1
            log.debug("recluster_done", wall_ms=_ms(t0), **_public(result))
            if not self._recluster_again:
                return

    # ---------------------------------------------------------------- status

    def _done(self) -> int:
        s = self.summary
        return s.analysed + s.linked + s.failed

    async def _status_loop(self) -> None:
        interval = max(0.2, self.cfg.daemon.status_interval)
        while True:
            await asyncio.sleep(interval)
            busy = self.queue.unfinished > 0
            if self._busy_since is None:
                continue
            counts = await self._io(self.store.status_counts)
            queued = self.queue.unfinished
            done = self._done() - self._done_at_busy
            elapsed = max(time.monotonic() - self._busy_since, 1e-6)
            rate = done / elapsed
            line = {
                "queued": queued, "done": self._done(), "failed": self.summary.failed,
                "photos_per_s": round(rate, 2), "eta_s": round(queued / rate, 1) if rate > 0 else None,
                "people": counts.people, "last_recluster": counts.last_recluster,
            }
            log.info("status", **line)
            self.notifier.status(f"{queued} queued, {self._done()} done, {self.summary.failed} failed, "
                                 f"{rate:.1f} photos/s, {line['people']} people")
            if not busy:
                self._busy_since = None
                await self._io(self.heap.trim_now)  # idle: what the burst freed goes back to the OS
                self.notifier.status(f"idle; watching {len(self.folders)} folder(s)")

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
        try:
            if watch:
                self.watcher = Watcher(self.cfg.library, loop, self.submit, on_root_gone=self.root_gone)
                missing = await self._io(self.watcher.start)
                for root in missing:
                    self.root_gone(root)
                for root in self._roots():
                    if root not in self._lost_roots:
                        await self._remember_root(root)
                self._spawn(self._root_monitor())
                self._spawn(self._rescan_loop())
                roots = [r for r in self._roots() if r not in self._lost_roots]
                self.notifier.ready(f"watching {len(roots)} folder(s)")
                log.info("daemon_ready", folders=[str(r) for r in roots], workers=n, pid=os.getpid())
                interval = self.notifier.watchdog_interval
                if interval is not None:
                    self._watchdog_task = self._spawn(self._watchdog_loop(interval))
                self._spawn(self._reconcile_roots(roots))
                await self._stop.wait()
            else:
                await self._scan_once(paths)
        finally:
            await self._shutdown()
        if self._fatal is not None:
            return self._fatal.exit_code
        return self._exit_code

    async def _scan_once(self, paths: Sequence[Path] | None) -> None:
        roots = [Path(os.path.abspath(p)) for p in paths] if paths else self._roots()
        reconciling = self._spawn(self._reconcile_roots(roots))
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([reconciling, stop], return_when=asyncio.FIRST_COMPLETED)
        while not self._stop.is_set():
            join = asyncio.create_task(self.queue.join())
            await asyncio.wait([join, stop], return_when=asyncio.FIRST_COMPLETED)
            join.cancel()
            # A directory event handled late may queue more; done when the queue stays empty.
            if self.queue.unfinished == 0:
                break
        if not self._stop.is_set() and self._added_since_recluster:
            self._request_recluster()
        if self._recluster_task is not None and not self._recluster_task.done():
            # A scan ends with its people settled: wait for the recluster however long it takes (or a signal).
            await asyncio.wait([self._recluster_task, stop], return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()

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
            if task is not self._recluster_task:  # a recluster in flight commits or times out below
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
        if self._recluster_task is not None and not self._recluster_task.done():
            await asyncio.wait([self._recluster_task], timeout=max(0.0, deadline - time.monotonic()))
        self.cpu_pool.shutdown(wait=False, cancel_futures=True)
        self.cluster_pool.shutdown(wait=False, cancel_futures=True)
        s = self.summary
        log.info("daemon_stopped", analysed=s.analysed, linked=s.linked, failed=s.failed, removed=s.removed,
                 moved=s.moved, queued_left=self.queue.qsize(), seconds=round(time.monotonic() - self._started, 1))

    async def _all_idle(self) -> None:
        while self._busy_workers:
            await asyncio.sleep(0.05)


def _exit_now(signum: int, _frame: object) -> None:
    os._exit(128 + signum)


def _ms(t0: float) -> int:
    return round((time.monotonic() - t0) * 1000)


def _public(result: Any) -> dict[str, Any]:
    try:
        data = asdict(result)
    except TypeError:
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int | float | str | bool) or v is None}


# --------------------------------------------------------------------------------------------- entry points


async def _open_and_serve(cfg: Config, *, watch: bool,
                          paths: Sequence[Path] | None) -> tuple[int, ScanSummary, PictodError | None]:
    from daemon.analysis import Analyzer
    from daemon.people import PeopleManager
    from daemon.store import Store

    loop = asyncio.get_running_loop()
    notifier = Notifier() if watch else Notifier({})
    notifier.status("loading models")
    analyzer = await loop.run_in_executor(None, lambda: Analyzer.from_config(cfg, workers=cfg.daemon.workers))
    store = await loop.run_in_executor(None, Store.open, cfg.database_path)
    try:
        people = PeopleManager(store, cfg.clustering)
        folders = None
        if paths:
            folders = [FolderConfig(path=Path(os.path.abspath(p))) for p in paths]
        service = Service(cfg, store, people, analyzer, folders=folders, notifier=notifier)
        code = await service.serve(watch=watch, paths=paths)
        # Waits for file jobs still running (a hash, a folder walk): off the loop, which must keep serving.
        await loop.run_in_executor(None, service.io_pool.shutdown)
        return code, service.summary, service._fatal
    finally:
        await loop.run_in_executor(None, store.close)
        notifier.close()


def run(cfg: Config) -> int:
    """Run the daemon in the foreground until SIGTERM/SIGINT; the process exit code."""
    memory.limit_arenas()  # before any pool thread or model session allocates (daemon/memory.py)
    lock = DaemonLock(cfg.database_path)
    lock.acquire()
    # `kill -USR1 <pid>` prints every thread's stack to stderr (the journal): how to report a stuck daemon.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    # Until the service installs its own handlers (after the models load), a stop request simply ends the
    # start-up: nothing has been written yet, so exiting 0 is the orderly stop.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _stop_during_startup)
    try:
        code, _summary, fatal = asyncio.run(_open_and_serve(cfg, watch=True, paths=None))
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


def scan(cfg: Config, paths: Sequence[Path] | None = None) -> ScanSummary:
    """Reconcile the watched folders (or `paths`) with the DB, process everything, recluster, return counts."""
    memory.limit_arenas()  # before any pool thread or model session allocates (daemon/memory.py)
    lock = DaemonLock(cfg.database_path)
    lock.acquire()
    t0 = time.monotonic()
    try:
        _code, summary, fatal = asyncio.run(_open_and_serve(cfg, watch=False, paths=paths))
    finally:
        lock.release()
    summary.seconds = round(time.monotonic() - t0, 2)
    if fatal is not None:
        raise fatal
    return summary
