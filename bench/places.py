"""Places and events (issue 25): what reverse geocoding costs per photo, what the place table holds in memory, and
how well the events match a labelled sequence, for each gap (and distance) — the measured default of [events].

1. Geocoding: `library.places.locate` (the intake's call) on 20,000 positions (the labelled photos' and random
   ones on land: GeoNames places jittered by up to 20 km), one thread; against the analysis chain's CPU per photo
   in bench/results.md section 1 (302 ms).
2. Memory: a fresh interpreter imports numpy and scikit-learn (the daemon has them already), then loads the table:
   RSS before, after (heap trimmed, what stays) and the peak while loading; and the load time.
3. Events: a labelled year built here from copies of a real test photo (tests' FACE_RECOGNITION obama.jpg, cut to
   96 px so each copy has its own bytes) with EXIF capture times and GPS positions written by the real exiftool
   (one batch run, `-execute` per file), read back by pictod's own EXIF reader, recorded in a real Store and
   grouped by `library.events.update`. The year (seeded, so every run builds the same one):
   - 40 days at home in Copenhagen, 1-6 photos between 08:00 and 22:30 within 4 km of home, one event each
     (some days back to back, the rest 1-6 days apart);
   - 4 trips, each one event: Skagen (5 days, one place, 240 km from home), an Iceland road trip (7 days,
     moving 40-250 km a day between Reykjavík, Selfoss, Vík, Höfn, Akureyri), Paris (4 days), Lisbon (6 days);
     3-12 photos a day from 08:00 to 23:00 (from 14:00 on the first day), scattered 6 km around the day's base;
     on each departure day 1-3 photos at home between 06:00 and 08:30 are their own event (a morning at home,
     then the journey: only the distance tells them from the trip);
   - 3 weekends away, each one event: Berlin, Aarhus, Stockholm (Friday 18:00 to Sunday 17:00);
   - the trips and weekends start the day after a day at home or later, as people travel.
   Pairwise precision = pairs grouped together that belong together / pairs grouped together; recall = pairs
   grouped together that belong together / pairs that belong together. Swept over gap_hours x split_km.
4. Incremental cost: the same photos arriving one by one (an update after each) against one update for all;
   and in a library of 100,000 photos (`big_library`): the first grouping, then one arrival and one departure.

    .venv/bin/python bench/places.py [--json bench/places.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import structlog  # noqa: E402
from pictod_testdata import FACE_RECOGNITION  # noqa: E402
from PIL import Image  # noqa: E402

HOME = (55.6761, 12.5683)
TRIPS = {
    "Skagen": [(57.7209, 10.5839)] * 5,
    "Iceland": [(64.1466, -21.9426), (63.9331, -20.9971), (63.4186, -19.0060), (64.2539, -15.2082),
                (65.6885, -18.1262), (65.6885, -18.1262), (64.1466, -21.9426)],
    "Paris": [(48.8566, 2.3522)] * 4,
    "Lisbon": [(38.7223, -9.1393)] * 6,
}
WEEKENDS = {"Berlin": (52.5200, 13.4050), "Aarhus": (56.1629, 10.2039), "Stockholm": (59.3293, 18.0686)}
GAPS = (4, 8, 12, 14, 16, 18, 20, 24, 36, 48)
SPLITS = (50.0, 150.0, 250.0, 300.0, 500.0, 1000.0, 100000.0)


@dataclass(frozen=True)
class Shot:
    name: str
    when: datetime
    lat: float
    lon: float
    label: str  # the true event


def jitter(rng: random.Random, base: tuple[float, float], km: float) -> tuple[float, float]:
    import math
    return (base[0] + rng.uniform(-km, km) / 111.2,
            base[1] + rng.uniform(-km, km) / (111.2 * math.cos(math.radians(base[0]))))


def day_shots(rng: random.Random, day: datetime, base: tuple[float, float], n: int, label: str, start: float,
              end: float, km: float) -> list[Shot]:
    hours = sorted(rng.uniform(start, end) for _ in range(n))
    return [Shot("", day + timedelta(hours=h), *jitter(rng, base, km), label) for h in hours]


def labelled_year(seed: int = 25) -> list[Shot]:
    """The labelled sequence described in the module docstring."""
    rng = random.Random(seed)
    shots: list[Shot] = []
    day = datetime(2019, 1, 3)
    away = [("trip", name, bases) for name, bases in TRIPS.items()] + \
           [("weekend", name, [base]) for name, base in WEEKENDS.items()]
    rng.shuffle(away)
    plan: list[tuple[str, str, list[tuple[float, float]]]] = []
    for i in range(40):
        plan.append(("home", f"home-{i}", [HOME]))
        if i % 6 == 5 and away:
            plan.append(away.pop())
    plan += [("trip", name, bases) for _kind, name, bases in away]
    for kind, name, bases in plan:
        if kind == "home":
            shots += day_shots(rng, day, HOME, rng.randint(1, 6), name, 8.0, 22.5, 4.0)
            day += timedelta(days=rng.choice((1, 1, 2, 3, 4, 6)))
        elif kind == "trip":
            # The departure day: a few photos at home early, then the trip from the afternoon on.
            shots += day_shots(rng, day, HOME, rng.randint(1, 3), f"departure-{name}", 6.0, 8.5, 3.0)
            for d, base in enumerate(bases):
                shots += day_shots(rng, day + timedelta(days=d), base, rng.randint(3, 12), name,
                                   14.0 if d == 0 else 8.0, 23.0, 6.0)
            day += timedelta(days=len(bases) + rng.randint(1, 3))
        else:
            while day.weekday() != 4:
                day += timedelta(days=1)
            base = bases[0]
            shots += day_shots(rng, day, base, rng.randint(2, 5), name, 18.0, 23.5, 5.0)
            shots += day_shots(rng, day + timedelta(days=1), base, rng.randint(4, 10), name, 8.5, 23.0, 5.0)
            shots += day_shots(rng, day + timedelta(days=2), base, rng.randint(2, 6), name, 8.5, 17.0, 5.0)
            day += timedelta(days=rng.randint(3, 5))
    return [Shot(f"p{i:04d}", s.when.replace(microsecond=0), s.lat, s.lon, s.label) for i, s in enumerate(shots)]


def write_photos(folder: Path, shots: list[Shot]) -> None:
    """Copies of a real photo with each shot's time and position, written by exiftool in one batch."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(FACE_RECOGNITION / "obama.jpg") as im:
        rgb = im.convert("RGB")
        for i, s in enumerate(shots):
            x, y = (i * 7) % (rgb.width - 96), (i * 13) % (rgb.height - 96)
            rgb.crop((x, y, x + 96, y + 96)).save(folder / f"{s.name}.jpg", quality=85)
    lines: list[str] = []
    for s in shots:
        lines += ["-q", "-overwrite_original", f"-DateTimeOriginal={s.when:%Y:%m:%d %H:%M:%S}",
                  f"-GPSLatitude={abs(s.lat)}", f"-GPSLatitudeRef={'S' if s.lat < 0 else 'N'}",
                  f"-GPSLongitude={abs(s.lon)}", f"-GPSLongitudeRef={'W' if s.lon < 0 else 'E'}",
                  str(folder / f"{s.name}.jpg"), "-execute"]
    args = folder / "exiftool.args"
    args.write_text("\n".join(lines) + "\n")
    exiftool = shutil.which("exiftool")
    if exiftool is None:
        raise SystemExit("exiftool is missing: apt-get install libimage-exiftool-perl")
    subprocess.run([exiftool, "-@", str(args)], check=True, capture_output=True)


