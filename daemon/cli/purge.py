"""`pictod purge`: delete the missing photos for good (issue 22), registered by `daemon.cli.main.build_parser`.

A photo whose files vanished is kept, hidden, for `library.keep_missing_days` so that a drive coming back or a
file restored from a backup costs nothing; `purge` ends that wait now. The use case is
`daemon.library.purge.purge`.
"""

from __future__ import annotations

import argparse
from typing import Any

from daemon import config as config_mod
from daemon.cli.output import add_common, print_json, table, with_store

EXIT_OK = 0


def _cmd_purge(args: argparse.Namespace) -> int:
    from daemon.library import purge as purge_case

    def action(store: Any, cfg: config_mod.Config) -> int:
        report = purge_case.purge(store, dry_run=args.dry_run, older_than_days=args.older_than)
        if args.json:
            print_json(report)
            return EXIT_OK
        if not report.photos:
            print("no missing photos")
            return EXIT_OK
        print(table([[p.id, p.missing_since[:19].replace("T", " "), p.faces, ", ".join(p.named_people)]
                          for p in report.photos], ["photo", "missing since (UTC)", "faces", "named people"]))
        if report.dry_run:
            print(f"{len(report.photos)} missing photo(s) would be deleted with their faces (dry run: nothing "
                  f"changed; without --dry-run they go now, else after {cfg.library.keep_missing_days:g} days)")
        else:
            print(f"{report.purged} missing photo(s) deleted for good, {report.faces_removed} face(s), "
                  f"{report.people_pruned} person(s) left with no face")
        return EXIT_OK

    return with_store(args, action, read_only=args.dry_run)


def register(sub: Any) -> None:
    """Add `purge` to the subcommand parsers."""
    p = sub.add_parser(
        "purge", help="delete missing photos (files gone) for good, with their faces",
        description="A photo whose files all vanished is kept as missing for library.keep_missing_days "
        "(hidden from searches and counts, its faces and names kept) so that a drive coming back or a restored "
        "file needs no analysis. purge deletes the missing photos now. A folder on a drive that is away is "
        "not affected: its photos are not missing while the daemon knows the drive is away.",
        epilog="exit codes: 0 ok, 74 library unusable, 78 config error")
    add_common(p)
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, change nothing")
    p.add_argument("--older-than", type=float, metavar="DAYS", default=None,
                   help="only photos missing for more than DAYS days")
    p.set_defaults(func=_cmd_purge)
