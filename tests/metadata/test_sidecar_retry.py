"""Issue 22, item 5: a sidecar that cannot be written (a read-only folder: a real read-only bind mount) is retried
with backoff for as long as its photo stays dirty, by the running daemon and after a restart; `status` shows the
dirty count and the last error meanwhile, and the name reaches the sidecar once the folder is writable again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Daemon, expect, query, write_config
from pictod_testdata import FACE_RECOGNITION, REPO
from xmp_tools import exiftool_json

from daemon.library import corrections
from daemon.store import Store


def _mount(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["mount", *args], capture_output=True, text=True, check=False)


@pytest.fixture
def read_only_photos(tmp_path: Path) -> Iterator[Path]:
    """A folder of one photo, bind-mounted read-only onto itself (remounted rw/ro by the test)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(FACE_RECOGNITION / "obama.jpg", photos / "obama.jpg")
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root")
    done = _mount("--bind", str(photos), str(photos))
    if done.returncode != 0:
        pytest.skip(f"mount refused on this machine: {done.stderr.strip()}")
    try:
        assert _mount("-o", "remount,bind,ro", str(photos)).returncode == 0
        yield photos
    finally:
        subprocess.run(["umount", "-l", str(photos)], capture_output=True, check=False)


def _writable(photos: Path, yes: bool) -> None:
    done = _mount("-o", f"remount,bind,{'rw' if yes else 'ro'}", str(photos))
    assert done.returncode == 0, done.stderr


def status(config: Path) -> dict[str, object]:
    result = subprocess.run([sys.executable, "-m", "daemon.cli.main", "status", "--json", "--config", str(config)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    return dict(json.loads(result.stdout))


def names_in(sidecar: Path) -> set[str]:
    if not sidecar.exists():
        return set()
    info = exiftool_json(sidecar, "-RegionInfo").get("RegionInfo") or {}
    return {item["Name"] for item in info.get("RegionList", [])}


def test_a_failed_sidecar_write_is_retried_until_the_folder_is_writable(tmp_path: Path,
                                                                        read_only_photos: Path) -> None:
    photos = read_only_photos
    sidecar = photos / "obama.jpg.xmp"
    layout = write_config(tmp_path, folders=[photos], database=tmp_path / "data" / "library.db",
                          sections={"metadata": {"write_sidecars": True}})
    daemon = Daemon(layout)
    try:
        daemon.start()
        expect(lambda: daemon.events("photo", status="analysed"), 120, 0.2, "analysed")
        (face_id,), = query(daemon.db, "SELECT id FROM faces")
        mark = daemon.mark()
        with Store.open(daemon.db) as store:
            person = corrections.new_person(store, [face_id], name="Barack")
        # The write fails, again and again (backoff), and the photo stays dirty; status says why.
        expect(lambda: len(daemon.events("sidecar_retry", after=mark)) >= 2, 60, 0.2, "two failed writes")
        retries = [e["retry_seconds"] for e in daemon.events("sidecar_retry", after=mark)]
        assert retries[1] > retries[0]  # the backoff grows
        report = status(layout.config)
        assert report["sidecars_dirty"] == 1 and "obama.jpg.xmp" in str(report["sidecar_error"]), report
        assert not sidecar.exists()
        # Writable again: the name arrives without anything else happening, and the error is gone.
        _writable(photos, True)
        expect(lambda: names_in(sidecar) == {"Barack"}, 60, 0.3, "the name written after the folder came back")
        expect(lambda: status(layout.config)["sidecars_dirty"] == 0, 30, 0.3, "nothing dirty")
        assert status(layout.config)["sidecar_error"] is None

        # Read-only again, a rename fails to reach the sidecar; the daemon stops while it still fails.
        _writable(photos, False)
        mark = daemon.mark()
        with Store.open(daemon.db) as store:
            corrections.name_person(store, person, "Barack Obama")
        expect(lambda: daemon.events("sidecar_retry", after=mark), 60, 0.2, "a failed write")
        assert daemon.stop() == 0
        assert query(daemon.db, "SELECT dirty, write_failures > 0, retry_at IS NOT NULL, last_error IS NOT NULL "
                                "FROM photo_metadata") == [(1, 1, 1, 1)]
        assert names_in(sidecar) == {"Barack"}
        # Writable while the daemon is down: the next start writes the new name (the retry survived the restart).
        _writable(photos, True)
        daemon.start()
        expect(lambda: names_in(sidecar) == {"Barack Obama"}, 90, 0.3, "the rename written after a restart")
        expect(lambda: status(layout.config)["sidecars_dirty"] == 0, 30, 0.3, "nothing dirty after the restart")
        assert daemon.stop() == 0
    finally:
        daemon.teardown()


def test_metadata_write_tries_a_failing_sidecar_once_and_says_so(tmp_path: Path, read_only_photos: Path) -> None:
    """`pictod metadata write` on a read-only folder: the sidecar is skipped (exit 1), the photo stays dirty for the
    daemon's retries, and a second run once the folder is writable writes it."""
    photos = read_only_photos
    layout = write_config(tmp_path, folders=[photos], database=tmp_path / "data" / "library.db")
    cli = [sys.executable, "-m", "daemon.cli.main"]
    assert subprocess.run([*cli, "scan", "--config", str(layout.config)], cwd=REPO, capture_output=True,
                          timeout=600).returncode == 0
    (face_id,), = query(tmp_path / "data" / "library.db", "SELECT id FROM faces")
    with Store.open(tmp_path / "data" / "library.db") as store:
        corrections.new_person(store, [face_id], name="Barack")
    run = subprocess.run([*cli, "metadata", "write", "--all", "--json", "--config", str(layout.config)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stderr[-2000:]
    assert json.loads(run.stdout)["skipped"] == 1
    assert status(layout.config)["sidecars_dirty"] == 1
    _writable(photos, True)
    run = subprocess.run([*cli, "metadata", "write", "--all", "--json", "--config", str(layout.config)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and json.loads(run.stdout)["written"] == 1, run.stderr[-2000:]
    assert names_in(photos / "obama.jpg.xmp") == {"Barack"}
    assert status(layout.config)["sidecars_dirty"] == 0