def read_back(folder: Path, shots: list[Shot]) -> list[tuple[Shot, str, tuple[float, float]]]:
    """Each file's capture time and position as pictod's EXIF reader sees them."""
    from daemon.analysis import imaging
    out = []
    for s in shots:
        meta = imaging.decode((folder / f"{s.name}.jpg").read_bytes(), max_pixels=10**8).meta
        assert meta.taken_at is not None and meta.gps is not None, s.name
        out.append((s, meta.taken_at, meta.gps))
    return out


def record_all(store: object, photos: list[tuple[Shot, str, tuple[float, float]]]) -> dict[int, str]:
    from daemon.library import places
    from daemon.types import PhotoAnalysis, PhotoMeta
    labels = {}
    for s, taken, gps in photos:
        meta = PhotoMeta(width=96, height=96, format="JPEG", taken_at=taken, gps=gps)
        result = store.record_analysis(f"/bench/{s.name}.jpg", 1, 1, f"{s.name:0>64}",  # type: ignore[attr-defined]
                                       PhotoAnalysis(meta=meta), place=places.locate(*gps))
        labels[result.photo_id] = s.label
    return labels


def pairwise(groups: list[list[int]], labels: dict[int, str]) -> tuple[float, float]:
    predicted = {p: i for i, g in enumerate(groups) for p in g}
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(labels), 2):
        same_true, same_pred = labels[a] == labels[b], predicted[a] == predicted[b]
        tp += same_true and same_pred
        fp += same_pred and not same_true
        fn += same_true and not same_pred
    return tp / max(1, tp + fp), tp / max(1, tp + fn)


