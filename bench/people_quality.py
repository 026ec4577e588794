"""People quality on real faces, clean and hard: the real analysis chain, a real store and the people manager.

Sets. `clean`: dlib's johns (5 people x 11 crops, folder = identity) and face_recognition's obama.jpg,
obama2.jpg, obama3.jpg, biden.jpg. The hard sets are made from each clean photo, deterministically (numpy
RNG seeded by set and photo; libjpeg is deterministic):
  small   the photo shrunk so its face's shorter side is 40-60 px, pasted into a 1024x768 canvas cut from a
          softened no-face photo (skimage rocket, horse, coffee, hubble)
  jpeg    re-encoded at JPEG quality 20-30
  blur    Gaussian blur, sigma 1.2-2.0 px per 100 px of face
  gray    grey levels only
  turned  pixels turned by 90, 180 or 270 degrees, no EXIF
  mixed   one photo per clean photo, with 1-3 of the above combined (a quarter stay clean): the same person
          through different years and cameras
Every photo is stored as a JPEG without metadata and analysed once with `daemon.analysis.analyzer.Analyzer` (real
ONNX models). The face of the identity is the found face overlapping (IoU >= 0.3) where the clean photo's
largest face went; other faces are unlabelled and left out of the scores (they still take part in clustering).

Figures, per set and per clustering configuration (the defaults and the seed's values): faces found (the
identity's face found, per photo), pairwise precision and recall, BCubed F, people per identity (distinct
people holding an identity's faces) and unassigned faces, for the streamed result (photos fed in random
orders through `Store.record_analysis` + `PeopleManager.on_photo_added`, reclustering as the daemon does),
after one final recluster, and for one batch DBSCAN; and "actions to the truth" for two scripted users:
`actions_to_truth` (names each identity's largest person, accepts correct top suggestions and rejects wrong
ones one face at a time, then moves what is left) and `actions_one_step` (the web app's and CLI's real
one-action flows: `people merge`, `faces reject`, then `people accept PERSON` for all of a person's suggestions
at once; see its docstring). `--distractors` adds dlib's VOC photos (faces of other people, made into each
set's variant) and counts those that end in a person holding an identity's faces (false merges). `--set
KEY=VALUE` overrides a clustering default; `--pickle` / `--load` keep the analysed sets to re-cluster them
without analysing again.

Face quality (issue 11, section 2): for every labelled face, its parts (`hard_faces.quality`) against how
far its embedding lies from its identity's clean faces (the other photos' clean copies), and batch clustering
with low-quality faces kept out of the DBSCAN cores and attached at a stricter distance (`quality_rule`,
bench-only, from daemon.people.clusters' functions), for a grid of thresholds.

    .venv/bin/python bench/people_quality.py [--orders 3] [--sets clean mixed] [--distractors] [--json] [--out FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from itertools import pairwise as pairwise_
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from pictod_testdata import DLIB_FACES, FACE_RECOGNITION, JOHNS, SKIMAGE  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from people_suggest import Suggester, make_suggest  # noqa: E402

FR_PHOTOS = {"obama.jpg": "obama", "obama2.jpg": "obama", "obama3.jpg": "obama", "biden.jpg": "biden"}
SEED = 20_261_111
SETS = ("clean", "small", "jpeg", "blur", "gray", "turned", "mixed")
HARD_OPS = ("small", "jpeg", "blur", "gray", "turned")
BACKGROUNDS = ("rocket.jpg", "horse.png", "coffee.png", "hubble_deep_field.jpg")  # no face >= 0.6 in any
CANVAS = (1024, 768)
Box = tuple[float, float, float, float]


def photos() -> list[tuple[Path, str]]:
    """(photo, identity) for every labelled test photo."""
    out = [(p, p.parent.name) for p in sorted(JOHNS.glob("*/*.jpg"))]
    out += [(FACE_RECOGNITION / name, who) for name, who in FR_PHOTOS.items()]
    missing = [str(p) for p, _ in out if not p.exists()]
    if missing or not out:
        raise SystemExit(f"test photos missing ({missing[:3]}...): run tools/fetch_testdata.py")
    return out


# -- the hard variants -----------------------------------------------------------------------------------


@dataclass
class Variant:
    """One photo of a set: its pixels, where the identity's face should be, and what was done to it."""

    rgb: np.ndarray
    face: Box | None  # the clean face box carried through the geometric changes (None: no clean face)
    ops: tuple[str, ...] = ()
    quality: int = 92  # JPEG quality it is stored at
    grey: bool = False


