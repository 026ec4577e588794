"""The ASGI app of `pictod web`: the routes of the page families, behind the guard of `security.py`.

Pages are rendered on the server with Jinja2 (templates/), styled and enhanced by the two files in static/;
every page works without JavaScript. Each page family is a module (`people_pages.py`, `faces_pages.py`,
`photo_pages.py`, `status_pages.py`, over `pages.py`'s plumbing); their handlers call the use cases of
`daemon/library/` in worker threads (they block on SQLite); decoding for thumbnails runs in its own small pool,
never on the event loop. A change is a POST: a plain form post is answered with a redirect back (and a one-line
message), a script's post (Accept: application/json) with JSON; a script's GET of a page gets the page's data.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from daemon import logs
from daemon.config import Config
from daemon.web import labels
from daemon.web.event_pages import EventPages
from daemon.web.faces_pages import FacesPages
from daemon.web.pages import HERE, Folders, Library, State
from daemon.web.people_pages import BestFaces, PeoplePages
from daemon.web.photo_pages import PhotoPages
from daemon.web.security import Guard, Served, Sessions
from daemon.web.status_pages import StatusPages
from daemon.web.thumbs import DiskCache, Renderer

DECODE_WORKERS = 2


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["path"] = logs.escape  # control characters and undecodable bytes made visible, never raw
    env.filters["pct"] = lambda v, total: f"{100.0 * v / total:.3f}" if total else "0"
    env.globals["label_layout"] = labels.for_photo  # the photo page's labels, placed so none covers another
    return env


def create_app(cfg: Config, *, token: str, served: Served, cookie: str = "pictod_session",
               cache_dir: Path | None = None, link_key: bytes | None = None) -> Guard:
    """The app, guarded; `token` is the one printed in the address (good once), `served` the address it answers
    to, `link_key` the key of the sign-in links `pictod web link` makes (links.py; None: none)."""
    cache = DiskCache((cache_dir or default_cache_dir()) / "thumbs", cfg.web.thumbnail_cache_mb * 1024 * 1024)
    state = State(cfg=cfg, library=Library(cfg.database_path), folders=Folders(cfg),
                  renderer=Renderer(cache, max_pixels=cfg.analysis.max_pixels,
                                    max_file_bytes=cfg.analysis.max_file_bytes),
                  decode_pool=ThreadPoolExecutor(DECODE_WORKERS, thread_name_prefix="pictod-web-decode"),
                  templates=_templates(), inflight={}, best_faces=BestFaces())

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            state.decode_pool.shutdown(wait=True, cancel_futures=True)
            state.library.close()

    people, faces, photos, status = PeoplePages(state), FacesPages(state), PhotoPages(state), StatusPages(state)
    event_pages = EventPages(state)
    from daemon.web.review import ReviewPages  # the review pages (issue 21)

    routes = [
        *ReviewPages(state).routes(),
        Route("/", people.home),
        Route("/people", people.people),
        Route("/people/{person_id:int}", people.person),
        Route("/people/{person_id:int}/name", people.name, methods=["POST"]),
        Route("/people/{person_id:int}/merge", people.merge, methods=["POST"]),
        Route("/people/{person_id:int}/accept-all", faces.accept_all, methods=["POST"]),
        Route("/faces/{face_id:int}/reject", faces.reject, methods=["POST"]),
        Route("/faces/{face_id:int}/move", faces.move, methods=["POST"]),
        Route("/faces/{face_id:int}/accept", faces.accept, methods=["POST"]),
        Route("/faces/{face_id:int}/dismiss", faces.dismiss, methods=["POST"]),
        Route("/faces/new-person", faces.new_person, methods=["POST"]),
        Route("/unknown", faces.unknown),
        Route("/photos", photos.photos),
        Route("/photos/month", photos.month),
        Route("/photos/{photo_id:int}", photos.photo),
        Route("/events/{event_id:int}", event_pages.event),
        Route("/events/{event_id:int}/name", event_pages.name, methods=["POST"]),
        Route("/status", status.status),
        Route("/status/retry", status.retry, methods=["POST"]),
        Route("/status/write-sidecars", status.write_sidecars, methods=["POST"]),
        Route("/api/status", status.api_status),
        Route("/api/people", people.api_people),
        Route("/img/face/{face_id:int}.jpg", photos.face_image),
        Route("/img/photo/{photo_id:int}/{kind:str}.jpg", photos.photo_image),
        Route("/media/{photo_id:int}", photos.media),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={404: status.not_found, 405: status.not_allowed})
    guard = Guard(app, token=token, served=served, cookie=cookie, link_key=link_key,
                  sessions=Sessions(idle_seconds=cfg.web.session_idle_minutes * 60))
    guard.state = state  # type: ignore[attr-defined]  # for tests and the benchmark
    return guard


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/pictod, else ~/.cache/pictod."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "pictod"
