"""`pictod places`, `pictod events`, `photos --place/--event` on a real library: small copies of real test photos
with capture times and GPS positions written by exiftool, scanned by `pictod scan` (the real daemon in a
subprocess), then photos added, moved and deleted and scanned again."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest
import structlog
from cli_library import pictod, write_config
from pictod_testdata import SKIMAGE
from PIL import Image

from daemon.cli import main as cli

SKAGEN = (57.7209, 10.5839)
COPENHAGEN = (55.6761, 12.5683)
REYKJAVIK = (64.1466, -21.9426)


@pytest.fixture(autouse=True)
def _fresh_logging() -> Any:
    yield
    structlog.reset_defaults()


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(args))
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def make_photo(folder: Path, name: str, seed: int, when: str | None, gps: tuple[float, float] | None) -> Path:
    """A 160-pixel crop of a real photo (each crop its own bytes), its time and position written by exiftool."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}.jpg"
    with Image.open(SKIMAGE / "coffee.png") as im:
        im.convert("RGB").crop((seed * 7, seed * 3, seed * 7 + 160, seed * 3 + 160)).save(target, quality=90)
    args = []
    if when:
        args.append(f"-DateTimeOriginal={when.replace('-', ':').replace('T', ' ')}")
    if gps:
        lat, lon = gps
        args += [f"-GPSLatitude={abs(lat)}", f"-GPSLatitudeRef={'S' if lat < 0 else 'N'}",
                 f"-GPSLongitude={abs(lon)}", f"-GPSLongitudeRef={'W' if lon < 0 else 'E'}"]
    if args:
        exiftool = shutil.which("exiftool")
        assert exiftool, "exiftool is missing: tools/ci_prereqs.sh installs libimage-exiftool-perl"
        subprocess.run([exiftool, "-q", "-overwrite_original", *args, str(target)], check=True)
    return target


def scan(config: Path) -> dict[str, Any]:
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("places")
    photos = root / "photos"
    make_photo(photos / "trip", "s1", 1, "2019-06-10T10:00:00", SKAGEN)
    make_photo(photos / "trip", "s2", 2, "2019-06-10T16:00:00", SKAGEN)
    make_photo(photos / "trip", "s3", 3, "2019-06-11T09:00:00", SKAGEN)  # 17 h after s2: its own event
    make_photo(photos / "home", "h1", 4, "2019-06-20T09:00:00", COPENHAGEN)
    make_photo(photos / "home", "h2", 5, "2019-06-20T11:00:00", COPENHAGEN)
    make_photo(photos / "iceland", "r1", 6, "2020-02-01T12:00:00", REYKJAVIK)
    make_photo(photos, "nogps", 7, "2021-01-01T12:00:00", None)
    make_photo(photos, "nofix", 8, "2021-05-01T12:00:00", (0.0, 0.0))
    config = write_config(root, extra="[events]\ngap_hours = 12\nsplit_km = 50\n")
    summary = scan(config)
    assert summary["analysed"] == 8 and summary["failed"] == 0
    return config


def test_places_json_most_photos_first(capsys: pytest.CaptureFixture[str], library: Path) -> None:
    code, out, _ = run(capsys, "places", "--config", str(library), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["unplaced"] == 0
    assert data["places"] == [
        {"city": "Skagen", "region": "North Denmark", "country": "Denmark", "photos": 3},
        {"city": "Copenhagen", "region": "Capital Region", "country": "Denmark", "photos": 2},
        {"city": "Reykjavík", "region": "Capital Region", "country": "Iceland", "photos": 1},
    ]
    code, out, _ = run(capsys, "places", "--config", str(library))
    assert code == 0 and out.splitlines()[0].split() == ["city", "region", "country", "photos"]
    assert "Skagen" in out.splitlines()[2]


def names(out: str) -> list[str]:
    return sorted(Path(h["paths"][0]).stem for h in json.loads(out))


def test_photos_place_is_case_and_accent_insensitive_and_ands(capsys: pytest.CaptureFixture[str],
                                                              library: Path) -> None:
    def place(*args: str) -> list[str]:
        code, out, err = run(capsys, "photos", "--config", str(library), "--json", *args)
        assert code == 0, err
        return names(out)

    assert place("--place", "SKAGEN") == ["s1", "s2", "s3"]
    assert place("--place", "denmark") == ["h1", "h2", "s1", "s2", "s3"]
    assert place("--place", "reykjavik") == ["r1"]  # Reykjavík
    assert place("--place", "capital region") == ["h1", "h2", "r1"]
    assert place("--place", "Capital Region, Iceland") == ["r1"]
    assert place("--place", "denmark", "--since", "2019-06-15") == ["h1", "h2"]
    assert place("--place", "Skag") == []  # whole names, not substrings
    code, _out, err = run(capsys, "photos", "--config", str(library), "--place", ",")
    assert code == 2 and "city, region or country" in err


def test_photos_json_carries_place_and_event(capsys: pytest.CaptureFixture[str], library: Path) -> None:
    code, out, _ = run(capsys, "photos", "--config", str(library), "--json")
    assert code == 0
    hits = {Path(h["paths"][0]).stem: h for h in json.loads(out)}
    assert hits["s1"]["place"] == {"city": "Skagen", "region": "North Denmark", "country": "Denmark",
                                   "source": "geocoder"}
    assert isinstance(hits["s1"]["event_id"], int) and hits["s1"]["event_id"] == hits["s2"]["event_id"]
    assert hits["nogps"]["place"] is None and isinstance(hits["nogps"]["event_id"], int)
    assert hits["nofix"]["place"] is None and hits["nofix"]["gps"] is None  # 0/0: no fix, no position
    code, out, _ = run(capsys, "photos", "--config", str(library))
    assert "Skagen, Denmark" in out and out.splitlines()[0].split()[:5] == ["item", "kind", "date", "camera", "place"]


def events_json(capsys: pytest.CaptureFixture[str], library: Path) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "events", "--config", str(library), "--json")
    assert code == 0, err
    result: list[dict[str, Any]] = json.loads(out)
    return result


