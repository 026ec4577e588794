"""Everything the web app reads from or writes to the library, in one module.

The web app calls the library only through the functions here: the read side comes from `daemon/library/reads.py`
and the store's own queries (the photo search and its count, failed files: `daemon/store/queries.py`), the
corrections from `daemon/library/corrections.py`, the daemon's pid from `runtime/lock.py`. The reads only the web app
makes (a photo with its files, face rows with their quality, pages of faces, representative faces) are over
`daemon/store/web_queries.py`. Suggestions (issue 11) are used when the library has them:
`suggestions_available()` says so.

Every function here blocks: call them off the event loop.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daemon.errors import NotFoundError, PictodError
from daemon.library import corrections
from daemon.library.corrections import merge_people, move_face, name_person, reject_face
from daemon.library.reads import PersonSummary, date_bounds, list_people, personsummary_of, tag_counts
from daemon.runtime.lock import daemon_pid
from daemon.store import StatusCounts, Store, queries
from daemon.store import web_queries as wq
from daemon.store.queries import FailedFile
from daemon.store.web_queries import FaceRow, ObjectRow, PhotoRow

__all__ = [  # what the app uses: the library's own functions, re-exported, and this module's
    "BestFaces", "FaceRow", "FailedFile", "ObjectRow", "PeoplePage", "PersonSummary", "PhotoRow", "StatusCounts",
    "Store", "Suggestion", "accept_suggestion", "check_id", "daemon_pid", "dismiss_suggestion", "face",
    "failed_files", "find_photos", "list_people", "merge_people", "move_face", "name_person", "new_person",
    "people_page", "person_faces", "person_summary", "photo", "photo_faces", "photo_objects", "pinned_faces",
    "reject_face", "resolve_person", "search_people", "status_counts", "suggestions", "suggestions_available",
    "tag_counts", "unassigned_faces",
]


MAX_ID = 2**63 - 1  # SQLite's INTEGER range: a larger id in a URL is simply unknown


def check_id(value: int, what: str) -> int:
    """An id from a request, or NotFoundError when it cannot name anything in the library."""
    if not 0 < value <= MAX_ID:
        raise NotFoundError(f"no {what} with id {value}")
    return value


# ------------------------------------------------------------------------------------------- people


@dataclass(frozen=True)
class PeoplePage:
    """A page of people and the figures above the grid."""

    people: list[PersonSummary]
    total: int  # matching the filter
    named: int  # in the whole library
    unassigned_faces: int


def people_page(store: Store, *, text: str = "", limit: int, offset: int) -> PeoplePage:
    """People whose name (or id) matches `text`, named first (by name), then by size; a page and the figures."""
    people = list_people(store)
    named = sum(1 for p in people if p.name)
    wanted = text.strip().casefold()
    if wanted:
        number = wanted.lstrip("#")
        people = [p for p in people if (p.name and wanted in p.name.casefold()) or str(p.id) == number]
    people.sort(key=lambda p: (p.name is None, (p.name or "").casefold(), -p.faces, p.id))
    return PeoplePage(people=people[offset:offset + limit], total=len(people), named=named,
                      unassigned_faces=store.read(wq.unassigned_count))


def search_people(store: Store, text: str, *, limit: int = 20) -> list[PersonSummary]:
    """People for a 'move to...' box: names containing the text (those starting with it first), or an id."""
    wanted = text.strip().casefold()
    people = list_people(store)
    if not wanted:
        return sorted((p for p in people if p.name), key=lambda p: p.name.casefold() if p.name else "")[:limit]
    number = wanted.lstrip("#")
    hits = [p for p in people if (p.name and wanted in p.name.casefold()) or str(p.id) == number]
    hits.sort(key=lambda p: (str(p.id) != number, not (p.name or "").casefold().startswith(wanted), -p.faces))
    return hits[:limit]


_TRAILING_ID = re.compile(r"#(\d{1,19})\)?\s*$")


def resolve_person(store: Store, text: str) -> int:
    """A person named in a form: `12`, `#12`, `Ada #12` (what the name search offers) or an exact name."""
    clean = " ".join(text.split())
    if not clean:
        raise PictodError("type a name or pick a person from the list")
    match = re.fullmatch(r"#?(\d{1,19})", clean) or _TRAILING_ID.search(clean)
    if match:
        person_id = check_id(int(match.group(1)), "person")
        if not any(p.id == person_id for p in list_people(store)):
            raise NotFoundError(f"no person with id {person_id}")
        return person_id
    named = [p for p in list_people(store) if p.name and p.name.casefold() == clean.casefold()]
    if not named:
        raise NotFoundError(f"nobody is called {clean!r}: pick a person from the list")
    if len(named) > 1:
        raise PictodError(f"{len(named)} people are called {clean!r}: pick one from the list")
    return named[0].id


def person_summary(store: Store, person_id: int) -> PersonSummary:
    """One person's id, name and counts; NotFoundError for an unknown id."""
    try:
        return store.read(lambda c: personsummary_of(c, check_id(person_id, "person")))
    except NotFoundError:  # the library's message points at the CLI
        raise NotFoundError(f"no person with id {person_id} (see the People page)") from None


