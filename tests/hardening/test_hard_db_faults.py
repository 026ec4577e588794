"""The database in trouble: locked by another process, on a read-only filesystem, on a full disk.

Each must give a clear error or a wait-and-retry, never corruption: afterwards integrity_check is ok, nothing
committed before the fault is lost, and once the fault is gone every photo gets processed (after a restart
when the daemon chose to exit, which must then be non-zero so the service manager restarts it).
Filesystem faults use a real size-limited tmpfs (root only); without it those cases skip with the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hardening_harness import hostile, mount_tmpfs, path_key, remount, umount, wait_settled
from harness import Daemon, Layout, LibraryDB, write_config

HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
conn.execute("ROLLBACK")
"""


class Holder:
    """Another process holding BEGIN EXCLUSIVE on the DB until released."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line == b"locked", line

    def release(self) -> None:
        """Roll back and exit."""
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    """Lock holders started by a test, released at teardown."""
    started: list[Holder] = []
    yield started
    for h in started:
        h.release()


def _first_ingest(d: Daemon, layout: Layout, n: int, seed: int) -> list[Path]:
    photos = hostile.write_tiny_jpegs(layout.root / "first", n, start=seed, prefix="first")
    files = wait_settled(LibraryDB(layout.database), photos, 60, daemon=d)
    assert {files[path_key(p)][0] for p in photos} == {"done"}
    return photos


def _exited_cleanly_or_alive(d: Daemon, wait: float) -> int | None:
    """None if the daemon is still up after `wait` seconds, else its exit code (checked: a DB error code and
    one clear error: a `pictod: ...` line on stderr or an error record in the log, never a traceback)."""
    try:
        rc = d.wait(wait)
    except AssertionError:
        return None
    lines = d.stderr_lines()
    errors = [r for r in d.log_records(current=True) if r.get("level") == "error"]
    assert rc not in (0, 1) and rc > 0, f"a DB fault must exit with a DB error code (74), got {rc}\n{d.tail()}"
    assert "Traceback" not in "\n".join(lines), f"a traceback instead of an error line:\n{d.tail()}"
    assert lines or errors, f"exited {rc} without saying why:\n{d.tail()}"
    return rc


def _error_text(d: Daemon) -> str:
    """The error the last process gave: its stderr lines and its error log records."""
    errors = [str(r.get("error", r.get("event"))) for r in d.log_records(current=True) if r.get("level") == "error"]
    return "\n".join([*d.stderr_lines(), *errors])


def test_db_locked_briefly_by_another_process(daemons: Callable[..., Daemon], layout: Layout,
                                              holders: list[Holder]) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    first = _first_ingest(d, layout, 3, 100_000)
    holders.append(Holder(layout.database))
    during = hostile.write_tiny_jpegs(layout.root / "during", 5, start=100_100, prefix="during")
    # Longer than a photo takes, shorter than the store's busy timeout: the writer must simply wait.
    time.sleep(6)
    assert d.alive(), f"the daemon gave up on a 6 s lock\n{d.tail()}"
    holders[-1].release()
    files = wait_settled(db, [*first, *during], 60, daemon=d, what="photos dropped while the DB was locked")
    assert {files[path_key(p)][0] for p in [*first, *during]} == {"done"}
    d.stop_clean()
    assert db.problems() == []


@pytest.mark.slow
def test_db_locked_longer_than_busy_timeout(daemons: Callable[..., Daemon], layout: Layout,
                                            holders: list[Holder]) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    first = _first_ingest(d, layout, 3, 101_000)
    holders.append(Holder(layout.database))
    during = hostile.write_tiny_jpegs(layout.root / "during", 3, start=101_100, prefix="during")
    # The store's busy timeout (30 s) plus the shutdown timeout (20 s here) plus a margin.
    rc = _exited_cleanly_or_alive(d, 80)
    print("lock held > busy timeout:", "exit", rc, _error_text(d) if rc is not None else "still running")
    holders[-1].release()
    if rc is not None:
        assert "lock" in _error_text(d) or "busy" in _error_text(d), _error_text(d)
        d.start().wait_ready()
    files = wait_settled(db, [*first, *during], 90, daemon=d, what="photos after the lock went")
    assert {files[path_key(p)][0] for p in [*first, *during]} == {"done"}
    d.stop_clean()
    assert db.problems() == []


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Factory: mount a size-limited tmpfs under tmp_path (skips when this machine cannot); unmounted after."""
    mounted: list[Path] = []

    def factory(size: str) -> Path:
        target = tmp_path / f"fs{len(mounted)}"
        if not mount_tmpfs(target, size):
            pytest.skip("cannot mount a tmpfs here (needs root and mount): filesystem faults not testable")
        mounted.append(target)
        return target

    yield factory
    for target in mounted:
        umount(target)