def test_events_rename_and_regrouping_through_real_scans(capsys: pytest.CaptureFixture[str], library: Path) -> None:
    rows = events_json(capsys, library)
    assert [(e["auto_name"], e["photos"]) for e in rows] == [
        ("May 2021", 1), ("January 2021", 1), ("Reykjavík, February 2020", 1), ("Copenhagen, June 2019", 2),
        ("Skagen, June 2019", 1), ("Skagen, June 2019", 2)]
    for e in rows:
        assert set(e) == {"id", "name", "auto_name", "start_at", "end_at", "photos", "title"}
        assert e["name"] is None and e["title"] == e["auto_name"]
    trip = rows[-1]["id"]
    code, out, _ = run(capsys, "events", "rename", "--config", str(library), str(trip), "Skagen summer", "--json")
    assert code == 0 and json.loads(out)["title"] == "Skagen summer"
    code, out, _ = run(capsys, "photos", "--config", str(library), "--json", "--event", str(trip))
    assert names(out) == ["s1", "s2"]

    # An arrival between s2 and s3 merges the two Skagen events: the named one keeps its id and name.
    root = library.parent
    make_photo(root / "photos" / "trip", "s_mid", 9, "2019-06-10T23:00:00", SKAGEN)
    # A move: the place and the event hang off the photo, not the path.
    (root / "photos" / "moved").mkdir()
    shutil.move(root / "photos" / "home" / "h2.jpg", root / "photos" / "moved" / "h2.jpg")
    summary = scan(library)
    assert summary["analysed"] == 1
    rows = events_json(capsys, library)
    skagen = [e for e in rows if e["auto_name"].startswith("Skagen")]
    assert [(e["id"], e["title"], e["photos"]) for e in skagen] == [(trip, "Skagen summer", 4)]
    code, out, _ = run(capsys, "photos", "--config", str(library), "--json", "--place", "copenhagen")
    assert names(out) == ["h1", "h2"]

    # Deleting it splits them again; the name stays with the larger piece.
    (root / "photos" / "trip" / "s_mid.jpg").unlink()
    scan(library)
    skagen = [e for e in events_json(capsys, library) if e["auto_name"].startswith("Skagen")]
    assert sorted((e["title"], e["photos"]) for e in skagen) == [("Skagen summer", 2), ("Skagen, June 2019", 1)]
    assert next(e["id"] for e in skagen if e["title"] == "Skagen summer") == trip

    code, out, _ = run(capsys, "events", "show", "--config", str(library), str(trip))
    assert code == 0 and "Skagen summer" in out and "2 photo(s)" in out
    code, _out, err = run(capsys, "events", "show", "--config", str(library), "999")
    assert code == 2 and "no event 999" in err


@pytest.mark.parametrize("args", [("events", "show"), ("events", "rename"), ("photos", "--event")])
def test_an_event_id_beyond_sqlite_is_unknown_not_a_crash(capsys: pytest.CaptureFixture[str], library: Path,
                                                         args: tuple[str, ...]) -> None:
    # An id past SQLite's INTEGER range raised OverflowError (a traceback, exit 1) from the event lookup.
    huge = str(2**64)
    extra = ["x"] if args[-1] == "rename" else []
    code, _out, err = run(capsys, *args, huge, *extra, "--config", str(library))
    assert code == 2 and huge in err and "Traceback" not in err, (code, err)


def test_a_library_without_places_is_filled_from_stored_gps_with_no_reanalysis(
        capsys: pytest.CaptureFixture[str], library: Path) -> None:
    db = library.parent / "lib.db"
    with sqlite3.connect(db) as conn:  # what a library from before schema v10 has: GPS, no place names
        conn.execute("DELETE FROM photo_places")
    code, out, _ = run(capsys, "places", "--config", str(library), "--json")
    assert code == 0 and json.loads(out) == {"places": [], "unplaced": 6}
    code, out, _ = run(capsys, "places", "--config", str(library))
    assert code == 0
    assert "6 photo(s) with a GPS position not placed yet" in out
    summary = scan(library)
    assert summary["analysed"] == 0  # nothing analysed again
    code, out, _ = run(capsys, "places", "--config", str(library), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["unplaced"] == 0 and sum(p["photos"] for p in data["places"]) == 6


@pytest.mark.parametrize("command", [["places"], ["events"], ["events", "rename"], ["events", "show"]])
def test_the_new_commands_have_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0 and "usage: pictod" in out and "--json" in out
