"""The SQL of the same-person review (issue 21): the review's reads (a person's faces, the faces it may be
offered, what was answered) and its answers, each recorded in `review_answers` (schema v7) so the last one can
be undone exactly. A "yes" is a pin (`faces.move_face`), a "no" a rejection (`faces.reject_suggestion`), a
"skip" only a row. Write functions run inside the writer's transaction, read functions on any connection.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.store import faces
from daemon.store.base import PEOPLE_REV, bump, now, vec

ANSWERS = ("yes", "no", "skip")


@dataclass(frozen=True)
class ReviewRows:
    """What one review question is computed from, read in one snapshot."""

    person: faces.PersonRow
    exemplars: NDArray[np.float32]  # the person's faces' embeddings
    others: faces.FaceRows  # faces it may be offered: unassigned (people = 0), or on other people too
    rejected: NDArray[np.float32]  # embeddings of faces the user said are not this person
    never: set[int]  # face ids never to offer: rejected for this person
    skipped: set[int]  # face ids skipped for this person (offered again only after the others)
    taken_photos: set[int]  # photos already holding a face of this person
    names: dict[int, str | None]


def review_rows(conn: sqlite3.Connection, person_id: int, *, include_assigned: bool, dim: int = 128) -> ReviewRows:
    """The person (NotFoundError if unknown), its faces, the candidate faces and the answers so far."""
    person = faces.person_row(conn, person_id)
    mine = faces.assigned_faces(conn, person_id, dim=dim)
    loose = faces.unassigned_faces(conn, dim=dim)
    if include_assigned:
        assigned = faces.assigned_faces(conn, dim=dim)
        keep = assigned.people != person_id
        loose = faces.FaceRows(ids=np.concatenate([loose.ids, assigned.ids[keep]]),
                               photos=np.concatenate([loose.photos, assigned.photos[keep]]),
                               people=np.concatenate([loose.people, assigned.people[keep]]),
                               vectors=np.concatenate([loose.vectors, assigned.vectors[keep]]))
    never_rows = conn.execute(
        "SELECT f.id, f.embedding FROM corrections c JOIN faces f ON f.id = c.face_id "
        "WHERE c.kind = 'reject' AND c.person_id = ?", (person_id,)).fetchall()
    skipped = {int(r[0]) for r in conn.execute(
        "SELECT face_id FROM review_answers WHERE person_id = ? AND answer = 'skip'", (person_id,))}
    return ReviewRows(
        person=person, exemplars=mine.vectors, others=loose,
        rejected=np.stack([vec(r[1]) for r in never_rows]) if never_rows else np.zeros((0, dim), np.float32),
        never={int(r[0]) for r in never_rows}, skipped=skipped,
        taken_photos={int(p) for p in mine.photos.tolist()}, names=faces.person_names(conn))


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


@dataclass(frozen=True)
class WhoRows:
    """One face and every assigned face, for `library.review.who_is_this`."""

    vector: NDArray[np.float32]
    others: NDArray[np.float32]  # every assigned face's embedding
    people: NDArray[np.int64]  # their people
    excluded: set[int]  # people the face may not be: rejected, holding its photo, its own
    names: dict[int, str | None]


def who_rows(conn: sqlite3.Connection, face_id: int) -> WhoRows:
    """The face (NotFoundError if unknown), the assigned faces and the people it may not be."""
    photo, own = faces.face_row(conn, face_id)
    row = conn.execute("SELECT embedding FROM faces WHERE id = ?", (face_id,)).fetchone()
    assigned = faces.assigned_faces(conn)
    excluded = {int(p) for (p,) in conn.execute(
        "SELECT person_id FROM corrections WHERE kind = 'reject' AND face_id = ? AND person_id IS NOT NULL "
        "UNION SELECT person_id FROM faces WHERE photo_id = ? AND person_id IS NOT NULL", (face_id, photo))}
    if own is not None:
        excluded.add(own)
    return WhoRows(vector=vec(row[0]), others=assigned.vectors, people=assigned.people, excluded=excluded,
                   names=faces.person_names(conn))
