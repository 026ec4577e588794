"""The timeline's reads (`daemon/library/timeline.py` over `daemon/store/timeline.py`): `photo_dates` (schema v12,
kept by triggers) stays what the photos and files say through every write; a month's photos are exactly what the
search finds for that month (`pictod photos --since M --until M`, the one date rule); the pages cover every photo
once; each facet count is the number of photos the filter with that value finds; an older library a reader opens
as it is gives the same answers."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import people_synth as synth
import pytest
from timeline_library import local_ns

from daemon.config import ClusteringConfig
from daemon.library import photos, timeline
from daemon.library.photos import PhotoFilter
from daemon.people.manager import recluster_now
from daemon.store import Store, db, migrations, queries
from daemon.types import DetectedObject, PhotoAnalysis, PhotoMeta


def _truth(conn: sqlite3.Connection) -> set[tuple[int, str | None, int | None]]:
    """Each photo's (id, capture time, earliest done file's mtime) from the photos and files themselves."""
    return set(conn.execute(
        "SELECT p.id, substr(p.taken_at, 1, 19), (SELECT min(mtime_ns) FROM files f WHERE f.photo_id = p.id "
        "AND f.status = 'done') FROM photos p").fetchall())


def _dates(conn: sqlite3.Connection) -> set[tuple[int, str | None, int | None]]:
    return set(conn.execute("SELECT photo_id, taken, file_ns FROM photo_dates").fetchall())


def _analysis(taken: str | None, tags: tuple[str, ...] = (), faces: int = 0, seed: int = 0) -> PhotoAnalysis:
    base = synth.analysis(list(synth.face_vectors(synth.identities(3, seed=1), np.arange(faces) % 3,
                                                  np.random.default_rng(seed))) if faces else [], tags=tags)
    return PhotoAnalysis(meta=PhotoMeta(width=64, height=48, format="JPEG", taken_at=taken),
                         objects=base.objects, faces=base.faces)


def _hash(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def test_photo_dates_follow_every_write(tmp_path: Path) -> None:
    """New photo, a second copy (older mtime), a move, the copy changed (pending), the first copy broken
    (failed), a deletion (missing), the bytes back elsewhere (restored), a purge: after each, photo_dates is the
    photos and files as they are."""
    from daemon.library import purge

    t0, t1 = local_ns(datetime(2020, 5, 1, 12)), local_ns(datetime(2021, 7, 1, 12))
    with Store.open(tmp_path / "lib.db") as store:
        def check() -> None:
            assert store.read(_dates) == store.read(_truth)

        a = store.record_analysis("/p/a.jpg", 10, t1, _hash("A"), _analysis(None)).photo_id
        check()
        assert store.read(_dates) == {(a, None, t1)}
        store.link_or_mark_pending("/p/b.jpg", 10, t0, _hash("A"))
        check()
        assert store.read(_dates) == {(a, None, t0)}  # the earliest copy dates it
        store.move("/p/b.jpg", "/p/c.jpg")
        check()
        store.link_or_mark_pending("/p/c.jpg", 11, t0 + 5, _hash("A changed"))  # changed: analysed again
        check()
        assert store.read(_dates) == {(a, None, t1)}
        store.record_failure("/p/a.jpg", 3, t1, "truncated")
        check()
        assert store.read(_dates) == {(a, None, None)}  # no done file: in no search
        b = store.record_analysis("/p/b2.jpg", 20, t1, _hash("B"), _analysis("2019-06-14T13:02:11+02:00")).photo_id
        check()
        assert (b, "2019-06-14T13:02:11", t1) in store.read(_dates)
        store.remove("/p/b2.jpg")
        check()
        assert (b, "2019-06-14T13:02:11", None) in store.read(_dates)
        store.link_or_mark_pending("/q/b2-again.jpg", 20, t0, _hash("B"))  # the same bytes elsewhere
        check()
        assert (b, "2019-06-14T13:02:11", t0) in store.read(_dates)
        store.remove("/q/b2-again.jpg")
        store.remove("/p/c.jpg")
        purge.purge(store)
        check()
        assert store.read(lambda c: c.execute("SELECT count(*) FROM photo_dates").fetchone()[0]) == \
            store.read(lambda c: c.execute("SELECT count(*) FROM photos").fetchone()[0])


def _dated_library(path: Path) -> tuple[Store, dict[str, int]]:
    """Photos around month and year boundaries, capture times and file times mixed: name -> photo id."""
    plan = [  # name, capture time, the file's local mtime, tags, faces
        ("exif-new-year-eve", "2021-12-31T23:59:59", datetime(2024, 1, 1), ("cat",), 1),
        ("exif-offset", "2022-01-01T00:00:00-05:00", datetime(2019, 1, 1), ("cat", "dog"), 2),
        ("file-new-year-eve", None, datetime(2021, 12, 31, 23, 59, 59), ("dog",), 1),
        ("file-new-year", None, datetime(2022, 1, 1, 0, 0, 0), (), 0),
        ("exif-beats-file", "2020-02-29T08:00:00", datetime(2022, 1, 15), ("cat",), 3),
        ("file-feb", None, datetime(2020, 2, 1, 0, 0, 1), ("cat",), 1),
        *((f"march-{k}", f"2020-03-{k + 1:02d}T10:00:00", datetime(2024, 1, 1), ("dog",) * (k % 2), k % 3)
          for k in range(7)),
        ("gone", "2020-03-20T10:00:00", datetime(2024, 1, 1), ("cat",), 1),  # missing below
    ]
    store = Store.open(path)
    ids: dict[str, int] = {}
    for i, (name, taken, mtime, tags, faces) in enumerate(plan):
        objects = tuple(DetectedObject(label=t, score=0.9, box=(0.0, 0.0, 1.0, 1.0)) for t in tags)
        analysis = _analysis(taken, faces=faces, seed=i)
        analysis = PhotoAnalysis(meta=analysis.meta, objects=objects, faces=analysis.faces)
        ids[name] = store.record_analysis(f"/lib/{name}.jpg", 100 + i, local_ns(mtime), _hash(name),
                                          analysis).photo_id
    store.remove("/lib/gone.jpg")
    recluster_now(store, ClusteringConfig())
    return store, ids


# Local time is the file time's month: UTC, New York (with its summer time) and UTC+14, the farthest ahead.
ZONES = ["UTC0", "EST5EDT,M3.2.0,M11.1.0", "<+14>-14"]


@pytest.fixture(params=ZONES, ids=["utc", "new-york", "utc+14"])
def dated(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Store, dict[str, int]]]:
    monkeypatch.setenv("TZ", request.param)
    time.tzset()  # Python's and SQLite's localtime both read it
    store, ids = _dated_library(tmp_path / "lib.db")
    try:
        yield store, ids
    finally:
        store.close()
        monkeypatch.undo()
        time.tzset()


def _month_ids(store: Store, flt: PhotoFilter, month: str, limit: int) -> list[int]:
    """A month's photos fetched `limit` at a time, as the page's script does."""
    got: list[int] = []
    offset: int | None = 0
    while offset is not None:
        part = timeline.month_photos(store, flt, month, offset=offset, limit=limit)
        got += [p.id for p in part.photos]
        offset = part.more
    return got


FILTERS = [PhotoFilter(), PhotoFilter(tags=("cat",)), PhotoFilter(since="2020-02", until="2021"),
           PhotoFilter(tags=("dog",), since="2021-12-31T23:59")]


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "cat", "2020-02..2021", "dog-since-new-year-eve"])
def test_each_month_holds_what_the_search_finds_for_it(dated: tuple[Store, dict[str, int]],
                                                       flt: PhotoFilter) -> None:
    store, _ids = dated
    months = timeline.months(store, flt)
    assert [m.month for m in months] == sorted({m.month for m in months}, reverse=True)  # newest first
    everything = {h.id for h in photos.search_photos(store, flt)}
    assert sum(m.count for m in months) == len(everything) == photos.count_photos(store, flt)
    seen: list[int] = []
    for m in months:
        wanted = photos.search_photos(store, PhotoFilter(tags=flt.tags, people=flt.people, since=m.month,
                                                          until=m.month))
        got = _month_ids(store, flt, m.month, limit=2)
        assert set(got) == {h.id for h in wanted} & everything and len(got) == m.count, m
        dates = [p.date for p in timeline.month_photos(store, flt, m.month, limit=100).photos]
        assert dates == sorted(dates, reverse=True) and all(d[:7] == m.month for d in dates)
        seen += got
    assert sorted(seen) == sorted(everything)
    # The pages read their photos (and the facets their counts) knowing how many the filter keeps (a filter
    # keeping many: the photos in the page's range first, the covering indexes scanned): the same answers.
    shown = timeline.timeline(store, flt, size=1000)
    assert shown.months == months
    assert shown.photos == {m.month: timeline.month_photos(store, flt, m.month, limit=1000).photos for m in months}
    assert shown.facets == timeline.facets(store, flt)


def test_the_months_follow_the_clis_rule_at_the_boundaries(dated: tuple[Store, dict[str, int]]) -> None:
    store, ids = dated
    month_of = {p.id: p.date[:7] for m in timeline.months(store, PhotoFilter())
                for p in timeline.month_photos(store, PhotoFilter(), m.month, limit=100).photos}
    assert month_of[ids["exif-new-year-eve"]] == "2021-12"
    assert month_of[ids["exif-offset"]] == "2022-01"  # the camera's own clock, its offset not applied
    assert month_of[ids["file-new-year-eve"]] == "2021-12"  # local time
    assert month_of[ids["file-new-year"]] == "2022-01"
    assert month_of[ids["exif-beats-file"]] == "2020-02"
    assert ids["gone"] not in month_of  # missing: in no search


def test_pages_cover_every_photo_once(dated: tuple[Store, dict[str, int]]) -> None:
    store, _ids = dated
    months = timeline.months(store, PhotoFilter())
    total = sum(m.count for m in months)
    for size in (1, 3, 5, 8, 100):
        page = timeline.timeline(store, PhotoFilter(), size=size)
        assert page.page.number == 1 and page.page.previous is None
        shown: list[int] = []
        numbers = []
        while True:
            assert sum(len(v) for v in page.photos.values()) <= size
            assert [s.month for s in page.page.slices] == [m for m in page.photos]
            for i, s in enumerate(page.page.slices):
                whole = next(m.count for m in months if m.month == s.month)
                assert s.limit == len(page.photos[s.month])
                # Whole months, but the first may go on a month the page before began, the last be cut.
                assert i == 0 or s.offset == 0, (size, s)
                assert s is page.page.slices[-1] or s.offset + s.limit == whole, (size, s)
            shown += [p.id for items in page.photos.values() for p in items]
            numbers.append(page.page.number)
            if page.page.next is None:
                break
            following = timeline.timeline(store, PhotoFilter(), month=page.page.next.month,
                                          offset=page.page.next.offset, size=size)
            assert following.page.previous == page.page.slices[0]
            page = following
        assert numbers == list(range(1, page.page.pages + 1))
        assert len(shown) == len(set(shown)) == total, size
    # A month without photos opens the page of the next older one.
    page = timeline.timeline(store, PhotoFilter(), month="2021-06", size=3)
    assert page.page.slices[0].month == "2020-03"


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "cat", "2020-02..2021", "dog-since-new-year-eve"])
def test_facet_counts_are_the_photos_each_value_narrows_to(dated: tuple[Store, dict[str, int]],
                                                            flt: PhotoFilter) -> None:
    store, _ids = dated
    for values in timeline.facets(store, flt):
        facet = next(f for f in timeline.FACETS if f.name == values.name)
        if facet.single:
            continue  # places and events: tests/places/test_places_timeline.py (this library has neither)
        assert values.values, values.name
        for v in values.values:
            narrowed = timeline.narrowed(flt, facet, (*getattr(flt, facet.field), v.value))
            assert v.count == photos.count_photos(store, narrowed) > 0, (values.name, v)
            assert v.chosen == (v.value in getattr(flt, facet.field))
        counts = [v.count for v in values.values if not v.chosen]
        assert counts == sorted(counts, reverse=True)
    # The missing photo's cat and face are not counted.
    cats = next(v for f in timeline.facets(store, PhotoFilter()) if f.name == "tags" for v in f.values
                if v.value == "cat")
    assert cats.count == photos.count_photos(store, PhotoFilter(tags=("cat",))) == 4


def test_a_chosen_value_nothing_has_any_more_stays_to_be_dropped(dated: tuple[Store, dict[str, int]]) -> None:
    store, ids = dated
    both = PhotoFilter(tags=("dog", "cat"))
    assert {h.id for h in photos.search_photos(store, both)} == {ids["exif-offset"]}
    tags = next(f for f in timeline.facets(store, both) if f.name == "tags")
    assert [(v.value, v.count) for v in tags.values if v.chosen] == [("cat", 1), ("dog", 1)]
    later = PhotoFilter(tags=("dog", "cat"), since="2023")  # rules out the one photo with both
    tags = next(f for f in timeline.facets(store, later) if f.name == "tags")
    assert [(v.value, v.count, v.chosen) for v in tags.values] == [("dog", 0, True), ("cat", 0, True)]


def test_an_older_library_read_as_it_is_answers_the_same(tmp_path: Path) -> None:
    """A v11 library (no photo_dates) opened read-only, as `pictod photos` does without upgrading it: the search
    groups the files itself and finds the same photos; upgraded, photo_dates is filled from what is there."""
    path = tmp_path / "v9.db"
    db.prepare_path(path)
    conn = db.connect(path)
    try:
        migrations.migrate(conn, path, upto=11)  # written below by today's record_analysis: v11's columns
        for i, (taken, mtime) in enumerate([("2020-01-05T10:00:00", datetime(2024, 1, 1)),
                                            (None, datetime(2020, 1, 31, 23, 30)), (None, datetime(2020, 2, 1))]):
            conn.execute("BEGIN IMMEDIATE")
            queries.record_analysis(conn, f"/v9/{i}.jpg", 10 + i, local_ns(mtime), _hash(f"v9-{i}"), _analysis(taken))
            conn.execute("COMMIT")
    finally:
        conn.close()
    flt = PhotoFilter(since="2020-01", until="2020-01")
    with Store.open(path, read_only=True) as old:
        assert old.schema_version == 11
        before = {h.id for h in photos.search_photos(old, flt)}
        assert len(before) == 2 and photos.count_photos(old, flt) == 2
    with Store.open(path) as upgraded:
        assert upgraded.read(_dates) == upgraded.read(_truth) and len(upgraded.read(_dates)) == 3
        assert {h.id for h in photos.search_photos(upgraded, flt)} == before
        assert [(m.month, m.count) for m in timeline.months(upgraded, PhotoFilter())] == [("2020-02", 1),
                                                                                         ("2020-01", 2)]
