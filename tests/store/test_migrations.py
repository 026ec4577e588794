"""Migrations: a DB built at the previous version upgrades in place; a newer one is refused."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from daemon.errors import StoreError
from daemon.library.reads import list_people
from daemon.store import Store, db, migrations
from daemon.store import base as B


def _build_v1(path: Path) -> None:
    """A v1 library as v1 code left it: a named and an unnamed person with faces, a file, a photo."""
    db.prepare_path(path)
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=1) == [1]
        conn.execute("BEGIN")
        conn.execute("INSERT INTO photos (id, content_hash, width, height, format, analysed_at) "
                     "VALUES (1, 'h1', 10, 10, 'JPEG', 'then')")
        conn.execute("INSERT INTO files (path, size, mtime_ns, status, photo_id, updated_at) "
                     "VALUES (?, 1, 1, 'done', 1, 'then')", (b"/old/\xff.jpg",))
        mean = np.ones(128, np.float32) / np.sqrt(128)
        conn.execute("INSERT INTO people (id, name, mean, face_count, photo_count, created_at, updated_at) "
                     "VALUES (1, 'Ada', ?, 1, 1, 'then', 'then')", (mean.tobytes(),))
        conn.execute("INSERT INTO people (id, name, mean, face_count, photo_count, created_at, updated_at) "
                     "VALUES (2, NULL, ?, 1, 1, 'then', 'then')", (mean.tobytes(),))
        for person in (1, 2):
            conn.execute("INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding, person_id) "
                         "VALUES (1, 0, 0, 5, 5, 0.9, '[]', ?, ?)", (mean.tobytes(), person))
        conn.execute("COMMIT")
    finally:
        conn.close()


def test_v1_database_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    _build_v1(path)
    with Store.open(path) as store:
        version, rows = store.read(lambda c: (
            migrations.current_version(c),
            c.execute("SELECT version, name FROM schema_migrations ORDER BY version").fetchall()))
        assert version == migrations.LATEST
        assert [r[0] for r in rows] == list(range(1, migrations.LATEST + 1))
        curated = store.read(lambda c: c.execute("SELECT id, curated FROM people ORDER BY id").fetchall())
        assert curated == [(1, 1), (2, 0)]
        names = store.read(lambda c: c.execute(
            "SELECT kind, person_id, name FROM corrections").fetchall())
        assert names == [("name", 1, "Ada")]
        assert [p.name for p in list_people(store)] == ["Ada", None]
        row = store.get_file("/old/\udcff.jpg")
        assert row is not None and row.photo_id == 1
    backups = list(tmp_path.glob("library.db.v1-*.bak"))
    assert len(backups) == 1
    assert stat.S_IMODE(backups[0].stat().st_mode) == 0o600
    old = sqlite3.connect(backups[0])
    try:
        assert old.execute("PRAGMA user_version").fetchone()[0] == 1
        assert old.execute("SELECT count(*) FROM faces").fetchone()[0] == 2
    finally:
        old.close()
    # Opening again applies nothing and makes no new backup.
    with Store.open(path):
        pass
    assert len(list(tmp_path.glob("library.db.v1-*.bak"))) == 1


def test_v3_failed_files_keep_their_reason_and_can_be_retried_after_v4(tmp_path: Path) -> None:
    from daemon.store import db, queries
    path = tmp_path / "library.db"
    db.prepare_path(path)
    conn = db.connect(path)
    try:
        migrations.migrate(conn, path, upto=3)
        conn.execute("INSERT INTO files (path, size, mtime_ns, status, reason, updated_at) "
                     "VALUES (?, 1, 1, 'failed', 'truncated', '2024-01-01T00:00:00Z')", (b"/p/x.jpg",))
        conn.commit()
        assert migrations.migrate(conn, path, upto=4) == [4]
    finally:
        conn.close()
    with Store.open(path) as store:
        [row] = store.read(queries.failed_files)
        assert (row.path, row.reason, row.error, row.retry) == ("/p/x.jpg", "truncated", None, False)
        assert store.write(lambda c: queries.mark_retry(c, ["/p"])) == ["/p/x.jpg"]
        file = store.get_file("/p/x.jpg")
        assert file is not None and file.retry and file.status == "failed"
        assert store.claim_retries() == ["/p/x.jpg"]
        file = store.get_file("/p/x.jpg")
        assert file is not None and not file.retry and file.status == "pending"
        assert store.claim_retries() == []
        # The daemon's poll uses the partial index.
        plan = store.read(lambda c: c.execute("EXPLAIN QUERY PLAN SELECT 1 FROM files WHERE retry = 1 LIMIT 1")
                          .fetchall())
        assert "files_retry" in str(plan)


def test_fresh_database_gets_every_migration_without_backup(tmp_path: Path) -> None:
    with Store.open(tmp_path / "library.db") as store:
        assert store.read(migrations.current_version) == migrations.LATEST
        assert store.read(lambda c: B.get_int(c, B.PEOPLE_REV)) == 0
    assert list(tmp_path.glob("*.bak")) == []


def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with Store.open(path):
        pass
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {migrations.LATEST + 1}")
    conn.close()
    with pytest.raises(StoreError, match=r"newer than this pictod.*upgrade pictod"):
        Store.open(path)


def test_run_refusing_a_missing_folder_leaves_the_library_untouched(tmp_path: Path) -> None:
    # `pictod run` checks missing folders against the library before it takes the daemon lock: that check must
    # only read (a running daemon may own the file; an older library must not be migrated by a refused start).
    path = tmp_path / "library.db"
    _build_v1(path)
    before = path.read_bytes()
    config = tmp_path / "config.toml"
    config.write_text(f'[library]\nfolders = ["{tmp_path / "typo"}"]\ndatabase = "{path}"\n')
    result = subprocess.run([sys.executable, "-m", "daemon.cli.main", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 78, result.stderr
    assert "is not a directory" in result.stderr
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("library.db.v1-*.bak"))


def test_v3_database_gains_the_metadata_columns_and_table(tmp_path: Path) -> None:
    """v3 -> v5 (issue 13's migration is v5, issue 14's retry columns v4): existing faces are 'detected', existing
    corrections the user's, photo_metadata empty."""
    path = tmp_path / "library.db"
    _build_v1(path)
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=3) == [2, 3]
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST
        assert store.read(lambda c: c.execute("SELECT DISTINCT source FROM faces").fetchall()) == [("detected",)]
        assert store.read(lambda c: c.execute("SELECT source, photo_id FROM corrections").fetchall()) == \
            [("user", None)]
        assert store.read(lambda c: c.execute("SELECT count(*) FROM photo_metadata").fetchone()) == (0,)
        with pytest.raises(StoreError):
            store.write(lambda c: c.execute("UPDATE faces SET source = 'other'"))
        # A photo's deletion takes its metadata row and its imported corrections with it.
        store.write(lambda c: c.execute("INSERT INTO photo_metadata (photo_id, dirty) VALUES (1, 1)"))
        store.write(lambda c: c.execute("INSERT INTO corrections (kind, face_id, person_id, created_at, source, "
                                        "photo_id) VALUES ('assign', 1, 1, 't', 'xmp', 1)"))
        store.write(lambda c: c.execute("DELETE FROM photos WHERE id = 1"))
        assert store.read(lambda c: c.execute("SELECT count(*) FROM photo_metadata").fetchone()) == (0,)
        assert store.read(lambda c: c.execute("SELECT count(*) FROM corrections WHERE source = 'xmp'").fetchone()) \
            == (0,)


