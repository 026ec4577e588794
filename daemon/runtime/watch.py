"""The watchdog adapter: one observer per watched folder, a thin handler that maps filesystem events to
`PhotoEvent`s on the observer thread and hands them to the event loop, and the path filter shared with
the start-up reconciliation (temporary names, dot-files, extensions, symlinks leading out of the roots).

The handler runs inside the observer's lock (watchdog `observers/api.py`), so it does no I/O beyond an
`lstat` for symlinks and never blocks: settling, hashing and the database belong to `daemon/runtime/intake.py`.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import structlog
from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

from daemon.config import FolderConfig, LibraryConfig
from daemon.metadata import is_sidecar_name

log = structlog.get_logger()

EventKind = Literal["upsert", "delete", "move", "sidecar"]  # sidecar: an XMP sidecar created or changed

# Browsers, rsync, editors and office suites write to these names and rename when done.
TEMP_SUFFIXES = (".part", ".crdownload", ".tmp", ".download", ".partial", ".swp", "~")


@dataclass(frozen=True)
class PhotoEvent:
    """What happened to a path under a watched root, as the queue sees it.

    `closed` marks a close-after-write (or a rename into place): the file is complete, no settle wait.
    A directory `upsert` asks for its subtree to be scanned (a folder moved in from outside the roots).
    """

    kind: EventKind
    path: Path
    dest_path: Path | None = None
    is_dir: bool = False
    closed: bool = False
    source: str = field(default="watch", compare=False)

    def queue_key(self) -> str | None:
        """What the queue coalesces on: one entry per file or folder path; moves keep their order (None)."""
        if self.kind == "move":
            return None
        if self.kind == "sidecar":
            return "s:" + str(self.path)
        return ("d:" if self.is_dir else "f:") + str(self.path)

    def paths(self) -> list[str]:
        """The paths this event touches (both ends of a move), for per-path ordering."""
        return [str(self.path)] + ([str(self.dest_path)] if self.dest_path is not None else [])

    @staticmethod
    def coalesce(old: PhotoEvent, new: PhotoEvent) -> PhotoEvent:
        """A newer event for a queued path: delete after upsert wins, upsert after delete wins; two upserts
        stay one, closed if either was."""
        if new.kind == "upsert" and old.kind == "upsert":
            return PhotoEvent("upsert", new.path, is_dir=new.is_dir, closed=old.closed or new.closed,
                              source=old.source)
        return new


class PathFilter:
    """Decides which paths under the roots are photos pictod cares about, and under which path.

    Symbolic links: a path that resolves inside a root (a link to a file or folder in the library, a folder
    link to its own ancestor) is an alias and maps to its real path, so one file is one row however many
    links lead to it. A path that resolves outside every root is dropped unless `follow_symlinks`, in which
    case it is kept under its own in-root path.
    """

    def __init__(self, roots: Sequence[Path], extensions: Sequence[str], *, follow_symlinks: bool = False) -> None:
        self.roots = tuple(Path(os.path.abspath(r)) for r in roots)
        self.extensions = frozenset(e.lower() for e in extensions)
        self.follow_symlinks = follow_symlinks
        # Deepest first, so nested roots map to the innermost one.
        self._real_roots = sorted(((Path(os.path.realpath(r)), r) for r in self.roots),
                                  key=lambda pair: len(pair[0].parts), reverse=True)

    def root_of(self, path: Path) -> Path | None:
        """The watched root that holds `path` (the deepest one when roots nest), or None."""
        best: Path | None = None
        for root in self.roots:
            if (path == root or path.is_relative_to(root)) and (best is None or len(root.parts) > len(best.parts)):
                best = root
        return best

    def canonical(self, path: Path) -> Path | None:
        """The path a file under a root is known by (see the class docstring), or None to ignore it."""
        real = Path(os.path.realpath(path))
        for real_root, root in self._real_roots:
            if real == real_root or real.is_relative_to(real_root):
                return root / real.relative_to(real_root)
        return path if self.follow_symlinks and self.root_of(path) is not None else None

    def _clean_parts(self, path: Path) -> bool:
        root = self.root_of(path)
        if root is None:
            return False
        return not any(p.startswith(".") or p.endswith(TEMP_SUFFIXES) for p in path.relative_to(root).parts)

    def accepts_dir(self, path: Path) -> bool:
        """A directory under a root whose names are not hidden or temporary (names only, no I/O)."""
        return self._clean_parts(path)

    def accepts_file(self, path: Path) -> bool:
        """A photo file name under a root, not hidden or temporary, with a configured extension (names only,
        no I/O; `photo_path` also checks where a link leads)."""
        return self._clean_parts(path) and path.suffix.lower() in self.extensions

    def photo_path(self, path: Path) -> Path | None:
        """The canonical path of a photo file, or None when it is not one pictod records."""
        if not self.accepts_file(path):
            return None
        real = self.canonical(path)
        return real if real is not None and self.accepts_file(real) else None

    def sidecar_path(self, path: Path) -> Path | None:
        """The canonical path of an XMP sidecar under a root (not hidden or temporary), or None. pictod's own
        temporary files (`.<name>.<random>.pictod-tmp`) are hidden and never end in `.xmp`."""
        if not (self._clean_parts(path) and is_sidecar_name(path.name)):
            return None
        real = self.canonical(path)
        return real if real is not None and self._clean_parts(real) else None

    def dir_path(self, path: Path) -> Path | None:
        """The canonical path of a folder under a root, or None."""
        if not self.accepts_dir(path):
            return None
        real = self.canonical(path)
        return real if real is not None and self.accepts_dir(real) else None


Sink = Callable[[PhotoEvent], None]


class _Handler(FileSystemEventHandler):
    """Runs on the observer thread: translate, filter, hand over with call_soon_threadsafe. Nothing else."""

    def __init__(self, root: Path, filt: PathFilter, loop: asyncio.AbstractEventLoop, sink: Sink,
                 on_root_gone: Callable[[Path], None]) -> None:
        self.root = root
        self.filt = filt
        self.loop = loop
        self.sink = sink
        self.on_root_gone = on_root_gone

    def _emit(self, event: PhotoEvent) -> None:
        try:
            self.loop.call_soon_threadsafe(self.sink, event)
        except RuntimeError:
            # The loop is closed: the daemon is shutting down and the next start's reconcile catches up.
            return

    def dispatch(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        src = Path(os.fsdecode(event.src_path))
        dest = Path(os.fsdecode(event.dest_path)) if event.dest_path else None
        if src == self.root and kind in ("deleted", "moved"):
            # The root itself went away (unmounted, deleted or renamed): never a reason to remove photos.
            try:
                self.loop.call_soon_threadsafe(self.on_root_gone, self.root)
            except RuntimeError:
                return
            return
        if event.is_directory:
            self._directory(kind, src, dest)
        else:
            self._file(kind, src, dest, synthetic=event.is_synthetic)

    def _directory(self, kind: str, src: Path, dest: Path | None) -> None:
        f = self.filt
        if kind == "created":
            if (path := f.dir_path(src)) is not None:
                self._emit(PhotoEvent("upsert", path, is_dir=True))
        elif kind == "deleted":
            if (path := f.dir_path(src)) is not None:
                self._emit(PhotoEvent("delete", path, is_dir=True))
        elif kind == "moved" and dest is not None:
            old, new = f.dir_path(src), f.dir_path(dest)
            if old is not None and new is not None:
                self._emit(PhotoEvent("move", old, new, is_dir=True))
            elif old is not None:
                self._emit(PhotoEvent("delete", old, is_dir=True))
            elif new is not None:
                self._emit(PhotoEvent("upsert", new, is_dir=True))

    def _file(self, kind: str, src: Path, dest: Path | None, *, synthetic: bool) -> None:
        f = self.filt
        if kind == "created" and f.follow_symlinks and os.path.isdir(src):
            # A new link to a folder arrives as a file event; followed, its folder is scanned like a new one.
            if (path := f.dir_path(src)) is not None:
                self._emit(PhotoEvent("upsert", path, is_dir=True))
        elif kind in ("created", "modified", "closed") and (side := f.sidecar_path(src)) is not None:
            self._emit(PhotoEvent("sidecar", side))
        elif kind == "moved" and dest is not None and (side := f.sidecar_path(dest)) is not None:
            self._emit(PhotoEvent("sidecar", side))  # written elsewhere and renamed into place (atomic writers)
        elif kind in ("created", "modified", "attrib", "closed"):
            if (path := f.photo_path(src)) is not None:
                self._emit(PhotoEvent("upsert", path, closed=kind == "closed"))
        elif kind == "deleted":
            if (path := f.photo_path(src)) is not None:
                self._emit(PhotoEvent("delete", path))
        elif kind == "moved" and dest is not None and not synthetic:
            # Synthetic moves are the children of a directory move; the directory move covers them.
            old, new = f.photo_path(src), f.photo_path(dest)
            if old is not None and new is not None:
                self._emit(PhotoEvent("move", old, new))
            elif old is not None:
                self._emit(PhotoEvent("delete", old))
            elif new is not None:
                # foo.jpg.part -> foo.jpg: a download finished; a rename is atomic, so the file is complete.
                self._emit(PhotoEvent("upsert", new, closed=True))


class Watcher:
    """One watchdog observer per configured folder; native where possible, polling when asked or as a fallback."""

    def __init__(self, library: LibraryConfig, loop: asyncio.AbstractEventLoop, sink: Sink, *,
                 on_root_gone: Callable[[Path], None] | None = None) -> None:
        self.library = library
        self.loop = loop
        self.sink = sink
        self.on_root_gone = on_root_gone or (lambda _root: None)
        self.filter = PathFilter([f.path for f in library.folders], library.all_extensions,
                                 follow_symlinks=library.follow_symlinks)
        self._observers: dict[Path, BaseObserver] = {}

    def start(self) -> list[Path]:
        """Start watching every folder; return the roots that could not be watched (missing or unreadable)."""
        missing = []
        for folder in self.library.folders:
            if not self.start_folder(folder):
                missing.append(Path(os.path.abspath(folder.path)))
        return missing

    def start_folder(self, folder: FolderConfig) -> bool:
        """Start (or restart) the observer of one folder; False if the folder is not there."""
        root = Path(os.path.abspath(folder.path))
        self.stop_root(root)
        if not os.path.isdir(root) or not os.access(root, os.R_OK | os.X_OK):
            return False
        handler = _Handler(root, self.filter, self.loop, self.sink, self.on_root_gone)
        observer: BaseObserver | None = None
        mode = "polling"
        if not folder.polling:
            try:
                observer = Observer()
                observer.schedule(handler, str(root), recursive=folder.recursive,
                                  follow_symlink=self.library.follow_symlinks)
                observer.start()
                mode = "native"
            except OSError as exc:
                # e.g. ENOSPC when fs.inotify.max_user_watches is reached on a big tree.
                log.warning("native_watch_failed", root=str(root), error=str(exc), fallback="polling",
                            hint="raise fs.inotify.max_user_watches or set polling = true for this folder")
                if observer is not None and observer.is_alive():
                    observer.stop()
                observer = None
        if observer is None:
            try:
                observer = PollingObserver(timeout=1.0)
                observer.schedule(handler, str(root), recursive=folder.recursive,
                                  follow_symlink=self.library.follow_symlinks)
                observer.start()
            except OSError as exc:
                log.error("watch_failed", root=str(root), error=str(exc))
                return False
        self._observers[root] = observer
        log.info("watching", root=str(root), mode=mode, recursive=folder.recursive)
        return True

    def stop_root(self, root: Path) -> None:
        """Stop the observer of one root (it was lost, or is being restarted)."""
        observer = self._observers.pop(root, None)
        if observer is not None:
            observer.stop()
            if observer.is_alive():
                observer.join(timeout=5)

    def stop(self) -> None:
        """Stop every observer and wait for their threads."""
        for root in list(self._observers):
            self.stop_root(root)
