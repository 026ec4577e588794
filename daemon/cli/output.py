"""What every `pictod` command group shares: the --config/--json flags, loading the config, opening the library,
quiet logs, and the output helpers (JSON, tables, printable paths). Exit codes are named here.

Imports nothing heavy at module level: every command builds the whole parser, so start-up stays fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon import logs
from daemon.library import plain as jsonable

if TYPE_CHECKING:
    from daemon.store import Store

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
EXIT_PHOTO_FAILED = 65
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]
Action = Callable[["Store", config_mod.Config], int]


def add_common(parser: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    """--config (and --json) on a subcommand."""
    parser.add_argument("--config", metavar="PATH",
                        help="config file (default: $PICTOD_CONFIG, ~/.config/pictod/config.toml, else built-in)")
    if json_flag:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


MAX_ID = 2**63 - 1  # SQLite's largest integer: no row has an id beyond it


def row_id(text: str) -> int:
    """An id argument (a person, face, photo or event): a whole number 1 .. MAX_ID, else a usage error (exit 2)
    rather than a traceback from SQLite."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an id: {text!r}") from None
    if not 0 < value <= MAX_ID:
        raise argparse.ArgumentTypeError(f"no such id: {text} (ids are 1 .. {MAX_ID})")
    return value


def print_json(value: Any) -> None:
    """One JSON document on stdout."""
    print(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def answer(args: argparse.Namespace, data: Any, text: str) -> int:
    """Print a command's result: `data` as JSON with --json, else `text`; exit 0."""
    if args.json:
        print_json(data)
    else:
        print(text)
    return EXIT_OK


def safe(text: str) -> str:
    """A path or name made printable on one line (control characters and undecodable bytes escaped)."""
    return logs.escape(text)


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Left-aligned columns under a header and a rule."""
    cells = [[str(h) for h in headers]] + [[safe(str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def load_config(args: argparse.Namespace, *, check_folders: bool = False, optional: bool = False
                ) -> config_mod.Config:
    """The config of --config (or the default path); with `optional` and no config file anywhere, the defaults."""
    if optional and args.config is None and not config_mod.default_config_path().exists():
        return config_mod.Config()
    return config_mod.load(args.config, check_folders=check_folders)


def setup_quiet_logs() -> None:
    """One-shot commands print results on stdout; their logs go to stderr, warnings and worse only."""
    logs.setup(level="warning", fmt="console" if sys.stderr.isatty() else "json", stream=sys.stderr)


def with_store(args: argparse.Namespace, action: Action, *, read_only: bool = False) -> int:
    """Run an action on the library: readers open it read-only (never migrated, never written), writers in full."""
    from daemon.library import open_library

    cfg = load_config(args)
    setup_quiet_logs()
    store = open_library(cfg.database_path, read_only=read_only)
    try:
        return action(store, cfg)
    finally:
        store.close()


def reader(action: Callable[[argparse.Namespace, Store, config_mod.Config], int], *, read_only: bool = True
           ) -> Handler:
    """A handler that runs `action(args, store, cfg)` on the library (read-only unless told otherwise)."""
    def handler(args: argparse.Namespace) -> int:
        return with_store(args, lambda store, cfg: action(args, store, cfg), read_only=read_only)
    return handler


def writer(action: Callable[[argparse.Namespace, Store, config_mod.Config], int]) -> Handler:
    """A handler that runs `action(args, store, cfg)` on the library opened in full."""
    return reader(action, read_only=False)
