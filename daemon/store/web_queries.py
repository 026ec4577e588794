"""The SQL of the reads only the web app asks for, as functions of a connection: a photo with every recorded file
(`photo`), face rows with their person and quality (`face`, `photo_faces`, `person_faces`, `unassigned_faces`,
`face_quality_sql`), a photo's objects, each person's representative face (`best_faces`, `face_owners`) and
the pinned faces of a page. The web app reaches them through the use cases in `daemon/library/reads.py`; the
reads the CLI shares (people, the photo search and its count, failed files) are in `faces.py`, `search.py` and
`queries.py`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.errors import NotFoundError
from daemon.store import queries as q
from daemon.store.base import has_column

# A face's quality where `faces.quality` is NULL (faces stored before schema 6 kept NULL there): the detector's
# score, discounted for faces too small to recognise. The web app opens a migrated store, so the column is there.
_QUALITY_FALLBACK = "({t}.score * min(1.0, min({t}.x2 - {t}.x1, {t}.y2 - {t}.y1) / 80.0))"


@dataclass(frozen=True)
class FileRow:
    """One file of a photo as the library recorded it."""

    path: str
    size: int
    mtime_ns: int
    status: str


@dataclass(frozen=True)
class PhotoFiles:
    """A photo with its recorded files (the web app picks one that is still there and unchanged to render)."""

    id: int
    content_hash: str
    width: int
    height: int
    format: str
    taken_at: str | None
    camera: str | None
    files: tuple[FileRow, ...]
    kind: str = "photo"  # or "video" (schema v11)
    duration: float | None = None  # a video's, seconds


@dataclass(frozen=True)
class FaceRow:
    """A face with its box (original oriented pixels), its person and its photo."""

    id: int
    photo_id: int
    person_id: int | None
    person_name: str | None
    box: tuple[float, float, float, float]
    score: float
    quality: float


@dataclass(frozen=True)
class ObjectRow:
    """A detected object of a photo."""

    label: str
    score: float
    box: tuple[float, float, float, float]


def face_quality_sql(table: str = "f") -> str:
    """An SQL expression for a face's quality (higher is better)."""
    return f"coalesce({table}.quality, {_QUALITY_FALLBACK.format(t=table)})"


def _face(row: Sequence[Any]) -> FaceRow:
    fid, photo_id, person_id, name, x1, y1, x2, y2, score, quality = row
    return FaceRow(id=int(fid), photo_id=int(photo_id), person_id=None if person_id is None else int(person_id),
                   person_name=None if name is None else str(name),
                   box=(float(x1), float(y1), float(x2), float(y2)), score=float(score), quality=float(quality))


_FACE_SELECT = ("SELECT f.id, f.photo_id, f.person_id, p.name, f.x1, f.y1, f.x2, f.y2, f.score, "
                f"{face_quality_sql()} AS quality FROM faces f LEFT JOIN people p ON p.id = f.person_id")