def _load(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _face_side(v: Variant) -> float:
    return min(v.face[2] - v.face[0], v.face[3] - v.face[1]) if v.face else 100.0


def op_small(v: Variant, rng: np.random.Generator) -> Variant:
    """Shrink so the face's shorter side is 40-60 px; paste into a softened no-face canvas."""
    target = float(rng.uniform(40, 60))
    s = min(1.0, target / _face_side(v))
    h, w = v.rgb.shape[:2]
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    shrunk = cv2.resize(v.rgb, (nw, nh), interpolation=cv2.INTER_AREA)
    cw, ch = CANVAS
    bg = cv2.resize(_load(SKIMAGE / BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))]), (cw, ch),
                    interpolation=cv2.INTER_LINEAR)
    canvas = np.ascontiguousarray(cv2.GaussianBlur(bg, (0, 0), 2.0))
    nw, nh = min(nw, cw), min(nh, ch)
    x0, y0 = int(rng.integers(0, cw - nw + 1)), int(rng.integers(0, ch - nh + 1))
    canvas[y0:y0 + nh, x0:x0 + nw] = shrunk[:nh, :nw]
    face = None if v.face is None else (v.face[0] * s + x0, v.face[1] * s + y0, v.face[2] * s + x0,
                                        v.face[3] * s + y0)
    return Variant(canvas, face, (*v.ops, "small"), v.quality, v.grey)


def op_jpeg(v: Variant, rng: np.random.Generator) -> Variant:
    return Variant(v.rgb, v.face, (*v.ops, "jpeg"), int(rng.integers(20, 31)), v.grey)


def op_blur(v: Variant, rng: np.random.Generator) -> Variant:
    sigma = float(rng.uniform(1.2, 2.0)) * _face_side(v) / 100.0
    return Variant(np.ascontiguousarray(cv2.GaussianBlur(v.rgb, (0, 0), sigma)), v.face, (*v.ops, "blur"),
                   v.quality, v.grey)


def op_gray(v: Variant, rng: np.random.Generator) -> Variant:
    grey = cv2.cvtColor(v.rgb, cv2.COLOR_RGB2GRAY)
    return Variant(np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2)), v.face, (*v.ops, "gray"),
                   v.quality, True)


def op_turned(v: Variant, rng: np.random.Generator) -> Variant:
    from daemon.analysis import hard_faces as facelib
    degrees = int(rng.choice([90, 180, 270]))
    h, w = v.rgb.shape[:2]
    face = None
    if v.face is not None:
        tw, th = (h, w) if degrees in (90, 270) else (w, h)
        pts = facelib.unturn_points(np.array([[v.face[0], v.face[1]], [v.face[2], v.face[3]]], np.float32),
                                    (360 - degrees) % 360, tw, th)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        face = (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))
    return Variant(facelib.turn(v.rgb, degrees), face, (*v.ops, f"turned{degrees}"), v.quality, v.grey)


OPS: dict[str, Callable[[Variant, np.random.Generator], Variant]] = {
    "small": op_small, "jpeg": op_jpeg, "blur": op_blur, "gray": op_gray, "turned": op_turned,
}


def make_variant(rgb: np.ndarray, face: Box | None, set_name: str, index: int) -> Variant:
    """The photo `index` of set `set_name`, made from its clean pixels and clean face box."""
    rng = np.random.default_rng([SEED, SETS.index(set_name), index])
    v = Variant(rgb, face)
    if set_name == "clean":
        return v
    if set_name != "mixed":
        return OPS[set_name](v, rng)
    if rng.uniform() < 0.25:
        return v
    k = int(rng.integers(1, 4))
    chosen = set(rng.choice(HARD_OPS, size=k, replace=False).tolist())
    for name in HARD_OPS:  # a fixed order: shrink, then compress ... and turn last, as a scan would be
        if name in chosen and name != "jpeg":
            v = OPS[name](v, rng)
    if "jpeg" in chosen:
        v = op_jpeg(v, rng)
    return v


def encode(v: Variant) -> bytes:
    """The variant as stored: a JPEG (grey if it is grey) without any metadata."""
    out = io.BytesIO()
    image = Image.fromarray(v.rgb[..., 0]) if v.grey else Image.fromarray(v.rgb)
    image.save(out, "JPEG", quality=v.quality)
    return out.getvalue()


# -- analysis ----------------------------------------------------------------------------------------------


@dataclass
class Photo:
    """One analysed photo of a set."""

    name: str
    identity: str
    source: int  # index of the clean photo it was made from
    ops: tuple[str, ...]
    analysis: Any
    labelled: int | None  # index (in analysis.faces) of the identity's face, None: not found


