"""SIGKILL at random moments during an ingest, N rounds: nothing committed is lost, nothing is done twice.

After every kill the DB must pass integrity_check with no orphan faces/objects and no duplicate rows, every file
that was done before the kill is still done with the same photo, and once the daemon finishes every photo is
processed exactly once (one photo row per distinct content, no second analysis of a committed photo).
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hardening_harness import hostile, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, expect
from pictod_testdata import JOHNS


def _photo_set(dest: Path, faces: int, tiny: int) -> list[Path]:
    """Face crops (real faces, so faces rows exist) and tiny distinct JPEGs, spread over subfolders."""
    crops = sorted(JOHNS.rglob("*.jpg"))[:faces]
    out = []
    for i, src in enumerate(crops):
        target = dest / f"people{i % 3}" / f"{src.parent.name}_{src.name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        out.append(target)
    for i in range(tiny):
        out.append(dest / f"tiny{i % 4}" / f"t_{i:05d}.jpg")
    sources: list[Path | int] = [*crops, *range(tiny)]
    return [_writer(p, s) for p, s in zip(out, sources, strict=True)]


def _writer(target: Path, source: Path | int) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source, Path):
        shutil.copyfile(source, target)
    else:
        hostile.write_tiny_jpeg(target, 50_000 + source)
    return target


def _analyses_after(d: Daemon, keys: set[str]) -> list[str]:
    """Paths among `keys` that the current daemon process analysed or recorded again."""
    again = []
    for record in d.photo_lines(current=True):
        # Any per-photo line (analysed, linked or failed) for a path already done means it was processed again:
        # an unchanged done file must be skipped silently at start-up.
        if record.get("path") in keys:
            again.append(record["path"])
    return again


def kill_rounds(daemons: Callable[..., Daemon], layout: Layout, *, rounds: int, faces: int, tiny: int,
                seed: int, timeout: float) -> dict[str, int]:
    """Ingest faces+tiny photos, SIGKILL at a random point `rounds` times, then let it finish; returns counts."""
    rng = random.Random(seed)
    db = LibraryDB(layout.database)
    staging = layout.base / "staging"
    photos = _photo_set(staging, faces, tiny)
    total = len(photos)
    d = daemons(layout).wait_ready()
    # Round 0 receives the photos through live events (moved in while running), later rounds through the
    # start-up reconciliation that resumes what the kill interrupted.
    for sub in sorted(staging.iterdir()):
        os.rename(sub, layout.root / sub.name)
    paths = [layout.root / p.relative_to(staging) for p in photos]
    counts = {"files": total, "kills": 0, "rows_lost": 0, "done_twice": 0, "done_at_last_kill": 0}
    done_before: dict[str, int | None] = {}
    for r in range(rounds):
        if r > 0:
            d.start()
        settled_now = len(done_before)
        # Spread the kills over the ingest: on average an equal share of the remaining work per round; a
        # share of 0 kills right after start (model loading, reconcile, resume).
        share = 2 * (total - settled_now) // (rounds - r + 1)
        target = min(total - 1, settled_now + rng.randint(0, max(0, share)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and d.alive():
            try:
                if db.settled() >= target:
                    break
            except sqlite3.Error:
                pass  # the DB or its tables do not exist yet in round 0
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.4))
        assert d.alive(), f"daemon died by itself in round {r}\n{d.tail()}"
        d.kill()
        counts["kills"] += 1
        if not db.exists():
            continue
        problems = db.problems()
        assert problems == [], f"round {r}: DB inconsistent after SIGKILL: {problems}"
        files = db.files()
        lost = [p for p, pid in done_before.items() if p not in files or files[p][0] != "done" or files[p][2] != pid]
        counts["rows_lost"] += len(lost)
        assert lost == [], f"round {r}: committed files lost or changed by a kill: {lost[:5]}"
        now_done = {p: v[2] for p, v in files.items() if v[0] == "done"}
        counts["done_at_last_kill"] = len(now_done)
        # A committed photo must not be analysed again by the next process.
        if r > 0:
            twice = _analyses_after(d, set(done_before))
            counts["done_twice"] += len(twice)
            assert twice == [], f"round {r}: photos done before the kill analysed again: {twice[:5]}"
        done_before = now_done
        print(f"round {r}: killed at {len(now_done)}/{total} done, DB consistent, nothing lost")
    d.start().wait_ready()
    files = wait_settled(db, paths, timeout, daemon=d, what="the ingest to finish after the last kill")
    twice = _analyses_after(d, set(done_before))
    counts["done_twice"] += len(twice)
    print("before the final stop:", counts)
    d.stop_clean()
    assert twice == [], f"photos done before the last kill analysed again: {twice[:5]}"
    problems = db.problems()
    assert problems == [], problems
    keys = [path_key(p) for p in paths]
    statuses = {k: files[k][0] for k in keys}
    assert set(statuses.values()) == {"done"}, {k: v for k, v in statuses.items() if v != "done"}
    distinct = len({hashlib.sha256(p.read_bytes()).hexdigest() for p in paths})  # johns holds one duplicate pair
    assert db.photo_count() == distinct, "one photo row per distinct content"
    assert len(files) == total, f"unexpected extra file rows: {sorted(set(files) - set(keys))[:5]}"
    lost = [p for p, pid in done_before.items() if files[p][2] != pid]
    counts["rows_lost"] += len(lost)
    assert lost == []
    return counts


def test_sigkill_rounds_small(daemons: Callable[..., Daemon], layout: Layout,
                              record_property: Callable[[str, object], None]) -> None:
    counts = kill_rounds(daemons, layout, rounds=3, faces=20, tiny=20, seed=5, timeout=120)
    record_property("counts", counts)
    print("sigkill small:", counts)
    assert counts["kills"] == 3 and counts["rows_lost"] == 0 and counts["done_twice"] == 0


@pytest.mark.slow
def test_sigkill_rounds_300_photos_10_rounds(daemons: Callable[..., Daemon], layout: Layout,
                                            record_property: Callable[[str, object], None]) -> None:
    counts = kill_rounds(daemons, layout, rounds=10, faces=55, tiny=245, seed=1, timeout=600)
    record_property("counts", counts)
    print("sigkill 10x300:", counts)
    assert counts["kills"] == 10 and counts["rows_lost"] == 0 and counts["done_twice"] == 0


def test_sigkill_during_moves_and_deletes(daemons: Callable[..., Daemon], layout: Layout) -> None:
    # A folder renamed and another deleted, then SIGKILL a random few ms later, three times: after the restart
    # the DB matches the disk, and the renamed photos keep their analysis (linked, never analysed again).
    rng = random.Random(11)
    db = LibraryDB(layout.database)
    d = daemons(layout).wait_ready()
    crops = sorted(JOHNS.rglob("*.jpg"))[:12]
    for i, src in enumerate(crops):
        target = layout.root / "album_0" / f"face_{i:02d}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, target)
    hostile.write_tiny_jpegs(layout.root / "trash_0", 10, start=55_000, prefix="trash")
    wait_settled(db, list(layout.root.rglob("*.jpg")), 90, daemon=d)
    faces_before = db.scalar("SELECT count(*) FROM faces")
    for r in range(3):
        os.rename(layout.root / f"album_{r}", layout.root / f"album_{r + 1}")
        shutil.rmtree(layout.root / f"trash_{r}")
        time.sleep(rng.uniform(0.0, 1.5))
        d.kill()
        problems = db.problems()
        assert problems == [], f"round {r}: {problems}"
        hostile.write_tiny_jpegs(layout.root / f"trash_{r + 1}", 10, start=55_100 + 100 * r, prefix="trash")
        d.start().wait_ready()
        on_disk = {path_key(p) for p in layout.root.rglob("*.jpg")}
        wait_settled(db, sorted(on_disk), 90, daemon=d, what=f"round {r}: the DB catching up with the disk")
        expect(lambda disk=on_disk: set(db.files()) == disk, 30,  # type: ignore[misc]
               what=f"round {r}: no rows left for moved/deleted paths", alive=d)
        again = [rec["path"] for rec in d.photo_lines(current=True)
                 if "/album_" in str(rec.get("path")) and rec.get("status") == "analysed"]
        assert again == [], f"round {r}: renamed photos analysed again after a kill: {again[:3]}"
        assert db.scalar("SELECT count(*) FROM faces") == faces_before, f"round {r}: faces changed by a rename"
    d.stop_clean()
    assert db.problems() == []
