"""The per-photo stages of the running daemon, each a method of one context object (`Intake`: store,
analyzer, people manager, executors, counters), and the handling of the other events (delete, move, folder).

One photo, top to bottom (`Intake.photo`): settle (size and mtime stop changing) -> unchanged since it was
stored? -> hash (the bytes read once, within the size limit, and kept) -> the same bytes already analysed
(the one hash lookup)? link the path to that photo : analyse (one header read, then decode + models under
the pixel budget) -> record (one transaction) -> place its faces on people. A stage that cannot go on
raises an `_Outcome` (vanished, still changing, failed); `photo` maps it to what is stored, counted and
logged, so error handling stays out of the stage order.
One delete (`Intake.delete`): still there after all? treat it as an upsert : root present? ->
`store.remove` (photos left without a file go, with their faces; people updated and pruned in the same
transaction) -> `people.on_removed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import stat as stat_mod
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from daemon.analysis.hashing import FileChangedError, FileDigest, file_digest, stream_digest
from daemon.analysis.imaging import Header
from daemon.config import Config
from daemon.errors import FileTooLargeError, PhotoError
from daemon.library import places
from daemon.logs import ms_since
from daemon.metadata import FaceRegion, PhotoMetadata, is_sidecar_name, read_metadata
from daemon.people import xmp_import
from daemon.runtime import memory
from daemon.runtime.flow import InPool, PixelBudget
from daemon.runtime.lock import LibraryFile
from daemon.runtime.roots import Roots
from daemon.runtime.watch import PhotoEvent
from daemon.store import identity
from daemon.store.base import clamp_ns
from daemon.store.live import LiveRule
from daemon.store.rows import ImportPlan, ImportResult
from daemon.types import Box, DetectedFace

if TYPE_CHECKING:
    from daemon.analysis.analyzer import Analyzer
    from daemon.people.manager import PeopleManager
    from daemon.store import AddResult, Store
    from daemon.types import PhotoAnalysis

log = structlog.get_logger()
T = TypeVar("T")

SETTLE_LIMIT_SECONDS = 600.0  # a file still changing after this is read anyway: nothing waits forever
HASH_ATTEMPTS = 4  # a file that keeps changing while it is hashed is handed back to the queue after this


def read_metadata_logged(path: Path, *, video: bool = False) -> PhotoMetadata:
    """`read_metadata`, each thing it ignored logged on one line (never fatal). A video's: its sidecars only (no
    image header to read), and the names of any regions taken as names (a video's faces have no region)."""
    meta = read_metadata(path, embedded=not video)
    if video and meta.regions:
        meta = replace(meta, regions=(), names=tuple(dict.fromkeys((*meta.names, *(r.name for r in meta.regions)))))
    for item in meta.ignored:
        log.info("metadata_ignored", path=str(path), source=item.source, reason=item.reason)
    return meta


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

    def done(self) -> int:
        """Photos finished one way or another."""
        return self.analysed + self.linked + self.failed


# ------------------------------------------------------------------------------------------ stage outcomes


class _Outcome(Exception):
    """A stage stopped this photo; `Intake.photo` turns it into counters, rows and a log line."""


class _Vanished(_Outcome):
    """The file went away; `forget` drops the row a stage already wrote (the pending marker)."""

    def __init__(self, *, forget: bool) -> None:
        self.forget = forget


class _StillChanging(_Outcome):
    """Still being written after several settles: back to the queue."""


class _Failed(_Outcome):
    """Recorded as failed with a reason code (not retried until the file changes)."""

    def __init__(self, reason: str, size: int, mtime_ns: int, *, error: BaseException | None = None,
                 **fields: Any) -> None:
        self.reason, self.size, self.mtime_ns, self.error, self.fields = reason, size, mtime_ns, error, fields


class Intake:
    """Everything the stages share: the store, the analyzer, the people manager, the executors, the counters."""

    def __init__(self, cfg: Config, store: Store, people: PeopleManager, analyzer: Analyzer, *,
                 io_pool: Executor, cpu_pool: Executor, roots: Roots, requeue: Callable[[PhotoEvent], None],
                 recluster: Callable[[], None], library: LibraryFile | None = None) -> None:
        self.cfg = cfg
        self.store = store
        self.people = people
        self.analyzer = analyzer
        self.io_pool = io_pool
        self.cpu_pool = cpu_pool
        self.roots = roots
        self.requeue = requeue  # put an event back without waiting for room
        self.recluster = recluster  # hand a recluster to the service's cluster thread
        self.library = library  # checked around every write: nothing is committed or logged into a lost file
        self.summary = ScanSummary()
        self.pixels = PixelBudget(cfg.analysis.max_pixels)
        self._io = InPool(io_pool)  # blocking calls (stat, hashing, every store call) off the event loop
        # Freed heap goes back to the OS every memory.TRIM_INTERVAL_SECONDS while busy, after a giant photo,
        # and when the queue drains (daemon/runtime/memory.py has the measurements).
        self.heap = memory.HeapTrimmer()
        self._hash_busy: dict[str, asyncio.Event] = {}
        # Paths waiting in `settle`, each with the event a close-after-write sets (`file_closed`).
        self._settling: dict[str, asyncio.Event] = {}
        # A still and its short video of the same name are one item (issue 24, `store/live.py`); off with no videos.
        lib = cfg.library
        self.live = LiveRule(photo_extensions=lib.extensions, video_extensions=lib.video_extensions,
                             max_seconds=cfg.video.live_max_seconds, eps=cfg.video.track_eps_alone) \
            if lib.video_extensions and cfg.video.live_max_seconds > 0 else None

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        """A store write, with the library file checked before it and after it (before anything is logged)."""
        return await self._io(self._checked, fn, *args)

    def _checked(self, fn: Callable[..., T], *args: Any) -> T:
        if self.library is not None:
            self.library.check()
        result = fn(*args)
        if self.library is not None:
            self.library.check()
        return result

    async def _cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.cpu_pool, fn, *args)

    async def handle(self, event: PhotoEvent) -> None:
        """One event from the queue."""
        if event.kind == "move":
            await self.move(event)
        elif event.kind == "delete":
            await self.delete(event)
        elif event.kind == "sidecar":
            await self.sidecar(event)
        elif event.is_dir:
            await self.roots.reconcile_subfolder(event.path)
        else:
            await self.photo(event)

    # ---------------------------------------------------------------- one photo: the stage order

    async def photo(self, event: PhotoEvent) -> None:
        """Bring the DB in line with one photo file."""
        t0 = time.perf_counter()
        self.summary.seen += 1
        try:
            await self._stages(event, t0)
        except _Outcome as outcome:
            await self._conclude(event, outcome, t0)

    async def _stages(self, event: PhotoEvent, t0: float) -> None:
        path = event.path
        st = await self.settle(path, closed=event.closed)
        # A watch event comes with the change itself: size, mtime and inode tell. Found by a walk (after a stop),
        # a ctime newer than the row's also means other bytes (issue 22); a chmod seen live must not.
        if await self.unchanged(path, st, strict=event.source != "watch"):
            return
        digest = await self.read(path, st)
        # Two paths with the same bytes arriving together are analysed once: the second waits, then links.
        async with self._one_per_content(digest.sha256):
            linked = await self.link(path, digest)
            if linked is not None:
                # Same bytes already analysed (a copy, or a move we saw as delete + create): no inference.
                await self.place_faces(linked)
                self.summary.linked += 1
                log.info("photo", path=str(path), status="linked", photo_id=linked.photo_id,
                         objects=linked.objects, faces=len(linked.face_ids), people=0, ms=ms_since(t0),
                         **({"restored": True} if linked.restored else {}))
                return
            analysis, imports = await self.analyse(path, digest)
            result = await self.record(path, digest, analysis, imports)
            assigned = await self.place_faces(result)
        self.summary.analysed += 1
        log.info("photo", path=str(path), status="analysed" if result.created else "linked",
                 photo_id=result.photo_id, objects=len(analysis.objects), faces=len(analysis.faces),
                 people=sum(1 for _face, person in assigned if person is not None), ms=ms_since(t0),
                 **(result.imported.fields() if result.imported is not None else {}))

    # ---------------------------------------------------------------- the stages

    async def settle(self, path: Path, *, closed: bool) -> os.stat_result:
        """The file's stat once size and mtime stay unchanged for settle_seconds (at once for a closed file, one
        older than that, or one stored in this state already; a close-after-write arriving while it waits ends
        the wait: `file_closed`)."""
        if closed:
            st = await self._stat(path)
            if st is None:
                raise _Vanished(forget=False)
            return st
        # Registered before the first stat: a close arriving while that stat runs must not be missed.
        key = str(path)
        closed_event = self._settling.setdefault(key, asyncio.Event())
        try:
            st = await self._stat(path)
            if st is None:
                raise _Vanished(forget=False)
            if await self._stored_as(path, st):
                # Already stored in this very state (the late modify or close events of a photo just done):
                # waiting would only hold a worker, and the events behind it on this path, for settle_seconds.
                return st
            settle = self.cfg.daemon.settle_seconds
            deadline = time.monotonic() + SETTLE_LIMIT_SECONDS
            while (not closed_event.is_set() and time.time_ns() - st.st_mtime_ns < settle * 1e9
                   and time.monotonic() < deadline):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(closed_event.wait(), settle)
                again = await self._stat(path)
                if again is None:
                    raise _Vanished(forget=False)
                if closed_event.is_set() or (again.st_size, again.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                    return again
                st = again
            return st
        finally:
            if self._settling.get(key) is closed_event:
                del self._settling[key]

    def file_closed(self, path: Path) -> None:
        """A close-after-write for `path` (the watcher's): a settle waiting on it ends now, the file complete."""
        closed_event = self._settling.get(str(path))
        if closed_event is not None:
            closed_event.set()

    async def unchanged(self, path: Path, st: os.stat_result, *, strict: bool = True) -> bool:
        """Stored already with this size and mtime (done or failed, not marked by `pictod retry`): nothing to do."""
        if await self._stored_as(path, st, strict=strict):
            self.summary.unchanged += 1
            return True
        return False

    async def _stored_as(self, path: Path, st: os.stat_result, *, strict: bool = False) -> bool:
        row = await self._io(self.store.get_file, str(path))
        return (row is not None and row.status in ("done", "failed") and not row.retry
                and (row.size, row.mtime_ns) == (st.st_size, clamp_ns(st.st_mtime_ns))
                and identity.same_file((row.inode, row.ctime_ns if strict else None), st.st_ino,
                                       st.st_ctime_ns if strict else None))

    async def read(self, path: Path, st: os.stat_result) -> FileDigest:
        """The file's bytes and sha256 (refused unread above max_file_bytes); if it changed while being read,
        settle again and retry a few times."""
        if self.cfg.library.is_video(path):
            read = functools.partial(stream_digest, path, max_bytes=self.cfg.video.max_file_bytes)
        else:
            read = functools.partial(file_digest, path, max_bytes=self.cfg.analysis.max_file_bytes)
        try:
            for _attempt in range(HASH_ATTEMPTS - 1):
                try:
                    return await self._io(read)
                except FileChangedError:
                    await self.settle(path, closed=False)
            return await self._io(read)
        except FileTooLargeError as exc:
            raise _Failed(exc.reason, exc.size, st.st_mtime_ns, error=exc, bytes=exc.size, limit=exc.limit) from None
        except FileChangedError:
            # Never wait for queue room while holding a worker (a full queue would wait on itself); a rescan
            # catches it if the queue is full.
            raise _StillChanging from None
        except FileNotFoundError:
            raise _Vanished(forget=False) from None
        except OSError as exc:
            raise _Failed("unreadable", st.st_size, st.st_mtime_ns, error=exc) from None

    async def link(self, path: Path, digest: FileDigest) -> AddResult | None:
        """Point the path at the photo with these bytes if there is one; else mark it pending (crash resume).
        The one hash lookup of a photo: `record` inserts without looking again."""
        return await self._write(functools.partial(self.store.link_or_mark_pending, identity=digest.identity),
                                 str(path), digest.size, digest.mtime_ns, digest.sha256)

    @contextlib.asynccontextmanager
    async def _recorded_failures(self, path: Path, digest: FileDigest) -> AsyncIterator[None]:
        """A photo's or video's analysis failing, as the intake records it: gone meanwhile, failed with the
        decoder's reason, or an internal error (a decoder or model bug on one file must not crash-loop the
        service on it: failed, not retried until the file changes, the traceback logged for a bug report)."""
        try:
            yield
        except PhotoError as exc:
            if not await self._io(os.path.exists, path):
                raise _Vanished(forget=True) from None
            raise _Failed(exc.reason, digest.size, digest.mtime_ns, error=exc) from None
        except FileNotFoundError:
            raise _Vanished(forget=True) from None
        except Exception as exc:
            raise _Failed("internal_error", digest.size, digest.mtime_ns, error=exc) from exc

    @contextlib.asynccontextmanager
    async def _trimmed(self) -> AsyncIterator[None]:
        """After the analysis, the heap handed back to the system when due (rate-limited to every few seconds
        at most: a trim per photo costs ~25% more CPU)."""
        try:
            yield
        finally:
            if self.heap.due():
                await self._io(self.heap.maybe_trim)

    async def analyse(self, path: Path, digest: FileDigest) -> tuple[PhotoAnalysis, ImportPlan | None]:
        """Decode and run the models on the hashed bytes, holding the photo's share of the pixel budget; read the
        photo's metadata in the same job ([metadata] read), embedding the named regions no face covers, and plan
        what its names do."""
        if self.cfg.library.is_video(path):
            return await self.analyse_video(path, digest)
        async with self._recorded_failures(path, digest):
            # The one header read: it checks the pixel limit and gives the decode's size for the budget (the
            # reduced size of a JPEG), and the decode goes on from it.
            header = await self._io(self.analyzer.open_header, digest.data, path.name)
            try:
                async with self.pixels.hold(header.pixels), self._trimmed():
                    return await self._cpu(self._analyse_job, header, path)
            finally:
                header.close()

    async def analyse_video(self, path: Path, digest: FileDigest) -> tuple[PhotoAnalysis, ImportPlan | None]:
        """A video's sampled frames through the chain (`Analyzer.analyze_video`), holding one frame's share of the
        pixel budget; the file must still be the one hashed afterwards (it is decoded from disk, not from the
        hashed bytes), else it goes back to settle."""
        side = self.analyzer.target_long_side or 4096
        async with self._recorded_failures(path, digest), self.pixels.hold(side * side), self._trimmed():
            analysis, plan = await self._cpu(self._analyse_video_job, path)
        st = await self._stat(path)
        if st is None:
            raise _Vanished(forget=True)
        if (st.st_size, st.st_mtime_ns) != (digest.size, digest.mtime_ns):
            raise _StillChanging
        return analysis, plan

    def _analyse_video_job(self, path: Path) -> tuple[PhotoAnalysis, ImportPlan | None]:
        """Executor job: a video's analysis and its sidecar's names (PersonInImage, People tags) planned on it."""
        analysis = self.analyzer.analyze_video(path, self.cfg.video)
        if not self.cfg.metadata.read:
            return analysis, None
        meta = read_metadata_logged(path, video=True)
        plan = xmp_import.plan_import(meta, xmp_import.new_photo_faces([f.box for f in analysis.faces]), {})
        resync = self.cfg.metadata.write_sidecars and any(s.pictod_unchanged for s in meta.sidecars)
        return analysis, replace(plan, resync=resync)

    def _analyse_job(self, header: Header, path: Path) -> tuple[PhotoAnalysis, ImportPlan | None]:
        """Executor job: the analysis, and the metadata read and planned beside it (never on the event loop)."""
        if not self.cfg.metadata.read:
            return self.analyzer.analyze_header(header), None
        meta = read_metadata_logged(path)
        todo: list[FaceRegion] = []

        def regions(analysis: PhotoAnalysis) -> list[Box]:
            todo.extend(xmp_import.unmatched_regions(meta, [f.box for f in analysis.faces]))
            return [r.box for r in todo]

        analysis, crops = self.analyzer.analyze_header_regions(header, regions)
        plan = xmp_import.plan_import(meta, xmp_import.new_photo_faces([f.box for f in analysis.faces]),
                                      dict(zip(todo, crops, strict=True)))
        # pictod's part of the sidecar follows the people as they are now (a photo replaced in place).
        resync = self.cfg.metadata.write_sidecars and bool(plan.regions or any(s.pictod_unchanged
                                                                                for s in meta.sidecars))
        return analysis, replace(plan, resync=resync)

    async def record(self, path: Path, digest: FileDigest, analysis: PhotoAnalysis,
                     imports: ImportPlan | None = None) -> AddResult:
        """Store the photo, its objects and faces and the file row, and the names its metadata gives, in one
        transaction (`Store.record_analysis`), with the place of its GPS position (issue 25; the table loads on
        the first photo with one, off the loop)."""
        gps = analysis.meta.gps
        place = None if gps is None else await self._io(places.locate, *gps)
        return await self._write(functools.partial(self.store.record_analysis, imports=imports,
                                                   identity=digest.identity, place=place,
                                                   place_to_sidecar=self.cfg.metadata.write_sidecars,
                                                   live=self.live),
                                 str(path), digest.size, digest.mtime_ns, digest.sha256, analysis)

    # ---------------------------------------------------------------- a sidecar changed

    async def sidecar(self, event: PhotoEvent) -> None:
        """A sidecar was created or changed by another program: re-import the names of the photos it belongs to,
        without analysing them again. pictod's own writes (its digest) change nothing."""
        if not self.cfg.metadata.read:
            return
        try:
            # Settled like a photo (never "closed"): a program still writing it, and pictod's own write being
            # recorded, both finish first.
            await self.settle(event.path, closed=False)
        except _Vanished:
            return  # deleted: people stay as they are (never lose data), only further imports stop
        for photo in await self._io(self._photos_of_sidecar, event.path):
            await self.reimport(photo)

    def _photos_of_sidecar(self, sidecar: Path) -> list[tuple[Path, int]]:
        """The library's photos a sidecar belongs to: `x.jpg.xmp` -> x.jpg, `x.xmp` -> every x.* of the folder."""
        try:
            names = os.listdir(sidecar.parent)
        except OSError:
            return []
        lower = sidecar.name.lower()[: -len(".xmp")]
        candidates = [sidecar.parent / n for n in names if n.lower() == lower or (
            "." in n and n.rsplit(".", 1)[0].lower() == lower and not is_sidecar_name(n))]
        found: list[tuple[Path, int]] = []
        for path in candidates:
            row = self.store.get_file(str(path))
            if row is not None and row.status == "done" and row.photo_id is not None:
                found.append((path, row.photo_id))
        return found

    async def reimport(self, photo: tuple[Path, int]) -> None:
        """Read one photo's metadata again and apply it, unless its sidecars are pictod's own or already imported."""
        t0 = time.perf_counter()
        path, photo_id = photo
        result = await self._io(self._reimport_job, path, photo_id)
        if result is not None:
            log.info("photo", path=str(path), status="metadata", photo_id=photo_id, ms=ms_since(t0), **result.fields())

    def _reimport_job(self, path: Path, photo_id: int) -> ImportResult | None:
        meta = read_metadata_logged(path, video=self.cfg.library.is_video(path))
        seen, written = self.store.sidecar_seen(photo_id)
        if all(s.digest in (seen, written) for s in meta.sidecars):
            return None  # pictod's own write, or the very bytes already imported
        current = self.store.photo_faces(photo_id)
        todo = xmp_import.unmatched_regions(meta, [f.box for f in current], written)
        embedded: dict[FaceRegion, DetectedFace] = {}
        if todo:
            try:
                image = self.analyzer.load(path)
            except (PhotoError, OSError) as exc:
                log.info("metadata_ignored", path=str(path), source=path.name, reason=f"undecodable: {exc}")
            else:
                embedded = dict(zip(todo, self.analyzer.embed_regions(image, [r.box for r in todo]), strict=True))
        plan = xmp_import.plan_import(meta, current, embedded, written_digest=written, reimport=True,
                                      resync=self.cfg.metadata.write_sidecars)
        return self._checked(self.store.import_metadata, photo_id, plan)

    async def place_faces(self, result: AddResult) -> list[tuple[int, int | None]]:
        """Put the new faces on people (nearest person means; the manager counts the photo towards the next
        recluster); hand a recluster over when the manager says one is due."""
        assigned, due = await self._io(self._people_add, result)
        if due:
            self.recluster()
        return assigned

    # ---------------------------------------------------------------- outcomes: counters, rows, log lines

    async def _conclude(self, event: PhotoEvent, outcome: _Outcome, t0: float) -> None:
        path = event.path
        if isinstance(outcome, _Vanished):
            self.summary.vanished += 1
            log.debug("photo_vanished", path=str(path))
            if outcome.forget:
                await self._forget(path)
        elif isinstance(outcome, _StillChanging):
            self.requeue(PhotoEvent("upsert", path, source=event.source))
        elif isinstance(outcome, _Failed):
            exc = outcome.error
            message = exc.message if isinstance(exc, PhotoError) else exc.strerror if isinstance(exc, OSError) \
                else repr(exc) if exc is not None else None
            await self._write(self.store.record_failure, str(path), outcome.size, outcome.mtime_ns, outcome.reason,
                              message)
            self.summary.failed += 1
            if outcome.reason == "internal_error":
                log.error("photo", path=str(path), status="failed", reason=outcome.reason, error=repr(exc),
                          ms=ms_since(t0), exc_info=exc)
            else:
                error = exc.message if isinstance(exc, PhotoError) else exc.strerror if isinstance(exc, OSError) \
                    else None
                fields = {"error": error} if error is not None else {}
                log.info("photo", path=str(path), status="failed", reason=outcome.reason, **fields,
                         **outcome.fields, ms=ms_since(t0))

    async def _forget(self, path: Path) -> None:
        # Gone between stat and decode: forget the pending marker.
        result = await self._write(self.store.remove, str(path))
        if result.files_removed:
            await self._io(self.people.on_removed, result)

    # ---------------------------------------------------------------- deletes and moves

    async def delete(self, event: PhotoEvent) -> None:
        """A file or folder is gone: forget it (and photos left without a file), unless its root is missing."""
        path = event.path
        if await self._io(self._still_there, path):
            # Deleted and recreated before we got here: the path's current content is the truth.
            if event.is_dir:
                await self.roots.reconcile_subfolder(path)
            else:
                await self.photo(PhotoEvent("upsert", path, source=event.source))
            return
        if not await self.roots.present(path, is_dir=event.is_dir):
            return
        result = await self._write(self.store.remove, str(path))
        if not result.files_removed:
            return
        await self._io(self.people.on_removed, result)
        self.summary.removed += result.files_removed
        # The photos are missing, not deleted (issue 22): their faces and people wait for the bytes to return.
        log.info("photo_removed", path=str(path), files=result.files_removed, photos_missing=len(result.photos_missing),
                 keep_days=self.cfg.library.keep_missing_days)

    async def move(self, event: PhotoEvent) -> None:
        """A file or folder renamed inside the roots: its rows follow, then the destination is checked."""
        assert event.dest_path is not None
        src, dest = event.path, event.dest_path
        moved = await self._write(self.store.move, str(src), str(dest))
        if moved:
            self.summary.moved += int(moved)
            log.info("photo_moved", path=str(src), dest=str(dest), files=moved)
        # Whatever the DB had, the destination's current content is checked: a file moved before it was
        # processed is picked up here, and a moved row whose size and mtime match is left alone.
        if event.is_dir:
            await self.roots.reconcile_subfolder(dest)
        else:
            await self.photo(PhotoEvent("upsert", dest, closed=True, source=event.source))

    # ---------------------------------------------------------------- helpers

    def _still_there(self, path: Path) -> bool:
        """The path is there as something pictod reads: not gone, not a link leading out of the roots."""
        return os.path.lexists(path) and not self._link_out(path)

    def _link_out(self, path: Path) -> bool:
        # A known photo replaced by a link out of the watched folders (issue 22) is never read through it,
        # as a new link out is never picked up (`PathFilter.photo_path`).
        return os.path.islink(path) and self.roots.filter.photo_path(path) is None

    async def _stat(self, path: Path) -> os.stat_result | None:
        if await self._io(self._link_out, path):
            log.warning("link_out_of_roots", path=str(path), action="not read; the path is treated as gone")
            raise _Vanished(forget=True)
        try:
            st = await self._io(os.stat, path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            log.warning("stat_failed", path=str(path), error=exc.strerror)
            return None
        return st if stat_mod.S_ISREG(st.st_mode) else None

    @contextlib.asynccontextmanager
    async def _one_per_content(self, sha256: str) -> AsyncIterator[None]:
        while (busy := self._hash_busy.get(sha256)) is not None:
            await busy.wait()
        done = asyncio.Event()
        self._hash_busy[sha256] = done
        try:
            yield
        finally:
            del self._hash_busy[sha256]
            done.set()

    def _people_add(self, result: AddResult) -> tuple[list[tuple[int, int | None]], bool]:
        assigned = self.people.on_photo_added(result)
        return assigned, self.people.recluster_due()