def _iou(a: Box, b: Box) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def add_distractors(sets: dict[str, list[Photo]]) -> None:
    """Add to every set dlib's 10 VOC and bald_guys photos (43+ faces of other people, none of the identities),
    made into that set's variant: unlabelled faces a false merge would put into an identity's person."""
    from daemon import config
    from daemon.analysis.analyzer import Analyzer

    analyzer = Analyzer.from_config(config.load(ROOT / "config.toml", check_folders=False), workers=1)
    paths = [*sorted(DLIB_FACES.glob("20*.jpg")), DLIB_FACES / "bald_guys.jpg"]
    for set_name, items in sets.items():
        for i, path in enumerate(paths):
            variant = make_variant(_load(path), None, set_name, 1000 + i)
            analysis = analyzer.analyze_header(analyzer.open_header(encode(variant), f"{set_name}-{path.name}"))
            items.append(Photo(f"{set_name}/distractor/{path.name}", "", 1000 + i, variant.ops, analysis, None))


def distractors_merged(items: Sequence[Photo], order: list[int], final: dict[int, object],
                       truth: dict[int, str]) -> dict[str, int]:
    """Distractor faces (other people) that ended in a person holding an identity's labelled faces."""
    owners = {final[f] for f in truth if not _single(final[f])}
    ids = sorted(final)
    # face ids are given in feeding order, photo by photo: map them back to the photos
    per_photo = [len(items[i].analysis.faces) for i in order]
    photo_of: list[int] = [i for i, n in zip(order, per_photo, strict=True) for _ in range(n)]
    faces = [f for f, i in zip(ids, photo_of, strict=True) if items[i].identity == ""]
    return {"distractor_faces": len(faces), "in_identity_people": sum(final[f] in owners for f in faces)}


def build_sets(names: Sequence[str]) -> tuple[dict[str, list[Photo]], float]:
    """Analyse every photo of the named sets (clean always first: it places the faces); mean ms per photo."""
    from daemon import config
    from daemon.analysis.analyzer import Analyzer

    cfg = config.load(ROOT / "config.toml", check_folders=False)
    analyzer = Analyzer.from_config(cfg, workers=1)
    items = photos()
    clean_rgb = [_load(p) for p, _ in items]
    sets: dict[str, list[Photo]] = {}
    start, count = time.perf_counter(), 0
    clean_faces: list[Box | None] = []
    for set_name in ["clean"] + [n for n in names if n != "clean"]:
        out = []
        for i, ((path, who), rgb) in enumerate(zip(items, clean_rgb, strict=True)):
            face = clean_faces[i] if set_name != "clean" else None
            variant = make_variant(rgb, face, set_name, i)
            if set_name == "clean":
                analysis = analyzer.analyze_file(path)
            else:
                analysis = analyzer.analyze_header(analyzer.open_header(encode(variant), f"{set_name}-{path.name}"))
            count += 1
            if set_name == "clean":
                if analysis.faces:
                    areas = [(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]) for f in analysis.faces]
                    clean_faces.append(analysis.faces[int(np.argmax(areas))].box)
                    labelled: int | None = int(np.argmax(areas))
                else:
                    clean_faces.append(None)
                    labelled = None
            else:
                overlaps = [_iou(f.box, variant.face) if variant.face else 0.0 for f in analysis.faces]
                labelled = int(np.argmax(overlaps)) if overlaps and max(overlaps) >= 0.3 else None
            out.append(Photo(f"{set_name}/{path.parent.name}/{path.name}", who, i, variant.ops, analysis, labelled))
        if set_name in names:
            sets[set_name] = out
        print(f"[people_quality] analysed set {set_name}", file=sys.stderr, flush=True)
    return sets, (time.perf_counter() - start) / max(1, count) * 1000


# -- scores ------------------------------------------------------------------------------------------------


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
    if not n:
        return 1.0
    precision = recall = 0.0
    for i in range(n):
        same_p = [j for j in range(n) if pred[j] == pred[i]]
        same_t = [j for j in range(n) if truth[j] == truth[i]]
        both = sum(1 for j in same_p if truth[j] == truth[i])
        precision += both / len(same_p)
        recall += both / len(same_t)
    precision, recall = precision / n, recall / n
    return 2 * precision * recall / (precision + recall)


def _single(v: object) -> bool:
    return isinstance(v, str) and v.startswith("single")