def test_db_on_read_only_filesystem(daemons: Callable[..., Daemon], tmp_path: Path,
                                    tmpfs: Callable[[str], Path]) -> None:
    fs = tmpfs("16m")
    layout = write_config(tmp_path / "lib", database=fs / "state" / "library.db")
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    first = _first_ingest(d, layout, 3, 102_000)
    d.stop_clean()
    before = db.files()
    remount(fs, "ro")
    try:
        later = hostile.write_tiny_jpegs(layout.root / "later", 2, start=102_100, prefix="later")
        d.start()
        rc = _exited_cleanly_or_alive(d, 45)
        print("read-only DB:", "exit", rc, _error_text(d) if rc is not None else "still running")
        if rc is not None:
            assert rc == 74, d.tail()
            assert str(layout.database.parent) in _error_text(d), _error_text(d)
        else:
            # Waiting and retrying is allowed, but loudly: an error line naming the database.
            errors = [r for r in d.log_records(current=True) if r.get("level") == "error"]
            assert errors, f"daemon runs on a read-only database without an error line\n{d.tail()}"
        assert db.files() == before, "rows changed on a read-only filesystem"
    finally:
        remount(fs, "rw")
    if not d.alive():
        d.start().wait_ready()
    files = wait_settled(db, [*first, *later], 60, daemon=d, what="photos once the filesystem is writable")
    assert {files[path_key(p)][0] for p in [*first, *later]} == {"done"}
    d.stop_clean()
    assert db.problems() == []


def _fill(fs: Path) -> Path:
    """Fill the filesystem until ENOSPC (unbuffered writes, down to 512-byte pieces); returns the filler file."""
    filler = fs / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 16, 4096, 512):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler


def test_db_on_full_disk(daemons: Callable[..., Daemon], tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    fs = tmpfs("8m")
    layout = write_config(tmp_path / "lib", database=fs / "state" / "library.db")
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    first = _first_ingest(d, layout, 3, 103_000)
    before = {k: v for k, v in db.files().items()}
    filler = _fill(fs)
    # Photos with faces: their rows (embeddings, landmarks) need pages the full disk cannot give.
    from pictod_testdata import JOHNS

    crops = sorted(JOHNS.rglob("*.jpg"))[:6]
    during = []
    for i, src in enumerate(crops):
        target = layout.root / "during" / f"face_{i}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(src.read_bytes())
        during.append(target)
    rc = _exited_cleanly_or_alive(d, 40)
    status = "exited" if rc is not None else "alive"
    print("full disk:", "exit", rc, _error_text(d) if rc is not None else "still running")
    os.unlink(filler)
    if rc is not None:
        assert rc == 74, d.tail()
        assert "disk full" in _error_text(d) or "No space" in _error_text(d), _error_text(d)
        d.start().wait_ready()
    files = wait_settled(db, [*first, *during], 90, daemon=d, what=f"photos after the disk was freed ({status})")
    assert {files[path_key(p)][0] for p in [*first, *during]} == {"done"}, {
        p.name: files[path_key(p)] for p in during}
    assert all(files[k] == v for k, v in before.items()), "rows committed before the full disk changed"
    d.stop_clean()
    assert db.problems() == []


# Regression: the lock file's pid write raised ENOSPC uncaught (traceback, exit 1) instead of exit 74.
def test_db_cannot_be_created_on_a_full_disk(daemons: Callable[..., Daemon], tmp_path: Path,
                                             tmpfs: Callable[[str], Path]) -> None:
    fs = tmpfs("1m")
    layout = write_config(tmp_path / "lib", database=fs / "state" / "library.db")
    filler = _fill(fs)
    d = daemons(layout)
    rc = _exited_cleanly_or_alive(d, 60)
    print("full disk at start:", "exit", rc, _error_text(d) if rc is not None else "still running")
    assert rc == 74, d.tail()
    assert str(fs) in _error_text(d), _error_text(d)
    os.unlink(filler)
    photo = layout.root / "first.jpg"
    hostile.write_tiny_jpeg(photo, 104_000)
    d.start().wait_ready()
    files = wait_settled(LibraryDB(layout.database), [photo], 60, daemon=d)
    assert files[path_key(photo)][0] == "done"
    d.stop_clean()
    assert LibraryDB(layout.database).problems() == []


def test_log_on_a_full_disk(daemons: Callable[..., Daemon], tmp_path: Path, tmpfs: Callable[[str], Path]) -> None:
    # The log's filesystem fills up (the DB lives elsewhere): photos keep being processed, or the daemon exits
    # non-zero; it never half-records photos or dies with a traceback.
    fs = tmpfs("1m")
    layout = write_config(tmp_path / "lib", sections={"log": {"file": str(fs / "logs" / "pictod.log")}})
    layout.log = fs / "logs" / "pictod.log"
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    first = _first_ingest(d, layout, 2, 105_000)
    filler = _fill(fs)
    during = hostile.write_tiny_jpegs(layout.root / "during", 20, start=105_100, prefix="during")
    try:
        files = wait_settled(db, during, 60, daemon=d, what="photos while the log's disk is full")
        time.sleep(2)  # a few status ticks with the disk still full
        outcome = "kept processing"
    except AssertionError:
        outcome = f"stopped (exit {d.returncode()})"
    print("log on a full disk:", outcome, db.status_counts())
    # Since log lines that cannot be written are dropped (daemon/logs.py), the daemon keeps processing.
    assert outcome == "kept processing" and d.alive(), (
        f"{outcome}: {db.status_counts()}\n" + "\n".join(d.stderr_lines()[-12:]))
    os.unlink(filler)
    files = wait_settled(db, [*first, *during], 60, daemon=d)
    assert {files[path_key(p)][0] for p in [*first, *during]} == {"done"}
    d.stop_clean()
    assert db.problems() == []
