"""Issue 22 defects 7 and 10 with the daemon as a real subprocess: a subfolder unreadable at start is watched
once readable; a root that goes away is named by `status` with the time; `status` and the log's status line
count the real backlog (the queue is bounded, so the queue alone stopped at its size and the ETA was wrong)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cli_library import pictod
from hardening_harness import hostile, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, expect, write_config
from test_hard_names import unprivileged_base  # noqa: F401  (the fixture: a folder `nobody` can use)


def status(layout: Layout) -> dict[str, Any]:
    done = pictod("status", "--config", str(layout.config), "--json")
    assert done.returncode in (0, 3), done.stderr
    return json.loads(done.stdout)


def test_a_subfolder_unreadable_at_start_is_watched_once_readable(
        daemons: Callable[..., Daemon], unprivileged_base: tuple[Path, tuple[int, int] | None]) -> None:  # noqa: F811
    base, user = unprivileged_base
    if os.geteuid() == 0 and user is None:
        pytest.skip("running as root without a `nobody` user and setpriv: root reads mode-0000 folders")
    layout = write_config(base / "lib")
    locked = layout.root / "locked"
    locked.mkdir()
    before = locked / "before.jpg"
    hostile.write_tiny_jpeg(before, 22_001)
    if user is not None:
        for p in [base / "lib", *(base / "lib").rglob("*")]:
            os.chown(p, *user)
    locked.chmod(0)
    d = daemons(layout, user=user).wait_ready()
    db = LibraryDB(layout.database)
    expect(lambda: d.events("reconcile", unreadable_folders=1), 60, what="reconcile sees the locked folder",
           alive=d)
    locked.chmod(0o755)
    expect(lambda: d.events("folder_readable", path=str(locked)), 30, what="the folder seen readable", alive=d)
    after = locked / "after.jpg"
    hostile.write_tiny_jpeg(after, 22_002)  # a photo added there now is seen by the watch
    files = wait_settled(db, [before, after], 90, daemon=d)
    assert files[path_key(before)][0] == files[path_key(after)][0] == "done"
    d.stop_clean()


def test_status_names_a_missing_root_and_since_when(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    second = tmp_path / "second"
    second.mkdir()
    layout = write_config(tmp_path / "lib", folders=[tmp_path / "lib" / "photos", second])
    hostile.write_tiny_jpeg(second / "a.jpg", 22_010)
    d = daemons(layout).wait_ready()
    wait_settled(LibraryDB(layout.database), [second / "a.jpg"], 90, daemon=d)
    second.rename(tmp_path / "second-away")
    expect(lambda: d.events("watched_root_missing", root=str(second)), 30, what="root missing", alive=d)
    report = expect(lambda: status(layout)["roots_missing"], 30, what="status names the root")
    assert list(report) == [str(second)] and report[str(second)][:4].isdigit()
    human = pictod("status", "--config", str(layout.config)).stdout
    assert "roots missing:" in human and f"{second} (since {report[str(second)]})" in human
    counts = status(layout)
    assert (counts["photos"], counts["photos_missing"]) == (1, 0)  # a lost root removes nothing
    (tmp_path / "second-away").rename(second)
    expect(lambda: d.events("watched_root_back", root=str(second)), 30, what="root back", alive=d)
    expect(lambda: status(layout)["roots_missing"] == {}, 30, what="status: no root missing")
    # Killed while a root is away, started again with it back: status does not keep the old news.
    second.rename(tmp_path / "second-away")
    expect(lambda: status(layout)["roots_missing"], 30, what="status names the root again")
    d.kill()
    (tmp_path / "second-away").rename(second)
    d.start().wait_ready()
    expect(lambda: status(layout)["roots_missing"] == {}, 30, what="a fresh start forgets the stale root")
    d.stop_clean()


@pytest.mark.slow
def test_status_and_the_status_line_count_the_whole_backlog(daemons: Callable[..., Daemon], tmp_path: Path) -> None:
    layout = write_config(tmp_path / "lib", sections={"daemon": {"queue_size": 4, "status_interval": 0.5}})
    photos = [layout.root / f"p{i:03}.jpg" for i in range(160)]
    for i, path in enumerate(photos):
        hostile.write_tiny_jpeg(path, 22_100 + i)
    d = daemons(layout)
    seen = expect(lambda: (n := status(layout).get("files_pending", 0)) > 40 and n, 120,
                  what="status counting more than the queue holds", alive=d)
    assert seen <= len(photos)
    wait_settled(LibraryDB(layout.database), photos, 300, daemon=d)
    queued = [e["queued"] for e in d.events("status")]
    assert max(queued) > 40, queued  # the queue holds 4: the log counted only those before
    expect(lambda: status(layout)["files_pending"] == 0, 30, what="nothing pending once done", alive=d)
    d.stop_clean()
