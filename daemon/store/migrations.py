"""Versioned schema migrations, each applied in its own transaction with its own record row.

`schema_migrations` holds one row per applied version and `PRAGMA user_version` the current version. A DB
from an older version is upgraded in place (the file is copied aside first when a migration rewrites data);
a DB from a newer pictod is refused with a StoreError saying what to do.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import structlog

from daemon.errors import StoreError
from daemon.store.base import SETTLE_REV, forget_columns, now

log = structlog.get_logger()


@dataclass(frozen=True)
class Migration:
    """One schema step; `data` marks a step that rewrites rows (the DB is backed up before it)."""

    version: int
    name: str
    apply: Callable[[sqlite3.Connection], None]
    data: bool = False
    rebuild: bool = False  # rebuilds a table others reference: foreign keys off around it, checked before commit


def _v1_base(conn: sqlite3.Connection) -> None:
    for statement in V1_SQL:
        conn.execute(statement)


V1_SQL = (
    """CREATE TABLE photos (
        id INTEGER PRIMARY KEY,
        content_hash TEXT NOT NULL UNIQUE,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        format TEXT NOT NULL,
        taken_at TEXT,
        camera TEXT,
        gps_lat REAL,
        gps_lon REAL,
        analysed_at TEXT NOT NULL
    )""",
    """CREATE TABLE files (
        id INTEGER PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
        reason TEXT,
        photo_id INTEGER REFERENCES photos(id) ON DELETE SET NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX files_photo ON files(photo_id)",
    "CREATE INDEX files_status ON files(status)",
    """CREATE TABLE objects (
        id INTEGER PRIMARY KEY,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        label TEXT NOT NULL,
        score REAL NOT NULL,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL
    )""",
    "CREATE INDEX objects_photo ON objects(photo_id)",
    "CREATE INDEX objects_label ON objects(label)",
    """CREATE TABLE people (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        mean BLOB,
        face_count INTEGER NOT NULL DEFAULT 0,
        photo_count INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    # AUTOINCREMENT: face ids only grow, so the people manager can pick up new faces with `id > last`.
    """CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
        x1 REAL NOT NULL, y1 REAL NOT NULL, x2 REAL NOT NULL, y2 REAL NOT NULL,
        score REAL NOT NULL,
        landmarks TEXT NOT NULL,
        embedding BLOB NOT NULL,
        person_id INTEGER REFERENCES people(id) ON DELETE SET NULL
    )""",
    "CREATE INDEX faces_photo ON faces(photo_id)",
    "CREATE INDEX faces_person ON faces(person_id)",
    "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)


def _v2_corrections(conn: sqlite3.Connection) -> None:
    # v2: user corrections become first-class. A 'curated' person (named, merged into, or given a face by
    # the user) anchors its faces across reclusters; people named under v1 become curated.
    conn.execute("""CREATE TABLE corrections (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('assign', 'reject', 'merge', 'name')),
        face_id INTEGER REFERENCES faces(id) ON DELETE CASCADE,
        person_id INTEGER REFERENCES people(id) ON DELETE CASCADE,
        other_person_id INTEGER,
        name TEXT,
        created_at TEXT NOT NULL
    )""")
    conn.execute("CREATE INDEX corrections_face ON corrections(face_id)")
    conn.execute("CREATE INDEX corrections_person ON corrections(person_id)")
    conn.execute("ALTER TABLE people ADD COLUMN curated INTEGER NOT NULL DEFAULT 0")
    conn.execute("UPDATE people SET curated = 1 WHERE name IS NOT NULL")
    stamp = now()
    conn.execute(
        "INSERT INTO corrections (kind, person_id, name, created_at) "
        "SELECT 'name', id, name, ? FROM people WHERE name IS NOT NULL", (stamp,))


def _v3_embedding_sums(conn: sqlite3.Connection) -> None:
    # v3: each person keeps the float64 sum of its faces' embeddings, so a face joining or leaving updates the
    # mean in O(1) instead of re-reading every face of the person. NULL until the person is first touched,
    # then computed from its faces (so the upgrade itself rewrites nothing).
    conn.execute("ALTER TABLE people ADD COLUMN embedding_sum BLOB")


def _v4_retry_and_error(conn: sqlite3.Connection) -> None:
    # v4 (issue 14): `pictod retry` marks failed files to be analysed again (the daemon picks marked rows up on
    # its status tick, a scan treats them as changed); `error` keeps a failure's one-line message for
    # `pictod failed`. The partial index keeps the daemon's poll for marks one probe.
    conn.execute("ALTER TABLE files ADD COLUMN retry INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE files ADD COLUMN error TEXT")
    conn.execute("CREATE INDEX files_retry ON files(retry) WHERE retry = 1")


def _v5_metadata(conn: sqlite3.Connection) -> None:
    # v5 (issue 13): names imported from XMP. A face is 'detected' by the analysis or 'xmp' (a named region no
    # detector found, its crop embedded); a correction is the user's or imported ('xmp', with its photo, so a
    # changed sidecar replaces that photo's imports and never the user's). photo_metadata: the sidecar last seen
    # per photo (start-up reconcile notices a change) and the dirty flags of the batched sidecar writer.
    conn.execute("ALTER TABLE faces ADD COLUMN source TEXT NOT NULL DEFAULT 'detected' "
                 "CHECK (source IN ('detected', 'xmp'))")
    conn.execute("ALTER TABLE corrections ADD COLUMN source TEXT NOT NULL DEFAULT 'user' "
                 "CHECK (source IN ('user', 'xmp'))")
    conn.execute("ALTER TABLE corrections ADD COLUMN photo_id INTEGER REFERENCES photos(id) ON DELETE CASCADE")
    conn.execute("CREATE INDEX corrections_photo ON corrections(photo_id) WHERE photo_id IS NOT NULL")
    conn.execute("""CREATE TABLE photo_metadata (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        sidecar BLOB,
        sidecar_size INTEGER,
        sidecar_mtime_ns INTEGER,
        sidecar_digest TEXT,
        written_digest TEXT,
        dirty INTEGER NOT NULL DEFAULT 0,
        dirty_gen INTEGER NOT NULL DEFAULT 0,
        write_failures INTEGER NOT NULL DEFAULT 0
    )""")
    conn.execute("CREATE INDEX photo_metadata_dirty ON photo_metadata(photo_id) WHERE dirty = 1")
    conn.execute("CREATE INDEX photo_metadata_sidecar ON photo_metadata(sidecar) WHERE sidecar IS NOT NULL")


def _v6_face_quality(conn: sqlite3.Connection) -> None:
    # v6 (issue 11): each face's quality score (analysis/hard_faces.py: 0 useless .. 1 good; NULL when unknown: faces
    # stored before v6 or imported from XMP, treated as good by clustering) and the clockwise turn (degrees)
    # of the photo under which the detector found it.
    conn.execute("ALTER TABLE faces ADD COLUMN quality REAL")
    conn.execute("ALTER TABLE faces ADD COLUMN rotation INTEGER NOT NULL DEFAULT 0")


def _v7_sidecar_retries(conn: sqlite3.Connection) -> None:
    # v7 (issue 22, item 5): a sidecar write that fails is retried with backoff for as long as the photo stays
    # dirty, across restarts: when to try again (ISO 8601 UTC, NULL: now) and the last error, for `status`.
    conn.execute("ALTER TABLE photo_metadata ADD COLUMN retry_at TEXT")
    conn.execute("ALTER TABLE photo_metadata ADD COLUMN last_error TEXT")
    # Sidecars an older pictod gave up on after 3 failures (dirty cleared, failures kept) are dirty again.
    conn.execute("UPDATE photo_metadata SET dirty = 1, dirty_gen = dirty_gen + 1, write_failures = 0 "
                 "WHERE dirty = 0 AND write_failures >= 3")


def _v8_review_answers(conn: sqlite3.Connection) -> None:
    # v8 (issue 21): the answers of the "is this the same person?" review, one row each, newest last, so an
    # answer can be undone exactly: what the face had before (`before_person`, `before_pinned`) and whether the
    # answer itself added the 'reject' correction (`added_reject`: a rejection made earlier survives an undo).
    conn.execute("""CREATE TABLE review_answers (
        id INTEGER PRIMARY KEY,
        person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
        face_id INTEGER NOT NULL REFERENCES faces(id) ON DELETE CASCADE,
        answer TEXT NOT NULL CHECK (answer IN ('yes', 'no', 'skip')),
        before_person INTEGER,
        before_pinned INTEGER NOT NULL DEFAULT 0,
        added_reject INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    )""")
    conn.execute("CREATE INDEX review_answers_person ON review_answers(person_id, id)")
def _v9_missing_and_ids(conn: sqlite3.Connection) -> None:
    # v9 (issue 22): a photo whose files all vanished is *missing* (its time in missing_since), not deleted: its
    # analysis, faces and people stay until library.keep_missing_days have passed or `pictod purge`; the same
    # bytes coming back restore it. Photo ids are never reused (AUTOINCREMENT; faces and people had it since
    # v1): the table is rebuilt keeping every id and row. files.inode and files.ctime_ns let a file replaced
    # by other bytes of the same size and mtime be noticed (NULL: not seen since the upgrade).
    # The photos table as v1 made it (unchanged up to v8), its key now AUTOINCREMENT.
    conn.execute(V1_SQL[0].replace("CREATE TABLE photos (", "CREATE TABLE photos_v9 (", 1)
                 .replace("id INTEGER PRIMARY KEY,", "id INTEGER PRIMARY KEY AUTOINCREMENT,", 1))
    conn.execute("ALTER TABLE photos_v9 ADD COLUMN missing_since TEXT")
    conn.execute("INSERT INTO photos_v9 (id, content_hash, width, height, format, taken_at, camera, gps_lat, "
                 "gps_lon, analysed_at) SELECT id, content_hash, width, height, format, taken_at, camera, gps_lat, "
                 "gps_lon, analysed_at FROM photos")
    conn.execute("DROP TABLE photos")
    conn.execute("ALTER TABLE photos_v9 RENAME TO photos")
    conn.execute("CREATE INDEX photos_missing ON photos(missing_since) WHERE missing_since IS NOT NULL")
    conn.execute("ALTER TABLE files ADD COLUMN inode INTEGER")
    conn.execute("ALTER TABLE files ADD COLUMN ctime_ns INTEGER")
    broken = conn.execute("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise sqlite3.IntegrityError(f"{len(broken)} rows would lose the photo they name")


def _v10_places_and_events(conn: sqlite3.Connection) -> None:
    # v10 (issue 25): a photo's place (city, region, country) hangs off the photo, not a path, so it stays when
    # the file moves; `source` says who named it (the geocoder from the stored GPS, or another tool's XMP, which
    # wins); a photo with GPS that has no place gets a row with source 'none' and the reason. `folded` is the
    # three names case- and accent-folded for `photos --place`. Photos already in the library are placed from
    # their stored GPS by the daemon's first pass after this migration (`library.places.fill`): no re-analysis.
    conn.execute("""CREATE TABLE photo_places (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        city TEXT, region TEXT, country TEXT, country_code TEXT,
        source TEXT NOT NULL CHECK (source IN ('geocoder', 'xmp', 'none')),
        reason TEXT,
        folded TEXT NOT NULL DEFAULT ''
    )""")
    conn.execute("CREATE INDEX photo_places_country ON photo_places(country, region, city)")
    # Events: photos grouped by time gaps and distance. `name` is the user's (kept across regrouping, like a
    # person's), `auto_name` pictod's ("Skagen, June 2019"). event_photos has no foreign key to photos: a photo
    # purged leaves its row behind for the next regroup to notice (`store.events.update`).
    conn.execute("""CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT,
        auto_name TEXT NOT NULL,
        start_at TEXT NOT NULL,
        end_at TEXT NOT NULL,
        photo_count INTEGER NOT NULL,
        updated_at TEXT NOT NULL
    )""")
    conn.execute("""CREATE TABLE event_photos (
        photo_id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
        taken_at TEXT NOT NULL,
        lat REAL, lon REAL
    )""")
    conn.execute("CREATE INDEX event_photos_time ON event_photos(taken_at)")
    conn.execute("CREATE INDEX event_photos_event ON event_photos(event_id)")


def _v11_videos(conn: sqlite3.Connection) -> None:
    # v11 (issue 24): videos are items like photos. photos.kind ('photo' | 'video'); a video's duration (seconds)
    # and codec (its displayed frame size is width/height); paired_with: a Live Photo's video points at its still
    # (the pair is one item: the video is hidden from the photo search, the still carries it). A video's face is
    # one track's best face: its frame's time, the track's number in the video and when the track is seen (JSON
    # [[start, end], ...] in seconds); a video's object the same, per label.
    conn.execute("ALTER TABLE photos ADD COLUMN kind TEXT NOT NULL DEFAULT 'photo' CHECK (kind IN ('photo', 'video'))")
    conn.execute("ALTER TABLE photos ADD COLUMN duration REAL")
    conn.execute("ALTER TABLE photos ADD COLUMN codec TEXT")
    conn.execute("ALTER TABLE photos ADD COLUMN paired_with INTEGER REFERENCES photos(id) ON DELETE SET NULL")
    conn.execute("CREATE INDEX photos_kind ON photos(kind) WHERE kind <> 'photo'")
    conn.execute("CREATE INDEX photos_paired ON photos(paired_with) WHERE paired_with IS NOT NULL")
    conn.execute("ALTER TABLE faces ADD COLUMN time REAL")
    conn.execute("ALTER TABLE faces ADD COLUMN track INTEGER")
    conn.execute("ALTER TABLE faces ADD COLUMN seen TEXT")
    conn.execute("ALTER TABLE objects ADD COLUMN time REAL")
    conn.execute("ALTER TABLE objects ADD COLUMN seen TEXT")


# A photo's earliest done file's mtime; none for a Live Photo's video (v11: its still is the item shown).
_FILE_NS = ("CASE WHEN p.paired_with IS NOT NULL THEN NULL ELSE (SELECT min(f.mtime_ns) FROM files f "
            "WHERE f.photo_id = p.id AND +f.status = 'done') END")


def _photo_dates_refresh(photo_id: str) -> str:
    """The statement that makes one photo's `photo_dates` row what its photo and files say (none for a photo that
    is gone); `photo_id` is the trigger's NEW.x / OLD.x."""
    return ("INSERT OR REPLACE INTO photo_dates (photo_id, taken, file_ns) SELECT p.id, substr(p.taken_at, 1, 19), "
            f"{_FILE_NS} FROM photos p WHERE p.id = {photo_id};")


