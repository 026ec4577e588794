"""User corrections: name a person, merge two, move a face to a person, reject a face from its person.

Each correction runs in one write transaction and is recorded in the `corrections` table, so every later
recluster honours it (`clusters.map_clusters`: named/curated people anchored, pins kept, rejections never undone).
Later issues extend this module (accepting a suggestion, a new person, names imported from metadata).
"""

from __future__ import annotations

import sqlite3

from daemon.library import PersonSummary, face_photo_person, person_summary
from daemon.store import Store
from daemon.store import queries as q


def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary:
    """Name (or with None, unname) a person; a named person is kept whole by every recluster."""
    clean = " ".join(name.split()) if name is not None else None

    def task(conn: sqlite3.Connection) -> PersonSummary:
        person_summary(conn, person_id)
        conn.execute("UPDATE people SET name = ?, curated = 1, updated_at = ? WHERE id = ?",
                     (clean or None, q.now(), person_id))
        conn.execute("INSERT INTO corrections (kind, person_id, name, created_at) VALUES ('name', ?, ?, ?)",
                     (person_id, clean or None, q.now()))
        q.bump(conn, q.PEOPLE_REV)
        return person_summary(conn, person_id)
    return store.write(task)


def merge_people(store: Store, keep: int, other: int) -> PersonSummary:
    """Move every face of `other` to `keep` and delete `other`; recorded so reclusters keep them together."""
    def task(conn: sqlite3.Connection) -> PersonSummary:
        kept, gone = person_summary(conn, keep), person_summary(conn, other)
        if keep == other:
            return kept
        # One face per photo: where both have a face of one photo, the kept person's face stays.
        clash = [r[0] for r in conn.execute(
            "SELECT id FROM faces WHERE person_id = ? AND photo_id IN (SELECT photo_id FROM faces WHERE person_id = ?)",
            (other, keep))]
        for face_id in clash:
            conn.execute("UPDATE faces SET person_id = NULL WHERE id = ?", (face_id,))
            conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (face_id,))
        conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, other))
        conn.execute("UPDATE corrections SET person_id = ? WHERE person_id = ? AND kind IN ('assign', 'reject')",
                     (keep, other))
        # "Not other" now means "not keep"; a pin to either wins over a rejection of the same face.
        conn.execute("DELETE FROM corrections WHERE kind = 'reject' AND person_id = ? AND face_id IN "
                     "(SELECT face_id FROM corrections WHERE kind = 'assign' AND person_id = ?)", (keep, keep))
        conn.execute("UPDATE faces SET person_id = NULL WHERE person_id = ? AND id IN "
                     "(SELECT face_id FROM corrections WHERE kind = 'reject' AND person_id = ?)", (keep, keep))
        name = kept.name if kept.name is not None else gone.name
        conn.execute("UPDATE people SET name = ?, curated = 1 WHERE id = ?", (name, keep))
        conn.execute("INSERT INTO corrections (kind, person_id, other_person_id, name, created_at) "
                     "VALUES ('merge', ?, ?, ?, ?)", (keep, other, gone.name, q.now()))
        conn.execute("DELETE FROM people WHERE id = ?", (other,))
        q.refresh_people(conn, [keep])
        q.bump(conn, q.PEOPLE_REV)
        return person_summary(conn, keep)
    return store.write(task)


def move_face(store: Store, face_id: int, person_id: int) -> None:
    """Put a face on a person and pin it there (a face of the same photo already there is unassigned)."""
    def task(conn: sqlite3.Connection) -> None:
        photo_id, _before = face_photo_person(conn, face_id)
        person_summary(conn, person_id)
        clash = [r[0] for r in conn.execute(
            "SELECT id FROM faces WHERE photo_id = ? AND person_id = ? AND id != ?", (photo_id, person_id, face_id))]
        for other in clash:
            conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (other,))
        conn.execute("DELETE FROM corrections WHERE face_id = ? AND (kind = 'assign' OR "
                     "(kind = 'reject' AND person_id = ?))", (face_id, person_id))
        conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('assign', ?, ?, ?)",
                     (face_id, person_id, q.now()))
        conn.execute("UPDATE people SET curated = 1 WHERE id = ?", (person_id,))
        q.assign_faces(conn, [(other, None) for other in clash] + [(face_id, person_id)])
        q.bump(conn, q.PEOPLE_REV)
    store.write(task)


def reject_face(store: Store, face_id: int) -> int | None:
    """"Not this person": take the face off its person for good; return that person (None if it had none)."""
    def task(conn: sqlite3.Connection) -> int | None:
        _photo, person = face_photo_person(conn, face_id)
        if person is None:
            return None
        conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (face_id,))
        conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('reject', ?, ?, ?)",
                     (face_id, person, q.now()))
        q.assign_faces(conn, [(face_id, None)])
        q.bump(conn, q.PEOPLE_REV)
        return person
    return store.write(task)

