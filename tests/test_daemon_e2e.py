"""The real daemon (`python -m daemon.cli.main run`) as a subprocess on real folders with the real models.

One daemon (`lib`) is shared by the checks that can follow each other; crash, restart and missing-root
checks start their own. Every wait is an `expect` poll on the log or the database, never a fixed sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import REPO, Daemon, Layout, expect, make_variants, process_sockets, query, write_config
from pictod_testdata import FACE_RECOGNITION, SKIMAGE

PHOTOS = {
    "astronaut.png": SKIMAGE / "astronaut.png",
    "chelsea.png": SKIMAGE / "chelsea.png",
    "obama.jpg": FACE_RECOGNITION / "obama.jpg",
    "obama2.jpg": FACE_RECOGNITION / "obama2.jpg",
    "obama3.jpg": FACE_RECOGNITION / "obama3.jpg",
    "biden.jpg": FACE_RECOGNITION / "biden.jpg",
}


def library(base: Path, folders: list[Path], **daemon: float) -> Layout:
    """A library for these tests: debug logs, a recluster every 2 photos, `daemon` settings on top."""
    return write_config(base, folders=folders, sections={"daemon": daemon, "clustering": {"recluster_every": 2},
                                                         "log": {"level": "debug"}})


def files(db: Path) -> dict[str, tuple[str, int | None]]:
    """path -> (status, photo_id) for every file row."""
    return {os.fsdecode(bytes(p)): (s, pid) for p, s, pid in query(db, "SELECT path, status, photo_id FROM files")}


def done_paths(db: Path) -> set[str]:
    return {p for p, (s, _pid) in files(db).items() if s == "done"}


def integrity(db: Path) -> str:
    return str(query(db, "PRAGMA integrity_check")[0][0])


class NotifyListener:
    """A real sd_notify socket the daemon writes to (what systemd would read)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join(timeout=2)
        self.sock.close()


