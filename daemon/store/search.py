"""The SQL of the photo search (`pictod photos`, the web app's Photos page): the one filter type (`PhotoFilter`),
the one result type (`PhotoHit`), `search_photos` and `count_photos`.

A field added to the search is written here twice: the filter (a field of `PhotoFilter` and its WHERE clause in
`photo_where`) and the result (a field of `PhotoHit`, filled in `search_photos`); `daemon/library/photos.py`
hands both through unchanged.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sqlite3
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from daemon.errors import NotFoundError
from daemon.store import events, faces, places
from daemon.store.base import EARTH_KM, INT64_MAX, chunks, clamp_ns, dec, has_column, marks
from daemon.store.base import km as haversine_km


@dataclasses.dataclass(frozen=True)
class PhotoFilter:
    """A photo search (`pictod photos`, the web app's Photos page): the one filter type, from the front ends to
    this query. Every condition given must hold (AND); empty matches all.

    - `tags`: COCO object labels; the photo shows every one of them.
    - `people`: person ids (int, or a string of digits) or exact names; the photo has a face of every one of
      them (a name shared by several people matches any of those). Unknown ids/names raise NotFoundError.
    - `any_person`: at least one face assigned to a person; `no_people`: no face assigned to any person (the
      complement; faces not grouped into a person yet do not count, `tags=("person",)` finds bodies).
    - `since` / `until`: 'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]', both inclusive (`until`
      covers the whole year/month/day/minute given), on the photo's date: its EXIF capture time, else its file's
      modification time in local time (`PhotoHit.date_source` says which; `DATE_SQL`, the one rule of the CLI,
      the web app's search and its timeline). ValueError for other text.
    - `camera`: case-insensitive substring of the EXIF camera ("canon", "iPhone 12").
    - `near`: (latitude, longitude, km) on the stored GPS position; photos without one never match.
    - `place`: a city, region or country name, case- and accent-insensitive ("kobenhavn" finds København); parts
      after commas must match too ("Capital Region, Iceland").
    - `event`: an event id (`pictod events`); NotFoundError for an unknown one.
    - `kind`: 'photo' or 'video' (None: both). A Live Photo is its still (kind 'photo', `PhotoHit.live_video`
      its video's id); the video of a pair is never a hit of its own, and its people and tags count for the still.
    - `sort`: 'path' (first path) or 'date'; `descending` reverses it. `limit` (None: all) and `offset` page it.
    """

    tags: tuple[str, ...] = ()
    people: tuple[int | str, ...] = ()
    any_person: bool = False
    no_people: bool = False
    since: str | None = None
    until: str | None = None
    camera: str | None = None
    near: tuple[float, float, float] | None = None
    place: str | None = None
    event: int | None = None
    kind: Literal["photo", "video"] | None = None
    sort: Literal["path", "date"] = "path"
    descending: bool = False
    limit: int | None = None
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class PhotoObject:
    """An object found in a photo."""

    label: str
    score: float
    box: tuple[float, float, float, float]
    time: float | None = None  # a video's: the second of the frame the box is on
    seen: list[tuple[float, float]] | None = None  # a video's: [start, end] seconds where it is seen


@dataclasses.dataclass(frozen=True)
class PhotoFace:
    """A face in a photo, with its person if it has one."""

    id: int
    box: tuple[float, float, float, float]
    score: float  # detector confidence
    person_id: int | None
    person_name: str | None
    quality: float | None  # face quality where the library stores one, else None
    time: float | None = None  # a video's face: the second of its frame
    seen: list[tuple[float, float]] | None = None  # a video's face: [start, end] seconds its track is seen
    video_id: int | None = None  # a Live Photo's: the face is in its video (this id), not in the still


@dataclasses.dataclass(frozen=True)
class SeenMatch:
    """For a video hit, when a searched person or tag is seen in it: [start, end] seconds, in time order."""

    person_id: int | None
    tag: str | None
    spans: list[tuple[float, float]]


@dataclasses.dataclass(frozen=True)
class PhotoPlace:
    """Where a photo was taken, by name: from the geocoder (its GPS position) or another tool's XMP."""

    city: str | None
    region: str | None
    country: str | None
    source: Literal["geocoder", "xmp", "none"]


@dataclasses.dataclass(frozen=True)
class PhotoHit:
    """One photo found by `search_photos`: the one result type of a photo search (`pictod photos --json`)."""

    id: int
    paths: list[str]  # every file showing these bytes, in path order
    date: str  # the date the search used: taken_at, else file_time
    date_source: Literal["exif", "file"]
    taken_at: str | None  # EXIF capture time, ISO 8601 as the camera wrote it
    file_time: str  # the earliest file's modification time, local, ISO 8601
    camera: str | None
    width: int
    height: int
    format: str
    bytes: int  # the first path's file size
    gps: tuple[float, float] | None  # (latitude, longitude)
    distance_km: float | None  # from `near`, when given
    place: PhotoPlace | None = None  # None: no GPS position, or none near a named place
    event_id: int | None = None  # the event it belongs to (`pictod events`), None without a capture time
    objects: list[PhotoObject] = dataclasses.field(default_factory=list)
    faces: list[PhotoFace] = dataclasses.field(default_factory=list)
    kind: Literal["photo", "video"] = "photo"
    duration: float | None = None  # a video's, seconds
    codec: str | None = None  # a video's
    live_video: int | None = None  # a Live Photo's still: its video's id
    seen: list[SeenMatch] = dataclasses.field(default_factory=list)  # a video's: when the searched people/tags are


_WHEN = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?)?)?")


def date_bounds(text: str) -> tuple[str, str]:
    """'2020', '2020-05', '2020-05-17' or '2020-05-17T14:30[:05]' -> (first second, first second after), as
    'YYYY-MM-DDTHH:MM:SS' text; ValueError naming what is wrong for anything else."""
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a date: {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])")
    year, month, day, hour, minute, second = (0 if g is None else int(g) for g in match.groups())
    given = sum(g is not None for g in match.groups())
    try:
        start = datetime(year, month or 1, day or 1, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r} ({exc}; years run from 0001 to 9999)") from None
    try:
        if given == 1:
            end = start.replace(year=year + 1)
        elif given == 2:
            end = datetime(year + (month == 12), month % 12 + 1, 1)
        else:
            end = start + timedelta(**{3: {"days": 1}, 5: {"minutes": 1}}.get(given, {"seconds": 1}))
    except (ValueError, OverflowError):
        # The first moment after the last one datetime knows (issue 22: `--since 9999` said "not a date"): text
        # that sorts after every 9999 date.
        return start.isoformat(), "9999-12-31T23:59:60"
    return start.isoformat(), end.isoformat()


