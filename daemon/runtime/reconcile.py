"""Start-up reconciliation: each watched root on disk compared with the database (path, size, mtime_ns).

New and changed files become `upsert` events, files left 'pending' by a crash are resumed, and database rows
whose file is gone become `delete` events. The guard: a root that is missing or unreadable (an unmounted
drive, a renamed folder) or a subfolder that cannot be listed yields no deletion under it at all, because an
absent mount point looks exactly like a deleted library. Everything here is blocking and runs in an executor.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from daemon.metadata import is_sidecar_name
from daemon.runtime.watch import PathFilter, PhotoEvent
from daemon.store import identity
from daemon.store.base import clamp_ns

log = structlog.get_logger()


class RootUnavailableError(Exception):
    """A watched root is missing or cannot be listed; nothing under it may be removed."""

    def __init__(self, root: Path, reason: str) -> None:
        super().__init__(f"{root}: {reason}")
        self.root = root
        self.reason = reason


class FileRow(Protocol):
    """What reconciliation needs from a store file record."""

    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def mtime_ns(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def retry(self) -> bool: ...


@dataclass(frozen=True)
class DiskFile:
    """A photo file as it is on disk now."""

    path: str
    size: int
    mtime_ns: int
    inode: int = 0
    ctime_ns: int = 0


@dataclass
class DiskScan:
    """Every accepted photo under a root, plus the folders that could not be listed."""

    root: Path
    files: dict[str, DiskFile] = field(default_factory=dict)
    unreadable: list[Path] = field(default_factory=list)
    sidecars: dict[str, DiskFile] = field(default_factory=dict)  # XMP sidecars beside photos (not behind links)


@dataclass
class Plan:
    """The events that bring the database in line with one root, and what they are."""

    root: Path
    upserts: list[PhotoEvent] = field(default_factory=list)
    deletes: list[PhotoEvent] = field(default_factory=list)
    new: int = 0
    changed: int = 0
    resumed: int = 0
    unchanged: int = 0
    unreadable: int = 0
    unreadable_paths: list[Path] = field(default_factory=list)  # watched again once readable (roots.py)
    sizes: dict[Path, int] = field(default_factory=dict)  # bytes of each event's file: on disk, or as stored
    sidecars: int = 0  # sidecars new or changed beside photos that are themselves unchanged


def check_root(root: Path) -> None:
    """Raise RootUnavailableError unless `root` is a directory that can be listed."""
    try:
        st = os.stat(root)
    except FileNotFoundError:
        raise RootUnavailableError(root, "missing (unmounted, renamed or deleted?)") from None
    except OSError as exc:
        raise RootUnavailableError(root, f"cannot stat: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise RootUnavailableError(root, "not a directory")
    try:
        with os.scandir(root) as it:
            next(it, None)
    except OSError as exc:
        raise RootUnavailableError(root, f"cannot list: {exc.strerror}") from None


def scan_disk(root: Path, filt: PathFilter, *, recursive: bool = True) -> DiskScan:
    """Walk `root` (a watched root or a folder below one) and stat every accepted photo."""
    root = Path(os.path.abspath(root))
    check_root(root)
    result = DiskScan(root)
    if filt.root_of(root) != root and filt.dir_path(root) != root:
        return result  # a folder reached through a link: its real path (if in a root) is scanned as itself
    seen_dirs: set[tuple[int, int]] = set()
    # (folder, reached through a link): only paths behind a link need resolving to their canonical form,
    # which keeps a start-up walk of a big library at one stat per file.
    stack = [(root, False)]
    while stack:
        folder, via_link = stack.pop()
        try:
            st = os.stat(folder)
            if (st.st_dev, st.st_ino) in seen_dirs:
                continue  # a symlink loop when following links
            seen_dirs.add((st.st_dev, st.st_ino))
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("folder_unreadable", path=str(folder), error=exc.strerror)
            result.unreadable.append(folder)
            continue
        for entry in entries:
            path = Path(entry.path)
            try:
                is_link = entry.is_symlink()
                if entry.is_dir(follow_symlinks=filt.follow_symlinks):
                    # Without follow_symlinks a folder link is not entered; with it, the (dev, inode) guard
                    # above stops loops and canonical paths fold aliases into one row.
                    if recursive and filt.accepts_dir(path) and (filt.follow_symlinks or not is_link):
                        stack.append((path, via_link or is_link))
                    continue
                if not (via_link or is_link) and is_sidecar_name(entry.name) and filt.accepts_dir(folder) \
                        and not entry.name.startswith("."):
                    sst = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(sst.st_mode):
                        result.sidecars[str(path)] = DiskFile(str(path), sst.st_size, clamp_ns(sst.st_mtime_ns))
                    continue
                if via_link or is_link:
                    known = filt.photo_path(path)
                elif filt.accepts_file(path):
                    known = path
                else:
                    continue
                if known is None:
                    continue
                est = entry.stat(follow_symlinks=True)
            except OSError:
                continue  # vanished between listing and stat, a dangling link or a link loop
            if stat.S_ISREG(est.st_mode):
                result.files[str(known)] = DiskFile(str(known), est.st_size, clamp_ns(est.st_mtime_ns), est.st_ino,
                                                est.st_ctime_ns)
    return result


def plan(scan: DiskScan, rows: Iterable[FileRow], filt: PathFilter,
         sidecars_seen: Mapping[str, tuple[int, int]] | None = None) -> Plan:
    """Diff a disk scan against the database rows under the same folder; with `sidecars_seen` (sidecar path ->
    size, mtime_ns as last imported or written), a new or changed sidecar of an unchanged photo is a `sidecar`
    event (a photo being analysed reads its sidecars anyway)."""
    result = Plan(scan.root, unreadable=len(scan.unreadable), unreadable_paths=list(scan.unreadable))
    known: set[str] = set()
    owner = filt.root_of(scan.root)
    for row in rows:
        path = Path(row.path)
        if owner is not None and filt.root_of(path) != owner:
            continue  # belongs to a nested root, which reconciles itself
        known.add(row.path)
        disk = scan.files.get(row.path)
        if disk is None:
            if any(path.is_relative_to(bad) for bad in scan.unreadable):
                continue
            result.deletes.append(PhotoEvent("delete", path, source="reconcile"))
            result.sizes[path] = row.size
        elif row.status == "pending":
            result.resumed += 1
            result.upserts.append(PhotoEvent("upsert", path, source="reconcile"))
            result.sizes[path] = disk.size
        elif (row.size, row.mtime_ns) != (disk.size, disk.mtime_ns) or row.retry or not identity.same_file(
                (getattr(row, "inode", None), getattr(row, "ctime_ns", None)), disk.inode, disk.ctime_ns):
            # retry: `pictod retry`; another inode or ctime: other bytes of the same size and mtime (issue 22)
            result.changed += 1
            result.upserts.append(PhotoEvent("upsert", path, source="reconcile"))
            result.sizes[path] = disk.size
        else:
            result.unchanged += 1
    for path_str in sorted(scan.files.keys() - known):
        result.new += 1
        result.upserts.append(PhotoEvent("upsert", Path(path_str), source="reconcile"))
        result.sizes[Path(path_str)] = scan.files[path_str].size
    if sidecars_seen is not None and scan.sidecars:
        busy = {str(e.path) for e in result.upserts}
        for side in sorted(scan.sidecars.values(), key=lambda d: d.path):
            if sidecars_seen.get(side.path) == (side.size, side.mtime_ns):
                continue
            photos = _photos_beside(Path(side.path), scan.files)
            if photos and not all(p in busy for p in photos):
                result.sidecars += 1
                result.upserts.append(PhotoEvent("sidecar", Path(side.path), source="reconcile"))
                result.sizes[Path(side.path)] = -1  # never the size of a deleted photo: not a move candidate
    return result


def _photos_beside(sidecar: Path, files: Mapping[str, DiskFile]) -> list[str]:
    """Photos of the scan a sidecar belongs to: `x.jpg.xmp` -> x.jpg, `x.xmp` -> x.* (case-insensitive)."""
    base = sidecar.name[: -len(".xmp")].lower()
    folder = str(sidecar.parent)
    found = []
    for path in (str(sidecar.parent / sidecar.name[: -len(".xmp")]),):
        if path in files:
            found.append(path)
    if not found:
        found = [p for p in files if os.path.dirname(p) == folder and (
            os.path.basename(p).lower() == base or os.path.splitext(os.path.basename(p))[0].lower() == base)]
    return found


def mount_points() -> set[Path]:
    """Every mount point of this process's namespace (Linux: /proc/self/mountinfo; elsewhere none known)."""
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return set()
    found: set[Path] = set()
    for line in lines:
        fields = line.split(b" ")
        if len(fields) > 4:
            # The mount point is field 5, with space, tab, newline and backslash as octal escapes.
            raw = re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), fields[4])
            found.add(Path(os.fsdecode(raw)))
    return found


