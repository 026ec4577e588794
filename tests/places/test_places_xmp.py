"""Place names in XMP, with the real exiftool, through real `pictod scan`s: the geocoder's names written to the
sidecar (photoshop:City/State/Country) only with [metadata] write_sidecars, another tool's names kept and
winning over the geocoder's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cli_library import pictod, write_config
from test_places_cli import COPENHAGEN, SKAGEN, make_photo, scan


def exiftool(*args: object) -> str:
    path = shutil.which("exiftool")
    assert path, "exiftool is missing: tools/ci_prereqs.sh installs libimage-exiftool-perl"
    return subprocess.run([path, *map(str, args)], check=True, capture_output=True, text=True).stdout


def place_tags(sidecar: Path) -> dict[str, Any]:
    rows = json.loads(exiftool("-j", "-XMP-photoshop:City", "-XMP-photoshop:State", "-XMP-photoshop:Country",
                               "-XMP-dc:Subject", sidecar))
    return {k: v for k, v in rows[0].items() if k != "SourceFile"}


def photos_json(config: Path, *args: str) -> dict[str, dict[str, Any]]:
    done = pictod("photos", "--config", str(config), "--json", *args)
    assert done.returncode == 0, done.stderr
    return {Path(h["paths"][0]).stem: h for h in json.loads(done.stdout)}


def test_sidecars_get_the_place_only_when_write_sidecars_is_on(tmp_path: Path) -> None:
    make_photo(tmp_path / "photos", "skagen", 1, "2019-06-10T10:00:00", SKAGEN)
    config = write_config(tmp_path)
    scan(config)
    assert not (tmp_path / "photos" / "skagen.jpg.xmp").exists()  # write_sidecars off: nothing written
    config.write_text(config.read_text() + "[metadata]\nwrite_sidecars = true\n")
    make_photo(tmp_path / "photos", "copenhagen", 2, "2019-06-20T10:00:00", COPENHAGEN)
    scan(config)
    # The new photo's place at intake, the earlier photo's when its sidecar is asked for (`metadata write`).
    assert place_tags(tmp_path / "photos" / "copenhagen.jpg.xmp") == {
        "City": "Copenhagen", "State": "Capital Region", "Country": "Denmark"}
    done = pictod("metadata", "write", "--all", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert place_tags(tmp_path / "photos" / "skagen.jpg.xmp") == {
        "City": "Skagen", "State": "North Denmark", "Country": "Denmark"}
    # pictod's own names are not read back as another tool's: the place stays the geocoder's.
    scan(config)
    assert photos_json(config)["skagen"]["place"]["source"] == "geocoder"


def test_another_tools_place_is_kept_and_wins(tmp_path: Path) -> None:
    photo = make_photo(tmp_path / "photos", "holiday", 3, "2019-06-10T10:00:00", SKAGEN)
    sidecar = photo.with_name(photo.name + ".xmp")
    # Another tool (exiftool here) names the place, and a keyword, before pictod sees the photo.
    exiftool("-q", "-o", sidecar, "-XMP-photoshop:City=Grenen", "-XMP-photoshop:Country=Danmark",
             "-XMP-dc:Subject=beach", photo)
    config = write_config(tmp_path, extra="[metadata]\nwrite_sidecars = true\n")
    scan(config)
    hit = photos_json(config)["holiday"]
    assert hit["place"] == {"city": "Grenen", "region": None, "country": "Danmark", "source": "xmp"}
    assert list(photos_json(config, "--place", "grenen")) == ["holiday"]
    assert photos_json(config, "--place", "skagen") == {}
    done = pictod("metadata", "write", "--all", "--config", str(config))
    assert done.returncode == 0, done.stderr
    # pictod rewrote the sidecar (its bookkeeping) and kept the other tool's place whole: no State added.
    assert place_tags(sidecar) == {"City": "Grenen", "Country": "Danmark", "Subject": "beach"}
    done = pictod("places", "--config", str(config), "--json")
    assert json.loads(done.stdout)["places"] == [{"city": "Grenen", "region": None, "country": "Danmark",
                                                  "photos": 1}]


def test_another_tools_place_taken_out_of_the_sidecar_gives_the_geocoders_back(tmp_path: Path) -> None:
    # The other tool's place won; then the user clears it there (the sidecar changes, its keyword stays). The
    # photo was left in "Grenen" for good, found by --place grenen and never by --place skagen again.
    photo = make_photo(tmp_path / "photos", "holiday", 3, "2019-06-10T10:00:00", SKAGEN)
    sidecar = photo.with_name(photo.name + ".xmp")
    exiftool("-q", "-o", sidecar, "-XMP-photoshop:City=Grenen", "-XMP-photoshop:Country=Danmark",
             "-XMP-dc:Subject=beach", photo)
    config = write_config(tmp_path)
    scan(config)
    assert photos_json(config)["holiday"]["place"]["source"] == "xmp"
    assert event_names(config) == ["Grenen, June 2019"]
    exiftool("-q", "-overwrite_original", "-XMP-photoshop:City=", "-XMP-photoshop:Country=", sidecar)
    assert place_tags(sidecar) == {"Subject": "beach"}
    assert scan(config)["analysed"] == 0
    assert photos_json(config)["holiday"]["place"] == {"city": "Skagen", "region": "North Denmark",
                                                      "country": "Denmark", "source": "geocoder"}
    assert list(photos_json(config, "--place", "skagen")) == ["holiday"]
    assert photos_json(config, "--place", "grenen") == {}
    # ...and its event is named after the place it has now (it kept "Grenen, June 2019").
    assert event_names(config) == ["Skagen, June 2019"]


def event_names(config: Path) -> list[str]:
    done = pictod("events", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    return [e["auto_name"] for e in json.loads(done.stdout)]
