"""reconcile.py: the disk walk, the diff against database rows, and the missing-root guard (real folders)."""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import pytest

from daemon.config import DEFAULT_EXTENSIONS
from daemon.runtime.reconcile import RootUnavailableError, check_root, plan, reconcile_folder, scan_disk
from daemon.runtime.watch import PathFilter

T = TypeVar("T")


@dataclass(frozen=True)
class Row:
    path: str
    size: int
    mtime_ns: int
    status: str = "done"
    retry: bool = False


def make(root: Path, rel: str, data: bytes = b"x" * 10) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def row_for(p: Path, status: str = "done") -> Row:
    st = p.stat()
    return Row(str(p), st.st_size, st.st_mtime_ns, status)


def test_a_failed_file_marked_for_retry_is_planned_like_a_changed_one(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    failed, marked = make(root, "failed.jpg"), make(root, "marked.jpg")
    rows = [row_for(failed, "failed"), dataclasses.replace(row_for(marked, "failed"), retry=True)]
    result = plan(scan_disk(root, PathFilter([root], DEFAULT_EXTENSIONS)), rows, PathFilter([root], DEFAULT_EXTENSIONS))
    assert [e.path for e in result.upserts] == [marked]
    assert (result.changed, result.unchanged) == (1, 1)


def test_scan_disk_filters_like_the_watcher(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    keep = [make(root, "a.jpg"), make(root, "2024/b.PNG"), make(root, "2024/deep/c.heic")]
    for rel in ("x.jpg.part", ".hidden.jpg", ".cache/d.jpg", "notes.txt", "e.jpg~"):
        make(root, rel)
    os.symlink(tmp_path / "outside.jpg", root / "dangling.jpg")
    (tmp_path / "elsewhere").mkdir()
    make(tmp_path / "elsewhere", "f.jpg")
    os.symlink(tmp_path / "elsewhere", root / "linked-dir")
    os.symlink(".", root / "2024" / "loop")  # a folder link to its own parent
    os.symlink(keep[0], root / "alias.jpg")
    filt = PathFilter([root], DEFAULT_EXTENSIONS)
    scan = scan_disk(root, filt)
    assert sorted(scan.files) == sorted(str(p) for p in keep)
    followed = scan_disk(root, PathFilter([root], DEFAULT_EXTENSIONS, follow_symlinks=True))
    assert sorted(followed.files) == sorted([*(str(p) for p in keep), str(root / "linked-dir" / "f.jpg")])
    assert scan.files[str(keep[0])].size == 10
    flat = scan_disk(root, filt, recursive=False)
    assert list(flat.files) == [str(keep[0])]


def test_plan_new_changed_pending_unchanged_vanished(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    new = make(root, "new.jpg")
    same = make(root, "same.jpg")
    changed = make(root, "changed.jpg")
    pending = make(root, "pending.jpg")
    rows = [row_for(same), Row(str(changed), 3, 1), row_for(pending, "pending"), Row(str(root / "gone.jpg"), 1, 1)]
    filt = PathFilter([root], DEFAULT_EXTENSIONS)
    result = plan(scan_disk(root, filt), rows, filt)
    assert (result.new, result.changed, result.resumed, result.unchanged) == (1, 1, 1, 1)
    assert {e.path for e in result.upserts} == {new, changed, pending}
    assert all(e.kind == "upsert" and not e.closed for e in result.upserts)
    assert [(e.kind, e.path) for e in result.deletes] == [("delete", root / "gone.jpg")]


def test_missing_root_raises_and_removes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "mnt" / "photos"
    filt = PathFilter([root], DEFAULT_EXTENSIONS)
    rows = [Row(str(root / "a.jpg"), 1, 1)]
    with pytest.raises(RootUnavailableError, match="missing"):
        reconcile_folder(root, filt, rows)
    root.parent.mkdir(parents=True)
    root.write_bytes(b"not a dir")
    with pytest.raises(RootUnavailableError, match="not a directory"):
        check_root(root)


def _as_unprivileged(fn: Callable[[], T]) -> T:
    """Run `fn` in a forked child that dropped root (permission bits do not stop root), return its result."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            data = pickle.dumps(fn())
        except BaseException as exc:
            data = pickle.dumps(exc)
        with os.fdopen(write, "wb") as f:
            f.write(data)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        result = pickle.loads(f.read())
    os.waitpid(pid, 0)
    if isinstance(result, BaseException):
        raise result
    return result  # type: ignore[no-any-return]


def test_unreadable_subfolder_removes_nothing_under_it(tmp_path: Path) -> None:
    # Outside pytest's 0700 tmp folder, so an unprivileged child can reach it.
    base = Path(tempfile.mkdtemp(prefix="pictod-reconcile-"))
    try:
        os.chmod(base, 0o755)
        root = base / "photos"
        locked = make(root, "locked/a.jpg").parent
        other = make(root, "b.jpg")
        os.chmod(root, 0o755)
        os.chmod(other, 0o644)
        rows = [row_for(root / "locked" / "a.jpg"), Row(str(root / "vanished.jpg"), 1, 1), row_for(other)]
        os.chmod(locked, 0)
        run = partial(reconcile_folder, root, PathFilter([root], DEFAULT_EXTENSIONS), rows)
        result = _as_unprivileged(run) if os.geteuid() == 0 else run()
        assert result.unreadable == 1
        assert [e.path for e in result.deletes] == [root / "vanished.jpg"]
        assert result.unchanged == 1
    finally:
        os.chmod(base / "photos" / "locked", 0o755)
        shutil.rmtree(base)


def test_nested_root_rows_are_left_to_the_inner_root(tmp_path: Path) -> None:
    outer = tmp_path / "photos"
    inner = outer / "phone"
    make(outer, "a.jpg")
    inner.mkdir()
    filt = PathFilter([outer, inner], DEFAULT_EXTENSIONS)
    rows = [Row(str(inner / "gone-from-inner.jpg"), 1, 1)]
    result = reconcile_folder(outer, filt, rows, recursive=False)
    assert result.deletes == []


def test_empty_root_with_known_photos_is_an_unmounted_drive(tmp_path: Path) -> None:
    root = tmp_path / "mnt"
    root.mkdir()  # the mount point left behind by an unmounted drive
    filt = PathFilter([root], DEFAULT_EXTENSIONS)
    rows = [Row(str(root / "a.jpg"), 1, 1), Row(str(root / "sub" / "b.jpg"), 1, 1)]
    with pytest.raises(RootUnavailableError, match="empty, but the library has 2 photo"):
        reconcile_folder(root, filt, rows)
    # A subfolder emptied on purpose is not a root: its rows go.
    (root / "sub").mkdir()
    make(root, "keep.jpg")
    result = reconcile_folder(root / "sub", filt, [Row(str(root / "sub" / "b.jpg"), 1, 1)])
    assert [e.path for e in result.deletes] == [root / "sub" / "b.jpg"]
    # Once anything is in the root again, the rest is cleaned up.
    result = reconcile_folder(root, filt, rows)
    assert {e.path for e in result.deletes} == {root / "a.jpg", root / "sub" / "b.jpg"}
