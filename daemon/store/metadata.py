"""The SQL of XMP metadata (issue 13): imported faces and corrections (`apply_import`, the store's side of an
import planned by `daemon/people/xmp_import.py`), the sidecar seen per photo, the dirty flags of the batched
sidecar writer (`runtime/sidecar_sync.py`) with its retries. A face changing person marks its photo dirty in
`faces.assign_faces`, for every caller; write functions run inside the writer's transaction, reads on any connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from daemon.store import events, faces
from daemon.store.base import (
    PEOPLE_REV,
    blob,
    bump,
    chunks,
    clamp_ns,
    dec,
    enc,
    has_column,
    mark_all_dirty,
    mark_dirty,
    marks,
    now,
)
from daemon.store.places import PlaceRow, places_of, set_place
from daemon.store.rows import ImportPlan, ImportResult, SidecarSeen

Box = tuple[float, float, float, float]
# A sidecar that cannot be written is tried again after RETRY_FIRST_SECONDS, doubling up to RETRY_MAX_SECONDS, for
# as long as its photo stays dirty (a full disk or a read-only folder comes back; issue 22, item 5).
RETRY_FIRST_SECONDS = 2.0
RETRY_MAX_SECONDS = 600.0


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
    imported = [int(r[0]) for chunk in chunks(list(face_ids)) for r in conn.execute(
        f"SELECT id FROM faces WHERE source = 'xmp' AND id IN ({marks(len(chunk))})", chunk)]
    faces.drop_faces(conn, imported)


def apply_import(conn: sqlite3.Connection, photo_id: int, plan: ImportPlan,
                 recorded: Sequence[int] = ()) -> ImportResult:
    """One photo's planned import, in the caller's write transaction: earlier imports replaced (a re-import),
    new imported faces added, faces pinned to the people of their names (created curated if new; a face of the
    photo already on one of those people leaves it), imported faces whose region went dropped, the sidecar seen
    recorded. `recorded`: the ids of the faces this transaction stored (the plan's positions when it has no ids).
    A face a user correction protects by now (or one gone) is never touched."""
    current = {f.id: f for f in photo_faces(conn, photo_id)}
    ids = plan.face_ids if plan.face_ids is not None else tuple(recorded)
    if plan.reimport:
        drop_imports(conn, photo_id)
    pins = [(ids[at], name) for at, name in plan.pins
            if at < len(ids) and ids[at] in current and not current[ids[at]].protected]
    skipped = plan.skipped + len(plan.pins) - len(pins)
    for region in plan.new_faces:
        pins.append((add_imported_face(conn, photo_id, region.box, region.landmarks, region.embedding), region.name))
    drop_imported_faces(conn, [f for f in plan.drop_faces if f in current and not current[f].protected])
    if pins:
        resolved = [(face_id, person_named(conn, name) or new_named_person(conn, name)) for face_id, name in pins]
        # One face per person per photo: a face of this photo already on a person another face is pinned to leaves.
        taken = {p for _f, p in resolved}
        pinned = {f for f, _p in resolved}
        clash = [(f.id, None) for f in current.values()
                 if f.person_id in taken and f.id not in pinned and not f.protected]
        if clash:
            faces.assign_faces(conn, clash)
        pin_imported(conn, photo_id, resolved)
    if plan.place is not None:  # another tool's place names win over the geocoder's (issue 25)
        city, state, country = plan.place
        set_place(conn, photo_id, PlaceRow(city, state, country, None, "xmp"))
        events.refresh_names(conn, [photo_id])
    elif plan.reimport and conn.execute(  # the metadata read again names no place now: another tool's earlier
            # one goes, and the daemon's next places pass names the photo from its GPS again (`places.fill`)
            "DELETE FROM photo_places WHERE photo_id = ? AND source = 'xmp'", (photo_id,)).rowcount:
        events.refresh_names(conn, [photo_id])
    seen = plan.sidecar
    record_sidecar(conn, photo_id, seen.path, seen.size, seen.mtime_ns, seen.digest)
    if plan.resync:
        mark_dirty(conn, [photo_id])
    return ImportResult(regions=plan.regions, matched=plan.matched, imported_faces=len(plan.new_faces),
                        names=plan.names, skipped=skipped)


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


def mark_paths_dirty(conn: sqlite3.Connection, paths: Sequence[str] | None) -> list[str]:
    """`pictod metadata write`: the photos of these files (None: every photo) need their sidecars brought in step;
    the paths that show no analysed photo (then nothing is marked)."""
    if paths is None:
        mark_all_dirty(conn)
        return []
    found = photo_ids_for_paths(conn, paths)
    missing = [p for p, photo in found.items() if photo is None]
    if not missing:
        mark_dirty(conn, [p for p in found.values() if p is not None])
    return missing


def photo_ids_for_paths(conn: sqlite3.Connection, paths: Sequence[str]) -> dict[str, int | None]:
    """path -> the photo it shows (None: not in the library, or not analysed)."""
    out: dict[str, int | None] = {}
    for path in paths:
        row = conn.execute("SELECT photo_id FROM files WHERE path = ?", (enc(path),)).fetchone()
        out[path] = None if row is None or row[0] is None else int(row[0])
    return out


def dirty_count(conn: sqlite3.Connection) -> int:
    """Photos whose sidecars wait to be written (now, or when their retry is due)."""
    return int(conn.execute("SELECT count(*) FROM photo_metadata WHERE dirty = 1").fetchone()[0])


@dataclass(frozen=True)
class SidecarJob:
    """What one dirty photo's sidecars must say: its files, its named faces, its tags; `gen` as read."""

    photo_id: int
    gen: int
    paths: tuple[str, ...]
    faces: tuple[tuple[int, str, Box], ...]  # face id, person name, box (oriented pixels)
    tags: tuple[str, ...]
    place: tuple[str | None, str | None, str | None] | None = None  # the geocoder's city, region, country
    video: bool = False  # a video's sidecar carries names, no regions (issue 24)


def dirty_batch(conn: sqlite3.Connection, limit: int, *, tags: bool) -> list[SidecarJob]:
    """Up to `limit` dirty photos with everything their sidecars need (one snapshot); a photo whose last write
    failed waits until its retry is due."""
    jobs: list[SidecarJob] = []
    # The schema's two questions asked once per batch, not per photo (a library opened read-only may be older).
    kind_sql = "(SELECT kind FROM photos WHERE id = m.photo_id)" if has_column(conn, "photos", "kind") else "'photo'"
    batch = conn.execute(f"SELECT m.photo_id, m.dirty_gen, {kind_sql} FROM photo_metadata m WHERE m.dirty = 1 AND "
                         "(m.retry_at IS NULL OR m.retry_at <= ?) ORDER BY m.photo_id LIMIT ?",
                         (now(), limit)).fetchall()
    where = places_of(conn, [int(r[0]) for r in batch])
    for photo_id, gen, kind in batch:
        paths = tuple(dec(r[0]) for r in conn.execute(
            "SELECT path FROM files WHERE photo_id = ? AND status = 'done' ORDER BY path", (photo_id,)))
        named = tuple((int(fid), str(name), (float(x1), float(y1), float(x2), float(y2)))
                      for fid, name, x1, y1, x2, y2 in conn.execute(
                          "SELECT f.id, p.name, f.x1, f.y1, f.x2, f.y2 FROM faces f "
                          "JOIN people p ON p.id = f.person_id WHERE f.photo_id = ? AND p.name IS NOT NULL "
                          "ORDER BY f.id", (photo_id,)))
        labels = tuple(r[0] for r in conn.execute(
            "SELECT DISTINCT label FROM objects WHERE photo_id = ? ORDER BY label", (photo_id,))) if tags else ()
        row = where.get(int(photo_id))
        place = (row.city, row.region, row.country) if row is not None and row.source == "geocoder" else None
        jobs.append(SidecarJob(int(photo_id), int(gen), paths, named, labels, place, video=kind == "video"))
    return jobs


def sidecar_written(conn: sqlite3.Connection, photo_id: int, gen: int, seen: SidecarSeen) -> None:
    """The photo's sidecar is in step as of `gen` (a change since keeps it dirty); remember what was written."""
    conn.execute(
        "UPDATE photo_metadata SET dirty = CASE WHEN dirty_gen = ? THEN 0 ELSE dirty END, written_digest = ?, "
        "sidecar = ?, sidecar_size = ?, sidecar_mtime_ns = ?, sidecar_digest = ?, write_failures = 0, "
        "retry_at = NULL, last_error = NULL WHERE photo_id = ?",
        (gen, seen.digest, None if seen.path is None else enc(seen.path), seen.size,
         None if seen.mtime_ns is None else clamp_ns(seen.mtime_ns), seen.digest,
         photo_id))


def sidecar_failed(conn: sqlite3.Connection, photo_id: int, error: str) -> float:
    """A write failed: the photo stays dirty and is tried again after a backoff that doubles with each failure in a
    row (RETRY_FIRST_SECONDS .. RETRY_MAX_SECONDS); the error is kept for `status`. The seconds until the retry."""
    row = conn.execute("SELECT write_failures FROM photo_metadata WHERE photo_id = ?", (photo_id,)).fetchone()
    failures = (0 if row is None else int(row[0])) + 1
    delay = min(RETRY_FIRST_SECONDS * 2.0 ** min(failures - 1, 30), RETRY_MAX_SECONDS)
    retry_at = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat(timespec="seconds")
    conn.execute("UPDATE photo_metadata SET write_failures = ?, retry_at = ?, last_error = ? WHERE photo_id = ?",
                 (failures, retry_at, error, photo_id))
    return delay
