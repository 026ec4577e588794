"""Reading a photo file: `read_file` is the one place its size limit is checked (from the open file's fstat,
before a byte is read), and `file_digest` adds its content identity (sha256). Blocking: call them in an
executor, never on the loop.

The bytes are kept with the digest so the photo is analysed from exactly the bytes its hash names: reading the
file again to decode it would cost a second read and could see a newer version than the one hashed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import FileTooLargeError

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """The sha256 of a file's bytes with the size, mtime, inode and ctime it had while it was read."""

    sha256: str
    size: int
    mtime_ns: int
    data: bytes = b""
    inode: int | None = None
    ctime_ns: int | None = None

    @property
    def identity(self) -> tuple[int, int] | None:
        """(inode, ctime_ns) of the file read, stored beside size and mtime (issue 22); None if unknown."""
        return None if self.inode is None or self.ctime_ns is None else (self.inode, self.ctime_ns)


class FileChangedError(Exception):
    """The file changed while it was being read; settle again and retry."""


def read_file(path: Path | str, *, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """The file's bytes and its stat; FileTooLargeError above `max_bytes` (nothing read), FileChangedError if
    size or mtime moved while it was read, OSError if it cannot be read."""
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        if before.st_size > max_bytes:
            # Refused from its size alone: reading a 1 GB file (or a sparse one) would be for nothing.
            raise FileTooLargeError(Path(path).name, before.st_size, max_bytes)
        # One read of the whole file (one past its size, in case it grew): a list of chunks joined afterwards
        # held the file twice.
        data = f.read(before.st_size + 1)
        while more := f.read(CHUNK):  # still growing: take it all, the size check below hands it back
            data += more
        after = os.fstat(f.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise FileChangedError(str(path))
    return data, after


def stream_digest(path: Path | str, *, max_bytes: int) -> FileDigest:
    """A video's sha256, read in chunks and not kept (an hour of 4K is tens of GB): the decoder reads the file
    itself, and the caller checks size and mtime again after decoding. Same errors as `read_file`."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        if before.st_size > max_bytes:
            raise FileTooLargeError(Path(path).name, before.st_size, max_bytes)
        read = 0
        buffer = bytearray(CHUNK * 4)
        view = memoryview(buffer)
        while n := f.readinto(buffer):
            digest.update(view[:n])
            read += n
        after = os.fstat(f.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or read != after.st_size:
        raise FileChangedError(str(path))
    return FileDigest(digest.hexdigest(), after.st_size, after.st_mtime_ns, b"", after.st_ino, after.st_ctime_ns)


def file_digest(path: Path | str, *, max_bytes: int) -> FileDigest:
    """Read the file once (`read_file`) and hash it, keeping its bytes."""
    data, st = read_file(path, max_bytes=max_bytes)
    return FileDigest(hashlib.sha256(data).hexdigest(), st.st_size, st.st_mtime_ns, data, st.st_ino, st.st_ctime_ns)
