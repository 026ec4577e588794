"""Issue 22 defect 3: a library file that cannot be what it claims is refused, never recreated over. A zero-byte
file was taken for a new empty library (readers said "schema version 0 ... start the daemon to upgrade it" and
the daemon then analysed everything again with every correction gone). Each case, for a reader (`status`) and a
writer (`recluster`): exit 74, a message naming the file and what to do, the file left byte for byte."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_library import pictod
from harness import write_config

from daemon.store import Store, migrations


def _zero(path: Path) -> None:
    path.write_bytes(b"")


def _not_sqlite(path: Path) -> None:
    path.write_bytes(b"\xff\xd8\xff\xe0 a JPEG saved over the library " * 20)


def _newer(path: Path) -> None:
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 5}")
    conn.close()


def _foreign(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.execute("INSERT INTO contacts VALUES ('not a photo library')")
    conn.commit()
    conn.close()


CASES = {
    "zero bytes": (_zero, "empty file (0 bytes)"),
    "wrong header": (_not_sqlite, "not an SQLite file"),
    "newer schema": (_newer, "newer than this pictod"),
    "another program's database": (_foreign, "another program"),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("command", [("status", "--json"), ("recluster",), ("people",)])
def test_a_library_that_is_not_one_is_refused_and_left_alone(tmp_path: Path, case: str,
                                                              command: tuple[str, ...]) -> None:
    make, says = CASES[case]
    layout = write_config(tmp_path / "lib")
    layout.database.parent.mkdir(parents=True, exist_ok=True)
    make(layout.database)
    before = layout.database.read_bytes()
    side = sorted(p.name for p in layout.database.parent.iterdir())
    done = pictod(*command, "--config", str(layout.config))
    assert done.returncode == 74, (done.returncode, done.stdout, done.stderr)
    assert str(layout.database) in done.stderr and says in done.stderr, done.stderr
    assert layout.database.read_bytes() == before
    assert sorted(p.name for p in layout.database.parent.iterdir()) == side  # no -wal, -shm, nothing new


def test_the_daemon_refuses_a_zero_byte_library_before_analysing_anything(tmp_path: Path) -> None:
    layout = write_config(tmp_path / "lib")
    layout.database.parent.mkdir(parents=True, exist_ok=True)
    layout.database.write_bytes(b"")
    done = pictod("scan", "--config", str(layout.config))
    assert done.returncode == 74 and "0 bytes" in done.stderr and "backup" in done.stderr, done.stderr
    assert layout.database.stat().st_size == 0
