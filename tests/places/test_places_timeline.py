"""The Photos timeline's places and events facets (issue 25) on the real library of test_places_cli (exiftool-tagged
copies of a real photo, scanned by `pictod scan`): each facet's counts are what the CLI's `photos --place/--event`
finds under the same filter, a chosen value narrows the months, and a second place or event replaces the first
(a photo has one of each)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from cli_library import pictod
from test_places_cli import library  # the module's library fixture, scanned once
from web_helpers import client

from daemon import config as config_mod

__all__ = ["library"]


def cli_ids(config: Path, *args: str) -> set[int]:
    done = pictod("photos", "--config", str(config), "--json", *args)
    assert done.returncode == 0, done.stderr
    return {int(hit["id"]) for hit in json.loads(done.stdout)}


def facets(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: {str(v["value"]): v for v in f["values"]} for f in answer["facets"]}


def test_places_and_events_facets_count_and_narrow_like_the_cli(library: Path, tmp_path: Path) -> None:
    cfg = config_mod.load(library)
    web = client(cfg, tmp_path / "thumbs")
    try:
        answer = web.get("/photos", headers={"Accept": "application/json"}).json()
        found = facets(answer)
        places = found["places"]
        assert {name: v["count"] for name, v in places.items()} == {
            "Skagen, Denmark": 3, "Copenhagen, Denmark": 2, "Reykjavík, Iceland": 1}
        for name, value in places.items():
            assert len(cli_ids(library, "--place", name)) == value["count"]
        events = found["events"]
        assert sum(v["count"] for v in events.values()) == 8  # every photo has a capture time: each in one event
        for event_id, value in events.items():
            assert len(cli_ids(library, "--event", event_id)) == value["count"]
        # A condition every photo meets counts the same (its places and events read the other way: scanned).
        every = facets(web.get("/photos", params={"since": "1990"}, headers={"Accept": "application/json"}).json())
        assert (every["places"], every["events"]) == (places, events)

        # Narrowed by a place: the photos, months and the other facets are those of the CLI's --place.
        narrowed = web.get("/photos", params={"place": "Skagen, Denmark"},
                           headers={"Accept": "application/json"}).json()
        assert {h["id"] for h in narrowed["photos"]} == cli_ids(library, "--place", "Skagen, Denmark")
        assert [(m["month"], m["count"]) for m in narrowed["months"]] == [("2019-06", 3)]
        after = facets(narrowed)
        assert after["places"]["Skagen, Denmark"]["chosen"] is True
        assert sum(v["count"] for v in after["events"].values()) == 3

        # The page's link for another place replaces the chosen one; the chosen one's link drops it.
        page = web.get("/photos", params={"place": "Skagen, Denmark"})
        assert page.status_code == 200
        hrefs = [h.replace("&amp;", "&") for h in _links(page.text)]
        to_copenhagen = next(h for h in hrefs if "Copenhagen" in h)
        assert [v for k, v in parse_qsl(urlsplit(to_copenhagen).query) if k == "place"] == ["Copenhagen, Denmark"]
        two = web.get("/photos", params=[("place", "Skagen, Denmark"), ("place", "Copenhagen, Denmark")],
                      headers={"Accept": "application/json"}).json()
        assert {h["id"] for h in two["photos"]} == cli_ids(library, "--place", "Copenhagen, Denmark")

        # An event and a place together: AND, as the CLI's --event with --place.
        skagen_event = max(after["events"].items(), key=lambda kv: kv[1]["count"])[0]
        both = web.get("/photos", params={"place": "Skagen, Denmark", "event": skagen_event},
                       headers={"Accept": "application/json"}).json()
        assert {h["id"] for h in both["photos"]} == cli_ids(
            library, "--place", "Skagen, Denmark", "--event", skagen_event)

        # Bad values are a problem said on the page, not an error page.
        for params in ({"event": "99999"}, {"event": "x"}, {"place": " , "}):
            bad = web.get("/photos", params=params, headers={"Accept": "application/json"})
            assert bad.status_code == 200 and bad.json()["problems"], params
    finally:
        web.__exit__(None, None, None)


def _links(html: str) -> list[str]:
    import re

    return re.findall(r'href="(/photos\?[^"]*)"', html)
