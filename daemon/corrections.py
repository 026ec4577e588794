"""User corrections: name a person, merge two, move a face to a person, reject a face from its person.

Each correction runs in one write transaction and is recorded in the `corrections` table, so every later
recluster honours it (`clusters.map_clusters`: named/curated people anchored, pins kept, rejections never undone).
Later issues extend this module (accepting a suggestion, a new person, names imported from metadata).
"""

from __future__ import annotations

from daemon.library import PersonSummary, summary_of
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

