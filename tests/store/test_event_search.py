"""The photo search by event (the event page, `?event=`, `photos --event`): the event's photos, found from the
event's index rather than by looking at every photo."""

from __future__ import annotations

from pathlib import Path

from people_synth import content_hash

from daemon.config import EventsConfig
from daemon.library import events
from daemon.store import Store
from daemon.store.search import PhotoFilter, count_photos, photo_where, photos_from, reads_photos, search_photos
from daemon.types import PhotoAnalysis, PhotoMeta


def test_an_events_photos_are_read_from_its_index(tmp_path: Path) -> None:
    with Store.open(tmp_path / "library.db") as store:
        for day in range(3):
            for hour in range(8, 18):
                name = f"{day}-{hour}"
                when = f"2019-06-{10 + 3 * day}T{hour:02d}:00:00"
                meta = PhotoMeta(width=64, height=64, format="JPEG", taken_at=when)
                store.record_analysis(f"/p/{name}.jpg", 1, 1, content_hash(name), PhotoAnalysis(meta=meta))
        events.update(store, EventsConfig())
        listed = events.list_events(store)
        assert [e.photos for e in listed] == [10, 10, 10]
        for event in listed:
            flt = PhotoFilter(event=event.id, sort="date")
            hits = store.read(lambda c, f=flt: search_photos(c, f))  # type: ignore[misc]
            assert [h.event_id for h in hits] == [event.id] * 10
            assert [h.taken_at for h in hits] == sorted(h.taken_at for h in hits)
            assert {h.taken_at[:10] for h in hits} == {event.start_at[:10]}
            assert store.read(lambda c, f=flt: count_photos(c, f)) == 10  # type: ignore[misc]

            def plan(conn: object, f: PhotoFilter = flt) -> list[str]:
                clause, args, _distance = photo_where(conn, f)  # type: ignore[arg-type]
                source = photos_from(conn, photos=reads_photos(clause))  # type: ignore[arg-type]
                return [str(r[3]) for r in conn.execute(  # type: ignore[attr-defined]
                    f"EXPLAIN QUERY PLAN SELECT t.photo_id FROM {source}{clause}", args)]
            steps = store.read(plan)
            assert any("event_photos_event" in s for s in steps), steps
            assert not any(s.startswith("SCAN") for s in steps), steps  # no pass over every photo
