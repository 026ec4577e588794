"""The same-person review (issue 21), measured on real faces: the review radius, the pair rule and a scripted
reviewer, on bench/people_quality.py's sets (clean and the degraded ones, with its VOC strangers) and on the
natural-variation set (bench/natural_set.py).

Per set, the photos are analysed once (the real chain) and fed in one fixed order through a real store and
people manager (`record_analysis`, `on_photo_added`, reclustering as the daemon does, then one full
recluster), with the pair rule on and off (`PeopleManager.pair_lonely`), so the automatic people are scored
both ways (pairwise precision and recall over the labelled faces, people per identity, the pairs the rule
made and how many of them were one identity).

1. The radius. Over the labelled faces of every set: each face's distance to its identity's nearest other
   face (what the review must reach: an accepted face is an exemplar at once) and to the nearest face of
   another identity or stranger (what it must not offer first), with their percentiles and the share of
   same-identity nearest distances within each candidate radius.
2. The scripted reviewer, on the pair-rule store. For each identity (by name): its first found face is named
   (its person named, or a new person made from it); then it asks `library.review.candidates(person, limit=1)`
   and answers truthfully (yes: the face is the identity's; no: it is not) until no candidate is left or 30
   answers. Twice: unassigned faces only, and with `include_assigned` (faces on other people too, a yes moving
   the face). Per set: faces reached (the identity's labelled faces on its person at the end) / the identity's
   labelled faces found, wrong proposals (no answers) per face reached, answers per face reached.

    .venv/bin/python bench/review_sim.py [--sets clean small ...] [--pickle F | --load F] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import natural_set  # noqa: E402
from people_quality import SETS, Photo, add_distractors, build_sets, pairwise  # noqa: E402

BUDGET = 30  # answers per identity
RADII = (0.5, 0.55, 0.6, 0.62, 0.65, 0.7, 0.75, 0.8)


def analysed_sets(names: list[str], load: Path | None, keep: Path | None) -> dict[str, list[Photo]]:
    """The sets' analysed photos (people_quality's sets with its strangers, and the natural set)."""
    if load is not None:
        sets: dict[str, list[Photo]] = pickle.loads(load.read_bytes())
        return {k: v for k, v in sets.items() if k in names}
    quality = [n for n in names if n in SETS]
    sets = build_sets(quality)[0] if quality else {}
    if sets:
        add_distractors(sets)
    if "natural" in names:
        sets["natural"] = natural_set.build()
    if keep is not None:
        keep.write_bytes(pickle.dumps(sets))
    return sets


class Library:
    """One set fed into a real store and people manager, as the daemon would."""

    def __init__(self, items: list[Photo], folder: Path, *, pair_lonely: bool) -> None:
        from daemon.config import ClusteringConfig
        from daemon.people.manager import PeopleManager
        from daemon.store import Store

        self.path = folder / "library.db"
        self.truth: dict[int, str] = {}
        self.vectors: dict[int, np.ndarray] = {}
        self.store = Store.open(self.path)
        manager = PeopleManager(self.store, ClusteringConfig())
        manager.pair_lonely = pair_lonely
        for i, photo in enumerate(items):
            result = self.store.record_analysis(photo.name, 1, 1, f"sha-{i}", photo.analysis)
            if photo.labelled is not None:
                self.truth[result.face_ids[photo.labelled]] = photo.identity
            for face_id, face in zip(result.face_ids, photo.analysis.faces, strict=True):
                self.vectors[face_id] = face.embedding
            manager.on_photo_added(result)
            if manager.recluster_due():
                manager.recluster()
        manager.recluster(full=True)
        self.pairs_made = 0

    def people(self) -> dict[int, int | None]:
        return dict(self.store.read(lambda c: c.execute("SELECT id, person_id FROM faces").fetchall()))

    def close(self) -> None:
        self.store.close()


def automatic_scores(lib: Library) -> dict[str, Any]:
    """Pairwise precision/recall over the labelled faces, people per identity, unassigned labelled faces."""
    people = lib.people()
    ids = sorted(lib.truth)
    pred: list[object] = [people[f] if people[f] is not None else f"alone{f}" for f in ids]
    precision, recall = pairwise([lib.truth[f] for f in ids], pred)
    per_identity: dict[str, set[object]] = {}
    for f in ids:
        per_identity.setdefault(lib.truth[f], set()).add(pred[ids.index(f)])
    sizes: dict[int, list[int]] = {}
    for face, person in people.items():
        if person is not None:
            sizes.setdefault(person, []).append(face)
    pairs = [faces for faces in sizes.values() if len(faces) == 2]
    return {"pairwise_precision": round(precision, 4), "pairwise_recall": round(recall, 4),
            "people_per_identity": round(float(np.mean([len(v) for v in per_identity.values()])), 3),
            "labelled_unassigned": sum(people[f] is None for f in ids),
            "people_of_two": len(pairs),
            "people_of_two_labelled_one_identity": sum(
                1 for a, b in pairs if a in lib.truth and b in lib.truth and lib.truth[a] == lib.truth[b]),
            "people_of_two_labelled_two_identities": sum(
                1 for a, b in pairs if a in lib.truth and b in lib.truth and lib.truth[a] != lib.truth[b])}


def distances(lib: Library) -> dict[str, list[float]]:
    """Per labelled face: its distance to its identity's nearest other face, and to the nearest other face
    (another identity's or a stranger's: every unlabelled face of these sets is someone else's, save a
    second detection of the identity itself, which only makes the figure more cautious)."""
    from daemon.people import clusters

    ids = sorted(lib.vectors)
    x = clusters.normalise(np.stack([lib.vectors[f] for f in ids]))
    who = np.array([lib.truth.get(f, "") for f in ids])
    same: list[float] = []
    other: list[float] = []
    for i in np.flatnonzero(who != "").tolist():
        d = 1.0 - x @ x[i]
        d[i] = 9.0
        mates = who == who[i]
        if (d[mates] < 9).any():
            same.append(float(d[mates].min()))
        other.append(float(d[~mates].min()))
    return {"same_nearest": same, "other_nearest": other}


def review_identity(lib: Library, who: str, *, include_assigned: bool) -> dict[str, int]:
    """The scripted reviewer for one identity: name one face, then answer the top candidate truthfully."""
    from daemon.library import corrections, review

    mine = sorted(f for f, w in lib.truth.items() if w == who)
    seed = mine[0]
    person = lib.people()[seed]
    if person is None:
        person = corrections.new_person(lib.store, [seed], name=who)
    else:
        corrections.name_person(lib.store, person, who)
    answers = wrong = 0
    while answers < BUDGET:
        top = review.candidates(lib.store, person, limit=1, include_assigned=include_assigned)
        if not top or top[0].skipped:
            break
        truth = lib.truth.get(top[0].face_id) == who
        review.answer(lib.store, person, top[0].face_id, "yes" if truth else "no")
        answers += 1
        wrong += not truth
    people = lib.people()
    return {"faces": len(mine), "reached": sum(people[f] == person for f in mine), "answers": answers,
            "wrong": wrong}


def run_reviewer(items: list[Photo], folder: Path, *, include_assigned: bool) -> dict[str, Any]:
    lib = Library(items, folder, pair_lonely=True)
    try:
        started = time.perf_counter()
        per = {who: review_identity(lib, who, include_assigned=include_assigned)
               for who in sorted(set(lib.truth.values()))}
        seconds = time.perf_counter() - started
        final = automatic_scores(lib)
    finally:
        lib.close()
    total = {k: sum(v[k] for v in per.values()) for k in ("faces", "reached", "answers", "wrong")}
    return {"reached": round(total["reached"] / max(1, total["faces"]), 3),
            "wrong_per_face_reached": round(total["wrong"] / max(1, total["reached"]), 3),
            "answers_per_face_reached": round(total["answers"] / max(1, total["reached"]), 3),
            "lowest_identity_reached": round(min(v["reached"] / max(1, v["faces"]) for v in per.values()), 3),
            "totals": total, "per_identity": per,
            "after_review_pairwise_precision": final["pairwise_precision"],
            "ms_per_answer": round(seconds * 1000 / max(1, total["answers"]), 1)}


def percentiles(values: list[float]) -> dict[str, float]:
    a = np.array(values)
    return {"min": round(float(a.min()), 3)} | {
        f"p{p}": round(float(np.percentile(a, p)), 3) for p in (1, 5, 10, 25, 50, 75, 90, 95, 99)} | {
        "max": round(float(a.max()), 3), "n": len(values)}


def run(sets: dict[str, list[Photo]]) -> dict[str, Any]:
    out: dict[str, Any] = {"sets": {}}
    pooled: dict[str, list[float]] = {"same_nearest": [], "other_nearest": []}
    for name, items in sets.items():
        entry: dict[str, Any] = {}
        for on in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                lib = Library(items, Path(tmp), pair_lonely=on)
                try:
                    entry["pair_rule_on" if on else "pair_rule_off"] = automatic_scores(lib)
                    if on:
                        for key, values in distances(lib).items():
                            pooled[key] += values
                finally:
                    lib.close()
        for include in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                entry["reviewer_with_assigned" if include else "reviewer"] = run_reviewer(
                    items, Path(tmp), include_assigned=include)
        out["sets"][name] = entry
        r = entry["reviewer"]
        print(f"[review_sim] {name}: reached {r['reached']}, wrong/face {r['wrong_per_face_reached']}, "
              f"precision off/on {entry['pair_rule_off']['pairwise_precision']}/"
              f"{entry['pair_rule_on']['pairwise_precision']}", file=sys.stderr, flush=True)
    same, other = np.array(pooled["same_nearest"]), np.array(pooled["other_nearest"])
    out["radius"] = {"same_identity_nearest": percentiles(pooled["same_nearest"]),
                     "other_nearest": percentiles(pooled["other_nearest"]),
                     "by_radius": {str(r): {"same_within": round(float((same <= r).mean()), 3),
                                            "other_within": round(float((other <= r).mean()), 3)}
                                   for r in RADII}}
    return out


def main() -> int:
    logging_quiet()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=[*SETS, "natural"])
    parser.add_argument("--pickle", type=Path, help="keep the analysed sets here (outside the repo)")
    parser.add_argument("--load", type=Path, help="use the sets kept by --pickle instead of analysing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "review_results.json")
    args = parser.parse_args()
    sets = analysed_sets(args.sets, args.load, args.pickle)
    report = run(sets)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: {s: {"reached": v["reviewer"]["reached"],
                              "wrong_per_face": v["reviewer"]["wrong_per_face_reached"],
                              "answers_per_face": v["reviewer"]["answers_per_face_reached"],
                              "with_assigned_reached": v["reviewer_with_assigned"]["reached"],
                              "precision_off": v["pair_rule_off"]["pairwise_precision"],
                              "precision_on": v["pair_rule_on"]["pairwise_precision"],
                              "recall_off": v["pair_rule_off"]["pairwise_recall"],
                              "recall_on": v["pair_rule_on"]["pairwise_recall"]}
                          for s, v in report[k].items()} for k in ("sets",)} | {"radius": report["radius"]},
                     indent=1))
    return 0


def logging_quiet() -> None:
    import logging

    import structlog
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


if __name__ == "__main__":
    raise SystemExit(main())
