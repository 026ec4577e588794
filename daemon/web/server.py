"""`pictod web`: bind the address, make this start's token (good once), publish the key of `pictod web link`'s
addresses (links.py), print the address, serve with uvicorn.

A separate process from the daemon (whose service keeps its AF_UNIX-only sandbox). It binds loopback unless
--host says otherwise; the socket is bound before the address is printed, so --port 0 prints the real port.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import secrets
import signal
import socket
import sys
import threading
import webbrowser
from pathlib import Path

import structlog

from daemon.config import Config
from daemon.errors import PictodError
from daemon.runtime.lock import private_dirs
from daemon.web import links
from daemon.web.app import create_app
from daemon.web.security import Served

log = structlog.get_logger()

WILDCARDS = ("0.0.0.0", "::", "")


class AddressError(PictodError):
    """The address cannot be bound."""

    exit_code = 2


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback address or `localhost`."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_names(host: str) -> tuple[list[str], str]:
    """(the names a browser may use as Host for this bind, the one to print)."""
    bare = host.strip("[]")
    if is_loopback(bare):
        names = {"127.0.0.1", "localhost", "::1", bare}
        return sorted(names), "127.0.0.1" if bare in ("localhost", "127.0.0.1") else bare
    if bare in WILDCARDS:
        hostname = socket.gethostname()
        names = {"127.0.0.1", "localhost", "::1", hostname, socket.getfqdn()}
        with contextlib.suppress(OSError):
            names |= {str(info[4][0]) for info in socket.getaddrinfo(hostname, None)}
        return sorted(names), hostname
    return [bare], bare


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    bare = host.strip("[]")
    family = socket.AF_INET6 if ":" in bare else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they are TCP, and with
    # Nagle on, every keep-alive response waited ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and bare == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    try:
        sock.bind((bare, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        hint = " (in use: pass another --port, or --port 0 for any free one)" if port else ""
        raise AddressError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.setblocking(False)
    return sock


def serve(cfg: Config, *, host: str | None, port: int, open_browser: bool = False, as_json: bool = False) -> int:
    """Run the web app until SIGINT/SIGTERM; returns the exit code."""
    import uvicorn

    where = host if host is not None else "127.0.0.1"
    if host is not None and not is_loopback(host):
        print(f"pictod web: WARNING: listening on {host}, not on loopback: anyone who can reach this address "
              "and has the token can see and change your library (and the traffic is not encrypted)",
              file=sys.stderr, flush=True)
    sock = bind(where, port)
    port = int(sock.getsockname()[1])
    names, shown = host_names(where)
    token = secrets.token_urlsafe(32)
    shown_host = f"[{shown}]" if ":" in shown else shown
    base = f"http://{shown_host}:{port}"
    link_path, link_key = _publish(cfg, port, base)
    app = create_app(cfg, token=token, served=Served.for_names(names, port), cookie=f"pictod_{port}",
                     link_key=link_key)
    url = f"{base}/?token={token}"
    idle = cfg.web.session_idle_minutes
    if as_json:
        print(json.dumps({"url": url, "host": where, "port": port, "database": str(cfg.database_path),
                          "link_file": str(link_path) if link_key else None, "session_idle_minutes": idle}),
              flush=True)
    else:
        print(f"pictod web: serving {cfg.database_path} on {base}/", flush=True)
        print(f"pictod web: open {url}", flush=True)
        after = f" or after {idle:g} minutes without use" if idle else ""
        print(f"pictod web: that address signs in one browser, once; for another browser{after}, run "
              "`pictod web link` for a fresh address. Stop with Ctrl+C", flush=True)
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on",
                            proxy_headers=False, server_header=False, timeout_keep_alive=5,
                            limit_concurrency=200, h11_max_incomplete_event_size=32 * 1024)
    server = uvicorn.Server(config)
    if open_browser:
        def opener() -> None:
            for _ in range(100):
                if server.started:
                    break
                threading.Event().wait(0.05)
            if not webbrowser.open(url):
                print("pictod web: no browser could be opened: open the address above yourself", file=sys.stderr)
        threading.Thread(target=opener, name="pictod-web-open", daemon=True).start()
    log.info("web_started", host=where, port=port, database=str(cfg.database_path))
    # uvicorn re-raises the stop signal after its orderly shutdown, through the handlers it found: with these
    # in place that is a no-op, and an orderly stop exits 0 like the daemon's does.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: None)
    try:
        server.run(sockets=[sock])
    finally:
        if link_key is not None:
            links.withdraw(link_path)
    log.info("web_stopped")
    return 0


def _publish(cfg: Config, port: int, base: str) -> tuple[Path, bytes | None]:
    """The link file `pictod web link` mints sign-in addresses from (links.py); (its path, None) when it cannot
    be written (then only the printed address signs in)."""
    path = links.link_file(cfg.database_path, port)
    try:
        private_dirs(path.parent)
        return links.publish(cfg.database_path, port, base)
    except OSError as exc:
        print(f"pictod web: WARNING: cannot write {path} ({exc.strerror or exc}): `pictod web link` will not work "
              "for this start", file=sys.stderr, flush=True)
        return path, None
