"""A search by date read a page at a time (`photos --sort date --limit/--offset`, the web's JSON pages, the event
page) gives exactly that slice of the whole order: photos of one second (ties, ordered by path, then id) split
across pages, file-dated photos among capture-dated ones, both directions."""

from __future__ import annotations

import dataclasses

import pytest
from people_synth import content_hash

from daemon.store import Store
from daemon.store.search import PhotoFilter, search_photos
from daemon.types import PhotoAnalysis, PhotoMeta


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    s = Store.open(tmp_path_factory.mktemp("pages") / "library.db")
    times = ["2019-06-10T10:00:00"] * 5 + ["2019-06-10T11:00:00"] * 3 + ["2019-06-11T09:00:00", None, None]
    for i, when in enumerate(times * 2):
        meta = PhotoMeta(width=64, height=64, format="JPEG", taken_at=when)
        # Paths out of id order, so the path (not the id) orders a second's photos.
        s.record_analysis(f"/p/{(i * 7) % 22:02d}.jpg", 1, 1_560_000_000 * 10**9 + (i % 3) * 3600 * 10**9,
                          content_hash(i), PhotoAnalysis(meta=meta))
    yield s
    s.close()


@pytest.mark.parametrize("descending", [True, False])
def test_every_page_is_its_slice_of_the_whole_order(store: Store, descending: bool) -> None:
    flt = PhotoFilter(sort="date", descending=descending)
    every = [h.id for h in store.read(lambda c: search_photos(c, flt))]
    assert len(every) == 22
    for limit in (1, 2, 3, 4, 5, 7, 21, 22, 30):
        for offset in range(0, 24):
            page = dataclasses.replace(flt, limit=limit, offset=offset)
            got = [h.id for h in store.read(lambda c, f=page: search_photos(c, f))]  # type: ignore[misc]
            assert got == every[offset:offset + limit], (limit, offset)


def test_a_page_past_sqlites_integers_is_empty_not_an_error(store: Store) -> None:
    flt = PhotoFilter(sort="date", limit=2**63 - 1, offset=5)
    assert [h.id for h in store.read(lambda c: search_photos(c, flt))] == \
        [h.id for h in store.read(lambda c: search_photos(c, PhotoFilter(sort="date")))][5:]
