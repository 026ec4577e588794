"""The SQL of XMP metadata (issue 13): imported faces and corrections, the sidecar seen per photo, the dirty flags
of the batched sidecar writer. `library/corrections.py` (imports) and `runtime/sidecar_sync.py` (writes) call these;
write functions run inside the writer's transaction, reads on any connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.store import faces
from daemon.store.base import FACES_REMOVED_REV, PEOPLE_REV, blob, bump, chunks, clamp_ns, dec, enc, marks, now

Box = tuple[float, float, float, float]
MAX_WRITE_FAILURES = 3  # a sidecar that cannot be written this many times in a row stops being retried


@dataclass(frozen=True)
class PhotoFace:
    """One face of a photo as an import sees it."""

    id: int
    box: Box
    person_id: int | None
    person_name: str | None
    source: str  # 'detected' | 'xmp'
    protected: bool  # the user corrected this face (or named/merged its person) after any import: hands off


# ----------------------------------------------------------------------------------------------- imports


def photo_faces(conn: sqlite3.Connection, photo_id: int) -> list[PhotoFace]:
    """The photo's faces with their people and whether a user correction came after the last import."""
    rows = conn.execute(
        "SELECT f.id, f.x1, f.y1, f.x2, f.y2, f.person_id, p.name, f.source FROM faces f "
        "LEFT JOIN people p ON p.id = f.person_id WHERE f.photo_id = ? ORDER BY f.id", (photo_id,)).fetchall()
    out: list[PhotoFace] = []
    for face_id, x1, y1, x2, y2, person_id, name, source in rows:
        last_import = conn.execute("SELECT max(id) FROM corrections WHERE face_id = ? AND source = 'xmp'",
                                   (face_id,)).fetchone()[0] or 0
        user_face = conn.execute("SELECT 1 FROM corrections WHERE face_id = ? AND source = 'user' AND id > ? "
                                 "LIMIT 1", (face_id, last_import)).fetchone()
        user_person = person_id is not None and last_import and conn.execute(
            "SELECT 1 FROM corrections WHERE person_id = ? AND source = 'user' AND kind IN ('name', 'merge') "
            "AND id > ? LIMIT 1", (person_id, last_import)).fetchone()
        out.append(PhotoFace(int(face_id), (float(x1), float(y1), float(x2), float(y2)),
                             None if person_id is None else int(person_id), name, str(source),
                             bool(user_face or user_person)))
    return out


def drop_imports(conn: sqlite3.Connection, photo_id: int) -> int:
    """Forget the corrections an earlier import of this photo made (a changed sidecar is imported afresh)."""
    return conn.execute("DELETE FROM corrections WHERE photo_id = ? AND source = 'xmp' AND kind = 'assign'",
                        (photo_id,)).rowcount


def person_named(conn: sqlite3.Connection, name: str) -> int | None:
    """The person with this name compared casefold (the lowest id if several), or None."""
    folded = name.casefold()
    for person_id, other in conn.execute("SELECT id, name FROM people WHERE name IS NOT NULL ORDER BY id"):
        if str(other).casefold() == folded:
            return int(person_id)
    return None


def new_named_person(conn: sqlite3.Connection, name: str) -> int:
    """A curated person with this name (its faces follow in the same transaction)."""
    stamp = now()
    person_id = int(conn.execute("INSERT INTO people (name, curated, created_at, updated_at) VALUES (?, 1, ?, ?)",
                                 (name, stamp, stamp)).lastrowid or 0)
    conn.execute("INSERT INTO corrections (kind, person_id, name, created_at, source) VALUES ('name', ?, ?, ?, 'xmp')",
                 (person_id, name, stamp))
    bump(conn, PEOPLE_REV)
    return person_id


def pin_imported(conn: sqlite3.Connection, photo_id: int, pins: Sequence[tuple[int, int]]) -> None:
    """Put faces on people and pin them there as imported corrections (face id, person id)."""
    if not pins:
        return
    stamp = now()
    conn.executemany("DELETE FROM corrections WHERE face_id = ? AND kind = 'assign'", [(f,) for f, _p in pins])
    conn.executemany("INSERT INTO corrections (kind, face_id, person_id, created_at, source, photo_id) "
                     "VALUES ('assign', ?, ?, ?, 'xmp', ?)", [(f, p, stamp, photo_id) for f, p in pins])
    conn.executemany("UPDATE people SET curated = 1 WHERE id = ?", [(p,) for _f, p in pins])
    faces.assign_faces(conn, pins)
    bump(conn, PEOPLE_REV)


