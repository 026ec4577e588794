"""Content identity of a file: sha256 of its bytes, read once in chunks (call it in an executor, never on the loop).

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
    """Read the file once through sha256, keeping its bytes; FileChangedError if size or mtime moved meanwhile."""
    h = hashlib.sha256()
    chunks: list[bytes] = []
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        while chunk := f.read(CHUNK):
            h.update(chunk)
            chunks.append(chunk)
        after = os.fstat(f.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChangedError(str(path))
    return FileDigest(h.hexdigest(), after.st_size, after.st_mtime_ns, b"".join(chunks))
