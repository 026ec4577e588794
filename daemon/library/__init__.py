"""The use cases both front ends call, and nothing else: the CLI (`daemon/cli/`) and the web app (`daemon/web/`)
parse and format; every rule is here once.

- `reads.py`: people, a person, faces, tags, status figures, failed files
- `photos.py`: the photo search and one photo with its files
- `suggestions.py`: suggestions, accept, accept all (the rules: rejected suggestions never return, one face per
  photo, pinned faces stay)
- `corrections.py`: name, merge, move, reject, new person (and the XMP import the daemon runs)
- `upkeep.py`: retry failed files, write sidecars, recluster
- `sheet.py`: the contact sheet of `pictod people show --sheet`

Each takes the config it needs; open the library with `open_library`.
"""

from __future__ import annotations

from pathlib import Path

from daemon.errors import PictodError
from daemon.store import Store


class NoLibrary(PictodError):
    """No database yet at the configured path."""


def open_library(path: Path, *, read_only: bool = False) -> Store:
    """The library at `path`: read-only (never migrated, never written) or in full; NoLibrary when there is no
    database there yet."""
    if not path.exists():
        raise NoLibrary(f"no library at {path} yet: start the daemon or run `pictod scan` first")
    return Store.open(path, read_only=read_only)
