"""Hostile names and trees: odd bytes in names, 255-byte names, a 100-level tree, symlink traps, unreadable files.

A name is just a name: each hostile-named photo ends done under its exact path, the file named
`x'); DROP TABLE photos;--.jpg` is just a photo, and links never lead the daemon out of its roots unless
library.follow_symlinks says so.
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hardening_harness import hostile, log_key, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, expect, write_config


def _good(layout: Layout, name: str, seed: int) -> Path:
    path = layout.root / "good" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    hostile.write_tiny_jpeg(path, seed)
    return path


def test_hostile_names_are_just_names(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    # Live: written straight into the watched folder while the daemon runs.
    live = hostile.write_hostile_names(layout.root / "live")
    files = wait_settled(db, live, 120, daemon=d, what="hostile names written live")
    tables_before = db.tables()
    statuses = {p: files[path_key(p)][0] for p in live}
    assert set(statuses.values()) == {"done"}, {k: v for k, v in statuses.items() if v != "done"}
    assert "photos" in tables_before
    # Moved in as a folder after the first batch: the same names through the directory path of the code.
    staging = layout.base / "staging"
    moved = hostile.write_hostile_names(staging / "moved", seed=11_000)
    os.rename(staging / "moved", layout.root / "moved")
    moved = [os.path.join(os.fsencode(layout.root / "moved"), os.path.basename(p)) for p in moved]
    files = wait_settled(db, moved, 120, daemon=d, what="hostile names moved in")
    assert {files[path_key(p)][0] for p in moved} == {"done"}
    assert db.tables() == tables_before, "a file name changed the schema"
    assert db.photo_count() == len(live) + len(moved)
    # Renaming a hostile name to another hostile name keeps its photo (no second analysis).
    src = os.path.join(os.fsencode(layout.root / "live"), hostile.SQL_INJECTION_NAME)
    dst = os.path.join(os.fsencode(layout.root / "live"), b"renamed \n'\"; DELETE FROM files;--.jpg")
    photo_id = files[path_key(src)][2]

    def renamed() -> bool:
        rows = db.files()
        return path_key(src) not in rows and rows.get(path_key(dst), ("",))[0] == "done"

    os.rename(src, dst)
    expect(renamed, 60, what="the rename to be recorded", alive=d)
    assert db.files()[path_key(dst)][2] == photo_id
    # Every log line is one JSON object (log_records fails otherwise) and names the path escaped.
    newline = os.path.join(os.fsencode(layout.root / "live"), hostile.NEWLINE_NAME)
    # (A photo's line follows its row: waited for, not read at once.)
    expect(lambda: log_key(newline) in {r.get("path") for r in d.photo_lines(current=False)}, 30,
           what="the newline name's line", alive=d)
    assert "\n" not in log_key(newline)
    d.stop_clean()
    assert db.problems() == []


def test_deep_tree_100_levels(daemons: Callable[..., Daemon], layout: Layout) -> None:
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    moved_leaf = hostile.write_deep_tree(layout.base / "staging" / "tree", 100, seed=21_000)
    os.rename(layout.base / "staging" / "tree", layout.root / "tree")
    moved_leaf = layout.root / moved_leaf.relative_to(layout.base / "staging")
    # Created level by level inside the watched root: the watcher must add 100 nested watches in time.
    live_leaf = hostile.write_deep_tree(layout.root / "live", 100, component="deeplevel", seed=21_001)
    files = wait_settled(db, [moved_leaf, live_leaf], 120, daemon=d, what="photos at the bottom of 100 levels")
    assert files[path_key(moved_leaf)][0] == files[path_key(live_leaf)][0] == "done"
    d.stop_clean()
    assert db.problems() == []


@pytest.mark.parametrize("follow", [False, True], ids=["no-follow", "follow"])
def test_symlink_traps(daemons: Callable[..., Daemon], make_layout: Callable[..., Layout], follow: bool) -> None:
    layout = make_layout("links", sections={"library": {"follow_symlinks": follow}})
    outside = layout.base / "outside"
    # Before start (the start-up scan meets them); the folder link to its own parent only without following
    # (with following it has its own test below).
    links = hostile.write_symlinks(layout.root, outside, ancestor_loop=not follow)
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    # And after start: the watcher meets them.
    live_root = layout.root / "live"
    live_root.mkdir()
    live = hostile.write_symlinks(live_root, layout.base / "outside_live", seed=31_000, ancestor_loop=not follow)
    real = [links.inside_file, links.inside_dir / "in_real_dir.jpg", live.inside_file,
            live.inside_dir / "in_real_dir.jpg"]
    files = wait_settled(db, real, 45, daemon=d, what="the real photos among the links, under their real paths")
    assert {files[path_key(p)][0] for p in real} == {"done"}
    good = _good(layout, "after_links.jpg", 31_500)
    files = wait_settled(db, [good], 45, daemon=d, what="a photo after the symlink traps")
    assert d.alive()
    outside_roots = (str(outside.resolve()), str((layout.base / "outside_live").resolve()))
    # Whatever is recorded lies under the watched root by its own path; nothing is recorded by an outside path.
    assert not [k for k in files if k.startswith(outside_roots)]
    leaked = [k for k in files if os.path.realpath(k).startswith(outside_roots)]
    if follow:
        wanted = [links.link_outside_file, live.link_outside_file]
        files = wait_settled(db, wanted, 45, daemon=d, what="links out of the root followed (follow_symlinks)")
        assert {files[path_key(p)][0] for p in wanted} == {"done"}
        under = [links.link_outside_dir / p.name for p in outside.glob("secret_dir/*.jpg")]
        files = wait_settled(db, under, 45, daemon=d, what="a linked folder outside the root followed")
    else:
        assert leaked == [], f"followed links out of the root: {leaked}"
    loops = [links.self_loop, links.loop_a, links.loop_b, links.dangling]
    for p in loops:
        row = files.get(path_key(p))
        assert row is None or row[0] == "failed", (p, row)
    d.stop_clean()
    assert db.problems() == []


def test_follow_symlinks_with_a_link_to_an_ancestor(daemons: Callable[..., Daemon],
                                                     make_layout: Callable[..., Layout]) -> None:
    layout = make_layout("ancestor", sections={"library": {"follow_symlinks": True}})
    os.symlink(".", layout.root / "dir_loop")  # root/dir_loop -> root: endless alias paths when followed
    before = hostile.write_tiny_jpegs(layout.root / "before", 3, start=32_000, prefix="before")
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    live = hostile.write_tiny_jpegs(layout.root / "live", 3, start=32_100, prefix="live")
    files = wait_settled(db, [*before, *live], 45, daemon=d, what="photos beside a folder link to its own parent")
    assert {files[path_key(p)][0] for p in [*before, *live]} == {"done"}
    time.sleep(2)  # let any alias events land
    files = db.files()
    through_loop = [k for k in files if "/dir_loop/" in k]
    assert through_loop == [], f"{len(through_loop)} rows through the loop, e.g. {through_loop[:2]}"
    assert len(files) == 6
    d.stop_clean()
    assert db.problems() == []


def _nobody() -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam("nobody")
    except KeyError:
        return None
    return (entry.pw_uid, entry.pw_gid) if shutil.which("setpriv") else None


@pytest.fixture
def unprivileged_base() -> Iterator[tuple[Path, tuple[int, int] | None]]:
    """A folder the daemon can use when it runs as `nobody` (tmp_path sits under a root-only folder)."""
    user = _nobody() if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="pictod-unpriv-"))
    base.chmod(0o755)
    try:
        yield base, user
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_unreadable_file_and_folder(daemons: Callable[..., Daemon],
                                    unprivileged_base: tuple[Path, tuple[int, int] | None]) -> None:
    base, user = unprivileged_base
    if os.geteuid() == 0 and user is None:
        pytest.skip("running as root without a `nobody` user and setpriv: root reads mode-0000 files")
    layout = write_config(base / "lib")
    if user is not None:
        for p in [base / "lib", *(base / "lib").rglob("*")]:
            os.chown(p, *user)
    d = daemons(layout, user=user).wait_ready()
    db = LibraryDB(layout.database)
    secret = layout.root / "no_read.jpg"
    hostile.write_tiny_jpeg(secret, 41_000)
    secret.chmod(0)
    locked = layout.root / "locked_dir"
    locked.mkdir()
    inside = locked / "inside.jpg"
    hostile.write_tiny_jpeg(inside, 41_001)
    locked.chmod(0)
    good = layout.root / "readable.jpg"
    hostile.write_tiny_jpeg(good, 41_002)
    if user is not None:
        os.chown(good, *user)
    files = wait_settled(db, [secret, good], 90, daemon=d, what="an unreadable and a readable photo")
    assert files[path_key(good)][0] == "done"
    assert files[path_key(secret)][0] == "failed" and files[path_key(secret)][1], files[path_key(secret)]
    assert path_key(inside) not in files
    assert d.alive()
    d.stop_clean()
    # A restart with the folder still locked removes nothing and does not retry the unreadable file forever.
    d.start().wait_ready()
    another = layout.root / "after_restart.jpg"
    hostile.write_tiny_jpeg(another, 41_003)
    files = wait_settled(db, [another], 60, daemon=d)
    assert files[path_key(good)][0] == "done" and files[path_key(secret)][0] == "failed"
    retried = [r for r in d.photo_lines(current=True) if r.get("path") == log_key(secret)]
    assert retried == [], "an unchanged unreadable file is retried at every start"
    d.stop_clean()
    locked.chmod(0o755)
    assert db.problems() == []


def test_special_files_named_like_photos(daemons: Callable[..., Daemon], make_layout: Callable[..., Layout]) -> None:
    # FIFOs, a unix socket and links to character devices, all named .jpg, with follow_symlinks on so the device
    # links are reachable: none may block a worker (open() on a FIFO waits forever) or be read (/dev/zero never
    # ends). Two of each so both workers would be caught; a photo dropped afterwards must still be processed.
    import socket

    layout = make_layout("special", sections={"library": {"follow_symlinks": True}})
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    specials = []
    for i in range(2):
        fifo = layout.root / f"fifo_{i}.jpg"
        os.mkfifo(fifo)
        specials.append(fifo)
        for dev in ("zero", "urandom"):
            link = layout.root / f"{dev}_{i}.jpg"
            os.symlink(f"/dev/{dev}", link)
            specials.append(link)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(layout.root / "socket.jpg"))
    specials.append(layout.root / "socket.jpg")
    try:
        good = [_good(layout, f"after_{i}.jpg", 96_000 + i) for i in range(3)]
        files = wait_settled(db, good, 60, daemon=d, what="photos after FIFOs, a socket and device links")
        assert {files[path_key(p)][0] for p in good} == {"done"}
        stray = {str(p.name): files[path_key(p)] for p in specials if path_key(p) in files}
        assert all(v[0] == "failed" for v in stray.values()), stray
        d.stop_clean(timeout=40)
        # And through the start-up scan, which meets them all at once.
        d.start().wait_ready()
        late = [_good(layout, f"late_{i}.jpg", 96_100 + i) for i in range(3)]
        files = wait_settled(db, late, 60, daemon=d, what="photos after a restart among special files")
        assert {files[path_key(p)][0] for p in late} == {"done"}
        d.stop_clean(timeout=40)
    finally:
        sock.close()
    assert db.problems() == []
