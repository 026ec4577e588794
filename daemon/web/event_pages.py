"""The event page (issue 25): one event's name, dates and photos (newest last, as they happened), and its rename
form; the use cases are `daemon/library/events.py` and the photo search (`PhotoFilter.event`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from daemon.library import events, photos
from daemon.library.photos import PhotoFilter
from daemon.web.pages import Pages, check_id, pages, to_int
from daemon.web.photo_pages import PHOTOS_PER_PAGE


class EventPages(Pages):
    """/events/ID and its rename."""

    def event(self, request: Request) -> Response:
        """One event: its title, dates, photo count, a page of its photos and the rename form."""
        def build() -> Response:
            store = self._store()
            row = events.event(store, check_id(request.path_params["event_id"], "event"))
            page = to_int(request.query_params.get("page"), 1)
            flt = PhotoFilter(event=row.id, sort="date", limit=PHOTOS_PER_PAGE,
                              offset=(page - 1) * PHOTOS_PER_PAGE)
            hits = photos.search_photos(store, flt)
            return self._render(request, "event.html", title=row.title, event=row, ids=[h.id for h in hits],
                                page=page, pages=pages(row.photos, PHOTOS_PER_PAGE))
        return self._guarded(request, build)

    def name(self, request: Request) -> Response:
        """Rename an event (an empty name gives pictod's back)."""
        event_id = request.path_params["event_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            name = (form.get("name") or [""])[0]
            done = events.rename(self._store(), check_id(event_id, "event"), name or None)
            return (f"event {done.id} is now {done.name}" if done.name else
                    f"event {done.id} has pictod's name again: {done.auto_name}"), {"result": done}
        return self._change(request, act, f"/events/{event_id}")
