"""The SQL: every statement the store and the people manager run, as functions of a connection.

Write functions expect to run inside the writer's transaction; read functions on any connection. Paths are
stored as BLOBs of `os.fsencode(path)`; a directory prefix query compares bytes (`'/'` + 1 is `'0'`).
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from daemon.store.records import AddResult, FileRecord, NewFace, RemoveResult, StatusCounts
from daemon.types import PhotoAnalysis

CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit (999 before 3.32)

# state keys
PEOPLE_REV = "people_rev"  # bumped by every transaction that changes people or face -> person links
FACES_REMOVED_REV = "faces_removed_rev"  # bumped whenever faces are deleted (the manager's index must drop them)
LAST_RECLUSTER = "last_recluster"
LAST_RECLUSTER_STATS = "last_recluster_stats"
PHOTOS_SINCE_RECLUSTER = "photos_since_recluster"


def now() -> str:
    """Current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def enc(path: str) -> bytes:
    """A path as stored."""
    return os.fsencode(path)


def dec(raw: bytes) -> str:
    """A stored path back to str (surrogateescape for non-UTF-8 bytes)."""
    return os.fsdecode(bytes(raw))


def _prefix(path: str) -> tuple[bytes, bytes, bytes]:
    key = enc(path)
    if len(key) > 1:
        key = key.rstrip(b"/")
    base = key if key == b"/" else key + b"/"
    upper = base[:-1] + b"0"  # b'0' == b'/' + 1: the first byte string after every 'dir/...'
    return key, base, upper


def _marks(n: int) -> str:
    """`?, ?, ...` for an IN list of n values."""
    return ",".join("?" * n)


def vec(blob: bytes) -> NDArray[np.float32]:
    """An embedding BLOB back to a float32 vector."""
    return np.frombuffer(blob, dtype=np.float32)


def blob(array: NDArray[np.float32]) -> bytes:
    """A float32 vector to its BLOB."""
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


# ----------------------------------------------------------------------------------------------- state