V12_TRIGGERS = (
    f"CREATE TRIGGER photo_dates_photo_new AFTER INSERT ON photos BEGIN {_photo_dates_refresh('NEW.id')} END",
    f"CREATE TRIGGER photo_dates_photo_taken AFTER UPDATE OF taken_at, paired_with ON photos BEGIN "
    f"{_photo_dates_refresh('NEW.id')} END",
    f"CREATE TRIGGER photo_dates_file_new AFTER INSERT ON files WHEN NEW.photo_id IS NOT NULL BEGIN "
    f"{_photo_dates_refresh('NEW.photo_id')} END",
    "CREATE TRIGGER photo_dates_file_changed AFTER UPDATE OF photo_id, status, mtime_ns ON files "
    "WHEN OLD.photo_id IS NOT NEW.photo_id OR OLD.status IS NOT NEW.status OR OLD.mtime_ns IS NOT NEW.mtime_ns "
    f"BEGIN {_photo_dates_refresh('OLD.photo_id')} "
    f"{_photo_dates_refresh('NEW.photo_id').replace(';', ' AND NEW.photo_id IS NOT OLD.photo_id;')} END",
    f"CREATE TRIGGER photo_dates_file_gone AFTER DELETE ON files WHEN OLD.photo_id IS NOT NULL BEGIN "
    f"{_photo_dates_refresh('OLD.photo_id')} END",
)