def test_v5_database_gains_face_quality_and_rotation(tmp_path: Path) -> None:
    """v5 -> v6 (issue 11): existing faces get NULL quality (unknown: clustered as good) and rotation 0."""
    path = tmp_path / "library.db"
    _build_v1(path)
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=5) == [2, 3, 4, 5]
        assert "quality" not in {r[1] for r in conn.execute("PRAGMA table_info(faces)")}
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST >= 6
        assert store.read(lambda c: c.execute("SELECT quality, rotation FROM faces").fetchall()) == \
            [(None, 0), (None, 0)]


def test_v8_database_keeps_every_id_and_row_and_never_reuses_a_photo_id(tmp_path: Path) -> None:
    """v8 -> v9 (issue 22): photos rebuilt with AUTOINCREMENT and missing_since, every id and every row kept
    (faces, objects, files, corrections, metadata still point at their photo); then a deleted top id is never
    handed out again (without AUTOINCREMENT SQLite reuses max(id) + 1)."""
    from people_synth import analysis, content_hash, face_vectors, identities

    path = tmp_path / "library.db"
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=8) == [1, 2, 3, 4, 5, 6, 7, 8]
    finally:
        conn.close()
    rng = np.random.default_rng(22)
    centres = identities(2, seed=22)
    conn = db.connect(path)  # to v9 at once (no later step: v12 adds triggers on photos, dropped below); the rows
    try:                      # below go in through the v8 columns
        assert migrations.migrate(conn, path, upto=9) == [9]
    finally:
        conn.close()
    conn = sqlite3.connect(path)  # build the v8 state by hand: the store code is v9 now
    conn.execute("PRAGMA user_version = 8")
    conn.execute("DELETE FROM schema_migrations WHERE version >= 9")
    conn.execute("DROP TABLE photos")
    conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, content_hash TEXT NOT NULL UNIQUE, width INTEGER "
                 "NOT NULL, height INTEGER NOT NULL, format TEXT NOT NULL, taken_at TEXT, camera TEXT, gps_lat REAL, "
                 "gps_lon REAL, analysed_at TEXT NOT NULL)")
    conn.execute("ALTER TABLE files DROP COLUMN inode")
    conn.execute("ALTER TABLE files DROP COLUMN ctime_ns")
    conn.commit()
    conn.close()
    conn = db.connect(path)
    try:
        assert migrations.current_version(conn) == 8
        for i in (3, 7, 9):  # ids with gaps, as deletions leave them
            conn.execute("INSERT INTO photos (id, content_hash, width, height, format, analysed_at) "
                         "VALUES (?, ?, 10, 10, 'JPEG', 't')", (i, content_hash(i)))
            conn.execute("INSERT INTO files (path, size, mtime_ns, status, photo_id, updated_at) "
                         "VALUES (?, 1, 1, 'done', ?, 't')", (f"/p/{i}.jpg".encode(), i))
            conn.execute("INSERT INTO objects (photo_id, label, score, x1, y1, x2, y2) "
                         "VALUES (?, 'cat', 1, 0, 0, 1, 1)", (i,))
            emb = face_vectors(centres, np.array([i % 2]), rng)[0]
            conn.execute("INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding) "
                         "VALUES (?, 0, 0, 1, 1, 0.9, '[]', ?)", (i, B.blob(emb)))
        conn.execute("INSERT INTO photo_metadata (photo_id, dirty) VALUES (7, 1)")
        before = {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                  for t in ("photos", "files", "objects", "faces", "photo_metadata")}
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST >= 10
        after = {t: store.read(lambda c, t=t: c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                 for t in before}
        # missing_since NULL: present; then v11's kind 'photo', no duration, codec or pair
        assert [(*r, None, "photo", None, None, None) for r in before["photos"]] == after["photos"]
        assert [(*r, None, None) for r in before["files"]] == after["files"]  # inode, ctime_ns unknown
        assert [(*r, None, None) for r in before["objects"]] == after["objects"]  # v11: time, seen
        assert [(*r, None, None, None) for r in before["faces"]] == after["faces"]  # v11: time, track, seen
        assert before["photo_metadata"] == after["photo_metadata"]
        assert store.read(lambda c: c.execute("PRAGMA foreign_key_check").fetchall()) == []
        assert list(tmp_path.glob("library.db.v8-*.bak")), "a data migration backs the file up first"
        # The top id deleted, a new photo gets a new id.
        store.write(lambda c: c.execute("DELETE FROM photos WHERE id = 9"))
        fresh = store.record_analysis("/p/new.jpg", 1, 1, content_hash("new"), analysis([]))
        assert fresh.photo_id == 10
        # And the ON DELETE CASCADE of faces and objects still reaches the rebuilt table.
        assert store.read(lambda c: c.execute("SELECT count(*) FROM faces WHERE photo_id = 9").fetchone()) == (0,)
def test_v6_database_gains_sidecar_retries_and_abandoned_sidecars_are_dirty_again(tmp_path: Path) -> None:
    """v6 -> v7 (issue 22, item 5): a sidecar v6 gave up on (3 failures, dirty cleared) waits to be written again;
    one written fine stays clean; status shows the dirty count."""
    path = tmp_path / "library.db"
    _build_v1(path)
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=6) == [2, 3, 4, 5, 6]
        conn.execute("BEGIN")
        conn.execute("INSERT INTO photos (id, content_hash, width, height, format, analysed_at) "
                     "VALUES (2, 'h2', 10, 10, 'JPEG', 'then')")
        conn.execute("INSERT INTO photo_metadata (photo_id, dirty, dirty_gen, write_failures) VALUES (1, 0, 4, 3)")
        conn.execute("INSERT INTO photo_metadata (photo_id, dirty, dirty_gen, write_failures) VALUES (2, 0, 2, 0)")
        conn.execute("COMMIT")
    finally:
        conn.close()
    with Store.open(path, read_only=True) as old:  # a v6 library read as it is: no retry columns yet
        assert old.status_counts().sidecars_dirty == 0 and old.status_counts().sidecar_error is None
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST >= 7
        assert store.read(lambda c: c.execute("SELECT photo_id, dirty, dirty_gen, retry_at, last_error FROM "
                                              "photo_metadata ORDER BY photo_id").fetchall()) == \
            [(1, 1, 5, None, None), (2, 0, 2, None, None)]
        assert store.status_counts().sidecars_dirty == 1
        delay = store.sidecar_failed(1, "x.jpg.xmp: read-only file system")
        assert delay == 2.0 and store.sidecar_failed(1, "again") == 4.0
        assert store.sidecar_jobs(10, tags=False) == []  # not due yet
        assert store.status_counts().sidecar_error == "again"