def check_filter(flt: PhotoFilter) -> None:
    """ValueError for a date or a place no search can take (checked before any read)."""
    for text in (flt.since, flt.until):
        if text:
            date_bounds(text)
    if flt.near is not None:
        lat, lon, km = flt.near
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km >= 0):
            raise ValueError(f"near: latitude -90..90, longitude -180..180, km >= 0 (got {lat}, {lon}, {km})")
    if flt.place is not None:
        places.place_condition(flt.place)


def person_groups(conn: sqlite3.Connection, people: Iterable[int | str]) -> list[tuple[int, ...]]:
    """One tuple of person ids per requested person (a name may be several people); NotFoundError if unknown."""
    groups: list[tuple[int, ...]] = []
    for person in people:
        if isinstance(person, int) or str(person).isdigit():
            groups.append((faces.person_row(conn, int(person))[0],))
        else:
            ids = faces.people_named(conn, person)
            if not ids:
                raise NotFoundError(f"no person named {person!r} (see `pictod people`)")
            groups.append(tuple(ids))
    return groups




# The photos a search can show, as `t` (photo_id, taken: the EXIF capture time as 'YYYY-MM-DDTHH:MM:SS' or NULL,
# file_ns: the earliest done file's mtime): `photo_dates` (schema v12, kept in step by triggers), or on an older
# library a read-only reader opens as it is, the same columns grouped from the files. A photo with no done file
# (missing, or being analysed again) is in neither, nor is a Live Photo's video (its still is the item).
_DATES_TABLE = "photo_dates t"
_DATES_GROUPED = ("(SELECT f.photo_id, substr(ph.taken_at, 1, 19) AS taken, min(f.mtime_ns) AS file_ns FROM files f "
                  "JOIN photos ph ON ph.id = f.photo_id WHERE f.status = 'done'{paired} GROUP BY f.photo_id) t")
