"""Issue 22's web item: the Photos page's date search and its timeline use the CLI's rule (the EXIF capture time,
else the file's modification time in local time). One library made by a real `pictod scan` of real photos, some
given a capture time by exiftool, the others only a file time (os.utime), several on either side of a new year;
`pictod photos --since/--until --json` (a subprocess) and the web app (its routes under Starlette's TestClient,
in a time zone that is not UTC, as the CLI's) must find the same photos: the JSON search, the timeline's months
(the page's script's /photos/month) and the pages without JavaScript. Before the fix the web matched capture
dates only (`since=2026`: web 0, CLI 46)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from harness import REPO
from pictod_testdata import JOHNS
from starlette.testclient import TestClient
from timeline_library import local_ns
from web_helpers import client

from daemon import config as config_mod

ZONE = "EST5EDT,M3.2.0,M11.1.0"  # New York: local new year is 05:00 UTC
JSON = {"Accept": "application/json"}
# name -> (EXIF capture time written by exiftool or None, the file's local mtime; None: left at the copy time)
PLAN: dict[str, tuple[str | None, datetime | None]] = {
    "exif-eve": ("2021:12:31 23:59:59", datetime(2019, 6, 1, 12)),  # the capture time wins over the file's
    "exif-new-year": ("2022:01:01 00:00:00", datetime(2023, 6, 1, 12)),
    "exif-2020": ("2020:07:14 10:00:00", None),
    "file-eve": (None, datetime(2021, 12, 31, 23, 30)),  # 04:30 UTC on the 1st: December here
    "file-new-year": (None, datetime(2022, 1, 1, 0, 0, 30)),
    "file-2020": (None, datetime(2020, 2, 29, 12)),
    "copied-now-1": (None, None),  # dated by the copy: this year, as the hand test's 46 photos
    "copied-now-2": (None, None),
}
RANGES = [("2021-12-31", "2021-12-31"), ("2022", "2022"), ("2021-12", None), (None, "2021-12-31T23:59:59"),
          ("2020", "2021"), ("2022-01-01T00:00", None), (str(datetime.now().year), None), (None, None)]


@contextlib.contextmanager
def _zone() -> Iterator[None]:
    """This process in ZONE (Python's and SQLite's local time both read TZ), then back."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = ZONE
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def _pictod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "TZ": ZONE})


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dates")
    photos = root / "photos"
    photos.mkdir()
    crops = sorted(JOHNS.glob("*/*.jpg"))
    for (name, (taken, mtime)), src in zip(PLAN.items(), crops, strict=False):
        dest = photos / f"{name}.jpg"
        shutil.copy(src, dest)
        if taken is not None:
            done = subprocess.run(["exiftool", "-q", "-overwrite_original", f"-DateTimeOriginal={taken}", str(dest)],
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        if mtime is not None:
            with _zone():
                ns = local_ns(mtime)
            os.utime(dest, ns=(ns, ns))
    config = root / "config.toml"
    config.write_text(f'[library]\nfolders = ["{photos}"]\ndatabase = "{root / "lib.db"}"\n[log]\nformat = "json"\n')
    done = _pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    return config


@pytest.fixture(scope="module")
def web(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _zone():  # the web app in the CLI's time zone (its SQLite reads local time from the process)
        test = client(config_mod.load(library, check_folders=False), tmp_path_factory.mktemp("cache"))
        try:
            yield test
        finally:
            test.__exit__(None, None, None)


def _query(since: str | None, until: str | None) -> dict[str, str]:
    return {k: v for k, v in (("since", since), ("until", until)) if v}


def _cli(library: Path, since: str | None, until: str | None) -> list[dict[str, Any]]:
    args = [a for k, v in _query(since, until).items() for a in (f"--{k}", v)]
    done = _pictod("photos", *args, "--config", str(library), "--json")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout))


def test_the_scan_read_the_dates_it_was_given(library: Path) -> None:
    hits = {Path(h["paths"][0]).stem: h for h in _cli(library, None, None)}
    assert set(hits) == set(PLAN)
    for name, (taken, _mtime) in PLAN.items():
        assert hits[name]["date_source"] == ("exif" if taken else "file"), name
    assert hits["exif-eve"]["date"] == "2021-12-31T23:59:59"
    assert hits["file-eve"]["date"] == "2021-12-31T23:30:00"  # local time, not UTC (04:30 on the 1st)


@pytest.mark.parametrize(("since", "until"), RANGES, ids=[f"{s}..{u}" for s, u in RANGES])
def test_web_and_cli_find_the_same_photos(web: TestClient, library: Path, since: str | None,
                                          until: str | None) -> None:
    cli = {h["id"]: h for h in _cli(library, since, until)}
    if since == str(datetime.now().year):
        assert len(cli) >= 2  # the photos dated by their copy: the web found none of them before
    # The JSON search: the same hits, the same dates.
    answer = web.get("/photos", params=_query(since, until), headers=JSON)
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert {h["id"]: h for h in found["photos"]} == cli and found["total"] == len(cli)
    # The timeline: each photo in the month of the CLI's date, fetched month by month as the page's script does.
    months = {m["month"]: m["count"] for m in found["months"]}
    assert months == {m: sum(1 for h in cli.values() if h["date"][:7] == m) for m in {h["date"][:7]
                                                                                      for h in cli.values()}}
    timeline: dict[int, str] = {}
    for month in months:
        part = web.get("/photos/month", params={**_query(since, until), "month": month}, headers=JSON).json()
        assert part["more"] is None
        timeline.update({p["id"]: p["date"] for p in part["photos"]})
    assert timeline == {i: h["date"] for i, h in cli.items()}
    # The page without JavaScript shows the same photos.
    page = web.get("/photos", params=_query(since, until))
    assert page.status_code == 200
    assert {int(i) for i in re.findall(r'data-photo="(\d+)"', page.text)} == set(cli)
    assert "its file's modification time" in page.text  # and says which rule it follows
