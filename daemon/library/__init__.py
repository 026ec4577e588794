"""The use cases both front ends call, and nothing else: the CLI (`daemon/cli/`) and the web app (`daemon/web/`)
parse and format; every rule is here once.

- `reads.py`: people, a person, faces, tags, status figures, failed files
- `photos.py`: the photo search and one photo with its files
- `suggestions.py`: suggestions, accept, accept all (the rules: rejected suggestions never return, one face per
  photo, pinned faces stay)
- `corrections.py`: name, merge, move, reject, new person (and the XMP import the daemon runs)
- `upkeep.py`: retry failed files, write sidecars, recluster
- `sheet.py`: the contact sheet of `pictod people show --sheet`

Each takes the config it needs; open the library with `open_library`; `plain` turns any result into JSON values
(the CLI's --json and the web app's JSON answers are the same data). This module imports nothing heavy: every
command imports it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daemon.errors import PictodError

if TYPE_CHECKING:
    from daemon.store import Store


class NoLibrary(PictodError):
    """No database yet at the configured path."""


def open_library(path: Path, *, read_only: bool = False) -> Store:
    """The library at `path`: read-only (never migrated, never written) or in full; NoLibrary when there is no
    database there yet."""
    if not path.exists():
        raise NoLibrary(f"no library at {path} yet: start the daemon or run `pictod scan` first")
    from daemon.store import Store
    return Store.open(path, read_only=read_only)


def plain(value: Any) -> Any:
    """A use case's result as JSON values: dataclasses as objects, tuples as lists, paths as text, numpy values
    as numbers, floats rounded to 4 decimals."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in (sorted(value) if isinstance(value, set | frozenset) else value)]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float):
        return round(value, 4)
    return value