def _v12_photo_dates(conn: sqlite3.Connection) -> None:
    # v12 (issue 25, the timeline): each photo's date as the search's rule reads it, in a narrow table SQLite
    # keeps in step itself (triggers on photos and files, like an index: no writer changes), so a 100k-photo
    # timeline groups months and counts facets on indexes instead of grouping every file row per request.
    # `taken` is the EXIF capture time (substr(taken_at, 1, 19)), `file_ns` the earliest done file's mtime, NULL
    # when the photo has no done file (missing, or being analysed again): such a photo is in no search. Local
    # time stays a read-time matter (`file_ns` is UTC), so the CLI and the web app agree in any time zone.
    # A later migration that rebuilds `photos` (as v9 did) must create the two photos triggers again.
    conn.execute("""CREATE TABLE photo_dates (
        photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
        taken TEXT,
        file_ns INTEGER
    )""")
    conn.execute(f"INSERT INTO photo_dates (photo_id, taken, file_ns) SELECT p.id, substr(p.taken_at, 1, 19), "
                 f"{_FILE_NS} FROM photos p")
    conn.execute("CREATE INDEX photo_dates_taken ON photo_dates(taken) WHERE taken IS NOT NULL AND file_ns IS NOT NULL")
    # The months of the capture times in index order: grouped without sorting 100k rows.
    conn.execute("CREATE INDEX photo_dates_month ON photo_dates(substr(taken, 1, 7)) "
                 "WHERE taken IS NOT NULL AND file_ns IS NOT NULL")
    conn.execute("CREATE INDEX photo_dates_file ON photo_dates(file_ns) WHERE taken IS NULL AND file_ns IS NOT NULL")
    conn.execute("CREATE INDEX photo_dates_hidden ON photo_dates(photo_id) WHERE file_ns IS NULL")
    for statement in V12_TRIGGERS:
        conn.execute(statement)
    # The facets count photos per person and per tag: indexes that answer from the index alone (the face and
    # object rows are wide: embeddings, boxes). Each replaces the one-column index it extends.
    for old, table, columns in (("faces_person", "faces", "person_id, photo_id"),
                                ("faces_photo", "faces", "photo_id, person_id"),
                                ("objects_label", "objects", "label, photo_id"),
                                ("objects_photo", "objects", "photo_id, label")):
        conn.execute(f"DROP INDEX IF EXISTS {old}")
        conn.execute(f"CREATE INDEX {old} ON {table}({columns})")