class BestFaces:
    """Each person's representative (best-quality) face, remembered between pages. Thread-safe.

    Finding a person's best face reads every face row of that person (scattered over the table: ~1-3 ms per
    person at 100 faces); a People page of 120 people paid that on every load. A remembered face is kept while
    it still belongs to its person (one rowid lookup per page checks that), so a correction elsewhere costs
    nothing; a face that joined a person later may be better than the one shown until the app restarts.
    """

    def __init__(self) -> None:
        self._by_person: dict[int, int] = {}
        self._lock = threading.Lock()

    def get(self, store: Store, person_ids: Sequence[int]) -> dict[int, int]:
        """{person id: face id} for these people (a person with no face is left out)."""
        with self._lock:
            known = {p: self._by_person[p] for p in person_ids if p in self._by_person}
        still = store.read(lambda c: wq.face_owners(c, list(known.values()))) if known else {}
        found = {p: f for p, f in known.items() if still.get(f) == p}
        missing = [p for p in person_ids if p not in found]
        if missing:
            found.update(store.read(lambda c: wq.best_faces(c, missing)))
        with self._lock:
            self._by_person.update(found)
        return found


def person_faces(store: Store, person_id: int, *, limit: int, offset: int) -> list[FaceRow]:
    """A page of a person's faces, best first."""
    return store.read(lambda c: wq.person_faces(c, person_id, limit=limit, offset=offset))


def pinned_faces(store: Store, face_ids: Sequence[int]) -> set[int]:
    """The faces among these that the user confirmed on their person."""
    return store.read(lambda c: wq.pinned_faces(c, face_ids))


def unassigned_faces(store: Store, *, limit: int, offset: int) -> tuple[list[FaceRow], int]:
    """A page of the faces on nobody, best first, and their number."""
    return store.read(lambda c: wq.unassigned_faces(c, limit=limit, offset=offset))


def new_person(store: Store, face_ids: Sequence[int], name: str | None) -> int:
    """Make a person of the chosen faces (pinned to it); return its id."""
    return corrections.new_person(store, list(face_ids), name=name)


# ------------------------------------------------------------------------------------------- photos, faces


def photo(store: Store, photo_id: int) -> PhotoRow:
    """A photo and its recorded files."""
    return store.read(lambda c: wq.photo(c, check_id(photo_id, "photo")))


def face_crop_source(store: Store, face_id: int) -> tuple[tuple[float, float, float, float], PhotoRow]:
    """A face's box and its photo (with files), in one read."""
    def read(conn: Any) -> tuple[tuple[float, float, float, float], PhotoRow]:
        photo_id, box = wq.face_box(conn, check_id(face_id, "face"))
        return box, wq.photo(conn, photo_id)
    return store.read(read)


def face(store: Store, face_id: int) -> FaceRow:
    """One face."""
    return store.read(lambda c: wq.face(c, check_id(face_id, "face")))


def photo_faces(store: Store, photo_id: int) -> list[FaceRow]:
    """A photo's faces."""
    return store.read(lambda c: wq.photo_faces(c, photo_id))


def photo_objects(store: Store, photo_id: int) -> list[ObjectRow]:
    """A photo's objects."""
    return store.read(lambda c: wq.photo_objects(c, photo_id))


