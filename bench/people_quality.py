"""People quality on real faces: the real analysis chain, a real store and the people manager.

Photos: dlib's johns (5 people x 11 crops, folder = identity) and face_recognition's obama.jpg, obama2.jpg,
obama3.jpg, biden.jpg. Each photo is analysed once with `daemon.analysis.Analyzer` (real ONNX models), then
fed in a random order through `Store.record_analysis` + `PeopleManager.on_photo_added`, reclustering every
`recluster_every` photos, exactly as the daemon does. Reported, per eps: pairwise precision and recall,
BCubed F, number of people vs identities, for the streamed result (as left after the last photo, and after one
final recluster) and for one batch DBSCAN over all faces, plus adjusted Rand streamed vs batch.

Ground truth: a photo's identity goes to its largest face; other faces found in the same photo (background
people) are unlabelled and left out of the scores (they still take part in clustering). Unassigned faces count
as singletons.

    .venv/bin/python bench/people_quality.py [--orders 5] [--eps 0.3 0.4] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter
from itertools import combinations
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pictod_testdata import FACE_RECOGNITION, JOHNS  # noqa: E402

FR_PHOTOS = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama", "biden.jpg": "biden"}


def photos() -> list[tuple[Path, str]]:
    """(photo, identity) for every labelled test photo."""
    out = [(p, p.parent.name) for p in sorted(JOHNS.glob("*/*.jpg"))]
    out += [(FACE_RECOGNITION / name, who) for name, who in FR_PHOTOS.items()]
    missing = [str(p) for p, _ in out if not p.exists()]
    if missing or not out:
        raise SystemExit(f"test photos missing ({missing[:3]}...): run tools/fetch_testdata.py")
    return out


def analyse(items: list[tuple[Path, str]]) -> tuple[list[object], float]:
    """Run the real chain on every photo; return the analyses and the mean ms per photo."""
    from daemon import config
    from daemon.analysis import Analyzer

    cfg = config.load(ROOT / "config.toml", check_folders=False)
    analyzer = Analyzer.from_config(cfg, workers=1)
    results = []
    t0 = time.perf_counter()
    for path, _who in items:
        results.append(analyzer.analyze_file(path))
    return results, (time.perf_counter() - t0) / len(items) * 1000


def pairwise(truth: list[str], pred: list[object]) -> tuple[float, float]:
    """Pairwise precision and recall."""
    tp = fp = fn = 0
    for i, j in combinations(range(len(truth)), 2):
        same_t, same_p = truth[i] == truth[j], pred[i] == pred[j]
        tp += same_t and same_p
        fp += same_p and not same_t
        fn += same_t and not same_p
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def bcubed_f(truth: list[str], pred: list[object]) -> float:
    """BCubed F1."""
    n = len(truth)
    precision = recall = 0.0
    for i in range(n):
        same_p = [j for j in range(n) if pred[j] == pred[i]]
        same_t = [j for j in range(n) if truth[j] == truth[i]]
        both = sum(1 for j in same_p if truth[j] == truth[i])
        precision += both / len(same_p)
        recall += both / len(same_t)
    precision, recall = precision / n, recall / n
    return 2 * precision * recall / (precision + recall)


def scores(truth: dict[int, str], pred: dict[int, object]) -> dict[str, float]:
    """All scores on the labelled faces."""
    keys = sorted(truth)
    t = [truth[k] for k in keys]
    p = [pred[k] for k in keys]
    precision, recall = pairwise(t, p)
    people = len({v for v in p if not (isinstance(v, str) and v.startswith("single"))})
    return {"pairwise_precision": round(precision, 4), "pairwise_recall": round(recall, 4),
            "bcubed_f": round(bcubed_f(t, p), 4), "people": people, "identities": len(set(t)),
            "unassigned": sum(1 for v in p if isinstance(v, str) and v.startswith("single"))}


def stream(items: list[tuple[Path, str]], analyses: list[object], order: list[int], eps: float,
           every: int) -> tuple[dict[int, object], dict[int, object], dict[int, str], dict[int, np.ndarray]]:
    """Feed photos in `order` through a real store and manager; return (streamed, final) people per face,
    the ground truth per face id and the embeddings."""
    from daemon.config import ClusteringConfig
    from daemon.people import PeopleManager
    from daemon.store import Store

    truth: dict[int, str] = {}
    vectors: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "library.db") as store:
        manager = PeopleManager(store, ClusteringConfig(eps=eps, min_samples=2, recluster_every=every))
        for i in order:
            path, who = items[i]
            an = analyses[i]
            result = store.record_analysis(str(path), 1, 1, f"sha-{i}", an)  # type: ignore[arg-type]
            faces = an.faces  # type: ignore[attr-defined]
            if faces:
                areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in faces]
                truth[result.face_ids[int(np.argmax(areas))]] = who
            for face_id, face in zip(result.face_ids, faces, strict=True):
                vectors[face_id] = face.embedding
            manager.on_photo_added(result)
            if manager.recluster_due():
                manager.recluster()

        def people(conn: object) -> dict[int, object]:
            rows = conn.execute("SELECT id, person_id FROM faces").fetchall()  # type: ignore[attr-defined]
            return {r[0]: (r[1] if r[1] is not None else f"single{r[0]}") for r in rows}

        streamed = store.read(people)
        manager.recluster()
        final = store.read(people)
    return streamed, final, truth, vectors


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5, help="random feeding orders")
    parser.add_argument("--eps", type=float, nargs="+", default=[0.3, 0.4])
    parser.add_argument("--every", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import structlog
    from sklearn.metrics import adjusted_rand_score

    from daemon import clusters

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    items = photos()
    analyses, ms_per_photo = analyse(items)
    faces_found = Counter(len(a.faces) for a in analyses)  # type: ignore[attr-defined]
    report: dict[str, object] = {"photos": len(items), "identities": len({w for _p, w in items}),
                                 "faces_per_photo": dict(sorted(faces_found.items())),
                                 "analysis_ms_per_photo": round(ms_per_photo, 1), "runs": []}
    for eps in args.eps:
        for seed in range(args.orders):
            order = list(range(len(items)))
            random.Random(seed).shuffle(order)
            streamed, final, truth, vectors = stream(items, analyses, order, eps, args.every)
            ids = sorted(vectors)
            batch_labels = clusters.dbscan(np.stack([vectors[i] for i in ids]), eps, 2)
            batch = {fid: (int(lab) if lab >= 0 else f"single{fid}") for fid, lab in zip(ids, batch_labels,
                                                                                          strict=True)}
            run = {"eps": eps, "order_seed": seed,
                   "streamed": scores(truth, streamed), "streamed_then_recluster": scores(truth, final),
                   "batch_dbscan": scores(truth, batch),
                   "ari_streamed_vs_batch": round(adjusted_rand_score([str(batch[i]) for i in ids],
                                                                      [str(streamed[i]) for i in ids]), 4),
                   "ari_final_vs_batch": round(adjusted_rand_score([str(batch[i]) for i in ids],
                                                                   [str(final[i]) for i in ids]), 4)}
            report["runs"].append(run)  # type: ignore[union-attr]
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['photos']} photos, {report['identities']} identities, faces per photo "
          f"{report['faces_per_photo']}, analysis {report['analysis_ms_per_photo']} ms/photo")
    head = f"{'eps':>4} {'order':>5} {'result':>24} {'prec':>6} {'recall':>6} {'BCubF':>6} {'people':>6} " \
           f"{'unasg':>5} {'ARI vs batch':>12}"
    print(head)
    for run in report["runs"]:  # type: ignore[union-attr]
        for kind, ari_key in (("streamed", "ari_streamed_vs_batch"), ("streamed_then_recluster",
                                                                       "ari_final_vs_batch"),
                              ("batch_dbscan", None)):
            s = run[kind]
            ari = run[ari_key] if ari_key else ""
            print(f"{run['eps']:>4} {run['order_seed']:>5} {kind:>24} {s['pairwise_precision']:>6} "
                  f"{s['pairwise_recall']:>6} {s['bcubed_f']:>6} {s['people']:>3}/{s['identities']:<2} "
                  f"{s['unassigned']:>5} {ari!s:>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
