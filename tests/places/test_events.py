"""Events kept incrementally on the real Store (SQLite in tmp_path): split and merged by photos arriving, going
missing, coming back and being purged; a user's name surviving the regrouping; the incremental result always the
one a full grouping from scratch gives; only the events beside a change rewritten."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from people_synth import content_hash

from daemon.config import EventsConfig
from daemon.library import events, places
from daemon.library import purge as purge_case
from daemon.store import Store
from daemon.store import events as sql
from daemon.types import PhotoAnalysis, PhotoMeta

SKAGEN = (57.7209, 10.5839)
COPENHAGEN = (55.6761, 12.5683)  # 240 km from Skagen
CFG = EventsConfig(gap_hours=12.0, split_km=50.0)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "library.db")
    yield s
    s.close()


def add(store: Store, name: str, when: str, gps: tuple[float, float] | None = SKAGEN) -> int:
    """A photo recorded as the intake records one (with its geocoded place)."""
    meta = PhotoMeta(width=64, height=64, format="JPEG", taken_at=when, gps=gps)
    result = store.record_analysis(f"/photos/{name}.jpg", 1, 1, content_hash(name), PhotoAnalysis(meta=meta),
                                   place=None if gps is None else places.locate(*gps))
    return result.photo_id


def grouping(store: Store) -> list[list[int]]:
    """The events as sets of photo ids, in time order."""
    rows = store.read(lambda c: c.execute(
        "SELECT event_id, photo_id FROM event_photos ORDER BY taken_at, photo_id").fetchall())
    order: dict[int, list[int]] = {}
    for event_id, photo_id in rows:
        order.setdefault(event_id, []).append(photo_id)
    return list(order.values())


def by_id(store: Store) -> dict[int, events.EventRow]:
    return {e.id: e for e in events.list_events(store)}


def test_arrivals_merge_two_events_and_the_named_one_keeps_its_id_and_name(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    b = add(store, "b", "2019-06-11T08:00:00")  # 22 h later: another event
    events.update(store, CFG)
    assert grouping(store) == [[a], [b]]
    second = store.read(lambda c: sql.events_of(c, [b]))[b]
    events.rename(store, second, "Skagen trip")
    mid = add(store, "mid", "2019-06-10T20:00:00")  # 10 h and 12 h: joins both
    changes = events.update(store, CFG)
    assert grouping(store) == [[a, mid, b]]
    assert changes.arrived == 1 and len(changes.deleted) == 1
    (only,) = events.list_events(store)
    assert only.id == second and only.name == "Skagen trip" and only.title == "Skagen trip"
    assert only.auto_name == "Skagen, June 2019" and only.photos == 3
    assert (only.start_at, only.end_at) == ("2019-06-10T10:00:00", "2019-06-11T08:00:00")


def test_a_photo_far_away_in_between_splits_an_event(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    b = add(store, "b", "2019-06-10T14:00:00")
    events.update(store, CFG)
    (first,) = events.list_events(store)
    events.rename(store, first.id, "Beach")
    far = add(store, "far", "2019-06-10T12:00:00", COPENHAGEN)
    events.update(store, CFG)
    assert grouping(store) == [[a], [far], [b]]
    rows = by_id(store)
    assert rows[first.id].name == "Beach"  # the name stays on one of the pieces, never lost or doubled
    assert sum(1 for e in rows.values() if e.name == "Beach") == 1
    assert sorted(e.auto_name for e in rows.values()) == ["Copenhagen, June 2019", "Skagen, June 2019",
                                                          "Skagen, June 2019"]


def test_a_deleted_photo_splits_its_event_and_coming_back_merges_it_again(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    b = add(store, "b", "2019-06-10T20:00:00")
    c = add(store, "c", "2019-06-11T06:00:00")
    d = add(store, "d", "2019-06-11T07:00:00")
    events.update(store, CFG)
    (trip,) = events.list_events(store)
    events.rename(store, trip.id, "Skagen weekend")
    store.remove("/photos/b.jpg")  # the file deleted: the photo goes missing, and leaves its event
    changes = events.update(store, CFG)
    assert changes.left == 1 and grouping(store) == [[a], [c, d]]
    named = [e for e in events.list_events(store) if e.name == "Skagen weekend"]
    assert len(named) == 1 and named[0].id == trip.id and named[0].photos == 2  # the larger piece keeps it
    # The same bytes back at another path: restored, and the event whole again under its name.
    assert store.link_or_mark_pending("/photos/again/b.jpg", 1, 1, content_hash("b")) is not None
    events.update(store, CFG)
    assert grouping(store) == [[a, b, c, d]]
    (whole,) = events.list_events(store)
    assert (whole.id, whole.name, whole.photos) == (trip.id, "Skagen weekend", 4)


def test_a_purged_photo_leaves_and_an_emptied_event_is_deleted(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    lone = add(store, "lone", "2020-01-01T10:00:00", COPENHAGEN)
    events.update(store, CFG)
    assert grouping(store) == [[a], [lone]]
    store.remove("/photos/lone.jpg")
    purge_case.purge(store)  # gone for good: the photos row is deleted; event_photos still names it
    changes = events.update(store, CFG)
    assert changes.left == 1 and len(changes.deleted) == 1 and grouping(store) == [[a]]


def test_photos_without_a_capture_time_join_no_event(store: Store) -> None:
    add(store, "undated", None)  # type: ignore[arg-type]
    add(store, "garbage", "0000-00-00T00:00:00")
    dated = add(store, "dated", "2021-03-04T05:06:07", None)
    events.update(store, CFG)
    assert grouping(store) == [[dated]]
    (row,) = events.list_events(store)
    assert row.auto_name == "March 2021"  # no place: the months alone


def test_an_arrival_rewrites_only_the_events_beside_it(store: Store) -> None:
    start = datetime(2018, 1, 1, 12)
    for i in range(40):  # 40 one-photo events, two days apart
        add(store, f"p{i}", (start + timedelta(days=2 * i)).isoformat())
    events.update(store, CFG)
    before = {e.id: e for e in events.list_events(store)}
    add(store, "new", (start + timedelta(days=20, hours=6)).isoformat())  # beside p10
    changes = events.update(store, CFG)
    assert changes.arrived == 1 and changes.regrouped <= 3
    after = {e.id: e for e in events.list_events(store)}
    assert sum(1 for i in before if i in after and before[i] != after[i]) <= 2


def test_incremental_events_equal_a_grouping_from_scratch(store: Store, tmp_path: Path) -> None:
    rng = random.Random(25)
    start = datetime(2019, 1, 1)
    spots = [SKAGEN, COPENHAGEN, (48.5723, 7.8155), None]
    alive: list[str] = []
    gone: list[str] = []
    for step in range(12):
        for i in range(rng.randint(3, 15)):
            name = f"s{step}-{i}"
            when = start + timedelta(hours=rng.uniform(0, 24 * 12))
            add(store, name, when.isoformat(timespec="seconds"), rng.choice(spots))
            alive.append(name)
        for name in rng.sample(alive, k=min(len(alive), rng.randint(0, 4))):
            store.remove(f"/photos/{name}.jpg")
            alive.remove(name)
            gone.append(name)
        if gone and rng.random() < 0.5:
            back = gone.pop(rng.randrange(len(gone)))
            assert store.link_or_mark_pending(f"/photos/{back}.jpg", 1, 1, content_hash(back)) is not None
            alive.append(back)
        events.update(store, CFG)
        members = store.read(lambda c: [sql.Member(int(r[0]), str(r[1]), r[2], r[3]) for r in c.execute(
            "SELECT p.id, substr(p.taken_at, 1, 19), p.gps_lat, p.gps_lon FROM photos p "
            "WHERE p.missing_since IS NULL AND p.taken_at IS NOT NULL ORDER BY p.taken_at, p.id")])
        scratch = [[m.photo_id for m in g] for g in sql.segment(members, CFG.gap_hours * 3600, CFG.split_km)]
        assert grouping(store) == scratch, f"step {step}"
        counts = store.read(lambda c: c.execute(
            "SELECT e.photo_count, (SELECT count(*) FROM event_photos ep WHERE ep.event_id = e.id) FROM events e"
        ).fetchall())
        assert all(stored == real for stored, real in counts)


def test_rename_checks_the_id_and_the_name(store: Store) -> None:
    add(store, "a", "2019-06-10T10:00:00")
    events.update(store, CFG)
    (row,) = events.list_events(store)
    from daemon.errors import NotFoundError, UsageError
    with pytest.raises(NotFoundError):
        events.rename(store, row.id + 1, "x")
    with pytest.raises(UsageError, match="control characters"):
        events.rename(store, row.id, "bad\x07name")
    assert events.rename(store, row.id, "  Sommer  i  Skagen ").name == "Sommer i Skagen"
    back = events.rename(store, row.id, "")
    assert back.name is None and back.title == back.auto_name


def test_arrivals_on_both_sides_never_join_across_an_event_between_them(store: Store) -> None:
    # a, far, c: three events (far is 240 km away). Two arrivals touch a's and c's events at once; a and c are 2 h
    # apart at one place, but `far` lies between them, so they must stay apart.
    a = add(store, "a", "2019-06-10T10:00:00")
    far = add(store, "far", "2019-06-10T11:00:00", COPENHAGEN)
    c = add(store, "c", "2019-06-10T12:00:00")
    events.update(store, CFG)
    assert grouping(store) == [[a], [far], [c]]
    before = add(store, "before", "2019-06-10T09:00:00")
    after = add(store, "after", "2019-06-10T13:00:00")
    events.update(store, CFG)
    assert grouping(store) == [[before, a], [far], [c, after]]


def test_a_photo_leaving_from_between_two_events_lets_them_merge(store: Store) -> None:
    a = add(store, "a", "2019-06-10T10:00:00")
    add(store, "far", "2019-06-10T11:00:00", COPENHAGEN)
    c = add(store, "c", "2019-06-10T12:00:00")
    events.update(store, CFG)
    assert len(grouping(store)) == 3
    store.remove("/photos/far.jpg")
    events.update(store, CFG)
    assert grouping(store) == [[a, c]]


def test_photos_taken_in_the_same_second_keep_their_order_when_one_arrives(store: Store) -> None:
    # Two cameras (or a burst) give photos one capture time. The sequence orders them by photo id; an arrival in
    # that second must be placed by it too: here 4 follows 3 (both in Skagen) and `far` lies between 1 and 3.
    # Before, the neighbours were looked up by time alone and a photo of the same second was never "between":
    # 1, 3 and 4 became one event across `far`.
    when = "2019-06-10T10:00:00"
    a = add(store, "a", when)
    far = add(store, "far", when, COPENHAGEN)
    c = add(store, "c", when)
    events.update(store, CFG)
    assert grouping(store) == [[a], [far], [c]]
    d = add(store, "d", when)
    events.update(store, CFG)
    assert grouping(store) == [[a], [far], [c, d]]
    store.remove("/photos/far.jpg")  # and leaving: a, c and d are now next to each other
    events.update(store, CFG)
    assert grouping(store) == [[a, c, d]]


def test_two_named_events_are_never_merged_and_keep_both_names(store: Store) -> None:
    # A photo with a wrong clock lands between two trips the user named: before, they merged and one name was
    # gone for good (deleting the stray photo again split them, but the second part came back with pictod's name).
    a = add(store, "a", "2019-06-10T10:00:00")
    b = add(store, "b", "2019-06-11T08:00:00")  # 22 h later: another event
    events.update(store, CFG)
    first, second = (store.read(lambda c, p=p: sql.events_of(c, [p]))[p] for p in (a, b))
    events.rename(store, first, "Grenen")
    events.rename(store, second, "Skagen town")
    stray = add(store, "stray", "2019-06-10T20:00:00")  # 10 h and 12 h: links both
    events.update(store, CFG)
    assert grouping(store) == [[a, stray], [b]]
    assert {e.name for e in events.list_events(store)} == {"Grenen", "Skagen town"}
    store.remove("/photos/stray.jpg")
    events.update(store, CFG)
    assert grouping(store) == [[a], [b]]
    assert {e.id: e.name for e in events.list_events(store)} == {first: "Grenen", second: "Skagen town"}


def test_a_named_event_whose_photos_all_go_missing_gets_them_and_its_name_back(store: Store) -> None:
    # An unmounted drive: every photo of the event the user named goes missing. The event was deleted with its
    # name, and the photos came back into a new event with pictod's name.
    a = add(store, "a", "2019-06-10T10:00:00")
    b = add(store, "b", "2019-06-10T12:00:00")
    other = add(store, "other", "2019-07-01T12:00:00")
    events.update(store, CFG)
    trip = store.read(lambda c: sql.events_of(c, [a]))[a]
    events.rename(store, trip, "Grenen")
    for name in ("a", "b"):
        store.remove(f"/photos/{name}.jpg")
    events.update(store, CFG)
    assert grouping(store) == [[other]]
    assert [e.title for e in events.list_events(store)] == ["Skagen, July 2019"]  # parked: out of the list
    for name in ("a", "b"):
        assert store.link_or_mark_pending(f"/photos/{name}.jpg", 1, 1, content_hash(name)) is not None
    events.update(store, CFG)
    assert grouping(store) == [[a, b], [other]]
    assert by_id(store)[trip].name == "Grenen" and by_id(store)[trip].photos == 2
    # Purged for good instead: the parked event goes with them.
    for name in ("a", "b"):
        store.remove(f"/photos/{name}.jpg")
    events.update(store, CFG)
    assert purge_case.purge(store).purged == 2
    events.update(store, CFG)
    assert store.read(lambda c: c.execute("SELECT count(*) FROM events").fetchone()[0]) == 1
