"""Four read paths at 100,000 photos, the code before against the code after, side by side in one run (not a
timed test): `has_column`, the /photos JSON answer, the daemon's places and events pass on a busy tick, the
event page.

The library is bench/web.py's timeline library (`build_timeline`: 100,000 photos over 20 years, 500 people, 19
tags), its events grouped once by the code before (no GPS: time gaps only). Each side gets its own copy (the
code after upgrades its copy's schema, which the code before would refuse) and runs in its own interpreter
with its code first on `sys.path`; the rounds alternate the sides (before, after, then after, before, ...), so
both see the same load. Each child measures, on its copy:

1. `has_column(conn, "photos", "kind")`: CPU per call, 5,000 calls on one connection in one read.
2. /photos as JSON (Starlette's TestClient in process, signed in): bare, tag dog, tag person, since 2015: the
   app's Server-Timing and the process's CPU per request, median of `--repeat`; a digest of each body (the
   answers must be the same bytes before and after) and of the bare HTML page (its CSRF token blanked). And,
   by the code after alone in one process, the answer's reads as before (the timeline's page of photos and a
   count besides the search's page) and as after, alternating, their results compared (`_json_reads`).
3. The places and events pass with nothing changed (a busy status tick between photos): before `places.fill` +
   `events.update`, what `Service.settle_places` ran; after `places.settle` given the last pass's revision.
   Then one dated photo recorded and the pass run (an arrival), the photo removed and purged and the pass run
   (a departure): the pass's wall and CPU ms, and what it found.
4. The event page (`/events/ID`) of the largest event and of a median one: Server-Timing, CPU, digest.

    .venv/bin/python bench/read_paths.py --keep DIR --before SRC [--after SRC] [--rounds 3] [--repeat 15] [--json]

SRC is a commit's code, exported: `git archive <commit> | tar -x -C SRC` (the code after: this checkout unless
`--after` names another, to measure one change between two commits).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
JSON_PAGES = {"photos_json": "/photos", "photos_json_tag_dog": "/photos?tag=dog",
              "photos_json_tag_person": "/photos?tag=person", "photos_json_since_2015": "/photos?since=2015"}
_CSRF = re.compile(r'((?:name="csrf" value|name="csrf-token" content)=")[^"]*')


def _ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def child(db: Path, repeat: int) -> dict[str, Any]:
    """What one side measures on its copy (its code is first on sys.path)."""
    from starlette.testclient import TestClient

    import daemon
    from daemon import logs
    from daemon.config import Config, EventsConfig, LibraryConfig
    from daemon.library import events, places, purge, timeline
    from daemon.store import Store
    from daemon.store.base import has_column
    from daemon.types import PhotoAnalysis, PhotoMeta
    from daemon.web.app import create_app
    from daemon.web.security import Served

    logs.setup(level="warning", fmt="json", stream=sys.stderr)
    out: dict[str, Any] = {"code": str(Path(daemon.__file__).parents[1])}
    cfg = EventsConfig()
    with Store.open(db) as store:  # the code after upgrades its copy here (once)
        def columns(conn: Any) -> tuple[float, float]:
            has_column(conn, "photos", "kind")
            n = 5000
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                has_column(conn, "photos", "kind")
            return (time.process_time() - c0) / n, (time.perf_counter() - w0) / n
        cpu, wall = store.read(columns)
        out["has_column_cpu_us"], out["has_column_wall_us"] = round(cpu * 1e6, 2), round(wall * 1e6, 2)

        settle = getattr(places, "settle", None)
        seen: list[Any] = [None]

        def tick() -> tuple[float, float, Any]:
            c0, w0 = time.process_time(), time.perf_counter()
            if settle is None:  # the code before: both, every tick
                found: Any = (places.fill(store), events.update(store, cfg))
            else:
                done = settle(store, cfg, seen=seen[0])
                seen[0] = done.rev
                found = (done.placed, done.changes)
            return time.process_time() - c0, time.perf_counter() - w0, found

        tick()  # the pass after the daemon's start (the code after: learns the revision)
        quiet = [tick() for _ in range(repeat)]
        assert all(f[2][0] == 0 and (f[2][1] is None or f[2][1].regrouped == 0) for f in quiet), quiet
        out["tick_nothing_changed_cpu_ms"] = _ms([q[0] for q in quiet])
        out["tick_nothing_changed_ms"] = _ms([q[1] for q in quiet])
        meta = PhotoMeta(width=64, height=64, format="JPEG", taken_at="2015-06-10T12:00:00")
        store.record_analysis("/bench/new/arrival.jpg", 1, 1, "e" * 64, PhotoAnalysis(meta=meta))
        cpu_s, wall_s, found = tick()
        out["tick_arrival_ms"], out["tick_arrival_cpu_ms"] = round(wall_s * 1000, 1), round(cpu_s * 1000, 1)
        out["tick_arrival_arrived"] = found[1].arrived
        store.remove("/bench/new/arrival.jpg")
        purge.purge(store)
        cpu_s, wall_s, found = tick()
        out["tick_departure_ms"], out["tick_departure_cpu_ms"] = round(wall_s * 1000, 1), round(cpu_s * 1000, 1)
        out["tick_departure_left"] = found[1].left
        listed = sorted(events.list_events(store), key=lambda e: (-e.photos, e.id))
        if "photos" in inspect.signature(timeline.timeline).parameters:
            out.update(_json_reads(store))
    largest, median = listed[0], listed[len(listed) // 2]
    out["events"], out["largest_event_photos"], out["median_event_photos"] = len(listed), largest.photos, median.photos

    app = create_app(Config(library=LibraryConfig(database=db)), token="t",
                     served=Served.for_names(["127.0.0.1"], 8765), cache_dir=db.parent / f"cache-{db.stem}")
    pages = {**{k: (v, True) for k, v in JSON_PAGES.items()}, "photos_html": ("/photos", False),
             "event_largest": (f"/events/{largest.id}", False), "event_median": (f"/events/{median.id}", False)}
    with TestClient(app, base_url="http://127.0.0.1:8765") as web:
        web.get("/?token=t")
        for name, (path, as_json) in pages.items():
            times, cpu = [], []
            for _ in range(repeat):
                c0 = time.process_time()
                answer = web.get(path, headers={"Accept": "application/json"} if as_json else {})
                cpu.append(time.process_time() - c0)
                assert answer.status_code == 200, (path, answer.status_code)
                times.append(float(answer.headers["server-timing"].split("dur=")[1]) / 1000)
            body = answer.content if as_json else _CSRF.sub(r"\1", answer.text).encode()
            out[f"{name}_ms"], out[f"{name}_cpu_ms"] = _ms(times), _ms(cpu)
            out[f"{name}_digest"] = hashlib.sha256(body).hexdigest()[:16]
            out[f"{name}_bytes"] = len(answer.content)
    return out


def _json_reads(store: Any) -> dict[str, float]:
    """The reads of /photos as JSON in one process (the code after), alternating: as before (the timeline with
    its page's photos, the search's page, a count of the filter's photos) and as after (the timeline without
    them, the search's page, the timeline's total): CPU ms a request, median of 9."""
    import dataclasses

    from daemon.library import photos, timeline
    from daemon.library.photos import PhotoFilter
    out: dict[str, float] = {}
    for name, extra in (("bare", {}), ("tag_person", {"tags": ("person",)}), ("since_2015", {"since": "2015"})):
        flt = PhotoFilter(sort="date", descending=True, **extra)  # type: ignore[arg-type]
        page = dataclasses.replace(flt, limit=96, offset=0)
        twice, once = [], []
        for _ in range(9):
            c0 = time.process_time()
            shown = timeline.timeline(store, flt)
            total = photos.count_photos(store, page)
            hits = photos.search_photos(store, page)
            twice.append(time.process_time() - c0)
            c0 = time.process_time()
            alone = timeline.timeline(store, flt, photos=False)
            again = photos.search_photos(store, page)
            once.append(time.process_time() - c0)
            assert (alone.total, alone.months, alone.facets, again) == (total, shown.months, shown.facets, hits)
        out[f"json_reads_{name}_twice_cpu_ms"], out[f"json_reads_{name}_once_cpu_ms"] = _ms(twice), _ms(once)
    return out


def _run_side(code: Path, db: Path, repeat: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", str(db), "--code", str(code),
                           "--repeat", str(repeat)], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{code}: {done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _events_library(work: Path, before: Path) -> Path:
    """The timeline library with its events grouped once, by the code before (so both sides can open it)."""
    target = work / "events.db"
    if target.exists():
        return target
    sys.path.insert(0, str(ROOT / "bench"))
    sys.path.insert(1, str(ROOT / "tests"))
    import web  # bench/web.py: the one builder of the 100k-photo timeline library
    web.build_timeline(work / "timeline.db")
    shutil.copy(work / "timeline.db", work / "events-new.db")
    script = ("import sys; from pathlib import Path; from daemon.config import EventsConfig; "
              "from daemon.library import events; from daemon.store import Store\n"
              "with Store.open(Path(sys.argv[1])) as s:\n    events.update(s, EventsConfig()); s.checkpoint()")
    subprocess.run([sys.executable, "-c", script, str(work / "events-new.db")], check=True,
                   env={**os.environ, "PYTHONPATH": str(before)})
    (work / "events-new.db").rename(target)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", metavar="DIR", help="build (or reuse) the library in DIR")
    parser.add_argument("--before", metavar="SRC", help="the code before (an exported commit)")
    parser.add_argument("--after", metavar="SRC", help="the code after (default: this checkout)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    parser.add_argument("--child", metavar="DB", help=argparse.SUPPRESS)
    parser.add_argument("--code", metavar="SRC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, args.code)
        sys.path.insert(1, str(ROOT / "tests"))
        print(json.dumps(child(Path(args.child), args.repeat)))
        return 0
    if not args.keep or not args.before:
        parser.error("--keep DIR and --before SRC are needed")
    work = Path(args.keep)
    work.mkdir(parents=True, exist_ok=True)
    library = _events_library(work, Path(args.before))
    sides = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve() if args.after else ROOT}
    copies = {}
    for side in sides:
        copies[side] = work / f"{side}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{copies[side]}{suffix}").unlink(missing_ok=True)
        shutil.copy(library, copies[side])
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
            runs[side].append(_run_side(sides[side], copies[side], args.repeat))
    report: dict[str, Any] = {"rounds": args.rounds, "repeat": args.repeat, "load": os.getloadavg()}
    for key in runs["after"][0]:
        if key not in runs["before"][0]:  # measured by the code after alone
            report[key] = statistics.median(run[key] for run in runs["after"])
            continue
        values = {side: [run[key] for run in runs[side]] for side in sides}
        if key == "code":
            report[key] = {side: sorted({run[key] for run in runs[side]}) for side in sides}
        elif key.endswith("_digest"):
            report[key] = {"same": len(set(values["before"] + values["after"])) == 1, **values}
        elif isinstance(values["after"][0], (int, float)):
            report[key] = {side: statistics.median(v) for side, v in values.items()}
            report[key]["ranges"] = {side: [min(v), max(v)] for side, v in values.items()}
            if report[key]["after"]:
                report[key]["ratio"] = round(report[key]["before"] / report[key]["after"], 2)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
