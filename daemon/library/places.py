"""Places (issue 25), for both front ends and the daemon: `pictod places` (place -> photos), a photo's place, and
the daemon's pass that names the places of photos with a GPS position (`fill`: photos recorded before schema v10
or by a pictod without the geocoder, placed from their stored GPS with no re-analysis).

The geocoder (`daemon/analysis/geocode.py`) is loaded once per process, on the first photo with a position.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from daemon.analysis import geocode
from daemon.config import EventsConfig
from daemon.library import events
from daemon.store import Store
from daemon.store import events as events_sql
from daemon.store import places as sql
from daemon.store.events import EventChanges, EventRow
from daemon.store.places import PlaceCount, PlaceRow

__all__ = ["PhotoWhere", "PlaceCount", "PlaceRow", "Settled", "fill", "locate", "place_counts", "settle",
           "unplaced_count", "where"]


@dataclass(frozen=True)
class PhotoWhere:
    """Where and in what a photo was taken: its place (None: no GPS, or no town near it) and its event."""

    place: PlaceRow | None
    event: EventRow | None

BATCH = 500  # photos placed per write transaction


def locate(lat: object, lon: object) -> PlaceRow:
    """A GPS position -> the place row to store: the nearest named place, or source 'none' with the reason
    (an invalid position, the open sea)."""
    found = geocode.locate(lat, lon)
    if isinstance(found, geocode.NoPlace):
        return PlaceRow(None, None, None, None, "none", f"{found.reason}: {found.message}")
    return PlaceRow(found.city, found.region, found.country, found.country_code, "geocoder")


def fill(store: Store, *, limit: int | None = None, to_sidecars: bool = False) -> int:
    """Name the places of the photos with a stored GPS position and no place yet, in batches; how many were
    placed (`limit`: at most that many, for a daemon that has other work; `to_sidecars`: [metadata]
    write_sidecars is on, so their sidecars get the names)."""
    done = 0
    while limit is None or done < limit:
        take = BATCH if limit is None else min(BATCH, limit - done)
        todo = store.read(lambda c, n=take: sql.unplaced(c, n) if sql.has_places(c) else [])  # type: ignore[misc]
        if not todo:
            break
        store.set_places([(photo_id, locate(lat, lon)) for photo_id, lat, lon in todo], to_sidecars=to_sidecars)
        done += len(todo)
    return done


@dataclass(frozen=True)
class Settled:
    """One places and events pass: the revision it brought them to (`store.places.settle_rev`, read before it),
    the photos it placed and what it did to the events (None: skipped, nothing it reads had changed)."""

    rev: int | None
    placed: int = 0
    changes: EventChanges | None = None


def settle(store: Store, cfg: EventsConfig, *, seen: int | None = None, to_sidecars: bool = False) -> Settled:
    """The daemon's pass after photos came or went: `fill`, then the events regrouped (`events.update`), unless
    nothing they read changed since the pass that returned the revision `seen` (a write during a pass moves the
    revision, so the next one runs again)."""
    rev = store.read(sql.settle_rev)
    if rev is not None and rev == seen:
        return Settled(rev)
    placed = fill(store, to_sidecars=to_sidecars)
    return Settled(rev, placed, events.update(store, cfg))


def place_counts(store: Store) -> list[PlaceCount]:
    """Every named place with its photos, most photos first."""
    return store.read(sql.place_counts)


def unplaced_count(store: Store) -> int:
    """Photos with a GPS position the daemon has not placed yet."""
    return store.read(sql.unplaced_count)


def where(store: Store, photo_id: int) -> PhotoWhere:
    """A photo's place and event (the Photo page), in one read."""
    def read(conn: sqlite3.Connection) -> PhotoWhere:
        row = sql.place_of(conn, photo_id)
        event_id = events_sql.events_of(conn, [photo_id]).get(photo_id)
        return PhotoWhere(place=row if row is not None and row.source != "none" else None,
                          event=None if event_id is None else events_sql.event_row(conn, event_id))
    return store.read(read)
