"""User corrections: name a person, merge two, move a face to a person, reject a face from its person; accept or
reject a suggestion, a new person from chosen faces.

Each correction is one named store write (`Store.name_person`, ...: one transaction) recorded in the
`corrections` table, so every later recluster honours it (`clusters.map_clusters`: named/curated people
anchored, pins kept, rejections never undone). The store marks the photos whose sidecars change dirty where a
face changes name, whichever process makes the change (daemon, CLI, web app): the daemon's sidecar writer
(`daemon/runtime/sidecar_sync.py`) flushes them in batches. Names imported from XMP are not user corrections:
`daemon/people/xmp_import.py`.

Suggestions: an accepted suggestion is a pin (kind `assign`), a rejected one a rejection (kind `reject`)
of that face and person, whether the face was on the person or not; a new person is curated and its faces pinned.
"""

from __future__ import annotations

from collections.abc import Sequence

from daemon.errors import UsageError
from daemon.library.reads import PersonSummary, summary_of
from daemon.store import Store, faces


def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary:
    """Name (or with None, unname) a person; a named person is kept whole by every recluster."""
    clean = " ".join(name.split()) if name is not None else None
    return summary_of(store.name_person(person_id, clean or None))


def merge_people(store: Store, keep: int, other: int) -> PersonSummary:
    """Move every face of `other` to `keep` and delete `other`; recorded so reclusters keep them together."""
    return summary_of(store.merge_people(keep, other))


def move_face(store: Store, face_id: int, person_id: int) -> None:
    """Put a face on a person and pin it there (a face of the same photo already there is unassigned)."""
    store.move_face(face_id, person_id)


def reject_face(store: Store, face_id: int) -> int | None:
    """"Not this person": take the face off its person for good; return that person (None if it had none)."""
    return store.reject_face(face_id)


# ----------------------------------------------------------------------------------------------- suggestions


def accept_suggestion(store: Store, face_id: int, person_id: int) -> int:
    """Put a face on a person as a pin (the person chosen by `daemon/library/suggestions.py`); return the person.

    NotFoundError for an unknown face or person."""
    store.move_face(face_id, person_id)
    return person_id


def accept_person_suggestions(store: Store, person_id: int, chosen: Sequence[int]) -> list[int]:
    """Put the chosen faces (one per photo: `suggestions.one_face_per_photo`) on `person_id` as pins, in one write;
    return the faces taken (those still unassigned when the write runs)."""
    store.read(lambda conn: faces.person_row(conn, person_id))
    return store.accept_faces(person_id, list(chosen)) if chosen else []


def reject_suggestion(store: Store, face_id: int, person_id: int) -> None:
    """"This face is not this person": never suggested again, and no recluster puts it there."""
    store.reject_suggestion(face_id, person_id)


def new_person(store: Store, face_ids: list[int], *, name: str | None = None) -> int:
    """A person made from chosen faces (each pinned to it; moved off any person it was on), named if a name is
    given; return its id. UsageError for no face or two faces of one photo, NotFoundError for an unknown face."""
    unique = list(dict.fromkeys(int(f) for f in face_ids))
    if not unique:
        raise UsageError("a new person needs at least one face")
    clean = " ".join(name.split()) if name is not None else None
    try:
        return store.new_person(unique, clean or None)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
