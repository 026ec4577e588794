"""What every page family of the web app shares: rendering a template (or the same data as JSON for a script),
error pages, running a correction from a form, and the parsing of ids and numbers from requests.

A page family (`people_pages.py`, `faces_pages.py`, `photo_pages.py`, `status_pages.py`) is a subclass of
`Pages`; its handlers call the use cases of `daemon/library/` and hold no rules of their own.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from daemon.config import Config
from daemon.errors import NotFoundError, PictodError, StoreError
from daemon.library import NoLibrary, open_library, plain
from daemon.runtime.lock import daemon_pid
from daemon.store import Store
from daemon.web.security import Session
from daemon.web.thumbs import Outcome, Renderer

log = structlog.get_logger()

HERE = Path(__file__).resolve().parent
MAX_ID = 2**63 - 1  # SQLite's INTEGER range: a larger id in a URL is simply unknown
_TITLES = {400: "Refused", 403: "Refused", 404: "Not found", 503: "Library unavailable"}


class Library:
    """The store, opened on first use (the web app may start before the daemon made the library)."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self._store: Store | None = None
        self._lock = threading.Lock()

    def store(self) -> Store:
        """The open store; NoLibrary while the database does not exist."""
        with self._lock:
            if self._store is None:
                self._store = open_library(self.db)
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
    """What the page families share."""

    cfg: Config
    library: Library
    folders: Folders
    renderer: Renderer
    decode_pool: ThreadPoolExecutor
    templates: jinja2.Environment
    inflight: dict[str, asyncio.Future[tuple[Outcome, bytes | None]]]
    best_faces: Any  # people_pages.BestFaces


def check_id(value: int, what: str) -> int:
    """An id from a request, or NotFoundError when it cannot name anything in the library."""
    if not 0 < value <= MAX_ID:
        raise NotFoundError(f"no {what} with id {value}")
    return value


def to_int(value: str | None, default: int, *, low: int = 1, high: int = 1_000_000) -> int:
    """A number from a query or form, clamped to [low, high]; `default` when missing or not a number."""
    try:
        number = int(value) if value is not None else default
    except ValueError:
        return default
    return min(max(number, low), high)


def form_id(form: dict[str, list[str]], field: str, what: str) -> int:
    """The first id of a form field (NotFoundError when missing or out of range)."""
    return check_id(to_int(next(iter(form.get(field, [])), None), 0, low=0, high=MAX_ID), what)


def safe_next(value: str | None, default: str) -> str:
    """A same-app path to go back to after a form post (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 2000:
        return value
    return default


def wants_json(request: Request) -> bool:
    """A script's request (Accept: application/json): answered with the page's data, not HTML."""
    return "application/json" in request.headers.get("accept", "")


def pages(total: int, per_page: int) -> int:
    """How many pages `total` items fill (at least one)."""
    return max(1, (total + per_page - 1) // per_page)


def label(person: Any) -> str:
    """What the name search shows and the forms accept back: `Ada #12`, or `#12` for the unnamed."""
    return f"{person.name} #{person.id}" if person.name else f"#{person.id}"


def who(person: Any) -> str:
    """A person in a sentence: the name, or `person #12` for the unnamed (as the pages say it)."""
    return str(person.name) if person.name else f"person #{person.id}"


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


class Pages:
    """The plumbing of the route handlers; sync ones run in Starlette's thread pool, so they may block on the
    store."""

    def __init__(self, state: State) -> None:
        self.s = state

    def _store(self) -> Store:
        return self.s.library.store()

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        session: Session | None = request.scope.get("pictod.session")
        flash = list(session.flash) if session is not None else []
        if session is not None:
            session.flash.clear()
        html = self.s.templates.get_template(name).render(
            request_path=request.url.path, here=_here(request), csrf=session.csrf if session else "",
            flash=flash, daemon_pid=daemon_pid(self.s.cfg), **context)
        return HTMLResponse(html, status_code=status)

    def _page(self, request: Request, name: str, answer: Callable[[], Any], **context: Any) -> Response:
        """The page, or for a script the use case's answer as JSON (the same data as the CLI's --json)."""
        if wants_json(request):
            return JSONResponse(plain(answer()))
        return self._render(request, name, **context)

    def _error_page(self, request: Request, status: int, message: str) -> Response:
        if wants_json(request):
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
        back = safe_next(next(iter(form.get("next", [])), None), default_next)
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
        if wants_json(request):
            return JSONResponse({"ok": True, "message": message, **plain(extra)})
        session: Session = request.scope["pictod.session"]
        session.flash.append(message)
        return RedirectResponse(extra.get("next", back), status_code=303)

    def _refused(self, request: Request, status: int, message: str, back: str) -> Response:
        if wants_json(request):
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
