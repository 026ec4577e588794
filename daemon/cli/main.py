"""The `pictod` command line: the parser and the entry point. Each command group is its own module (`daemon_cmds`,
`people_cmds`, `faces_cmds`, `photo_cmds`, `files_cmds`, `metadata_cmds`, and `daemon/web/command.py`), over
the shared helpers of `output.py`; every handler calls the use cases of `daemon/library/`.

Exit codes: 0 success; 1 unexpected failure; 2 usage error or unknown id; 3 `status`: no daemon running;
65 `analyze`: at least one photo could not be analysed; 74 database error; 75 another daemon owns the
database; 78 configuration or model error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from daemon.cli import daemon_cmds, faces_cmds, files_cmds, metadata_cmds, people_cmds, photo_cmds
from daemon.cli.output import EXIT_INTERRUPTED, EXIT_OK, add_common
from daemon.errors import PictodError


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    parser = argparse.ArgumentParser(
        prog="pictod",
        description="pictod: watches photo folders, finds objects and faces, groups faces into people.",
        epilog="exit codes: 0 ok, 2 usage/unknown id, 3 status: daemon not running, 65 a photo failed, "
        "74 database error, 75 another daemon owns the database, 78 config/model error",
    )
    parser.add_argument("--version", action="version", version="pictod " + _version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    daemon_cmds.register(sub)
    people_cmds.register(sub)
    faces_cmds.register(sub)
    photo_cmds.register(sub)
    daemon_cmds.register_recluster(sub)

    from daemon.web import command as web_command  # registering `pictod web` loads no web library

    web_command.register(sub, add_common)
    files_cmds.register(sub)
    metadata_cmds.register(sub)
    from daemon.cli import review as review_cmds  # the same-person review (issue 21)

    review_cmds.register(sub)
    from daemon.cli import init, service  # pictod init, pictod service (issue 23)

    init.register(sub, add_common)
    service.register(sub, add_common)
    from daemon.cli import purge  # pictod purge (issue 22)

    purge.register(sub)
    from daemon.cli import places_cmds  # pictod places, pictod events (issue 25)

    places_cmds.register(sub)
    return parser


def _autocomplete(parser: argparse.ArgumentParser) -> None:
    # Only a shell asking for completions sets _ARGCOMPLETE: then argcomplete answers and exits here.
    if "_ARGCOMPLETE" in os.environ:
        import argcomplete

        argcomplete.autocomplete(parser)


def _version() -> str:
    from daemon import __version__
    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pictod` console script."""
    parser = build_parser()
    _autocomplete(parser)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PictodError as exc:
        print(f"pictod: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `pictod photos | head`: the reader left; not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
