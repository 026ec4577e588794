"""The SQL of events (schema v10, issue 25): photos grouped by their EXIF capture times and GPS positions.

The rule is pairwise and local: two photos next to each other in time belong to one event when the pause between
them is at most `gap_s` seconds and, where both have a position, they are at most `split_km` apart. So an event
is a run of the photos sorted by time, and a photo arriving or leaving can change only the events beside it.
`update` keeps them so, incrementally: it takes the photos that arrived (present, with a capture time, in no
event) and those that left (missing or purged), regroups only the events around them and maps
the new groups onto the old ids by overlap, the user-named events first, so a name (`events.name`) survives a
regrouping as a person's does a recluster, and two named events are never merged into one (either name would
be lost); an event whose photos all left is deleted.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from daemon.errors import NotFoundError
from daemon.store.base import INT64_MAX, chunks, has_column, km, marks, now, visible

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


@dataclass(frozen=True)
class Member:
    """A photo in the events' sequence."""

    photo_id: int
    taken_at: str  # 'YYYY-MM-DDTHH:MM:SS', the capture time as the camera wrote it
    lat: float | None
    lon: float | None
    event_id: int | None = None  # None: just arrived


@dataclass(frozen=True)
class EventRow:
    """An event: its id, the user's name (if any), pictod's name, its time span and photo count."""

    id: int
    name: str | None
    auto_name: str
    start_at: str
    end_at: str
    photos: int
    title: str  # what to show: the user's name, else pictod's


def _event(r: tuple[object, ...]) -> EventRow:
    name = None if r[1] is None else str(r[1])
    return EventRow(int(r[0]), name, str(r[2]), str(r[3]), str(r[4]), int(r[5]), name or str(r[2]))  # type: ignore[call-overload]


@dataclass
class EventChanges:
    """What one `update` did."""

    arrived: int = 0
    left: int = 0
    regrouped: int = 0  # events written (changed, created)
    created: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


def has_events(conn: sqlite3.Connection) -> bool:
    """The library has the events tables (schema v10)."""
    return has_column(conn, "events", "id")


_EPOCH = datetime(1970, 1, 1)
# The shape of a capture time an event can hold (what the EXIF reader stores); anything else never arrives, so
# it cannot hold a batch's places either.
_TIME = "[0-9][0-9][0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-6][0-9]*"


def _seconds(text: str) -> float:
    # As written (wall-clock time, no zone): two photos' pause, not a moment, so no local-time conversion.
    return (datetime.fromisoformat(text[:19]) - _EPOCH).total_seconds()


def _km(a: Member, b: Member) -> float | None:
    return km(a.lat, a.lon, b.lat, b.lon)


def linked(a: Member, b: Member, gap_s: float, split_km: float) -> bool:
    """The rule: consecutive photos `a` <= `b` are in one event."""
    if _seconds(b.taken_at) - _seconds(a.taken_at) > gap_s:
        return False
    km = _km(a, b)
    return km is None or km <= split_km


def segment(members: list[Member], gap_s: float, split_km: float,
            breaks: frozenset[int] = frozenset(), named: frozenset[int] = frozenset()) -> list[list[Member]]:
    """Members sorted by time -> the runs the rule makes; `breaks` are indices i where i-1 and i never link
    (photos of other events lie between them); `named` are the events the user named: a run never takes the
    photos of two of them (a user's name is a correction: a photo that bridges two named events joins the
    first, and neither name is lost)."""
    groups: list[list[Member]] = []
    owner: int | None = None  # the named event the current run holds, if any
    for i, m in enumerate(members):
        mine = m.event_id if m.event_id in named else None
        if groups and i not in breaks and linked(members[i - 1], m, gap_s, split_km) \
                and (mine is None or owner is None or mine == owner):
            groups[-1].append(m)
            owner = owner if owner is not None else mine
        else:
            groups.append([m])
            owner = mine
    return groups


def _month_span(start: str, end: str) -> str:
    y1, m1, y2, m2 = int(start[:4]), int(start[5:7]), int(end[:4]), int(end[5:7])
    if (y1, m1) == (y2, m2):
        return f"{MONTHS[m1 - 1]} {y1}"
    if y1 == y2:
        return f"{MONTHS[m1 - 1]}–{MONTHS[m2 - 1]} {y1}"
    return f"{MONTHS[m1 - 1]} {y1}–{MONTHS[m2 - 1]} {y2}"


