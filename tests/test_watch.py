"""watch.py with real watchdog observers (inotify and polling) on real folders."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from harness import aexpect
from structlog.testing import capture_logs

from daemon.config import DEFAULT_EXTENSIONS, FolderConfig, LibraryConfig
from daemon.runtime.watch import PathFilter, PhotoEvent, Watcher

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64  # bytes only; the watcher never decodes


class Recorder:
    def __init__(self) -> None:
        self.events: list[PhotoEvent] = []
        self.gone: list[Path] = []
        self.modes: dict[Path, str] = {}  # root -> native | polling, from the `watching` log lines

    def has(self, kind: str, path: Path, dest: Path | None = None, **fields: Any) -> bool:
        return any(e.kind == kind and e.path == path and (dest is None or e.dest_path == dest)
                   and all(getattr(e, k) == v for k, v in fields.items()) for e in self.events)

    def about(self, path: Path) -> list[PhotoEvent]:
        return [e for e in self.events if e.path == path or e.dest_path == path]


def run_watching(root: Path, body: Callable[[Recorder, Watcher], Coroutine[Any, Any, None]], *,
                 polling: bool = False, follow_symlinks: bool = False, extra_roots: tuple[Path, ...] = ()) -> None:
    folders = tuple(FolderConfig(path=p, polling=polling) for p in (root, *extra_roots))
    library = LibraryConfig(folders=folders, follow_symlinks=follow_symlinks)

    async def main() -> None:
        rec = Recorder()
        watcher = Watcher(library, asyncio.get_running_loop(), rec.events.append, on_root_gone=rec.gone.append)
        with capture_logs() as logs:
            assert watcher.start() == []
        rec.modes = {Path(e["root"]): e["mode"] for e in logs if e["event"] == "watching"}
        try:
            await body(rec, watcher)
        finally:
            watcher.stop()

    asyncio.run(main())


def test_created_photo_gives_upsert_and_close(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()

    async def body(rec: Recorder, watcher: Watcher) -> None:
        assert rec.modes[root] == "native"
        (root / "a.jpg").write_bytes(JPEG)
        await aexpect(lambda: rec.has("upsert", root / "a.jpg", closed=True), what="closed upsert")
        assert all(e.kind == "upsert" and not e.is_dir for e in rec.about(root / "a.jpg"))

    run_watching(root, body)


def test_temporary_hidden_and_foreign_names_are_ignored_until_renamed(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / ".thumbs").mkdir(parents=True)

    async def body(rec: Recorder, watcher: Watcher) -> None:
        for name in ("b.jpg.part", "b.jpg.crdownload", "b.jpg.tmp", "b.jpg~", ".hidden.jpg", "notes.txt",
                     ".thumbs/c.jpg"):
            (root / name).write_bytes(JPEG)
        (root / "marker.png").write_bytes(JPEG)  # events are ordered: once this is seen, the rest were sent
        await aexpect(lambda: rec.has("upsert", root / "marker.png"), what="marker")
        assert {e.path for e in rec.events} == {root / "marker.png"}
        os.rename(root / "b.jpg.part", root / "b.jpg")  # a finished download
        await aexpect(lambda: rec.has("upsert", root / "b.jpg", closed=True), what="renamed into place")
        os.rename(root / "b.jpg", root / "b.jpg.tmp")  # renamed to a temp name: gone as far as we care
        await aexpect(lambda: rec.has("delete", root / "b.jpg"), what="renamed away")

    run_watching(root, body)


def test_move_delete_and_uppercase_extension(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)

    async def body(rec: Recorder, watcher: Watcher) -> None:
        (root / "A.JPG").write_bytes(JPEG)
        await aexpect(lambda: rec.has("upsert", root / "A.JPG"), what="upper-case extension")
        os.rename(root / "A.JPG", root / "sub" / "renamed.jpg")
        await aexpect(lambda: rec.has("move", root / "A.JPG", root / "sub" / "renamed.jpg"), what="move")
        os.unlink(root / "sub" / "renamed.jpg")
        await aexpect(lambda: rec.has("delete", root / "sub" / "renamed.jpg"), what="delete")

    run_watching(root, body)


def test_directory_move_is_one_event_and_directory_delete_passes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "trip").mkdir(parents=True)
    for i in range(5):
        (root / "trip" / f"{i}.jpg").write_bytes(JPEG)
    outside = tmp_path / "outside"
    (outside / "incoming").mkdir(parents=True)
    (outside / "incoming" / "x.jpg").write_bytes(JPEG)

    async def body(rec: Recorder, watcher: Watcher) -> None:
        os.rename(root / "trip", root / "trip-2024")
        await aexpect(lambda: rec.has("move", root / "trip", root / "trip-2024", is_dir=True), what="dir move")
        # Children of a moved folder are covered by the folder's move: no per-file moves.
        assert not [e for e in rec.events if e.kind == "move" and not e.is_dir]
        os.rename(outside / "incoming", root / "incoming")  # a folder moved in from outside the roots
        await aexpect(lambda: rec.has("upsert", root / "incoming", is_dir=True), what="folder moved in")
        shutil.rmtree(root / "trip-2024")
        await aexpect(lambda: rec.has("delete", root / "trip-2024", is_dir=True), what="dir delete")
        await aexpect(lambda: rec.has("delete", root / "trip-2024" / "3.jpg"), what="file delete in dir")

    run_watching(root, body)


def test_root_deleted_reports_root_gone_not_deletes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.jpg").write_bytes(JPEG)

    async def body(rec: Recorder, watcher: Watcher) -> None:
        os.rename(root, tmp_path / "elsewhere")
        (tmp_path / "elsewhere" / "new.jpg").write_bytes(JPEG)
        shutil.rmtree(tmp_path / "elsewhere")
        root.mkdir()
        shutil.rmtree(root)
        await aexpect(lambda: rec.gone, what="root gone")
        assert rec.gone[0] == root
        assert not [e for e in rec.events if e.kind == "delete" and e.path == root]

    run_watching(root, body)


def test_polling_observer_per_folder(tmp_path: Path) -> None:
    root = tmp_path / "nas"
    root.mkdir()

    async def body(rec: Recorder, watcher: Watcher) -> None:
        assert rec.modes[root] == "polling"
        (root / "p.webp").write_bytes(JPEG)
        await aexpect(lambda: rec.has("upsert", root / "p.webp"), timeout=30, what="polled create")
        os.rename(root / "p.webp", root / "q.webp")
        await aexpect(lambda: rec.has("move", root / "p.webp", root / "q.webp"), timeout=30, what="polled move")

    run_watching(root, body, polling=True)


@pytest.mark.parametrize("follow", [False, True])
def test_symlinks_alias_or_out_of_the_roots(tmp_path: Path, follow: bool) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(JPEG)
    (tmp_path / "outside-dir").mkdir()
    inside = root / "inside.jpg"
    inside.write_bytes(JPEG)

    async def body(rec: Recorder, watcher: Watcher) -> None:
        os.symlink(outside, root / "link-out.jpg")
        os.symlink(inside, root / "link-in.jpg")
        os.symlink(tmp_path / "outside-dir", root / "link-out-dir")
        (root / "marker.png").write_bytes(JPEG)
        await aexpect(lambda: rec.has("upsert", root / "marker.png"), what="marker")
        # A link to a photo in the library is an alias: it stands for the real path, never a second row.
        assert not rec.about(root / "link-in.jpg")
        assert rec.has("upsert", inside)
        # A link out of the roots is recorded under its own path only when following links.
        assert rec.has("upsert", root / "link-out.jpg") is follow
        assert rec.has("upsert", root / "link-out-dir", is_dir=True) is follow

    run_watching(root, body, follow_symlinks=follow)


def test_canonical_paths_fold_aliases_and_loops(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "real").mkdir(parents=True)
    (root / "real" / "a.jpg").write_bytes(JPEG)
    os.symlink(".", root / "loop")  # a folder link to its own parent
    os.symlink(root / "real", root / "alias")
    os.symlink(tmp_path, root / "up")  # leads out of the root (to its parent)
    for follow in (False, True):
        f = PathFilter([root], DEFAULT_EXTENSIONS, follow_symlinks=follow)
        assert f.photo_path(root / "loop" / "loop" / "real" / "a.jpg") == root / "real" / "a.jpg"
        assert f.photo_path(root / "alias" / "a.jpg") == root / "real" / "a.jpg"
        assert f.dir_path(root / "loop" / "alias") == root / "real"
        # Back into the root through a link out of it is still the same file.
        assert f.photo_path(root / "up" / "photos" / "real" / "a.jpg") == root / "real" / "a.jpg"
        assert f.photo_path(root / "up" / "x.jpg") == (root / "up" / "x.jpg" if follow else None)
    # A root that is itself reached through a link keeps its configured spelling.
    os.symlink(root, tmp_path / "pics")
    g = PathFilter([tmp_path / "pics"], DEFAULT_EXTENSIONS)
    assert g.photo_path(tmp_path / "pics" / "real" / "a.jpg") == tmp_path / "pics" / "real" / "a.jpg"


def test_path_filter_rules(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "a" / "nested"
    f = PathFilter([a, b], DEFAULT_EXTENSIONS)
    assert f.root_of(b / "x.jpg") == b
    assert f.root_of(a / "x.jpg") == a
    assert f.root_of(tmp_path / "x.jpg") is None
    assert f.accepts_file(a / "2024" / "IMG_1.HEIC")
    assert not f.accepts_file(a / ".git" / "x.jpg")
    assert not f.accepts_file(a / "x.jpeg.crdownload")
    assert not f.accepts_file(a / "x.gif")  # not in the default list
    assert not f.accepts_file(tmp_path / "x.jpg")
    assert f.accepts_dir(a / "2024")
    assert not f.accepts_dir(a / ".cache")
    # A dot in the root's own path does not hide everything under it.
    g = PathFilter([tmp_path / ".local" / "photos"], DEFAULT_EXTENSIONS)
    assert g.accepts_file(tmp_path / ".local" / "photos" / "x.jpg")
