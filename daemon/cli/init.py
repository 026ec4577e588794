"""`pictod init [FOLDER...]`: write the user's config file, every key shown with its default, and say what to
run next. Registered by `daemon.cli.main.build_parser`.

The file is daemon/defaults.toml (shipped with the package) with the folders filled in and the shipped models'
folder named; everything else stays commented out, so a later pictod's defaults still apply to it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

from daemon import config as config_mod
from daemon.resources import shipped

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_CANTCREAT = 73  # sysexits: the file exists (without --force) or cannot be written

NEXT_STEPS = (
    ("pictod scan", "index the folders once now (or let the service do it)"),
    ("pictod service install", "run the daemon in the background from login on"),
    ("pictod web --open", "review the people it finds, in a browser"),
)


def render(folders: list[str]) -> str:
    """The config text for these folders (already absolute, or `~/...`)."""
    text = shipped("defaults.toml").read_text(encoding="utf-8")
    # json.dumps writes a TOML basic string for any path: quotes, backslashes and control characters escaped.
    listing = "[" + ", ".join(json.dumps(f, ensure_ascii=False) for f in folders) + "]"
    return text.replace("@FOLDERS@", listing).replace("@MODELS@", str(config_mod.SHIPPED_MODELS))


def target(args: argparse.Namespace) -> Path:
    """Where to write: --config, else $PICTOD_CONFIG, else ~/.config/pictod/config.toml."""
    return Path(os.path.expanduser(args.config)).absolute() if args.config else config_mod.default_config_path()


def _fail(args: argparse.Namespace, code: int, message: str, **extra: Any) -> int:
    if args.json:
        print(json.dumps({"written": False, "error": message, **extra}, ensure_ascii=False, indent=2))
    print(f"pictod init: {message}", file=sys.stderr)
    return code


def _cmd_init(args: argparse.Namespace) -> int:
    path = target(args)
    given = [os.path.abspath(os.path.expanduser(f)) for f in args.folders]
    not_dirs = [f for f in given if not os.path.isdir(f)]
    if not_dirs:
        return _fail(args, EXIT_USAGE, "not a directory: " + ", ".join(not_dirs) + " (create it first, or check "
                     "the spelling)", config=str(path))
    unwritable = [f for f in given if any(0xD800 <= ord(c) <= 0xDFFF for c in f)]
    if unwritable:  # undecodable bytes in a name: a TOML file holds only Unicode text
        return _fail(args, EXIT_USAGE, "a folder name that is not valid UTF-8 cannot go into config.toml: "
                     + ", ".join(f.encode("utf-8", "backslashreplace").decode() for f in unwritable)
                     + " (rename it, or watch a folder above it)", config=str(path))
    if path.exists() and not args.force:
        return _fail(args, EXIT_CANTCREAT, f"{path} exists: keeping it (edit it, or pass --force to replace it "
                     "with a fresh one)", config=str(path))
    folders = given or ["~/Pictures"]
    text = render(folders)
    tomllib.loads(text)  # what is written must load; a broken template is a bug, not the user's problem
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        return _fail(args, EXIT_CANTCREAT, f"cannot write {path}: {exc.strerror}", config=str(path))
    watched = [str(f.path) for f in config_mod.load(path, check_folders=False).library.folders]
    missing = [f for f in watched if not os.path.isdir(f)]
    if args.json:
        print(json.dumps({"written": True, "config": str(path), "folders": watched, "missing_folders": missing,
                          "next": [command for command, _ in NEXT_STEPS]}, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(f"wrote {path}, watching {', '.join(watched)}")
    for folder in missing:
        print(f"  {folder} does not exist yet: create it, or run `pictod init --force FOLDER...` with others")
    print("every other key is shown there with its default, commented out. Next:")
    width = max(len(command) for command, _ in NEXT_STEPS) + 2
    for command, what in NEXT_STEPS:
        print(f"  {command:<{width}}{what}")
    return EXIT_OK


def register(sub: Any, common: Any) -> None:
    """Add `pictod init` to the subcommand parsers; `common` adds --config/--json."""
    p = sub.add_parser("init", help="write ~/.config/pictod/config.toml: the folders to watch, every other key "
                       "with its default", description="Write a config file watching FOLDERs (default: "
                       "~/Pictures), with every other key shown commented out at its default. Writes to --config "
                       "PATH, else $PICTOD_CONFIG, else ~/.config/pictod/config.toml. Exit 73 if the file exists "
                       "(unless --force), 2 if a FOLDER is not a directory.")
    common(p)
    p.add_argument("folders", nargs="*", metavar="FOLDER", help="folders to watch (default: ~/Pictures)")
    p.add_argument("--force", action="store_true", help="replace an existing config file")
    p.set_defaults(func=_cmd_init)
