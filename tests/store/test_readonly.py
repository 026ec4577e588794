"""Read-only stores (issue 10): no migration, no writer, never a created or modified file, on a library at rest,
one another process holds open (a running daemon), one a killed process left, and one of an older schema."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from people_synth import analysis, content_hash, face_vectors, identities
from test_migrations import _build_v1

from daemon.config import ClusteringConfig
from daemon.errors import StoreError
from daemon.people.manager import PeopleManager
from daemon.store import Store, migrations

SIDE = ("", "-wal", "-shm", "-journal")


def files(path: Path) -> dict[str, str | None]:
    """sha256 of the database and each side file (None: absent), and the folder's listing."""
    state: dict[str, str | None] = {s: hashlib.sha256((path.parent / (path.name + s)).read_bytes()).hexdigest()
                                    if (path.parent / (path.name + s)).exists() else None for s in SIDE}
    state["listing"] = " ".join(sorted(p.name for p in path.parent.iterdir()))
    return state


def build_current(path: Path) -> None:
    """A current library: two people, one named, photos with tags, one recluster done; then closed (at rest)."""
    centres = identities(2, seed=31)
    rng = np.random.default_rng(31)
    with Store.open(path) as store:
        manager = PeopleManager(store, ClusteringConfig())
        for i in range(8):
            result = store.record_analysis(f"/lib/{i}.jpg", 1, 1, content_hash(("ro", i)), analysis(
                face_vectors(centres, np.array([i % 2]), rng), tags=("dog",) if i % 2 else ("cat",)))
            manager.on_photo_added(result)
        manager.recluster()
        person = store.read(lambda c: c.execute("SELECT min(id) FROM people").fetchone()[0])
        store.write(lambda c: c.execute("UPDATE people SET name = 'Ada' WHERE id = ?", (person,)))


HOLDER = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA journal_mode = WAL")
conn.execute("PRAGMA wal_autocheckpoint = 0")
conn.execute("INSERT INTO state (key, value) VALUES ('holder', 'was here')")
print("ready", flush=True)
time.sleep(600)
"""


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A current library another process holds open with a committed write still in its WAL (a daemon)."""
    path = tmp_path / "library.db"
    build_current(path)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    yield path, holder
    holder.kill()
    holder.wait()


def _state(store: Store) -> str | None:
    row = store.read(lambda c: c.execute("SELECT value FROM state WHERE key = 'holder'").fetchone())
    return None if row is None else str(row[0])


def test_at_rest_library_is_read_without_creating_a_file(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    build_current(path)
    before = files(path)
    assert before["-wal"] is None and before["-shm"] is None
    with Store.open(path, read_only=True) as store:
        assert store.read_only and store.status_counts().photos == 8
        with pytest.raises(StoreError, match="read-only"):
            store.write(lambda c: c.execute("DELETE FROM files"))
    assert files(path) == before


def test_library_held_open_by_another_process_is_read_through_its_wal_untouched(
        held: tuple[Path, subprocess.Popen[str]]) -> None:
    path, holder = held
    before = files(path)
    assert before["-wal"] is not None and before["-shm"] is not None
    with Store.open(path, read_only=True) as store:
        assert _state(store) == "was here"  # committed, still only in the other process's WAL
    assert files(path) == before
    # The holder is killed: its -wal and -shm stay behind; a reader still reads them and changes nothing.
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    before = files(path)
    with Store.open(path, read_only=True) as store:
        assert _state(store) == "was here"
    assert files(path) == before


def test_a_wal_without_its_index_is_refused_clearly_and_left_alone(held: tuple[Path, subprocess.Popen[str]]) -> None:
    path, holder = held
    holder.kill()
    holder.wait()
    (path.parent / (path.name + "-shm")).unlink()
    before = files(path)
    with pytest.raises(StoreError, match=r"no -shm index.*start the daemon"):
        Store.open(path, read_only=True)
    assert files(path) == before


def test_missing_and_newer_libraries_are_refused_without_a_file_made(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no library at"):
        Store.open(tmp_path / "none.db", read_only=True)
    assert list(tmp_path.iterdir()) == []
    path = tmp_path / "library.db"
    build_current(path)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    before = files(path)
    with pytest.raises(StoreError, match=r"newer than this pictod.*upgrade pictod"):
        Store.open(path, read_only=True)
    assert files(path) == before


def test_a_writer_starting_during_an_at_rest_read_makes_the_read_retry(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    build_current(path)
    calls: list[int] = []

    def task(conn: sqlite3.Connection) -> int:
        if not calls:  # another writer comes and goes under the first attempt (and checkpoints into the file)
            other = sqlite3.connect(path, isolation_level=None)
            other.execute("INSERT INTO state (key, value) VALUES ('late', '1')")
            other.close()
        calls.append(1)
        return int(conn.execute("SELECT count(*) FROM state WHERE key = 'late'").fetchone()[0])

    with Store.open(path, read_only=True) as store:
        assert store.read(task) == 1
    assert len(calls) == 2


def _pictod(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args, "--config", str(config)],
                          capture_output=True, text=True, timeout=120)


READERS = (("status", "--json"), ("people", "--json"), ("people", "show", "1", "--json"),
           ("photos", "--tag", "dog", "--json"), ("tags", "--json"))


@pytest.mark.parametrize("kind", ["v1", "current", "held"])
def test_read_only_commands_leave_the_library_byte_for_byte_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "lib" / "library.db"
    path.parent.mkdir()
    holder = None
    if kind == "v1":
        _build_v1(path)
    else:
        build_current(path)
    if kind == "held":
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    config = tmp_path / "config.toml"
    config.write_text(f'[library]\nfolders = ["{tmp_path}"]\ndatabase = "{path}"\n')
    try:
        before = files(path)
        results = {args: _pictod(config, *args) for args in READERS}
        after = files(path)
    finally:
        if holder is not None:
            holder.kill()
            holder.wait()
    assert after == before, kind
    for args, result in results.items():
        if kind == "v1" and args[:2] == ("people", "show"):
            # v1 has no corrections table: the command says what to do instead of migrating
            assert result.returncode == 74 and "older than this pictod" in result.stderr, result.stderr
            continue
        assert result.returncode == (3 if args[0] == "status" else 0), (args, result.stderr)
        json.loads(result.stdout)
    status = json.loads(results[READERS[0]].stdout)
    assert status["photos"] == (1 if kind == "v1" else 8)
    people = json.loads(results[READERS[1]].stdout)
    names = [p["name"] for p in people]
    assert names == ["Ada", None] if kind == "v1" else sorted(names, key=str) == ["Ada", None]
    if kind != "v1":
        assert len(json.loads(results[READERS[3]].stdout)) == 4
    assert os.access(path, os.R_OK)
