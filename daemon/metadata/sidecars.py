"""Sidecar files on disk: finding them beside a photo, reading them safely, pictod's digest, atomic replacement.

Names: `photo.jpg.xmp` (digiKam, darktable) and `photo.xmp` (Lightroom), any case of the `.xmp` and of the
photo's own extension. Without a directory listing that is a handful of stat calls (a listing per photo would
be quadratic while a big folder is being copied in); with the listing the caller already holds (a reconcile, a
watch event) the match is fully case-insensitive.

The digest: pictod writes `pictod:Digest`, the sha256 of the file's bytes with that value replaced by 64 zeros.
A sidecar whose digest still checks out is byte for byte what pictod wrote: the daemon's own write, not a change
to import. Any edit by another tool (which keeps unknown properties but rewrites the file) breaks it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
from collections.abc import Collection
from pathlib import Path

from daemon.errors import MetadataError
from daemon.metadata.xmpdoc import MAX_PACKET_BYTES

SIDECAR_SUFFIX = ".xmp"
TEMP_SUFFIX = ".pictod-tmp"  # the watcher must ignore these (they never end in .xmp)
DIGEST_PLACEHOLDER = b"0" * 64
_DIGEST = re.compile(rb"<([A-Za-z_][\w.\-]*):Digest>([0-9a-f]{64})</\1:Digest>")


def is_sidecar_name(name: str) -> bool:
    """True for a file name that is an XMP sidecar."""
    return name.lower().endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX)


def _variants(photo: Path) -> list[str]:
    stem, suffix = photo.stem, photo.suffix
    bases = [photo.name]
    if suffix:
        bases += [stem + suffix.lower(), stem + suffix.upper()]
    names = [base + ext for base in bases for ext in (".xmp", ".XMP")]
    if suffix:
        names += [stem + ".xmp", stem + ".XMP"]
    return list(dict.fromkeys(names))


def find_sidecars(photo: Path, listing: Collection[str] | None = None) -> list[Path]:
    """Sidecars of a photo, most specific first (`photo.jpg.xmp` before `photo.xmp`). Directories and other
    non-files with a sidecar's name are returned too: reading them reports why they are not used."""
    directory = photo.parent
    if listing is not None:
        full, short = f"{photo.name}{SIDECAR_SUFFIX}".lower(), f"{photo.stem}{SIDECAR_SUFFIX}".lower()
        ordered = sorted((name for name in listing if name.lower() in (full, short)),
                         key=lambda name: (name.lower() != full, name != f"{photo.name}{SIDECAR_SUFFIX}", name))
        return [directory / name for name in ordered if name != photo.name]
    found: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for name in _variants(photo):
        path = directory / name
        try:
            st = os.stat(path)
        except OSError:
            try:
                st = os.lstat(path)  # a dangling link or a loop: returned, so reading it says why it is unused
            except OSError:
                continue
        if (st.st_dev, st.st_ino) in seen:  # a case-insensitive file system answers every variant
            continue
        seen.add((st.st_dev, st.st_ino))
        found.append(path)
    return found


def sidecar_for_write(photo: Path, listing: Collection[str] | None = None) -> Path:
    """Where pictod writes: an existing `photo.jpg.xmp` in whatever case it has, else `photo.jpg` + `.xmp`."""
    full = f"{photo.name}{SIDECAR_SUFFIX}".lower()
    for path in find_sidecars(photo, listing):
        if path.name.lower() == full:
            return path
    return photo.with_name(photo.name + SIDECAR_SUFFIX)


def read_sidecar_bytes(path: Path) -> bytes:
    """A sidecar's bytes; MetadataError (not_a_file, too_large, unreadable) otherwise. Never blocks on a FIFO."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise MetadataError("unreadable", f"{path.name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise MetadataError("not_a_file", f"{path.name}: is {kind}")
    if st.st_size > MAX_PACKET_BYTES:
        raise MetadataError("too_large", f"{path.name}: {st.st_size} bytes, limit {MAX_PACKET_BYTES}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise MetadataError("unreadable", f"{path.name}: {exc.strerror or exc}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped for something else since the stat
            raise MetadataError("not_a_file", f"{path.name}: is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(MAX_PACKET_BYTES + 1)
    except OSError as exc:
        raise MetadataError("unreadable", f"{path.name}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_PACKET_BYTES:
        raise MetadataError("too_large", f"{path.name}: more than {MAX_PACKET_BYTES} bytes")
    return data


def sha256(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def seal(data: bytes) -> tuple[bytes, str]:
    """Fill the digest placeholder pictod's serialiser left in `data`; return the sealed bytes and the digest."""
    match = _DIGEST.search(data)
    if match is None or match.group(2) != DIGEST_PLACEHOLDER:
        raise ValueError("no digest placeholder in the sidecar being written")
    digest = sha256(data)
    return data[: match.start(2)] + digest.encode() + data[match.end(2) :], digest


def written_by_pictod(data: bytes) -> bool:
    """True when `data` is byte for byte a sidecar pictod wrote (its digest checks out)."""
    match = _DIGEST.search(data)
    if match is None:
        return False
    unsealed = data[: match.start(2)] + DIGEST_PLACEHOLDER + data[match.end(2) :]
    return sha256(unsealed) == match.group(2).decode()


def is_own_write(path: Path) -> bool:
    """True when the sidecar at `path` is exactly what pictod last wrote there (so: not a change to import)."""
    try:
        return written_by_pictod(read_sidecar_bytes(path))
    except MetadataError:
        return False


class ChangedMeanwhile(Exception):
    """The sidecar changed between pictod reading it and replacing it."""


def same_file_state(before: os.stat_result | None, path: Path) -> bool:
    """True when `path` is still the file `before` described (or still absent)."""
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return before is None
    if before is None:
        return False
    return (now.st_ino, now.st_mtime_ns, now.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


def replace_atomically(target: Path, data: bytes, *, before: os.stat_result | None) -> None:
    """Write `data` to a temporary file beside `target`, fsync it, rename it over `target`, fsync the folder.

    ChangedMeanwhile when `target` is no longer what `before` described; MetadataError(unwritable) on I/O errors.
    The temporary file is removed on every failure.
    """
    directory = target.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=directory)
    except OSError as exc:
        raise MetadataError("unwritable", f"{target.name}: cannot create a file in {directory} "
                            f"({exc.strerror or exc})") from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, stat.S_IMODE(before.st_mode) if before is not None else 0o644)
        if not same_file_state(before, target):
            raise ChangedMeanwhile()
        os.replace(tmp, target)
    except ChangedMeanwhile:
        tmp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise MetadataError("unwritable", f"{target.name}: {exc.strerror or exc}") from None
    fsync_directory(directory)


def fsync_directory(directory: Path) -> None:
    """Make a rename or unlink in `directory` durable (best effort where directories cannot be opened)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass  # some file systems (and Windows) refuse fsync on a directory; the rename itself is done
    finally:
        os.close(dir_fd)
