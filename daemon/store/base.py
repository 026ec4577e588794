"""What every statement module of the store shares: state keys and rows, the time stamp, encodings, IN lists.

The `state` table holds small named values (counters, revisions, the last recluster); the constants below are
its keys. Paths are stored as BLOBs of `os.fsencode(path)`, embeddings as float32 BLOBs.
"""

from __future__ import annotations

import math
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T")

CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit (999 before 3.32)

# state keys
PEOPLE_REV = "people_rev"  # bumped by every transaction that changes people or face -> person links
FACES_REMOVED_REV = "faces_removed_rev"  # bumped whenever faces are deleted (the manager's index must drop them)
LAST_RECLUSTER = "last_recluster"
LAST_RECLUSTER_STATS = "last_recluster_stats"
PHOTOS_SINCE_RECLUSTER = "photos_since_recluster"  # the one recluster counter (see daemon/people/manager.py)
SETTLE_REV = "settle_rev"  # moved by triggers (schema v13) whenever what the places and events pass reads changes


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def clamp_ns(value: int) -> int:
    """A time in ns as SQLite can store it (issue 22: an mtime after 2262-04-11, or a huge negative one, does
    not fit an INTEGER); compare disk times through this too, so such a file is not "changed" at every start."""
    return min(max(value, INT64_MIN), INT64_MAX)


def now() -> str:
    """Current UTC time, ISO 8601 to the second (every stored time stamp)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def enc(path: str) -> bytes:
    """A path as stored."""
    return os.fsencode(path)


def dec(raw: bytes) -> str:
    """A stored path back to str (surrogateescape for non-UTF-8 bytes)."""
    return os.fsdecode(bytes(raw))


def vec(blob: bytes) -> NDArray[np.float32]:
    """An embedding BLOB back to a float32 vector."""
    return np.frombuffer(blob, dtype=np.float32)


def blob(array: NDArray[np.float32]) -> bytes:
    """A float32 vector to its BLOB."""
    return np.ascontiguousarray(array, dtype=np.float32).tobytes()


def marks(n: int) -> str:
    """`?, ?, ...` for an IN list of n values."""
    return ",".join("?" * n)


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most `size` values, one per IN (...) statement."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def get_state(conn: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
    """One value from the state table."""
    row = conn.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
    return default if row is None else str(row[0])


def set_state(conn: sqlite3.Connection, key: str, value: str) -> None:
    """Set one value in the state table."""
    conn.execute("INSERT INTO state (key, value) VALUES (?, ?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))


def bump(conn: sqlite3.Connection, key: str, by: int = 1) -> int:
    """Increment an integer state value; return the new value."""
    value = int(get_state(conn, key, "0") or 0) + by
    set_state(conn, key, str(value))
    return value


def get_int(conn: sqlite3.Connection, key: str) -> int:
    """An integer state value (0 if unset)."""
    return int(get_state(conn, key, "0") or 0)


# A photo's sidecar must be written again: `dirty` set, its generation bumped (a write that read an older one leaves
# it dirty), failures forgotten (a change deserves a prompt try).
_DIRTY = ("INSERT INTO photo_metadata (photo_id, dirty, dirty_gen) {select} ON CONFLICT (photo_id) DO UPDATE SET "
          "dirty = 1, dirty_gen = dirty_gen + 1, write_failures = 0, retry_at = NULL")


def mark_dirty(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> None:
    """These photos need their sidecars rewritten (`store/metadata.py` drains them)."""
    wanted = sorted(set(photo_ids))
    for chunk in chunks(wanted):
        conn.execute(_DIRTY.format(select=f"SELECT id, 1, 1 FROM photos WHERE id IN ({marks(len(chunk))}) AND true"),
                     chunk)


def mark_all_dirty(conn: sqlite3.Connection) -> None:
    """Every photo with a file needs its sidecar brought in step (`pictod metadata write --all`)."""
    conn.execute(_DIRTY.format(select="SELECT DISTINCT photo_id, 1, 1 FROM files WHERE photo_id IS NOT NULL "
                                      "AND status = 'done'"))


class Connection(sqlite3.Connection):
    """The store's connections (`db.connect`, `db.connect_readonly`): sqlite3's, keeping the columns of each table
    it was asked about (`has_column`), so a query asks the catalogue once per connection, not per call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.columns: dict[str, frozenset[str]] = {}


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    """Whether a table has a column (a read-only look at an older library may lack a newer one). The schema
    changes only by migrations, which run before any reader and forget a connection's answers
    (`forget_columns`); a plain sqlite3 connection is asked each time."""
    known = conn.columns if isinstance(conn, Connection) else None
    columns = None if known is None else known.get(table)
    if columns is None:
        columns = frozenset(str(r[1]) for r in conn.execute(f"PRAGMA table_info({table})"))
        if known is not None:
            known[table] = columns
    return column in columns


def forget_columns(conn: sqlite3.Connection) -> None:
    """The schema of this connection changed (a migration ran on it): ask the catalogue again."""
    if isinstance(conn, Connection):
        conn.columns.clear()


def visible(conn: sqlite3.Connection) -> str:
    """The SQL condition of a photo that is not missing (issue 22; the photos table aliased p); "1" on a library
    older than schema v9, which readers open without upgrading it."""
    return "p.missing_since IS NULL" if has_column(conn, "photos", "missing_since") else "1"


EARTH_KM = 6371.0088  # the mean Earth radius


def km(lat1: float | None, lon1: float | None, lat2: float | None, lon2: float | None) -> float | None:
    """Great-circle (haversine) distance in km; None when either position is missing."""
    if lat1 is None or lon1 is None or lat2 is None or lon2 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))