def scores(truth: dict[int, str], pred: dict[int, object]) -> dict[str, Any]:
    """All scores on the labelled faces (an unassigned face is its own singleton)."""
    keys = sorted(truth)
    t = [truth[k] for k in keys]
    p = [pred[k] for k in keys]
    precision, recall = pairwise(t, p)
    by_identity: dict[str, set[object]] = defaultdict(set)
    for who, person in zip(t, p, strict=True):
        if not _single(person):
            by_identity[who].add(person)
    identities = sorted(set(t))
    return {"pairwise_precision": round(precision, 4), "pairwise_recall": round(recall, 4),
            "bcubed_f": round(bcubed_f(t, p), 4),
            "people": len({v for v in p if not _single(v)}), "identities": len(identities),
            "people_per_identity": round(sum(len(by_identity[w]) for w in identities) / max(1, len(identities)), 3),
            "unassigned": sum(1 for v in p if _single(v))}


Suggest = Callable[[int, dict[int, object]], list[tuple[object, float]]]


def actions_to_truth(truth: dict[int, str], pred: dict[int, object],
                     suggest: Suggest | None = None) -> dict[str, Any]:
    """Actions a user who knows every labelled face's identity needs to make the people true.

    Per identity, largest first: name the person holding most of its faces (1 action; an identity with no
    person makes one from one of its faces: 1 action, `people new` once it exists). Then, for each labelled
    face still outside its identity's person, the top suggestion `suggest(face, state)` (ranked (person,
    distance) pairs; None or [] when there are none, as today): accepted if it is the right person (1 action),
    rejected if not (1 action). Then every face still outside its identity's person is moved (1 action each).
    Counted per identity; unlabelled faces are left alone."""
    state = dict(pred)
    faces_of: dict[str, list[int]] = defaultdict(list)
    for face, who in truth.items():
        faces_of[who].append(face)
    named: dict[str, object] = {}
    taken: set[object] = set()
    counts: dict[str, Counter[str]] = {who: Counter() for who in faces_of}
    for who in sorted(faces_of, key=lambda w: (-len(faces_of[w]), w)):
        held = Counter(state[f] for f in faces_of[who] if not _single(state[f]) and state[f] not in taken)
        if held:
            named[who] = max(sorted(held, key=str), key=lambda person: held[person])
            counts[who]["name"] += 1
        else:  # no person holds any of its faces: one becomes a new person
            first = min(faces_of[who])
            named[who] = f"new-{who}"
            state[first] = named[who]
            counts[who]["new_person"] += 1
        taken.add(named[who])
    if suggest is not None:
        for who in sorted(faces_of):
            for face in sorted(faces_of[who]):
                if state[face] == named[who]:
                    continue
                ranked = suggest(face, state)
                if not ranked:
                    continue
                if ranked[0][0] == named[who]:
                    state[face] = named[who]
                    counts[who]["accept"] += 1
                else:
                    counts[who]["reject"] += 1
    return _move_the_rest(faces_of, named, state, counts)


def _move_the_rest(faces_of: dict[str, list[int]], named: dict[str, object], state: dict[int, object],
                   counts: dict[str, Counter[str]]) -> dict[str, Any]:
    """Both scripted users' last step: every labelled face still outside its identity's person is moved
    (`faces move`, 1 action each); then the counts, per identity and by kind."""
    for who in faces_of:
        for face in faces_of[who]:
            if state[face] != named[who]:
                state[face] = named[who]
                counts[who]["move"] += 1
    per_identity = {who: sum(c.values()) for who, c in sorted(counts.items())}
    total = sum(per_identity.values())
    kinds: Counter[str] = Counter()
    for c in counts.values():
        kinds.update(c)
    return {"total": total, "per_identity_mean": round(total / max(1, len(per_identity)), 3),
            "per_identity": per_identity, "by_kind": dict(sorted(kinds.items()))}


