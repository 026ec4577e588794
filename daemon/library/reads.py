"""The read side of the library, for both front ends: people (a list, a page, a search, one person and their
faces), faces (one, a photo's, a person's page, the unassigned page, pins, representative faces), tags, the
status figures and the failed files.

Everything here only reads (a read-only `Store` will do). The photo search is `daemon/library/photos.py`,
suggestions `suggestions.py`, the contact sheet `sheet.py`, corrections `corrections.py`.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field

from daemon.errors import NotFoundError, PictodError
from daemon.store import StatusCounts, Store, faces, queries
from daemon.store import web_queries as wq
from daemon.store.queries import FailedFile
from daemon.store.web_queries import FaceRow, ObjectRow

__all__ = [
    "FaceInfo", "FaceRow", "FailedFile", "Figures", "ObjectRow", "PeoplePage", "PersonDetail", "PersonSummary",
    "StatusCounts", "best_faces", "face", "face_owners", "failed_files", "figures", "find_person", "list_people",
    "people_page", "person_detail", "person_faces", "person_summary", "photo_faces", "photo_objects", "pinned_faces",
    "search_people", "status_counts", "summary_of", "tag_counts", "unassigned_faces",
]


@dataclass(frozen=True)
class PersonSummary:
    """One line of `pictod people`."""

    id: int
    name: str | None
    faces: int
    photos: int


@dataclass(frozen=True)
class FaceInfo:
    """One face of a person, with a path to see it."""

    id: int
    photo_id: int
    path: str | None  # one file showing the photo (None if none is known)
    box: tuple[float, float, float, float]
    score: float
    pinned: bool


@dataclass(frozen=True)
class PersonDetail:
    """`pictod people show ID`."""

    id: int
    name: str | None
    faces: int
    photos: int
    face_list: list[FaceInfo] = field(default_factory=list)


def summary_of(row: faces.PersonRow) -> PersonSummary:
    """A person row from the store as a PersonSummary."""
    return PersonSummary(id=row[0], name=row[1], faces=row[2], photos=row[3])


# ----------------------------------------------------------------------------------------------- people


def list_people(store: Store) -> list[PersonSummary]:
    """Every person: id, name, faces, photos (most faces first)."""
    return [summary_of(r) for r in store.read(faces.people_rows)]


def person_summary(store: Store, person_id: int) -> PersonSummary:
    """One person's id, name and counts; NotFoundError for an unknown id."""
    return summary_of(store.read(lambda conn: faces.person_row(conn, person_id)))


def person_detail(store: Store, person_id: int) -> PersonDetail:
    """One person with each face, its photo path and box."""
    def read(conn: sqlite3.Connection) -> PersonDetail:
        person = summary_of(faces.person_row(conn, person_id))
        face_list = [FaceInfo(id=fid, photo_id=photo_id, path=path, box=box, score=score, pinned=pinned)
                     for fid, photo_id, path, box, score, pinned in faces.person_faces(conn, person_id)]
        return PersonDetail(id=person.id, name=person.name, faces=person.faces, photos=person.photos,
                            face_list=face_list)
    return store.read(read)


@dataclass(frozen=True)
class PeoplePage:
    """A page of people and the figures above the grid."""

    people: list[PersonSummary]
    total: int  # matching the filter
    named: int  # in the whole library
    unassigned_faces: int


def _matches(person: PersonSummary, wanted: str) -> bool:
    """`wanted` (casefolded) is in the person's name, or is its id (`12` or `#12`)."""
    return bool(person.name and wanted in person.name.casefold()) or str(person.id) == wanted.lstrip("#")


def people_page(store: Store, *, text: str = "", limit: int, offset: int) -> PeoplePage:
    """People whose name (or id) matches `text`, named first (by name), then by size; a page and the figures."""
    def read(conn: sqlite3.Connection) -> tuple[list[PersonSummary], Figures]:
        everyone = [summary_of(r) for r in faces.people_rows(conn)]
        return everyone, _figures(conn, everyone, ())
    people, counted = store.read(read)
    wanted = text.strip().casefold()
    if wanted:
        people = [p for p in people if _matches(p, wanted)]
    people.sort(key=lambda p: (p.name is None, (p.name or "").casefold(), -p.faces, p.id))
    return PeoplePage(people=people[offset:offset + limit], total=len(people), named=counted.named,
                      unassigned_faces=counted.unassigned_faces)


@dataclass(frozen=True)
class Figures:
    """The counts the people and faces pages show above their lists (the People page's, from the same read), and
    the people a correction touched, as `person_summary` reads them (None: gone, e.g. merged away)."""

    people: int
    named: int
    unassigned_faces: int
    persons: dict[int, PersonSummary | None] = field(default_factory=dict)