def get_state(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    """One value from the state table."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return default if row is None else str(row[0])


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set one value in the state table."""
    conn.execute("INSERT INTO state (key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def bump(conn: sqlite3.Connection, key: str, by: int = 1) -> int:
    """Increment an integer state value; return the new value."""
    value = int(get_state(conn, key, "0") or 0) + by
    set_state(conn, key, str(value))
    return value


def get_int(conn: sqlite3.Connection, key: str) -> int:
    """An integer state value (0 if unset)."""
    return int(get_state(conn, key, "0") or 0)


# ----------------------------------------------------------------------------------------------- files


def _file(row: tuple[bytes, int, int, str, str | None, int | None]) -> FileRecord:
    return FileRecord(path=dec(row[0]), size=row[1], mtime_ns=row[2], status=row[3], reason=row[4],
                      photo_id=row[5])


def get_file(conn: sqlite3.Connection, path: str) -> FileRecord | None:
    """The file row for a path."""
    row = conn.execute("SELECT path, size, mtime_ns, status, reason, photo_id FROM files WHERE path = ?",
                       (enc(path),)).fetchone()
    return None if row is None else _file(row)


def iter_files(conn: sqlite3.Connection, under: str | None = None) -> Iterator[FileRecord]:
    """All file rows, or those below a directory, in path order."""
    if under is None:
        cursor = conn.execute("SELECT path, size, mtime_ns, status, reason, photo_id FROM files ORDER BY path")
    else:
        _key, base, upper = _prefix(under)
        cursor = conn.execute("SELECT path, size, mtime_ns, status, reason, photo_id FROM files "
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
                 reason: str | None, photo_id: int | None, *, keep_photo: bool = False) -> int | None:
    """Write a file row; return the photo it pointed at before (None if new or none)."""
    row = conn.execute("SELECT id, photo_id FROM files WHERE path = ?", (path,)).fetchone()
    if row is None:
        conn.execute("INSERT INTO files (path, size, mtime_ns, status, reason, photo_id, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?)", (path, size, mtime_ns, status, reason, photo_id, now()))
        return None
    previous = row[1]
    conn.execute("UPDATE files SET size = ?, mtime_ns = ?, status = ?, reason = ?, photo_id = ?, updated_at = ? "
                 "WHERE id = ?", (size, mtime_ns, status, reason, previous if keep_photo else photo_id,
                                  now(), row[0]))
    return None if previous is None else int(previous)


def mark_pending(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int) -> None:
    """Crash-resume marker before analysis (the old photo link stays until the new result replaces it)."""
    _upsert_file(conn, enc(path), size, mtime_ns, "pending", None, None, keep_photo=True)


def record_failure(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, reason: str) -> RemoveResult:
    """Mark a file failed; its previous photo is dropped if no other file shows it."""
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "failed", reason, None)
    return drop_orphans(conn, [previous] if previous is not None else [])


def record_analysis(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int, content_hash: str,
                    analysis: PhotoAnalysis) -> AddResult:
    """Photo + objects + faces + file row, in the caller's transaction (the hash is not looked up first:
    `link_or_mark_pending` did that; a photo with these bytes stored meanwhile makes the insert a no-op)."""
    meta = analysis.meta
    lat, lon = meta.gps if meta.gps is not None else (None, None)
    inserted = conn.execute(
        "INSERT INTO photos (content_hash, width, height, format, taken_at, camera, gps_lat, gps_lon, analysed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (content_hash) DO NOTHING RETURNING id",
        (content_hash, meta.width, meta.height, meta.format, meta.taken_at, meta.camera, lat, lon, now())).fetchone()
    if inserted is None:
        linked = link_existing(conn, path, size, mtime_ns, content_hash)
        assert linked is not None  # the conflicting row is in this transaction's snapshot
        return linked  # the same bytes were analysed meanwhile under another path: keep the first
    photo_id = int(inserted[0])
    conn.executemany("INSERT INTO objects (photo_id, label, score, x1, y1, x2, y2) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     [(photo_id, o.label, float(o.score), *map(float, o.box)) for o in analysis.objects])
    faces: list[NewFace] = []
    for face in analysis.faces:
        embedding = np.ascontiguousarray(face.embedding, dtype=np.float32).reshape(-1)
        cursor = conn.execute(
            "INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (photo_id, *map(float, face.box), float(face.score),
             json.dumps([[float(x), float(y)] for x, y in face.landmarks]), blob(embedding)))
        faces.append(NewFace(id=int(cursor.lastrowid or 0), photo_id=photo_id, embedding=embedding.copy()))
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "done", None, photo_id)
    removed = drop_orphans(conn, [previous]) if previous is not None and previous != photo_id else None
    bump(conn, PHOTOS_SINCE_RECLUSTER)
    return AddResult(path=path, photo_id=photo_id, created=True, objects=len(analysis.objects),
                     face_ids=tuple(f.id for f in faces), new_faces=tuple(faces), removed=removed)


def link_or_mark_pending(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                         content_hash: str) -> AddResult | None:
    """Link the file to the analysed photo with this hash; if there is none, mark it pending (None)."""
    linked = link_existing(conn, path, size, mtime_ns, content_hash)
    if linked is None:
        mark_pending(conn, path, size, mtime_ns)
    return linked


def link_existing(conn: sqlite3.Connection, path: str, size: int, mtime_ns: int,
                  content_hash: str) -> AddResult | None:
    """Point a file at the analysed photo with this hash (None if there is none)."""
    photo_id = photo_id_for_hash(conn, content_hash)
    if photo_id is None:
        return None
    previous = _upsert_file(conn, enc(path), size, mtime_ns, "done", None, photo_id)
    removed = drop_orphans(conn, [previous]) if previous is not None and previous != photo_id else None
    objects = conn.execute("SELECT count(*) FROM objects WHERE photo_id = ?", (photo_id,)).fetchone()[0]
    face_ids = tuple(int(r[0]) for r in conn.execute("SELECT id FROM faces WHERE photo_id = ? ORDER BY id",
                                                     (photo_id,)))
    return AddResult(path=path, photo_id=photo_id, created=False, objects=int(objects), face_ids=face_ids,
                     removed=removed)