def actions_one_step(truth: dict[int, str], pred: dict[int, object], suggester: Suggester) -> dict[str, Any]:
    """Actions of a user of the real one-action flows (web app and CLI) to make the people true.

    Per identity, largest first: name the person holding most of its faces (`people name`, 1 action; none:
    `people new FACE` from one of its faces, 1 action); merge every other person that holds only faces of this
    identity into it (`people merge`, 1 action each). Then, in passes over the identities until nothing
    changes: for the identity's person P, the unassigned faces whose top suggestion is P (the web app's group
    for P, `faces suggest --person`); each one that is not this identity's face is rejected (`faces reject FACE
    P`, 1 action each; its top may then be another person, met in that person's turn; an unlabelled face counts
    as wrong, none occur in these sets); then all that are left are accepted at once (`people accept P`,
    1 action). Last, every labelled face still outside its identity's person is moved (`faces move`, 1 each).
    Counted per identity (a rejection counts for the identity whose group showed it)."""
    state = dict(pred)
    faces_of: dict[str, list[int]] = defaultdict(list)
    for face, who in truth.items():
        faces_of[who].append(face)
    order = sorted(faces_of, key=lambda w: (-len(faces_of[w]), w))
    named: dict[str, object] = {}
    counts: dict[str, Counter[str]] = {who: Counter() for who in faces_of}
    holders: dict[object, set[str]] = defaultdict(set)  # person -> identities of its labelled faces
    for face, person in pred.items():
        if not _single(person):
            holders[person].add(truth.get(face, "?"))
    for who in order:
        held = Counter(state[f] for f in faces_of[who] if not _single(state[f]) and state[f] not in named.values())
        if held:
            named[who] = max(sorted(held, key=str), key=lambda person: held[person])
            counts[who]["name"] += 1
        else:
            first = min(faces_of[who])
            named[who] = f"new-{who}"
            state[first] = named[who]
            counts[who]["new_person"] += 1
        for person in sorted(held, key=str):
            if person != named[who] and holders[person] == {who}:
                for face, p in state.items():
                    if p == person:
                        state[face] = named[who]
                counts[who]["merge"] += 1
    progress = True
    while progress:
        progress = False
        for who in order:
            person = named[who]
            while True:
                group = [f for f in sorted(state) if _single(state[f])
                         and (top := suggester.ranked(f, state)) and top[0][0] == person]
                wrong = [f for f in group if truth.get(f) != who]
                if not wrong:
                    break
                for f in wrong:
                    suggester.reject(f, person)
                    counts[who]["reject"] += 1
                progress = True
            if group:
                for f in group:
                    state[f] = person
                counts[who]["accept_all"] += 1
                progress = True
    return _move_the_rest(faces_of, named, state, counts)


# -- clustering runs ---------------------------------------------------------------------------------------


CONFIGS: dict[str, dict[str, float | int]] = {
    # The seed's values (eps 0.3 cosine, min_samples 2, recluster every 5 photos, no loose attachment); the
    # defaults are ClusteringConfig()'s, whatever they are when this runs (with --set overrides).
    "seed": {"eps": 0.3, "min_samples": 2, "recluster_every": 5, "attach_eps": 0.3},
}


def stream(items: Sequence[Photo], order: list[int], cfg: Any
           ) -> tuple[dict[int, object], dict[int, object], dict[int, str], dict[int, np.ndarray]]:
    """Feed photos in `order` through a real store and manager; return (streamed, final) people per face,
    the ground truth per face id and the embeddings."""
    from daemon.people.manager import PeopleManager
    from daemon.store import Store
    truth: dict[int, str] = {}
    vectors: dict[int, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "library.db") as store:
        manager = PeopleManager(store, cfg)
        for i in order:
            photo = items[i]
            result = store.record_analysis(photo.name, 1, 1, f"sha-{i}", photo.analysis)
            if photo.labelled is not None:
                truth[result.face_ids[photo.labelled]] = photo.identity
            for face_id, face in zip(result.face_ids, photo.analysis.faces, strict=True):
                vectors[face_id] = face.embedding
            manager.on_photo_added(result)
            if manager.recluster_due():
                manager.recluster()

        def people(conn: Any) -> dict[int, object]:
            rows = conn.execute("SELECT id, person_id FROM faces").fetchall()
            return {r[0]: (r[1] if r[1] is not None else f"single{r[0]}") for r in rows}

        streamed = store.read(people)
        manager.recluster()
        final = store.read(people)
    return streamed, final, truth, vectors


def batch_labels(x: np.ndarray, eps: float, min_samples: int) -> list[object]:
    """One batch DBSCAN (daemon.people.clusters), noise as singletons."""
    from daemon.people import clusters
    labels = clusters.DensityIndex.build(x, eps, min_samples).labels()
    return [int(lab) if lab >= 0 else f"single{i}" for i, lab in enumerate(labels)]


