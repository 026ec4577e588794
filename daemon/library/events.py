"""Events (issue 25), for both front ends and the daemon: `pictod events`, one event, renaming one, and the
daemon's incremental regrouping (`update`: only the events around the photos that arrived or left).

The grouping rule and its SQL are in `daemon/store/events.py`; `[events] gap_hours` and `split_km` set it.
"""

from __future__ import annotations

from daemon.config import EventsConfig
from daemon.errors import MetadataError, UsageError
from daemon.metadata import clean_name
from daemon.store import Store
from daemon.store import events as sql
from daemon.store.events import EventChanges, EventRow

__all__ = ["EventChanges", "EventRow", "event", "list_events", "rename", "update"]

BATCH = 5000  # arrivals taken per write transaction (a first scan of a big library goes in several)


def update(store: Store, cfg: EventsConfig) -> EventChanges:
    """Bring the events in step with the photos (every arrival and departure since the last call)."""
    total = EventChanges()
    while True:
        step = store.update_events(gap_s=cfg.gap_hours * 3600.0, split_km=cfg.split_km, limit=BATCH)
        total.arrived += step.arrived
        total.left += step.left
        total.regrouped += step.regrouped
        total.created += step.created
        total.deleted += step.deleted
        if step.arrived < BATCH:
            return total


def list_events(store: Store) -> list[EventRow]:
    """Every event, newest first."""
    return store.read(sql.list_events)


def event(store: Store, event_id: int) -> EventRow:
    """One event; NotFoundError for an unknown id."""
    return store.read(lambda c: sql.event_row(c, event_id))


def rename(store: Store, event_id: int, name: str | None) -> EventRow:
    """Give an event the user's name (None or empty: back to pictod's); UsageError for an unusable name."""
    cleaned = None
    if name is not None and name.strip():
        try:
            cleaned = clean_name(name, what=f"event {event_id}")
        except MetadataError as exc:
            raise UsageError(exc.message) from None
    return store.rename_event(event_id, cleaned)