def add_imported_face(conn: sqlite3.Connection, photo_id: int, box: Box, landmarks: Sequence[tuple[float, float]],
                      embedding: NDArray[np.float32]) -> int:
    """A face known only from a named region (no detector found it): its crop's embedding, source 'xmp'."""
    cursor = conn.execute(
        "INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding, source) "
        "VALUES (?, ?, ?, ?, ?, 0, ?, ?, 'xmp')",
        (photo_id, *map(float, box), json.dumps([[float(x), float(y)] for x, y in landmarks]), blob(embedding)))
    return int(cursor.lastrowid or 0)


def drop_imported_faces(conn: sqlite3.Connection, face_ids: Sequence[int]) -> None:
    """Delete imported faces whose region is gone (their people's sums follow; empty people are pruned)."""
    if not face_ids:
        return
    faces.assign_faces(conn, [(f, None) for f in face_ids])
    for chunk in chunks(list(face_ids)):
        conn.execute(f"DELETE FROM faces WHERE source = 'xmp' AND id IN ({marks(len(chunk))})", chunk)
    bump(conn, FACES_REMOVED_REV)


# ----------------------------------------------------------------------------------------------- sidecar state


def record_sidecar(conn: sqlite3.Connection, photo_id: int, path: str | None, size: int | None,
                   mtime_ns: int | None, digest: str | None) -> None:
    """The sidecar last seen (imported or written) for a photo, so start-up notices a change."""
    conn.execute(
        "INSERT INTO photo_metadata (photo_id, sidecar, sidecar_size, sidecar_mtime_ns, sidecar_digest) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (photo_id) DO UPDATE SET sidecar = excluded.sidecar, "
        "sidecar_size = excluded.sidecar_size, sidecar_mtime_ns = excluded.sidecar_mtime_ns, "
        "sidecar_digest = excluded.sidecar_digest",
        (photo_id, None if path is None else enc(path), size, None if mtime_ns is None else clamp_ns(mtime_ns), digest))


def sidecar_seen(conn: sqlite3.Connection, photo_id: int) -> tuple[str | None, str | None]:
    """(digest of the sidecar last imported, digest pictod last wrote) of a photo."""
    row = conn.execute("SELECT sidecar_digest, written_digest FROM photo_metadata WHERE photo_id = ?",
                       (photo_id,)).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def sidecar_states(conn: sqlite3.Connection) -> dict[str, tuple[int, int]]:
    """sidecar path -> (size, mtime_ns) as last seen, for every photo with one."""
    return {dec(path): (int(size or 0), int(mtime or 0)) for path, size, mtime in conn.execute(
        "SELECT sidecar, sidecar_size, sidecar_mtime_ns FROM photo_metadata WHERE sidecar IS NOT NULL")}


# ----------------------------------------------------------------------------------------------- dirty flags

_DIRTY = ("INSERT INTO photo_metadata (photo_id, dirty, dirty_gen) {select} "
          "ON CONFLICT (photo_id) DO UPDATE SET dirty = 1, dirty_gen = dirty_gen + 1, write_failures = 0")


def mark_person_dirty(conn: sqlite3.Connection, person_id: int) -> None:
    """Every photo with a face of this person needs its sidecar rewritten (one statement, any size)."""
    conn.execute(_DIRTY.format(select="SELECT DISTINCT photo_id, 1, 1 FROM faces WHERE person_id = ? AND true"),
                 (person_id,))


def mark_face_dirty(conn: sqlite3.Connection, face_id: int) -> None:
    """The photo of this face needs its sidecar rewritten."""
    conn.execute(_DIRTY.format(select="SELECT photo_id, 1, 1 FROM faces WHERE id = ? AND true"), (face_id,))


def mark_named_faces_dirty(conn: sqlite3.Connection, face_ids: Sequence[int]) -> None:
    """The photos of these faces that are on a named person (call before and after a move: both ends count)."""
    for chunk in chunks(list(face_ids)):
        conn.execute(_DIRTY.format(select="SELECT DISTINCT f.photo_id, 1, 1 FROM faces f JOIN people p ON "
                                          f"p.id = f.person_id WHERE f.id IN ({marks(len(chunk))}) "
                                          "AND p.name IS NOT NULL"), chunk)