# What the daemon's places and events pass reads (`library.places.settle`): a photo added, removed, re-dated,
# missing or back, its GPS changed; a file of a photo added, removed, moved to another photo or changed status;
# a place row removed. Each bumps the `settle_rev` state value in the writer's own transaction, so a pass with
# the same value as the last one would find nothing to do.
_SETTLE_BUMP = f"UPDATE state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = '{SETTLE_REV}';"
V13_TRIGGERS = (
    f"CREATE TRIGGER settle_photo_new AFTER INSERT ON photos BEGIN {_SETTLE_BUMP} END",
    f"CREATE TRIGGER settle_photo_gone AFTER DELETE ON photos BEGIN {_SETTLE_BUMP} END",
    "CREATE TRIGGER settle_photo_changed AFTER UPDATE OF taken_at, missing_since, gps_lat, gps_lon ON photos "
    "WHEN OLD.taken_at IS NOT NEW.taken_at OR OLD.missing_since IS NOT NEW.missing_since "
    f"OR OLD.gps_lat IS NOT NEW.gps_lat OR OLD.gps_lon IS NOT NEW.gps_lon BEGIN {_SETTLE_BUMP} END",
    f"CREATE TRIGGER settle_file_new AFTER INSERT ON files WHEN NEW.photo_id IS NOT NULL BEGIN {_SETTLE_BUMP} END",
    "CREATE TRIGGER settle_file_changed AFTER UPDATE OF photo_id, status ON files "
    f"WHEN OLD.photo_id IS NOT NEW.photo_id OR OLD.status IS NOT NEW.status BEGIN {_SETTLE_BUMP} END",
    f"CREATE TRIGGER settle_file_gone AFTER DELETE ON files WHEN OLD.photo_id IS NOT NULL BEGIN {_SETTLE_BUMP} END",
    f"CREATE TRIGGER settle_place_gone AFTER DELETE ON photo_places BEGIN {_SETTLE_BUMP} END",
)


