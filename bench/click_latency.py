"""A click's latency while a 100k-face recluster runs: a449dd8's mapping (one writer transaction) against the
chunked one (issue 20), side by side in one run.

    .venv/bin/python bench/click_latency.py                        # 100k faces; writes bench/click_latency.json
    .venv/bin/python bench/click_latency.py --faces 20000 --rounds 1 --out /tmp/clicks.json

The library: bench/clusters.py's synthetic embeddings (~10 faces an identity, spread like SFace faces of one
person), stored by its `_bulk_store`, reclustered once so people exist, then `--unplaced` of the faces taken off
their people (photos recorded and not placed yet: the recluster has them to move), in one file copied for
each run. Each run: `recluster_now` (what `pictod recluster` does: a full recluster) in its own process, with
the code of one side (before: `git archive a449dd8` unpacked in a temporary folder; after: this tree), while
this process clicks on its own `Store` (its own writer connection, another process to SQLite) through
`daemon.library.corrections`, as the CLI and the web app do: `people name` and `faces move` in turn, the next
`--gap` seconds after one answers, for as long as the recluster runs. The order of the sides alternates between
rounds. Reported per side: click latency p50 / p95 / max over every click made while the recluster ran, and
over the clicks made during its mapping (after its index was built: the part that held the writer in
a449dd8), the recluster's total time and the mapping's. Target: every click answers within 0.5 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
sys.path.insert(0, str(ROOT / "bench"))

BEFORE = "a449dd8"
TARGET_S = 0.5

# The recluster's process: the side's own code first on the path; one line when the index is built (the mapping
# begins), one at the end with its figures.
CHILD = """
import json, logging, sys, time
from pathlib import Path
import structlog
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
import daemon
from daemon.config import ClusteringConfig
from daemon.people import manager as M
from daemon.store import Store
assert Path(daemon.__file__).resolve().is_relative_to(Path(sys.argv[2]).resolve()), daemon.__file__
plans = []
real_snapshot = M.PeopleManager._snapshot
def snapshot(self):
    out = real_snapshot(self)
    print("mapping", time.time(), flush=True)
    return out
M.PeopleManager._snapshot = snapshot
if hasattr(M.PeopleManager, "_plan"):
    real_plan = M.PeopleManager._plan
    def plan(self, *a, **k):
        plans.append(1)
        return real_plan(self, *a, **k)
    M.PeopleManager._plan = plan
t0 = time.perf_counter()
with Store.open(Path(sys.argv[1])) as store:
    r = M.recluster_now(store, ClusteringConfig())
print("done", time.time(), json.dumps({"seconds": round(time.perf_counter() - t0, 2), "changed_faces": r.changed_faces,
      "people": r.people, "plans": len(plans)}), flush=True)
"""


def build(path: Path, n: int, unplaced: float, seed: int) -> dict[str, int]:
    """The library every run starts from (see the module docstring)."""
    from clusters import _bulk_store, synthetic

    from daemon.config import ClusteringConfig
    from daemon.people.manager import recluster_now
    from daemon.store import Store, faces

    x, _who = synthetic(n, seed=seed)
    _bulk_store(path, x, 1.5, seed)
    del x
    with Store.open(path) as store:
        first = recluster_now(store, ClusteringConfig())
        ids = store.read(lambda c: [int(r[0]) for r in c.execute("SELECT id FROM faces ORDER BY id")])
        rng = np.random.default_rng(seed)
        off = sorted(rng.choice(ids, int(len(ids) * unplaced), replace=False).tolist())
        store.write(lambda c: faces.assign_faces(c, [(f, None) for f in off]))
    return {"faces": len(ids), "people": first.people, "unplaced": len(off)}


def before_tree(tmp: Path) -> Path:
    """a449dd8's daemon package, unpacked."""
    tree = tmp / BEFORE
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE, "daemon"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def click(store: Any, people: list[int], face_ids: list[int], i: int, rng: np.random.Generator) -> tuple[str, float]:
    """One user click through the use cases, as the CLI and the web app make it; (kind, seconds)."""
    from daemon.library import corrections

    person = int(rng.choice(people))
    t0 = time.perf_counter()
    if i % 2 == 0:
        corrections.name_person(store, person, f"Person {i}")
        kind = "people name"
    else:
        corrections.move_face(store, int(rng.choice(face_ids)), person)
        kind = "faces move"
    return kind, time.perf_counter() - t0


