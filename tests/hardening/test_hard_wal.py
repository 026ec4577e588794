"""Issue 22 defect 6: the write-ahead log was never bounded (1.9 MB beside a 176 KB library) and on a small
disk the daemon wedged itself: every start exited 74 "disk full ... free some space" while its own log was the
only thing there. Now the log is truncated back to `journal_size_limit` after a checkpoint, checkpointed and
truncated when the daemon is idle and when a library is opened, a full disk does not stop the lock, and "disk
full" says how much room the library needs. Real SQLite files, a real size-limited tmpfs for the full disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_hard_db_faults import _fill, tmpfs  # noqa: F401  (the tmpfs fixture and the disk filler)

from daemon.errors import StoreError
from daemon.runtime.lock import DaemonLock
from daemon.store import Store, db


def _grow(store: Store, megabytes: int) -> None:
    store.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)"))
    store.write(lambda c: c.executemany("INSERT INTO ballast VALUES (randomblob(65536))",
                                        [()] * (megabytes * 16)))


def _wal(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return wal.stat().st_size if wal.exists() else 0


def test_the_log_is_bounded_and_truncated_by_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Store.open(path) as store:
        assert store.write(lambda c: c.execute("PRAGMA journal_size_limit").fetchone()[0]) == db.JOURNAL_SIZE_LIMIT
        _grow(store, 12)  # one transaction: the log must hold it all
        assert _wal(path) > 12 * 1024 * 1024
        # The checkpoint SQLite runs on its own after that commit lets the next write start the log over, and
        # the log file is cut back to the limit instead of staying at its high mark.
        store.write(lambda c: c.execute("INSERT INTO ballast VALUES (x'00')"))
        assert _wal(path) <= db.JOURNAL_SIZE_LIMIT
        _grow(store, 2)
        store.checkpoint()  # what the daemon does when it goes idle
        assert _wal(path) == 0


def test_a_full_disk_says_how_much_room_the_library_needs_and_does_not_stop_the_lock(
        tmpfs: Callable[[str], Path]) -> None:  # noqa: F811
    fs = tmpfs("4m")
    path = fs / "library.db"
    with Store.open(path) as store:
        _grow(store, 1)
        store.checkpoint()
        filler = _fill(fs)
        with pytest.raises(StoreError, match=r"disk full while writing .*MiB are free.*free at least \d+\.\d MiB"):
            _grow(store, 2)
    lock = DaemonLock(path)
    lock.acquire()  # the pid cannot be written; the lock itself holds
    lock.release()
    filler.unlink()
    with Store.open(path) as store:  # room again: the library is whole
        assert store.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0]) == "ok"