def photo(conn: sqlite3.Connection, photo_id: int) -> PhotoFiles:
    """A photo and its files; NotFoundError for an unknown id."""
    video = "kind, duration" if has_column(conn, "photos", "kind") else "'photo', NULL"  # before schema v11
    row = conn.execute(f"SELECT id, content_hash, width, height, format, taken_at, camera, {video} FROM photos "
                       "WHERE id = ?", (photo_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no photo with id {photo_id}")
    files = tuple(FileRow(path=q.dec(r[0]), size=int(r[1]), mtime_ns=int(r[2]), status=str(r[3])) for r in
                  conn.execute("SELECT path, size, mtime_ns, status FROM files WHERE photo_id = ? ORDER BY path",
                               (photo_id,)))
    kind, duration = row[7], row[8]
    return PhotoFiles(id=int(row[0]), content_hash=str(row[1]), width=int(row[2]), height=int(row[3]),
                      format=str(row[4]), taken_at=row[5], camera=row[6], files=files, kind=str(kind),
                      duration=None if duration is None else float(duration))


def face_box(conn: sqlite3.Connection, face_id: int) -> tuple[int, tuple[float, float, float, float]]:
    """(photo id, box) of a face, for its crop; NotFoundError for an unknown id."""
    row = conn.execute("SELECT photo_id, x1, y1, x2, y2 FROM faces WHERE id = ?", (face_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no face with id {face_id}")
    return int(row[0]), (float(row[1]), float(row[2]), float(row[3]), float(row[4]))


def face_time(conn: sqlite3.Connection, face_id: int) -> float | None:
    """The second of a video's face's frame (None: a photo's face, or a library before schema v11)."""
    if not has_column(conn, "faces", "time"):
        return None
    row = conn.execute("SELECT time FROM faces WHERE id = ?", (face_id,)).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def face(conn: sqlite3.Connection, face_id: int) -> FaceRow:
    """One face; NotFoundError for an unknown id."""
    row = conn.execute(f"{_FACE_SELECT} WHERE f.id = ?", (face_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no face with id {face_id}")
    return _face(row)


def photo_faces(conn: sqlite3.Connection, photo_id: int) -> list[FaceRow]:
    """The faces of a photo, left to right."""
    return [_face(r) for r in conn.execute(f"{_FACE_SELECT} WHERE f.photo_id = ? ORDER BY f.x1, f.id",
                                           (photo_id,))]


def photo_objects(conn: sqlite3.Connection, photo_id: int) -> list[ObjectRow]:
    """The objects of a photo, best score first."""
    return [ObjectRow(label=str(r[0]), score=float(r[1]), box=(float(r[2]), float(r[3]), float(r[4]), float(r[5])))
            for r in conn.execute("SELECT label, score, x1, y1, x2, y2 FROM objects WHERE photo_id = ? "
                                  "ORDER BY score DESC, id", (photo_id,))]


def best_faces(conn: sqlite3.Connection, person_ids: Iterable[int]) -> dict[int, int]:
    """Each person's best-quality face id (a person's representative face)."""
    quality = face_quality_sql("b")
    out: dict[int, int] = {}
    for person_id in person_ids:
        row = conn.execute(f"SELECT b.id FROM faces b WHERE b.person_id = ? ORDER BY {quality} DESC, b.id LIMIT 1",
                           (person_id,)).fetchone()
        if row is not None:
            out[int(person_id)] = int(row[0])
    return out


def face_owners(conn: sqlite3.Connection, face_ids: Sequence[int]) -> dict[int, int | None]:
    """{face id: its person id} for the faces among these that still exist."""
    out: dict[int, int | None] = {}
    for start in range(0, len(face_ids), q.CHUNK):
        chunk = list(face_ids[start:start + q.CHUNK])
        out.update((int(r[0]), r[1]) for r in conn.execute(
            f"SELECT id, person_id FROM faces WHERE id IN ({','.join('?' * len(chunk))})", chunk))
    return out


def person_faces(conn: sqlite3.Connection, person_id: int, *, limit: int, offset: int) -> list[FaceRow]:
    """A page of one person's faces, best quality first."""
    return [_face(r) for r in conn.execute(
        f"{_FACE_SELECT} WHERE f.person_id = ? ORDER BY quality DESC, f.id LIMIT ? OFFSET ?",
        (person_id, limit, offset))]


def pinned_faces(conn: sqlite3.Connection, face_ids: Sequence[int]) -> set[int]:
    """Which of these faces the user pinned to their person ('assign' corrections)."""
    out: set[int] = set()
    for start in range(0, len(face_ids), q.CHUNK):
        chunk = list(face_ids[start:start + q.CHUNK])
        out |= {int(r[0]) for r in conn.execute(
            f"SELECT c.face_id FROM corrections c JOIN faces f ON f.id = c.face_id AND f.person_id = c.person_id "
            f"WHERE c.kind = 'assign' AND c.face_id IN ({','.join('?' * len(chunk))})", chunk)}
    return out


def unassigned_count(conn: sqlite3.Connection) -> int:
    """How many faces are on nobody (through the person index: no scan of the faces table)."""
    return int(conn.execute("SELECT count(*) FROM faces WHERE person_id IS NULL").fetchone()[0])


def unassigned_faces(conn: sqlite3.Connection, *, limit: int, offset: int) -> tuple[list[FaceRow], int]:
    """A page of the faces on nobody, best quality first, and how many there are."""
    total = unassigned_count(conn)
    rows = [_face(r) for r in conn.execute(
        f"{_FACE_SELECT} WHERE f.person_id IS NULL ORDER BY quality DESC, f.id LIMIT ? OFFSET ?",
        (limit, offset))]
    return rows, total
