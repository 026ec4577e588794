"""The daemon's hold on its library: the single-daemon lock (`DaemonLock`, `daemon_pid`), the one private
`mkdir -p` (`private_dirs`, every folder it creates 0700), and `LibraryFile`, the check that the database
file at the configured path is still the one the daemon opened (not deleted, replaced or moved under it).

Blocking calls only (a few syscalls each); the service runs them in its I/O executor.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from daemon.config import Config
from daemon.errors import AlreadyRunningError, StoreError


def lock_path(db: Path) -> Path:
    """The lock file beside the database."""
    return db.with_name(db.name + ".lock")


def private_dirs(folder: Path) -> None:
    """mkdir -p where every folder created is 0700 (Path.mkdir(parents=True) gives the parents 0777 & ~umask)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)


class DaemonLock:
    """fcntl.flock on `<db>.lock`: one daemon (or scan) per database; released by the kernel if we die."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the owner's pid."""
        try:
            private_dirs(self.path.parent)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot create the lock file {self.path}: {exc.strerror} "
                             "(is the database folder writable?)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                pid = _read_pid(self.path)
                raise AlreadyRunningError(
                    f"another pictod daemon (pid {pid if pid is not None else '?'}) owns {self.db}") from None
            raise StoreError(f"cannot lock {self.path}: {exc.strerror}") from None
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                os.close(fd)
                raise StoreError(f"cannot write the lock file {self.path}: {exc.strerror} "
                                 "(is the database folder writable?)") from None
            # A full disk (issue 22): the flock is what locks, the pid is a hint (daemon_pid then says -1).
            # Refusing here wedged a daemon whose own write-ahead log filled the disk: the start that would
            # fold it back into the library never came.
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; its content is only a hint)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def daemon_pid(cfg: Config) -> int | None:
    """The pid of the daemon (or scan) holding the database's lock, or None when nobody holds it."""
    path = lock_path(cfg.database_path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        pid = _read_pid(path)
        return pid if pid is not None else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class LibraryFile:
    """The database file as opened at start, held by a descriptor so its inode cannot be reused: `check`
    raises StoreError (exit 74) once the path no longer names that file (deleted, replaced or moved), since
    every later commit would go into a file nobody can open again."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise StoreError(f"cannot open the database {path}: {exc.strerror}") from None
        st = os.fstat(self._fd)
        self._ident = (st.st_dev, st.st_ino)

    def check(self) -> None:
        """Raise StoreError unless the path still names the open file (two stats, no I/O on the file)."""
        if self._fd < 0:
            return
        try:
            st = os.stat(self.path)
            now: tuple[int, int] | None = (st.st_dev, st.st_ino)
        except FileNotFoundError:
            now = None
        except OSError as exc:
            raise StoreError(f"cannot check the database {self.path}: {exc.strerror}") from None
        if now == self._ident and os.fstat(self._fd).st_nlink > 0:
            return
        what = "deleted or moved away" if now is None else "replaced by another file"
        raise StoreError(f"the library file {self.path} was {what} while the daemon was running; stopping so "
                         "nothing more is written into a file that is gone (restore it, or start again to "
                         "build a new library)")

    def close(self) -> None:
        """Let the file go (idempotent)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
