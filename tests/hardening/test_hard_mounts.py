"""Issue 22 defects 1 and 2 end to end, with real mounts (root only: a tmpfs is the "drive", bind-mounted as
the watched folder or below it) and the daemon as a real subprocess.

Defect 1: a watched folder that is a mount point was unmounted while the daemon ran, then any file appeared
in the bare mount point: the root was "back", reconcile removed its 20 photos with their faces, people and
names, and remounting the drive analysed everything again. Now the photos are missing, not deleted, and the
drive coming back restores them by their bytes: names and people back, no model run (counted from the photo
log lines: status=analysed only for the stray file). Defect 2: a drive mounted below a watched root, unmounted
while the daemon was stopped, lost its photos at the next start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_library import pictod
from hardening_harness import mount_tmpfs, umount, wait_settled
from harness import Daemon, Layout, LibraryDB, expect, write_config
from pictod_testdata import JOHNS, SKIMAGE

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounts need root")


def bind(source: Path, target: Path) -> None:
    subprocess.run(["mount", "--bind", str(source), str(target)], check=True, capture_output=True)


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Mount points a test made, unmounted (innermost first) at teardown."""
    made: list[Path] = []
    yield made
    for target in reversed(made):
        while os.path.ismount(target):
            umount(target)


@pytest.fixture
def drive(tmp_path: Path, mounts: list[Path]) -> Path:
    """A tmpfs holding five crops of one person and one of another."""
    path = tmp_path / "drive"
    if not mount_tmpfs(path, "64m"):
        pytest.skip("tmpfs mounts are not allowed here")
    mounts.append(path)
    for crop in [*sorted((JOHNS / "John_Salley").glob("*.jpg"))[:5], sorted((JOHNS / "John_Savage").glob("*.jpg"))[0]]:
        shutil.copy(crop, path / crop.name)
    return path


def cli_json(layout: Layout, *args: str) -> Any:
    done = pictod(*args, "--config", str(layout.config), "--json")
    assert done.returncode in (0, 3), (args, done.stderr)
    return json.loads(done.stdout)


def name_the_person(layout: Layout) -> None:
    assert pictod("recluster", "--config", str(layout.config)).returncode == 0
    top = max(cli_json(layout, "people"), key=lambda p: p["faces"])
    assert top["faces"] >= 4
    assert pictod("people", "name", str(top["id"]), "Salley", "--config", str(layout.config)).returncode == 0


def analysed(d: Daemon) -> int:
    return len([e for e in d.photo_lines(current=False) if e.get("status") == "analysed"])


@pytest.mark.slow
def test_a_watched_drive_that_comes_back_empty_then_full_loses_nothing(
        tmp_path: Path, drive: Path, mounts: list[Path], daemons: Callable[..., Daemon]) -> None:
    layout = write_config(tmp_path / "lib")
    root = layout.root
    bind(drive, root)
    mounts.append(root)
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    wait_settled(db, sorted(root.iterdir()), 120, daemon=d)
    name_the_person(layout)
    assert analysed(d) == 6
    # The drive goes away while the daemon runs: nothing removed, and status says which root and since when.
    umount(root)
    expect(lambda: d.events("watched_root_missing", root=str(root)), 30, what="root missing", alive=d)
    missing_roots = expect(lambda: cli_json(layout, "status")["roots_missing"], 30, what="status names the root")
    assert list(missing_roots) == [str(root)]
    human = pictod("status", "--config", str(layout.config)).stdout
    assert f"{root} (since " in human
    # Something writes into the bare mount point: the root is "back" and its photos are gone from it.
    stray = root / "stray.png"
    shutil.copy(SKIMAGE / "chelsea.png", stray)
    expect(lambda: d.events("reconcile", root=str(root), vanished=6), 60, what="reconcile of the bare root",
           alive=d)
    wait_settled(db, [stray], 120, daemon=d)
    counts = expect(lambda: (c := cli_json(layout, "status"))["photos_missing"] == 6 and c, 30, what="missing")
    assert (counts["photos"], counts["named_people"], counts["people_missing"], counts["roots_missing"]) == \
        (1, 0, 1, {}), counts
    assert db.scalar("SELECT count(*) FROM people WHERE name = 'Salley'") == 1
    # The drive is mounted again: the monitor sees the other folder, the photos come back by their bytes.
    bind(drive, root)
    expect(lambda: len([e for e in d.photo_lines() if e.get("restored")]) == 6, 120,
           what="six photos restored", alive=d)
    counts = expect(lambda: (c := cli_json(layout, "status"))["photos"] == 6 and c, 30, what="counts back")
    assert (counts["named_people"], counts["photos_missing"]) == (1, 1), counts  # the stray file went
    names = [p["name"] for p in cli_json(layout, "people")]
    assert "Salley" in names, names
    assert analysed(d) == 7, "no model run for the photos that came back (six at first, then the stray file)"
    # Idle, the write-ahead log was folded back into the library and truncated (defect 6).
    wal = layout.database.with_name(layout.database.name + "-wal")
    expect(lambda: not wal.exists() or wal.stat().st_size == 0, 30, what="WAL truncated when idle", alive=d)
    d.stop_clean()
    assert db.problems() == []


@pytest.mark.slow
def test_a_drive_below_a_root_unmounted_while_stopped_or_running_removes_nothing(
        tmp_path: Path, drive: Path, mounts: list[Path], daemons: Callable[..., Daemon]) -> None:
    layout = write_config(tmp_path / "lib")
    sub = layout.root / "card"
    sub.mkdir()
    shutil.copy(SKIMAGE / "coffee.png", layout.root / "coffee.png")
    bind(drive, sub)
    mounts.append(sub)
    scanned = cli_json(layout, "scan")
    assert scanned["analysed"] == 7
    name_the_person(layout)
    # Unmounted while no daemon runs: the next start must not take the card's photos for deleted.
    umount(sub)
    again = cli_json(layout, "scan")
    assert (again["removed"], again["analysed"]) == (0, 0), again
    counts = cli_json(layout, "status")
    assert (counts["photos"], counts["photos_missing"], counts["named_people"]) == (7, 0, 1), counts
    # The daemon runs while the card is away, then it is mounted: reconciled, nothing analysed.
    d = daemons(layout).wait_ready()
    expect(lambda: d.events("reconcile"), 60, what="start-up reconcile", alive=d)
    assert d.events("mount_missing", path=str(sub))
    bind(drive, sub)
    expect(lambda: d.events("mount_back", path=str(sub)), 30, what="mount seen back", alive=d)
    # Unmounted under the running daemon: still nothing removed.
    umount(sub)
    expect(lambda: d.events("mount_missing", path=str(sub)) and len(d.events("mount_missing")) >= 2, 30,
           what="mount seen away again", alive=d)
    bind(drive, sub)
    expect(lambda: len(d.events("mount_back", path=str(sub))) >= 2, 30, what="mount back again", alive=d)
    d.stop_clean()
    assert not d.events("photo_removed") and analysed(d) == 7
    counts = cli_json(layout, "status")
    assert (counts["photos"], counts["photos_missing"], counts["named_people"]) == (7, 0, 1), counts