def groups_of(store: object) -> list[list[int]]:
    rows = store.read(lambda c: c.execute(  # type: ignore[attr-defined]
        "SELECT event_id, photo_id FROM event_photos ORDER BY taken_at").fetchall())
    found: dict[int, list[int]] = {}
    for event_id, photo_id in rows:
        found.setdefault(event_id, []).append(photo_id)
    return list(found.values())


def memory_probe() -> dict[str, float]:
    """Run in a fresh interpreter: RSS around loading the place table."""
    code = (
        "import ctypes, json, time, resource\n"
        "def rss():\n"
        "    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024\n"
        "import numpy, sklearn.neighbors\n"
        "from daemon.analysis import geocode\n"
        "before = rss(); t = time.perf_counter(); g = geocode.Geocoder(); load = time.perf_counter() - t\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "ctypes.CDLL('libc.so.6').malloc_trim(0)\n"
        "print(json.dumps({'places': len(g), 'load_s': load, 'rss_before_mib': before, 'rss_after_mib': rss(),"
        " 'peak_mib': peak}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    result: dict[str, float] = json.loads(done.stdout)
    return result


def geocode_cost(photos: list[tuple[Shot, str, tuple[float, float]]]) -> dict[str, float]:
    from daemon.analysis import geocode
    from daemon.library import places
    g = geocode.shared()
    rng = random.Random(7)
    positions = [gps for _s, _t, gps in photos]
    while len(positions) < 20000:
        positions.append(jitter(rng, _place_position(g, rng.randrange(len(g))), 20.0))
    t = time.process_time()
    named = sum(places.locate(lat, lon).source == "geocoder" for lat, lon in positions)
    cpu = time.process_time() - t
    return {"positions": len(positions), "named": named, "us_per_photo": cpu / len(positions) * 1e6}


def _place_position(g: object, i: int) -> tuple[float, float]:
    """A place's position back from the tree's unit vector (the table keeps no degrees)."""
    import math

    import numpy as np
    x, y, z = np.asarray(g.tree.data[i])  # type: ignore[attr-defined]
    return math.degrees(math.asin(max(-1.0, min(1.0, z)))), math.degrees(math.atan2(y, x))


def big_library(work: Path, n: int) -> dict[str, float]:
    """An update's cost in a library of `n` photos (rows written straight into a real Store's tables): photos on
    70% of the days, 1-8 a day between 09:00 and 21:00, within 150 km of home; the first grouping, then one
    arrival and one departure, each followed by an update (what the daemon's pass does after a photo)."""
    from daemon.config import EventsConfig
    from daemon.library import events
    from daemon.store import Store
    rng = random.Random(3)
    start = datetime(2000, 1, 1)
    cfg = EventsConfig()
    with Store.open(work / "big.db") as store:
        def fill(c: object) -> None:
            rows = []
            day = start
            while len(rows) < n:
                if rng.random() < 0.7:
                    for h in sorted(rng.uniform(9, 21) for _ in range(rng.randint(1, 8))):
                        lat, lon = jitter(rng, HOME, 150.0)
                        when = (day + timedelta(hours=h)).isoformat(timespec="seconds")
                        rows.append((f"{len(rows):064d}", when, lat, lon))
                day += timedelta(days=1)
            c.executemany("INSERT INTO photos (content_hash, width, height, format, taken_at, gps_lat, gps_lon, "  # type: ignore[attr-defined]
                          "analysed_at) VALUES (?, 96, 96, 'JPEG', ?, ?, ?, '2026-01-01')", rows[:n])
            c.execute("INSERT INTO files (path, size, mtime_ns, status, photo_id, updated_at) "  # type: ignore[attr-defined]
                      "SELECT CAST('/big/' || id AS BLOB), 1, 1, 'done', id, '2026-01-01' FROM photos")
            self_days.append((day - start).days)
        self_days: list[int] = []
        store.write(fill)
        t = time.perf_counter()
        events.update(store, cfg)
        first = time.perf_counter() - t
        middle = start + timedelta(days=self_days[0] // 2, hours=12)
        from daemon.types import PhotoAnalysis, PhotoMeta
        meta = PhotoMeta(width=96, height=96, format="JPEG", taken_at=middle.isoformat(), gps=HOME)
        store.record_analysis("/big/new.jpg", 1, 1, "f" * 64, PhotoAnalysis(meta=meta))
        t = time.perf_counter()
        arrival = events.update(store, cfg)
        arrive = time.perf_counter() - t
        store.remove("/big/new.jpg")
        t = time.perf_counter()
        events.update(store, cfg)
        leave = time.perf_counter() - t
        count = len(events.list_events(store))
    return {"photos": n, "events": count, "first_s": first, "arrival_ms": arrive * 1000, "leave_ms": leave * 1000,
            "arrival_regrouped": arrival.regrouped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, default=REPO / "bench" / "places.json")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    from daemon.config import EventsConfig
    from daemon.library import events
    from daemon.store import Store

    shots = labelled_year()
    work = Path(tempfile.mkdtemp(prefix="pictod-places-"))
    try:
        write_photos(work / "photos", shots)
        photos = read_back(work / "photos", shots)
        memory = memory_probe()
        cost = geocode_cost(photos)
        sweep = []
        with Store.open(work / "one.db") as store:
            labels = record_all(store, photos)
            for gap, split in itertools.product(GAPS, SPLITS):
                store.write(lambda c: (c.execute("DELETE FROM event_photos"), c.execute("DELETE FROM events")))
                events.update(store, EventsConfig(gap_hours=gap, split_km=split))
                groups = groups_of(store)
                p, r = pairwise(groups, labels)
                sweep.append({"gap_hours": gap, "split_km": split, "precision": p, "recall": r,
                              "f1": 2 * p * r / max(1e-9, p + r), "events": len(groups)})
        cfg = EventsConfig()
        with Store.open(work / "bulk.db") as store:
            record_all(store, photos)
            t = time.perf_counter()
            events.update(store, cfg)
            bulk = time.perf_counter() - t
        with Store.open(work / "one-by-one.db") as store:
            t = time.perf_counter()
            spent = 0.0
            for item in photos:
                record_all(store, [item])
                t0 = time.perf_counter()
                events.update(store, cfg)
                spent += time.perf_counter() - t0
            one_by_one = spent / len(photos)
        big = big_library(work, 100_000)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    truth = len({s.label for s in shots})
    best = max(sweep, key=lambda row: (round(row["f1"], 4), -row["gap_hours"]))
    result = {"photos": len(shots), "true_events": truth, "memory": memory, "geocode": cost, "sweep": sweep,
              "best": best, "default": {"gap_hours": cfg.gap_hours, "split_km": cfg.split_km},
              "update_all_s": bulk, "update_per_arrival_ms": one_by_one * 1000, "big": big}
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(shots)} photos, {truth} true events; place table: {memory['places']:.0f} places, "
          f"load {memory['load_s']:.2f} s, RSS +{memory['rss_after_mib'] - memory['rss_before_mib']:.0f} MiB "
          f"(peak +{memory['peak_mib'] - memory['rss_before_mib']:.0f} MiB)")
    print(f"geocode: {cost['us_per_photo']:.0f} us CPU a photo over {cost['positions']} positions "
          f"({cost['named']} named)")
    print(f"events: one update for all {len(shots)}: {bulk * 1000:.0f} ms; one by one: "
          f"{one_by_one * 1000:.2f} ms an arrival")
    print(f"100k library: first grouping {big['first_s']:.1f} s ({big['events']} events); an arrival "
          f"{big['arrival_ms']:.0f} ms ({big['arrival_regrouped']} events rewritten), a departure "
          f"{big['leave_ms']:.0f} ms")
    print("| gap_hours | split_km | precision | recall | F1 | events |")
    print("| --- | --- | --- | --- | --- | --- |")
    for row in sweep:
        split = "none" if row["split_km"] >= 100000 else f"{row['split_km']:g}"
        print(f"| {row['gap_hours']} | {split} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} | "
              f"{row['events']} |")
    print(f"best: {best}")


if __name__ == "__main__":
    main()
