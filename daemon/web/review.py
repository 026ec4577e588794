"""The review pages of `pictod web` (issue 21): "is this the same person?" one face at a time, and "who is
this?" for one unknown face. The rules are `daemon/library/review.py`'s; this module only renders and answers.

- `GET /people/{id}/review`: the person's best faces beside one candidate, large, with its photo; forms for
  yes / no / skip / undo that work without JavaScript (each answer redirects back to the next question).
  With static/review.js the keys y, n, s, u answer at once: the next face comes from a queue prefetched by
  `GET /api/people/{id}/review` (ranked candidates as JSON), answers are posted in the background, and the
  queue is refilled before it runs dry, so a key press never waits on the server.
- `POST /people/{id}/review/answer` (face, verdict) and `POST /people/{id}/review/undo`: JSON for a script,
  a redirect with a message for a form.
- `GET /faces/{id}/who`: the three nearest people for one face, each with a "yes" (the existing accept route).
`might_also_be` gives the person page its "Might also be NAME (N)".
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from daemon.errors import PictodError
from daemon.library import reads, review
from daemon.store import Store
from daemon.web.pages import Pages, check_id, form_id

PREFETCH = 10  # candidates per API read: the script refills when fewer than a third are left
BEST_SHOWN = 6


def might_also_be(store: Store, person_id: int) -> int:
    """How many faces the review would offer for this person."""
    return review.might_also_be(store, person_id)


class ReviewPages(Pages):
    """The review routes (the shared plumbing of `pages.Pages`: store, render, guard, change)."""

    def routes(self) -> list[Route]:
        return [
            Route("/people/{person_id:int}/review", self.page),
            Route("/people/{person_id:int}/review/answer", self.answer, methods=["POST"]),
            Route("/people/{person_id:int}/review/undo", self.undo, methods=["POST"]),
            Route("/api/people/{person_id:int}/review", self.api),
            Route("/faces/{face_id:int}/who", self.who),
        ]

    def page(self, request: Request) -> Response:
        """One candidate, large, with its photo and the person's best faces."""
        def build() -> Response:
            store = self._store()
            person_id = check_id(request.path_params["person_id"], "person")
            summary = reads.person_summary(store, person_id)
            queue = review.candidates(store, person_id, limit=PREFETCH)
            best = reads.person_faces(store, person_id, limit=BEST_SHOWN, offset=0)
            who = summary.name or f"person {person_id}"
            return self._render(request, "review.html", title=f"Is this {who}?", person=summary,
                                  current=queue[0] if queue else None, best=best,
                                  left=review.might_also_be(store, person_id))
        return self._guarded(request, build)

    def api(self, request: Request) -> Response:
        """The next candidates as JSON (the script's prefetch)."""
        def build() -> Response:
            store = self._store()
            person_id = check_id(request.path_params["person_id"], "person")
            reads.person_summary(store, person_id)  # NotFoundError for an unknown person
            items = review.candidates(store, person_id, limit=PREFETCH)
            return JSONResponse({"ok": True, "candidates": [asdict(c) for c in items]})
        return self._guarded(request, build)

    def answer(self, request: Request) -> Response:
        """Record yes / no / skip for one face."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            check_id(person_id, "person")
            face_id = form_id(form, "face", "face")
            verdict = next(iter(form.get("verdict", [])), "")
            if verdict not in ("yes", "no", "skip"):
                raise PictodError("the answer must be yes, no or skip")
            review.answer(store, person_id, face_id, verdict)
            said = {"yes": "is", "no": "is not", "skip": "skipped for"}[verdict]
            return f"face {face_id} {said} person {person_id}", {"face": face_id, "answer": verdict}
        return self._change(request, act, f"/people/{person_id}/review")

    def undo(self, request: Request) -> Response:
        """Take back the last answer."""
        person_id = request.path_params["person_id"]

        def act(_form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            check_id(person_id, "person")
            done = review.undo(store, person_id)
            if done is None:
                raise PictodError("nothing to undo")
            return f"undone: face {done[0]} {done[1]}", {"face": done[0], "answer": done[1]}
        return self._change(request, act, f"/people/{person_id}/review")

    def who(self, request: Request) -> Response:
        """The three nearest people for one face, each to say yes to."""
        def build() -> Response:
            store = self._store()
            face = reads.face(store, check_id(request.path_params["face_id"], "face"))
            nearest = review.who_is_this(store, face.id)
            return self._render(request, "who.html", title="Who is this?", face=face, nearest=nearest)
        return self._guarded(request, build)