def _v13_settle_rev(conn: sqlite3.Connection) -> None:
    # v13: the places and events pass ran on every busy status tick (a few passes over 100k photos each time);
    # now it runs when `settle_rev` moved since its last run. Kept by triggers (like v12's photo_dates), so no
    # writer, the CLI's included, can change what the pass reads without it. A later migration that rebuilds
    # `photos`, `files` or `photo_places` must create their triggers again.
    conn.execute("INSERT INTO state (key, value) VALUES (?, '1') ON CONFLICT (key) DO NOTHING", (SETTLE_REV,))
    for statement in V13_TRIGGERS:
        conn.execute(statement)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "base schema: photos, files, objects, faces, people, state", _v1_base),
    Migration(2, "corrections table and curated people", _v2_corrections, data=True),
    Migration(3, "people.embedding_sum for incremental means", _v3_embedding_sums),
    Migration(4, "files.retry and files.error for pictod failed/retry", _v4_retry_and_error),
    Migration(5, "XMP metadata: imported faces and corrections, sidecar state and dirty flags", _v5_metadata),
    Migration(6, "faces.quality and faces.rotation", _v6_face_quality),
    Migration(7, "sidecar write retries: photo_metadata.retry_at and last_error", _v7_sidecar_retries),
    Migration(8, "review_answers for the same-person review", _v8_review_answers),
    Migration(9, "missing photos, photo ids never reused, files.inode/ctime_ns", _v9_missing_and_ids,
              data=True, rebuild=True),
    Migration(10, "photo_places (city, region, country per photo), events and event_photos",
              _v10_places_and_events),
    Migration(11, "videos: photos.kind/duration/codec/paired_with, faces and objects time/track/seen", _v11_videos),
    Migration(12, "photo_dates (the timeline's dates, kept by triggers) and the facets' covering indexes",
              _v12_photo_dates),
    Migration(13, "settle_rev: what the places and events pass reads changed, kept by triggers", _v13_settle_rev),
)
LATEST = MIGRATIONS[-1].version


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in the DB (0: empty)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(version: int, path: Path | None) -> None:
    """A DB from a newer pictod is never opened, read-only or not."""
    if version > LATEST:
        raise StoreError(
            f"database {path} has schema version {version}, newer than this pictod understands ({LATEST}): "
            "upgrade pictod, or point library.database at another file")