def remove(conn: sqlite3.Connection, path: str) -> RemoveResult:
    """Forget a file or every file below a directory; drop photos left without a file."""
    key, base, upper = _prefix(path)
    rows = conn.execute("SELECT id, photo_id FROM files WHERE path = ? OR (path >= ? AND path < ?)",
                        (key, base, upper)).fetchall()
    if not rows:
        return RemoveResult()
    conn.executemany("DELETE FROM files WHERE id = ?", [(r[0],) for r in rows])
    result = drop_orphans(conn, [r[1] for r in rows if r[1] is not None])
    return RemoveResult(files_removed=len(rows), photo_ids=result.photo_ids, faces_removed=result.faces_removed,
                        face_ids=result.face_ids, people_updated=result.people_updated,
                        people_pruned=result.people_pruned)


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
            f"SELECT id, photo_id FROM files WHERE path IN ({_marks(len(chunk))})", chunk) if r[0] not in moving]
    conn.executemany("DELETE FROM files WHERE id = ?", [(c[0],) for c in clashes])
    orphans = [int(c[1]) for c in clashes if c[1] is not None]
    # Two steps so a rename inside the moved set (a/x -> a/x/..) never hits the UNIQUE index half-way.
    conn.executemany("UPDATE files SET path = ? WHERE id = ?", [(b"\0tmp" + str(i).encode(), i) for i, _ in moves])
    stamp = now()
    conn.executemany("UPDATE files SET path = ?, updated_at = ? WHERE id = ?", [(p, stamp, i) for i, p in moves])
    drop_orphans(conn, orphans)
    return len(moves)


# ----------------------------------------------------------------------------------------------- orphans, people