def run_set(items: Sequence[Photo], orders: int, overrides: dict[str, float] | None = None) -> dict[str, Any]:
    """All clustering figures of one set, per configuration."""
    from daemon.config import ClusteringConfig

    configs = {"defaults": ClusteringConfig(**(overrides or {}))} | {  # type: ignore[arg-type]
        k: ClusteringConfig(**v) for k, v in CONFIGS.items()}  # type: ignore[arg-type]
    out: dict[str, Any] = {}
    for label, cfg in configs.items():
        runs = []
        for seed in range(orders):
            order = list(range(len(items)))
            random.Random(seed).shuffle(order)
            streamed, final, truth, vectors = stream(items, order, cfg)
            ids = sorted(vectors)
            batch = dict(zip(ids, batch_labels(np.stack([vectors[i] for i in ids]), cfg.eps, cfg.min_samples),
                             strict=True)) if ids else {}
            runs.append({"streamed": scores(truth, streamed), "final": scores(truth, final),
                         "batch": scores(truth, {k: (v if not _single(v) else f"single{k}") for k, v in batch.items()}),
                         "actions": actions_to_truth(truth, final, make_suggest(vectors, cfg)),
                         "actions_one_step": actions_one_step(truth, final, Suggester(vectors, cfg)),
                         "distractors": distractors_merged(items, order, final, truth)})
        out[label] = {"config": {"eps": cfg.eps, "min_samples": cfg.min_samples,
                                 "recluster_every": cfg.recluster_every, "attach_eps": cfg.attach_eps,
                                 "attach_margin": cfg.attach_margin, "suggest_eps": cfg.suggest_eps},
                      "streamed": _mean_scores([r["streamed"] for r in runs]),
                      "final": _mean_scores([r["final"] for r in runs]),
                      "batch": runs[0]["batch"],
                      "actions_per_identity": round(float(np.mean([r["actions"]["per_identity_mean"]
                                                                   for r in runs])), 3),
                      "actions_by_kind": runs[0]["actions"]["by_kind"],
                      "actions_per_identity_by_name": runs[0]["actions"]["per_identity"],
                      "one_step_actions_per_identity": round(float(np.mean(
                          [r["actions_one_step"]["per_identity_mean"] for r in runs])), 3),
                      "one_step_actions_by_kind": runs[0]["actions_one_step"]["by_kind"],
                      "distractors_in_identity_people": max(r["distractors"]["in_identity_people"] for r in runs),
                      "distractor_faces": runs[0]["distractors"]["distractor_faces"]}
    return out


def _mean_scores(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = runs[0].keys()
    return {k: round(float(np.mean([r[k] for r in runs])), 4) for k in keys} | {
        "min_pairwise_precision": min(r["pairwise_precision"] for r in runs)}


def found_figures(items: Sequence[Photo]) -> dict[str, Any]:
    """How many photos' identity face was found, and all faces found (distractor photos apart)."""
    own = [p for p in items if p.identity]
    return {"photos": len(own), "identity_face_found": sum(p.labelled is not None for p in own),
            "faces": sum(len(p.analysis.faces) for p in own),
            "turned_faces": sum(f.rotation != 0 for p in own for f in p.analysis.faces),
            "distractor_photos": len(items) - len(own),
            "distractor_faces": sum(len(p.analysis.faces) for p in items if not p.identity)}


# -- quality -----------------------------------------------------------------------------------------------


@dataclass
class Labelled:
    """All labelled faces of the sets, with their quality parts and distances."""

    vectors: np.ndarray
    identity: np.ndarray
    source: np.ndarray
    set_name: list[str]
    parts: dict[str, np.ndarray] = field(default_factory=dict)
    drift: np.ndarray = field(default_factory=lambda: np.zeros(0))  # cosine distance to its clean copy


def labelled_faces(sets: dict[str, list[Photo]]) -> Labelled:
    """Every labelled face; drift = cosine distance to the same photo's clean face (0 in the clean set)."""
    rows = [(name, p, p.analysis.faces[p.labelled]) for name, items in sets.items() for p in items
            if p.labelled is not None]
    lab = Labelled(np.stack([f.embedding for _, _, f in rows]), np.array([p.identity for _, p, _ in rows]),
                   np.array([p.source for _, p, _ in rows]), [name for name, _, _ in rows])
    for key in ("score", "size_px", "sharpness", "frontal", "detector"):
        lab.parts[key] = np.array([(f.score if key == "detector" else getattr(f.quality, key)) for _, _, f in rows])
    clean = {p.source: p.analysis.faces[p.labelled].embedding for p in sets.get("clean", []) if p.labelled is not None}
    lab.drift = np.array([1.0 - float(f.embedding @ clean[p.source]) if p.source in clean else np.nan
                          for _, p, f in rows])
    return lab


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


SCORE_BANDS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.01)


