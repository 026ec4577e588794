"""Issue 22, odd files and odd arguments, through real scans of real photos: times SQLite cannot hold
(defect 4), other bytes of the same size and mtime (defect 8), a known photo replaced by a link out of the
watched folders (defect 9), and `scan` / `photos` arguments that exited 0 or said the wrong thing (defect 10)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from cli_library import pictod
from harness import Layout, query, write_config
from pictod_testdata import JOHNS, SKIMAGE

# Year 2300 (past 2262-04-11, the last ns an SQLite INTEGER holds), year 2446 (the last second ext4 keeps) and
# 1901 (the first).
ODD_MTIMES_NS = (10_400_000_000 * 10**9, 15_032_385_535 * 10**9, -2_147_483_648 * 10**9)


def scan(layout: Layout, *paths: str, code: int = 0) -> Any:
    done = pictod("scan", *paths, "--config", str(layout.config), "--json")
    assert done.returncode == code, (done.returncode, done.stderr)
    return json.loads(done.stdout) if code == 0 else done.stderr


def crops(n: int) -> list[Path]:
    return sorted((JOHNS / "John_Simm").glob("*.jpg"))[:n]


def test_mtimes_beyond_what_sqlite_holds_are_stored_and_seen_unchanged(tmp_path: Path) -> None:
    """Defect 4: an mtime after 2262 crashed every start (OverflowError in the file upsert, exit 1)."""
    layout = write_config(tmp_path / "lib")
    for crop, mtime in zip(crops(3), ODD_MTIMES_NS, strict=True):
        target = layout.root / crop.name
        shutil.copy(crop, target)
        os.utime(target, ns=(mtime, mtime))
    assert scan(layout)["analysed"] == 3
    again = scan(layout)
    assert (again["analysed"], again["linked"], again["unchanged"]) == (0, 0, 3), again
    photos = pictod("photos", "--config", str(layout.config), "--json")
    assert photos.returncode == 0 and len(json.loads(photos.stdout)) == 3, photos.stderr


def test_other_bytes_of_the_same_size_and_mtime_are_analysed_again(tmp_path: Path) -> None:
    """Defect 8: a photo replaced while the daemon was stopped by other bytes of the same size and mtime kept
    its old analysis; the inode and ctime now tell the files apart."""
    layout = write_config(tmp_path / "lib")
    small, big = sorted(crops(2), key=lambda p: p.stat().st_size)
    target = layout.root / "photo.jpg"
    shutil.copy(big, target)
    assert scan(layout)["analysed"] == 1
    before = query(layout.database, "SELECT content_hash FROM photos")
    st = target.stat()
    replacement = tmp_path / "replacement.jpg"
    # JPEG readers stop at the end-of-image marker: the smaller crop padded to the same size is a valid photo.
    replacement.write_bytes(small.read_bytes().ljust(st.st_size, b"\0"))
    os.replace(replacement, target)
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    again = scan(layout)
    assert (again["analysed"], again["unchanged"]) == (1, 0), again
    assert query(layout.database, "SELECT content_hash FROM photos WHERE missing_since IS NULL") != before


def test_a_known_photo_replaced_by_a_link_out_of_the_folders_is_not_read_through_it(tmp_path: Path) -> None:
    """Defect 9: `pictod failed` showed the first bytes of the system password file for such a link."""
    layout = write_config(tmp_path / "lib")
    target = layout.root / "photo.jpg"
    shutil.copy(crops(1)[0], target)
    assert scan(layout)["analysed"] == 1
    secret = tmp_path / "outside" / "secret.jpg"
    secret.parent.mkdir()
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    target.unlink()
    target.symlink_to(secret)
    again = scan(layout)
    assert again["removed"] == 1 and again["failed"] == 0, again
    assert query(layout.database, "SELECT count(*) FROM files")[0][0] == 0
    failed = pictod("failed", "--config", str(layout.config))
    assert "root:x" not in failed.stdout + failed.stderr and "no failed files" in failed.stdout
    log = layout.log.read_text(errors="replace")
    assert "root:x" not in log


def test_scan_of_a_path_that_is_not_there_or_a_file_outside_the_folders_fails_clearly(tmp_path: Path) -> None:
    """Defect 10: `scan /nonexistent` and `scan photo.jpg` exited 0 with the error only in the log."""
    layout = write_config(tmp_path / "lib")
    err = scan(layout, str(tmp_path / "nonexistent"), code=2)
    assert "no such file or folder" in err and "nonexistent" in err
    outside = tmp_path / "outside.jpg"
    shutil.copy(crops(1)[0], outside)
    err = scan(layout, str(outside), code=2)
    assert "outside the watched folders" in err and str(layout.root) in err
    inside = layout.root / "inside.jpg"
    shutil.copy(crops(1)[0], inside)
    assert scan(layout, str(inside))["analysed"] == 1
    assert list(query(layout.database, "SELECT count(*) FROM files WHERE status = 'done'")[0]) == [1]


def test_photos_since_the_last_year_and_impossible_dates(tmp_path: Path) -> None:
    """Defect 10: `photos --since 9999` said "not a date"."""
    layout = write_config(tmp_path / "lib")
    shutil.copy(SKIMAGE / "chelsea.png", layout.root / "chelsea.png")
    scan(layout)
    late = pictod("photos", "--since", "9999", "--config", str(layout.config), "--json")
    assert late.returncode == 0 and json.loads(late.stdout) == [], late.stderr
    early = pictod("photos", "--until", "9999", "--config", str(layout.config), "--json")
    assert early.returncode == 0 and len(json.loads(early.stdout)) == 1, early.stderr
    bad = pictod("photos", "--since", "2020-13", "--config", str(layout.config))
    assert bad.returncode == 2 and "month must be in 1..12" in bad.stderr, bad.stderr
