"""Missing photos and roots (issue 22): removal that can be undone.

A photo whose last file vanished is not deleted: `photos.missing_since` gets the time (schema v7) and the photo
keeps its objects, faces and their people. With no file row it is already out of every search and count of
files; the counts of photos, faces and people skip it here and in `queries.status_counts`. The same bytes
coming back at any path find it by hash (`queries.link_existing` -> `restore`): the photo, its faces and their
people are back at once, nothing analysed. After the grace period (`library.keep_missing_days`), or by
`pictod purge`, `purge` deletes it for good through the ordinary path (`faces.drop_photos`).

The daemon also notes here which watched roots are missing and since when (a state row), so `pictod status`,
another process, can say so.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from daemon.store import faces
from daemon.store.base import chunks, get_state, marks, now, set_state, visible
from daemon.store.rows import RemoveResult

LOST_ROOTS = "lost_roots"  # state key: {root: ISO time it went missing}, kept by the running daemon
MOUNTS = "mounts_below"  # state key: {root: [mount points below it]}, so a restart knows a drive is away
BACKLOG = "backlog"  # state key: photo events the running daemon still has to handle (`status`)



def mark_missing(conn: sqlite3.Connection, photo_ids: Iterable[int]) -> RemoveResult:
    """The photos of `photo_ids` that no file points at any more become missing (their faces stay)."""
    wanted = sorted(set(photo_ids))
    orphans: list[int] = []
    for chunk in chunks(wanted):
        kept = {int(r[0]) for r in conn.execute(
            f"SELECT DISTINCT photo_id FROM files WHERE photo_id IN ({marks(len(chunk))})", chunk)}
        orphans += [p for p in chunk if p not in kept]
    stamp = now()
    for chunk in chunks(orphans):
        conn.execute(f"UPDATE photos SET missing_since = ? WHERE missing_since IS NULL AND id IN "
                     f"({marks(len(chunk))})", (stamp, *chunk))
    return RemoveResult(photos_missing=tuple(orphans))


def restore(conn: sqlite3.Connection, photo_id: int) -> bool:
    """A missing photo's bytes are back: it is a photo again (True if it was missing)."""
    row = conn.execute("UPDATE photos SET missing_since = NULL WHERE id = ? AND missing_since IS NOT NULL "
                       "RETURNING id", (photo_id,)).fetchone()
    return row is not None


@dataclass(frozen=True)
class MissingPhoto:
    """A photo whose files are gone, kept for the grace period (`pictod purge --dry-run`)."""

    id: int
    content_hash: str
    missing_since: str  # ISO 8601 UTC
    faces: int
    named_people: tuple[str, ...]  # names of people with a face on it


def missing_photos(conn: sqlite3.Connection, *, before: str | None = None) -> list[MissingPhoto]:
    """The missing photos (missing since before `before`, an ISO time, when given), oldest first."""
    rows = conn.execute(
        "SELECT p.id, p.content_hash, p.missing_since, "
        "(SELECT count(*) FROM faces f WHERE f.photo_id = p.id), "
        "(SELECT group_concat(DISTINCT pe.name) FROM faces f JOIN people pe ON pe.id = f.person_id "
        " WHERE f.photo_id = p.id AND pe.name IS NOT NULL) "
        "FROM photos p WHERE p.missing_since IS NOT NULL AND (? IS NULL OR p.missing_since < ?) "
        "ORDER BY p.missing_since, p.id", (before, before)).fetchall()
    return [MissingPhoto(id=int(r[0]), content_hash=str(r[1]), missing_since=str(r[2]), faces=int(r[3]),
                         named_people=tuple(sorted(str(r[4]).split(","))) if r[4] else ()) for r in rows]


def cutoff(keep_days: float, *, at: datetime | None = None) -> str:
    """The ISO time before which a missing photo is past its grace period."""
    moment = (at or datetime.now(UTC)) - timedelta(days=keep_days)
    return moment.isoformat(timespec="seconds")


def purge(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> RemoveResult:
    """Delete these photos for good if they are still missing (a photo restored meanwhile stays)."""
    still: list[int] = []
    for chunk in chunks(sorted(set(photo_ids))):
        still += [int(r[0]) for r in conn.execute(
            f"SELECT id FROM photos WHERE missing_since IS NOT NULL AND id IN ({marks(len(chunk))})", chunk)]
    if not still:
        return RemoveResult()
    return faces.drop_photos(conn, still)


# ----------------------------------------------------------------------------------------------- counts


@dataclass(frozen=True)
class MissingCounts:
    """What `status` adds about missing photos and roots."""

    photos_missing: int
    people_missing: int  # people whose every face is on a missing photo (kept, names and all)
    oldest_missing: str | None


def visible_people(conn: sqlite3.Connection, *, named: bool = False) -> int:
    """How many people have a face on a photo that is not missing (optionally: named ones only)."""
    return int(conn.execute(
        "SELECT count(*) FROM people pe WHERE EXISTS (SELECT 1 FROM faces f JOIN photos p ON p.id = f.photo_id "
        f"WHERE f.person_id = pe.id AND {visible(conn)})" + (" AND pe.name IS NOT NULL" if named else "")
    ).fetchone()[0])


def missing_counts(conn: sqlite3.Connection) -> MissingCounts:
    """Missing photos, people all of whose photos are missing, the oldest missing time."""
    if visible(conn) == "1":
        return MissingCounts(0, 0, None)
    photos, oldest = conn.execute(
        "SELECT count(*), min(missing_since) FROM photos WHERE missing_since IS NOT NULL").fetchone()
    if not photos:
        return MissingCounts(0, 0, None)
    people = conn.execute(
        "SELECT count(*) FROM people pe WHERE EXISTS (SELECT 1 FROM faces f WHERE f.person_id = pe.id) AND NOT "
        "EXISTS (SELECT 1 FROM faces f JOIN photos p ON p.id = f.photo_id WHERE f.person_id = pe.id AND "
        "p.missing_since IS NULL)").fetchone()[0]
    return MissingCounts(int(photos), int(people), oldest)


# ----------------------------------------------------------------------------------------------- roots


def set_lost_roots(conn: sqlite3.Connection, roots: dict[str, str]) -> None:
    """Record the daemon's missing roots ({root: since}); an empty dict: none."""
    set_state(conn, LOST_ROOTS, json.dumps(roots, sort_keys=True))


def lost_roots(conn: sqlite3.Connection) -> dict[str, str]:
    """The missing roots the daemon last recorded ({root: ISO time since})."""
    return {str(k): str(v) for k, v in _json_state(conn, LOST_ROOTS).items()}


def _json_state(conn: sqlite3.Connection, key: str) -> dict[str, object]:
    raw = get_state(conn, key)
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def set_mounts(conn: sqlite3.Connection, mounts: dict[str, list[str]]) -> None:
    """Record the mount points known below each root."""
    set_state(conn, MOUNTS, json.dumps(mounts, sort_keys=True))


def known_mounts(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """The mount points below each root as last recorded."""
    return {str(k): [str(m) for m in v] for k, v in _json_state(conn, MOUNTS).items() if isinstance(v, list)}


def set_backlog(conn: sqlite3.Connection, count: int) -> None:
    """The running daemon's backlog (queued and still to queue), for `status`."""
    set_state(conn, BACKLOG, str(count))


def backlog(conn: sqlite3.Connection) -> int:
    """The backlog the daemon last recorded."""
    raw = get_state(conn, BACKLOG)
    return int(raw) if raw and raw.isdigit() else 0