def auto_name(conn: sqlite3.Connection, photo_ids: list[int], start: str, end: str) -> str:
    """'Skagen, June 2019': the commonest place of the photos (city, else region, else country) and the months."""
    names: Counter[str] = Counter()
    if has_column(conn, "photo_places", "photo_id"):
        for chunk in chunks(photo_ids):
            for city, region, country in conn.execute(
                    f"SELECT city, region, country FROM photo_places WHERE source != 'none' AND photo_id IN "
                    f"({marks(len(chunk))})", chunk):
                name = city or region or country
                if name:
                    names[name] += 1
    when = _month_span(start, end)
    if not names:
        return when
    top = sorted(names.items(), key=lambda kv: (-kv[1], kv[0]))
    place = top[0][0] if len(top) == 1 or top[0][1] > top[1][1] else " & ".join(sorted(n for n, _ in top[:2]))
    return f"{place}, {when}"


def _members_of(conn: sqlite3.Connection, event_ids: set[int]) -> list[Member]:
    result: list[Member] = []
    ids = sorted(event_ids)
    for chunk in chunks(ids):
        result += [Member(int(r[0]), str(r[1]), r[2], r[3], int(r[4])) for r in conn.execute(
            f"SELECT photo_id, taken_at, lat, lon, event_id FROM event_photos WHERE event_id IN "
            f"({marks(len(chunk))})", chunk)]
    return result


def _neighbours(conn: sqlite3.Connection, taken_at: str, photo_id: int) -> set[int]:
    """The events of the photos just before and just after a place in the sequence, which is ordered by (capture
    time, photo id) as `segment` orders it: photos taken in the same second are in that order too."""
    found = set()
    for sql in ("SELECT event_id FROM event_photos WHERE (taken_at, photo_id) < (?, ?) "
                "ORDER BY taken_at DESC, photo_id DESC LIMIT 1",
                "SELECT event_id FROM event_photos WHERE (taken_at, photo_id) > (?, ?) "
                "ORDER BY taken_at, photo_id LIMIT 1"):
        row = conn.execute(sql, (taken_at, photo_id)).fetchone()
        if row is not None:
            found.add(int(row[0]))
    return found


def update(conn: sqlite3.Connection, *, gap_s: float, split_km: float, limit: int = 5000) -> EventChanges:
    """Bring the events in step with the photos that arrived and left since the last call (at most `limit`
    arrivals per call: call again while `arrived` == limit). In the caller's transaction."""
    changes = EventChanges()
    if not has_events(conn):
        return changes
    affected: set[int] = set()
    # Left: missing (the partial index of missing photos) or purged (ids no photo row has). A photo's capture time
    # never changes: it is its bytes'.
    left = conn.execute(
        "SELECT ep.photo_id, ep.event_id, ep.taken_at FROM photos p JOIN event_photos ep ON ep.photo_id = p.id "
        "WHERE p.missing_since IS NOT NULL").fetchall()
    left += conn.execute(
        "SELECT photo_id, event_id, taken_at FROM event_photos WHERE photo_id NOT IN (SELECT id FROM photos)"
    ).fetchall()
    for photo_id, event_id, _taken in left:
        conn.execute("DELETE FROM event_photos WHERE photo_id = ?", (photo_id,))
        affected.add(int(event_id))
    for photo_id, _event, taken in left:  # the events on either side may now be next to each other
        affected |= _neighbours(conn, str(taken), int(photo_id))
    changes.left = len(left)
    # Arrived: present photos with a capture time that no event holds.
    arrived = [Member(int(r[0]), str(r[1]), r[2], r[3]) for r in conn.execute(
        f"SELECT p.id, substr(p.taken_at, 1, 19), p.gps_lat, p.gps_lon FROM photos p "
        f"WHERE NOT EXISTS (SELECT 1 FROM event_photos ep WHERE ep.photo_id = p.id) AND p.taken_at GLOB '{_TIME}' "
        f"AND {visible(conn)} AND EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id "
        f"AND +f.status = 'done') ORDER BY p.id LIMIT ?", (limit,))]
    arrived = [m for m in arrived if _valid_time(m.taken_at)]
    for m in arrived:
        affected |= _neighbours(conn, m.taken_at, m.photo_id)
    changes.arrived = len(arrived)
    if not arrived and not affected:
        _drop_parked(conn, changes)
        return changes
    members = sorted(_members_of(conn, affected) + arrived, key=lambda m: (m.taken_at, m.photo_id))
    breaks = _breaks(conn, members, affected)
    named = _named(conn, affected)
    _write(conn, segment(members, gap_s, split_km, breaks, named), affected, named, changes)
    _drop_parked(conn, changes)
    return changes


