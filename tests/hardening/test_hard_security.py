"""Security: no network sockets, one escaped JSON line per log record, private files, sha256-checked models.

(SQL parameterisation is proven by the `x'); DROP TABLE photos;--.jpg` photo in test_hard_names.py, and the
model sha256 check by the wrong-sha256 and damaged-model cases in test_hard_config.py.)
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from collections.abc import Callable
from pathlib import Path

from hardening_harness import hostile, log_key, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, write_config
from pictod_testdata import FACE_RECOGNITION, SKIMAGE


def test_no_network_sockets(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    photos = [layout.root / "astronaut.png", layout.root / "obama.jpg"]
    shutil.copyfile(SKIMAGE / "astronaut.png", photos[0])
    shutil.copyfile(FACE_RECOGNITION / "obama.jpg", photos[1])
    photos += hostile.write_tiny_jpegs(layout.root, 10, start=90_000)
    seen: dict[str, set[int]] = {"inet": set(), "other": set(), "unix": set(), "netlink": set()}
    deadline = time.monotonic() + 120
    # Sample while the models run (a library might phone home on first inference) and after.
    while time.monotonic() < deadline:
        for kind, inodes in d.sockets().items():
            seen[kind].update(inodes)
        files = db.files() if db.exists() and "files" in db.tables() else {}
        if all(files.get(path_key(p), ("",))[0] in ("done", "failed") for p in photos):
            break
        time.sleep(0.2)
    wait_settled(db, photos, 10, daemon=d)
    for _ in range(5):
        for kind, inodes in d.sockets().items():
            seen[kind].update(inodes)
        time.sleep(0.2)
    assert seen["inet"] == set(), f"network sockets opened: {seen}"
    assert seen["other"] == set(), f"sockets of an unknown family (e.g. an unbound AF_INET): {seen}"
    d.stop_clean()


def test_log_lines_escape_control_characters(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    names = [b"evil\nname.jpg", b"esc\x1b[2Jclear.jpg", b"cr\rover.jpg", b"bad\xffbyte.jpg"]
    paths = [hostile.write_tiny_jpeg(os.path.join(os.fsencode(layout.root), n), 91_000 + i)
             for i, n in enumerate(names)]
    # And one that fails, so the failure line (with its error text) is covered too.
    broken = os.path.join(os.fsencode(layout.root), b"broken\n\x1b[31m.jpg")
    with open(broken, "wb") as f:
        f.write(b"not a photo\nat all\n")
    wait_settled(db, [*paths, broken], 60, daemon=d)
    d.stop_clean()
    raw = layout.log.read_bytes()
    assert b"\x1b" not in raw and b"\r" not in raw, "raw control characters reached the log"
    records = d.log_records(current=False)  # fails if any line is not exactly one JSON object
    logged = [r.get("path") for r in d.photo_lines(current=False)]
    for p in [*paths, broken]:
        assert log_key(p) in logged, (log_key(p), logged)
    assert all("\n" not in str(v) for r in records for v in r.values())


def _mode(path: os.PathLike[str] | str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_private_files_even_with_umask_zero(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    layout = write_config(tmp_path / "private", database=tmp_path / "private" / "state" / "deeper" / "library.db")
    assert not (layout.base / "state").exists() and not layout.log.parent.exists()
    d = daemons(layout, umask=0).wait_ready()
    db = LibraryDB(layout.database)
    photo = layout.root / "one.jpg"
    hostile.write_tiny_jpeg(photo, 92_000)
    wait_settled(db, [photo], 60, daemon=d)
    created = [layout.base / "state", layout.base / "state" / "deeper", layout.log.parent]
    files = [*(layout.base / "state" / "deeper").iterdir(), layout.log]
    assert any(p.name.endswith("-wal") for p in files), [p.name for p in files]
    bad = {str(p): oct(_mode(p)) for p in created if _mode(p) != 0o700}
    bad |= {str(p): oct(_mode(p)) for p in files if _mode(p) & 0o077}
    d.stop_clean()
    assert bad == {}, f"not private (dirs 0700, files 0600): {bad}"
