"""The SQL of the timeline (the web app's Photos page, issue 25): months with their photo counts, the photos of
a stretch of time, and the facets' values with counts, each under a photo search's filter (`PhotoFilter`, whose
WHERE clause is `search.photo_where`'s: one filter, one date rule, for the CLI, the search and the timeline).

Every read is over `photo_dates` (schema v12) as `t`, so its indexes answer: months are grouped on
`photo_dates_taken` (capture times) and `photo_dates_file` (file times, turned into local months at read time);
a month's photos are a range of those indexes; facets count on the covering indexes `faces_person` and
`objects_label`, and with no condition at all they count every face or object and take away those of the
photos no search shows (`photo_dates_hidden`), without looking at each photo. With a condition, every facet
under it is one statement over a CTE of its photo ids, the condition evaluated once (`facet_counts`; with the
months for a filter on tags or people, `months_and_facets`), and a filter keeping many photos scans the
covering indexes in value order probing those ids, and pages through a date range looking a tag or a person up
per photo (`photo_where(per_photo=True)`): bench/results.md, "The Photos timeline at 100,000 photos".
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Literal

from daemon.store import events as events_sql
from daemon.store import places as places_sql
from daemon.store.base import chunks, has_column, marks
from daemon.store.search import (
    DATE_SQL,
    LOCAL_FILE_TIME,
    SHOWN,
    PhotoFilter,
    date_range,
    person_groups,
    photo_where,
    photos_from,
    reads_photos,
)


@dataclasses.dataclass(frozen=True)
class TimelineItem:
    """One photo in the timeline: its id, its date by the search's rule, where the date came from, its format
    (what `thumbs.py` renders from; a video may be one some day)."""

    id: int
    date: str  # 'YYYY-MM-DDTHH:MM:SS'
    date_source: Literal["exif", "file"]
    format: str


@dataclasses.dataclass(frozen=True)
class FacetCount:
    """One value of a facet with the number of photos the filter shows that have it."""

    value: int | str  # what goes into the filter's field: a person id, a tag
    label: str  # what a page shows
    count: int


def _where(conn: sqlite3.Connection, flt: PhotoFilter, *,
           per_photo: bool = False) -> tuple[str, str, list[object]]:
    """(FROM, WHERE clause, arguments) of the photos the filter shows; `photos` is joined only when a condition
    reads its columns (camera, GPS)."""
    clause, args, _distance = photo_where(conn, flt, per_photo=per_photo)
    return photos_from(conn, photos=reads_photos(clause)), clause, args


def months(conn: sqlite3.Connection, flt: PhotoFilter) -> list[tuple[str, int]]:
    """('YYYY-MM', photos) of every month with a photo the filter shows, newest first."""
    source, clause, args = _where(conn, flt)
    counts: dict[str, int] = {}
    if "SELECT" in clause:
        # A condition reading other tables (a tag, a person: a list of photo ids SQLite builds first) is read
        # once, the months grouped in one pass over what it keeps.
        rows = conn.execute(f"SELECT substr({DATE_SQL}, 1, 7) AS month, count(*) FROM {source}{clause} "
                            "GROUP BY month", args)
    else:  # capture months in the order of their index, file months turned into local months
        rows = conn.execute(
            f"SELECT substr(t.taken, 1, 7) AS month, count(*) FROM {source}{clause} AND t.taken IS NOT NULL "
            f"GROUP BY month UNION ALL SELECT substr({LOCAL_FILE_TIME}, 1, 7) AS month, count(*) FROM "
            f"{source}{clause} AND t.taken IS NULL GROUP BY month", [*args, *args])
    for month, count in rows:
        if month is not None:  # a file time SQLite cannot put in a calendar
            counts[month] = counts.get(month, 0) + int(count)
    return sorted(counts.items(), reverse=True)


def _many(conn: sqlite3.Connection, matching: int | None) -> bool:
    """Whether a filter keeping `matching` photos (None: not known) keeps over 1/_MANY of the library (its size
    taken as its highest photo id: one index step, not a count; it only chooses a plan)."""
    if matching is None or not has_column(conn, "photo_dates", "file_ns"):
        return False
    return matching * _MANY > int(conn.execute("SELECT coalesce(max(photo_id), 0) FROM photo_dates").fetchone()[0])


def photos_between(conn: sqlite3.Connection, flt: PhotoFilter, start: str, end: str, *, offset: int = 0,
                   limit: int | None = None, matching: int | None = None) -> list[TimelineItem]:
    """The photos the filter shows dated in [start, end) ('YYYY-MM-DDTHH:MM:SS'), newest first (then the
    higher id), paged. `matching`: the filter's photos, when known: with many, the photos in the range are
    read first and a tag or person looked up for each."""
    source, clause, args = _where(conn, flt, per_photo=_many(conn, matching))
    if " JOIN photos p " not in source:
        source += " JOIN photos p ON p.id = t.photo_id"  # the format of each photo listed
    condition, more = date_range(start, end)
    rows = conn.execute(
        f"SELECT t.photo_id, {DATE_SQL} AS photo_date, t.taken IS NOT NULL, p.format FROM {source}{clause} "
        f"AND {condition} ORDER BY photo_date DESC, t.photo_id DESC LIMIT ? OFFSET ?",
        [*args, *more, -1 if limit is None else max(0, limit), max(0, offset)])
    return [TimelineItem(id=int(r[0]), date=str(r[1]), date_source="exif" if r[2] else "file", format=str(r[3]))
            for r in rows]


def _unfiltered(conn: sqlite3.Connection, flt: PhotoFilter) -> bool:
    """No condition at all (every shown photo), on a library with `photo_dates`."""
    clause, _args, _distance = photo_where(conn, flt)
    return clause == f" WHERE {SHOWN}" and has_column(conn, "photo_dates", "file_ns")


def _counts(conn: sqlite3.Connection, table: str, column: str) -> dict[int | str, int]:
    """value -> shown photos with a row of `table` having that value in `column`, with no condition at all."""
    # Every row's photo counted, less those of the photos no search shows (few: missing, being analysed;
    # CROSS JOIN: start from those, on `photo_dates_hidden`).
    every = conn.execute(f"SELECT {column}, count(DISTINCT photo_id) FROM {table} WHERE {column} IS NOT NULL "
                         f"GROUP BY {column}").fetchall()
    hidden = dict(conn.execute(
        f"SELECT x.{column}, count(DISTINCT x.photo_id) FROM photo_dates t CROSS JOIN {table} x ON "
        f"x.photo_id = t.photo_id WHERE t.file_ns IS NULL AND x.{column} IS NOT NULL GROUP BY x.{column}"
    ).fetchall())
    return {value: n - hidden.get(value, 0) for value, n in every if n > hidden.get(value, 0)}


# Each facet's values with counts over `m`, the ids of the photos a filter shows (one CTE, evaluated once for
# every facet of a statement): (facet, value, second value or NULL, photos). Each is read one of two ways: its
# table scanned probing `m` (the faces' and objects' covering indexes in value order: no sort; the cheaper way
# when the filter keeps many photos, or a table has fewer rows than it keeps), or from `m`, sorted.
_SCAN = "+x.photo_id IN (SELECT id FROM m)"
_OVER_IDS: dict[str, tuple[str, str]] = {
    "people": ("SELECT 'people', x.person_id, NULL, count(DISTINCT x.photo_id) FROM faces x WHERE {ids} AND "
               "x.person_id IS NOT NULL GROUP BY x.person_id",
               "SELECT 'people', x.person_id, NULL, count(DISTINCT x.photo_id) FROM m CROSS JOIN faces x ON "
               "x.photo_id = m.id WHERE x.person_id IS NOT NULL GROUP BY x.person_id"),
    "tags": ("SELECT 'tags', x.label, NULL, count(DISTINCT x.photo_id) FROM objects x WHERE {ids} AND "
             "x.label IS NOT NULL GROUP BY x.label",
             "SELECT 'tags', x.label, NULL, count(DISTINCT x.photo_id) FROM m CROSS JOIN objects x ON "
             "x.photo_id = m.id WHERE x.label IS NOT NULL GROUP BY x.label"),
    "places": ("SELECT 'places', x.city, x.country, count(*) FROM photo_places x WHERE {ids} AND "
               "x.source != 'none' GROUP BY x.city, x.country",
               "SELECT 'places', x.city, x.country, count(*) FROM m CROSS JOIN photo_places x ON "
               "x.photo_id = m.id WHERE x.source != 'none' GROUP BY x.city, x.country"),
    "events": ("SELECT 'events', x.event_id, NULL, count(*) FROM event_photos x WHERE {ids} GROUP BY x.event_id",
               "SELECT 'events', x.event_id, NULL, count(*) FROM m CROSS JOIN event_photos x ON "
               "x.photo_id = m.id GROUP BY x.event_id"),
    "months": ("SELECT 'months', m.month, NULL, count(*) FROM m GROUP BY m.month",) * 2,  # `months`' answer
}
_TABLES = {"places": "photo_places", "events": "event_photos"}  # one row per photo: scanned when fewer
_MANY = 8  # a filter keeping more than 1/_MANY of the photos counts faces and objects by scanning their indexes


def facet_counts(conn: sqlite3.Connection, flt: PhotoFilter, names: Sequence[str], *,
                 matching: int | None = None) -> dict[str, list[FacetCount]]:
    """Each named facet's ('people', 'tags', 'places', 'events') values with the number of photos the filter
    shows with them, most first, read in one statement over the filter's photos (`matching`: how many, when
    the caller knows: many make the scan of the covering indexes the cheaper way)."""
    names = _with_tables(conn, names)
    rows: dict[str, list[tuple[object, object, int]]] = {n: [] for n in names}
    if _unfiltered(conn, flt):
        for name in names:
            if name == "places":
                rows[name] = conn.execute(
                    "SELECT pp.city, pp.country, count(*) FROM photo_dates t JOIN photo_places pp ON "
                    f"pp.photo_id = t.photo_id WHERE {SHOWN} AND pp.source != 'none' GROUP BY pp.city, "
                    "pp.country").fetchall()
            else:
                table, column = {"people": ("faces", "person_id"), "tags": ("objects", "label"),
                                 "events": ("event_photos", "event_id")}[name]
                rows[name] = [(v, None, n) for v, n in _counts(conn, table, column).items()]
    elif names:
        _over_ids(conn, flt, names, rows, matching=matching)
    return _facet_values(conn, names, rows)


def months_and_facets(conn: sqlite3.Connection, flt: PhotoFilter, names: Sequence[str]
                      ) -> tuple[list[tuple[str, int]], dict[str, list[FacetCount]]] | None:
    """`months` and `facet_counts` in one statement, the condition read once, for a filter on tags or people
    (whose index counts bound how many photos it keeps: the scan or not of `facet_counts`); None for another."""
    if not (flt.tags or flt.people) or not has_column(conn, "photo_dates", "file_ns"):
        return None
    bounds = [int(conn.execute("SELECT count(*) FROM objects WHERE label = ?", [tag]).fetchone()[0])
              for tag in flt.tags]
    for group in person_groups(conn, flt.people):
        bounds.append(int(conn.execute(f"SELECT count(*) FROM faces WHERE person_id IN ({marks(len(group))})",
                                       group).fetchone()[0]))
    names = _with_tables(conn, names)
    rows: dict[str, list[tuple[object, object, int]]] = {n: [] for n in [*names, "months"]}
    _over_ids(conn, flt, [*names, "months"], rows, matching=min(bounds))
    counts: dict[str, int] = {}
    for month, _second, n in rows["months"]:
        if month is not None:  # a file time SQLite cannot put in a calendar
            counts[str(month)] = counts.get(str(month), 0) + n
    return sorted(counts.items(), reverse=True), _facet_values(conn, names, rows)


def _over_ids(conn: sqlite3.Connection, flt: PhotoFilter, names: Sequence[str],
              rows: dict[str, list[tuple[object, object, int]]], *, matching: int | None) -> None:
    """The branches of `_OVER_IDS` named, over the filter's photos (about `matching`, when known), in one
    statement, into `rows`."""
    source, clause, args = _where(conn, flt)
    many = _many(conn, matching)

    def scan(name: str) -> bool:
        if name not in _TABLES:
            return many
        return matching is not None and int(
            conn.execute(f"SELECT count(*) FROM {_TABLES[name]}").fetchone()[0]) <= matching

    branches = " UNION ALL ".join(_OVER_IDS[n][0 if scan(n) else 1].format(ids=_SCAN) for n in names)
    month = f"substr({DATE_SQL}, 1, 7)" if "months" in names else "NULL"  # a file time's local month costs
    for name, value, second, n in conn.execute(
            f"WITH m(id, month) AS (SELECT t.photo_id, {month} FROM {source}{clause}) {branches}", args):
        rows[str(name)].append((value, second, int(n)))


def _with_tables(conn: sqlite3.Connection, names: Sequence[str]) -> list[str]:
    """The facets named whose tables the library has (places and events: schema v10)."""
    return [n for n in names if n not in ("places", "events")
            or (places_sql.has_places(conn) if n == "places" else events_sql.has_events(conn))]


def _facet_values(conn: sqlite3.Connection, names: Sequence[str],
                  rows: dict[str, list[tuple[object, object, int]]]) -> dict[str, list[FacetCount]]:
    out: dict[str, list[FacetCount]] = {}
    for name in names:
        if name == "places":
            out[name] = _places(rows[name])
        else:
            counts = {value: n for value, _second, n in rows[name]}
            out[name] = {"people": _people, "tags": _tags, "events": _events}[name](conn, counts)
    return out


def _people(conn: sqlite3.Connection, counts: dict[object, int]) -> list[FacetCount]:
    names: dict[int, str | None] = {}
    for chunk in chunks([int(str(p)) for p in counts]):
        names.update(conn.execute(f"SELECT id, name FROM people WHERE id IN ({marks(len(chunk))})", chunk))
    rows = [(int(str(person)), names.get(int(str(person))), n) for person, n in counts.items()
            if int(str(person)) in names]
    rows.sort(key=lambda r: (-r[2], r[1] is None, (r[1] or "").casefold(), r[0]))
    return [FacetCount(value=person, label=name or f"#{person}", count=n) for person, name, n in rows]


def _tags(_conn: sqlite3.Connection, counts: dict[object, int]) -> list[FacetCount]:
    return [FacetCount(value=str(label), label=str(label), count=n)
            for label, n in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))]


def _places(rows: Iterable[tuple[object, object, int]]) -> list[FacetCount]:
    counted: dict[str, int] = {}
    for city, country, n in rows:
        name = ", ".join(str(part) for part in (city, country) if part)
        if name:
            counted[name] = counted.get(name, 0) + int(n)
    return [FacetCount(value=name, label=name, count=n)
            for name, n in sorted(counted.items(), key=lambda kv: (-kv[1], kv[0].casefold()))]


def _events(conn: sqlite3.Connection, counts: dict[object, int]) -> list[FacetCount]:
    titles: dict[int, tuple[str, str]] = {}
    for chunk in chunks([int(str(e)) for e in counts]):
        for event_id, title, start in conn.execute(
                f"SELECT id, coalesce(name, auto_name), start_at FROM events WHERE id IN ({marks(len(chunk))})", chunk):
            titles[int(event_id)] = (str(title), str(start))
    rows = [(int(str(e)), titles[int(str(e))], n) for e, n in counts.items() if int(str(e)) in titles]
    rows.sort(key=lambda r: r[1][1], reverse=True)  # the newest first among equal counts
    rows.sort(key=lambda r: -r[2])
    return [FacetCount(value=event_id, label=title, count=n) for event_id, (title, _start), n in rows]