def quality_figures(lab: Labelled) -> dict[str, Any]:
    """How well each part predicts what degrading a photo did to its face's embedding (Spearman rho with the
    drift, negative: a higher part, less drift), and per score band the nearest face of another identity
    (the false-merge risk) and of the same identity in another photo (the recall risk), over all sets."""
    out: dict[str, Any] = {"faces": len(lab.identity), "spearman_vs_drift": {}}
    for key, values in lab.parts.items():
        out["spearman_vs_drift"][key] = round(_spearman(values, lab.drift), 3)
    dist = 1.0 - lab.vectors @ lab.vectors.T
    bands = []
    for lo, hi in pairwise_(SCORE_BANDS):
        sel = np.flatnonzero((lab.parts["score"] >= lo) & (lab.parts["score"] < hi))
        if not len(sel):
            continue
        impostor = [float(dist[i][lab.identity != lab.identity[i]].min()) for i in sel]
        others = [(lab.identity == lab.identity[i]) & (lab.source != lab.source[i]) for i in sel]
        genuine = [float(dist[i][m].min()) for i, m in zip(sel, others, strict=True) if m.any()]
        bands.append({"score": f"{lo:.1f}-{min(hi, 1.0):.1f}", "faces": len(sel),
                      "drift_median": round(float(np.nanmedian(lab.drift[sel])), 3),
                      "nearest_impostor_min": round(min(impostor), 3),
                      "nearest_impostor_median": round(float(np.median(impostor)), 3),
                      "nearest_genuine_median": round(float(np.median(genuine)), 3) if genuine else None,
                      "nearest_genuine_over_eps": (round(float(np.mean(np.array(genuine) > 0.3)), 3)
                                                   if genuine else None),
                      "sets": dict(Counter(lab.set_name[i] for i in sel))})
    out["by_score"] = bands
    per_set = {}
    for name in dict.fromkeys(lab.set_name):
        sel = np.array([s == name for s in lab.set_name])
        per_set[name] = {"faces": int(sel.sum()), "drift_median": round(float(np.nanmedian(lab.drift[sel])), 3),
                         **{f"{k}_median": round(float(np.median(v[sel])), 3) for k, v in lab.parts.items()}}
    out["per_set"] = per_set
    return out


def quality_rule(x: np.ndarray, quality: np.ndarray, *, eps: float, min_samples: int, threshold: float,
                 eps_low: float) -> list[object]:
    """Batch clustering where faces with quality < threshold are never cores: DBSCAN over the good faces only
    (daemon.people.clusters.DensityIndex), then each low-quality face joins the cluster of its nearest core within
    eps_low (else stays alone). Bench-only: what the later phase's rule would give."""
    from daemon.people import clusters
    good = quality >= threshold
    labels: list[object] = [f"single{i}" for i in range(len(x))]
    if not good.any():
        return labels
    index = clusters.DensityIndex.build(x[good], eps, min_samples)
    good_labels = index.labels()
    core = index.core
    good_pos = np.flatnonzero(good)
    for pos, lab in zip(good_pos, good_labels, strict=True):
        if lab >= 0:
            labels[pos] = int(lab)
    cores = clusters.normalise(x[good][core])
    core_labels = good_labels[core]
    low = np.flatnonzero(~good)
    if len(low) and len(cores):
        sims = clusters.normalise(x[low]) @ cores.T
        nearest = sims.argmax(axis=1)
        for row, pos in enumerate(low):
            if 1.0 - sims[row, nearest[row]] <= eps_low:
                labels[pos] = int(core_labels[nearest[row]])
    return labels