def mounts_below(root: Path, mounts: Iterable[Path] | None = None) -> set[Path]:
    """The mount points strictly below `root`."""
    return {m for m in (mount_points() if mounts is None else mounts) if m != root and m.is_relative_to(root)}


def reconcile_folder(folder: Path, filt: PathFilter, rows_under: Iterable[FileRow], *,
                     recursive: bool = True, sidecars_seen: Mapping[str, tuple[int, int]] | None = None,
                     away: Iterable[Path] = ()) -> Plan:
    """Scan `folder` and diff it against `rows_under` it; the root is re-checked after the walk so a drive
    unmounted mid-scan removes nothing. `away`: folders below it that were mount points and are not now (a
    drive below a root unmounted, issue 22): nothing under them is removed, as for an unreadable folder."""
    scan = scan_disk(folder, filt, recursive=recursive)
    scan.unreadable += [a for a in away if a.is_relative_to(scan.root)]
    result = plan(scan, rows_under, filt, sidecars_seen)
    result.unreadable_paths = [u for u in result.unreadable_paths if u not in set(away)]
    if result.deletes and not scan.files and filt.root_of(scan.root) == scan.root:
        # An unmounted drive usually leaves its empty mount point behind: a root with nothing in it while
        # the library knows photos there is treated as missing, never as "everything was deleted".
        with os.scandir(scan.root) as it:
            empty = next(it, None) is None
        if empty:
            raise RootUnavailableError(scan.root, f"empty, but the library has {len(result.deletes)} photo(s) "
                                       "under it (unmounted drive?); if they were deleted on purpose, put any "
                                       "photo in the folder and the rest is cleaned up")
    if result.deletes:
        check_root(scan.root)
        owner = filt.root_of(scan.root)
        if owner is not None and owner != scan.root:
            check_root(owner)
    return result
