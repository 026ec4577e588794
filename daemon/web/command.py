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
                       "fresh sign-in token printed at every start. Works with or without a running daemon.")
    common(p)
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT}; 0: any free)")
    p.add_argument("--host", help="address to listen on (default 127.0.0.1; anything else is reachable by others)")
    p.add_argument("--open", action="store_true", help="open the address in the default browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Handler of `pictod web`."""
    from daemon import config as config_mod
    from daemon import logs
    from daemon.web.server import serve

    if not 0 <= args.port <= 65535:
        print("pictod: --port: expected 0..65535", file=sys.stderr)
        return 2
    cfg = config_mod.load(args.config, check_folders=False)
    # The web app logs to stderr (the journal under the service), never into the daemon's log file.
    logs.setup(level=cfg.log.level, fmt="console" if sys.stderr.isatty() else "json", stream=sys.stderr)
    return serve(cfg, host=args.host, port=args.port, open_browser=args.open, as_json=args.json)
