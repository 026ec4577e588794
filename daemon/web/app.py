"""The ASGI app of `pictod web`: routes, views and the image endpoints, behind the guard of `security.py`.

Pages are rendered on the server with Jinja2 (templates/), styled and enhanced by the two files in static/;
every page works without JavaScript. Library reads and corrections go through `data.py` and run in worker
threads (they block on SQLite); decoding for thumbnails runs in its own small pool, never on the event loop.
A change is a POST: a plain form post is answered with a redirect back (and a one-line message), a script's
post (Accept: application/json) with JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import jinja2
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from daemon import logs
from daemon.config import Config
from daemon.errors import NotFoundError, PictodError, StoreError
from daemon.web import data
from daemon.web.security import Guard, Served, Session
from daemon.web.thumbs import SIZES, DiskCache, Outcome, Renderer, Source, check_source

log = structlog.get_logger()
T = TypeVar("T")

HERE = Path(__file__).resolve().parent
PEOPLE_PER_PAGE = 120
FACES_PER_PAGE = 300
PHOTOS_PER_PAGE = 96
FAILED_SHOWN = 500
DECODE_WORKERS = 2

REASONS = {  # the reason codes the daemon records, for a person
    "empty": "the file is empty",
    "truncated": "the file ends early (cut off while copying?)",
    "corrupt": "the image data is damaged",
    "not_an_image": "not an image",
    "unsupported_format": "an image format pictod does not read",
    "too_many_pixels": "more pixels than analysis.max_pixels allows",
    "file_too_large": "larger than analysis.max_file_bytes allows",
    "unreadable": "the file could not be read (permissions?)",
    "internal_error": "pictod failed on it (see the daemon's log)",
}


class NoLibrary(PictodError):
    """No database yet at the configured path."""


class Library:
    """The store, opened on first use (the web app may start before the daemon made the library)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._store: data.Store | None = None
        self._lock = threading.Lock()

    def store(self) -> data.Store:
        """The open store; NoLibrary while the database does not exist."""
        with self._lock:
            if self._store is None:
                if not self.db.exists():
                    raise NoLibrary(f"no library at {self.db} yet: start the daemon or run `pictod scan`")
                self._store = data.Store.open(self.db)
            return self._store

    def close(self) -> None:
        """Close the store if it was opened."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


class Folders:
    """The watched folders: a file is served only when it lies inside one of them."""

    def __init__(self, cfg: Config) -> None:
        self.follow_symlinks = cfg.library.follow_symlinks
        self.folders = [(Path(os.path.abspath(f.path)), Path(os.path.realpath(f.path)), f.recursive)
                        for f in cfg.library.folders]

    def contains(self, path: str) -> bool:
        """Whether `path` (as the library recorded it) is inside a watched folder, symlinks resolved."""
        if not os.path.isabs(path) or os.path.normpath(path) != path:
            return False
        candidate = Path(path)
        real = Path(os.path.realpath(path))
        for folder, folder_real, recursive in self.folders:
            if _under(candidate, folder, recursive) and (
                    self.follow_symlinks or _under(real, folder_real, recursive)):
                return True
        return False


def _under(path: Path, folder: Path, recursive: bool) -> bool:
    if recursive:
        return path != folder and path.is_relative_to(folder)
    return path.parent == folder


@dataclass
class State:
    """What the views share."""

    cfg: Config
    library: Library
    folders: Folders
    renderer: Renderer
    decode_pool: ThreadPoolExecutor
    templates: jinja2.Environment
    inflight: dict[str, asyncio.Future[tuple[Outcome, bytes | None]]]
    best_faces: data.BestFaces


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["path"] = logs.escape  # control characters and undecodable bytes made visible, never raw
    env.filters["pct"] = lambda v, total: f"{100.0 * v / total:.3f}" if total else "0"
    return env


def create_app(cfg: Config, *, token: str, served: Served, cookie: str = "pictod_session",
               cache_dir: Path | None = None) -> Guard:
    """The app, guarded; `token` is the one printed in the address, `served` the address it answers to."""
    cache = DiskCache((cache_dir or default_cache_dir()) / "thumbs", cfg.web.thumbnail_cache_mb * 1024 * 1024)
    state = State(cfg=cfg, library=Library(cfg.database_path), folders=Folders(cfg),
                  renderer=Renderer(cache, max_pixels=cfg.analysis.max_pixels,
                                    max_file_bytes=cfg.analysis.max_file_bytes),
                  decode_pool=ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="pictod-web-decode"),
                  templates=_templates(), inflight={}, best_faces=data.BestFaces())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.decode_pool.shutdown(wait=True, cancel_futures=True)
            state.library.close()

    views = Views(state)
    from daemon.web.review import ReviewViews  # the review pages (issue 21)

    routes = [
        *ReviewViews(views).routes(),
        Route("/", views.home),
        Route("/people", views.people),
        Route("/people/{person_id:int}", views.person),
        Route("/people/{person_id:int}/name", views.name, methods=["POST"]),
        Route("/people/{person_id:int}/merge", views.merge, methods=["POST"]),
        Route("/people/{person_id:int}/accept-all", views.accept_all, methods=["POST"]),
        Route("/faces/{face_id:int}/reject", views.reject, methods=["POST"]),
        Route("/faces/{face_id:int}/move", views.move, methods=["POST"]),
        Route("/faces/{face_id:int}/accept", views.accept, methods=["POST"]),
        Route("/faces/{face_id:int}/dismiss", views.dismiss, methods=["POST"]),
        Route("/faces/new-person", views.new_person, methods=["POST"]),
        Route("/unknown", views.unknown),
        Route("/photos", views.photos),
        Route("/photos/{photo_id:int}", views.photo),
        Route("/status", views.status),
        Route("/api/status", views.api_status),
        Route("/api/people", views.api_people),
        Route("/img/face/{face_id:int}.jpg", views.face_image),
        Route("/img/photo/{photo_id:int}/{kind:str}.jpg", views.photo_image),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: views.not_found, 405: views.not_allowed})
    guard = Guard(app, token=token, served=served, cookie=cookie)
    guard.state = state  # type: ignore[attr-defined]  # for tests and the benchmark
    return guard


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/pictod, else ~/.cache/pictod."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pictod"


def _int(value: str | None, default: int, *, low: int = 1, high: int = 1_000_000) -> int:
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, low), high)


_DATE = re.compile(r"\d{4}(-\d{2}(-\d{2})?)?")


def _safe_next(value: str | None, default: str) -> str:
    """A same-app path to go back to after a form post (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 2000:
        return value
    return default


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


class Views:
    """The route handlers; sync ones run in Starlette's thread pool, so they may block on the store."""

    def __init__(self, state: State) -> None:
        self.s = state

    # ------------------------------------------------------------------------------------------ plumbing

    def _store(self) -> data.Store:
        return self.s.library.store()

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = request.scope.get("pictod.session")
        flash = list(session.flash) if session is not None else []
        if session is not None:
            session.flash.clear()
        pid = data.daemon_pid(self.s.cfg)
        html = self.s.templates.get_template(name).render(
            request_path=request.url.path, here=_here(request), csrf=session.csrf if session else "",
            flash=flash, daemon_pid=pid, **context)
        return HTMLResponse(html, status_code=status)

    def _error_page(self, request: Request, status: int, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"ok": False, "error": message}, status_code=status)
        try:
            return self._render(request, "error.html", status=status, message=message, title=_TITLES[status])
        except (StoreError, OSError):
            return Response(message, status_code=status, media_type="text/plain")

    def _guarded(self, request: Request, build: Callable[[], Response]) -> Response:
        try:
            return build()
        except NoLibrary as exc:
            return self._error_page(request, 503, str(exc))
        except NotFoundError as exc:
            return self._error_page(request, 404, str(exc))
        except StoreError as exc:
            log.warning("web_store_error", error=str(exc))
            return self._error_page(request, 503, str(exc))

    def _change(self, request: Request, action: Callable[[dict[str, list[str]]], tuple[str, dict[str, Any]]],
                default_next: str) -> Response:
        """Run a correction from a form; redirect back with its message, or JSON for a script."""
        form: dict[str, list[str]] = request.scope.get("pictod.form", {})
        back = _safe_next(next(iter(form.get("next", [])), None), default_next)
        try:
            message, extra = action(form)
        except NoLibrary as exc:
            return self._error_page(request, 503, str(exc))
        except NotFoundError as exc:
            return self._refused(request, 404, str(exc), back)
        except StoreError as exc:
            log.warning("web_store_error", error=str(exc))
            return self._refused(request, 503, str(exc), back)
        except PictodError as exc:
            return self._refused(request, 400, str(exc), back)
        log.info("web_correction", path=request.url.path, message=message)
        if _wants_json(request):
            return JSONResponse({"ok": True, "message": message, **extra})
        session: Session = request.scope["pictod.session"]
        session.flash.append(message)
        return RedirectResponse(extra.get("next", back), status_code=303)

    def _refused(self, request: Request, status: int, message: str, back: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"ok": False, "error": message}, status_code=status)
        if status == 404:
            return self._error_page(request, 404, message)
        session: Session = request.scope["pictod.session"]
        session.flash.append(message)
        return RedirectResponse(back, status_code=303)

    async def not_found(self, request: Request, _exc: Exception) -> Response:
        """Unknown paths (and ids that are not numbers)."""
        if "pictod.session" not in request.scope:
            return Response("Not found\n", status_code=404, media_type="text/plain")
        return await run_in_threadpool(self._error_page, request, 404, "There is nothing at this address.")

    async def not_allowed(self, request: Request, _exc: Exception) -> Response:
        """A GET to an action or a POST to a page."""
        return Response("Method not allowed\n", status_code=405, media_type="text/plain")

    # ------------------------------------------------------------------------------------------ pages

    def home(self, request: Request) -> Response:
        """/ -> the people."""
        return RedirectResponse("/people", status_code=303)

    def people(self, request: Request) -> Response:
        """The grid of people, named first then by size; filter by name; paged."""
        def build() -> Response:
            store = self._store()
            text = request.query_params.get("q", "")[:200]
            page = _int(request.query_params.get("page"), 1)
            found = data.people_page(store, text=text, limit=PEOPLE_PER_PAGE, offset=(page - 1) * PEOPLE_PER_PAGE)
            faces = self.s.best_faces.get(store, [p.id for p in found.people])
            return self._render(request, "people.html", title="People", people=found.people, faces=faces, q=text,
                                page=page, pages=_pages(found.total, PEOPLE_PER_PAGE), total=found.total,
                                named=found.named, unassigned=found.unassigned_faces)
        return self._guarded(request, build)

    def person(self, request: Request) -> Response:
        """One person: faces best first, rename, merge, move and reject faces, the person's photos."""
        from daemon.web import review as review_pages

        def build() -> Response:
            store = self._store()
            person_id = data.check_id(request.path_params["person_id"], "person")
            page = _int(request.query_params.get("page"), 1)
            summary = data.person_summary(store, person_id)
            faces = data.person_faces(store, person_id, limit=FACES_PER_PAGE, offset=(page - 1) * FACES_PER_PAGE)
            pinned = data.pinned_faces(store, [f.id for f in faces])
            # The strip shows the photos of the best faces: no search over all of the person's photos.
            photo_ids = list(dict.fromkeys(f.photo_id for f in faces))[:12]
            photo_total = summary.photos
            return self._render(request, "person.html", title=summary.name or f"Person {person_id}",
                                person=summary, faces=faces, pinned=pinned, page=page,
                                pages=_pages(summary.faces, FACES_PER_PAGE), photo_ids=photo_ids,
                                photo_total=photo_total, choices=data.search_people(store, "", limit=500),
                                might_also=review_pages.might_also_be(store, person_id))
        return self._guarded(request, build)

    def unknown(self, request: Request) -> Response:
        """Faces on nobody, grouped by their top suggestion when the library suggests."""
        def build() -> Response:
            store = self._store()
            page = _int(request.query_params.get("page"), 1)
            faces, total = data.unassigned_faces(store, limit=FACES_PER_PAGE, offset=(page - 1) * FACES_PER_PAGE)
            suggested = data.suggestions(store) if data.suggestions_available() else {}
            groups: dict[int | None, list[data.FaceRow]] = {}
            for face in faces:
                top = suggested.get(face.id)
                groups.setdefault(top[0].person_id if top else None, []).append(face)
            names = {p.id: p for p in data.list_people(store) if p.id in groups}
            ordered = sorted(groups.items(), key=lambda kv: (kv[0] is None, -len(kv[1]), kv[0] or 0))
            return self._render(request, "unknown.html", title="Unknown faces", groups=ordered, names=names,
                                suggested=suggested, with_suggestions=data.suggestions_available(), page=page,
                                pages=_pages(total, FACES_PER_PAGE), total=total,
                                choices=data.search_people(store, "", limit=500))
        return self._guarded(request, build)

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
                    people.append(data.resolve_person(store, text))
                    shown.append(_label(data.person_summary(store, people[-1])))
                except PictodError as exc:
                    problems.append(str(exc))
                    shown.append(text)
            page = _int(params.get("page"), 1)
            ids: list[int] = []
            total = 0
            if not problems:
                try:
                    ids, total = data.find_photos(store, tags=tags, people=people, since=since or None,
                                                  until=until or None, limit=PHOTOS_PER_PAGE,
                                                  offset=(page - 1) * PHOTOS_PER_PAGE)
                except ValueError as exc:  # the shape of a date but none (2021-13)
                    problems.append(str(exc))
            query = [("tag", t) for t in tags] + [("person", p) for p in wanted] + \
                [(k, v) for k, v in (("since", since), ("until", until)) if v]
            return self._render(request, "photos.html", title="Photos", tags=data.tag_counts(store), chosen=tags,
                                wanted=", ".join(shown), since=since, until=until, problems=problems,
                                ids=ids, total=total, page=page, pages=_pages(total, PHOTOS_PER_PAGE),
                                query=query, choices=data.search_people(store, "", limit=500))
        return self._guarded(request, build)

    def photo(self, request: Request) -> Response:
        """One photo with its object and face boxes; faces link to their people."""
        def build() -> Response:
            store = self._store()
            row = data.photo(store, request.path_params["photo_id"])
            outcome, _source = self._source(row)
            faces = data.photo_faces(store, row.id)
            objects = data.photo_objects(store, row.id)
            return self._render(request, "photo.html", title=f"Photo {row.id}", photo=row, faces=faces,
                                objects=objects, outcome=outcome.value,
                                files=[f for f in row.files if self.s.folders.contains(f.path)],
                                label_size=max(row.width, row.height) / 45)
        return self._guarded(request, build)

    def status(self, request: Request) -> Response:
        """The figures of `pictod status`, refreshed while a daemon runs; failed files with reasons."""
        def build() -> Response:
            store = self._store()
            figures = self._figures(store)
            return self._render(request, "status.html", title="Status", figures=figures,
                                failed=data.failed_files(store, limit=FAILED_SHOWN),
                                failed_total=figures["files_failed"], reasons=REASONS,
                                database=str(self.s.cfg.database_path))
        return self._guarded(request, build)

    def _figures(self, store: data.Store) -> dict[str, Any]:
        counts = data.status_counts(store)
        pid = data.daemon_pid(self.s.cfg)
        return {"daemon_running": pid is not None, "daemon_pid": pid, **counts.__dict__}

    def api_status(self, request: Request) -> Response:
        """The status figures as JSON (the status page refreshes itself from here)."""
        return self._guarded(request, lambda: JSONResponse(self._figures(self._store())))

    def api_people(self, request: Request) -> Response:
        """People matching a name as you type: [{id, name, faces, label}]."""
        def build() -> Response:
            found = data.search_people(self._store(), request.query_params.get("q", "")[:200])
            return JSONResponse([{"id": p.id, "name": p.name, "faces": p.faces, "label": _label(p)} for p in found])
        return self._guarded(request, build)

    # ------------------------------------------------------------------------------------------ changes

    def name(self, request: Request) -> Response:
        """Rename a person (an empty name unnames)."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            name = (form.get("name") or [""])[0].strip()[:200]
            done = data.name_person(self._store(), data.check_id(person_id, "person"), name or None)
            return (f"person {done.id} is now {done.name}" if done.name else f"person {done.id} has no name"), {
                "name": done.name, "label": _label(done)}
        return self._change(request, act, f"/people/{person_id}")

    def merge(self, request: Request) -> Response:
        """Merge the person named in the form into this one."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            keep = data.check_id(person_id, "person")
            other = data.resolve_person(store, (form.get("other") or [""])[0])
            if other == keep:
                raise PictodError("a person cannot be merged with itself")
            done = data.merge_people(store, keep, other)
            return f"person {other} merged into {_label(done)}", {"person": done.id}
        return self._change(request, act, f"/people/{person_id}")

    def reject(self, request: Request) -> Response:
        """Not this person: the face leaves its person for good."""
        face_id = request.path_params["face_id"]

        def act(_form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            was = data.reject_face(store, data.check_id(face_id, "face"))
            if was is None:
                raise PictodError(f"face {face_id} is on nobody already")
            return f"face {face_id} is not person {was}", {"face": face_id, "person": was}
        return self._change(request, act, "/unknown")

    def move(self, request: Request) -> Response:
        """Move a face to the person named in the form (pinned there)."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            target = data.resolve_person(store, (form.get("person") or [""])[0])
            data.move_face(store, data.check_id(face_id, "face"), target)
            return f"face {face_id} moved to person {target}", {"face": face_id, "person": target}
        return self._change(request, act, "/unknown")

    def accept(self, request: Request) -> Response:
        """Yes, this face is this person (a suggestion taken, or a face confirmed on its person)."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            face = data.face(store, face_id)
            target = data.check_id(_int(next(iter(form.get("person", [])), None), 0, low=0, high=data.MAX_ID), "person")
            if face.person_id is None:
                data.accept_suggestion(store, face.id, target)
            elif face.person_id == target:
                data.move_face(store, face.id, target)  # pins it: kept there by every recluster
            else:
                raise PictodError(f"face {face.id} is on person {face.person_id}, not {target}: reload the page")
            return f"face {face.id} is person {target}", {"face": face.id, "person": target}
        return self._change(request, act, "/unknown")

    def accept_all(self, request: Request) -> Response:
        """Take every suggestion of this person among the faces listed in the form."""
        person_id = request.path_params["person_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            store = self._store()
            target = data.check_id(person_id, "person")
            wanted = {_int(v, 0, low=0, high=data.MAX_ID) for v in form.get("face", [])}
            offered = {face for face, ranked in data.suggestions(store).items() if ranked[0].person_id == target}
            taken = sorted(wanted & offered)
            for face_id in taken:
                data.accept_suggestion(store, face_id, target)
            return f"{len(taken)} faces are person {target}", {"faces": taken, "person": target}
        return self._change(request, act, "/unknown")

    def dismiss(self, request: Request) -> Response:
        """This face is not the suggested person."""
        face_id = request.path_params["face_id"]

        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            target = data.check_id(_int(next(iter(form.get("person", [])), None), 0, low=0, high=data.MAX_ID), "person")
            data.dismiss_suggestion(self._store(), data.check_id(face_id, "face"), target)
            return f"face {face_id} is not person {target}", {"face": face_id, "person": target}
        return self._change(request, act, "/unknown")

    def new_person(self, request: Request) -> Response:
        """Make a new person of the chosen faces."""
        def act(form: dict[str, list[str]]) -> tuple[str, dict[str, Any]]:
            faces = [data.check_id(_int(v, 0, low=0, high=data.MAX_ID), "face") for v in form.get("face", [])][:1000]
            name = (form.get("name") or [""])[0].strip()[:200] or None
            person_id = data.new_person(self._store(), faces, name)
            return f"person {person_id} made of {len(faces)} faces", {
                "person": person_id, "faces": faces, "next": f"/people/{person_id}"}
        return self._change(request, act, "/unknown")

    # ------------------------------------------------------------------------------------------ images

    def _source(self, row: data.PhotoRow) -> tuple[Outcome, Source | None]:
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
                                       content_hash=row.content_hash)
            if outcome is Outcome.CHANGED:
                best = outcome
        return best, None

    async def face_image(self, request: Request) -> Response:
        """A face crop by face id."""
        face_id = request.path_params["face_id"]

        def locate() -> tuple[Outcome, Source | None, tuple[float, float, float, float], int, str, bytes | None]:
            box, row = data.face_crop_source(self._store(), face_id)
            outcome, source = self._source(row)
            if source is None:
                return outcome, None, box, 0, "", None
            name, cached = self.s.renderer.cached_face(row.content_hash, box)
            return outcome, source, box, max(row.width, row.height), name, cached

        try:
            outcome, source, box, long_side, name, cached = await run_in_threadpool(locate)
        except (NotFoundError, NoLibrary):
            return Response("Not found\n", status_code=404, media_type="text/plain")
        if source is None:
            return _placeholder(outcome)
        if cached is None:
            outcome, cached = await self._render_once(name, self.s.renderer.render_face, name, source, box, long_side)
        return _image(outcome, cached)

    async def photo_image(self, request: Request) -> Response:
        """A photo rendition (thumb or view) by photo id."""
        kind = request.path_params["kind"]
        if kind not in SIZES:
            return Response("Not found\n", status_code=404, media_type="text/plain")

        def locate() -> tuple[Outcome, Source | None, str, bytes | None]:
            row = data.photo(self._store(), request.path_params["photo_id"])
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


_TITLES = {400: "Refused", 403: "Refused", 404: "Not found", 503: "Library unavailable"}
_PLACEHOLDERS: dict[Outcome, bytes] = {
    o: (HERE / "static" / f"{o.value}.svg").read_bytes() for o in Outcome if o is not Outcome.OK}


def _placeholder(outcome: Outcome) -> Response:
    return Response(_PLACEHOLDERS[outcome], media_type="image/svg+xml", headers={"cache-control": "no-store"})


def _image(outcome: Outcome, body: bytes | None) -> Response:
    if body is None:
        return _placeholder(outcome if outcome is not Outcome.OK else Outcome.UNREADABLE)
    # Private (faces), but stable per id: a face's crop and a photo's rendition never change.
    return Response(body, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _pages(total: int, per_page: int) -> int:
    return max(1, (total + per_page - 1) // per_page)


def _label(person: Any) -> str:
    """What the name search shows and the forms accept back: `Ada #12`, or `#12` for the unnamed."""
    return f"{person.name} #{person.id}" if person.name else f"#{person.id}"
