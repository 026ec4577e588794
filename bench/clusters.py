"""Clustering scale benchmark: full recluster time and peak memory, placing one face, and a bulk import.

Synthetic 128-d embeddings: identities are random unit vectors, ~10 faces each, spread so that most
same-identity pairs are within cosine 0.3 (the default eps). Each measurement runs in a fresh subprocess so
peak RSS (ru_maxrss) belongs to that measurement alone.

    .venv/bin/python bench/clusters.py                       # default: 10k, 100k, 300k + assign + import
    .venv/bin/python bench/clusters.py --sizes 10000 --skip-import --json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

DIM = 128
SPREAD = 0.045
# CPU cost of the real analysis chain per photo, for putting clustering in proportion: 109 ms is the
# analysis engineer's figure for a 12 MP phone JPEG with reduced decoding (daemon/analysis/analyzer.py), 181 ms what
# bench/people_quality.py measured per small crop on this machine with one worker.
ANALYSIS_MS = (109, 181)


def synthetic(n: int, seed: int = 0, per_identity: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """n embeddings around n/per_identity identities; returns (embeddings float32, identity per face)."""
    rng = np.random.default_rng(seed)
    k = max(1, n // per_identity)
    centres = rng.standard_normal((k, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    who = rng.integers(0, k, n)
    x = np.empty((n, DIM), np.float32)
    for start in range(0, n, 50_000):  # chunks keep the generator's temporaries small
        w = who[start:start + 50_000]
        v = centres[w] + rng.standard_normal((len(w), DIM)).astype(np.float32) * SPREAD
        x[start:start + 50_000] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return x, who


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------------------- child jobs


def job_full(n: int) -> dict[str, float]:
    """Full DBSCAN over n faces (the maths a full recluster runs)."""
    from daemon.people import clusters
    x, who = synthetic(n)
    base = _peak_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    labels = clusters.DensityIndex.build(x, 0.3, 2).labels()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    from sklearn.metrics import adjusted_rand_score

    return {"n": n, "seconds": round(seconds, 2), "cpu_s": round(cpu, 2), "peak_rss_mib": round(_peak_mib(), 1),
            "rss_before_mib": round(base, 1), "clusters": int(labels.max()) + 1,
            "noise": int((labels == -1).sum()), "ari_vs_identities": round(adjusted_rand_score(who, labels), 4)}


def _bulk_store(path: Path, x: np.ndarray, faces_per_photo: float, seed: int) -> None:
    """Fill a library with these faces quickly (one transaction; the product path is measured elsewhere)."""
    from daemon.store import Store
    from daemon.store.base import now

    rng = np.random.default_rng(seed)
    sizes = []
    left = len(x)
    while left > 0:
        k = int(min(left, max(1, rng.poisson(faces_per_photo))))
        sizes.append(k)
        left -= k

    def fill(conn: object) -> None:
        stamp = now()
        c = conn  # sqlite3.Connection
        at = 0
        photos, files, faces = [], [], []
        for pid, k in enumerate(sizes, start=1):
            photos.append((pid, f"bulk{pid}", 640, 480, "JPEG", stamp))
            files.append((f"/bulk/{pid // 1000}/{pid}.jpg".encode(), 1, 1, "done", pid, stamp))
            for j in range(k):
                faces.append((pid, 1.0, 1.0, 2.0, 2.0, 0.9, "[]", x[at + j].tobytes()))
            at += k
        c.executemany("INSERT INTO photos (id, content_hash, width, height, format, analysed_at) "  # type: ignore[attr-defined]
                      "VALUES (?, ?, ?, ?, ?, ?)", photos)
        c.executemany("INSERT INTO files (path, size, mtime_ns, status, photo_id, updated_at) "  # type: ignore[attr-defined]
                      "VALUES (?, ?, ?, ?, ?, ?)", files)
        c.executemany("INSERT INTO faces (photo_id, x1, y1, x2, y2, score, landmarks, embedding) "  # type: ignore[attr-defined]
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", faces)

    with Store.open(path) as store:
        store.write(fill)


def job_recluster(n: int) -> dict[str, float]:
    """The manager's full recluster over n stored faces: read, DBSCAN, map to people, write."""
    from daemon.config import ClusteringConfig
    from daemon.people.manager import PeopleManager
    from daemon.store import Store
    x, _who = synthetic(n)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        _bulk_store(db, x, 1.5, 1)
        del x
        with Store.open(db) as store:
            manager = PeopleManager(store, ClusteringConfig())
            t0, c0 = time.perf_counter(), time.process_time()
            first = manager.recluster(full=True)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            t0 = time.perf_counter()
            again = manager.recluster(full=True)
            again_s = time.perf_counter() - t0
    return {"n": n, "first_full_recluster_s": round(seconds, 2), "first_cpu_s": round(cpu, 2), "people": first.people,
            "second_full_recluster_s": round(again_s, 2), "second_changed_faces": again.changed_faces,
            "peak_rss_mib": round(_peak_mib(), 1)}