def drop_orphans(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> RemoveResult:
    """Delete the photos no file points at (faces and objects cascade); fix their people."""
    wanted = sorted(set(photo_ids))
    gone: list[int] = []
    face_ids: list[int] = []
    leaving: list[tuple[int, NDArray[np.float32]]] = []  # (person, embedding) of each deleted assigned face
    # Set-based, a chunk of photos per statement: which still have a file, their faces, then one DELETE.
    for start in range(0, len(wanted), CHUNK):
        chunk = wanted[start:start + CHUNK]
        kept = {int(r[0]) for r in conn.execute(
            f"SELECT DISTINCT photo_id FROM files WHERE photo_id IN ({_marks(len(chunk))})", chunk)}
        orphans = [p for p in chunk if p not in kept]
        if not orphans:
            continue
        for face_id, person_id, embedding in conn.execute(
                f"SELECT id, person_id, CASE WHEN person_id IS NOT NULL THEN embedding END FROM faces "
                f"WHERE photo_id IN ({_marks(len(orphans))}) ORDER BY photo_id, id", orphans):
            face_ids.append(int(face_id))
            if person_id is not None:
                leaving.append((int(person_id), vec(embedding)))
        conn.execute(f"DELETE FROM photos WHERE id IN ({_marks(len(orphans))})", orphans)
        gone += orphans
    if not gone:
        return RemoveResult()
    deltas = _Deltas()
    for person_id, embedding in leaving:
        deltas.add(person_id, embedding, -1)
    updated, pruned = _apply_deltas(conn, deltas)
    if face_ids:
        bump(conn, FACES_REMOVED_REV)
    return RemoveResult(photo_ids=tuple(gone), faces_removed=len(face_ids), face_ids=tuple(face_ids),
                        people_updated=tuple(updated), people_pruned=tuple(pruned))


def _mean(total: NDArray[np.float64], count: int) -> NDArray[np.float32]:
    return (total / count).astype(np.float32)


def sum_of(raw: bytes) -> NDArray[np.float64]:
    """A people.embedding_sum BLOB back to its float64 vector."""
    return np.frombuffer(raw, dtype=np.float64)


def refresh_people(conn: sqlite3.Connection, person_ids: Iterable[int]) -> tuple[list[int], list[int]]:
    """Recompute sum, mean and counts of these people from all their faces; delete those with none left.

    O(faces of each person): for a bulk change (a merge) or a person whose sum is unknown. Changes of a few
    faces go through `assign_faces`, which updates the stored sums instead."""
    updated: list[int] = []
    pruned: list[int] = []
    stamp = now()
    for person_id in sorted(set(person_ids)):
        rows = conn.execute("SELECT embedding, photo_id FROM faces WHERE person_id = ?", (person_id,)).fetchall()
        if not rows:
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
            pruned.append(person_id)
            continue
        total = np.stack([vec(r[0]) for r in rows]).astype(np.float64).sum(axis=0)
        conn.execute("UPDATE people SET mean = ?, embedding_sum = ?, face_count = ?, photo_count = ?, "
                     "updated_at = ? WHERE id = ?",
                     (blob(_mean(total, len(rows))), total.tobytes(), len(rows), len({r[1] for r in rows}), stamp,
                      person_id))
        updated.append(person_id)
    if updated or pruned:
        bump(conn, PEOPLE_REV)
    return updated, pruned


class _Deltas:
    """Per person: the change of its embedding sum (float64) and of its face count."""

    def __init__(self) -> None:
        self.sums: dict[int, NDArray[np.float64]] = {}
        self.counts: dict[int, int] = {}

    def add(self, person_id: int, embedding: NDArray[np.float32], sign: int) -> None:
        change = embedding.astype(np.float64) * sign
        if person_id in self.sums:
            self.sums[person_id] = self.sums[person_id] + change
        else:
            self.sums[person_id] = change
        self.counts[person_id] = self.counts.get(person_id, 0) + sign


def _apply_deltas(conn: sqlite3.Connection, deltas: _Deltas) -> tuple[list[int], list[int]]:
    """Add the deltas to the people's stored sums and counts (O(1) queries per chunk of people); a person
    whose sum was never stored (a library from before schema v3) is recomputed from its faces instead."""
    people = sorted(deltas.sums)
    if not people:
        return [], []
    updated: list[int] = []
    pruned: list[int] = []
    unknown: list[int] = []  # recomputed from their faces: no stored sum yet, or no face left
    rows: list[tuple[bytes, bytes, int, int]] = []
    stamp = now()
    for start in range(0, len(people), CHUNK):
        chunk = people[start:start + CHUNK]
        for person_id, raw, face_count in conn.execute(
                f"SELECT id, embedding_sum, face_count FROM people WHERE id IN ({_marks(len(chunk))})", chunk):
            if raw is None and face_count > 0:
                unknown.append(int(person_id))
                continue
            count = int(face_count) + deltas.counts[person_id]
            if count <= 0:
                unknown.append(int(person_id))  # emptied: refresh_people checks the faces and prunes it
                continue
            total = deltas.sums[person_id] if raw is None else sum_of(raw) + deltas.sums[person_id]
            # Counts move with the faces; one face per photo per person makes photos equal faces.
            rows.append((blob(_mean(total, count)), total.tobytes(), count, int(person_id)))
            updated.append(int(person_id))
    conn.executemany("UPDATE people SET mean = ?, embedding_sum = ?, face_count = ?, photo_count = ?, updated_at = ? "
                     "WHERE id = ?", [(m, t, c, c, stamp, p) for m, t, c, p in rows])
    if updated:
        bump(conn, PEOPLE_REV)
    if unknown:
        more, gone = refresh_people(conn, unknown)
        updated += more
        pruned += gone
    return sorted(updated), sorted(pruned)


def assign_faces(conn: sqlite3.Connection, changes: Iterable[tuple[int, int | None]]) -> tuple[list[int], list[int]]:
    """Put faces on people (None: on nobody) and update the touched people's sums, means and counts in place;
    delete people left with no face. Costs O(changed faces), whatever the size of the people involved.
    Returns (people updated, people pruned)."""
    wanted = dict(changes)
    ids = sorted(wanted)
    moves: list[tuple[int | None, int]] = []
    deltas = _Deltas()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        for face_id, before, embedding in conn.execute(
                f"SELECT id, person_id, embedding FROM faces WHERE id IN ({_marks(len(chunk))})", chunk):
            after = wanted[face_id]
            if before == after:
                continue
            moves.append((after, int(face_id)))
            vector = vec(embedding)
            if before is not None:
                deltas.add(int(before), vector, -1)
            if after is not None:
                deltas.add(int(after), vector, +1)
    conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", moves)
    return _apply_deltas(conn, deltas)


# ----------------------------------------------------------------------------------------------- status


def status_counts(conn: sqlite3.Connection) -> StatusCounts:
    """Counts for `pictod status`."""
    by_status = dict(conn.execute("SELECT status, count(*) FROM files GROUP BY status").fetchall())
    photos = conn.execute("SELECT count(*) FROM photos").fetchone()[0]
    faces, unassigned = conn.execute(
        "SELECT count(*), coalesce(sum(person_id IS NULL), 0) FROM faces").fetchone()
    people, named = conn.execute("SELECT count(*), coalesce(sum(name IS NOT NULL), 0) FROM people").fetchone()
    return StatusCounts(files_done=int(by_status.get("done", 0)), files_pending=int(by_status.get("pending", 0)),
                        files_failed=int(by_status.get("failed", 0)), photos=int(photos), faces=int(faces),
                        faces_unassigned=int(unassigned), people=int(people), named_people=int(named),
                        last_recluster=get_state(conn, LAST_RECLUSTER),
                        photos_since_recluster=get_int(conn, PHOTOS_SINCE_RECLUSTER))