def find_photos(store: Store, *, tags: Sequence[str] = (), people: Sequence[int] = (), since: str | None = None,
                until: str | None = None, limit: int, offset: int) -> tuple[list[int], int]:
    """Photo ids with every tag and person, taken within [since, until] (YYYY, YYYY-MM or YYYY-MM-DD, inclusive;
    ValueError for other text); newest first, photos without a capture time never matching a date bound and
    last; a page and the total."""
    flt = queries.PhotoFilter(tags=tuple(tags), person_groups=tuple((p,) for p in people),
                              since=date_bounds(since)[0] if since else None,
                              until=date_bounds(until)[1] if until else None, exif_dates=True, sort="date",
                              descending=True, limit=limit, offset=offset)
    return store.read(lambda c: ([r.id for r in queries.search_photos(c, flt)], queries.count_photos(c, flt)))


# ------------------------------------------------------------------------------------------- status


def status_counts(store: Store) -> StatusCounts:
    """The figures of `pictod status`."""
    return store.status_counts()


def failed_files(store: Store, *, limit: int) -> list[FailedFile]:
    """The first failed files with reasons, in path order (their number is `status_counts().files_failed`)."""
    return store.read(lambda c: queries.failed_files(c, limit=limit))


# ------------------------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Suggestion:
    """A person suggested for an unassigned face (nearest first)."""

    face_id: int
    person_id: int
    distance: float


def _optional(module: str, name: str) -> Callable[..., Any] | None:
    try:
        found = getattr(importlib.import_module(module), name, None)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise  # the module is there but broken: say so, do not hide it
        return None
    return found if callable(found) else None


# Issue 11 adds these; the names are what the web app expects (see the report to the lead).
# suggest_faces(store) -> items with face_id and suggestions (each with person_id, distance), or flat items with
# face_id, person_id, distance; dataclasses or dicts.
SUGGEST = ("daemon.library.reads", "suggest_faces")
ACCEPT = ("daemon.library.corrections", "accept_suggestion")  # (store, face_id, person_id=None)
DISMISS = ("daemon.library.corrections", "reject_suggestion")  # (store, face_id, person_id)


def suggestions_available() -> bool:
    """Whether the library can suggest people for unassigned faces."""
    return _optional(*SUGGEST) is not None


def suggestions(store: Store) -> dict[int, list[Suggestion]]:
    """Per unassigned face, its suggested people nearest first ({} when the library has no suggestions)."""
    suggest = _optional(*SUGGEST)
    if suggest is None:
        return {}
    out: dict[int, list[Suggestion]] = {}
    for item in suggest(store):
        face_id = int(_field(item, "face_id", "face"))
        ranked = _field(item, "suggestions", "candidates", default=None)
        if ranked is None:  # one row per (face, person)
            ranked = [item]
        for cand in ranked:
            out.setdefault(face_id, []).append(Suggestion(
                face_id=face_id, person_id=int(_field(cand, "person_id", "person")),
                distance=float(_field(cand, "distance", default=0.0))))
    for ranked_list in out.values():
        ranked_list.sort(key=lambda s: s.distance)
    return out


def _field(item: Any, *names: str, default: Any = ...) -> Any:
    """A suggestion's field, whether the library hands out dataclasses or dicts."""
    for name in names:
        if isinstance(item, dict) and name in item:
            return item[name]
        if hasattr(item, name):
            return getattr(item, name)
    if default is ...:
        raise PictodError(f"a suggestion without {names[0]}: {item!r}")
    return default


def accept_suggestion(store: Store, face_id: int, person_id: int) -> None:
    """Take a suggested person for a face (a pinned correction, like `move_face`)."""
    accept = _optional(*ACCEPT)
    if accept is not None:
        accept(store, face_id, person_id)
    else:
        move_face(store, face_id, person_id)


def dismiss_suggestion(store: Store, face_id: int, person_id: int) -> None:
    """This face is not this suggested person: never suggested again."""
    dismiss = _optional(*DISMISS)
    if dismiss is None:
        raise PictodError("this library cannot dismiss suggestions yet")
    dismiss(store, face_id, person_id)