def test_v10_database_gains_videos(tmp_path: Path) -> None:
    """v10 -> v11 (issue 24): every stored photo is kind 'photo' with no duration, codec or pair; its faces and
    objects have no time, track or spans; a video then records through the same write."""
    import dataclasses

    from people_synth import analysis, content_hash

    from daemon.types import DetectedObject, PhotoMeta

    path = tmp_path / "library.db"
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=10) == list(range(1, 11))
        conn.execute("INSERT INTO photos (content_hash, width, height, format, analysed_at) "
                     "VALUES (?, 10, 10, 'JPEG', 't')", (content_hash("old"),))
        conn.execute("INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding) "
                     "VALUES (1, 0, 0, 1, 1, 0.9, '[]', ?)", (B.blob(np.ones(128, np.float32) / np.sqrt(128)),))
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST >= 10
        assert store.read(lambda c: c.execute("SELECT kind, duration, codec, paired_with FROM photos").fetchall()) \
            == [("photo", None, None, None)]
        assert store.read(lambda c: c.execute("SELECT time, track, seen FROM faces").fetchall()) == [(None, None, None)]
        base = analysis([np.eye(128, dtype=np.float32)[0]], tags=("dog",))
        face = dataclasses.replace(base.faces[0], time=2.5, track=0, seen=((1.0, 4.0), (9.0, 9.0)))
        obj = DetectedObject(label="dog", score=0.9, box=(0, 0, 5, 5), time=1.0, seen=((1.0, 2.0),))
        clip = dataclasses.replace(base, faces=(face,), objects=(obj,), meta=PhotoMeta(
            width=1920, height=1080, format="MP4", kind="video", duration=61.5, codec="hevc"))
        store.record_analysis("/v/clip.mp4", 1, 1, content_hash("clip"), clip)
        assert store.read(lambda c: c.execute("SELECT kind, duration, codec FROM photos WHERE id = 2").fetchone()) \
            == ("video", 61.5, "hevc")
        assert store.read(lambda c: c.execute("SELECT time, track, seen FROM faces WHERE photo_id = 2").fetchone()) \
            == (2.5, 0, "[[1.0, 4.0], [9.0, 9.0]]")
        assert store.read(lambda c: c.execute("SELECT time, seen FROM objects WHERE photo_id = 2").fetchone()) \
            == (1.0, "[[1.0, 2.0]]")
