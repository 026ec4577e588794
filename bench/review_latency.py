"""Server time of one review key press on a 100k-face library (issue 21: <= 100 ms).

The library: bench/clusters.py's synthetic 128-d embeddings (identities of ~10 faces), stored in bulk, none
of them on a person: the worst case for the review, which reads every unassigned face per question. One person
is made from one face of an identity; then each key press is what the web app's review does on the server:
record the answer (`library.review.answer`, one write transaction) and read the next questions
(`library.review.candidates(limit=PREFETCH)`, the prefetched queue). Answers follow the synthetic truth,
`--presses` of them; wall time per press (p50, p95, max), after one warm-up press. Also `candidates` alone with
`include_assigned`. The store is checkpointed after the bulk load (a library at rest has no 100k-row WAL).

    .venv/bin/python bench/review_latency.py [--faces 100000] [--presses 30] [--out bench/review_latency.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from clusters import _bulk_store, synthetic  # noqa: E402

PREFETCH = 10


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--presses", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "review_latency.json")
    args = parser.parse_args()
    import logging

    import structlog

    from daemon.library import corrections, review
    from daemon.store import Store

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    x, who = synthetic(args.faces)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "library.db"
        _bulk_store(db, x, 1.5, 1)
        with contextlib.closing(sqlite3.connect(db)) as conn:  # as a library at rest: no 100k-row WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with Store.open(db) as store:
            ids = np.array([r[0] for r in store.read(lambda c: c.execute("SELECT id FROM faces ORDER BY id")
                                                     .fetchall())], np.int64)
            identity = {int(f): int(w) for f, w in zip(ids.tolist(), who.tolist(), strict=True)}
            seed = int(ids[0])
            report: dict[str, object] = {"faces": args.faces, "prefetch": PREFETCH}
            # The shipped radius, and one that makes every face a candidate (the most work per press).
            for label, radius in (("press_ms", None), ("press_ms_every_face_a_candidate", 2.0)):
                person = corrections.new_person(store, [seed])
                queue = review.candidates(store, person, limit=PREFETCH, max_distance=radius)
                times: list[float] = []
                for _press in range(args.presses + 1):
                    if not queue:
                        break
                    face = queue[0].face_id
                    start = time.perf_counter()
                    review.answer(store, person, face, "yes" if identity[face] == identity[seed] else "no")
                    queue = review.candidates(store, person, limit=PREFETCH, max_distance=radius)
                    times.append(time.perf_counter() - start)
                ms = np.array(times[1:]) * 1000  # the first press after the page's own read
                report[label] = {"presses": len(ms), "p50": round(float(np.percentile(ms, 50)), 1),
                                 "p95": round(float(np.percentile(ms, 95)), 1), "max": round(float(ms.max()), 1)}
                seed = int(ids[1])
            start = time.perf_counter()
            review.candidates(store, person, limit=PREFETCH, include_assigned=True)
            report["include_assigned_candidates_ms"] = round((time.perf_counter() - start) * 1000, 1)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
