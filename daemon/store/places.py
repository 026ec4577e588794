"""The SQL of photos' places (schema v10, issue 25): one row per photo in `photo_places`, keyed by the photo (the
bytes), so a place stays when its file moves or a copy appears elsewhere.

Who names a place is its `source`: 'xmp' (another tool's photoshop:City/State/Country, which wins), 'geocoder'
(the nearest GeoNames place to the stored GPS position) or 'none' (a GPS position with no place: its `reason`).
A geocoder row never replaces an XMP one. `folded` keeps the names case- and accent-folded between bars
("|skagen|north denmark|denmark|"), so `photos --place` matches a whole name with one LIKE.
"""

from __future__ import annotations

import sqlite3
import unicodedata
from dataclasses import dataclass
from typing import Literal

from daemon.store.base import SETTLE_REV, chunks, get_state, has_column, marks, visible


@dataclass(frozen=True)
class PlaceRow:
    """A photo's place as stored."""

    city: str | None
    region: str | None
    country: str | None
    country_code: str | None
    source: Literal["geocoder", "xmp", "none"]
    reason: str | None = None  # source 'none': why the GPS position has no place


@dataclass(frozen=True)
class PlaceCount:
    """A place with the number of (present) photos taken there."""

    city: str | None
    region: str | None
    country: str | None
    photos: int


_UNSPLIT: dict[int, str] = {ord(k): v for k, v in {"ø": "o", "æ": "ae", "ß": "ss", "đ": "d", "ł": "l", "ı": "i",
                                                  "þ": "th", "ð": "d", "œ": "oe"}.items()}


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name: 'København' and 'KOBENHAVN' fold alike; 'Reykjavík' ->
    'reykjavik'. Whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # Letters NFKD does not split: the Nordic and a few others, so "Ørsted" finds "Orsted" too.
    stripped = stripped.translate(_UNSPLIT)
    return " ".join(stripped.split())


def folded(row: PlaceRow) -> str:
    """The names as the `folded` column keeps them."""
    names = [fold(n) for n in (row.city, row.region, row.country) if n]
    return "|" + "|".join(names) + "|" if names else ""


def has_places(conn: sqlite3.Connection) -> bool:
    """The library has the places table (schema v10; readers open older libraries as they are)."""
    return has_column(conn, "photo_places", "photo_id")


def settle_rev(conn: sqlite3.Connection) -> int | None:
    """The revision of what the daemon's places and events pass reads (schema v13, moved by triggers: photos
    added, removed, re-dated, missing or back, GPS, their files, place rows removed); None before v13."""
    value = get_state(conn, SETTLE_REV)
    return None if value is None else int(value)


def set_place(conn: sqlite3.Connection, photo_id: int, row: PlaceRow) -> bool:
    """Store a photo's place; a geocoder's (or 'none') never replaces another tool's (XMP). True if written."""
    if row.source != "xmp":
        current = conn.execute("SELECT source FROM photo_places WHERE photo_id = ?", (photo_id,)).fetchone()
        if current is not None and current[0] == "xmp":
            return False
    conn.execute(
        "INSERT INTO photo_places (photo_id, city, region, country, country_code, source, reason, folded) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (photo_id) DO UPDATE SET city = excluded.city, "
        "region = excluded.region, country = excluded.country, country_code = excluded.country_code, "
        "source = excluded.source, reason = excluded.reason, folded = excluded.folded",
        (photo_id, row.city, row.region, row.country, row.country_code, row.source, row.reason, folded(row)))
    return True


def unplaced(conn: sqlite3.Connection, limit: int) -> list[tuple[int, object, object]]:
    """Photos with a stored GPS position and no place row yet: (photo id, latitude, longitude)."""
    return [(int(r[0]), r[1], r[2]) for r in conn.execute(
        "SELECT p.id, p.gps_lat, p.gps_lon FROM photos p LEFT JOIN photo_places pp ON pp.photo_id = p.id "
        "WHERE p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL AND pp.photo_id IS NULL ORDER BY p.id LIMIT ?",
        (limit,))]


def unplaced_count(conn: sqlite3.Connection) -> int:
    """How many present photos with GPS still wait for their place (0 before v10: nothing to say)."""
    if not has_places(conn):
        return 0
    return int(conn.execute(
        f"SELECT count(*) FROM photos p LEFT JOIN photo_places pp ON pp.photo_id = p.id "
        f"WHERE p.gps_lat IS NOT NULL AND p.gps_lon IS NOT NULL AND pp.photo_id IS NULL AND {visible(conn)}"
    ).fetchone()[0])


def place_of(conn: sqlite3.Connection, photo_id: int) -> PlaceRow | None:
    """One photo's place row, if it has one."""
    if not has_places(conn):
        return None
    r = conn.execute("SELECT city, region, country, country_code, source, reason FROM photo_places "
                     "WHERE photo_id = ?", (photo_id,)).fetchone()
    return None if r is None else PlaceRow(r[0], r[1], r[2], r[3], r[4], r[5])


def places_of(conn: sqlite3.Connection, photo_ids: list[int]) -> dict[int, PlaceRow]:
    """The place rows of some photos (those that have one)."""
    if not photo_ids or not has_places(conn):
        return {}
    result: dict[int, PlaceRow] = {}
    for chunk in chunks(photo_ids):
        for r in conn.execute(f"SELECT photo_id, city, region, country, country_code, source, reason FROM "
                              f"photo_places WHERE photo_id IN ({marks(len(chunk))})", chunk):
            result[int(r[0])] = PlaceRow(r[1], r[2], r[3], r[4], r[5], r[6])
    return result


def place_counts(conn: sqlite3.Connection) -> list[PlaceCount]:
    """Every named place with its present photos, most photos first (photos of no place left out)."""
    if not has_places(conn):
        return []
    rows = conn.execute(
        f"SELECT pp.city, pp.region, pp.country, count(*) AS n FROM photo_places pp JOIN photos p "
        f"ON p.id = pp.photo_id WHERE pp.source != 'none' AND {visible(conn)} AND EXISTS (SELECT 1 FROM files f "
        "WHERE f.photo_id = p.id AND +f.status = 'done') GROUP BY pp.country, pp.region, pp.city "
        "ORDER BY n DESC, pp.country, pp.region, pp.city").fetchall()
    return [PlaceCount(r[0], r[1], r[2], int(r[3])) for r in rows]


def place_condition(text: str) -> tuple[str, list[object]]:
    """The search's condition for `--place TEXT` (photos aliased p): each comma-separated part of TEXT is a
    whole city, region or country name, folded ("skagen", "North Denmark", "Capital Region, Iceland")."""
    parts = [fold(part) for part in text.split(",")]
    parts = [part for part in parts if part]
    if not parts:
        raise ValueError(f"place: no name in {text!r}")
    clauses = []
    args: list[object] = []
    for part in parts:
        escaped = part.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        clauses.append("pp.folded LIKE ? ESCAPE '\\'")
        args.append(f"%|{escaped}|%")
    return (f"EXISTS (SELECT 1 FROM photo_places pp WHERE pp.photo_id = p.id AND {' AND '.join(clauses)})", args)
