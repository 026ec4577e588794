"""`pictod failed` (the files that could not be analysed), `pictod retry` (analyse them again) and
`pictod completion` (the shell completion script)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_OK, EXIT_USAGE, add_common, print_json, reader, safe, table, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _failed(args: argparse.Namespace, store: Store, _cfg: config_mod.Config) -> int:
    from daemon.library import reads
    rows = reads.failed_files(store)
    if args.json:
        print_json(rows)
    elif not rows:
        print("no failed files")
    else:
        print(table([[r.path, r.reason, r.failed_at[:19].replace("T", " "), r.error or "",
                      "queued" if r.retry else ""] for r in rows],
                    ["file", "reason", "failed at (UTC)", "message", "retry"]))
        print(f"{len(rows)} failed file(s); `pictod retry --all` (or PATH...) analyses them again")
    return EXIT_OK


def _retry(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import upkeep
    from daemon.runtime.lock import daemon_pid
    done = upkeep.retry(store, None if args.all else args.paths)
    pid = daemon_pid(cfg)
    if pid is not None:
        how = f"the running daemon (pid {pid}) queues them within {cfg.daemon.status_interval:g} s"
    else:
        how = "no daemon is running: the next `pictod scan` or daemon start analyses them again"
    if args.json:
        print_json({"marked": done.marked, "unmatched": done.unmatched, "daemon_pid": pid})
    else:
        for path in done.unmatched:
            print(f"not a failed file (see `pictod failed`): {safe(path)}", file=sys.stderr)
        if done.marked:
            print(f"{len(done.marked)} file(s) marked for retry; {how}")
        elif args.all:
            print("no failed files")
    return EXIT_USAGE if not args.all and not done.marked else EXIT_OK


_retry_handler = writer(_retry)


def _cmd_retry(args: argparse.Namespace) -> int:
    if not args.all and not args.paths:
        print("pictod retry: give PATH... or --all", file=sys.stderr)
        return EXIT_USAGE
    return _retry_handler(args)


def _cmd_completion(args: argparse.Namespace) -> int:
    import argcomplete

    # argcomplete's own scripts: bash (also zsh via bashcompinit), zsh, fish, tcsh, powershell.
    sys.stdout.write(argcomplete.shellcode(["pictod"], shell=args.shell))
    return EXIT_OK


def register(sub: Any) -> None:
    """Add `failed`, `retry` and `completion`."""
    p = sub.add_parser("failed", help="files that could not be analysed, with reason and time")
    add_common(p)
    p.set_defaults(func=reader(_failed))

    p = sub.add_parser("retry", help="analyse failed files again (through the running daemon, else at the next scan)",
                       description="Mark failed files to be analysed again, e.g. after installing a codec or "
                       "raising a limit. A running daemon picks them up within daemon.status_interval seconds; "
                       "without one, the next `pictod scan` or daemon start does.")
    add_common(p)
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
