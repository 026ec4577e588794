"""The web app's guard: one ASGI middleware every request passes, before any route sees it.

In order: the Host header must name the served address (DNS rebinding); only GET, HEAD and POST; a bounded
body; a sign-in token (`?token=`: the one in the address printed at start, or one minted by `pictod web link`,
see `links.py`; each signs in one browser, once) is exchanged for a random session id in an HttpOnly,
SameSite=Strict cookie and the browser redirected to the same page without it; without a valid session nothing
but /static/ is served, and the page says how to sign in (again). A session ends after `web.session_idle_minutes`
without a request. A POST must also come from a page of this origin (Sec-Fetch-Site, then Origin, else Referer)
and carry the session's CSRF token (form field `csrf` or header X-CSRF-Token). Every response gets a strict
Content-Security-Policy, nosniff, no framing, and `no-store` unless the route chose its own caching. The parsed
form is handed to the route in `scope["pictod.form"]`.

Sessions live in memory: a restart (with its fresh token) signs everybody out.
"""

from __future__ import annotations

import hmac
import json
import secrets
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from daemon.web.links import LINK_MINUTES, Tokens

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY = 64 * 1024  # a form of this app is a few hundred bytes; 200 selected faces ~3 KiB
MAX_SESSIONS = 64
CSP = ("default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; object-src 'none'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
PUBLIC_PREFIX = "/static/"
HOW_TO_SIGN_IN = ("For a new sign-in address run <code>pictod web link</code> in a terminal (with the same "
                  "<code>--config</code> as <code>pictod web</code>) and open the address it prints: it signs in "
                  f"one browser, once, within {LINK_MINUTES} minutes. The address <code>pictod web</code> printed "
                  "when it started works once too; a restart prints a new one.")


@dataclass
class Session:
    """One signed-in browser."""

    csrf: str
    created: float
    flash: list[str] = field(default_factory=list)
    # A name box whose name was refused, by form action: {"value": what was typed, "error": why}; the page the
    # form post is sent back to shows both once (no-JS: the typed text is not lost with the redirect).
    boxes: dict[str, dict[str, str]] = field(default_factory=dict)
    last_seen: float = 0.0  # monotonic time of its last request


class Sessions:
    """Session ids -> Session, the oldest dropped beyond MAX_SESSIONS; a session idle for longer than
    `idle_seconds` (0: no limit) ends, and its id is remembered a while to say so."""

    def __init__(self, idle_seconds: float = 0.0) -> None:
        self.idle_seconds = idle_seconds
        self._by_id: OrderedDict[str, Session] = OrderedDict()
        self._ended: OrderedDict[str, None] = OrderedDict()  # ids of sessions that expired

    def new(self) -> tuple[str, Session]:
        """A fresh session and its id."""
        sid = secrets.token_urlsafe(32)
        session = Session(csrf=secrets.token_urlsafe(32), created=time.time(), last_seen=time.monotonic())
        self._by_id[sid] = session
        while len(self._by_id) > MAX_SESSIONS:
            self._by_id.popitem(last=False)
        return sid, session

    def get(self, sid: str | None, now: float | None = None) -> Session | None:
        """The live session with this id, if any (its idle clock restarted); an expired one ends here."""
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None:
            return None
        now = time.monotonic() if now is None else now
        if self.idle_seconds and now - session.last_seen > self.idle_seconds:
            del self._by_id[sid]
            self._ended[sid] = None
            while len(self._ended) > 4 * MAX_SESSIONS:
                self._ended.popitem(last=False)
            return None
        session.last_seen = now
        self._by_id.move_to_end(sid)  # the least recently used go first beyond MAX_SESSIONS
        return session

    def expired(self, sid: str | None) -> bool:
        """Whether this id named a session that ended for being idle."""
        return bool(sid) and sid in self._ended


@dataclass(frozen=True)
class Served:
    """Where the app is served: what Host headers and origins are this app."""

    hosts: frozenset[str]  # exact Host header values, e.g. "127.0.0.1:8765"
    scheme: str = "http"

    @classmethod
    def for_names(cls, names: Iterable[str], port: int) -> Served:
        """The Host values for these host names or addresses on this port."""
        hosts = set()
        for name in names:
            shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
            hosts.add(f"{shown.lower()}:{port}")
            if port == 80:
                hosts.add(shown.lower())
        return cls(hosts=frozenset(hosts))

    def origin_ok(self, value: str) -> bool:
        """Whether an Origin or Referer names this app."""
        try:
            parts = urllib.parse.urlsplit(value)
        except ValueError:
            return False
        return parts.scheme == self.scheme and parts.netloc.lower() in self.hosts


class Guard:
    """The middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str, served: Served, cookie: str,
                 sessions: Sessions | None = None, link_key: bytes | None = None) -> None:
        self.app = app
        self.tokens = Tokens(token, link_key)
        self.served = served
        self.cookie = cookie
        self.sessions = sessions or Sessions()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets here: the connection is dropped
        started = time.perf_counter()
        headers = _headers(scope)
        secured = _secured_send(send, started)
        if headers.get("host", "").lower() not in self.served.hosts:
            await _plain(secured, 421, "This address is not the one pictod web serves (wrong Host header).")
            return
        method = scope["method"]
        if method not in ("GET", "HEAD", "POST"):
            await _plain(secured, 405, "Method not allowed.", extra=[(b"allow", b"GET, HEAD, POST")])
            return
        body = await _read_body(scope, receive, headers)
        if body is None:
            await _plain(secured, 413, f"Request too large (at most {MAX_BODY} bytes).")
            return
        path: str = scope["path"]
        if path.startswith(PUBLIC_PREFIX) and method != "POST":
            await self.app(scope, _replay(body, receive), secured)
            return
        query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
        sid = _cookies(headers).get(self.cookie)
        session = self.sessions.get(sid)
        if "token" in query and method != "POST":
            await self._login(scope, secured, query, signed_in=session is not None)
            return
        if session is None:
            await self._sign_in_page(secured, headers, sid)
            return
        form: dict[str, list[str]] = {}
        if method == "POST":
            refusal = self._cross_origin(headers)
            if refusal is None:
                kind = headers.get("content-type", "").split(";")[0].strip().lower()
                if body and kind != "application/x-www-form-urlencoded":
                    refusal = "a form post must be application/x-www-form-urlencoded"
                else:
                    form = _parse_form(body)
                    sent = headers.get("x-csrf-token") or (form.get("csrf") or [""])[0]
                    if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                        refusal = "the form's CSRF token is missing or stale: reload the page and try again"
            if refusal is not None:
                await _page(secured, 403, "Refused", refusal)
                return
        scope["pictod.session"] = session
        scope["pictod.form"] = form
        await self.app(scope, _replay(body, receive), secured)

    async def _sign_in_page(self, send: Send, headers: dict[str, str], sid: str | None) -> None:
        """Not signed in: why (never signed in, signed out for being idle, or unknown after a restart), and how."""
        if self.sessions.expired(sid):
            minutes = self.sessions.idle_seconds / 60
            title, why = "Signed out", (f"This browser was signed out after {minutes:g} minute"
                                        f"{'' if minutes == 1 else 's'} without use (<code>web.session_idle_minutes"
                                        "</code>).")
        elif sid:
            title, why = "Sign in again", ("This browser's sign-in is not known to this <code>pictod web</code> "
                                           "(it was restarted, or signed in many other browsers since).")
        else:
            title, why = "Sign in", "Open a sign-in address of this <code>pictod web</code>."
        if "application/json" in headers.get("accept", ""):  # a page's script: its message says it
            text = f"{why} {HOW_TO_SIGN_IN}".replace("<code>", "").replace("</code>", "")
            body = json.dumps({"ok": False, "error": text, "sign_in": True}).encode()
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await _page(send, 403, title, f"{why} {HOW_TO_SIGN_IN}")

    def _cross_origin(self, headers: dict[str, str]) -> str | None:
        """Why a POST is not from a page of this app, or None when it is."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return f"a {site} request may not change the library"
        origin = headers.get("origin")
        if origin is not None:  # "null" (a sandboxed frame, a privacy redirect) is not this app either
            return None if self.served.origin_ok(origin) else "a request from another site may not change the library"
        referer = headers.get("referer")
        if referer is not None:
            return None if self.served.origin_ok(referer) else "a request from another page may not change the library"
        return "a change needs an Origin or Referer header naming this app"

    async def _login(self, scope: Scope, send: Send, query: dict[str, list[str]], *, signed_in: bool) -> None:
        rest = urllib.parse.urlencode([(k, v) for k, vs in query.items() if k != "token" for v in vs])
        path = scope["path"] if scope["path"].startswith("/") and not scope["path"].startswith("//") else "/"
        location = path + (f"?{rest}" if rest else "")
        if signed_in:  # this browser is signed in already (a reload of the address): the token is left unspent
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", location.encode("latin-1", "replace")),
                                    (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        verdict = self.tokens.take(query.get("token", [""])[0])
        if verdict != "ok":
            title, why = {
                "used": ("Address used already", "This sign-in address was used already: each one signs in one "
                         "browser, once."),
                "expired": ("Address expired", f"This sign-in address expired: one from <code>pictod web link"
                            f"</code> is good for {LINK_MINUTES} minutes."),
            }.get(verdict, ("Wrong token", "This token is not one this <code>pictod web</code> made (a restart "
                            "makes new ones)."))
            await _page(send, 403, title, f"{why} {HOW_TO_SIGN_IN}")
            return
        sid, _session = self.sessions.new()
        cookie = f"{self.cookie}={sid}; Path=/; HttpOnly; SameSite=Strict"
        await send({"type": "http.response.start", "status": 303,
                    "headers": [(b"location", location.encode("latin-1", "replace")),
                                (b"set-cookie", cookie.encode()), (b"content-length", b"0")]})
        await send({"type": "http.response.body", "body": b""})


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        out[name.decode("latin-1").lower()] = value.decode("latin-1")
    return out


def _cookies(headers: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out.setdefault(name, value)
    return out


def _parse_form(body: bytes) -> dict[str, list[str]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {}
    return urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=1000)


async def _read_body(scope: Scope, receive: Receive, headers: dict[str, str]) -> bytes | None:
    """The whole request body, or None when it is larger than MAX_BODY (said or sent)."""
    declared = headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, then the real channel (which reports the client's disconnect when it comes:
    answering 'disconnected' at once would make Starlette cancel streamed responses)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _secured_send(send: Send, started: float) -> Send:
    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"server"]
            names = {k.lower() for k, _v in headers}
            headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                        (b"x-frame-options", b"DENY"), (b"referrer-policy", b"same-origin"),
                        (b"cross-origin-resource-policy", b"same-origin"),
                        (b"server-timing", f"app;dur={(time.perf_counter() - started) * 1000:.2f}".encode())]
            if b"cache-control" not in names:
                headers.append((b"cache-control", b"no-store"))
            message = {**message, "headers": headers}
        await send(message)

    return wrapped


async def _plain(send: Send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def _page(send: Send, status: int, title: str, html: str) -> None:
    """A minimal page for refusals (no template, no session): text from this module only."""
    body = (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>pictod: {title}</title>"
            f"<link rel=stylesheet href=/static/app.css></head><body class=refusal><main><h1>{title}</h1>"
            f"<p>{html}</p></main></body></html>").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/html; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
