"""User corrections: name a person, merge two, move a face to a person, reject a face from its person, accept or
reject a suggestion, make a new person from chosen faces.

Each correction runs in one write transaction and is recorded in the `corrections` table, so every later
recluster honours it (`clusters.map_clusters`: named/curated people anchored, pins kept, rejections never undone).
An accepted suggestion is a pin (kind `assign`), a rejected one a rejection (kind `reject`) of that face and
person, whether the face was on the person or not; a new person is curated and its faces pinned.
"""

from __future__ import annotations

import sqlite3

from daemon.errors import UsageError
from daemon.library import PersonSummary, suggest_faces, summary_of
from daemon.store import Store, faces


def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary:
    """Name (or with None, unname) a person; a named person is kept whole by every recluster."""
    clean = " ".join(name.split()) if name is not None else None
    return summary_of(store.write(lambda conn: faces.name_person(conn, person_id, clean or None)))


def merge_people(store: Store, keep: int, other: int) -> PersonSummary:
    """Move every face of `other` to `keep` and delete `other`; recorded so reclusters keep them together."""
    return summary_of(store.write(lambda conn: faces.merge_people(conn, keep, other)))


def move_face(store: Store, face_id: int, person_id: int) -> None:
    """Put a face on a person and pin it there (a face of the same photo already there is unassigned)."""
    store.write(lambda conn: faces.move_face(conn, face_id, person_id))


def reject_face(store: Store, face_id: int) -> int | None:
    """"Not this person": take the face off its person for good; return that person (None if it had none)."""
    return store.write(lambda conn: faces.reject_face(conn, face_id))



def accept_suggestion(store: Store, face_id: int, person_id: int | None = None, *,
                      eps: float | None = None) -> int:
    """Put an unassigned face on its top suggestion (or on `person_id`) as a pin; return the person.

    NotFoundError for an unknown face or person; UsageError if the face has no suggestion (and no person is
    given) or is already on a person and none is given."""
    _photo, current = store.read(lambda conn: faces.face_row(conn, face_id))
    if person_id is None:
        if current is not None:
            raise UsageError(f"face {face_id} is already on person {current}: give a person to move it")
        items = suggest_faces(store, face_ids=[face_id], eps=eps)
        if not items:
            raise UsageError(f"no suggestion for face {face_id}: give a person, or `pictod people new {face_id}`")
        person_id = items[0].suggestions[0].person_id
    chosen = person_id
    store.write(lambda conn: faces.move_face(conn, face_id, chosen))
    return chosen


def accept_person_suggestions(store: Store, person_id: int, *, max_distance: float | None = None) -> list[int]:
    """Accept every suggestion whose top person is `person_id` within `max_distance` (default
    `clustering.suggest_eps`), one face per photo (the nearest); return the faces accepted, ascending."""
    store.read(lambda conn: faces.person_row(conn, person_id))
    items = suggest_faces(store, eps=max_distance)
    best: dict[int, tuple[float, int]] = {}
    for item in items:
        top = item.suggestions[0]
        if top.person_id != person_id:
            continue
        if item.photo_id not in best or (top.distance, item.face_id) < best[item.photo_id]:
            best[item.photo_id] = (top.distance, item.face_id)
    chosen = sorted(face for _d, face in best.values())

    def write(conn: sqlite3.Connection) -> list[int]:
        faces.person_row(conn, person_id)
        done = []
        for face_id in chosen:
            if faces.face_row(conn, face_id)[1] is None:  # still unassigned when the write runs
                faces.move_face(conn, face_id, person_id)
                done.append(face_id)
        return done

    return store.write(write) if chosen else []


def reject_suggestion(store: Store, face_id: int, person_id: int) -> None:
    """"This face is not this person": never suggested again, and no recluster puts it there."""
    store.write(lambda conn: faces.reject_suggestion(conn, face_id, person_id))


def new_person(store: Store, face_ids: list[int], *, name: str | None = None) -> int:
    """A person made from chosen faces (each pinned to it; moved off any person it was on), named if a name is
    given; return its id. UsageError for no face or two faces of one photo, NotFoundError for an unknown face."""
    unique = list(dict.fromkeys(int(f) for f in face_ids))
    if not unique:
        raise UsageError("a new person needs at least one face")
    clean = " ".join(name.split()) if name is not None else None

    def write(conn: sqlite3.Connection) -> int:
        try:
            return faces.new_curated_person(conn, unique, clean or None)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    return store.write(write)