def job_assign(people: int) -> dict[str, float]:
    """Placing one face: the maths at `people` means, and the manager's whole on_photo_added."""
    from people_synth import analysis, content_hash

    from daemon.config import ClusteringConfig
    from daemon.people.manager import PeopleManager, clusters
    from daemon.store import Store
    x, who = synthetic(people * 10)
    # People straight from the identities (no DBSCAN needed to time placement): mean of each one's faces.
    present = np.unique(who)
    sums = np.zeros((who.max() + 1, DIM), np.float64)
    np.add.at(sums, who, x)
    counts = np.bincount(who)
    means = (sums[present] / counts[present, None]).astype(np.float32)
    rng = np.random.default_rng(5)
    probes = x[rng.integers(0, len(x), 200)]
    unit = clusters.normalise(means)  # the manager keeps its means cache normalised
    t0 = time.perf_counter()
    for p in probes:
        dist = 1.0 - unit @ clusters.normalise(p[None, :])[0]  # the nearest mean within eps, as numpy does it
        _nearest = int(np.argmin(dist)) if float(dist.min()) <= 0.3 else None
    maths_ms = (time.perf_counter() - t0) / len(probes) * 1000
    # Issue 11: the nearest faces of each person as well as its mean (what _place runs): one 1 x n product.
    faces_unit = clusters.normalise(x)
    owners = who.astype(np.int64) + 1
    mean_owners = present.astype(np.int64) + 1
    with clusters.one_blas_thread():
        t0 = time.perf_counter()
        for p in probes:
            clusters.nearest_people(p[None, :], faces_unit, owners, 0.3, k=3, means=unit, mean_owners=mean_owners)
        knn_ms = (time.perf_counter() - t0) / len(probes) * 1000

    def people_rows(conn: object) -> None:
        stamp = "bench"
        c = conn
        c.executemany("INSERT INTO people (id, mean, face_count, photo_count, created_at, updated_at) "  # type: ignore[attr-defined]
                      "VALUES (?, ?, ?, ?, ?, ?)",
                      [(int(w) + 1, means[i].tobytes(), int(counts[w]), int(counts[w]), stamp, stamp)
                       for i, w in enumerate(present)])
        c.executemany("UPDATE faces SET person_id = ? WHERE id = ?",  # type: ignore[attr-defined]
                      [(int(w) + 1, i + 1) for i, w in enumerate(who)])

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        _bulk_store(db, x, 1.5, 2)
        with Store.open(db) as store:
            store.write(people_rows)
            manager = PeopleManager(store, ClusteringConfig(recluster_every=10**9))
            n_people = store.status_counts().people
            results = [store.record_analysis(f"/new/{i}.jpg", 1, 1, content_hash(("probe", i)), analysis([p]))
                       for i, p in enumerate(probes[:100])]
            manager.on_photo_added(results[0])  # loads the means cache once
            t0 = time.perf_counter()
            placed = 0
            for r in results[1:]:
                placed += sum(1 for _f, person in manager.on_photo_added(r) if person is not None)
            manager_ms = (time.perf_counter() - t0) / (len(results) - 1) * 1000
    return {"people": len(means), "faces": len(x), "stored_people": n_people, "assign_maths_ms": round(maths_ms, 3),
            "nearest_faces_maths_ms": round(knn_ms, 3),
            "on_photo_added_ms": round(manager_ms, 2), "placed_fraction": round(placed / (len(results) - 1), 3)}


