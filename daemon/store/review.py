"""The SQL of the same-person review (issue 21): one read (`snapshot`: what changed in the faces since the
caller's copy, and the answers about one person or one face) and two writes (`answer`, `undo`), each recorded
in `review_answers` (schema v8) so the last answer can be undone exactly. A "yes" is a pin
(`edits.move_face`), a "no" a rejection (`edits.reject_suggestion`), a "skip" only a row; the sidecar rule
runs where the face changes person (`faces.assign_faces`). Writes run inside the writer's transaction
(`Store.write`), the read on any connection (`Store.read`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.store import edits, faces
from daemon.store.base import FACES_REMOVED_REV, PEOPLE_REV, bump, get_int, now

ANSWERS = ("yes", "no", "skip")
Stamp = tuple[int, int, int]  # people rev, faces removed rev, highest face id
Changed = tuple[int, int, list[tuple[int, int]]]  # people rev before and after, (face, person or 0) of its photo


@dataclass(frozen=True)
class Snapshot:
    """What a copy of the faces made at `known` needs to match the store now, and the answers asked for."""

    stamp: Stamp
    full: faces.FaceRows | None  # every face again (faces were removed, or no copy yet)
    added: faces.FaceRows | None  # only the faces after the copy's last id
    people: NDArray[np.int64] | None  # (face id, person or 0) of every face: people changed since the copy
    rejected: list[int]  # faces rejected for the person asked about
    skipped: set[int]  # faces skipped for it
    excluded: set[int]  # people the face asked about may not be
    names: dict[int, str | None]


def snapshot(conn: sqlite3.Connection, known: Stamp, last_id: int, *, person_id: int | None = None,
             face_id: int | None = None, names: bool = False) -> Snapshot:
    """One read for the review: the change since a copy at `known` (whose highest face id is `last_id`), the
    person's rejected and skipped faces, or the people a face may not be (NotFoundError for an unknown person
    or face), and the people's names if asked."""
    rejected: list[int] = []
    skipped: set[int] = set()
    excluded: set[int] = set()
    if person_id is not None:
        faces.person_row(conn, person_id)
        rejected = [int(r[0]) for r in conn.execute(
            "SELECT face_id FROM corrections WHERE kind = 'reject' AND person_id = ? AND face_id IS NOT NULL",
            (person_id,))]
        skipped = {int(r[0]) for r in conn.execute(
            "SELECT face_id FROM review_answers WHERE person_id = ? AND answer = 'skip'", (person_id,))}
    if face_id is not None:
        excluded = people_excluded(conn, face_id)
    now_stamp = stamp(conn)
    full = added = people = None
    if now_stamp[1] != known[1] or now_stamp[2] < last_id:
        full = faces.faces_after(conn, 0)
    else:
        if now_stamp[2] > last_id:
            added = faces.faces_after(conn, last_id)
        if now_stamp[0] != known[0]:
            people = faces.face_people(conn)
    return Snapshot(stamp=now_stamp, full=full, added=added, people=people, rejected=rejected, skipped=skipped,
                    excluded=excluded, names=faces.person_names(conn) if names else {})


def answer(conn: sqlite3.Connection, person_id: int, face_id: int, verdict: str) -> Changed:
    """Writer task: apply one answer and record it; what changed (`Changed`)."""
    rev0 = get_int(conn, PEOPLE_REV)
    record_answer(conn, person_id, face_id, verdict)
    return rev0, get_int(conn, PEOPLE_REV), photo_faces_of(conn, face_id)


def undo(conn: sqlite3.Connection, person_id: int) -> tuple[tuple[int, str] | None, Changed]:
    """Writer task: undo the person's last answer; (face id, answer) undone or None, and what changed."""
    rev0 = get_int(conn, PEOPLE_REV)
    done = undo_last(conn, person_id)
    return done, (rev0, get_int(conn, PEOPLE_REV), photo_faces_of(conn, done[0]) if done else [])


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
        edits.move_face(conn, face_id, person_id)
    elif answer == "no":
        added_reject = conn.execute("SELECT 1 FROM corrections WHERE kind = 'reject' AND face_id = ? AND "
                                    "person_id = ?", (face_id, person_id)).fetchone() is None
        edits.reject_suggestion(conn, face_id, person_id)
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
            edits.move_face(conn, face_id, before)
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


def people_excluded(conn: sqlite3.Connection, face_id: int) -> set[int]:
    """The people a face may not be (NotFoundError if unknown): rejected, holding its photo, its own."""
    photo, own = faces.face_row(conn, face_id)
    excluded = {int(p) for (p,) in conn.execute(
        "SELECT person_id FROM corrections WHERE kind = 'reject' AND face_id = ? AND person_id IS NOT NULL "
        "UNION SELECT person_id FROM faces WHERE photo_id = ? AND person_id IS NOT NULL", (face_id, photo))}
    return excluded | ({own} if own is not None else set())


def stamp(conn: sqlite3.Connection) -> Stamp:
    """(people rev, faces removed rev, highest face id): what a cache of the faces is valid for (face ids only
    grow, every removal bumps the removed rev). Three index lookups, no scan."""
    top = conn.execute("SELECT coalesce(max(id), 0) FROM faces").fetchone()[0]
    return get_int(conn, PEOPLE_REV), get_int(conn, FACES_REMOVED_REV), int(top)


def photo_faces_of(conn: sqlite3.Connection, face_id: int) -> list[tuple[int, int]]:
    """(face id, person id or 0) of every face of this face's photo (what an answer may have changed)."""
    return [(int(f), int(p)) for f, p in conn.execute(
        "SELECT id, coalesce(person_id, 0) FROM faces WHERE photo_id = (SELECT photo_id FROM faces WHERE id = ?)",
        (face_id,))]
