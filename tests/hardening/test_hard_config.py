"""Every invalid config.toml stops `pictod run` at start: one stderr line naming the problem, a non-zero exit.

Exit codes (daemon/cli/main.py): 78 configuration or model error, 74 database error. A bad config must never leave
a daemon running, a database created, or a half-started watcher behind; a database that is not pictod's (garbage,
truncated, from a newer pictod) is refused and left byte-for-byte as it was.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from harness import REPO, Daemon, Layout, write_config


def _copied_models(base: Path, *, sha: str | None = None, flip_byte: bool = False) -> Path:
    """A copy of the yunet descriptor and model in base/models; optionally a wrong sha256 or a damaged model."""
    folder = base / "models_copy"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "face_detection_yunet_2023mar.onnx"
    shutil.copyfile(REPO / "models" / model.name, model)
    if flip_byte:
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
    text = (REPO / "models" / "yunet.toml").read_text(encoding="utf-8")
    if sha is not None:
        old = next(line for line in text.splitlines() if line.startswith("sha256"))
        text = text.replace(old, f'sha256 = "{sha}"')
    descriptor = folder / "yunet.toml"
    descriptor.write_text(text, encoding="utf-8")
    return descriptor


def _case(name: str, tmp: Path) -> tuple[Layout, str, int]:
    """Write the invalid config `name`; returns the layout, a text the error line must contain, the exit code."""
    base = tmp / name
    good = write_config(base)
    sections: dict[str, dict[str, Any]] = {}
    expect_text, code = "", 78
    if name == "unknown_key":
        sections = {"daemon": {"workerz": 2}}
        expect_text = "daemon.workerz"
    elif name == "unknown_section":
        sections = {"deamon": {"workers": 2}}
        expect_text = "deamon"
    elif name == "wrong_type_string":
        sections = {"daemon": {"workers": "two"}}
        expect_text = "daemon.workers"
    elif name == "wrong_type_bool":
        sections = {"daemon": {"queue_size": True}}
        expect_text = "daemon.queue_size"
    elif name == "wrong_type_list":
        sections = {"library": {"folders": str(good.root)}}
        expect_text = "library.folders"
    elif name == "out_of_range":
        sections = {"daemon": {"workers": 0}}
        expect_text = "daemon.workers"
    elif name == "bad_choice":
        sections = {"log": {"level": "loud"}}
        expect_text = "log.level"
    elif name == "missing_folder":
        sections = {"library": {"folders": [str(base / "not_there")]}}
        expect_text = str(base / "not_there")
    elif name == "folder_is_a_file":
        (base / "a_file").write_text("x")
        sections = {"library": {"folders": [str(base / "a_file")]}}
        expect_text = str(base / "a_file")
    elif name == "model_descriptor_missing":
        sections = {"models": {"faces": str(base / "nope.toml")}}
        expect_text = str(base / "nope.toml")
    elif name == "model_descriptor_unreadable":
        (base / "dir.toml").mkdir()  # a directory: unreadable as a file even for root
        sections = {"models": {"faces": str(base / "dir.toml")}}
        expect_text = str(base / "dir.toml")
    elif name == "model_descriptor_not_toml":
        (base / "garbage.toml").write_bytes(b"\x00\xff not toml [[[")
        sections = {"models": {"faces": str(base / "garbage.toml")}}
        expect_text = str(base / "garbage.toml")
    elif name == "model_wrong_sha256":
        descriptor = _copied_models(base, sha="0" * 64)
        sections = {"models": {"faces": str(descriptor)}}
        expect_text = "face_detection_yunet_2023mar.onnx"
    elif name == "model_file_damaged":
        descriptor = _copied_models(base, flip_byte=True)
        sections = {"models": {"faces": str(descriptor)}}
        expect_text = "face_detection_yunet_2023mar.onnx"
    elif name == "database_not_creatable":
        (base / "blocker").write_text("a file where a folder should be")
        sections = {"library": {"database": str(base / "blocker" / "library.db")}}
        expect_text, code = str(base / "blocker"), 74
    elif name in ("database_garbage", "database_truncated", "database_newer_schema"):
        db = base / "state" / "library.db"
        db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        if name == "database_garbage":
            db.write_bytes(b"these are my holiday notes, not a database\n" * 100)
        else:
            conn = sqlite3.connect(db)
            conn.execute("CREATE TABLE t (x)")
            conn.executemany("INSERT INTO t VALUES (?)", [(os.urandom(500),) for _ in range(200)])
            conn.execute("PRAGMA user_version = 99")
            conn.commit()
            conn.close()
            if name == "database_truncated":
                data = db.read_bytes()
                db.write_bytes(data[: len(data) // 2 + 100])
        expect_text, code = str(db), 74
    layout = write_config(base, sections=sections)
    if name == "invalid_toml":
        layout.config.write_text(layout.config.read_text() + "\n[daemon\nworkers = = 2\n")
        expect_text = "TOML"
    elif name == "config_missing":
        layout.config.unlink()
        expect_text = str(layout.config)
    return layout, expect_text, code


CASES = [
    "unknown_key", "unknown_section", "wrong_type_string", "wrong_type_bool", "wrong_type_list", "out_of_range",
    "bad_choice", "missing_folder", "folder_is_a_file", "invalid_toml", "config_missing",
    "model_descriptor_missing", "model_descriptor_unreadable", "model_descriptor_not_toml", "model_wrong_sha256",
    "model_file_damaged", "database_not_creatable", "database_garbage", "database_truncated",
    "database_newer_schema",
]


@pytest.mark.parametrize("name", CASES)
def test_invalid_config_fails_at_start(name: str, tmp_path: Path, daemons: Callable[..., Daemon]) -> None:
    layout, needle, code = _case(name, tmp_path)
    before = layout.database.read_bytes() if layout.database.exists() else b""
    d = daemons(layout)
    rc = d.wait(90)
    lines = d.stderr_lines()
    assert rc == code, f"{name}: exit {rc}, expected {code}\n{d.tail()}"
    assert len(lines) == 1, f"{name}: expected one stderr line, got {lines}"
    assert needle in lines[0], f"{name}: {lines[0]!r} does not name {needle!r}"
    assert lines[0].startswith("pictod: ")
    if name == "database_newer_schema":
        # Refused with its schema version and rows as they were (opening it did switch the journal to WAL, which
        # rewrites the header: a minor liberty with a database pictod says it does not understand).
        conn = sqlite3.connect(f"{layout.database.resolve().as_uri()}?mode=ro", uri=True)
        try:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
            assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 200
            assert {r[0] for r in conn.execute("SELECT name FROM sqlite_master")} == {"t"}
        finally:
            conn.close()
    elif name.startswith("database_") and name != "database_not_creatable":
        assert layout.database.read_bytes() == before, f"{name}: the refused database file was modified"
    elif name != "database_not_creatable":
        assert not layout.database.exists(), f"{name}: a bad config created the database"