def job_import(stored: int, photos: int) -> dict[str, float]:
    """`stored` faces in the library, then `photos` new photos (~1.5 faces each) through store + manager."""
    from people_synth import analysis, content_hash
    from sklearn.metrics import adjusted_rand_score

    from daemon.config import ClusteringConfig
    from daemon.people.manager import PeopleManager, clusters
    from daemon.store import Store
    rng = np.random.default_rng(11)
    x_all, _who_all = synthetic(stored + int(photos * 2.5), seed=3)
    x_old = x_all[:stored]
    pool = x_all[stored:]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        _bulk_store(db, x_old, 1.5, 4)
        with Store.open(db) as store:
            # PICTOD_BENCH_ATTACH_EPS: clustering.attach_eps for this run (0.3 = off), to measure it side by side.
            attach = os.environ.get("PICTOD_BENCH_ATTACH_EPS")
            cfg = ClusteringConfig() if attach is None else ClusteringConfig(attach_eps=float(attach))
            manager = PeopleManager(store, cfg)
            t0 = time.perf_counter()
            manager.recluster(full=True)
            initial_s = time.perf_counter() - t0
            manager.clustering_seconds = 0.0
            runs0 = manager.runs
            at = 0
            t_start = time.perf_counter()
            store_s = 0.0
            # CPU seconds too (all threads of this process): the machine may be shared, wall time is noisy.
            store_cpu = cluster_cpu = 0.0
            for i in range(photos):
                k = int(min(4, max(1, rng.poisson(1.5))))
                t1, c1 = time.perf_counter(), time.process_time()
                result = store.record_analysis(f"/import/{i}.jpg", 1, 1, content_hash(("import", i)),
                                               analysis(pool[at:at + k]))
                store_s += time.perf_counter() - t1
                c2 = time.process_time()
                store_cpu += c2 - c1
                at += k
                manager.on_photo_added(result)
                if manager.recluster_due():
                    manager.recluster()
                cluster_cpu += time.process_time() - c2
            c3 = time.process_time()
            manager.recluster()
            cluster_cpu += time.process_time() - c3
            total_s = time.perf_counter() - t_start
            clustering_s = manager.clustering_seconds
            reclusters = manager.runs - runs0
            # Deletions: 100 photos (old and new) removed, then one recluster (exact local recompute).
            gone = [f"/import/{i}.jpg" for i in rng.choice(photos, 50, replace=False)]
            gone += [r.path for r in list(store.iter_files("/bulk"))[:50]]
            for path in gone:
                manager.on_removed(store.remove(path))
            t1 = time.perf_counter()
            after_delete = manager.recluster()
            delete_recluster_s = time.perf_counter() - t1
            rows = store.read(lambda c: c.execute("SELECT id, coalesce(person_id, -id), embedding FROM faces "
                                                  "ORDER BY id").fetchall())
    ours = np.array([r[1] for r in rows])
    vectors = np.stack([np.frombuffer(r[2], np.float32) for r in rows])
    batch = clusters.DensityIndex.build(vectors, 0.3, 2).labels()
    batch = np.where(batch >= 0, batch, -1 - np.arange(len(batch)))  # noise: singletons, as ours
    return {"stored_faces": stored, "photos": photos, "new_faces": at, "attach_eps": cfg.attach_eps,
            "assigned_faces": int((ours > 0).sum()), "initial_full_recluster_s": round(initial_s, 2),
            "import_s": round(total_s, 2), "store_s": round(store_s, 2), "clustering_s": round(clustering_s, 2),
            "clustering_fraction": round(clustering_s / total_s, 3), "reclusters": reclusters,
            "store_cpu_s": round(store_cpu, 2), "clustering_cpu_s": round(cluster_cpu, 2),
            "clustering_cpu_ms_per_photo": round(cluster_cpu / photos * 1000, 2),
            "clustering_fraction_if_analysis_ms": {
                str(ms): round(cluster_cpu / (cluster_cpu + store_cpu + photos * ms / 1000), 3)
                for ms in ANALYSIS_MS},
            "ms_per_recluster_incl_placing": round(clustering_s / max(1, reclusters) * 1000, 1),
            "ari_vs_batch_dbscan": round(adjusted_rand_score(batch, ours), 5),
            "recluster_after_100_deletions_s": round(delete_recluster_s, 3),
            "recluster_after_deletions_was_full": after_delete.full,
            "peak_rss_mib": round(_peak_mib(), 1)}


