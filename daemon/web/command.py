"""The `pictod web` subcommand: its arguments (registered by daemon/cli/main.py) and its handler.

Importing this module imports no web library: the app is loaded only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

# The app's port unless --port says otherwise (here, not in server.py: registering the subcommand must not load
# the web libraries, which every other command would then pay for at start-up).
DEFAULT_PORT = 8765


def register(sub: Any, common: Callable[..., None]) -> None:
    """Add `pictod web` to the subcommands."""
    p = sub.add_parser("web", help="the people review web app, in a browser (a separate process from the daemon)",
                       description="Serve the review pages (people, faces, photos, status) on loopback, with a "
                       "fresh sign-in address printed at every start; each address signs in one browser, once. "
                       "`pictod web link` prints a fresh one (good for 10 minutes) from the running pictod web, "
                       "for another browser or after a session expired (web.session_idle_minutes). Works with or "
                       "without a running daemon.")
    common(p)
    p.add_argument("action", nargs="?", choices=("link",),
                   help="link: print a fresh sign-in address of the pictod web running on this library")
    p.add_argument("--port", type=int, default=None,
                   help=f"TCP port (default {DEFAULT_PORT}; 0: any free); with link: the pictod web on that port")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; anything else is reachable by others)")
    p.add_argument("--open", action="store_true", help="open the address in the default browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of `pictod web`."""
    from daemon import config as config_mod
    from daemon import logs
    from daemon.web.server import serve

    if args.port is not None and not 0 <= args.port <= 65535:
        print("pictod: --port: expected 0..65535", file=sys.stderr)
        return 2
    cfg = config_mod.load(args.config, check_folders=False)
    if args.action == "link":
        return link(cfg, port=args.port, open_browser=args.open, as_json=args.json)
    # The web app logs to stderr (the journal under the service), never into the daemon's log file.
    logs.setup(level=cfg.log.level, fmt="console" if sys.stderr.isatty() else "json", stream=sys.stderr)
    return serve(cfg, host=args.host, port=DEFAULT_PORT if args.port is None else args.port,
                 open_browser=args.open, as_json=args.json)


def link(cfg: Any, *, port: int | None, open_browser: bool, as_json: bool) -> int:
    """`pictod web link`: a fresh sign-in address of the running `pictod web` (the address on stdout)."""
    import datetime
    import json
    import webbrowser

    from daemon.web import links

    try:
        served = links.running(cfg.database_path, port)
    except links.NoWebRunning as exc:
        print(f"pictod: {exc}", file=sys.stderr)
        return links.NoWebRunning.exit_code
    url, expires = links.mint(served)
    until = datetime.datetime.fromtimestamp(expires).astimezone()
    if as_json:
        print(json.dumps({"url": url, "expires": until.isoformat(timespec="seconds"), "port": served.port}))
    else:
        print(url, flush=True)
        print(f"pictod web link: signs in one browser, once, until {until:%H:%M}", file=sys.stderr)
    if open_browser and not webbrowser.open(url):
        print("pictod web link: no browser could be opened: open the address above yourself", file=sys.stderr)
    return 0