def _valid_time(text: str) -> bool:
    try:
        _seconds(text)
    except (ValueError, OverflowError, OSError):
        return False
    return True


def _breaks(conn: sqlite3.Connection, members: list[Member], affected: set[int]) -> frozenset[int]:
    """Indices where an event outside the regrouped ones lies between two consecutive members."""
    breaks = set()
    others = sorted(affected)
    for i in range(1, len(members)):
        a, b = members[i - 1], members[i]
        if a.event_id is not None and a.event_id == b.event_id:
            continue  # one event's photos: nothing of another event lies between
        # Between in the sequence's order (capture time, then photo id): a photo of the same second counts too.
        args: list[object] = [a.taken_at, a.taken_at, a.photo_id, b.taken_at, b.taken_at, b.photo_id, *others]
        between = ("SELECT 1 FROM event_photos WHERE taken_at >= ? AND (taken_at, photo_id) > (?, ?) "
                   "AND taken_at <= ? AND (taken_at, photo_id) < (?, ?)")
        row = conn.execute(f"{between} AND event_id NOT IN ({marks(len(others))}) LIMIT 1" if others else
                           f"{between} LIMIT 1", args if others else args[:6]).fetchone()
        if row is not None:
            breaks.add(i)
    return frozenset(breaks)


def _named(conn: sqlite3.Connection, event_ids: set[int]) -> frozenset[int]:
    """Those of these events the user named."""
    return frozenset(int(r[0]) for chunk in chunks(sorted(event_ids)) for r in conn.execute(
        f"SELECT id FROM events WHERE name IS NOT NULL AND id IN ({marks(len(chunk))})", chunk))


# A named event whose photos all went missing (an unmounted drive) is parked, not deleted: kept with no photos,
# out of the lists, while a missing photo lies in its span; the photos coming back take it (and its name) again.
_MISSING_IN_SPAN = ("EXISTS (SELECT 1 FROM photos p WHERE p.missing_since IS NOT NULL "
                    "AND substr(p.taken_at, 1, 19) BETWEEN events.start_at AND events.end_at)")


def _drop_parked(conn: sqlite3.Connection, changes: EventChanges) -> None:
    """Parked events with no missing photo left in their span (purged, or back in other events) go for good."""
    for (event_id,) in conn.execute(f"SELECT id FROM events WHERE photo_count = 0 AND NOT {_MISSING_IN_SPAN}"
                                    ).fetchall():
        conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
        changes.deleted.append(int(event_id))