def migrate(conn: sqlite3.Connection, path: Path | None, *, upto: int = LATEST) -> list[int]:
    """Bring the DB to version `upto`; return the versions applied. Refuses a DB newer than this code."""
    version = current_version(conn)
    refuse_newer(version, path)
    start = version
    applied: list[int] = []
    conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)""")
    for migration in MIGRATIONS:
        if migration.version <= version or migration.version > upto:
            continue
        if migration.data and start > 0 and path is not None:  # a fresh DB has nothing to lose
            backup(conn, path, version)
        if migration.rebuild:
            conn.execute("PRAGMA foreign_keys = OFF")  # a no-op inside a transaction: set before BEGIN
        try:
            conn.execute("BEGIN IMMEDIATE")
            # Re-read inside the lock: another process may have migrated meanwhile.
            if current_version(conn) >= migration.version:
                conn.execute("ROLLBACK")
                version = current_version(conn)
                continue
            migration.apply(conn)
            conn.execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                         (migration.version, migration.name, now()))
            conn.execute(f"PRAGMA user_version = {migration.version}")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StoreError(f"migration {migration.version} ({migration.name}) failed on {path}: {exc}; "
                             "the database is unchanged at version "
                             f"{current_version(conn)}") from None
        finally:
            forget_columns(conn)  # the columns it cached before this step are not the schema any more
            if migration.rebuild:
                conn.execute("PRAGMA foreign_keys = ON")
        log.info("db_migrated", version=migration.version, migration=migration.name, path=str(path))
        version = migration.version
        applied.append(version)
    return applied


def backup(conn: sqlite3.Connection, path: Path, version: int) -> Path:
    """Copy the DB aside (private, 0600) before a data migration; return the copy's path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.v{version}-{stamp}.bak")
    fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.close(fd)
    dest = sqlite3.connect(target)
    try:
        conn.backup(dest)
    finally:
        dest.close()
    os.chmod(target, 0o600)
    log.info("db_backup", path=str(target), version=version)
    return target
