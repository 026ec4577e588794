"""Events that race: create-then-delete, atomic rename over a photo, a folder of photos moved in at once, one photo
in five places, a watched root deleted and recreated, a watched root renamed away (nothing deleted).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hardening_harness import hostile, log_key, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, expect
from pictod_testdata import FACE_RECOGNITION


def _ready(daemons: Callable[..., Daemon], layout: Layout) -> tuple[Daemon, LibraryDB]:
    return daemons(layout).wait_ready(), LibraryDB(layout.database)


def test_create_then_delete_within_milliseconds(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    ghosts = []
    for i in range(60):
        path = layout.root / f"ghost_{i:03d}.jpg"
        hostile.write_tiny_jpeg(path, 60_000 + i)
        if i % 3 == 0:
            time.sleep(0.002)
        path.unlink()
        ghosts.append(path)
    # Half-written then deleted: a truncated JPEG removed while the daemon may be reading it.
    for i in range(20):
        path = layout.root / f"half_{i:03d}.jpg"
        path.write_bytes(hostile.tiny_jpeg_bytes(60_100 + i)[:100])
        path.unlink()
        ghosts.append(path)
    good = layout.root / "survivor.jpg"
    hostile.write_tiny_jpeg(good, 60_500)
    wait_settled(db, [good], 60, daemon=d)

    def no_ghosts() -> bool:
        files = db.files()
        return not any(path_key(p) in files for p in ghosts)

    expect(no_ghosts, 30, what="no rows left for files deleted at once", alive=d)
    assert db.photo_count() == 1
    d.stop_clean()
    assert db.problems() == []


def test_atomic_rename_over_an_existing_photo(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    target = layout.root / "edited.jpg"
    hostile.write_tiny_jpeg(target, 61_000)
    first = wait_settled(db, [target], 60, daemon=d)[path_key(target)]
    old_hashes = db.photo_hashes()
    for round_ in range(3):
        # What editors and rsync do: write a temporary file beside, then rename it over the original.
        tmp = layout.root / f".edited.jpg.tmp{round_}"
        hostile.write_tiny_jpeg(tmp, 61_001 + round_)
        os.replace(tmp, target)

    def replaced() -> bool:
        row = db.files().get(path_key(target))
        return bool(row and row[0] == "done" and row[2] != first[2] and db.photo_count() == 1)

    expect(replaced, 60, what="the renamed-over photo re-analysed and the old content dropped", alive=d)
    assert db.photo_hashes().isdisjoint(old_hashes)
    d.stop_clean()
    assert db.problems() == []


def _move_in_folder(daemons: Callable[..., Daemon], layout: Layout, count: int, timeout: float) -> None:
    d, db = _ready(daemons, layout)
    staging = layout.base / "staging" / "album"
    paths = hostile.write_tiny_jpegs(staging, count, start=70_000, prefix="album")
    os.rename(staging, layout.root / "album")
    moved = [layout.root / "album" / p.name for p in paths]
    files = wait_settled(db, moved, timeout, daemon=d, what=f"a folder of {count} photos moved in")
    assert {files[path_key(p)][0] for p in moved} == {"done"}
    assert db.photo_count() == count
    # And moved again inside the roots: paths change, no photo is analysed again. A photo's line is logged
    # after its faces are placed, a moment after its row says done: count from when every line is there.
    logged = {log_key(p) for p in moved}
    expect(lambda: logged <= {r.get("path") for r in d.photo_lines()}, 60, what="a line per photo", alive=d)
    before = len(d.photo_lines(current=True))
    os.rename(layout.root / "album", layout.root / "album_renamed")
    renamed = [layout.root / "album_renamed" / p.name for p in paths]
    wait_settled(db, renamed, 120, daemon=d, what="the folder rename recorded")

    def old_gone() -> bool:
        return not any(path_key(p) in db.files() for p in moved)

    expect(old_gone, 60, what="old paths gone after the folder rename", alive=d)
    again = [r for r in d.photo_lines(current=True)[before:] if r.get("status") == "analysed"]
    assert again == [], f"a folder rename re-analysed {len(again)} photos"
    d.stop_clean()
    assert db.problems() == []


def test_folder_of_photos_moved_in_at_once(daemons: Callable[..., Daemon], layout: Layout) -> None:
    _move_in_folder(daemons, layout, 100, timeout=180)


@pytest.mark.slow
def test_folder_of_1000_photos_moved_in_at_once(daemons: Callable[..., Daemon], layout: Layout) -> None:
    _move_in_folder(daemons, layout, 1000, timeout=900)


def test_same_photo_in_five_places(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    src = FACE_RECOGNITION / "obama.jpg"
    places = [layout.root / f"copy{i}" / ("obama.jpg" if i % 2 else f"renamed_{i}.jpg") for i in range(5)]
    for p in places:
        p.parent.mkdir(parents=True, exist_ok=True)
    for p in places:  # all at once: the five arrive together
        shutil.copyfile(src, p)
    files = wait_settled(db, places, 120, daemon=d, what="five copies of one photo")
    ids = {files[path_key(p)][2] for p in places}
    assert {files[path_key(p)][0] for p in places} == {"done"}
    assert len(ids) == 1 and db.photo_count() == 1
    # The lines follow the rows (the analysed one after its faces are placed): waited for, not read at once.
    expect(lambda: len(d.photo_lines(current=True)) >= len(places), 30, what="a line per copy", alive=d)
    statuses = [r.get("status") for r in d.photo_lines(current=True)]
    assert statuses.count("analysed") == 1, f"one analysis for one content, got {statuses}"
    faces = db.scalar("SELECT count(*) FROM faces")
    assert faces >= 1
    # Deleting four copies keeps the photo and its faces; deleting the fifth drops them.
    for p in places[:4]:
        p.unlink()
    expect(lambda: all(path_key(p) not in db.files() for p in places[:4]), 60, what="four copies removed", alive=d)
    assert db.photo_count() == 1 and db.scalar("SELECT count(*) FROM faces") == faces
    places[4].unlink()
    expect(lambda: db.photo_count() == 0, 60, what="the photo missing with its last file", alive=d)
    assert db.face_count() == 0  # kept for the grace period, out of the counts (issue 22)
    d.stop_clean()
    assert db.problems() == []


def test_watched_root_deleted_and_recreated(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    first = hostile.write_tiny_jpegs(layout.root, 5, start=80_000, prefix="before")
    wait_settled(db, first, 60, daemon=d)
    shutil.rmtree(layout.root)
    time.sleep(1.0)
    assert d.alive(), d.tail()
    layout.root.mkdir()
    # The recreated folder is a new inode: the daemon must watch it again (or scan it when it comes back).
    again = hostile.write_tiny_jpegs(layout.root, 3, start=80_100, prefix="after")
    files = wait_settled(db, again, 90, daemon=d, what="photos in the recreated root")
    assert {files[path_key(p)][0] for p in again} == {"done"}
    # The deleted photos are gone (deleted one by one before the root went) or still there (root treated as
    # unmounted); either way a restart reconciles them away without touching the new ones.
    d.stop_clean()
    d.start().wait_ready()

    def reconciled() -> bool:
        rows = db.files()
        return not any(path_key(p) in rows for p in first) and all(path_key(p) in rows for p in again)

    expect(reconciled, 60, what="the restart to reconcile the recreated root", alive=d)
    late = layout.root / "late.jpg"
    hostile.write_tiny_jpeg(late, 80_200)
    wait_settled(db, [late], 60, daemon=d)
    d.stop_clean()
    assert db.problems() == []


def test_watched_root_renamed_away_deletes_nothing(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    photos = hostile.write_tiny_jpegs(layout.root / "sub", 6, start=81_000, prefix="kept")
    files = wait_settled(db, photos, 60, daemon=d)
    before = {k: v for k, v in files.items()}
    away = layout.base / "photos_unmounted"
    os.rename(layout.root, away)
    time.sleep(3)  # long enough for any wrong deletion to land
    assert d.alive(), d.tail()
    assert db.files() == before, "renaming the root away deleted rows"
    # A restart while it is away either refuses to start (a missing folder is a config error: issue 5) or
    # runs and waits for the root (issue 4); either way it removes nothing.
    d.stop_clean()
    d.start()
    expect(lambda: not d.alive() or bool(d.events("watched_root_missing", current=True)), 30,
           what="an exit or an error for the missing root")
    if not d.alive():
        assert d.wait(5) != 0, "started with a watched root missing and exited 0"
        assert str(layout.root) in d.stderr_lines()[-1], d.tail()
    assert db.files() == before, "a start with a missing root deleted rows"
    # It comes back: everything is kept and what is new is processed.
    os.rename(away, layout.root)
    new = layout.root / "sub" / "while_away.jpg"
    hostile.write_tiny_jpeg(new, 81_100)
    if not d.alive():
        d.start().wait_ready()
    files = wait_settled(db, [new, *photos], 60, daemon=d, what="the root back and a new photo processed")
    assert all(files[k] == v for k, v in before.items())
    missing = [r for r in d.events("watched_root_missing", current=False) if r.get("root") == log_key(layout.root)]
    # The first process saw the root go while running: that must have been logged as an error.
    assert missing, "a missing root must be logged as an error"
    d.stop_clean()
    assert db.problems() == []


def test_folder_prefixes_and_wildcards_do_not_leak(daemons: Callable[..., Daemon], layout: Layout) -> None:
    # Deleting or renaming a folder touches that folder only: not its siblings that share a name prefix, nor
    # names holding SQL LIKE/GLOB wildcards (%, _, *, ?, [).
    d, db = _ready(daemons, layout)
    names = ["trip", "trip2", "trip 2", "trip_old", "trip.d", "trip-", "100%", "100%x", "100_x", "1000", "a*", "a[b]",
             "a?"]
    photos: dict[str, list[Path]] = {}
    for i, name in enumerate(names):
        photos[name] = hostile.write_tiny_jpegs(layout.root / name, 2, start=82_000 + 10 * i, prefix="p")
    # A file whose name is a prefix of a folder, beside it.
    lone = layout.root / "trip.jpg"
    hostile.write_tiny_jpeg(lone, 82_500)
    all_paths = [lone, *(p for ps in photos.values() for p in ps)]
    wait_settled(db, all_paths, 90, daemon=d)
    for victim in ("trip", "100%", "a*"):
        shutil.rmtree(layout.root / victim)
    os.rename(layout.root / "100_x", layout.root / "100_y")
    os.rename(layout.root / "a[b]", layout.root / "a[c]")
    gone = {path_key(p) for v in ("trip", "100%", "a*", "100_x", "a[b]") for p in photos[v]}
    kept = [lone, *(p for n, ps in photos.items() if n not in ("trip", "100%", "a*", "100_x", "a[b]") for p in ps)]
    moved = [layout.root / "100_y" / p.name for p in photos["100_x"]] + [
        layout.root / "a[c]" / p.name for p in photos["a[b]"]]

    def applied() -> bool:
        rows = db.files()
        return not (gone & set(rows)) and all(path_key(p) in rows for p in moved)

    expect(applied, 60, what="deletes and renames applied", alive=d)
    rows = db.files()
    missing = [str(p.relative_to(layout.root)) for p in kept if path_key(p) not in rows]
    assert missing == [], f"siblings lost with a prefix-sharing folder: {missing}"
    assert len(rows) == len(kept) + len(moved)
    d.stop_clean()
    assert db.problems() == []


def test_photo_touched_truncated_and_restored_in_place(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d, db = _ready(daemons, layout)
    photo = layout.root / "obama.jpg"
    shutil.copyfile(FACE_RECOGNITION / "obama.jpg", photo)
    first = wait_settled(db, [photo], 60, daemon=d)[path_key(photo)]
    faces = db.scalar("SELECT count(*) FROM faces")
    assert first[0] == "done" and faces >= 1
    # A new mtime with the same bytes: hashed again, never analysed again.
    os.utime(photo, (time.time() + 5, time.time() + 5))
    expect(lambda: len(d.photo_lines(current=True)) >= 2, 30, what="the touched photo re-checked", alive=d)
    statuses = [r.get("status") for r in d.photo_lines(current=True)]
    assert statuses.count("analysed") == 1, statuses
    # Truncated in place (a crashed editor): failed with a reason; the photo and its faces go missing.
    with open(photo, "r+b") as f:
        f.truncate(0)
    expect(lambda: db.files().get(path_key(photo), ("",))[0] == "failed", 30, what="the emptied photo failed",
           alive=d)
    assert db.photo_count() == 0 and db.face_count() == 0  # missing (issue 22), not deleted
    # Restored: done again with its faces (its bytes found again: restored, not analysed).
    shutil.copyfile(FACE_RECOGNITION / "obama.jpg", photo)
    expect(lambda: db.files().get(path_key(photo), ("",))[0] == "done", 60, what="the restored photo done",
           alive=d)
    assert db.scalar("SELECT count(*) FROM faces") == faces
    d.stop_clean()
    assert db.problems() == []