JOBS = {"full": job_full, "recluster": job_recluster, "assign": job_assign, "import": job_import}


def run_child(job: str, *args: int) -> dict[str, float]:
    """Run one job in a fresh interpreter; return its JSON result."""
    out = subprocess.run([sys.executable, __file__, "--child", job, *map(str, args)], check=True,
                         capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 300_000])
    parser.add_argument("--recluster-sizes", type=int, nargs="*", default=[100_000],
                        help="manager full recluster (SQLite read + DBSCAN + mapping + writes)")
    parser.add_argument("--people", type=int, nargs="+", default=[1_000, 10_000],
                        help="placing one face at this many people (10 faces each)")
    parser.add_argument("--stored", type=int, default=100_000)
    parser.add_argument("--photos", type=int, default=1_000)
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import logging

        import structlog

        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        print(json.dumps(JOBS[args.child[0]](*map(int, args.child[1:]))))
        return 0
    report: dict[str, object] = {"cpus": os.cpu_count()}
    report["full_dbscan"] = [run_child("full", n) for n in args.sizes]
    report["manager_full_recluster"] = [run_child("recluster", n) for n in args.recluster_sizes]
    report["assign_one_face"] = [run_child("assign", n) for n in args.people]
    if not args.skip_import:
        report["bulk_import"] = run_child("import", args.stored, args.photos)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"cpus: {report['cpus']}")
    print(f"{'faces':>8} {'DBSCAN s':>9} {'CPU s':>7} {'peak RSS MiB':>13} {'clusters':>9} {'noise':>7} "
          f"{'ARI vs ids':>10}")
    for r in report["full_dbscan"]:  # type: ignore[union-attr]
        print(f"{r['n']:>8} {r['seconds']:>9} {r['cpu_s']:>7} {r['peak_rss_mib']:>13} {r['clusters']:>9} "
              f"{r['noise']:>7} {r['ari_vs_identities']:>10}")
    for r in report["manager_full_recluster"]:  # type: ignore[union-attr]
        print(f"manager full recluster, {r['n']} stored faces: {r['first_full_recluster_s']} s first "
              f"(CPU {r['first_cpu_s']} s) "
              f"({r['people']} people), {r['second_full_recluster_s']} s again "
              f"({r['second_changed_faces']} faces changed), peak RSS {r['peak_rss_mib']} MiB")
    for a in report["assign_one_face"]:  # type: ignore[union-attr]
        print(f"assign one face at {a['people']} people / {a['faces']} faces: {a['assign_maths_ms']} ms nearest "
              f"mean, {a['nearest_faces_maths_ms']} ms nearest faces + mean, "
              f"{a['on_photo_added_ms']} ms on_photo_added incl. SQLite write")
    if "bulk_import" in report:
        b = report["bulk_import"]
        print("bulk import: " + ", ".join(f"{k}={v}" for k, v in b.items()))  # type: ignore[union-attr]
    return 0


if __name__ == "__main__":
    sys.exit(main())
