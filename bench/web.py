"""`pictod web` benchmark: server time of the big pages and thumbnail throughput (not a timed test).

1. A synthetic library of 1,000 people and 100,000 faces, written through the store's real write path
   (Store.record_analysis, 25,000 photos of 4 faces; embeddings around one centre per identity, so the real
   full recluster makes the people); one identity has 5,000 faces. Server time of the People page (first
   page, a later page, a name filter), of the 5,000-face Person page and of the Unknown faces page, read from
   the app's Server-Timing header (time inside the app: routing, SQL, rendering), median of repeated GETs.
   Targets: People page <= 200 ms.
2. Thumbnail throughput through a real `pictod web` on loopback: phone-sized JPEGs derived from the test
   photos, each photo thumbnail asked once (cold: decode + resize + encode + cache write) and then many times
   (cached), over keep-alive connections: by `wrk` when it is installed (Debian package wrk; a client in C), and
   by a Python client (which costs about as much CPU per request as the server). Target: cached >= 500/s.

    .venv/bin/python bench/web.py [--json] [--keep DIR]
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    from daemon import logs
    logs.setup(level="warning", fmt="json", stream=sys.stderr)
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="pictod-bench-web-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        report: dict[str, Any] = {"library": build_big(work / "big.db")}
        report["pages"] = page_times(work / "big.db", work / "cache", args.repeat)
        shutil.rmtree(work / "thumbs-run", ignore_errors=True)
        report["thumbnails"] = thumbs(work / "thumbs-run", args.thumbs, args.cached, connections=4)
        report["targets"] = {"people_page_ms<=200": report["pages"]["people_ms"] <= 200,
                             "cached_thumbnails_per_s>=500": max(
                                 v for k, v in report["thumbnails"].items() if k.startswith("cached")) >= 500}
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
