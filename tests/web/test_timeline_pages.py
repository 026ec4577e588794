"""The Photos page's routes in process (Starlette's TestClient): /photos/month gives the page's script one slice
of a month (the thumbnails' markup, the next offset in X-Pictod-More) or JSON; facet links carry the filter as
one value each and take a chosen value out again; a bad month or an unknown person is said on the page (the
month route refuses it); items are links to the photo page with the thumbnail the renderer makes."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from timeline_library import browsing_plan, build
from web_helpers import Built, client

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build(tmp_path_factory.mktemp("pages"), browsing_plan())


@pytest.fixture(scope="module")
def web(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    test = client(built.cfg, tmp_path_factory.mktemp("cache"))
    yield test
    test.__exit__(None, None, None)


def test_a_month_comes_in_slices(web: TestClient) -> None:
    every = web.get("/photos/month", params={"month": "2025-02", "limit": 1000}, headers=JSON).json()
    assert len(every["photos"]) == 40 and every["more"] is None
    first = web.get("/photos/month", params={"month": "2025-02", "limit": 15})
    assert first.status_code == 200 and first.headers["x-pictod-more"] == "15"
    assert first.headers["content-type"].startswith("text/html")
    ids = [int(i) for i in re.findall(r'<a href="/photos/(\d+)" data-photo="\1"><img src="/img/photo/\1/thumb.jpg"',
                                      first.text)]
    assert ids == [p["id"] for p in every["photos"][:15]]
    assert first.text.count('loading="lazy"') == 15
    last = web.get("/photos/month", params={"month": "2025-02", "offset": 30, "limit": 15})
    assert "x-pictod-more" not in last.headers and last.text.count("<li>") == 10
    dated = [p["date"] for p in every["photos"]]
    assert dated == sorted(dated, reverse=True) and all(d.startswith("2025-02") for d in dated)
    assert "(file time)" in web.get("/photos/month", params={"month": "2025-02"}).text  # which date it is
    assert web.get("/photos/month", params={"month": "2031-01"}, headers=JSON).json()["photos"] == []
    for bad in ("2025-13", "2025", "latest", ""):
        refused = web.get("/photos/month", params={"month": bad})
        assert refused.status_code == 400, bad
    refused = web.get("/photos/month", params={"month": "2025-02", "person": "Nobody"}, headers=JSON)
    assert refused.status_code == 400 and "nobody is called" in refused.json()["error"]


def test_facet_links_add_and_take_out_one_value(web: TestClient) -> None:
    page = web.get("/photos", params={"tag": "dog"}).text
    links = dict(re.findall(r'<a href="([^"]+)"(?: class="chosen"[^>]*)? data-value="([^"]+)"', page))
    by_value = {v: k.replace("&amp;", "&") for k, v in links.items()}
    assert by_value["dog"] == "/photos"  # chosen: the link takes it out
    assert by_value["cat"] == "/photos?tag=dog&tag=cat"
    person = next(v for v in by_value if v.startswith("#"))
    assert by_value[person] == f"/photos?tag=dog&person={person[1:]}"
    narrowed = web.get(by_value[person]).text
    assert f'value="{person}"' in narrowed  # the people box shows who is chosen
    assert '<input type="hidden" name="tag" value="dog">' in narrowed  # a search keeps the chosen tags
    answer = web.get(by_value[person], headers=JSON).json()
    assert answer["total"] == sum(m["count"] for m in answer["months"])
    people = next(f for f in answer["facets"] if f["name"] == "people")
    assert people["values"][0]["chosen"] and people["values"][0]["count"] == answer["total"]


def test_a_bad_month_or_person_is_said_on_the_page(web: TestClient) -> None:
    page = web.get("/photos", params={"month": "2024-13"})
    assert page.status_code == 200 and "not a month" in page.text and 'id="m-2025-02"' in page.text
    page = web.get("/photos", params={"person": "Nobody"})
    assert page.status_code == 200 and "nobody is called" in page.text and "<section class=\"month\"" not in page.text
    page = web.get("/photos", params={"since": "2030"})
    assert page.status_code == 200 and "No photo matches." in page.text


def test_the_scrubber_lists_every_month_with_its_count(web: TestClient) -> None:
    page = web.get("/photos").text
    months = re.findall(r'data-month="([\d-]+)" data-count="(\d+)" title="[^"]+"', page)
    scrubber = page[page.index('id="scrubber"'):page.index('id="timeline"')]
    listed = re.findall(r'data-month="([\d-]+)" data-count="(\d+)"', scrubber)
    assert listed == months and [m for m, _n in listed] == sorted((m for m, _n in listed), reverse=True)
    assert len(listed) == 18 and sum(int(n) for _m, n in listed) == 151
    assert re.findall(r'class="year-link">(\d{4})<', scrubber) == ["2025", "2024", "2023"]


def test_an_old_photos_address_still_answers(web: TestClient) -> None:
    """`?page=N` (the search's pages before the timeline) is the JSON search's page now; the HTML ignores it."""
    assert web.get("/photos", params={"page": 3}).status_code == 200
    second = web.get("/photos", params={"page": 2}, headers=JSON).json()
    assert len(second["photos"]) == 151 - 96 and second["total"] == 151