def one_run(library: Path, tree: Path, work: Path, gap: float, seed: int) -> dict[str, Any]:
    """A recluster by `tree`'s code on a copy of the library, clicked at meanwhile."""
    from daemon.store import Store, faces

    db = work / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(library, db)
    rng = np.random.default_rng(seed)
    marks: dict[str, float] = {}
    result: dict[str, Any] = {}
    logged: list[str] = []
    with Store.open(db) as store:
        people = [int(r[0]) for r in store.read(faces.people_rows)]
        face_ids = store.read(lambda c: [int(r[0]) for r in c.execute("SELECT id FROM faces")])
        idle = [click(store, people, face_ids, i, rng)[1] for i in range(6)]
        env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONWARNINGS": "ignore"}
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(db), str(tree)], cwd=tree, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def follow() -> None:
            assert child.stdout is not None
            for line in child.stdout:
                parts = line.split(" ", 2)
                if parts[0] not in ("mapping", "done") or len(parts) < 2:
                    logged.append(line.strip())  # a warning of the recluster's
                    continue
                marks[parts[0]] = float(parts[1])
                if len(parts) == 3:
                    result.update(json.loads(parts[2]))

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        clicks: list[tuple[float, str, float]] = []  # (wall time sent, kind, seconds)
        i = 0
        while child.poll() is None:
            sent = time.time()
            kind, seconds = click(store, people, face_ids, i, rng)
            clicks.append((sent, kind, seconds))
            i += 1
            time.sleep(gap)
        reader.join(10)
        err = child.stderr.read() if child.stderr else ""
        if child.returncode != 0:
            raise RuntimeError(f"recluster failed ({child.returncode}): {err}")
    during = [c for c in clicks if c[0] < marks["done"]]
    mapping = [c for c in during if c[0] >= marks["mapping"]]
    return {**result, "mapping_s": round(marks["done"] - marks["mapping"], 2),
            "idle_click_s": _stats(idle), "clicks": _stats([c[2] for c in during]),
            "clicks_in_mapping": _stats([c[2] for c in mapping]),
            "logged": logged, "slowest": sorted(([round(c[2], 3), c[1]] for c in during), reverse=True)[:5]}


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    v = np.array(values)
    return {"n": len(values), "p50_s": round(float(np.percentile(v, 50)), 3),
            "p95_s": round(float(np.percentile(v, 95)), 3), "max_s": round(float(v.max()), 3),
            "within_target": int((v <= TARGET_S).sum())}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--unplaced", type=float, default=0.2, help="share of the faces taken off their people")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, the order alternating")
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between one click's answer and the next")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "click_latency.json")
    args = parser.parse_args()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        library = work / "library.db"
        t0 = time.perf_counter()
        shape = build(library, args.faces, args.unplaced, 1)
        print(f"library: {shape} in {time.perf_counter() - t0:.0f} s", flush=True)
        sides = {"before": before_tree(work), "after": ROOT}
        runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for side in (("before", "after") if r % 2 == 0 else ("after", "before")):
                run = one_run(library, sides[side], work, args.gap, seed=r)
                runs[side].append(run)
                print(f"round {r + 1} {side}: recluster {run['seconds']} s (mapping {run['mapping_s']} s), "
                      f"clicks {run['clicks']}, in the mapping {run['clicks_in_mapping']}", flush=True)
    report = {"command": "bench/click_latency.py " + " ".join(sys.argv[1:]), "commit": commit,
              "before": BEFORE, "cpus": os.cpu_count(), "library": shape, "gap_s": args.gap,
              "target_s": TARGET_S, "runs": runs}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
