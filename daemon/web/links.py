"""Sign-in links for `pictod web`: the address printed at start, and fresh ones from `pictod web link`.

Every link signs in one browser, once. The address printed at start carries a random token that is burnt when a
browser exchanges it for a session. For a second browser (or after a session expired) `pictod web link` mints
another: the running `pictod web` keeps a random key in a file beside the library that only the user can read
(`<database>.web-<port>.json`, 0600, in the 0700 database folder; removed at a clean stop), and a link is
`m.<expiry>.<nonce>.<HMAC-SHA256(key, expiry.nonce)>`, valid for LINK_MINUTES and once (the server remembers
the nonces it took until they expire). Whoever can read that file can sign in: the user, as with the printed
address in their terminal or journal.

Standard library only: `pictod web link` must not load the web libraries.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from daemon.errors import PictodError

LINK_MINUTES = 10
PREFIX = "m."


class NoWebRunning(PictodError):
    """No running `pictod web` serves this library (or none on the port asked for)."""

    exit_code = 3


def link_file(db: Path, port: int) -> Path:
    """Where a `pictod web` serving `db` on `port` keeps its link key."""
    return db.with_name(f"{db.name}.web-{port}.json")


@dataclass(frozen=True)
class Served:
    """What the link file says about a running `pictod web`."""

    path: Path
    pid: int
    base: str  # http://127.0.0.1:8765
    port: int
    key: bytes


def publish(db: Path, port: int, base: str) -> tuple[Path, bytes]:
    """Write this process's link file (a new key); returns (its path, the key). OSError if it cannot be written."""
    key = secrets.token_bytes(32)
    path = link_file(db, port)
    body = json.dumps({"pid": os.getpid(), "url": base, "port": port,
                       "key": base64.urlsafe_b64encode(key).decode()}).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path, key


def withdraw(path: Path) -> None:
    """Remove this process's link file (a clean stop)."""
    with contextlib.suppress(OSError):
        if json.loads(path.read_bytes()).get("pid") == os.getpid():
            path.unlink()


def running(db: Path, port: int | None = None) -> Served:
    """The running `pictod web` on this library (on `port`, if given; else the one started last)."""
    found: list[tuple[float, Served]] = []
    for path in db.parent.glob(f"{glob.escape(db.name)}.web-*.json"):
        try:
            info = path.stat()
            if info.st_uid != os.getuid() or info.st_mode & 0o077:
                continue  # not a file this user's `pictod web` wrote (0600): never trust its address or key
            data = json.loads(path.read_bytes())
            served = Served(path=path, pid=int(data["pid"]), base=str(data["url"]), port=int(data["port"]),
                            key=base64.urlsafe_b64decode(str(data["key"])))
            mtime = info.st_mtime
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (port is None or served.port == port) and _alive(served.pid):
            found.append((mtime, served))
    if not found:
        where = f" on port {port}" if port is not None else ""
        raise NoWebRunning(f"no pictod web is serving {db}{where} (start it with `pictod web`; the service: "
                           "`systemctl --user start pictod-web`)")
    return max(found, key=lambda item: item[0])[1]


def mint(served: Served, now: float | None = None) -> tuple[str, float]:
    """A fresh sign-in address for this `pictod web` and when it expires (epoch seconds)."""
    expires = int((time.time() if now is None else now) + LINK_MINUTES * 60)
    nonce = secrets.token_urlsafe(16)
    return f"{served.base}/?token={PREFIX}{expires}.{nonce}.{_mac(served.key, expires, nonce)}", float(expires)


def _mac(key: bytes, expires: int, nonce: str) -> str:
    digest = hmac.new(key, f"{expires}.{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class Tokens:
    """The server's side: the start token (once) and minted links (once each, until they expire)."""

    def __init__(self, start_token: str, key: bytes | None) -> None:
        self._start = hashlib.sha256(start_token.encode()).digest()
        self._start_spent = False
        self._key = key
        self._taken: dict[str, float] = {}  # nonce -> expiry: a link is taken once

    def take(self, offered: str, now: float | None = None) -> str:
        """"ok" (and the token is spent now), "used" (a good token, spent before), "expired" or "wrong"."""
        now = time.time() if now is None else now
        if offered.startswith(PREFIX) and self._key is not None:
            return self._take_link(offered[len(PREFIX):], now)
        if not hmac.compare_digest(hashlib.sha256(offered.encode()).digest(), self._start):
            return "wrong"
        if self._start_spent:
            return "used"
        self._start_spent = True
        return "ok"

    def _take_link(self, rest: str, now: float) -> str:
        parts = rest.split(".")
        # ASCII digits only: str.isdigit() is also true of '²', which int() refuses.
        if (len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 12
                or self._key is None):
            return "wrong"
        expires, nonce, mac = int(parts[0]), parts[1], parts[2]
        if not hmac.compare_digest(mac.encode(), _mac(self._key, expires, nonce).encode()):
            return "wrong"
        if expires > now + LINK_MINUTES * 60 + 60:
            return "wrong"  # not one `pictod web link` made
        for old in [n for n, t in self._taken.items() if t < now]:
            del self._taken[old]
        if expires < now:
            return "expired"
        if nonce in self._taken:
            return "used"
        self._taken[nonce] = float(expires)
        return "ok"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