def quality_sweep(sets: dict[str, list[Photo]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Batch clustering of each named set (and of all sets as one library) with and without the rule."""
    from daemon.config import ClusteringConfig

    base = ClusteringConfig()
    libraries = {name: sets[name] for name in names if name in sets}
    libraries["all_sets"] = [p for items in sets.values() for p in items]
    out = []
    for name, items in libraries.items():
        faces = [(p, j, f) for p in items for j, f in enumerate(p.analysis.faces)]
        if not faces:
            continue
        x = np.stack([f.embedding for _, _, f in faces])
        q = np.array([f.quality.score for _, _, f in faces])
        truth = {k: p.identity for k, (p, j, _f) in enumerate(faces) if j == p.labelled}
        grid = [(None, None)] + [(t, e) for t in (0.05, 0.1, 0.2, 0.3, 0.5) for e in (base.eps, base.eps - 0.05)]
        for threshold, eps_low in grid:
            if threshold is None:
                labels = batch_labels(x, base.eps, base.min_samples)
            else:
                labels = quality_rule(x, q, eps=base.eps, min_samples=base.min_samples, threshold=threshold,
                                      eps_low=float(eps_low))  # type: ignore[arg-type]
            pred = dict(enumerate(labels))
            s = scores(truth, pred)
            out.append({"set": name, "threshold": threshold, "eps_low": None if eps_low is None else round(eps_low, 3),
                        "low_quality_faces": int((q < threshold).sum()) if threshold is not None else 0,
                        **{k: s[k] for k in ("pairwise_precision", "pairwise_recall", "bcubed_f",
                                             "people_per_identity", "unassigned")},
                        "actions_per_identity": actions_to_truth(truth, pred)["per_identity_mean"]})
    return out


# -- main --------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=3, help="random feeding orders per set")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON report here")
    parser.add_argument("--pickle", type=Path, help="also pickle the analysed sets here (to study them offline)")
    parser.add_argument("--load", type=Path, help="cluster the sets pickled by --pickle instead of analysing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a clustering default for the 'defaults' run (e.g. attach_eps=0.4)")
    parser.add_argument("--no-quality", action="store_true", help="skip the quality figures and rule sweep")
    parser.add_argument("--distractors", action="store_true",
                        help="add dlib's VOC photos (other people) to every set and count false merges with them")
    args = parser.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    t0 = time.perf_counter()
    overrides = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    if args.load:
        import pickle

        sets, ms_per_photo = {k: v for k, v in pickle.loads(args.load.read_bytes()).items() if k in args.sets}, 0.0
    else:
        sets, ms_per_photo = build_sets(args.sets)
    if args.distractors and not any(p.identity == "" for items in sets.values() for p in items):
        add_distractors(sets)
    if args.pickle:
        import pickle

        args.pickle.write_bytes(pickle.dumps(sets))
    report: dict[str, Any] = {"analysis_ms_per_photo": round(ms_per_photo, 1), "overrides": overrides, "sets": {}}
    for name, items in sets.items():
        report["sets"][name] = {"found": found_figures(items), **run_set(items, args.orders, overrides)}
        print(f"[people_quality] clustered set {name}", file=sys.stderr, flush=True)
    if not args.no_quality:
        report["quality"] = quality_figures(labelled_faces(sets))
        report["quality_rule"] = quality_sweep(sets, args.sets)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
        return 0
    print_report(report)
    return 0


def print_report(report: dict[str, Any]) -> None:
    """The figures as readable tables."""
    print(f"analysis {report['analysis_ms_per_photo']} ms/photo, whole run {report.get('seconds')} s")
    print(f"{'set':>7} {'config':>8} {'result':>8} {'found':>7} {'prec':>6} {'recall':>6} {'BCubF':>6} "
          f"{'ppl/id':>6} {'unasg':>5} {'actions/id':>10} {'one-step/id':>11}")
    for name, figures in report["sets"].items():
        found = figures["found"]
        for config in ("defaults", "seed"):
            f = figures[config]
            for kind in ("streamed", "final", "batch"):
                s = f[kind]
                actions = f["actions_per_identity"] if kind == "final" else ""
                one_step = f["one_step_actions_per_identity"] if kind == "final" else ""
                print(f"{name:>7} {config:>8} {kind:>8} {found['identity_face_found']:>3}/{found['photos']:<3} "
                      f"{s['pairwise_precision']:>6} {s['pairwise_recall']:>6} {s['bcubed_f']:>6} "
                      f"{s['people_per_identity']:>6} {s['unassigned']:>5} {actions!s:>10} {one_step!s:>11}")
    if "quality" not in report:
        return
    q = report["quality"]
    print(f"\nquality parts vs embedding drift from the clean copy (Spearman; negative = higher part, less "
          f"drift): {q['spearman_vs_drift']}")
    for band in q["by_score"]:
        print(f"  score {band['score']}: {band['faces']} faces, drift median {band['drift_median']}, nearest "
              f"other identity min {band['nearest_impostor_min']} median {band['nearest_impostor_median']}, "
              f"nearest same identity (other photo) median {band['nearest_genuine_median']}, over eps "
              f"{band['nearest_genuine_over_eps']}")
    print(f"\n{'set':>9} {'thresh':>6} {'eps_low':>7} {'lowq':>5} {'prec':>6} {'recall':>6} {'BCubF':>6} {'act/id':>6}")
    for row in report["quality_rule"]:
        print(f"{row['set']:>9} {row['threshold']!s:>6} {row['eps_low']!s:>7} {row['low_quality_faces']:>5} "
              f"{row['pairwise_precision']:>6} {row['pairwise_recall']:>6} {row['bcubed_f']:>6} "
              f"{row['actions_per_identity']:>6}")


if __name__ == "__main__":
    sys.exit(main())
