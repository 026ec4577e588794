"""The people pages: the grid of people, one person (faces best first, the person's photos), the name search
behind every 'move to...' box, and the person's corrections (rename, merge)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from daemon.errors import NotFoundError, PictodError
from daemon.library import corrections, plain, reads
from daemon.store import Store
from daemon.web.pages import Pages, check_id, label, pages, to_int, wants_json, who
from daemon.web.security import Session

PEOPLE_PER_PAGE = 120
FACES_PER_PAGE = 300
BOX_KEPT = 200  # characters of a refused name kept for the box


class BoxError(PictodError):
    """The name in a merge or move box names nobody (or several): a message beside the box, not a 404 page."""


def person_in_box(request: Request, store: Store, form: dict[str, list[str]], box: str) -> int:
    """The person named in a form's name box (`reads.find_person`'s rule). Refused: BoxError, and for a plain
    form post the typed text and the reason are kept in the session for the page the post returns to."""
    text = (form.get(box) or [""])[0]
    try:
        return reads.find_person(store, text)
    except PictodError as exc:  # NotFoundError among them: an unknown name is not an unknown page
        session: Session | None = request.scope.get("pictod.session")
        if session is not None and not wants_json(request):
            session.boxes[request.url.path] = {"value": text[:BOX_KEPT], "error": str(exc)}
        raise BoxError(str(exc)) from None


def who_is(store: Store, person_id: int | None) -> str:
    """A person in a toast: the name, else `person #12` (`pages.who`), also for one gone since."""
    if person_id is None:
        return "nobody"
    try:
        return who(reads.person_summary(store, person_id))
    except NotFoundError:
        return f"person #{person_id}"


def counts(request: Request, store: Store, *touched: int | None) -> dict[str, Any]:
    """For a script's correction: {"counts": the figures after it (`reads.figures`: people, named, faces on
    nobody, and each touched person's name and counts, null when gone)}, for the page to show them in place."""
    if not wants_json(request):
        return {}
    found = reads.figures(store, [p for p in touched if p is not None])
    return {"counts": {"people": found.people, "named": found.named, "unassigned_faces": found.unassigned_faces,
                       "persons": {str(k): None if v is None else {**plain(v), "who": who(v)}
                                   for k, v in found.persons.items()}}}


def take_boxes(request: Request) -> dict[str, dict[str, str]]:
    """The refused name boxes to show on this page (once)."""
    session: Session | None = request.scope.get("pictod.session")
    if session is None or not session.boxes:
        return {}
    boxes = dict(session.boxes)
    session.boxes.clear()
    return boxes


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
        still = reads.face_owners(store, list(known.values())) if known else {}
        found = {p: f for p, f in known.items() if still.get(f) == p}
        missing = [p for p in person_ids if p not in found]
        if missing:
            found.update(reads.best_faces(store, missing))
        with self._lock:
            self._by_person.update(found)
        return found


class PeoplePages(Pages):
    """/, /people, /people/ID, /api/people and the person's corrections."""

    def home(self, request: Request) -> Response:
        """/ -> the people."""
        return RedirectResponse("/people", status_code=303)

    def people(self, request: Request) -> Response:
        """The grid of people, named first then by size; filter by name; paged."""
        def build() -> Response:
            store = self._store()
            text = request.query_params.get("q", "")[:200]
            page = to_int(request.query_params.get("page"), 1)
            found = reads.people_page(store, text=text, limit=PEOPLE_PER_PAGE, offset=(page - 1) * PEOPLE_PER_PAGE)
            faces = self.s.best_faces.get(store, [p.id for p in found.people])
            return self._page(request, "people.html", lambda: found, title="People", people=found.people,
                              faces=faces, q=text, page=page, pages=pages(found.total, PEOPLE_PER_PAGE),
                              total=found.total, named=found.named, unassigned=found.unassigned_faces)
        return self._guarded(request, build)

    def person(self, request: Request) -> Response:
        """One person: faces best first, rename, merge, move and reject faces, the person's photos."""
        from daemon.web import review as review_pages

        def build() -> Response:
            store = self._store()
            person_id = check_id(request.path_params["person_id"], "person")
            if wants_json(request):  # what `pictod people show ID --json` prints
                return JSONResponse(plain(reads.person_detail(store, person_id)))
            page = to_int(request.query_params.get("page"), 1)
            summary = reads.person_summary(store, person_id)
            faces = reads.person_faces(store, person_id, limit=FACES_PER_PAGE, offset=(page - 1) * FACES_PER_PAGE)
            pinned = reads.pinned_faces(store, [f.id for f in faces])
            # The strip shows the photos of the best faces: no search over all of the person's photos.
            photo_ids = list(dict.fromkeys(f.photo_id for f in faces))[:12]
            return self._render(request, "person.html", title=summary.name or f"Person {person_id}",
                                person=summary, faces=faces, pinned=pinned, page=page,
                                pages=pages(summary.faces, FACES_PER_PAGE), photo_ids=photo_ids,
                                photo_total=summary.photos, choices=reads.search_people(store, "", limit=500),
                                boxes=take_boxes(request),
                                might_also=review_pages.might_also_be(store, person_id))
        return self._guarded(request, build)

    def api_people(self, request: Request) -> Response:
        """People matching a name as you type: [{id, name, faces, label}]."""
        def build() -> Response:
            found = reads.search_people(self._store(), request.query_params.get("q", "")[:200])
            return JSONResponse([{"id": p.id, "name": p.name, "faces": p.faces, "label": label(p)} for p in found])
        return self._guarded(request, build)

    def name(self, request: Request) -> Response:
        """Rename a person (an empty name unnames)."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            name = (form.get("name") or [""])[0].strip()[:200]
            store = self._store()
            before = reads.person_summary(store, check_id(person_id, "person"))
            done = corrections.name_person(store, person_id, name or None)
            if done.name:
                said = f"{who(before)} is now {done.name}" if before.name != done.name else f"{done.name}: unchanged"
            else:
                said = f"{who(before)} has no name now (person #{done.id})" if before.name else f"{who(done)}: no name"
            return said, {
                "name": done.name, "label": label(done), "result": done, **counts(request, store, done.id)}
        return self._change(request, act, f"/people/{person_id}")

    def merge(self, request: Request) -> Response:
        """Merge the person named in the form into this one."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            kept = reads.person_summary(store, check_id(person_id, "person"))  # an unknown page: a 404
            keep = kept.id
            other = person_in_box(request, store, form, "other")
            if other == keep:
                raise PictodError("a person cannot be merged with itself")
            gone = who_is(store, other)
            done = corrections.merge_people(store, keep, other)
            named = f" (now called {done.name})" if done.name and done.name != kept.name else ""
            return f"{gone} merged into {who(kept)}{named}", {
                "person": done.id, "result": done, **counts(request, store, keep, other)}
        return self._change(request, act, f"/people/{person_id}")