SHOWN = "t.file_ns IS NOT NULL"

# The photo's date, the one rule of `pictod photos`, the web app's search and its timeline (issue 22): the EXIF
# capture time, else the earliest done file's modification time in local time.
LOCAL_FILE_TIME = "strftime('%Y-%m-%dT%H:%M:%S', t.file_ns / 1000000000, 'unixepoch', 'localtime')"
DATE_SQL = f"coalesce(t.taken, {LOCAL_FILE_TIME})"
_FIRST_PATH = "(SELECT min(fp.path) FROM files fp WHERE fp.photo_id = t.photo_id AND +fp.status = 'done')"
_WIDEN_NS = 2 * 86400 * 10**9  # more than any UTC offset (-12 h .. +14 h)


def photos_from(conn: sqlite3.Connection, *, photos: bool = True) -> str:
    """The FROM of a search: the shown photos as `t`, joined to `photos p` when the query reads its columns."""
    dates = _DATES_TABLE if has_column(conn, "photo_dates", "file_ns") else _DATES_GROUPED.format(
        paired=" AND ph.paired_with IS NULL" if has_column(conn, "photos", "paired_with") else "")
    return f"{dates} JOIN photos p ON p.id = t.photo_id" if photos else dates


def reads_photos(clause: str) -> bool:
    """Whether a WHERE clause reads a column of `photos p` (any condition a field adds; the others read `t`)."""
    return re.search(r"\bp\.", clause) is not None


