"""The SQL of the same-person review (issue 21): the review's reads (a person's faces, the faces it may be
offered, what was answered) and its answers, each recorded in `review_answers` (schema v7) so the last one can
be undone exactly. A "yes" is a pin (`faces.move_face`), a "no" a rejection (`faces.reject_suggestion`), a
"skip" only a row. Write functions run inside the writer's transaction, read functions on any connection.
"""

from __future__ import annotations

import sqlite3

from daemon.store import faces
from daemon.store.base import FACES_REMOVED_REV, PEOPLE_REV, bump, get_int, now

ANSWERS = ("yes", "no", "skip")


def record_answer(conn: sqlite3.Connection, person_id: int, face_id: int, answer: str) -> None:
    """Apply one answer and record it (undoable). NotFoundError for an unknown face or person."""
    if answer not in ANSWERS:
        raise ValueError(f"answer must be one of {ANSWERS}, got {answer!r}")
    _photo, before = faces.face_row(conn, face_id)
    faces.person_row(conn, person_id)
    pinned = conn.execute("SELECT 1 FROM corrections WHERE kind = 'assign' AND face_id = ? AND person_id IS ?",
                          (face_id, before)).fetchone() is not None
    added_reject = False
    if answer == "yes":
        faces.move_face(conn, face_id, person_id)
    elif answer == "no":
        added_reject = conn.execute("SELECT 1 FROM corrections WHERE kind = 'reject' AND face_id = ? AND "
                                    "person_id = ?", (face_id, person_id)).fetchone() is None
        faces.reject_suggestion(conn, face_id, person_id)
    conn.execute("INSERT INTO review_answers (person_id, face_id, answer, before_person, before_pinned, added_reject,"
                 " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                 (person_id, face_id, answer, before, int(pinned), int(added_reject), now()))


def undo_last(conn: sqlite3.Connection, person_id: int) -> tuple[int, str] | None:
    """Undo the person's last answer (the face back where it was, pinned again if it was; the rejection it
    added dropped); (face id, answer) undone, None if there is none. A face whose old person was pruned
    meanwhile (a "yes" took its last face) goes back to no one."""
    row = conn.execute("SELECT id, face_id, answer, before_person, before_pinned, added_reject FROM review_answers "
                       "WHERE person_id = ? ORDER BY id DESC LIMIT 1", (person_id,)).fetchone()
    if row is None:
        return None
    answer_id, face_id, answer, before, before_pinned, added_reject = row
    if answer == "yes":
        conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ? AND person_id = ?",
                     (face_id, person_id))
        if before is not None and before_pinned and _exists(conn, before):
            faces.move_face(conn, face_id, before)
        else:
            back = before if before is not None and _exists(conn, before) else None
            faces.assign_faces(conn, [(face_id, back)])
        bump(conn, PEOPLE_REV)
    elif answer == "no" and added_reject:
        conn.execute("DELETE FROM corrections WHERE kind = 'reject' AND face_id = ? AND person_id = ?",
                     (face_id, person_id))
        bump(conn, PEOPLE_REV)
    conn.execute("DELETE FROM review_answers WHERE id = ?", (answer_id,))
    return int(face_id), str(answer)


def _exists(conn: sqlite3.Connection, person_id: int) -> bool:
    return conn.execute("SELECT 1 FROM people WHERE id = ?", (person_id,)).fetchone() is not None


def answers(conn: sqlite3.Connection, person_id: int) -> list[tuple[int, str]]:
    """(face id, answer) of every recorded answer for this person, oldest first."""
    return [(int(f), str(a)) for f, a in conn.execute(
        "SELECT face_id, answer FROM review_answers WHERE person_id = ? ORDER BY id", (person_id,))]


def people_excluded(conn: sqlite3.Connection, face_id: int) -> set[int]:
    """The people a face may not be (NotFoundError if unknown): rejected, holding its photo, its own."""
    photo, own = faces.face_row(conn, face_id)
    excluded = {int(p) for (p,) in conn.execute(
        "SELECT person_id FROM corrections WHERE kind = 'reject' AND face_id = ? AND person_id IS NOT NULL "
        "UNION SELECT person_id FROM faces WHERE photo_id = ? AND person_id IS NOT NULL", (face_id, photo))}
    return excluded | ({own} if own is not None else set())


def stamp(conn: sqlite3.Connection) -> tuple[int, int, int]:
    """(people rev, faces removed rev, highest face id): what a cache of the faces is valid for (face ids only
    grow, every removal bumps the removed rev). Three index lookups, no scan."""
    top = conn.execute("SELECT coalesce(max(id), 0) FROM faces").fetchone()[0]
    return get_int(conn, PEOPLE_REV), get_int(conn, FACES_REMOVED_REV), int(top)


def person_answers(conn: sqlite3.Connection, person_id: int) -> tuple[faces.PersonRow, list[int], set[int]]:
    """The person (NotFoundError if unknown), the faces rejected for it, the faces skipped for it."""
    person = faces.person_row(conn, person_id)
    rejected = [int(r[0]) for r in conn.execute(
        "SELECT face_id FROM corrections WHERE kind = 'reject' AND person_id = ? AND face_id IS NOT NULL",
        (person_id,))]
    skipped = {int(r[0]) for r in conn.execute(
        "SELECT face_id FROM review_answers WHERE person_id = ? AND answer = 'skip'", (person_id,))}
    return person, rejected, skipped


def photo_faces_of(conn: sqlite3.Connection, face_id: int) -> list[tuple[int, int]]:
    """(face id, person id or 0) of every face of this face's photo (what an answer may have changed)."""
    return [(int(f), int(p)) for f, p in conn.execute(
        "SELECT id, coalesce(person_id, 0) FROM faces WHERE photo_id = (SELECT photo_id FROM faces WHERE id = ?)",
        (face_id,))]
