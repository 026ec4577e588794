"""Connection set-up in one place: WAL, synchronous=NORMAL, foreign keys, busy timeout, private files; and the
read-only connections of readers, which never create or modify a file.

A read-only connection to a WAL database must not touch the -wal/-shm files either (SQLite's plain `mode=ro`
creates both when they are absent and writes read marks into the -shm). So a reader picks one of two ways:
- live (a process has the database open, or one was killed: -wal and -shm exist): `mode=ro&readonly_shm=1`,
  the -shm is mapped read-only and SQLite reads the WAL through it without writing;
- at rest (no -wal, or an empty one, nothing to recover): `immutable=1`, no locks and no side files. A writer may
  start meanwhile, so `at_rest_stamp` is taken before and after each read and a read it changed is retried live.
A -wal with content but no -shm cannot be read without recovery (a write): that is refused with a message.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from daemon.errors import StoreError
from daemon.store.base import Connection

BUSY_TIMEOUT_MS = 30_000
# The write-ahead log is truncated back to this after a checkpoint (issue 22: it grew without bound and wedged
# a small disk). Checkpoints run on their own every 1000 pages and on the daemon's idle tick (`checkpoint`).
JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024
SQLITE_HEADER = b"SQLite format 3\x00"


def prepare_path(path: Path) -> bool:
    """Create missing parent directories 0700 and the DB file 0600 (SQLite gives -wal/-shm the same mode);
    whether the file was created here."""
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
            return False
        except OSError as exc:
            raise StoreError(f"cannot create the database {path}: {exc.strerror}") from None
        os.fchmod(fd, 0o600)
        os.close(fd)
        return True
    return False


def check_library_file(path: Path, *, created: bool = False) -> None:
    """Refuse a file at the library's path that cannot be a library (issue 22): zero bytes (a truncated or
    placeholder file, which SQLite would silently treat as a new empty library) or not an SQLite file at all.
    `created`: this process just made the empty file itself (`prepare_path`)."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            head = header[:len(SQLITE_HEADER)]
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"cannot read the database {path}: {exc.strerror}") from None
    if not head and not created:
        raise StoreError(f"database {path} is an empty file (0 bytes), not a pictod library: it was truncated or "
                         "replaced. Restore it from a backup (e.g. a library.db.v*.bak beside it), or delete it "
                         "to start a new library (every photo is analysed again and corrections are lost)")
    if head and head != SQLITE_HEADER:
        raise StoreError(f"database {path} is not an SQLite file (its header is {head[:16]!r}): point "
                         "library.database at the library, or move this file away to start a new library")
    if head and header[18:19] == b"\x01":
        # Not in WAL mode, which every pictod library is: look before anything switches it (a write).
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
        try:
            looks_foreign(probe, path, int(probe.execute("PRAGMA user_version").fetchone()[0]))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot read the database {path}: {exc} (is it a pictod library?)") from None
        finally:
            probe.close()


def discard_new(path: Path) -> None:
    """Remove a library file this process just created and could not set up (still empty), with its side
    files, so the next start creates it again instead of refusing an empty file."""
    try:
        if path.stat().st_size == 0:
            for side in (path, _side(path, "-wal"), _side(path, "-shm")):
                side.unlink(missing_ok=True)
    except OSError:
        pass


def looks_foreign(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """A schema version of 0 with tables in it: an SQLite file of another program, not an empty library."""
    if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name "
                                     "NOT IN ('schema_migrations', 'sqlite_sequence')").fetchone()[0]:
        raise StoreError(f"database {path} is an SQLite file of another program (no pictod schema version, but "
                         "tables): point library.database at the pictod library, or move this file away")


def checkpoint(conn: sqlite3.Connection) -> bool:
    """Copy the write-ahead log into the database and truncate it; waits at most a moment for other
    connections (a log still in use is left for the next tick: False)."""
    conn.execute("PRAGMA busy_timeout = 200")
    try:
        busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    finally:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return not busy


def space_hint(path: Path) -> str:
    """How much room the library needs, for a "disk full" message: its size, its log's, the free space."""
    def size(p: Path) -> int:
        try:
            return p.stat().st_size
        except OSError:
            return 0
    db_bytes, wal_bytes = size(path), size(_side(path, "-wal"))
    try:
        st = os.statvfs(path.parent)
        free = st.f_bavail * st.f_frsize
    except OSError:
        free = 0
    need = max(2 * db_bytes, JOURNAL_SIZE_LIMIT) + wal_bytes
    mib = 1024 * 1024
    return (f"the library is {db_bytes / mib:.1f} MiB with a {wal_bytes / mib:.1f} MiB write-ahead log and "
            f"{free / mib:.1f} MiB are free in {path.parent}; free at least {max(0, need - free) / mib:.1f} MiB "
            f"more (pictod needs about {need / mib:.1f} MiB free beside the library)")


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """Open a read-write connection with the house settings; autocommit mode (transactions are explicit).

    `create=False` (the store's reader connections, opened lazily on any thread): a missing file is an error,
    never a new empty library at the path (the library deleted under a running daemon)."""
    try:
        target: str | Path = path if create else f"{path.resolve().as_uri()}?mode=rw"
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False,
                               timeout=BUSY_TIMEOUT_MS / 1000, uri=not create, factory=Connection)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"cannot switch {path} to WAL mode (got {mode}): is it on a network drive?")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT}")
    except sqlite3.DatabaseError as exc:
        hint = space_hint(path) if "full" in str(exc) else "is it a pictod database, and writable?"
        raise StoreError(f"cannot open the database {path}: {exc} ({hint})") from None
    return conn


Stamp = tuple[int, int, int, int]


def _side(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def at_rest_stamp(path: Path) -> Stamp | None:
    """(device, inode, size, mtime_ns) of a database no process has open (no -shm, no -journal, no WAL content);
    None if it is in use (or was left in use by a killed process)."""
    try:
        if _side(path, "-shm").exists() or _side(path, "-journal").exists():
            return None
        wal = _side(path, "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            return None
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def connect_readonly(path: Path) -> tuple[sqlite3.Connection, Stamp | None]:
    """A connection that never writes or creates a file (see the module docstring), and the at-rest stamp it
    was opened under (None: a live reader, which needs no check)."""
    path = path.resolve()
    if not path.is_file():
        raise StoreError(f"no library at {path}: start the daemon or run `pictod scan` first")
    check_library_file(path)
    stamp = at_rest_stamp(path)
    if stamp is None and not (_side(path, "-wal").exists() and _side(path, "-shm").exists()):
        raise StoreError(f"cannot read {path} without writing to it: its write-ahead log has no -shm index "
                         "(a pictod was stopped uncleanly?); start the daemon, or run any write command, once")
    query = "mode=ro&immutable=1" if stamp is not None else "mode=ro&readonly_shm=1"
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?{query}", uri=True, isolation_level=None,
                               check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000, factory=Connection)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # fail here, not in the first read
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"cannot read the database {path}: {exc} (is it a pictod database, and readable?)") \
            from None
    return conn, stamp
