"""The store on real SQLite files: settings, privacy, paths, content identity, moves, removals, the writer."""

from __future__ import annotations

import os
import sqlite3
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from people_synth import analysis, content_hash, face_vectors, identities

from daemon.errors import StoreError
from daemon.store import Store, missing
from daemon.store import base as B
from daemon.store import queries as q


def photo_of(store: Store, content: str) -> int | None:
    """The analysed photo with these bytes (the store's one hash lookup, read directly)."""
    return store.read(lambda c: q.photo_id_for_hash(c, content))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "lib" / "library.db")
    yield s
    s.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_open_creates_private_dirs_and_files(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "library.db"
    with Store.open(db) as s:
        s.record_analysis("/p/x.jpg", 1, 2, content_hash(1), analysis([identities(1)[0]]))
        assert _mode(tmp_path / "a") == 0o700
        assert _mode(tmp_path / "a" / "b") == 0o700
        assert _mode(db) == 0o600
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            assert side.exists(), suffix
            assert _mode(side) == 0o600, suffix


def test_open_keeps_umask_independent_privacy(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        with Store.open(tmp_path / "open" / "library.db") as s:
            s.link_or_mark_pending("/x", 1, 1, content_hash("pending"))
    finally:
        os.umask(old)
    assert _mode(tmp_path / "open") == 0o700
    assert _mode(tmp_path / "open" / "library.db") == 0o600


def test_connection_settings(store: Store) -> None:
    def pragmas(conn: sqlite3.Connection) -> tuple[object, ...]:
        return (conn.execute("PRAGMA journal_mode").fetchone()[0], conn.execute("PRAGMA foreign_keys").fetchone()[0],
                conn.execute("PRAGMA synchronous").fetchone()[0], conn.execute("PRAGMA busy_timeout").fetchone()[0])

    assert store.read(pragmas) == ("wal", 1, 1, 30000)
    assert store.write(pragmas) == ("wal", 1, 1, 30000)


def test_unopenable_database_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "not.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match=r"not\.db"):
        Store.open(bad)


HOSTILE = [
    "/photos/line\nbreak.jpg",
    "/photos/quote's \"double\".jpg",
    os.fsdecode(b"/photos/latin1-\xe9t\xe9.jpg"),  # not UTF-8: surrogateescape
    "/photos/emoji 😀 ünïcode.jpg",
    "/photos/back\\slash%_.jpg",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_hostile_paths_round_trip(store: Store, path: str) -> None:
    store.record_analysis(path, 10, 20, content_hash(path), analysis([]))
    row = store.get_file(path)
    assert row is not None and row.path == path and row.status == "done"
    assert os.fsencode(row.path) == os.fsencode(path)
    assert [r.path for r in store.iter_files("/photos")] == [path]
    moved = path.replace("/photos/", "/other/")
    assert store.move(path, moved) == 1
    assert store.get_file(path) is None
    assert store.get_file(moved) is not None
    assert store.remove(moved).files_removed == 1
    assert list(store.iter_files()) == []


def test_prefix_queries_match_whole_directory_names(store: Store) -> None:
    for p in ["/a/x.jpg", "/a/sub/y.jpg", "/a/sub/deeper/z.jpg", "/ab/no.jpg", "/a.jpg", "/a0/no.jpg", "/A/no.jpg"]:
        store.link_or_mark_pending(p, 1, 1, content_hash("pending"))
    under = [r.path for r in store.iter_files("/a")]
    assert under == ["/a/sub/deeper/z.jpg", "/a/sub/y.jpg", "/a/x.jpg"]
    assert [r.path for r in store.iter_files("/a/")] == under
    assert store.remove("/a/sub").files_removed == 2
    assert sorted(r.path for r in store.iter_files()) == ["/A/no.jpg", "/a.jpg", "/a/x.jpg", "/a0/no.jpg",
                                                          "/ab/no.jpg"]


def test_move_directory_and_file_over_existing(store: Store) -> None:
    c = identities(2)
    store.record_analysis("/in/a.jpg", 1, 1, content_hash("a"), analysis([c[0]]))
    store.record_analysis("/in/deep/b.jpg", 1, 1, content_hash("b"), analysis([c[1]]))
    store.record_analysis("/out/b.jpg", 1, 1, content_hash("old"), analysis([c[1]]))
    assert store.move("/in", "/moved") == 2
    assert sorted(r.path for r in store.iter_files("/moved")) == ["/moved/a.jpg", "/moved/deep/b.jpg"]
    # A file moved onto an existing row replaces it; the replaced photo (no file left) is missing (issue 22).
    assert store.move("/moved/deep/b.jpg", "/out/b.jpg") == 1
    assert store.status_counts().photos_missing == 1
    assert store.get_file("/out/b.jpg").photo_id == photo_of(store, content_hash("b"))
    assert store.status_counts().photos == 2


def test_content_identity_copy_links_without_new_photo(store: Store) -> None:
    e = identities(2)
    first = store.record_analysis("/p/one.jpg", 5, 6, content_hash("x"), analysis(e, tags=("dog", "cat")))
    assert first.created and len(first.face_ids) == 2 and first.objects == 2
    assert photo_of(store, content_hash("x")) == first.photo_id
    copy = store.link_or_mark_pending("/p/copy.jpg", 5, 7, content_hash("x"))
    assert copy is not None and not copy.created and copy.photo_id == first.photo_id
    assert copy.face_ids == first.face_ids and copy.objects == 2
    assert store.link_or_mark_pending("/p/other.jpg", 5, 7, content_hash("nope")) is None
    # A concurrent analysis of the same bytes is dropped and linked instead.
    again = store.record_analysis("/p/third.jpg", 5, 8, content_hash("x"), analysis(e))
    assert not again.created and again.photo_id == first.photo_id
    counts = store.status_counts()
    assert (counts.photos, counts.faces, counts.files_done) == (1, 2, 3)
    # The photo lives while any file shows it.
    assert store.remove("/p/one.jpg").photo_ids == ()
    assert store.remove("/p/copy.jpg").photo_ids == ()
    gone = store.remove("/p/third.jpg")
    # Its last file gone, the photo is missing (issue 22): hidden from the counts, deleted only by a purge.
    assert gone.photos_missing == (first.photo_id,) and gone.faces_removed == 0
    assert store.status_counts().faces == 0 and store.status_counts().photos_missing == 1
    purged = store.write(lambda c: missing.purge(c, gone.photos_missing))
    assert purged.photo_ids == (first.photo_id,) and purged.faces_removed == 2


def test_changed_content_replaces_photo_and_drops_orphan(store: Store) -> None:
    c = identities(2)
    a = store.record_analysis("/p/x.jpg", 1, 1, content_hash("v1"), analysis([c[0]]))
    store.link_or_mark_pending("/p/x.jpg", 2, 2, content_hash("pending"))
    assert store.get_file("/p/x.jpg").photo_id == a.photo_id  # kept until the new result lands
    b = store.record_analysis("/p/x.jpg", 2, 2, content_hash("v2"), analysis([c[1]]))
    assert b.removed is not None and b.removed.photo_ids == (a.photo_id,)
    assert photo_of(store, content_hash("v1")) is None
    store.record_failure("/p/x.jpg", 3, 3, "truncated")
    row = store.get_file("/p/x.jpg")
    assert (row.status, row.reason, row.photo_id) == ("failed", "truncated", None)
    assert store.status_counts().photos == 0


def test_embeddings_and_metadata_stored_as_given(store: Store) -> None:
    e = face_vectors(identities(3), np.array([0, 1, 2]), np.random.default_rng(1))
    r = store.record_analysis("/p/x.jpg", 1, 1, content_hash(1), analysis(e))
    rows = store.read(lambda c: c.execute("SELECT embedding, typeof(embedding) FROM faces ORDER BY id").fetchall())
    assert [r[1] for r in rows] == ["blob"] * 3
    np.testing.assert_array_equal(np.stack([B.vec(r[0]) for r in rows]), e)
    assert [f.id for f in r.new_faces] == list(r.face_ids)


def test_write_errors_roll_back_and_reach_the_caller(store: Store) -> None:
    def task(conn: sqlite3.Connection) -> None:
        q.mark_pending(conn, "/p/rolled-back.jpg", 1, 1)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        store.write(task)
    assert store.get_file("/p/rolled-back.jpg") is None

    def bad_sql(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO files (path) VALUES (NULL)")

    with pytest.raises(StoreError, match="database write failed"):
        store.write(bad_sql)
    store.link_or_mark_pending("/p/after.jpg", 1, 1, content_hash("pending"))  # the writer survives
    assert store.get_file("/p/after.jpg") is not None


def test_concurrent_writers_serialize(store: Store) -> None:
    c = identities(4)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(40):
                store.record_analysis(f"/t{t}/{i}.jpg", i, i, content_hash((t, i)), analysis([c[t]]))
                # read-modify-write: lost updates would show if two tasks interleaved
                store.write(lambda conn: B.bump(conn, "test_counter"))
                store.get_file(f"/t{t}/{i}.jpg")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.read(lambda conn: B.get_int(conn, "test_counter")) == 160
    counts = store.status_counts()
    assert (counts.files_done, counts.photos, counts.faces) == (160, 160, 160)


def test_closed_store_refuses(tmp_path: Path) -> None:
    s = Store.open(tmp_path / "library.db")
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.link_or_mark_pending("/x", 1, 1, content_hash("pending"))
    with pytest.raises(StoreError, match="closed"):
        s.get_file("/x")


def test_second_process_connection_sees_writes(store: Store) -> None:
    store.link_or_mark_pending("/p/x.jpg", 1, 1, content_hash("pending"))
    other = sqlite3.connect(store.path)
    try:
        assert other.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    finally:
        other.close()


def _count_selects(store: Store) -> list[str]:
    """Every SELECT the writer connection runs from now on (the trace is removed by the caller)."""
    seen: list[str] = []
    store.write(lambda conn: conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.lstrip().upper().startswith("SELECT") else None))
    return seen


def test_directory_move_and_remove_are_batched(store: Store) -> None:
    # 600 files: more than one IN-list chunk; every tenth destination already holds another photo.
    c = identities(3)
    n = 600

    def fill(conn: sqlite3.Connection) -> None:
        for i in range(n):
            q.record_analysis(conn, f"/src/{i}.jpg", 1, 1, content_hash(("src", i)), analysis([c[i % 3]]))
            if i % 10 == 0:
                q.record_analysis(conn, f"/dst/{i}.jpg", 1, 1, content_hash(("dst", i)), analysis([c[0]]))

    store.write(fill)
    assert store.status_counts().photos == n + n // 10
    seen = _count_selects(store)
    assert store.move("/src", "/dst") == n
    moved_selects = len(seen)
    seen.clear()
    # The replaced rows' photos had no other file: missing (issue 22), out of the counts.
    assert store.status_counts().photos == n and store.status_counts().photos_missing == n // 10
    assert store.get_file("/dst/10.jpg").photo_id == photo_of(store, content_hash(("src", 10)))
    missed = store.remove("/dst")
    result = store.write(lambda c: missing.purge(c, missed.photos_missing))  # issue 22: missing, then purged
    removed_selects = len(seen)
    store.write(lambda conn: conn.set_trace_callback(None))
    assert missed.files_removed == n and len(missed.photos_missing) == n
    assert len(result.photo_ids) == n and result.faces_removed == n
    assert list(result.face_ids) == sorted(result.face_ids)
    assert store.status_counts().photos == store.status_counts().faces == 0
    # One query per file or photo before (600+ and 1,200+); a few per chunk of 500 now.
    assert moved_selects < 30, moved_selects
    assert removed_selects < 30, removed_selects
