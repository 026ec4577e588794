"""`pictod` subcommands: argument parsing, human and --json output, exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import structlog

from daemon import config as config_mod
from daemon import logs
from daemon.errors import PictodError


def _cmd_run(args: argparse.Namespace) -> int:
    cfg = config_mod.load(args.config)
    logs.setup(level=cfg.log.level, fmt=cfg.log.format, file=cfg.log.file)
    structlog.get_logger().info("config_loaded", path=str(cfg.source))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(prog="pictod", description="Photo library daemon: objects, faces, people.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("--config", help="config file (default: $PICTOD_CONFIG, ~/.config/pictod, ./config.toml)")
    run.set_defaults(func=_cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pictod` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except PictodError as exc:
        print(f"pictod: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