def figures(store: Store, touched: Sequence[int] = ()) -> Figures:
    """The counts after a correction, for a page changed in place to show them."""
    return store.read(lambda conn: _figures(conn, [summary_of(r) for r in faces.people_rows(conn)], touched))


def _figures(conn: sqlite3.Connection, everyone: Sequence[PersonSummary], touched: Sequence[int]) -> Figures:
    persons: dict[int, PersonSummary | None] = {}
    for person_id in dict.fromkeys(touched):
        try:
            persons[person_id] = summary_of(faces.person_row(conn, person_id))
        except NotFoundError:
            persons[person_id] = None
    return Figures(people=len(everyone), named=sum(1 for p in everyone if p.name),
                   unassigned_faces=wq.unassigned_count(conn), persons=persons)


def search_people(store: Store, text: str, *, limit: int = 20) -> list[PersonSummary]:
    """People for a 'move to...' box: names containing the text (those starting with it first), or an id."""
    wanted = text.strip().casefold()
    people = list_people(store)
    if not wanted:
        return sorted((p for p in people if p.name), key=lambda p: p.name.casefold() if p.name else "")[:limit]
    number = wanted.lstrip("#")
    hits = [p for p in people if _matches(p, wanted)]
    hits.sort(key=lambda p: (str(p.id) != number, not (p.name or "").casefold().startswith(wanted), -p.faces))
    return hits[:limit]


_TRAILING_ID = re.compile(r"#(\d{1,19})\)?\s*$")


def find_person(store: Store, text: str) -> int:
    """A person named in a form: `12`, `#12`, `Ada #12` (what the name search offers) or an exact name."""
    clean = " ".join(text.split())
    if not clean:
        raise PictodError("type a name or pick a person from the list")
    match = re.fullmatch(r"#?(\d{1,19})", clean) or _TRAILING_ID.search(clean)
    if match:
        person_id = int(match.group(1))
        if not any(p.id == person_id for p in list_people(store)):
            raise NotFoundError(f"no person with id {person_id}")
        return person_id
    named = [p for p in list_people(store) if p.name and p.name.casefold() == clean.casefold()]
    if not named:
        raise NotFoundError(f"nobody is called {clean!r}: pick a person from the list")
    if len(named) > 1:
        raise PictodError(f"{len(named)} people are called {clean!r}: pick one from the list")
    return named[0].id


# ----------------------------------------------------------------------------------------------- faces


def face(store: Store, face_id: int) -> FaceRow:
    """One face with its person and quality; NotFoundError for an unknown id."""
    return store.read(lambda c: wq.face(c, face_id))


def photo_faces(store: Store, photo_id: int) -> list[FaceRow]:
    """A photo's faces, left to right."""
    return store.read(lambda c: wq.photo_faces(c, photo_id))


def photo_objects(store: Store, photo_id: int) -> list[ObjectRow]:
    """A photo's objects, best score first."""
    return store.read(lambda c: wq.photo_objects(c, photo_id))


def person_faces(store: Store, person_id: int, *, limit: int, offset: int) -> list[FaceRow]:
    """A page of a person's faces, best first."""
    return store.read(lambda c: wq.person_faces(c, person_id, limit=limit, offset=offset))


def unassigned_faces(store: Store, *, limit: int, offset: int) -> tuple[list[FaceRow], int]:
    """A page of the faces on nobody, best first, and their number."""
    return store.read(lambda c: wq.unassigned_faces(c, limit=limit, offset=offset))


def pinned_faces(store: Store, face_ids: Sequence[int]) -> set[int]:
    """The faces among these that the user confirmed on their person."""
    return store.read(lambda c: wq.pinned_faces(c, face_ids))


def best_faces(store: Store, person_ids: Sequence[int]) -> dict[int, int]:
    """{person id: its best-quality face id} (its representative face; a person with no face is left out)."""
    return store.read(lambda c: wq.best_faces(c, person_ids))


def face_owners(store: Store, face_ids: Sequence[int]) -> dict[int, int | None]:
    """{face id: its person id} for the faces among these that still exist."""
    return store.read(lambda c: wq.face_owners(c, list(face_ids)))


# ----------------------------------------------------------------------------------------------- tags, status


def tag_counts(store: Store) -> dict[str, int]:
    """Object tags with the number of photos showing each, most common first."""
    return store.read(queries.tag_counts)


def status_counts(store: Store) -> StatusCounts:
    """The figures of `pictod status` (the daemon's pid comes from `daemon/runtime/lock.py`)."""
    return store.status_counts()


def failed_files(store: Store, *, limit: int | None = None) -> list[FailedFile]:
    """Failed files with reasons, in path order (all, or the first `limit`)."""
    return store.read(lambda c: queries.failed_files(c, limit=limit))
