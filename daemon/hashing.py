"""Content identity of a file: sha256 of its bytes, read once (call it in an executor, never on the loop).

The bytes are kept with the digest so the photo is analysed from exactly the bytes its hash names: reading the
file again to decode it would cost a second read and could see a newer version than the one hashed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1 << 20


@dataclass(frozen=True)
class FileDigest:
    """The sha256 of a file's bytes with the size and mtime it had while it was read."""

    sha256: str
    size: int
    mtime_ns: int
    data: bytes = b""


class FileChangedError(Exception):
    """The file changed while it was being hashed; settle again and retry."""


def file_digest(path: Path | str) -> FileDigest:
    """Read the file once and hash it, keeping its bytes; FileChangedError if size or mtime moved meanwhile."""
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        # One read of the whole file (one past its size, in case it grew): the bytes are kept anyway, and a list
        # of chunks joined afterwards held the file twice.
        data = f.read(before.st_size + 1)
        while more := f.read(CHUNK):  # still growing: take it all, the size check below hands it back
            data += more
        after = os.fstat(f.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(data) != after.st_size:
        raise FileChangedError(str(path))
    return FileDigest(hashlib.sha256(data).hexdigest(), after.st_size, after.st_mtime_ns, data)