def mark_photos_dirty(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> None:
    """These photos need their sidecars rewritten."""
    conn.executemany(_DIRTY.format(select="SELECT id, 1, 1 FROM photos WHERE id = ? AND true"),
                     [(p,) for p in photo_ids])


def mark_all_dirty(conn: sqlite3.Connection) -> None:
    """Every photo with a file needs its sidecar brought in step (`pictod metadata write --all`)."""
    conn.execute(_DIRTY.format(select="SELECT DISTINCT photo_id, 1, 1 FROM files WHERE photo_id IS NOT NULL "
                                      "AND status = 'done'"))


def photo_ids_for_paths(conn: sqlite3.Connection, paths: Sequence[str]) -> dict[str, int | None]:
    """path -> the photo it shows (None: not in the library, or not analysed)."""
    out: dict[str, int | None] = {}
    for path in paths:
        row = conn.execute("SELECT photo_id FROM files WHERE path = ?", (enc(path),)).fetchone()
        out[path] = None if row is None or row[0] is None else int(row[0])
    return out


def dirty_count(conn: sqlite3.Connection) -> int:
    """Photos whose sidecars wait to be written."""
    return int(conn.execute("SELECT count(*) FROM photo_metadata WHERE dirty = 1").fetchone()[0])


@dataclass(frozen=True)
class SidecarJob:
    """What one dirty photo's sidecars must say: its files, its named faces, its tags; `gen` as read."""

    photo_id: int
    gen: int
    paths: tuple[str, ...]
    faces: tuple[tuple[int, str, Box], ...]  # face id, person name, box (oriented pixels)
    tags: tuple[str, ...]


def dirty_batch(conn: sqlite3.Connection, limit: int, *, tags: bool) -> list[SidecarJob]:
    """Up to `limit` dirty photos with everything their sidecars need (one snapshot)."""
    jobs: list[SidecarJob] = []
    for photo_id, gen in conn.execute("SELECT photo_id, dirty_gen FROM photo_metadata WHERE dirty = 1 "
                                      "ORDER BY photo_id LIMIT ?", (limit,)).fetchall():
        paths = tuple(dec(r[0]) for r in conn.execute(
            "SELECT path FROM files WHERE photo_id = ? AND status = 'done' ORDER BY path", (photo_id,)))
        named = tuple((int(fid), str(name), (float(x1), float(y1), float(x2), float(y2)))
                      for fid, name, x1, y1, x2, y2 in conn.execute(
                          "SELECT f.id, p.name, f.x1, f.y1, f.x2, f.y2 FROM faces f "
                          "JOIN people p ON p.id = f.person_id WHERE f.photo_id = ? AND p.name IS NOT NULL "
                          "ORDER BY f.id", (photo_id,)))
        labels = tuple(r[0] for r in conn.execute(
            "SELECT DISTINCT label FROM objects WHERE photo_id = ? ORDER BY label", (photo_id,))) if tags else ()
        jobs.append(SidecarJob(int(photo_id), int(gen), paths, named, labels))
    return jobs


def sidecar_written(conn: sqlite3.Connection, photo_id: int, gen: int, path: str | None, size: int | None,
                    mtime_ns: int | None, digest: str | None) -> None:
    """The photo's sidecar is in step as of `gen` (a change since keeps it dirty); remember what was written."""
    conn.execute(
        "UPDATE photo_metadata SET dirty = CASE WHEN dirty_gen = ? THEN 0 ELSE dirty END, written_digest = ?, "
        "sidecar = ?, sidecar_size = ?, sidecar_mtime_ns = ?, sidecar_digest = ?, write_failures = 0 "
        "WHERE photo_id = ?",
        (gen, digest, None if path is None else enc(path), size,
         None if mtime_ns is None else clamp_ns(mtime_ns), digest, photo_id))


def sidecar_failed(conn: sqlite3.Connection, photo_id: int, gen: int) -> bool:
    """A write was skipped: count it; after MAX_WRITE_FAILURES the photo stops being retried (True)."""
    conn.execute("UPDATE photo_metadata SET write_failures = write_failures + 1 WHERE photo_id = ?", (photo_id,))
    conn.execute("UPDATE photo_metadata SET dirty = 0 WHERE photo_id = ? AND dirty_gen = ? AND write_failures >= ?",
                 (photo_id, gen, MAX_WRITE_FAILURES))
    row = conn.execute("SELECT dirty FROM photo_metadata WHERE photo_id = ?", (photo_id,)).fetchone()
    return row is not None and not row[0]
