"""The Photo page's place and event line and the event page (issue 25), on the real app in process: a library
built through the store's real write path from real photos, its places from the real geocoder, its events from
the real incremental grouping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pictod_testdata import FACE_RECOGNITION, SKIMAGE
from starlette.testclient import TestClient
from web_helpers import Built, Shot, build_library, client, csrf_of, post

from daemon.config import EventsConfig
from daemon.library import events, places
from daemon.store import Store

SHOTS = [
    Shot(FACE_RECOGNITION / "obama.jpg", taken_at="2019-06-10T10:00:00"),
    Shot(FACE_RECOGNITION / "obama2.jpg", taken_at="2019-06-10T15:00:00"),
    Shot(SKIMAGE / "chelsea.png", taken_at="2020-01-02T10:00:00"),
    Shot(SKIMAGE / "coffee.png"),  # no capture time, no position
]
SKAGEN = (57.7209, 10.5839)


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    lib = build_library(tmp_path / "lib", SHOTS, recluster=False)
    with Store.open(lib.cfg.database_path) as store:
        ids = [store.get_file(str(p)).photo_id for p in lib.paths]  # type: ignore[union-attr]
        store.set_places([(ids[0], places.locate(*SKAGEN)), (ids[1], places.locate(*SKAGEN))])
        events.update(store, EventsConfig())
    yield lib


@pytest.fixture
def web(built: Built, tmp_path: Path) -> Iterator[TestClient]:
    test = client(built.cfg, tmp_path / "cache")
    yield test
    test.__exit__(None, None, None)


def ids_and_events(built: Built) -> tuple[list[int], list[events.EventRow]]:
    with Store.open(built.cfg.database_path, read_only=True) as store:
        ids = [store.get_file(str(p)).photo_id for p in built.paths]  # type: ignore[union-attr]
        return ids, events.list_events(store)  # type: ignore[return-value]


def test_the_photo_page_shows_its_place_and_links_its_event(web: TestClient, built: Built) -> None:
    ids, rows = ids_and_events(built)
    skagen = next(e for e in rows if e.auto_name == "Skagen, June 2019")
    page = web.get(f"/photos/{ids[0]}")
    assert page.status_code == 200
    assert '<span class="place">Skagen, North Denmark, Denmark</span>' in page.text
    assert f'<a href="/events/{skagen.id}" class="event">Skagen, June 2019</a>' in page.text
    page = web.get(f"/photos/{ids[3]}")  # no time, no place: no line at all
    assert page.status_code == 200 and 'class="where"' not in page.text


def test_the_event_page_lists_its_photos_and_renames_it(web: TestClient, built: Built) -> None:
    ids, rows = ids_and_events(built)
    skagen = next(e for e in rows if e.auto_name == "Skagen, June 2019")
    page = web.get(f"/events/{skagen.id}")
    assert page.status_code == 200 and "Skagen, June 2019" in page.text and "2 photos" in page.text
    assert page.text.index(f"/photos/{ids[0]}") < page.text.index(f"/photos/{ids[1]}")  # as they happened
    assert f"/photos/{ids[2]}" not in page.text
    done = post(web, f"/events/{skagen.id}/name", {"name": "Sommer i Skagen"}, csrf=csrf_of(web))
    assert done.status_code == 303 and done.headers["location"] == f"/events/{skagen.id}"
    page = web.get(f"/events/{skagen.id}")
    assert "Sommer i Skagen" in page.text and "pictod's name: Skagen, June 2019" in page.text
    assert "Sommer i Skagen" in web.get(f"/photos/{ids[1]}").text
    reply = post(web, f"/events/{skagen.id}/name", {"name": "bad\x07"}, csrf=csrf_of(web), json_reply=True)
    assert reply.status_code == 400 and "control characters" in reply.json()["error"]
    reply = post(web, f"/events/{skagen.id}/name", {"name": ""}, csrf=csrf_of(web), json_reply=True)
    assert reply.status_code == 200 and reply.json()["result"]["title"] == "Skagen, June 2019"
    assert post(web, f"/events/{skagen.id}/name", {"name": "x"}, csrf=None).status_code == 403
    assert web.get("/events/99999").status_code == 404