def _utc_ns(text: str, shift: int) -> int | None:
    """'YYYY-MM-DDTHH:MM:SS' read as UTC, in ns, shifted and clamped to SQLite's integers; None past 9999."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None  # date_bounds' "after every date"
    ns = int((moment - datetime(1970, 1, 1)).total_seconds()) * 10**9 + shift
    return clamp_ns(ns)


def date_range(start: str | None, end: str | None) -> tuple[str, list[object]]:
    """The condition `start <= date < end` (either may be None) of DATE_SQL, written so the indexes serve it:
    capture times on `taken`; file times on `file_ns` widened by two days (any time zone), then exactly."""
    # Each branch alone implies its partial index's WHERE, so SQLite answers the OR from both indexes.
    exif: list[str] = ["t.taken IS NOT NULL", SHOWN]
    file_time: list[str] = ["t.taken IS NULL", SHOWN]
    exif_args: list[object] = []
    file_args: list[object] = []
    for bound, op, shift in ((start, ">=", -_WIDEN_NS), (end, "<", _WIDEN_NS)):
        if bound is None:
            continue
        exif.append(f"t.taken {op} ?")
        exif_args.append(bound)
        ns = _utc_ns(bound, shift)
        if ns is not None:
            file_time.append(f"t.file_ns {op} ?")
            file_args.append(ns)
        file_time.append(f"{LOCAL_FILE_TIME} {op} ?")
        file_args.append(bound)
    return f"({' AND '.join(exif)} OR {' AND '.join(file_time)})", exif_args + file_args


def photo_where(conn: sqlite3.Connection, flt: PhotoFilter, *,
                per_photo: bool = False) -> tuple[str, list[object], str]:
    """The search's WHERE clause (with ' WHERE '; the shown photos at least), its arguments and the distance
    expression. Photo ids are `t.photo_id`; `p.` columns make the caller join `photos` (`reads_photos`).
    `per_photo`: a tag or a person is looked up for each photo another condition keeps (a date range over
    photos the filter keeps many of) rather than as the list of all its photos, built first."""
    where: list[str] = [SHOWN]
    args: list[object] = []
    videos = has_column(conn, "photos", "kind")  # schema v11 (a read-only look at an older library has none)
    # A Live Photo's video is no hit of its own (photo_dates hides it: `photos_from`); its rows count for its
    # still: `live` adds the stills whose video has the row (few rows: the partial index on paired_with).
    live = (" UNION ALL SELECT v.paired_with FROM photos v JOIN {table} x ON x.photo_id = v.id "
            "WHERE v.paired_with IS NOT NULL AND {cond}") if videos else ""
    if per_photo:  # correlated: the subqueries read the rows of one photo (and of its video: from the video)
        live = live.replace("IS NOT NULL", "= t.photo_id").replace(" JOIN ", " CROSS JOIN ")

    def one_photo(alias: str) -> str:
        return f" AND {alias}.photo_id = t.photo_id" if per_photo else ""

    if flt.kind is not None:
        where.append("p.kind = ?" if videos else ("0" if flt.kind == "video" else "1"))
        if videos:
            args.append(flt.kind)
    # IN (...) rather than EXISTS: SQLite can start from the few photos with that tag or person.
    for tag in flt.tags:
        where.append(f"t.photo_id IN (SELECT o.photo_id FROM objects o WHERE o.label = ?{one_photo('o')}"
                     f"{live.format(table='objects', cond='x.label = ?')})")
        args.extend([tag, tag] if videos else [tag])
    for group in person_groups(conn, flt.people):
        qs = marks(len(group))
        where.append(f"t.photo_id IN (SELECT fa.photo_id FROM faces fa WHERE fa.person_id IN ({qs})"
                     f"{one_photo('fa')}{live.format(table='faces', cond=f'x.person_id IN ({qs})')})")
        args.extend([*group, *group] if videos else group)
    assigned = "EXISTS (SELECT 1 FROM faces fa WHERE fa.photo_id = t.photo_id AND fa.person_id IS NOT NULL)"
    if videos:
        assigned = (f"({assigned} OR EXISTS (SELECT 1 FROM photos v JOIN faces fa ON fa.photo_id = v.id "
                    "WHERE v.paired_with = t.photo_id AND fa.person_id IS NOT NULL))")
    if flt.any_person:
        where.append(assigned)
    if flt.no_people:
        where.append("NOT " + assigned)
    if flt.since or flt.until:
        condition, more = date_range(date_bounds(flt.since)[0] if flt.since else None,
                                     date_bounds(flt.until)[1] if flt.until else None)
        where.append(condition)
        args += more
    if flt.camera is not None:
        escaped = flt.camera.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("p.camera LIKE ? ESCAPE '\\'")
        args.append(f"%{escaped}%")
    if flt.place is not None:
        if not places.has_places(conn):
            where.append("0")  # a library older than v10, read as it is: no photo has a place yet
        else:
            condition, place_args = places.place_condition(flt.place)
            where.append(condition)
            args.extend(place_args)
    if flt.event is not None:
        events.event_row(conn, flt.event)  # NotFoundError for an unknown id
        # IN (...): the event's photos from its index (`event_photos_event`), not a probe for every photo.
        where.append("t.photo_id IN (SELECT ep.photo_id FROM event_photos ep WHERE ep.event_id = ?)")
        args.append(flt.event)
    distance = "NULL"
    if flt.near is not None:
        lat, lon, km = flt.near
        conn.create_function("pictod_km", 4, haversine_km, deterministic=True)
        # A bounding box first (cheap), then the exact distance.
        dlat = math.degrees(km / EARTH_KM)
        where.append("p.gps_lat BETWEEN ? AND ?")
        args += [lat - dlat, lat + dlat]
        coslat = math.cos(math.radians(lat))
        if coslat > 1e-6:
            dlon = math.degrees(km / (EARTH_KM * coslat))
            if dlon < 180 and lon - dlon >= -180 and lon + dlon <= 180:
                where.append("p.gps_lon BETWEEN ? AND ?")
                args += [lon - dlon, lon + dlon]
        distance = "pictod_km(p.gps_lat, p.gps_lon, ?, ?)"
        where.append(f"{distance} <= ?")
        args += [lat, lon, km]
    return " WHERE " + " AND ".join(where), args, distance


def count_photos(conn: sqlite3.Connection, flt: PhotoFilter) -> int:
    """How many analysed photos match `flt` (its sort and page aside)."""
    clause, args, _distance = photo_where(conn, flt)
    source = photos_from(conn, photos=reads_photos(clause))
    return int(conn.execute(f"SELECT count(*) FROM {source}{clause}", args).fetchone()[0])


def search_photos(conn: sqlite3.Connection, flt: PhotoFilter) -> list[PhotoHit]:
    """Analysed photos matching every condition of `flt`, sorted and paged, with their paths, objects and faces."""
    clause, args, distance = photo_where(conn, flt)
    order = "DESC" if flt.descending else "ASC"
    sort = f"photo_date {order}, first_path {order}" if flt.sort == "date" else f"first_path {order}"
    select_args: list[object] = list(flt.near[:2]) if flt.near is not None else []
    videos = has_column(conn, "photos", "kind")
    extra = ("p.kind, p.duration, p.codec, (SELECT min(v.id) FROM photos v WHERE v.paired_with = p.id)" if videos
             else "'photo', NULL, NULL, NULL")
    limit = -1 if flt.limit is None else max(0, flt.limit)
    offset = max(0, flt.offset)
    cut, cut_args = _date_cut(conn, flt, clause, args, offset + limit) \
        if flt.sort == "date" and limit > 0 and offset + limit <= INT64_MAX else ("", [])
    sql = (f"SELECT p.id, p.taken_at, p.camera, p.width, p.height, p.format, p.gps_lat, p.gps_lon, t.file_ns, "
           f"{_FIRST_PATH} AS first_path, {DATE_SQL} AS photo_date, {distance} AS distance_km, {extra} "
           f"FROM {photos_from(conn)}{clause}{cut} ORDER BY {sort}, p.id LIMIT ? OFFSET ?")
    rows = conn.execute(sql, [*select_args, *args, *cut_args, limit, offset]).fetchall()
    ids = [int(r[0]) for r in rows]
    # A Live Photo's video: its faces and objects belong to the still's hit.
    owner = {i: i for i in ids}
    owner.update({int(r[12 + 3]): int(r[0]) for r in rows if r[12 + 3] is not None})
    paths: dict[int, list[tuple[str, int]]] = {i: [] for i in ids}
    objects: dict[int, list[PhotoObject]] = {i: [] for i in ids}
    found: dict[int, list[PhotoFace]] = {i: [] for i in ids}
    quality = "fa.quality" if has_column(conn, "faces", "quality") else "NULL"
    times = ("fa.time, fa.seen", "o.time, o.seen") if videos else ("NULL, NULL", "NULL, NULL")
    for chunk in chunks(ids):
        qs = marks(len(chunk))
        for photo_id, path, size in conn.execute(
                f"SELECT photo_id, path, size FROM files WHERE status = 'done' AND photo_id IN ({qs}) "
                "ORDER BY path", chunk):
            paths[photo_id].append((dec(path), int(size)))
    members = sorted(owner)
    for chunk in chunks(members):
        qs = marks(len(chunk))
        for photo_id, label, score, x1, y1, x2, y2, when, seen in conn.execute(
                f"SELECT o.photo_id, o.label, o.score, o.x1, o.y1, o.x2, o.y2, {times[1]} FROM objects o "
                f"WHERE o.photo_id IN ({qs}) ORDER BY o.score DESC, o.id", chunk):
            objects[owner[photo_id]].append(PhotoObject(label=label, score=float(score), box=(x1, y1, x2, y2),
                                                        time=when, seen=_spans(seen)))
        for photo_id, fid, x1, y1, x2, y2, score, person_id, name, q, when, seen in conn.execute(
                f"SELECT fa.photo_id, fa.id, fa.x1, fa.y1, fa.x2, fa.y2, fa.score, fa.person_id, pe.name, {quality}, "
                f"{times[0]} FROM faces fa LEFT JOIN people pe ON pe.id = fa.person_id WHERE fa.photo_id IN ({qs}) "
                "ORDER BY fa.id", chunk):
            found[owner[photo_id]].append(PhotoFace(
                id=int(fid), box=(x1, y1, x2, y2), score=float(score), person_id=person_id, person_name=name,
                quality=None if q is None else float(q), time=when, seen=_spans(seen),
                video_id=photo_id if owner[photo_id] != photo_id else None))
    groups = person_groups(conn, flt.people)
    where_from = places.places_of(conn, ids)
    in_event = events.events_of(conn, ids)
    result = []
    for r in rows:
        photo_id = int(r[0])
        row = where_from.get(photo_id)
        files = paths[photo_id]
        file_time = _local_iso(int(r[8]))
        result.append(PhotoHit(
            id=photo_id, paths=[p for p, _s in files], date=r[1] or file_time,
            date_source="exif" if r[1] else "file", taken_at=r[1], file_time=file_time, camera=r[2],
            width=int(r[3]), height=int(r[4]), format=str(r[5]), bytes=files[0][1] if files else 0,
            gps=None if r[6] is None or r[7] is None else (r[6], r[7]),
            distance_km=None if r[11] is None else float(r[11]),
            place=None if row is None or row.source == "none" else PhotoPlace(row.city, row.region, row.country,
                                                                              row.source),
            event_id=in_event.get(photo_id),
            objects=objects[photo_id], faces=found[photo_id], kind="video" if r[12] == "video" else "photo",
            duration=None if r[13] is None else float(r[13]), codec=r[14],
            live_video=None if r[15] is None else int(r[15]),
            seen=_seen(found[photo_id], objects[photo_id], groups, flt.tags)))
    return result


def _date_cut(conn: sqlite3.Connection, flt: PhotoFilter, clause: str, args: list[object],
              last: int) -> tuple[str, list[object]]:
    """A page of a search by date, photos 1 .. `last` of the order: the condition keeping only the photos dated
    up to the last one's date (in the order's direction; all of that date, its ties, too), so the first path
    each photo is sorted by next (a subquery a photo) is read for those, not for every photo the filter keeps.
    The date of photo `last` by date alone is the date of photo `last` by the whole order, so none is lost."""
    source = photos_from(conn, photos=reads_photos(clause))
    order = "DESC" if flt.descending else "ASC"
    row = conn.execute(f"SELECT {DATE_SQL} AS photo_date FROM {source}{clause} ORDER BY photo_date {order} "
                       "LIMIT 1 OFFSET ?", [*args, last - 1]).fetchone()
    if row is None or row[0] is None:
        return "", []  # fewer photos than that, or dated by no calendar: the whole order
    if flt.descending:
        return f" AND {DATE_SQL} >= ?", [row[0]]
    return f" AND ({DATE_SQL} <= ? OR {DATE_SQL} IS NULL)", [row[0]]  # NULL sorts first


def _spans(raw: str | None) -> list[tuple[float, float]] | None:
    if raw is None:
        return None
    return [(float(a), float(b)) for a, b in json.loads(raw)]


def _seen(hit_faces: list[PhotoFace], hit_objects: list[PhotoObject], groups: list[tuple[int, ...]],
          tags: Iterable[str]) -> list[SeenMatch]:
    """When each searched person (any id of its group) and tag is seen in a video hit (nothing for a photo)."""
    out = []
    for group in groups:
        spans = sorted(s for f in hit_faces if f.person_id in group and f.seen for s in f.seen)
        if spans:
            out.append(SeenMatch(person_id=group[0], tag=None, spans=spans))
    for tag in tags:
        spans = sorted(s for o in hit_objects if o.label == tag and o.seen for s in o.seen)
        if spans:
            out.append(SeenMatch(person_id=None, tag=tag, spans=spans))
    return out


def _local_iso(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9).replace(microsecond=0).isoformat()
