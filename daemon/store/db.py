"""Connection set-up in one place: WAL, synchronous=NORMAL, foreign keys, busy timeout, private files."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from daemon.errors import StoreError

BUSY_TIMEOUT_MS = 30_000


def prepare_path(path: Path) -> None:
    """Create missing parent directories 0700 and the DB file 0600 (SQLite gives -wal/-shm the same mode)."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot create the database directory {directory}: {exc.strerror}") from None
        os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    if not path.exists():
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None
        os.fchmod(fd, 0o600)
        os.close(fd)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a connection with the house settings; autocommit mode (transactions are explicit)."""
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                   check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
        else:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not readonly:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch {path} to WAL mode (got {mode}): is it on a network drive?")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot open the database {path}: {exc} (is it a pictod database, and writable?)") \
            from None
    return conn
