"""The photo pages: the search (`pictod photos`'s use case, on capture dates, newest first), one photo with its
boxes, and the images: face crops and photo renditions, rendered from the original file (inside a watched
folder, unchanged since analysis) in the decode pool, never on the event loop."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from daemon.errors import NotFoundError, PictodError
from daemon.library import NoLibrary, photos, places, reads
from daemon.library.photos import PhotoFiles, PhotoFilter
from daemon.web.pages import HERE, Pages, check_id, label, pages, to_int
from daemon.web.thumbs import SIZES, Outcome, Source, check_source

PHOTOS_PER_PAGE = 96
# A video's stored format (its file's extension, upper case) -> the media type its file is served with.
_VIDEO_TYPES = {"MP4": "video/mp4", "M4V": "video/x-m4v", "MOV": "video/quicktime", "3GP": "video/3gpp",
                "WEBM": "video/webm", "MKV": "video/x-matroska", "AVI": "video/x-msvideo"}
_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")
_PLACEHOLDERS: dict[Outcome, bytes] = {
    o: (HERE / "static" / f"{o.value}.svg").read_bytes() for o in Outcome if o is not Outcome.OK}


class PhotoPages(Pages):
    """/photos, /photos/ID and the image endpoints."""

    def photos(self, request: Request) -> Response:
        """Photo search by tags, people (all of them) and a date range."""
        def build() -> Response:
            store = self._store()
            params = request.query_params
            tags = [t for t in params.getlist("tag") if t][:20]
            wanted = [w.strip() for v in params.getlist("person") for w in v.split(",") if w.strip()][:20]
            since, until = params.get("since", "").strip(), params.get("until", "").strip()
            problems = [f"not a date: {d!r} (use YYYY-MM-DD)" for d in (since, until) if d and not _DATE.fullmatch(d)]
            people: list[int] = []
            shown: list[str] = []  # what the box shows back: `Ada #12` for a bare `12`
            for text in wanted:
                try:
                    people.append(reads.find_person(store, text))
                    shown.append(label(reads.person_summary(store, people[-1])))
                except PictodError as exc:
                    problems.append(str(exc))
                    shown.append(text)
            page = to_int(params.get("page"), 1)
            hits: list[photos.PhotoHit] = []
            total = 0
            if not problems:
                flt = PhotoFilter(tags=tuple(tags), people=tuple(people), since=since or None, until=until or None,
                                  exif_dates=True, sort="date", descending=True, limit=PHOTOS_PER_PAGE,
                                  offset=(page - 1) * PHOTOS_PER_PAGE)
                try:
                    hits, total = photos.search_photos(store, flt), photos.count_photos(store, flt)
                except ValueError as exc:  # the shape of a date but none (2021-13)
                    problems.append(str(exc))
            query = [("tag", t) for t in tags] + [("person", p) for p in wanted] + \
                [(k, v) for k, v in (("since", since), ("until", until)) if v]
            counts = reads.tag_counts(store)
            return self._page(request, "photos.html",
                              lambda: {"photos": hits, "total": total, "problems": problems, "tags": counts},
                              title="Photos", tags=counts, chosen=tags, wanted=", ".join(shown), since=since,
                              until=until, problems=problems, ids=[h.id for h in hits], total=total, page=page,
                              pages=pages(total, PHOTOS_PER_PAGE), query=query,
                              choices=reads.search_people(store, "", limit=500))
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
                                files=[f for f in row.files if self.s.folders.contains(f.path)],
                                label_size=max(row.width, row.height) / 45)
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
