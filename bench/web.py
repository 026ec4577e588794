"""`pictod web` benchmark: server time of the big pages and thumbnail throughput (not a timed test).

1. A synthetic library of 1,000 people and 100,000 faces, written through the store's real write path
   (Store.record_analysis, 25,000 photos of 4 faces; embeddings around one centre per identity, so the real
   full recluster makes the people); one identity has 5,000 faces. Server time of the People page (first
   page, a later page, a name filter), of the 5,000-face Person page and of the Unknown faces page, read from
   the app's Server-Timing header (time inside the app: routing, SQL, rendering), median of repeated GETs.
   Targets: People page <= 200 ms.
2. The Photos timeline (issue 25) on a synthetic library of 100,000 photos over 20 years (`build_timeline`:
   capture times with a tenth dated by their files, trips, 0-3 faces of 500 people, 0-3 of 19 tags), written
   through Store.record_analysis and reclustered for real: server time of the first page (months with counts,
   the photos of the page, the facets' counts) bare and under conditions, of a later page, and of one more
   month as the page's script fetches it. Targets: first page <= 200 ms, one more month <= 100 ms.
3. Thumbnail throughput through a real `pictod web` on loopback: phone-sized JPEGs derived from the test
   photos, each photo thumbnail asked once (cold: decode + resize + encode + cache write) and then many times
   (cached), over keep-alive connections: by `wrk` when it is installed (Debian package wrk; a client in C), and
   by a Python client (which costs about as much CPU per request as the server). Target: cached >= 500/s.

    .venv/bin/python bench/web.py [--json] [--keep DIR] [--only people|timeline|thumbnails ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import people_synth as synth  # noqa: E402
from harness import make_variants  # noqa: E402
from pictod_testdata import DLIB_FACES, FACE_RECOGNITION, SKIMAGE  # noqa: E402

PEOPLE = 1000
FACES = 100_000
PER_PHOTO = 4
BIG = 5000  # faces of the largest person

TIMELINE_PHOTOS = 100_000
TIMELINE_PEOPLE = 500
TIMELINE_YEARS = (2006, 2025)  # capture months from January of the first to December of the last
TIMELINE_NO_EXIF = 0.1  # the share of photos without a capture time (dated by their file's mtime)
TIMELINE_TAGS = ("dog", "cat", "car", "bicycle", "boat", "cup", "chair", "dining table", "bottle", "tv", "laptop",
                 "cell phone", "book", "potted plant", "bird", "umbrella", "handbag", "backpack", "clock")


def build_big(db: Path) -> dict[str, Any]:
    """The 1,000-people / 100k-faces library (skipped when `db` exists)."""
    from daemon.config import ClusteringConfig
    from daemon.people.manager import recluster_now
    from daemon.store import Store
    if db.exists():
        return {"reused": str(db)}
    rng = np.random.default_rng(7)
    centres = synth.identities(PEOPLE, seed=7)
    photos = FACES // PER_PHOTO
    # Identity 0 is in BIG photos; the other faces are spread evenly over identities 1..999, never twice in
    # one photo (one face per photo per person, as real people are).
    rest = np.resize(np.arange(1, PEOPLE), photos * PER_PHOTO - BIG)
    rng.shuffle(rest)
    t0 = time.perf_counter()
    store = Store.open(db)
    cursor = 0
    try:
        for i in range(photos):
            who: list[int] = [0] if i < BIG else []
            while len(who) < PER_PHOTO:
                candidate = int(rest[cursor % len(rest)])
                cursor += 1
                if candidate not in who:
                    who.append(candidate)
            vectors = synth.face_vectors(centres, np.array(who), rng)
            path = f"/bench/photos/{i // 1000:03d}/{i:06d}.jpg"
            store.record_analysis(path, 1000 + i, i, hashlib.sha256(path.encode()).hexdigest(),
                                  synth.analysis(list(vectors), tags=("person",) if i % 3 else ("person", "dog")))
        written = time.perf_counter() - t0
        result = recluster_now(store, ClusteringConfig())
    finally:
        store.close()
    return {"photos": photos, "write_s": round(written, 1), "recluster_s": round(time.perf_counter() - t0 - written, 1),
            "people": result.people, "assigned": result.assigned, "unassigned": result.unassigned}


def timeline_dates(n: int, rng: np.random.Generator) -> list[datetime]:
    """n capture times over TIMELINE_YEARS, newest first: more photos in later years (weight 1 -> 4), and 40
    trips of 300-1,500 photos within a week each, as a phone library is."""
    first, last = TIMELINE_YEARS
    months = [(y, m) for y in range(first, last + 1) for m in range(1, 13)]
    weights = np.linspace(1.0, 4.0, len(months))
    trips = 40
    trip_sizes = rng.integers(300, 1500, trips)
    steady = n - int(trip_sizes.sum())
    per_month = rng.multinomial(steady, weights / weights.sum())
    moments: list[datetime] = []
    for (year, month), count in zip(months, per_month, strict=True):
        start = datetime(year, month, 1)
        span = (datetime(year + (month == 12), month % 12 + 1, 1) - start).total_seconds()
        moments += [start + timedelta(seconds=float(s)) for s in rng.uniform(0, span - 1, int(count))]
    for size in trip_sizes:
        year, month = months[int(rng.integers(0, len(months)))]
        start = datetime(year, month, int(rng.integers(1, 22)))
        moments += [start + timedelta(seconds=float(s)) for s in rng.uniform(0, 7 * 86400, int(size))]
    return sorted((m.replace(microsecond=0) for m in moments), reverse=True)


def build_timeline(db: Path) -> dict[str, Any]:
    """The 100,000-photo library of the timeline (skipped when `db` exists), through Store.record_analysis:
    capture times over 20 years (`timeline_dates`), a tenth of them without one (their file's mtime is the
    date instead), 0-3 faces of 500 people (a few common, most rare) and 0-3 of 19 object tags besides "person";
    then the real recluster makes the people."""
    from daemon.config import ClusteringConfig
    from daemon.people.manager import recluster_now
    from daemon.store import Store
    from daemon.types import PhotoMeta
    if db.exists():
        return {"reused": str(db)}
    rng = np.random.default_rng(25)
    centres = synth.identities(TIMELINE_PEOPLE, seed=25)
    popularity = 1.0 / (np.arange(TIMELINE_PEOPLE) + 3.0)
    popularity /= popularity.sum()
    tag_weights = 1.0 / (np.arange(len(TIMELINE_TAGS)) + 2.0)
    tag_weights /= tag_weights.sum()
    moments = timeline_dates(TIMELINE_PHOTOS, rng)
    t0 = time.perf_counter()
    store = Store.open(db)
    faces = 0
    try:
        for i, moment in enumerate(moments):
            n_faces = int(rng.choice(4, p=[0.4, 0.3, 0.2, 0.1]))
            who = rng.choice(TIMELINE_PEOPLE, size=n_faces, replace=False, p=popularity)
            tags = tuple(TIMELINE_TAGS[int(k)] for k in rng.choice(
                len(TIMELINE_TAGS), size=int(rng.integers(0, 4)), replace=False, p=tag_weights))
            analysis = synth.analysis(list(synth.face_vectors(centres, who, rng)) if n_faces else [],
                                      tags=(("person",) if n_faces else ()) + tags)
            exif = rng.random() >= TIMELINE_NO_EXIF
            analysis = dataclasses.replace(analysis, meta=PhotoMeta(
                width=4032, height=3024, format="JPEG", taken_at=moment.isoformat() if exif else None))
            # A photo with a capture time was copied in later; one without is dated by its file's mtime.
            mtime = time.mktime((moment if not exif else datetime(2026, 1, 2) + timedelta(seconds=i)).timetuple())
            path = f"/bench/timeline/{moment.year}/{moment.month:02d}/{i:06d}.jpg"
            store.record_analysis(path, 2_000_000 + i, int(mtime * 1e9), hashlib.sha256(path.encode()).hexdigest(),
                                  analysis)
            faces += n_faces
        written = time.perf_counter() - t0
        result = recluster_now(store, ClusteringConfig())
    finally:
        store.close()
    return {"photos": len(moments), "faces": faces, "write_s": round(written, 1),
            "recluster_s": round(time.perf_counter() - t0 - written, 1), "people": result.people,
            "assigned": result.assigned, "unassigned": result.unassigned}


def page_times(db: Path, cache: Path, repeat: int) -> dict[str, Any]:
    """Median server time (ms) of the big pages, from Server-Timing, in process."""
    from starlette.testclient import TestClient

    from daemon.config import Config, LibraryConfig
    from daemon.library.reads import list_people
    from daemon.store import Store
    from daemon.web.app import create_app
    from daemon.web.security import Served

    store = Store.open(db)
    try:
        people = list_people(store)
    finally:
        store.close()
    big = max(people, key=lambda p: p.faces)
    cfg = Config(library=LibraryConfig(database=db))
    app = create_app(cfg, token="t", served=Served.for_names(["127.0.0.1"], 8765), cache_dir=cache)
    pages = {"people": "/people", "people_page_5": "/people?page=5", "people_filter": "/people?q=12",
             f"person_{big.faces}_faces": f"/people/{big.id}", f"person_{big.faces}_faces_page_10":
             f"/people/{big.id}?page=10", "unknown": "/unknown", "photos": "/photos?tag=dog"}
    out: dict[str, Any] = {"people": len(people), "largest_person_faces": big.faces}
    with TestClient(app, base_url="http://127.0.0.1:8765") as test:
        test.get("/?token=t")
        for name, path in pages.items():
            times = []
            for _ in range(repeat):
                answer = test.get(path)
                assert answer.status_code == 200, (path, answer.status_code)
                times.append(float(answer.headers["server-timing"].split("dur=")[1]))
            out[f"{name}_first_ms"] = round(times[0], 1)  # what the first load after a start pays
            out[f"{name}_ms"] = round(statistics.median(times), 1)
            out[f"{name}_bytes"] = len(answer.content)
    return out


def timeline_times(db: Path, cache: Path, repeat: int) -> dict[str, Any]:
    """Median server time (ms, Server-Timing) of the Photos timeline on the 100k-photo library, in process: the
    first page (months with counts, the page's photos, the facets' counts: everything the page shows) without
    and with conditions, a later page, and one more month as the page's script fetches it while scrolling."""
    from starlette.testclient import TestClient

    from daemon.config import Config, LibraryConfig
    from daemon.library import timeline
    from daemon.library.photos import PhotoFilter
    from daemon.store import Store
    from daemon.web.app import create_app
    from daemon.web.security import Served

    store = Store.open(db, read_only=True)
    try:
        months = timeline.months(store, PhotoFilter())
        people = next(f for f in timeline.facets(store, PhotoFilter()) if f.name == "people").values
    finally:
        store.close()
    common, rare = people[0], people[len(people) // 2]
    middle = months[len(months) // 2].month
    cfg = Config(library=LibraryConfig(database=db))
    app = create_app(cfg, token="t", served=Served.for_names(["127.0.0.1"], 8765), cache_dir=cache)
    pages = {
        "first_page": "/photos",
        f"first_page_person_{common.count}_photos": f"/photos?person={common.value}",
        f"first_page_person_{rare.count}_photos": f"/photos?person={rare.value}",
        "first_page_tag_dog": "/photos?tag=dog",
        "first_page_tag_person_60pct": "/photos?tag=person",
        "first_page_since_2015": "/photos?since=2015",
        "first_page_dog_and_person": f"/photos?tag=dog&person={common.value}",
        f"page_of_{middle}": f"/photos?month={middle}",
    }
    out: dict[str, Any] = {"photos": sum(m.count for m in months), "months": len(months),
                           "largest_month": max(m.count for m in months), "people": len(people)}
    with TestClient(app, base_url="http://127.0.0.1:8765") as test:
        test.get("/?token=t")
        for name, path in pages.items():
            times, cpu = [], []
            for _ in range(repeat):
                started = time.process_time()
                answer = test.get(path)
                cpu.append((time.process_time() - started) * 1000)
                assert answer.status_code == 200, (path, answer.status_code)
                times.append(float(answer.headers["server-timing"].split("dur=")[1]))
            out[f"{name}_first_ms"] = round(times[0], 1)
            out[f"{name}_ms"] = round(statistics.median(times), 1)
            # CPU of the whole process (the app's threads and the in-process client): what the page costs on
            # a machine whose cores are not shared, as the benchmark's are.
            out[f"{name}_cpu_ms"] = round(statistics.median(cpu), 1)
            out[f"{name}_bytes"] = len(answer.content)
        # One more month, as the script asks while scrolling: each of 40 months spread over the library once
        # (no two alike, so nothing is warm from the one before), then the same with a condition.
        spread = [m.month for m in months[:: max(1, len(months) // 40)]][:40]
        for name, extra in (("next_month", ""), ("next_month_tag_dog", "&tag=dog"),
                            ("next_month_person", f"&person={common.value}")):
            times = []
            for month in spread:
                answer = test.get(f"/photos/month?month={month}{extra}")
                assert answer.status_code == 200, (month, answer.status_code)
                times.append(float(answer.headers["server-timing"].split("dur=")[1]))
            out[f"{name}_ms"] = round(statistics.median(times), 1)
            out[f"{name}_max_ms"] = round(max(times), 1)
    return out


def thumbs(root: Path, count: int, cached_requests: int, connections: int) -> dict[str, Any]:
    """Photo thumbnails per second through a real `pictod web`, cold then cached."""
    from web_helpers import Shot, build_library, start_web, stop

    sources = [FACE_RECOGNITION / "obama.jpg", SKIMAGE / "astronaut.png", *sorted(DLIB_FACES.glob("*.jpg"))[:4]]
    variants = make_variants(sources, root / "variants", count, long_side=2400, prefix="phone")
    built = build_library(root / "lib", [Shot(v) for v in variants], recluster=False)
    config = root / "config.toml"
    config.write_text(f'[library]\nfolders = ["{built.paths[0].parent}"]\ndatabase = "{built.cfg.database_path}"\n'
                      '[log]\nlevel = "warning"\n[web]\nthumbnail_cache_mb = 64\n')
    web = start_web(config, root)
    try:
        host, port = web.base.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        conn.request("GET", "/?token=" + web.url.split("token=")[1])
        answer = conn.getresponse()
        answer.read()
        cookie = answer.getheader("set-cookie", "").split(";")[0]
        headers = {"Cookie": cookie, "Host": f"{host}:{port}"}
        ids = list(range(1, count + 1))

        def fetch(c: http.client.HTTPConnection, photo: int) -> int:
            c.request("GET", f"/img/photo/{photo}/thumb.jpg", headers=headers)
            reply = c.getresponse()
            body = reply.read()
            assert reply.status == 200 and body[:2] == b"\xff\xd8", (reply.status, body[:80])
            return len(body)

        t0 = time.perf_counter()
        for photo in ids:
            fetch(conn, photo)
        cold = time.perf_counter() - t0

        def worker(n: int, out: list[float]) -> None:
            c = http.client.HTTPConnection(host, int(port), timeout=60)
            for k in range(n):
                fetch(c, ids[k % len(ids)])
            c.close()

        results: dict[str, Any] = {"photos": count, "long_side": 2400,
                                   "cold_per_s": round(count / cold, 1), "cold_ms_each": round(cold / count * 1000, 1)}
        wrk = shutil.which("wrk")
        if wrk:
            # wrk (Debian package) is a load generator in C: the Python client below spends as much CPU per
            # request as the server does, on the same two cores, and measures mostly itself.
            script = root / "rotate.lua"
            script.write_text(f"local i = 0\nrequest = function()\n  i = i % {count} + 1\n"
                              '  return wrk.format("GET", "/img/photo/" .. i .. "/thumb.jpg")\nend\n')
            for n_conn in (1, connections):
                done = subprocess.run([wrk, "-t1", f"-c{n_conn}", "-d5s", "-s", str(script), "-H", f"Cookie: {cookie}",
                                       web.base + "/"], capture_output=True, text=True, timeout=60, check=True)
                assert "Non-2xx" not in done.stdout, done.stdout
                rate = float(done.stdout.split("Requests/sec:")[1].split()[0])
                results[f"cached_per_s_{n_conn}_connections_wrk"] = round(rate, 1)
        for n_conn in (1, connections):
            threads = [threading.Thread(target=worker, args=(cached_requests // n_conn, [])) for _ in range(n_conn)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.perf_counter() - t0
            rate = (cached_requests // n_conn) * n_conn / elapsed
            results[f"cached_per_s_{n_conn}_connections_python_client"] = round(rate, 1)
        conn.close()
    finally:
        stop(web.proc)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--keep", metavar="DIR", help="build (or reuse) the big library in DIR")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--thumbs", type=int, default=40, help="photos for the cold thumbnail run")
    parser.add_argument("--cached", type=int, default=4000, help="requests for the cached run")
    parser.add_argument("--only", choices=("people", "timeline", "thumbnails"), action="append",
                        help="run only these parts (repeatable; default: all)")
    args = parser.parse_args()
    parts = set(args.only or ("people", "timeline", "thumbnails"))
    from daemon import logs
    logs.setup(level="warning", fmt="json", stream=sys.stderr)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pictod-bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {}
    targets: dict[str, bool] = {}
    try:
        if "people" in parts:
            report["library"] = build_big(work / "big.db")
            report["pages"] = page_times(work / "big.db", work / "cache", args.repeat)
            targets["people_page_ms<=200"] = report["pages"]["people_ms"] <= 200
        if "timeline" in parts:
            report["timeline_library"] = build_timeline(work / "timeline.db")
            shown = report["timeline"] = timeline_times(work / "timeline.db", work / "cache", args.repeat)
            targets["timeline_first_page_ms<=200"] = shown["first_page_ms"] <= 200
            targets["timeline_next_month_ms<=100"] = shown["next_month_ms"] <= 100
        if "thumbnails" in parts:
            shutil.rmtree(work / "thumbs-run", ignore_errors=True)
            report["thumbnails"] = thumbs(work / "thumbs-run", args.thumbs, args.cached, connections=4)
            targets["cached_thumbnails_per_s>=500"] = max(
                v for k, v in report["thumbnails"].items() if k.startswith("cached")) >= 500
        report["targets"] = targets
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
