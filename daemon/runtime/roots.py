"""The watched roots of a running daemon: the missing/unmounted-root guard (a root that vanishes, is renamed
away or unmounted is marked lost: nothing under it is removed, its watch stops, and it is polled until it is
back and reconciled), its monitor (device/inode of each root, since inotify may say nothing), and the
scheduling of reconciliation (start-up, a queue overflow's rescan, a root coming back, a folder moved in).

What a reconciliation finds (`daemon/runtime/reconcile.py`) goes into the service's queue as ordinary events.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from daemon.config import FolderConfig
from daemon.runtime import reconcile
from daemon.runtime.flow import CoalescingQueue, InPool
from daemon.runtime.notify import Notifier
from daemon.runtime.watch import PathFilter, PhotoEvent, Watcher
from daemon.store import metadata as meta_sql
from daemon.store import missing as missing_sql
from daemon.store.base import now as utc_now

if TYPE_CHECKING:
    from daemon.store import Store
log = structlog.get_logger()
T = TypeVar("T")

ROOT_POLL_SECONDS = 2.0  # how often a missing root is checked for its return
GONE_REASON = "missing or replaced (unmounted, renamed or deleted?)"


class Roots:
    """The configured roots, which of them are lost, and the reconciliations that bring the DB in line."""

    def __init__(self, folders: Sequence[FolderConfig], filt: PathFilter, store: Store, io_pool: Executor, *,
                 queue: CoalescingQueue[PhotoEvent], submit: Callable[[PhotoEvent], None], notifier: Notifier,
                 stopping: asyncio.Event, spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
                 on_plan: Callable[[reconcile.Plan], None], read_metadata: bool = True) -> None:
        self.folders = tuple(folders)
        self.read_metadata = read_metadata  # [metadata] read: changed sidecars are reconciled too
        self.filter = filt
        self.store = store
        self.io_pool = io_pool
        self.queue = queue
        self.submit = submit
        self.notifier = notifier
        self.stopping = stopping
        self.spawn = spawn
        self.on_plan = on_plan  # the service counts unchanged files and the photos to come (progress total)
        self.watcher: Watcher | None = None  # set by the service when it watches (not for a scan)
        self.lost: set[Path] = set()
        self.lost_since: dict[Path, str] = {}  # recorded for `status` (store/missing.py)
        # Issue 22: folders unreadable at the last walk (watched once readable), mount points below each root
        # (from /proc/self/mountinfo; remembered across restarts) and those of them that are away (unmounted:
        # nothing under them is removed; reconciled when they are back).
        self.unreadable: set[Path] = set()
        self.mounts: dict[Path, set[Path]] = {}
        self.away: set[Path] = set()
        self.waiting = 0  # events reconciliations found and have not queued yet (the queue is bounded)
        self._backlog_noted = -1
        self._ids: dict[Path, tuple[int, int]] = {}
        self._rescan_needed = False
        self._rescan_wakeup = asyncio.Event()
        self._awaited: dict[str, list[asyncio.Future[None]]] = {}  # upsert path -> deletions waiting for it
        self._io = InPool(io_pool)

    def all(self) -> list[Path]:
        """Every configured root, absolute."""
        return [Path(os.path.abspath(f.path)) for f in self.folders]

    def present_roots(self) -> list[Path]:
        """The roots not lost."""
        return [r for r in self.all() if r not in self.lost]

    def folder(self, root: Path) -> FolderConfig | None:
        """The config entry of a root."""
        for folder in self.folders:
            if Path(os.path.abspath(folder.path)) == root:
                return folder
        return None

    # ---------------------------------------------------------------- the guard

    def gone(self, root: Path, reason: str = GONE_REASON) -> None:
        """A watched root vanished or became unreadable: stop its watch, remove nothing, wait for it."""
        if root in self.lost or self.stopping.is_set():
            return
        self.lost.add(root)
        self.lost_since[root] = utc_now()
        self.spawn(self._io(self.record_lost))
        log.error("watched_root_missing", root=str(root), reason=reason,
                  action="nothing under it is removed; waiting for it to come back (remount or restore it)")
        self.notifier.status(f"waiting for missing folder {root}")
        self.spawn(self._wait_for_root(root))

    async def present(self, path: Path, *, is_dir: bool) -> bool:
        """Whether the root holding `path` is there, so a delete under it may be applied."""
        root = self.filter.root_of(path)
        if root is None or root in self.lost or any(path.is_relative_to(m) for m in self.away):
            return False
        below = [m for m in self.mounts.get(root, ()) if path.is_relative_to(m)]
        if below and not await self._io(lambda: all(os.path.ismount(m) for m in below)):
            return False  # a drive below the root just unmounted, before the monitor saw it
        known = self._ids.get(root)
        if not is_dir and known is not None:
            # One file: the root still being the directory the watch started on (one stat, no listing) is
            # enough; an unmounted or renamed root has another device/inode, or none.
            if await self._io(self._root_id, root) == known:
                return True
            self.gone(root)
            return False
        try:
            await self._io(reconcile.check_root, root)
        except reconcile.RootUnavailableError:
            if self.folder(root) is not None:
                self.gone(root)
            return False
        return True

    @staticmethod
    def _root_id(root: Path) -> tuple[int, int] | None:
        try:
            st = os.stat(root)
        except OSError:
            return None
        return (st.st_dev, st.st_ino)

    async def remember(self, root: Path) -> None:
        """Note a root's device/inode pair for the monitor."""
        ident = await self._io(self._root_id, root)
        if ident is not None:
            self._ids[root] = ident

    async def monitor(self) -> None:
        """Notice a root renamed away or unmounted under a live watch (inotify follows the old inode and may
        say nothing): its device/inode pair changes or it disappears."""
        while not self.stopping.is_set():
            await asyncio.sleep(ROOT_POLL_SECONDS)
            for root, known in list(self._ids.items()):
                if root in self.lost:
                    continue
                now = await self._io(self._root_id, root)
                if now != known:
                    self.gone(root)
            await self._check_mounts()
            await self._check_unreadable()

    def record_lost(self) -> None:
        """Record the missing roots and since when, for `status` (another process)."""
        self.store.write(lambda c: missing_sql.set_lost_roots(c, {str(r): t for r, t in self.lost_since.items()}))

    def note_backlog(self, count: int) -> None:
        """Record the backlog for `status` (a write only when it changed)."""
        if count != self._backlog_noted:
            self._backlog_noted = count
            self.store.write(lambda c: missing_sql.set_backlog(c, count))

    # ---------------------------------------------------------------- mounts below roots, unreadable folders

    def _load_mounts(self, root: Path) -> set[Path]:
        """The mount points below `root`: as remembered (also from the last run), merged with those now."""
        if root not in self.mounts:
            stored = self.store.read(missing_sql.known_mounts).get(str(root), [])
            self.mounts[root] = {Path(m) for m in stored}
        current = reconcile.mounts_below(root)
        known = set(self.mounts[root])
        for gone in sorted(known - current - self.away):
            if os.path.isdir(gone):  # the bare mount point: the drive is away
                self.away.add(gone)
                log.warning("mount_missing", root=str(root), path=str(gone),
                            action="nothing under it is removed; reconciled when it is mounted again")
            else:  # the folder itself is gone: no drive to wait for (its photos become missing)
                known.discard(gone)
        self.away -= current
        known |= current
        if known != self.mounts[root]:
            self.mounts[root] = known
            self._save_mounts()
        return current

    def _save_mounts(self) -> None:
        mounts = {str(r): sorted(str(m) for m in ms) for r, ms in self.mounts.items()}
        self.store.write(lambda c: missing_sql.set_mounts(c, mounts))

    async def _check_mounts(self) -> None:
        """A drive mounted or unmounted below a root while watched: its folder is reconciled once mounted
        (the watch restarted so it sees the mounted files); while unmounted nothing under it is removed."""
        for root in self.present_roots():
            if root not in self.mounts:
                continue
            before_away = set(self.away)
            before = set(self.mounts[root])
            current = await self._io(self._load_mounts, root)
            back = sorted((before_away - self.away) | (current - before))
            if back:
                await self._restart_watch(root)
            for folder in back:
                log.info("mount_back", root=str(root), path=str(folder))
                await self.reconcile_subfolder(folder)

    async def _check_unreadable(self) -> None:
        """A folder that could not be listed at the last walk is reconciled (and watched) once it can be."""
        for folder in sorted(self.unreadable):
            if not await self._io(self._listable, folder):
                continue
            self.unreadable.discard(folder)
            root = self.filter.root_of(folder)
            if root is None or root in self.lost:
                continue
            log.info("folder_readable", path=str(folder))
            await self._restart_watch(root)
            await self.reconcile_subfolder(folder)

    @staticmethod
    def _listable(folder: Path) -> bool:
        try:
            with os.scandir(folder) as it:
                next(it, None)
        except OSError:
            return not os.path.lexists(folder)  # gone altogether: nothing to wait for
        return True

    async def _restart_watch(self, root: Path) -> None:
        folder = self.folder(root)
        if self.watcher is not None and folder is not None:
            await self._io(self.watcher.start_folder, folder)

    async def _wait_for_root(self, root: Path) -> None:
        if self.watcher is not None:
            await self._io(self.watcher.stop_root, root)
        while not self.stopping.is_set():
            await asyncio.sleep(ROOT_POLL_SECONDS)
            if await self._io(self._root_ready, root):
                break
        else:
            return
        log.info("watched_root_back", root=str(root))
        self.lost.discard(root)
        self.lost_since.pop(root, None)
        await self._io(self.record_lost)
        folder = self.folder(root)
        if self.watcher is not None and folder is not None:
            await self._io(self.watcher.start_folder, folder)
            await self.remember(root)
        await self.reconcile_roots([root])

    def _root_ready(self, root: Path) -> bool:
        """Back and usable: listable, and not an empty mount point while the library knows photos there."""
        try:
            reconcile.check_root(root)
            with os.scandir(root) as it:
                empty = next(it, None) is None
        except (reconcile.RootUnavailableError, OSError):
            return False
        return not empty or not self.store.has_files(str(root))

    # ---------------------------------------------------------------- reconciliation

    async def reconcile_roots(self, roots: Sequence[Path]) -> None:
        """Queue every difference between disk and DB under `roots`. A file moved while we were away must be
        linked to its photo before its old path is removed (or its faces lose their people), and a moved file
        keeps its size: so a deletion waits only for the upserts of files of a deleted size (queued first);
        every other deletion is queued right after them, not after the whole queue drains."""
        plans: list[reconcile.Plan] = []
        for root in roots:
            if root in self.lost:
                continue
            folder = self.folder(root)
            recursive = folder.recursive if folder is not None else True
            try:
                plan = await self._io(self._plan_folder, root, recursive)
            except reconcile.RootUnavailableError as exc:
                if folder is not None and self.watcher is not None:
                    self.gone(root, exc.reason)
                else:
                    log.error("scan_path_unavailable", path=str(root), reason=exc.reason,
                              action="nothing under it was removed")
                continue
            self.unreadable |= set(plan.unreadable_paths)
            log.info("reconcile", root=str(root), new=plan.new, changed=plan.changed, resumed=plan.resumed,
                     unchanged=plan.unchanged, vanished=len(plan.deletes), unreadable_folders=plan.unreadable,
                     sidecars=plan.sidecars, **({"mounts_away": len(self.away)} if self.away else {}))
            self.on_plan(plan)
            plans.append(plan)
        size = {path: n for plan in plans for path, n in plan.sizes.items()}
        upserts = [e for plan in plans for e in plan.upserts]
        deletes = [e for plan in plans for e in plan.deletes]
        deleted_sizes = {size[e.path] for e in deletes}
        candidates = [e for e in upserts if size[e.path] in deleted_sizes]  # could be a deleted path moved
        candidate_sizes = {size[e.path] for e in candidates}
        held = [e for e in deletes if size[e.path] in candidate_sizes]
        awaited = [self._await_handled(e.path) for e in candidates]
        # Candidates, then the deletions no upsert can be the moved file of, then the other upserts.
        order = [*candidates, *(e for e in deletes if size[e.path] not in candidate_sizes),
                 *(e for e in upserts if size[e.path] not in deleted_sizes)]
        left = len(order) + len(held)
        self.waiting += left
        try:
            for event in order:
                if self.stopping.is_set():
                    return
                await self.queue.put(event)
                self.waiting, left = self.waiting - 1, left - 1
            if held:
                await asyncio.gather(*awaited)
                for event in held:
                    if self.stopping.is_set():
                        return
                    await self.queue.put(event)
                    self.waiting, left = self.waiting - 1, left - 1
        finally:
            self.waiting -= left

    def _await_handled(self, path: Path) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._awaited.setdefault(str(path), []).append(future)
        return future

    def handled(self, event: PhotoEvent) -> None:
        """Called by the worker for every event it finished: releases deletions waiting for that path."""
        for path in event.paths():
            for future in self._awaited.pop(path, ()):
                if not future.done():
                    future.set_result(None)

    async def reconcile_subfolder(self, folder: Path) -> None:
        """A folder appeared (moved in, created, or its delete turned out stale): queue what it holds."""
        root = self.filter.root_of(folder)
        if root is None or root in self.lost:
            return
        base = self.folder(root)
        try:
            plan = await self._io(self._plan_folder, folder, base.recursive if base is not None else True)
        except reconcile.RootUnavailableError:
            return  # the folder went again; its own delete event follows
        for upsert in plan.upserts:
            self.submit(upsert)
        for delete in plan.deletes:
            self.submit(delete)

    def _plan_folder(self, folder: Path, recursive: bool) -> reconcile.Plan:
        root = self.filter.root_of(folder)
        if root is not None and root not in self.lost:
            self._load_mounts(root)  # a drive below the root that is away (issue 22): nothing under it removed
        rows = list(self.store.iter_files(under=str(folder)))
        seen = self.store.read(meta_sql.sidecar_states) if self.read_metadata else None
        return reconcile.reconcile_folder(folder, self.filter, rows, recursive=recursive, sidecars_seen=seen,
                                          away=self.away)

    def request_rescan(self, dropped: Path) -> None:
        """The queue overflowed: events were dropped, so walk every root again once the burst drains."""
        if not self._rescan_needed:
            log.warning("queue_full", queue_size=self.queue.maxsize, dropped=str(dropped),
                        action="events dropped; a rescan will catch up")
        self._rescan_needed = True
        self._rescan_wakeup.set()

    async def rescan_loop(self) -> None:
        """Run the rescans asked for by `request_rescan`."""
        while not self.stopping.is_set():
            await self._rescan_wakeup.wait()
            self._rescan_wakeup.clear()
            # Let the burst drain below half before walking the disk, so the rescan's own events fit.
            while self.queue.qsize() > self.queue.maxsize // 2 and not self.stopping.is_set():
                await asyncio.sleep(0.2)
            if self.stopping.is_set():
                return
            self._rescan_needed = False
            log.info("rescan", reason="queue overflow")
            await self.reconcile_roots(self.all())