class Lib:
    """The shared library: watched folders, config, daemon, notify socket."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.watched = base / "photos"
        self.second = base / "drive"
        self.watched.mkdir()
        self.second.mkdir()
        # queue_size 40 so the 200-file drop overflows the queue and the rescan has to catch up. settle_seconds
        # 1.0: the slow writer below pauses 0.1 s between writes, and a loaded machine can stretch a pause by
        # tenths of a second (a file still open, seen unchanged for settle_seconds, is taken as complete).
        self.layout = library(base, [self.watched, self.second], queue_size=40, settle_seconds=1.0)
        self.config = self.layout.config
        self.notify = NotifyListener(base / "notify.sock")
        self.daemon = Daemon(self.layout, env={"NOTIFY_SOCKET": str(base / "notify.sock"),
                                               "WATCHDOG_USEC": "1000000"})

    @property
    def db(self) -> Path:
        return self.daemon.db


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    lib = Lib(tmp_path_factory.mktemp("lib"))
    lib.daemon.start(wait_ready=True)
    try:
        yield lib
    finally:
        lib.daemon.teardown()
        lib.notify.close()


def analysed_lines(d: Daemon, path: Path) -> list[dict[str, object]]:
    return [e for e in d.events("photo", path=str(path)) if e.get("status") == "analysed"]


def test_dropped_photos_get_objects_faces_and_people(lib: Lib) -> None:
    for name, src in PHOTOS.items():
        shutil.copy(src, lib.watched / name)
    want = {str(lib.watched / n) for n in PHOTOS}
    expect(lambda: want <= done_paths(lib.db), 90, 0.2, "six photos done")
    by_path = files(lib.db)
    astronaut = by_path[str(lib.watched / "astronaut.png")][1]
    chelsea = by_path[str(lib.watched / "chelsea.png")][1]
    labels = {pid: {r[0] for r in query(lib.db, "SELECT label FROM objects WHERE photo_id = ?", pid)}
              for pid in (astronaut, chelsea)}
    assert "person" in labels[astronaut] and "cat" in labels[chelsea]
    assert query(lib.db, "SELECT count(*) FROM faces WHERE photo_id = ?", astronaut)[0][0] == 1
    # The three Obama photos end up as one person once the recluster has run.
    obama_ids = [by_path[str(lib.watched / n)][1] for n in ("obama.jpg", "obama2.jpg", "obama3.jpg")]

    def obama_person() -> bool:
        rows = query(lib.db, f"SELECT person_id FROM faces WHERE photo_id IN ({','.join('?' * 3)})", *obama_ids)
        people = {r[0] for r in rows}
        return len(rows) >= 3 and len(people) == 1 and None not in people

    expect(obama_person, 60, 0.2, "one person for the three obama photos")
    # The photo's line follows its row (after its faces are placed): waited for, not read at once.
    line = expect(lambda: analysed_lines(lib.daemon, lib.watched / "obama.jpg"), 30, 0.1, "obama.jpg's line")[0]
    assert {"path", "status", "objects", "faces", "people", "ms"} <= line.keys()
    assert line["faces"] == 1


def photo_of(db: Path, path: Path) -> tuple[int, str]:
    return query(db, "SELECT p.id, p.analysed_at FROM files f JOIN photos p ON p.id = f.photo_id "
                     "WHERE f.path = ?", os.fsencode(str(path)))[0]


def test_rename_keeps_analysis_without_inference(lib: Lib) -> None:
    src = lib.watched / "obama2.jpg"
    expect(lambda: str(src) in done_paths(lib.db), 60, 0.2, "obama2 done")
    before = photo_of(lib.db, src)
    faces_before = query(lib.db, "SELECT id, person_id FROM faces WHERE photo_id = ?", before[0])
    # A rename in place: one inotify move event, the row's path changes.
    renamed = lib.watched / "obama-two.jpg"
    os.rename(src, renamed)
    expect(lambda: str(renamed) in done_paths(lib.db) and str(src) not in files(lib.db), 30, 0.1, "renamed")
    expect(lambda: lib.daemon.events("photo_moved", path=str(src), dest=str(renamed)), 30, 0.1,
           "photo_moved logged")  # the line follows the row
    # Into a folder made a moment before: inotify may only see a delete (the folder was not watched yet)
    # and the scan of the new folder finds the file; either way the photo is linked, never re-analysed.
    dest = lib.watched / "renamed" / "obama-two.jpg"
    dest.parent.mkdir()
    os.rename(renamed, dest)
    expect(lambda: str(dest) in done_paths(lib.db) and str(renamed) not in files(lib.db), 30, 0.1, "moved")
    assert photo_of(lib.db, dest) == before
    assert query(lib.db, "SELECT id, person_id FROM faces WHERE photo_id = ?", before[0]) == faces_before
    for path in (renamed, dest):
        assert not [e for e in lib.daemon.events("photo", path=str(path)) if e["status"] != "linked"]


def test_delete_removes_and_prunes(lib: Lib) -> None:
    victim = lib.watched / "biden.jpg"
    expect(lambda: str(victim) in done_paths(lib.db), 60, 0.2, "biden done")
    pid = files(lib.db)[str(victim)][1]
    victim.unlink()
    expect(lambda: str(victim) not in files(lib.db), 30, 0.1, "row removed")
    # Missing first (issue 22: kept for library.keep_missing_days), then purged: faces and empty people go.
    assert query(lib.db, "SELECT missing_since IS NOT NULL FROM photos WHERE id = ?", pid) == [(1,)]
    from daemon.library import purge
    from daemon.store import Store
    with Store.open(lib.db) as store:
        assert purge.purge(store).purged == 1
    assert query(lib.db, "SELECT count(*) FROM photos WHERE id = ?", pid)[0][0] == 0
    assert query(lib.db, "SELECT count(*) FROM faces WHERE photo_id = ?", pid)[0][0] == 0
    # No person is left without a face.
    assert query(lib.db, "SELECT count(*) FROM people p WHERE NOT EXISTS "
                         "(SELECT 1 FROM faces f WHERE f.person_id = p.id)")[0][0] == 0
    # The row goes in the writer transaction; the line follows once the people manager has forgotten the faces.
    expect(lambda: lib.daemon.events("photo_removed", path=str(victim)), 30, 0.1, "photo_removed logged")


def test_slow_write_is_analysed_once_complete(lib: Lib, tmp_path: Path) -> None:
    data = make_variants([PHOTOS["obama3.jpg"]], tmp_path, 1, seed=7, long_side=600, prefix="slow")[0].read_bytes()
    target = lib.watched / "slow.jpg"
    mark = lib.daemon.mark()
    chunks = [data[i:i + len(data) // 20 + 1] for i in range(0, len(data), len(data) // 20 + 1)]
    with open(target, "wb") as f:
        for chunk in chunks:  # ~2 s in 20 writes, well below settle_seconds apart
            f.write(chunk)
            f.flush()
            time.sleep(0.1)
    expect(lambda: str(target) in done_paths(lib.db), 60, 0.1, "slow file done")
    size = query(lib.db, "SELECT size FROM files WHERE path = ?", os.fsencode(str(target)))[0][0]
    assert size == len(data)
    # A later close or modify event must not analyse it again: wait for the queue to go idle after the
    # photo's own line. (Marking the log only after the row is visible raced with the final idle status line,
    # which can be written between the commit and the mark; the daemon then stays idle and writes no more.)
    expect(lambda: lib.daemon.events("photo", path=str(target), after=mark), 30, 0.1, "photo line")
    done_at = next(i for i, e in enumerate(lib.daemon.log_records())
                   if i >= mark and e.get("event") == "photo" and e.get("path") == str(target))
    expect(lambda: lib.daemon.events("status", queued=0, after=done_at), 30, 0.2, "idle status")
    lines = lib.daemon.events("photo", path=str(target), after=mark)
    assert [e["status"] for e in lines] == ["analysed"], lines
    assert lines[0]["faces"] == 1


def test_close_after_write_and_stored_state_end_the_settle_wait(tmp_path: Path) -> None:
    # settle_seconds far beyond the expect below: the photo can only be done in time if the close-after-write
    # ends the wait its first event (the create, seen while half the bytes were written) started.
    watched = tmp_path / "photos"
    watched.mkdir()
    d = Daemon(library(tmp_path, [watched], settle_seconds=300)).start(wait_ready=True)
    try:
        data = (FACE_RECOGNITION / "obama.jpg").read_bytes()
        target = watched / "half.jpg"
        with open(target, "wb") as f:
            f.write(data[: len(data) // 2])
            f.flush()
            time.sleep(1.0)  # a slow writer: the create event reaches a worker, which starts waiting
            f.write(data[len(data) // 2:])
        expect(lambda: str(target) in done_paths(d.db), 60, 0.2, "closed file done long before settle_seconds")
        assert query(d.db, "SELECT size FROM files WHERE path = ?", os.fsencode(str(target)))[0][0] == len(data)
        expect(lambda: d.events("photo", path=str(target)), 30, 0.1, "its line")  # the line follows the row
        assert [e["status"] for e in d.events("photo", path=str(target))] == ["analysed"]
        # Events for a file already stored in its current state (chmod: a modify event, never closed) return
        # at once: two of them, one settling and one queued behind it on the path, would otherwise hold both
        # workers for settle_seconds and the next photo with them.
        for mode in (0o640, 0o644):
            os.chmod(target, mode)
            time.sleep(0.5)
        second = watched / "second.jpg"
        shutil.copyfile(FACE_RECOGNITION / "biden.jpg", second)
        expect(lambda: str(second) in done_paths(d.db), 60, 0.2, "next photo done while the first is re-seen")
        assert [e["status"] for e in d.events("photo", path=str(target))] == ["analysed"]
    finally:
        d.teardown()


def test_temp_names_are_ignored_until_renamed(lib: Lib) -> None:
    part = lib.watched / "download.jpg.part"
    shutil.copy(PHOTOS["chelsea.png"], part)  # png bytes under .jpg: content decides, not the name
    hidden = lib.watched / ".hidden.jpg"
    shutil.copy(PHOTOS["astronaut.png"], hidden)
    final = lib.watched / "download.jpg"
    os.rename(part, final)
    expect(lambda: str(final) in done_paths(lib.db), 30, 0.1, "renamed download done")
    assert not any(p.endswith((".part", ".hidden.jpg")) for p in files(lib.db))


def test_two_hundred_files_at_once_all_processed(lib: Lib, tmp_path: Path) -> None:
    staging = tmp_path / "staging"
    variants = make_variants(list(PHOTOS.values()), staging, 200, seed=1)
    burst = lib.watched / "burst"
    t0 = time.monotonic()
    os.rename(staging, burst)  # 200 files appear at once (a folder moved in from outside the roots)
    want = {str(burst / v.name) for v in variants}
    expect(lambda: want <= done_paths(lib.db), 180, 0.5, "200 files done")
    seconds = time.monotonic() - t0
    print(f"\n200 photos (320 px) processed in {seconds:.1f} s ({200 / seconds:.1f} photos/s)")
    # Every one analysed exactly once (distinct bytes, so no links); the last lines follow the last rows.
    def analysed() -> list[str]:
        return [e["path"] for e in lib.daemon.events("photo") if str(e["path"]).startswith(str(burst))]
    expect(lambda: len(analysed()) >= len(want), 30, 0.2, "a line for every photo")
    assert sorted(analysed()) == sorted(want)
    assert lib.daemon.events("status")  # the status line appeared while busy
    status = lib.daemon.events("status")[-1]
    assert {"queued", "done", "failed", "photos_per_s", "eta_s", "people", "last_recluster"} <= status.keys()


def test_overflow_drops_events_then_rescans(lib: Lib, tmp_path: Path) -> None:
    # Copy files one by one (not a folder rename) so each is its own event: 120 > queue_size 40.
    sources = make_variants(list(PHOTOS.values()), tmp_path / "src", 120, seed=2, long_side=200, prefix="o")
    flood = lib.watched / "flood"
    flood.mkdir()
    for s in sources:
        shutil.copy(s, flood / s.name)
    want = {str(flood / s.name) for s in sources}
    expect(lambda: want <= done_paths(lib.db), 180, 0.5, "flood done")
    assert lib.daemon.events("queue_full")
    assert lib.daemon.events("rescan")


def test_daemon_holds_no_network_socket(lib: Lib) -> None:
    socks = process_sockets(lib.daemon.pid)
    assert not socks["inet"] and not socks["netlink"] and not socks["other"], socks


def test_second_daemon_on_the_same_db_exits(lib: Lib) -> None:
    result = subprocess.run([sys.executable, "-m", "daemon.cli.main", "run", "--config", str(lib.config)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"another pictod daemon (pid {lib.daemon.pid}) owns {lib.db}" in result.stderr


def test_missing_root_removes_nothing(lib: Lib) -> None:
    shutil.copy(PHOTOS["astronaut.png"], lib.second / "a1.png")
    shutil.copy(PHOTOS["obama.jpg"], lib.second / "o1.jpg")
    on_drive = {str(lib.second / "a1.png"), str(lib.second / "o1.jpg")}
    expect(lambda: on_drive <= done_paths(lib.db), 60, 0.2, "drive photos done")
    unmounted = lib.base / "drive-unmounted"
    mark = lib.daemon.mark()
    os.rename(lib.second, unmounted)  # what an unmount looks like from inside: the root is gone
    expect(lambda: lib.daemon.events("watched_root_missing", root=str(lib.second)), 30, 0.1, "root missing")
    # Give the daemon time to do the wrong thing: a new photo elsewhere is processed after the root went.
    shutil.copy(PHOTOS["chelsea.png"], lib.watched / "while-unmounted.png")
    expect(lambda: str(lib.watched / "while-unmounted.png") in done_paths(lib.db), 30, 0.1, "still working")
    assert lib.daemon.events("watched_root_missing", after=mark)
    assert on_drive <= done_paths(lib.db)
    assert not [e for e in lib.daemon.events("photo_removed") if str(e["path"]).startswith(str(lib.second))]
    os.rename(unmounted, lib.second)  # remounted
    expect(lambda: lib.daemon.events("watched_root_back", root=str(lib.second)), 30, 0.2, "root back")
    shutil.copy(PHOTOS["chelsea.png"], lib.second / "c1.png")
    expect(lambda: str(lib.second / "c1.png") in done_paths(lib.db), 30, 0.2, "watching again")
    assert on_drive <= done_paths(lib.db)


def test_sigterm_during_work_exits_zero_with_consistent_db(lib: Lib, tmp_path: Path) -> None:
    batch = make_variants(list(PHOTOS.values()), tmp_path / "late", 40, seed=3, prefix="late")
    late = lib.watched / "late"
    os.rename(tmp_path / "late", late)
    expect(lambda: any(str(e["path"]).startswith(str(late)) for e in lib.daemon.events("photo")), 60, 0.05,
           "work started")
    t0 = time.monotonic()
    lib.daemon.signal(signal.SIGTERM)
    code = lib.daemon.wait(timeout=60)
    assert code == 0, lib.daemon.tail()
    print(f"\nSIGTERM to exit: {time.monotonic() - t0:.2f} s")
    assert integrity(lib.db) == "ok"
    assert query(lib.db, "SELECT count(*) FROM files WHERE status = 'pending'")[0][0] == 0
    assert query(lib.db, "SELECT count(*) FROM photos p WHERE missing_since IS NULL AND NOT EXISTS "
                         "(SELECT 1 FROM files f WHERE f.photo_id = p.id)")[0][0] == 0
    assert lib.daemon.events("daemon_stopped")
    # sd_notify: READY first (after nothing but STATUS), WATCHDOG pings in between, STOPPING at the end.
    expect(lambda: any(m.startswith("STOPPING=1") for m in lib.notify.messages), 30, 0.05, "STOPPING")
    msgs = lib.notify.messages
    ready = next(i for i, m in enumerate(msgs) if "READY=1" in m)
    stopping = next(i for i, m in enumerate(msgs) if m.startswith("STOPPING=1"))
    assert all(m.startswith("STATUS=") for m in msgs[:ready])
    assert "WATCHDOG=1" in msgs[ready + 1:stopping]
    assert "WATCHDOG=1" not in msgs[:ready]
    assert stopping == max(i for i, m in enumerate(msgs) if not m.startswith("STATUS="))
    # Restarting finds the rest of the batch and finishes it.
    lib.daemon.start(wait_ready=True)
    want = {str(late / b.name) for b in batch}
    expect(lambda: want <= done_paths(lib.db), 120, 0.5, "rest of the batch after restart")
    assert lib.daemon.stop() == 0


def test_sigkill_then_restart_processes_every_photo_once(tmp_path: Path) -> None:
    watched = tmp_path / "photos"
    make_variants(list(PHOTOS.values()), watched, 30, seed=4, prefix="k")
    d = Daemon(library(tmp_path, [watched])).start(wait_ready=True)
    try:
        expect(lambda: len(d.events("photo")) >= 8, 120, 0.05, "some photos done")
        d.kill()
        # What the first process committed, from the library: a photo's line follows its row, so one killed
        # between the two is committed without a line (and rightly not analysed again after the restart).
        first = done_paths(d.db)
        d.start(wait_ready=True)
        want = {str(p) for p in watched.iterdir()}
        expect(lambda: want <= done_paths(d.db), 120, 0.3, "all done after restart")
        again = {e["path"] for e in d.events("photo") if e.get("status") == "analysed"}
        assert not (first & again), "a committed photo was analysed a second time"
        assert first | again == want
        assert d.stop() == 0
    finally:
        d.teardown()
    assert integrity(d.db) == "ok"
    rows = query(d.db, "SELECT path, count(*) FROM files GROUP BY path HAVING count(*) > 1")
    assert rows == []
    assert query(d.db, "SELECT count(*) FROM photos")[0][0] == 30
    assert query(d.db, "SELECT count(*) FROM files WHERE status != 'done'")[0][0] == 0


def test_missing_root_at_start_removes_nothing(tmp_path: Path) -> None:
    watched = tmp_path / "mnt" / "photos"
    watched.mkdir(parents=True)
    shutil.copy(PHOTOS["chelsea.png"], watched / "cat.png")
    d = Daemon(library(tmp_path, [watched])).start(wait_ready=True)
    try:
        expect(lambda: str(watched / "cat.png") in done_paths(d.db), 60, 0.2, "cat done")
        assert d.stop() == 0
        os.rename(tmp_path / "mnt", tmp_path / "mnt-away")  # the drive is not mounted at the next start
        d.start(wait_ready=True)  # the library knows files there: an unmounted drive, not a typo, so the daemon starts
        expect(lambda: d.events("watched_root_missing", root=str(watched)), 30, 0.1, "missing at start")
        assert d.proc is not None and d.proc.poll() is None  # waits for it, does not exit
        assert str(watched / "cat.png") in done_paths(d.db)
        os.rename(tmp_path / "mnt-away", tmp_path / "mnt")
        expect(lambda: d.events("reconcile", root=str(watched)), 30, 0.2, "reconciled when back")
        assert str(watched / "cat.png") in done_paths(d.db)
        assert d.stop() == 0
    finally:
        d.teardown()


def cli(config: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args, "--config", str(config)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def test_status_reports_the_running_daemon(lib: Lib) -> None:
    if lib.daemon.proc is None or lib.daemon.proc.poll() is not None:
        lib.daemon.start(wait_ready=True)
    result = cli(lib.config, "status", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["daemon_running"] is True and report["daemon_pid"] == lib.daemon.pid
    assert lib.daemon.stop() == 0
    report = json.loads(cli(lib.config, "status", "--json").stdout)
    assert report["daemon_running"] is False and report["daemon_pid"] is None


def test_scan_processes_everything_then_exits(tmp_path: Path) -> None:
    watched = tmp_path / "photos"
    (watched / "sub").mkdir(parents=True)
    for name in ("astronaut.png", "obama.jpg", "obama3.jpg"):
        shutil.copy(PHOTOS[name], watched / name)
    shutil.copy(PHOTOS["obama2.jpg"], watched / "sub" / "obama2.jpg")
    shutil.copy(PHOTOS["obama.jpg"], watched / "sub" / "copy-of-obama.jpg")  # same bytes: linked
    (watched / "broken.jpg").write_bytes(PHOTOS["obama.jpg"].read_bytes()[:600])  # truncated JPEG
    layout = library(tmp_path, [watched])
    config, db = layout.config, layout.database
    result = cli(config, "scan", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    assert (summary["analysed"], summary["linked"], summary["failed"]) == (4, 1, 1), summary
    rows = files(db)
    assert len(rows) == 6 and sum(1 for s, _ in rows.values() if s == "done") == 5
    assert query(db, "SELECT reason FROM files WHERE status = 'failed'")[0][0]
    # The final recluster ran: the Obama photos share a person.
    people = query(db, "SELECT DISTINCT person_id FROM faces f JOIN files fi ON fi.photo_id = f.photo_id "
                       "WHERE CAST(fi.path AS TEXT) LIKE '%obama%'")
    assert len(people) == 1 and people[0][0] is not None
    again = json.loads(cli(config, "scan", "--json").stdout)
    assert (again["analysed"], again["linked"], again["failed"], again["unchanged"]) == (0, 0, 0, 6), again
    # `pictod scan PATH` limits the work to that folder.
    shutil.copy(PHOTOS["chelsea.png"], watched / "sub" / "cat.png")
    only = json.loads(cli(config, "scan", "--json", str(watched / "sub")).stdout)
    assert (only["analysed"], only["unchanged"]) == (1, 2), only


def test_second_signal_exits_at_once(tmp_path: Path) -> None:
    watched = tmp_path / "photos"
    # Large photos keep the workers busy long enough for the second signal to land during the shutdown.
    make_variants(list(PHOTOS.values()), watched, 12, seed=5, long_side=2400, prefix="big")
    d = Daemon(library(tmp_path, [watched], shutdown_timeout=60)).start(wait_ready=True)
    try:
        expect(lambda: d.events("photo"), 120, 0.02, "first photo")
        d.signal(signal.SIGTERM)
        expect(lambda: d.events("shutdown_requested"), 30, 0.01, "first signal handled")
        finished_first = bool(d.events("daemon_stopped"))
        d.signal(signal.SIGINT)
        code = d.wait(timeout=30)
    finally:
        d.teardown()
    if finished_first:
        pytest.skip("the graceful shutdown finished before the second signal was sent")
    assert code == 128 + signal.SIGINT
    assert not d.events("daemon_stopped")
    assert integrity(d.db) == "ok"  # killed mid-work: SQLite's journal keeps the file consistent


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_library_file_lost_under_the_daemon_exits_74(tmp_path: Path, how: str) -> None:
    """Issue 10: `rm library.db*` under a running daemon went unnoticed (photos logged analysed, exit 0, every
    commit into the unlinked file). Deleted: the status tick is made long, so the per-photo check must catch
    it; replaced: no photo arrives, so the status tick must."""
    watched = tmp_path / "photos"
    watched.mkdir()
    shutil.copy(PHOTOS["chelsea.png"], watched / "before.png")
    layout = library(tmp_path, [watched], status_interval=600.0 if how == "deleted" else 1.0)
    d = Daemon(layout).start(wait_ready=True)
    try:
        expect(lambda: str(watched / "before.png") in done_paths(d.db), 60, 0.2, "first photo")
        if how == "deleted":
            for path in d.db.parent.glob(d.db.name + "*"):  # library.db, -wal, -shm (and the lock file)
                path.unlink()
            shutil.copy(PHOTOS["astronaut.png"], watched / "after.png")
        else:
            other = tmp_path / "other.db"
            con = sqlite3.connect(other)
            con.execute("CREATE TABLE t (x)")
            con.close()
            os.replace(other, d.db)
        code = d.wait(timeout=120)
    finally:
        d.teardown()
    assert code == 74, d.tail()
    what = "deleted or moved away" if how == "deleted" else "replaced by another file"
    message = f"the library file {d.db} was {what} while the daemon was running"
    assert f"pictod: {message}" in d.stderr()
    assert any(message in str(e.get("error")) for e in d.events("fatal_error"))
    assert not analysed_lines(d, watched / "after.png")
