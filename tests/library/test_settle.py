"""The daemon's places and events pass (`library.places.settle`) on a real Store: skipped when nothing it reads
changed since the last pass, run again after every kind of change, and never leaving work a full pass would do."""

from __future__ import annotations

from pathlib import Path

import pytest
from people_synth import content_hash

from daemon.config import EventsConfig
from daemon.library import events, places
from daemon.library import purge as purge_case
from daemon.store import Store, db, migrations
from daemon.store import places as places_sql
from daemon.types import PhotoAnalysis, PhotoMeta

SKAGEN = (57.7209, 10.5839)
CFG = EventsConfig(gap_hours=12.0, split_km=50.0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "library.db")
    yield s
    s.close()


def add(store: Store, name: str, when: str | None, *, placed: bool = True) -> int:
    """A photo with GPS recorded as the intake records one (`placed`: with its geocoded place)."""
    meta = PhotoMeta(width=64, height=64, format="JPEG", taken_at=when, gps=SKAGEN)
    return store.record_analysis(f"/photos/{name}.jpg", 1, 1, content_hash(name), PhotoAnalysis(meta=meta),
                                 place=places.locate(*SKAGEN) if placed else None).photo_id


def nothing_left(store: Store) -> None:
    """What the pass before the revision check ran every time finds nothing more to do."""
    assert places.fill(store) == 0
    left = events.update(store, CFG)
    assert (left.arrived, left.left, left.regrouped, left.created, left.deleted) == (0, 0, 0, [], [])


def test_a_pass_runs_only_after_what_it_reads_changed(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    add(store, "b", "2019-06-10T20:00:00", placed=False)  # a place the pass names (as for a library before v10)
    first = places.settle(store, CFG)
    assert first.rev is not None and first.placed == 1 and first.changes is not None
    assert first.changes.arrived == 2
    nothing_left(store)
    again = places.settle(store, CFG, seen=first.rev)
    assert again.changes is None and again.rev == first.rev  # skipped: nothing changed

    seen = first.rev

    def step(change: str) -> places.Settled:
        nonlocal seen
        done = places.settle(store, CFG, seen=seen)
        assert done.changes is not None and done.rev != seen, f"{change}: the pass was skipped"
        nothing_left(store)
        assert places.settle(store, CFG, seen=done.rev).changes is None, f"{change}: ran twice"
        seen = done.rev
        return done

    add(store, "c", "2019-06-11T06:00:00")
    assert step("a photo recorded").changes.arrived == 1  # type: ignore[union-attr]
    store.remove("/photos/c.jpg")
    assert step("its file deleted: missing").changes.left == 1  # type: ignore[union-attr]
    assert store.link_or_mark_pending("/photos/again/c.jpg", 1, 1, content_hash("c")) is not None
    assert step("the same bytes back: restored").changes.arrived == 1  # type: ignore[union-attr]
    store.remove("/photos/again/c.jpg")
    step("missing again")
    purge_case.purge(store)
    step("purged")
    store.write(lambda c: c.execute("DELETE FROM photo_places WHERE photo_id = ?", (a,)))  # an XMP place taken out
    assert step("a place row removed").placed == 1
    store.write(lambda c: c.execute("UPDATE photos SET taken_at = '2019-06-12T10:00:00' WHERE id = ?", (a,)))
    step("re-dated")
    store.write(lambda c: c.execute("UPDATE photos SET gps_lat = NULL, gps_lon = NULL WHERE id = ?", (a,)))
    step("its GPS removed")
    store.write(lambda c: c.execute("UPDATE photos SET gps_lat = 57.7, gps_lon = 10.6 WHERE id = ?", (a,)))
    step("its GPS back")
    store.write(lambda c: c.execute("UPDATE files SET status = 'pending' WHERE path = ?", (b"/photos/a.jpg",)))
    step("a file being analysed again")
    # Writes the pass does not read leave it skipped: a person's name, a sidecar flag.
    store.write(lambda c: c.execute("UPDATE photos SET camera = 'X' WHERE id = ?", (a,)))
    assert places.settle(store, CFG, seen=seen).changes is None


def test_a_library_upgraded_to_the_revision_runs_its_first_pass(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    conn = db.connect(path)
    try:
        migrations.migrate(conn, path, upto=12)
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(places_sql.settle_rev) is not None
        add(store, "a", "2019-06-10T10:00:00")
        done = places.settle(store, CFG)
        assert done.changes is not None and done.changes.arrived == 1
        assert places.settle(store, CFG, seen=done.rev).changes is None
