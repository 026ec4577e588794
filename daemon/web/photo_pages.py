"""The photo pages: the Photos page, a timeline of the library by month (`daemon/library/timeline.py`: the
photos `pictod photos` finds, by its date rule, narrowed by facets and a date range; `/photos/month` gives the
page's script one month at a time), one photo with its boxes, and the images: face crops and photo renditions,
rendered from the original file (inside a watched folder, unchanged since analysis) in the decode pool, never on
the event loop."""

from __future__ import annotations

import asyncio
import calendar
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response

from daemon.errors import NotFoundError, PictodError
from daemon.library import NoLibrary, photos, places, plain, reads, timeline
from daemon.library.photos import PhotoFiles, PhotoFilter, date_bounds
from daemon.store import Store
from daemon.web.pages import HERE, Pages, check_id, label, to_int, wants_json
from daemon.web.thumbs import SIZES, Outcome, Source, check_source

PHOTOS_PER_PAGE = 96  # the JSON answer's page of search hits
MAX_VALUES = 20  # values of one facet in a filter
FACET_SHOWN = 8  # values of a facet listed before "all N"
FACET_MAX = 200  # values of a facet on the page at most (the people box finds the others)
FACET_TITLES = {"people": "People", "tags": "Things", "places": "Places", "events": "Events"}
# A video's stored format (its file's extension, upper case) -> the media type its file is served with.
_VIDEO_TYPES = {"MP4": "video/mp4", "M4V": "video/x-m4v", "MOV": "video/quicktime", "3GP": "video/3gpp",
                "WEBM": "video/webm", "MKV": "video/x-matroska", "AVI": "video/x-msvideo"}
_PLACEHOLDERS: dict[Outcome, bytes] = {
    o: (HERE / "static" / f"{o.value}.svg").read_bytes() for o in Outcome if o is not Outcome.OK}


@dataclass(frozen=True)
class Search:
    """The Photos page's filter as a request gave it: the filter, what the fields show back, what was wrong."""

    flt: PhotoFilter
    query: list[tuple[str, str]]  # the filter as query parameters, one value each (what every link carries)
    wanted: str  # the people box: `Ada #12, #3`
    since: str
    until: str
    problems: list[str]


def _search(store: Store, params: QueryParams) -> Search:
    """The filter of a Photos request: each facet's values (people also from the comma-separated box), the date
    range; an unknown person or a bad date is a problem shown on the page, not an error."""
    flt = PhotoFilter(sort="date", descending=True)
    query: list[tuple[str, str]] = []
    problems: list[str] = []
    wanted: list[str] = []
    for facet in timeline.FACETS:
        values: list[int | str] = []
        texts = [t.strip() for raw in params.getlist(facet.param)
                 for t in (raw.split(facet.split) if facet.split else [raw]) if t.strip()][:MAX_VALUES]
        for text in texts:
            try:
                value = facet.parse(store, text)
            except PictodError as exc:
                problems.append(str(exc))
                if facet.field == "people":
                    wanted.append(text)
                continue
            if value not in values:
                values.append(value)
                query.append((facet.param, str(value)))
                if facet.field == "people":
                    wanted.append(label(reads.person_summary(store, int(value))))
        if facet.single and len(values) > 1:  # one place, one event: the last one asked
            query = [q for q in query if q[0] != facet.param] + [(facet.param, str(values[-1]))]
        flt = timeline.narrowed(flt, facet, values)
    since, until = params.get("since", "").strip(), params.get("until", "").strip()
    for key, text in (("since", since), ("until", until)):
        if text:
            try:
                date_bounds(text)
                query.append((key, text))
            except ValueError as exc:
                problems.append(str(exc))
    dated = dict(query)
    flt = dataclasses.replace(flt, since=dated.get("since"), until=dated.get("until"))
    return Search(flt=flt, query=query, wanted=", ".join(wanted), since=since, until=until, problems=problems)


def _href(query: list[tuple[str, str]], **extra: str | int) -> str:
    """/photos with this query (and a month or an offset)."""
    pairs = query + [(k, str(v)) for k, v in extra.items()]
    return "/photos" + ("?" + urlencode(pairs) if pairs else "")


