"""`pictod metadata write`: bring XMP sidecars in step with pictod's named people once, with or without a daemon
(`daemon/library/upkeep.py`'s `write_sidecars`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon import config as config_mod
from daemon.cli.output import EXIT_FAILED, EXIT_OK, add_common, print_json, safe, writer

if TYPE_CHECKING:
    from daemon.store import Store


def _write(args: argparse.Namespace, store: Store, cfg: config_mod.Config) -> int:
    from daemon.library import upkeep
    stats = upkeep.write_sidecars(store, cfg.metadata, None if args.all else args.photos)
    if args.json:
        print_json(upkeep.sidecar_report(stats))
    else:
        print(f"sidecars: {stats.written} written, {stats.unchanged} unchanged, {stats.removed} removed, "
              f"{stats.skipped} skipped ({stats.photos} photos)")
        for item in stats.files:
            if item["status"] == "skipped":
                print(f"skipped: {safe(str(Path(item['sidecar'])))}")
    return EXIT_FAILED if stats.skipped else EXIT_OK


def register(sub: Any) -> None:
    """Add `metadata write`."""
    meta = sub.add_parser("metadata", help="XMP metadata: write sidecars now")
    msub = meta.add_subparsers(dest="metadata_command", required=True, metavar="ACTION")
    p = msub.add_parser("write", help="write pictod's named people into photo.jpg.xmp sidecars now "
                                      "(never touches the photos)")
    add_common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every photo in the library")
    which.add_argument("photos", nargs="*", metavar="PHOTO", default=[], help="photo files in the library")
    p.set_defaults(func=writer(_write))
