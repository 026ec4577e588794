"""User corrections in SQL: name a person, merge two, pin a face to a person (move, accept), reject a face, a new
person from chosen faces. Each runs inside the writer's transaction (`Store.name_person`, ...), records a row in
`corrections` (kinds `name`, `merge`, `assign` = pin, `reject`) so every recluster honours it, and bumps
`people_rev`. Faces change person through `faces.assign_faces` (sums in place, the sidecar rule); a rename or a
merge marks the photos whose faces change name itself.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from daemon.store.base import PEOPLE_REV, bump, mark_dirty, now
from daemon.store.faces import PersonRow, assign_faces, face_names, face_row, new_person, person_row, refresh_people


def name_person(conn: sqlite3.Connection, person_id: int, name: str | None) -> PersonRow:
    """Name (None: unname) a person, mark it curated and record the correction."""
    before = person_row(conn, person_id)[1]
    if before != name:  # every photo showing the person shows the new name
        mark_dirty(conn, [int(r[0]) for r in conn.execute(
            "SELECT DISTINCT photo_id FROM faces WHERE person_id = ?", (person_id,))])
    conn.execute("UPDATE people SET name = ?, curated = 1, updated_at = ? WHERE id = ?", (name, now(), person_id))
    conn.execute("INSERT INTO corrections (kind, person_id, name, created_at) VALUES ('name', ?, ?, ?)",
                 (person_id, name, now()))
    bump(conn, PEOPLE_REV)
    return person_row(conn, person_id)


def merge_people(conn: sqlite3.Connection, keep: int, other: int) -> PersonRow:
    """Move every face of `other` to `keep`, carry its corrections over, delete it; record the merge."""
    kept, gone = person_row(conn, keep), person_row(conn, other)
    if keep == other:
        return kept
    involved = [int(r[0]) for r in conn.execute("SELECT id FROM faces WHERE person_id IN (?, ?)", (keep, other))]
    shown = face_names(conn, involved)
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
    name = kept[1] if kept[1] is not None else gone[1]
    conn.execute("UPDATE people SET name = ?, curated = 1 WHERE id = ?", (name, keep))
    conn.execute("INSERT INTO corrections (kind, person_id, other_person_id, name, created_at) "
                 "VALUES ('merge', ?, ?, ?, ?)", (keep, other, gone[1], now()))
    conn.execute("DELETE FROM people WHERE id = ?", (other,))
    refresh_people(conn, [keep])
    bump(conn, PEOPLE_REV)
    now_shown = face_names(conn, involved)
    mark_dirty(conn, {photo for f, (photo, name) in shown.items() if now_shown[f][1] != name})
    return person_row(conn, keep)


def move_face(conn: sqlite3.Connection, face_id: int, person_id: int) -> None:
    """Pin a face to a person (a face of the same photo already there is unassigned); record the pin."""
    photo_id, _before = face_row(conn, face_id)
    person_row(conn, person_id)
    clash = [r[0] for r in conn.execute(
        "SELECT id FROM faces WHERE photo_id = ? AND person_id = ? AND id != ?", (photo_id, person_id, face_id))]
    for other in clash:
        conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (other,))
    conn.execute("DELETE FROM corrections WHERE face_id = ? AND (kind = 'assign' OR "
                 "(kind = 'reject' AND person_id = ?))", (face_id, person_id))
    conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('assign', ?, ?, ?)",
                 (face_id, person_id, now()))
    conn.execute("UPDATE people SET curated = 1 WHERE id = ?", (person_id,))
    assign_faces(conn, [(other, None) for other in clash] + [(face_id, person_id)])
    bump(conn, PEOPLE_REV)


def accept_faces(conn: sqlite3.Connection, person_id: int, face_ids: Sequence[int]) -> list[int]:
    """Pin to a person those of these faces still on nobody now (accepted suggestions); the faces moved."""
    person_row(conn, person_id)
    done = [f for f in face_ids if face_row(conn, f)[1] is None]
    for face_id in done:
        move_face(conn, face_id, person_id)
    return done


def reject_face(conn: sqlite3.Connection, face_id: int) -> int | None:
    """Take a face off its person for good and record it; the person it had (None: it had none)."""
    _photo, person = face_row(conn, face_id)
    if person is None:
        return None
    conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (face_id,))
    conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('reject', ?, ?, ?)",
                 (face_id, person, now()))
    assign_faces(conn, [(face_id, None)])
    bump(conn, PEOPLE_REV)
    return person


def reject_suggestion(conn: sqlite3.Connection, face_id: int, person_id: int) -> None:
    """"This face is not this person", for any face (assigned or not): recorded once, so the person is never
    suggested for it again and no recluster puts it there; a face on that person is taken off."""
    _photo, person = face_row(conn, face_id)
    person_row(conn, person_id)
    if conn.execute("SELECT 1 FROM corrections WHERE kind = 'reject' AND face_id = ? AND person_id = ?",
                    (face_id, person_id)).fetchone() is None:
        conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ? AND person_id = ?",
                     (face_id, person_id))
        conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('reject', ?, ?, ?)",
                     (face_id, person_id, now()))
    if person == person_id:
        assign_faces(conn, [(face_id, None)])
    bump(conn, PEOPLE_REV)


def new_curated_person(conn: sqlite3.Connection, face_ids: Sequence[int], name: str | None) -> int:
    """A person made by the user from these faces (each pinned to it; at most one face per photo, else
    ValueError): curated, named if a name is given, recorded as corrections. Its id."""
    photos = [face_row(conn, f)[0] for f in face_ids]
    if len(set(photos)) != len(photos):
        raise ValueError("two of these faces are in the same photo: a person has at most one face per photo")
    stamp = now()
    person_id = new_person(conn, stamp)
    conn.execute("UPDATE people SET name = ?, curated = 1 WHERE id = ?", (name, person_id))
    if name is not None:
        conn.execute("INSERT INTO corrections (kind, person_id, name, created_at) VALUES ('name', ?, ?, ?)",
                     (person_id, name, stamp))
    # No sum and no face yet: assign_faces (through move_face) starts the sum from the faces it receives.
    for face_id in face_ids:
        move_face(conn, face_id, person_id)
    return person_id