def _write(conn: sqlite3.Connection, groups: list[list[Member]], affected: set[int], named: frozenset[int],
           changes: EventChanges) -> None:
    """Map the groups onto the old events (the `named` ones first, then by overlap; a parked named event by the
    photos in its span), create, park and delete the rest, write."""
    parked = [(int(r[0]), str(r[1]), str(r[2])) for r in conn.execute(
        "SELECT id, start_at, end_at FROM events WHERE photo_count = 0 AND name IS NOT NULL")]
    pairs = []
    for gi, group in enumerate(groups):
        for event_id, overlap in Counter(m.event_id for m in group if m.event_id is not None).items():
            pairs.append((event_id not in named, -overlap, event_id, gi))
        for event_id, start, end in parked:
            back = sum(1 for m in group if m.event_id is None and start <= m.taken_at <= end)
            if back:
                pairs.append((False, -back, event_id, gi))
    pairs.sort()
    owner: dict[int, int] = {}
    used: set[int] = set()
    for _unnamed, _overlap, event_id, gi in pairs:
        if gi not in owner and event_id not in used:
            owner[gi] = event_id
            used.add(event_id)
    stamp = now()
    for gi, group in enumerate(groups):
        start, end = group[0].taken_at, group[-1].taken_at
        ids = [m.photo_id for m in group]
        title = auto_name(conn, ids, start, end)
        if gi in owner:
            event_id = owner[gi]
            conn.execute("UPDATE events SET auto_name = ?, start_at = ?, end_at = ?, photo_count = ?, updated_at = ? "
                         "WHERE id = ?", (title, start, end, len(group), stamp, event_id))
        else:
            cursor = conn.execute("INSERT INTO events (auto_name, start_at, end_at, photo_count, updated_at) "
                                  "VALUES (?, ?, ?, ?, ?)", (title, start, end, len(group), stamp))
            event_id = int(cursor.lastrowid or 0)
            changes.created.append(event_id)
        changes.regrouped += 1
        moved = [(event_id, m.photo_id) for m in group if m.event_id is not None and m.event_id != event_id]
        conn.executemany("UPDATE event_photos SET event_id = ? WHERE photo_id = ?", moved)
        conn.executemany("INSERT INTO event_photos (photo_id, event_id, taken_at, lat, lon) VALUES (?, ?, ?, ?, ?)",
                         [(m.photo_id, event_id, m.taken_at, m.lat, m.lon) for m in group if m.event_id is None])
    for event_id in sorted(affected - used):
        if event_id in named and conn.execute(f"SELECT 1 FROM events WHERE id = ? AND {_MISSING_IN_SPAN}",
                                              (event_id,)).fetchone():
            conn.execute("UPDATE events SET photo_count = 0, updated_at = ? WHERE id = ?", (stamp, event_id))
            continue
        conn.execute("DELETE FROM events WHERE id = ?", (event_id,))
        changes.deleted.append(event_id)


def list_events(conn: sqlite3.Connection) -> list[EventRow]:
    """Every event, newest first."""
    if not has_events(conn):
        return []
    return [_event(r) for r in conn.execute(
        "SELECT id, name, auto_name, start_at, end_at, photo_count FROM events WHERE photo_count > 0 "
        "ORDER BY start_at DESC, id DESC")]


def event_row(conn: sqlite3.Connection, event_id: int) -> EventRow:
    """One event; NotFoundError for an unknown id (also one beyond SQLite's INTEGER range)."""
    r = None
    if 0 < event_id <= INT64_MAX and has_events(conn):  # a larger id names none (and would not bind)
        r = conn.execute("SELECT id, name, auto_name, start_at, end_at, photo_count FROM events WHERE id = ?",
                         (event_id,)).fetchone()
    if r is None:
        raise NotFoundError(f"no event {event_id} (see `pictod events`)")
    return _event(r)


def events_of(conn: sqlite3.Connection, photo_ids: list[int]) -> dict[int, int]:
    """photo id -> its event id, for the photos in one."""
    if not photo_ids or not has_events(conn):
        return {}
    result: dict[int, int] = {}
    for chunk in chunks(photo_ids):
        for photo_id, event_id in conn.execute(
                f"SELECT photo_id, event_id FROM event_photos WHERE photo_id IN ({marks(len(chunk))})", chunk):
            result[int(photo_id)] = int(event_id)
    return result


def refresh_names(conn: sqlite3.Connection, photo_ids: list[int]) -> None:
    """pictod's names of the events that hold these photos, made again (their places changed: another tool's
    XMP named one, or took its name out and the geocoder's came back)."""
    for event_id in sorted(set(events_of(conn, photo_ids).values())):
        members = [int(r[0]) for r in conn.execute("SELECT photo_id FROM event_photos WHERE event_id = ?",
                                                   (event_id,))]
        start, end = conn.execute("SELECT start_at, end_at FROM events WHERE id = ?", (event_id,)).fetchone()
        conn.execute("UPDATE events SET auto_name = ? WHERE id = ?",
                     (auto_name(conn, members, str(start), str(end)), event_id))


def rename(conn: sqlite3.Connection, event_id: int, name: str | None) -> EventRow:
    """Name (None: unname) an event; the name stays with it across regrouping."""
    event_row(conn, event_id)
    conn.execute("UPDATE events SET name = ?, updated_at = ? WHERE id = ?", (name, now(), event_id))
    return event_row(conn, event_id)
