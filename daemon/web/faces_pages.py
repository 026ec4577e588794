"""The faces pages: the unknown faces (on nobody), grouped by their top suggestion, and the face corrections:
reject, move, accept a suggestion (or confirm a face on its person), accept all of a person's suggestions,
dismiss a suggestion, make a new person. Suggestions use `[clustering]` like `pictod faces suggest`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.errors import PictodError
from daemon.library import corrections, reads, suggestions
from daemon.library.reads import FaceRow
from daemon.web.pages import MAX_ID, Pages, check_id, form_id, pages, to_int
from daemon.web.people_pages import counts, person_in_box, take_boxes, who_is

FACES_PER_PAGE = 300


class FacesPages(Pages):
    """/unknown and the face corrections."""

    def unknown(self, request: Request) -> Response:
        """Faces on nobody, grouped by their top suggestion; for a script, `faces suggest --json`'s answer."""
        def build() -> Response:
            store = self._store()
            items = suggestions.suggest_faces(store, self.s.cfg.clustering)
            page = to_int(request.query_params.get("page"), 1)
            faces, total = reads.unassigned_faces(store, limit=FACES_PER_PAGE, offset=(page - 1) * FACES_PER_PAGE)
            suggested = {i.face_id: i.suggestions for i in items}
            groups: dict[int | None, list[FaceRow]] = {}
            for face in faces:
                top = suggested.get(face.id)
                groups.setdefault(top[0].person_id if top else None, []).append(face)
            names = {p.id: p for p in reads.list_people(store) if p.id in groups}
            ordered = sorted(groups.items(), key=lambda kv: (kv[0] is None, -len(kv[1]), kv[0] or 0))
            return self._page(request, "unknown.html", lambda: items, title="Unknown faces", groups=ordered,
                              names=names, suggested=suggested, page=page, pages=pages(total, FACES_PER_PAGE),
                              total=total, choices=reads.search_people(store, "", limit=500),
                              boxes=take_boxes(request))
        return self._guarded(request, build)

    def reject(self, request: Request) -> Response:
        """Not this person: the face leaves its person for good."""
        face_id = request.path_params["face_id"]

        def act(_form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            was = corrections.reject_face(store, check_id(face_id, "face"))
            if was is None:
                raise PictodError(f"face {face_id} is on nobody already")
            return f"face {face_id} is not {who_is(store, was)}", {
                "face": face_id, "person": was, **counts(request, store, was)}
        return self._change(request, act, "/unknown")

    def move(self, request: Request) -> Response:
        """Move a face to the person named in the form (pinned there)."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            was = reads.face(store, check_id(face_id, "face")).person_id  # an unknown face: a 404
            target = person_in_box(request, store, form, "person")
            corrections.move_face(store, face_id, target)
            return f"face {face_id} moved to {who_is(store, target)}", {
                "face": face_id, "person": target, **counts(request, store, target, was)}
        return self._change(request, act, "/unknown")

    def accept(self, request: Request) -> Response:
        """Yes, this face is this person (a suggestion taken, or a face confirmed on its person)."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            target = form_id(form, "person", "person") if form.get("person") else None
            store = self._store()
            was = reads.face(store, check_id(face_id, "face")).person_id
            done = suggestions.accept(store, self.s.cfg.clustering, face_id, target)
            verb = "confirmed on" if done.confirmed else "is"
            return f"face {done.face_id} {verb} {who_is(store, done.person_id)}", {
                "face": done.face_id, "person": done.person_id, **counts(request, store, done.person_id, was)}
        return self._change(request, act, "/unknown")

    def accept_all(self, request: Request) -> Response:
        """Take every suggestion of this person among the faces listed in the form (`people accept`'s use case:
        one face per photo, the nearest)."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            wanted = {to_int(v, 0, low=0, high=MAX_ID) for v in form.get("face", [])}
            store = self._store()
            done = suggestions.accept_all(store, self.s.cfg.clustering, check_id(person_id, "person"), among=wanted)
            return done.message(who_is(store, done.person_id)), {
                "faces": done.accepted, "person": done.person_id, "passed_over": done.passed_over,
                **counts(request, store, done.person_id)}
        return self._change(request, act, "/unknown")

    def dismiss(self, request: Request) -> Response:
        """This face is not the suggested person: never suggested again."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            target = form_id(form, "person", "person")
            store = self._store()
            corrections.reject_suggestion(store, check_id(face_id, "face"), target)
            return f"face {face_id} is not {who_is(store, target)}", {
                "face": face_id, "person": target, **counts(request, store, target)}
        return self._change(request, act, "/unknown")

    def new_person(self, request: Request) -> Response:
        """Make a new person of the chosen faces."""
        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            faces = [check_id(to_int(v, 0, low=0, high=MAX_ID), "face") for v in form.get("face", [])][:1000]
            name = (form.get("name") or [""])[0].strip()[:200] or None
            store = self._store()
            owners = reads.face_owners(store, faces)
            person_id = corrections.new_person(store, faces, name=name)
            made = who_is(store, person_id) + (f" (person #{person_id})" if name else "")
            return f"{made} made of {len(faces)} face{'' if len(faces) == 1 else 's'}", {
                "person": person_id, "faces": faces, "next": f"/people/{person_id}",
                **counts(request, store, person_id, *owners.values())}
        return self._change(request, act, "/unknown")
