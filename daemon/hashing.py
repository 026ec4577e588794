"""Content identity of a file: sha256 of its bytes, streamed in chunks (call it in an executor, never on the loop)."""

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


class FileChangedError(Exception):
    """The file changed while it was being hashed; settle again and retry."""


def file_digest(path: Path | str) -> FileDigest:
    """Stream the file through sha256; raise FileChangedError if size or mtime moved while reading."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        while chunk := f.read(CHUNK):
            h.update(chunk)
        after = os.fstat(f.fileno())
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns):
        raise FileChangedError(str(path))
    return FileDigest(h.hexdigest(), after.st_size, after.st_mtime_ns)
