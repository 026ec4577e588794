"""The SQL of files, photos, objects, state and status, as functions of a connection.

Faces and people (sums, means, counts, pruning, corrections, the manager's reads) are in `faces.py`; the shared
primitives (state keys, `now`, path and vector encodings, IN lists) in `base.py`. Together with `migrations.py`
these hold every SQL statement pictod runs. Write functions expect to run inside the writer's transaction; read
functions on any connection. Paths are stored as BLOBs of `os.fsencode(path)`; a directory prefix query compares
bytes (`'/'` + 1 is `'0'`).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Iterable, Iterator

import numpy as np

from daemon.store import faces, missing
from daemon.store.base import (
    CHUNK,
    LAST_RECLUSTER,
    PHOTOS_SINCE_RECLUSTER,
    blob,
    bump,
    chunks,
    clamp_ns,
    dec,
    enc,
    get_int,
    get_state,
    has_column,
    marks,
    now,
)
from daemon.store.rows import AddResult, FileRecord, NewFace, RemoveResult, StatusCounts
from daemon.types import PhotoAnalysis


def _prefix(path: str) -> tuple[bytes, bytes, bytes]:
    key = enc(path)
    if len(key) > 1:
        key = key.rstrip(b"/")
    base = key if key == b"/" else key + b"/"
    upper = base[:-1] + b"0"  # b'0' == b'/' + 1: the first byte string after every 'dir/...'
    return key, base, upper


# ----------------------------------------------------------------------------------------------- files


_FILE_COLUMNS = "path, size, mtime_ns, status, reason, photo_id, retry, inode, ctime_ns"


def _file(row: tuple[bytes, int, int, str, str | None, int | None, int, int | None, int | None]) -> FileRecord:
    return FileRecord(path=dec(row[0]), size=row[1], mtime_ns=row[2], status=row[3], reason=row[4],
                      photo_id=row[5], retry=bool(row[6]), inode=row[7], ctime_ns=row[8])


def get_file(conn: sqlite3.Connection, path: str) -> FileRecord | None:
    """The file row for a path."""
    row = conn.execute(f"SELECT {_FILE_COLUMNS} FROM files WHERE path = ?",
                       (enc(path),)).fetchone()
    return None if row is None else _file(row)


def iter_files(conn: sqlite3.Connection, under: str | None = None) -> Iterator[FileRecord]:
    """All file rows, or those below a directory, in path order."""
    if under is None:
        cursor = conn.execute(f"SELECT {_FILE_COLUMNS} FROM files ORDER BY path")
    else:
        _key, base, upper = _prefix(under)
        cursor = conn.execute(f"SELECT {_FILE_COLUMNS} FROM files "
                              "WHERE path >= ? AND path < ? ORDER BY path", (base, upper))
    while rows := cursor.fetchmany(1000):
        for row in rows:
            yield _file(row)


def has_files(conn: sqlite3.Connection, under: str) -> bool:
    """Whether the library knows any file below a directory (one index probe, no rows read)."""
    _key, base, upper = _prefix(under)
    row = conn.execute("SELECT 1 FROM files WHERE path >= ? AND path < ? LIMIT 1", (base, upper)).fetchone()
    return row is not None


def photo_id_for_hash(conn: sqlite3.Connection, content_hash: str) -> int | None:
    """The analysed photo with these bytes."""
    row = conn.execute("SELECT id FROM photos WHERE content_hash = ?", (content_hash,)).fetchone()
    return None if row is None else int(row[0])


def _upsert_file(conn: sqlite3.Connection, path: bytes, size: int, mtime_ns: int, status: str,
                 reason: str | None, photo_id: int | None, *, keep_photo: bool = False,
                 error: str | None = None, identity: tuple[int, int] | None = None) -> int | None:
    """Write a file row (any retry mark is cleared: the file was just looked at), with the file's (inode,
    ctime_ns) when known (`store/identity.py`); return the photo it pointed at before (None if new or none)."""
    row = conn.execute("SELECT id, photo_id FROM files WHERE path = ?", (path,)).fetchone()
    mtime_ns = clamp_ns(mtime_ns)
    inode, ctime_ns = (None, None) if identity is None else (clamp_ns(identity[0]), clamp_ns(identity[1]))
    if row is None:
        conn.execute("INSERT INTO files (path, size, mtime_ns, status, reason, error, photo_id, updated_at, inode, "
                     "ctime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (path, size, mtime_ns, status, reason, error, photo_id, now(), inode, ctime_ns))
        return None
    previous = row[1]
    conn.execute("UPDATE files SET size = ?, mtime_ns = ?, status = ?, reason = ?, error = ?, photo_id = ?, "
                 "updated_at = ?, retry = 0, inode = ?, ctime_ns = ? WHERE id = ?",
                 (size, mtime_ns, status, reason, error, previous if keep_photo else photo_id, now(), inode, ctime_ns,
                  row[0]))
    return None if previous is None else int(previous)


def mark_pending(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                 identity: tuple[int, int] | None = None) -> None:
    """Crash-resume marker before analysis (the old photo link stays until the new result replaces it)."""
    _upsert_file(conn, enc(path), size, mtime_ns, "pending", None, None, keep_photo=True, identity=identity)


def record_failure(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, reason: str,
                   error: str | None = None) -> RemoveResult:
    """Mark a file failed (a reason code and the one-line message); its previous photo is dropped if no other
    file shows it."""
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "failed", reason, None, error=error)
    # The photo it showed is kept as missing (issue 22): a broken copy over a photo costs no names.
    return missing.mark_missing(conn, [previous] if previous is not None else [])


def record_analysis(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, content_hash: str,
                    analysis: PhotoAnalysis, identity: tuple[int, int] | None = None) -> AddResult:
    """Photo + objects + faces + file row, in the caller's transaction (the hash is not looked up first:
    `link_or_mark_pending` did that; a photo with these bytes stored meanwhile makes the insert a no-op)."""
    meta = analysis.meta
    lat, lon = meta.gps if meta.gps is not None else (None, None)
    inserted = conn.execute(
        "INSERT INTO photos (content_hash, width, height, format, taken_at, camera, gps_lat, gps_lon, analysed_at, "
        "kind, duration, codec) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (content_hash) DO NOTHING RETURNING id",
        (content_hash, meta.width, meta.height, meta.format, meta.taken_at, meta.camera, lat, lon, now(), meta.kind,
         meta.duration, meta.codec)).fetchone()
    if inserted is None:
        linked = link_existing(conn, path, size, mtime_ns, content_hash, identity)
        assert linked is not None  # the conflicting row is in this transaction's snapshot
        return linked  # the same bytes were analysed meanwhile under another path: keep the first
    photo_id = int(inserted[0])
    conn.executemany("INSERT INTO objects (photo_id, label, score, x1, y1, x2, y2, time, seen) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     [(photo_id, o.label, float(o.score), *map(float, o.box), o.time, _spans(o.seen))
                      for o in analysis.objects])
    faces: list[NewFace] = []
    for face in analysis.faces:
        embedding = np.ascontiguousarray(face.embedding, dtype=np.float32).reshape(-1)
        quality = None if face.quality is None else float(face.quality.score)
        cursor = conn.execute(
            "INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding, quality, rotation, time, track, "
            "seen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (photo_id, *map(float, face.box), float(face.score),
             json.dumps([[float(x), float(y)] for x, y in face.landmarks]), blob(embedding), quality,
             int(face.rotation), face.time, face.track, _spans(face.seen)))
        faces.append(NewFace(id=int(cursor.lastrowid or 0), photo_id=photo_id, embedding=embedding.copy(),
                             quality=quality))
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "done", None, photo_id, identity=identity)
    removed = drop_orphans(conn, [previous]) if previous is not None and previous != photo_id else None
    bump(conn, PHOTOS_SINCE_RECLUSTER)
    return AddResult(path=path, photo_id=photo_id, created=True, objects=len(analysis.objects),
                     face_ids=tuple(f.id for f in faces), new_faces=tuple(faces), removed=removed)


def _spans(seen: Iterable[tuple[float, float]]) -> str | None:
    """A video's face or object spans as JSON [[start, end], ...] (None for a photo's)."""
    items = [[round(float(a), 3), round(float(b), 3)] for a, b in seen]
    return json.dumps(items) if items else None


def link_or_mark_pending(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                         content_hash: str, identity: tuple[int, int] | None = None) -> AddResult | None:
    """Link the file to the analysed photo with this hash; if there is none, mark it pending (None)."""
    linked = link_existing(conn, path, size, mtime_ns, content_hash, identity)
    if linked is None:
        mark_pending(conn, path, size, mtime_ns, identity)
    return linked


def link_existing(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                  content_hash: str, identity: tuple[int, int] | None = None) -> AddResult | None:
    """Point a file at the analysed photo with this hash (None if there is none)."""
    photo_id = photo_id_for_hash(conn, content_hash)
    if photo_id is None:
        return None
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "done", None, photo_id, identity=identity)
    removed = drop_orphans(conn, [previous]) if previous is not None and previous != photo_id else None
    restored = missing.restore(conn, photo_id)  # a missing photo's bytes back: no analysis (issue 22)
    objects = conn.execute("SELECT count(*) FROM objects WHERE photo_id = ?", (photo_id,)).fetchone()[0]
    face_ids = tuple(int(r[0]) for r in conn.execute("SELECT id FROM faces WHERE photo_id = ? ORDER BY id",
                                                     (photo_id,)))
    return AddResult(path=path, photo_id=photo_id, created=False, objects=int(objects), face_ids=face_ids,
                     removed=removed, restored=restored)


def remove(conn: sqlite3.Connection, path: str) -> RemoveResult:
    """Forget a file or every file below a directory; photos left without a file become missing (kept for the
    grace period, `store/missing.py`)."""
    key, base, upper = _prefix(path)
    rows = conn.execute("SELECT id, photo_id FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                        (key, base, upper)).fetchall()
    if not rows:
        return RemoveResult()
    conn.executemany("DELETE FROM files WHERE id = ?", [(r[0],) for r in rows])
    result = missing.mark_missing(conn, [r[1] for r in rows if r[1] is not None])
    return dataclasses.replace(result, files_removed=len(rows))


def move(conn: sqlite3.Connection, src: str, dest: str) -> int:
    """Rename a file, or every file below a directory; a row already at the destination is replaced."""
    skey, sbase, supper = _prefix(src)
    dkey = _prefix(dest)[0]
    row = conn.execute("SELECT id, path FROM files WHERE path = ?", (skey,)).fetchone()
    if row is not None:
        moves = [(row[0], dkey)]
    else:
        rows = conn.execute("SELECT id, path FROM files WHERE path >= ? AND path < ?", (sbase, supper)).fetchall()
        moves = [(r[0], dkey + bytes(r[1])[len(skey):]) for r in rows]
    # Rows already at a destination (and not moving themselves) are replaced: found with one IN query per
    # chunk of destinations, deleted with one executemany.
    moving = {m[0] for m in moves}
    clashes: list[tuple[int, int | None]] = []
    targets = [p for _i, p in moves]
    for start in range(0, len(targets), CHUNK):
        chunk = targets[start:start + CHUNK]
        clashes += [(int(r[0]), r[1]) for r in conn.execute(
            f"SELECT id, photo_id FROM files WHERE path IN ({marks(len(chunk))})", chunk) if r[0] not in moving]
    conn.executemany("DELETE FROM files WHERE id = ?", [(c[0],) for c in clashes])
    orphans = [int(c[1]) for c in clashes if c[1] is not None]
    # Two steps so a rename inside the moved set (a/x -> a/x/..) never hits the UNIQUE index half-way.
    conn.executemany("UPDATE files SET path = ? WHERE id = ?", [(b"\0tmp" + str(i).encode(), i) for i, _ in moves])
    stamp = now()
    conn.executemany("UPDATE files SET path = ?, updated_at = ? WHERE id = ?", [(p, stamp, i) for i, p in moves])
    missing.mark_missing(conn, orphans)  # a photo moved over: missing, not gone (issue 22)
    return len(moves)


# ----------------------------------------------------------------------------------------------- failed files


@dataclasses.dataclass(frozen=True)
class FailedFile:
    """A file that could not be analysed (`pictod failed`)."""

    path: str
    reason: str  # a short code: truncated, unsupported_format, too_many_pixels, ...
    error: str | None  # the one-line message (None for failures recorded before schema v4)
    size: int
    failed_at: str  # ISO 8601 UTC
    retry: bool  # marked by `pictod retry`, not picked up yet


def failed_files(conn: sqlite3.Connection, *, limit: int | None = None) -> list[FailedFile]:
    """Every failed file (the first `limit`), in path order."""
    rows = conn.execute("SELECT path, reason, error, size, updated_at, retry FROM files WHERE status = 'failed' "
                        "ORDER BY path LIMIT ?", (-1 if limit is None else max(0, limit),))
    return [FailedFile(path=dec(r[0]), reason=r[1] or "unknown", error=r[2], size=int(r[3]), failed_at=r[4],
                       retry=bool(r[5])) for r in rows]


def mark_retry(conn: sqlite3.Connection, paths: Iterable[str] | None) -> list[str]:
    """Mark failed files (those given, or below a given folder; None: all) to be analysed again; their paths."""
    if paths is None:
        rows = conn.execute("UPDATE files SET retry = 1 WHERE status = 'failed' RETURNING path").fetchall()
    else:
        rows = []
        for path in paths:
            key, base, upper = _prefix(path)
            rows += conn.execute("UPDATE files SET retry = 1 WHERE status = 'failed' AND "
                                 "(path = ? OR (path >= ? AND path < ?)) RETURNING path", (key, base, upper)).fetchall()
    return sorted({dec(r[0]) for r in rows})


def has_retries(conn: sqlite3.Connection) -> bool:
    """Whether any file is marked for a retry (one probe of a partial index)."""
    return conn.execute("SELECT 1 FROM files WHERE retry = 1 LIMIT 1").fetchone() is not None


def claim_retries(conn: sqlite3.Connection) -> list[str]:
    """The running daemon takes the marked files: they become pending (so a crash resumes them) and unmarked."""
    rows = conn.execute("UPDATE files SET status = 'pending', retry = 0 WHERE retry = 1 RETURNING path").fetchall()
    return sorted(dec(r[0]) for r in rows)


# ----------------------------------------------------------------------------------------------- orphans


def drop_orphans(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> RemoveResult:
    """Delete the photos no file points at (faces and objects cascade); fix their people (`faces.drop_photos`)."""
    wanted = sorted(set(photo_ids))
    orphans: list[int] = []
    for chunk in chunks(wanted):  # set-based: which still have a file, a chunk of photos per statement
        kept = {int(r[0]) for r in conn.execute(
            f"SELECT DISTINCT photo_id FROM files WHERE photo_id IN ({marks(len(chunk))})", chunk)}
        orphans += [p for p in chunk if p not in kept]
    if not orphans:
        return RemoveResult()
    return faces.drop_photos(conn, orphans)


# ----------------------------------------------------------------------------------------------- library reads


def tag_counts(conn: sqlite3.Connection) -> dict[str, int]:
    """Object tags with the number of photos showing each, most common first."""
    rows = conn.execute(
        "SELECT label, count(DISTINCT photo_id) AS n FROM objects GROUP BY label ORDER BY n DESC, label").fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


# ----------------------------------------------------------------------------------------------- status


def status_counts(conn: sqlite3.Connection) -> StatusCounts:
    """Counts for `pictod status`."""
    by_status = dict(conn.execute("SELECT status, count(*) FROM files GROUP BY status").fetchall())
    # Missing photos (issue 22) and their faces are left out; people count when they show on a present photo.
    visible = missing.visible(conn)
    photos = conn.execute(f"SELECT count(*) FROM photos p WHERE {visible}").fetchone()[0]
    faces, unassigned = conn.execute(
        "SELECT count(*), coalesce(sum(f.person_id IS NULL), 0) FROM faces f JOIN photos p ON p.id = f.photo_id "
        f"WHERE {visible}").fetchone()
    people, named = missing.visible_people(conn), missing.visible_people(conn, named=True)
    dirty, error = 0, None
    if has_column(conn, "photo_metadata", "dirty"):  # a read-only look at an older library has no such table
        dirty = int(conn.execute("SELECT count(*) FROM photo_metadata WHERE dirty = 1").fetchone()[0])
    if dirty and has_column(conn, "photo_metadata", "last_error"):
        row = conn.execute("SELECT last_error FROM photo_metadata WHERE dirty = 1 AND last_error IS NOT NULL "
                           "ORDER BY retry_at DESC LIMIT 1").fetchone()
        error = None if row is None else str(row[0])
    gone = missing.missing_counts(conn)
    # The running daemon's backlog counts too: its queue is bounded, so the rows marked pending are only the
    # photos in hand (issue 22).
    pending = max(int(by_status.get("pending", 0)), missing.backlog(conn))
    return StatusCounts(files_done=int(by_status.get("done", 0)), files_pending=pending,
                        files_failed=int(by_status.get("failed", 0)), photos=int(photos), faces=int(faces),
                        faces_unassigned=int(unassigned), people=int(people), named_people=int(named),
                        last_recluster=get_state(conn, LAST_RECLUSTER),
                        photos_since_recluster=get_int(conn, PHOTOS_SINCE_RECLUSTER), sidecars_dirty=dirty,
                        sidecar_error=error, photos_missing=gone.photos_missing, people_missing=gone.people_missing,
                        oldest_missing=gone.oldest_missing, roots_missing=missing.lost_roots(conn))

