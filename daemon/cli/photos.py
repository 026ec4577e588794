"""`pictod failed`, `pictod retry` and `pictod completion`: handlers and their parsers, registered by
`daemon.cli.main.build_parser` (kept apart from cli.py, which other commands extend at the same time).

`retry` only marks rows (`files.retry`): a running daemon picks them up on its next status tick
(`Service._pick_up_retries`, at most `daemon.status_interval` seconds later), otherwise the next scan or daemon
start treats them as changed (`reconcile.plan`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from daemon import config as config_mod

EXIT_OK = 0
EXIT_USAGE = 2


def _cmd_failed(args: argparse.Namespace) -> int:
    from daemon.cli import main as cli
    from daemon.store import queries
    def action(store: Any, _cfg: config_mod.Config) -> int:
        rows = store.read(queries.failed_files)
        if args.json:
            cli._print_json(rows)
        elif not rows:
            print("no failed files")
        else:
            print(cli._table([[r.path, r.reason, r.failed_at[:19].replace("T", " "), r.error or "",
                               "queued" if r.retry else ""] for r in rows],
                             ["file", "reason", "failed at (UTC)", "message", "retry"]))
            print(f"{len(rows)} failed file(s); `pictod retry --all` (or PATH...) analyses them again")
        return EXIT_OK

    return cli._with_store(args, action, read_only=True)


def _cmd_retry(args: argparse.Namespace) -> int:
    from daemon.cli import main as cli
    from daemon.runtime import service
    if not args.all and not args.paths:
        print("pictod retry: give PATH... or --all", file=sys.stderr)
        return EXIT_USAGE
    paths = None if args.all else [os.path.abspath(p) for p in args.paths]

    def action(store: Any, cfg: config_mod.Config) -> int:
        marked = store.mark_retry(paths)
        pid = service.daemon_pid(cfg)
        unmatched = [] if paths is None else [p for p in paths
                                              if not any(m == p or m.startswith(p.rstrip("/") + "/") for m in marked)]
        if pid is not None:
            how = f"the running daemon (pid {pid}) queues them within {cfg.daemon.status_interval:g} s"
        else:
            how = "no daemon is running: the next `pictod scan` or daemon start analyses them again"
        if args.json:
            cli._print_json({"marked": marked, "unmatched": unmatched, "daemon_pid": pid})
        else:
            for path in unmatched:
                print(f"not a failed file (see `pictod failed`): {cli._safe(path)}", file=sys.stderr)
            if marked:
                print(f"{len(marked)} file(s) marked for retry; {how}")
            elif paths is None:
                print("no failed files")
        return EXIT_USAGE if paths is not None and not marked else EXIT_OK

    return cli._with_store(args, action)


def _cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    # argcomplete's own scripts: bash (also zsh via bashcompinit), zsh, fish, tcsh, powershell.
    sys.stdout.write(argcomplete.shellcode(["pictod"], shell=args.shell))
    return EXIT_OK


def register(sub: Any, common: Any) -> None:
    """Add `failed`, `retry` and `completion` to the subcommand parsers; `common` adds --config/--json."""
    p = sub.add_parser("failed", help="files that could not be analysed, with reason and time")
    common(p)
    p.set_defaults(func=_cmd_failed)

    p = sub.add_parser("retry", help="analyse failed files again (through the running daemon, else at the next scan)",
                       description="Mark failed files to be analysed again, e.g. after installing a codec or "
                       "raising a limit. A running daemon picks them up within daemon.status_interval seconds; "
                       "without one, the next `pictod scan` or daemon start does.")
    common(p)
    p.add_argument("paths", nargs="*", metavar="PATH", help="failed files, or folders holding them")
    p.add_argument("--all", action="store_true", help="every failed file")
    p.set_defaults(func=_cmd_retry)

    p = sub.add_parser("completion", help="print the shell completion script (bash, zsh or fish)",
                       description="Print a completion script for pictod. bash: "
                       "eval \"$(pictod completion bash)\" in ~/.bashrc; zsh: eval \"$(pictod completion zsh)\" "
                       "in ~/.zshrc; fish: pictod completion fish > ~/.config/fish/completions/pictod.fish")
    p.add_argument("shell", choices=("bash", "zsh", "fish"))
    p.add_argument("--config", metavar="PATH", help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_completion)