def _toggle(query: list[tuple[str, str]], param: str, value: int | str, *, single: bool = False) -> str:
    """The page with one facet value added to the filter (for a one-value facet, instead of its value), or taken
    out if it is in it (back to the newest)."""
    pair = (param, str(value))
    if pair in query:
        return _href([q for q in query if q != pair])
    return _href([*(q for q in query if not (single and q[0] == param)), pair])


def _month_name(month: str) -> str:
    return f"{calendar.month_name[int(month[5:7])]} {month[:4]}"


class PhotoPages(Pages):
    """/photos (the timeline), /photos/month, /photos/ID and the image endpoints."""

    def photos(self, request: Request) -> Response:
        """The library by month, newest first, narrowed by facets (people, tags, places, events) and a date
        range; without JavaScript a page of months with previous and next; a script's GET: the CLI's search
        (`photos --json`, a page of PHOTOS_PER_PAGE) with the months and facets."""
        def build() -> Response:
            store = self._store()
            params = request.query_params
            search = _search(store, params)
            month = params.get("month") or None
            problems = list(search.problems)
            if month is not None:
                try:
                    timeline.check_month(month)
                except ValueError as exc:
                    problems.append(str(exc))
                    month = None
            shown: timeline.Timeline | None = None
            as_json = wants_json(request)
            if not search.problems:
                # JSON lists its own page of photos (the search's hits): the timeline's page is not read.
                shown = timeline.timeline(store, search.flt, month=month, offset=to_int(params.get("offset"), 0, low=0),
                                          photos=not as_json)
            if as_json:
                return JSONResponse(plain(self._answer(store, search, problems, shown, to_int(params.get("page"), 1))))
            return self._render(request, "photos.html", **self._context(search, problems, shown))
        return self._guarded(request, build)

    def _answer(self, store: Store, search: Search, problems: list[str], shown: timeline.Timeline | None,
                page: int) -> dict[str, Any]:
        """The JSON of /photos: the CLI's search on the same filter and rule, newest first, a page of them; the
        total is the timeline's (its months' counts: the photos the filter shows, each in one month)."""
        hits: list[photos.PhotoHit] = []
        if shown is not None:
            flt = dataclasses.replace(search.flt, limit=PHOTOS_PER_PAGE, offset=(page - 1) * PHOTOS_PER_PAGE)
            hits = photos.search_photos(store, flt)
        return {"photos": hits, "total": shown.total if shown else 0, "problems": problems,
                "tags": reads.tag_counts(store),
                "months": shown.months if shown else [], "facets": shown.facets if shown else []}

    def _context(self, search: Search, problems: list[str], shown: timeline.Timeline | None) -> dict[str, Any]:
        """What photos.html shows."""
        query = search.query
        months = shown.months if shown else []
        counts = {m.month: m.count for m in months}
        years: dict[str, list[timeline.Month]] = {}
        for m in months:
            years.setdefault(m.month[:4], []).append(m)
        page = shown.page if shown else None
        sections = []
        if shown is not None and page is not None:
            for s in page.slices:
                items = shown.photos.get(s.month, [])
                sections.append({"month": s.month, "name": _month_name(s.month), "count": counts[s.month],
                                 "offset": s.offset, "items": items,
                                 "more": _href(query, month=s.month, offset=s.offset + s.limit)
                                 if s.offset + s.limit < counts[s.month] else None})
        single = {f.name: f.single for f in timeline.FACETS}
        facets = [{"name": f.name, "title": FACET_TITLES.get(f.name, f.name.capitalize()), "param": f.param,
                   "values": [{"label": v.label, "count": v.count, "chosen": v.chosen,
                               "href": _toggle(query, f.param, v.value, single=single.get(f.name, False))}
                              for v in f.values[:FACET_MAX]],
                   "more": max(0, len(f.values) - FACET_MAX)} for f in (shown.facets if shown else [])]
        people = next((f for f in (shown.facets if shown else []) if f.name == "people"), None)
        hidden = [(k, v) for k, v in query if k not in ("person", "since", "until")]
        return {
            "title": "Photos", "total": shown.total if shown else 0, "problems": problems, "wanted": search.wanted,
            "since": search.since, "until": search.until, "hidden": hidden, "facets": facets,
            "facet_shown": FACET_SHOWN, "sections": sections, "years": years, "month_name": _month_name,
            "href": lambda **extra: _href(query, **extra),
            "fragment": "/photos/month" + ("?" + urlencode(query) if query else ""),
            "current": sections[0]["month"] if sections else None,
            "previous": _href(query, month=page.previous.month, offset=page.previous.offset)
            if page and page.previous else None,
            "next": _href(query, month=page.next.month, offset=page.next.offset) if page and page.next else None,
            "page_number": page.number if page else 1, "pages": page.pages if page else 1,
            "choices": [{"id": v.value, "name": v.label} for v in (people.values if people else [])
                        if not str(v.label).startswith("#")][:500],
        }

    def month(self, request: Request) -> Response:
        """One slice of a month under the Photos page's filter: the thumbnails as an HTML fragment (the page's
        script appends it; the next offset, if the month goes on, in X-Pictod-More), or JSON for a script."""
        def build() -> Response:
            store = self._store()
            params = request.query_params
            search = _search(store, params)
            if search.problems:
                return self._error_page(request, 400, "; ".join(search.problems))
            try:
                month = timeline.check_month(params.get("month", ""))
            except ValueError as exc:
                return self._error_page(request, 400, str(exc))
            part = timeline.month_photos(store, search.flt, month, offset=to_int(params.get("offset"), 0, low=0),
                                         limit=to_int(params.get("limit"), timeline.PAGE_PHOTOS,
                                                      high=timeline.PAGE_PHOTOS * 4))
            if wants_json(request):
                return JSONResponse(plain(part))
            html = self.s.templates.get_template("_timeline_items.html").render(items=part.photos)
            headers = {"x-pictod-more": str(part.more)} if part.more is not None else {}
            return HTMLResponse(html, headers=headers)
        return self._guarded(request, build)

    def photo(self, request: Request) -> Response:
        """One photo with its object and face boxes; faces link to their people."""
        def build() -> Response:
            store = self._store()
            row = photos.photo(store, check_id(request.path_params["photo_id"], "photo"))
            outcome, _source = self._source(row)
            faces = reads.photo_faces(store, row.id)
            objects = reads.photo_objects(store, row.id)
            where = places.where(store, row.id)
            return self._render(request, "photo.html", title=f"Photo {row.id}", photo=row, faces=faces,
                                objects=objects, outcome=outcome.value, place=where.place, event=where.event,
                                files=[f for f in row.files if self.s.folders.contains(f.path)])
        return self._guarded(request, build)

    def _source(self, row: PhotoFiles) -> tuple[Outcome, Source | None]:
        """The photo's file to render from: inside a watched folder (else NotFoundError), there and unchanged."""
        inside = [f for f in row.files if self.s.folders.contains(f.path)]
        if not inside:
            raise NotFoundError(f"photo {row.id} has no file inside the watched folders")
        best = Outcome.MISSING
        for f in inside:
            if f.status != "done":  # pending: changed on disk, being analysed again
                best = Outcome.CHANGED
                continue
            outcome = check_source(Path(f.path), f.size, f.mtime_ns)
            if outcome is Outcome.OK:
                return outcome, Source(path=Path(f.path), size=f.size, mtime_ns=f.mtime_ns,
                                       content_hash=row.content_hash,
                                       duration=(row.duration or 0.0) if row.kind == "video" else None)
            if outcome is Outcome.CHANGED:
                best = outcome
        return best, None

    async def face_image(self, request: Request) -> Response:
        """A face crop by face id."""
        face_id = request.path_params["face_id"]

        def locate() -> tuple[Outcome, Source | None, tuple[float, float, float, float], int, str, bytes | None,
                              float | None]:
            # A video's face is cropped from its own frame (`time`), not from the poster.
            box, time, row = photos.face_frame(self._store(), check_id(face_id, "face"))
            outcome, source = self._source(row)
            if source is None:
                return outcome, None, box, 0, "", None, time
            name, cached = self.s.renderer.cached_face(row.content_hash, box, time)
            return outcome, source, box, max(row.width, row.height), name, cached, time

        try:
            outcome, source, box, long_side, name, cached, time = await run_in_threadpool(locate)
        except (NotFoundError, NoLibrary):
            return Response("Not found\n", status_code=404, media_type="text/plain")
        if source is None:
            return _placeholder(outcome)
        if cached is None:
            outcome, cached = await self._render_once(name, self.s.renderer.render_face, name, source, box, long_side,
                                                      time)
        return _image(outcome, cached)

    async def photo_image(self, request: Request) -> Response:
        """A photo rendition (thumb or view) by photo id."""
        kind = request.path_params["kind"]
        if kind not in SIZES:
            return Response("Not found\n", status_code=404, media_type="text/plain")

        def locate() -> tuple[Outcome, Source | None, str, bytes | None]:
            row = photos.photo(self._store(), check_id(request.path_params["photo_id"], "photo"))
            outcome, source = self._source(row)
            if source is None:
                return outcome, None, "", None
            name, cached = self.s.renderer.cached_photo(row.content_hash, kind)
            return outcome, source, name, cached

        try:
            outcome, source, name, cached = await run_in_threadpool(locate)
        except (NotFoundError, NoLibrary):
            return Response("Not found\n", status_code=404, media_type="text/plain")
        if source is None:
            return _placeholder(outcome)
        if cached is None:
            outcome, cached = await self._render_once(name, self.s.renderer.render_photo, name, source, kind)
        return _image(outcome, cached)

    async def media(self, request: Request) -> Response:
        """A video file itself, for the browser's player: by id only, only a file inside a watched folder that is
        still the one analysed (size and mtime), with HTTP range requests (206, Content-Range) so it can seek."""
        def locate() -> tuple[Outcome, Source | None, str]:
            row = photos.photo(self._store(), check_id(request.path_params["photo_id"], "photo"))
            if row.kind != "video":
                raise NotFoundError(f"photo {row.id} is no video")
            outcome, source = self._source(row)
            return outcome, source, row.format

        try:
            outcome, source, fmt = await run_in_threadpool(locate)
        except (NotFoundError, NoLibrary):
            return Response("Not found\n", status_code=404, media_type="text/plain")
        if source is None:
            why = "not there now" if outcome is Outcome.MISSING else "changed since it was analysed"
            return Response(f"The video file is {why}\n", status_code=404, media_type="text/plain")
        # FileResponse answers Range with 206 and Content-Range (416 outside the file) and sends the file in chunks
        # from a thread; the path comes from the library's row, never from the request.
        return FileResponse(source.path, media_type=_VIDEO_TYPES.get(fmt, "application/octet-stream"),
                            headers={"cache-control": "private, max-age=3600"})

    async def _render_once(self, name: str, fn: Callable[..., tuple[Outcome, bytes | None]],
                           *args: Any) -> tuple[Outcome, bytes | None]:
        """Render in the decode pool; concurrent requests for one rendition share one decode."""
        running = self.s.inflight.get(name)
        if running is not None:
            return await asyncio.shield(running)
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.s.decode_pool, fn, *args)
        self.s.inflight[name] = future
        try:
            return await asyncio.shield(future)
        finally:
            if self.s.inflight.get(name) is future:
                del self.s.inflight[name]


def _placeholder(outcome: Outcome) -> Response:
    return Response(_PLACEHOLDERS[outcome], media_type="image/svg+xml", headers={"cache-control": "no-store"})


def _image(outcome: Outcome, body: bytes | None) -> Response:
    if body is None:
        return _placeholder(outcome if outcome is not Outcome.OK else Outcome.UNREADABLE)
    # Private (faces), but stable per id: a face's crop and a photo's rendition never change.
    return Response(body, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})
