"""Faster variants of the two detectors, each judged against ground truth, against the square fp32 output with a
margin, and timed per stage side by side (issue 15).

Variants (objects model / face detector), all through pictod's own Analyzer chain (reduced decode, one shrink
for both detectors, the close-up face pass, embeddings):

- `square`: every photo letterboxed to 640x640, fp32: the reference (what pictod shipped before issue 15);
- `rect`: each photo at the smallest multiple of 32 that holds it at the 640 long side (640x480 for a 4:3
  photo), both detectors and both face passes (descriptor key `stride`);
- `rect-pad`: `rect` with at least 16 px of letterbox kept on each side of the objects model's input (key
  `pad`: 640x512 for 4:3, the photo on the same 16 px phase of the 32 px grid as on the square canvas);
- `int8`: the square path with the objects model quantised (onnxruntime QDQ, per-channel int8 weights, uint8
  activations, MinMax calibration on other photos of the benchmark set), its detection head (model.23: convs,
  DFL, sigmoid, output concat) left in float;
- `rect+int8`: both (calibrated on the fitted shapes).

Judges, each against `square`:
- ground truth (bench/ground_truth.py): per set and class, true/false positives and misses at IoU 0.5; a
  variant ships only if pooled precision and recall are not lower, for objects and for faces;
- the margin rule: only changes beyond the scores' noise count: an object (or face) `square` found with score
  >= threshold + 0.05 that the variant lost, or one the variant found that `square` does not find even at
  threshold - 0.05 (same label, IoU >= 0.5). Objects 0.75 / 0.65 around conf 0.7, faces 0.65 / 0.55 around 0.6;
- embeddings of the same faces (IoU >= 0.5): cosine to `square`'s;
- speed: the Analyzer's own objects and faces stage times over the benchmark photos, two worker threads with
  one intra-op thread each (the daemon's layout on 2 cores), the variants taking turns every few photos in
  alternating order; the ratio is taken per round (square ms / variant ms) and its median reported.

Needs the `onnx` package for the int8 builds (`pip install .[bench]`).

    .venv/bin/python bench/model_trials.py [--photos 200] [--rounds 3] [--variants ...] [--json]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import ground_truth as gt  # noqa: E402
import workload  # noqa: E402

from daemon import config as config_mod  # noqa: E402
from daemon.analysis import imaging  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402
from daemon.analysis.vision import Models, transforms  # noqa: E402
from daemon.analysis.vision.base import FaceDetector, FaceEmbedder, ObjectDetector  # noqa: E402
from daemon.analysis.vision.registry import build_model, load_descriptor  # noqa: E402
from daemon.config import ModelsConfig  # noqa: E402
from daemon.errors import PhotoError  # noqa: E402

OBJECTS = REPO / "models" / "yolov10n.toml"
FACES = REPO / "models" / "yunet.toml"
EMBEDDINGS = REPO / "models" / "sface.toml"
MARGIN = 0.05
EMBEDDING_COSINE = 0.98  # "within cosine 0.02 of today's"
VARIANTS = ("square", "rect", "rect-pad", "int8", "rect+int8")
WORKERS = 2
CHUNK = 8  # photos per turn in the timed rounds
# Sets pooled for the verdict: labelme VOC holds the same photos as labelme COCO (a subset of its boxes).
POOLED = ("labelme COCO", "hand-labelled", "dlib VOC faces", "johns", "derived", "rendered")


@dataclasses.dataclass(frozen=True)
class Found:
    """One photo's results from one variant (boxes in the photo's own pixels)."""

    objects: tuple[tuple[str, float, gt.Box], ...]
    faces: tuple[tuple[gt.Box, float, NDArray[np.float32]], ...]
    objects_ms: float
    faces_ms: float
    size: tuple[int, int]  # the photo's width and height
    objects_cpu_ms: float = 0.0  # CPU time of the calling thread inside the objects model's detect()
    faces_cpu_ms: float = 0.0  # likewise for the face detector (both passes)


_cpu = threading.local()


class CpuTimed:
    """Stands in for a detector in the Analyzer and adds each detect()'s thread CPU time to the calling
    thread's counter. With one intra-op thread onnxruntime runs on the calling thread, so this is the
    detector's own CPU (letterbox, tensors, inference, decode), which, unlike wall time, does not count the
    other processes of a shared machine."""

    def __init__(self, inner: Any, key: str) -> None:
        self._inner, self._key = inner, key

    def detect(self, *args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return self._inner.detect(*args, **kwargs)
        finally:
            setattr(_cpu, self._key, getattr(_cpu, self._key, 0.0) + (time.thread_time() - start) * 1000)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def make_int8(src: Path, dst: Path, calibration: Sequence[NDArray[np.float32]]) -> None:
    """QDQ int8 of `src` calibrated on the NCHW tensors; the detection head (model.23) stays float."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = dst.with_suffix(".pre.onnx")
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
    excluded = [n.name for n in onnx.load(str(pre)).graph.node if n.name.startswith("/model.23/")]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches: Iterator[NDArray[np.float32]] = iter(calibration)

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"images": batch}

    quantize_static(str(pre), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_exclude=excluded,
                    calibrate_method=CalibrationMethod.MinMax)
    pre.unlink()


def calibration_tensors(paths: Sequence[Path], stride: int | None) -> list[NDArray[np.float32]]:
    """Each photo as the objects model gets it: reduced decode, shrunk once to 640, letterboxed."""
    out = []
    for path in paths:
        image = imaging.load(path, max_pixels=200_000_000, max_file_bytes=1 << 30, target_long_side=1280)
        small = transforms.fit_within(image.rgb, 640)[0]
        canvas, _ = transforms.letterbox(small, (640, 640), pad_value=114, stride=stride)
        out.append(transforms.to_nchw([canvas], scale=1.0 / 255.0))
    return out


class Bench:
    """The variants' Analyzers, built once around shared sessions (one intra-op thread, two workers)."""

    def __init__(self, tmp: Path, calibration: Sequence[Path], names: Sequence[str]) -> None:
        cfg = config_mod.load(REPO / "config.toml", check_folders=False)
        self.analysis = cfg.analysis
        mcfg = ModelsConfig(intra_op_threads=1, inter_op_threads=1)

        def build(spec: Any) -> Any:
            return build_model(spec, mcfg, workers=WORKERS)

        objects_spec = load_descriptor(OBJECTS)
        faces_spec = load_descriptor(FACES)
        square_objects = build(dataclasses.replace(objects_spec, stride=None, pad=0))
        rect_objects = square_objects.with_spec(dataclasses.replace(objects_spec, stride=32, pad=0))
        padded_objects = square_objects.with_spec(dataclasses.replace(objects_spec, stride=32, pad=16))
        square_faces = build(dataclasses.replace(faces_spec, stride=None, pad=0))
        rect_faces = square_faces.with_spec(dataclasses.replace(faces_spec, stride=32, pad=0))
        embeddings = build(load_descriptor(EMBEDDINGS))
        assert isinstance(embeddings, FaceEmbedder)
        objects: dict[str, ObjectDetector] = {"square": square_objects, "rect": rect_objects}
        for name, stride in (("int8", None), ("rect+int8", 32)):
            if name not in names:
                continue
            path = tmp / f"{name.replace('+', '-')}.onnx"
            make_int8(objects_spec.path, path, calibration_tensors(calibration, stride))
            spec = dataclasses.replace(objects_spec, path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                                       stride=stride, pad=0)
            objects[name] = build(spec)
        layout: dict[str, tuple[ObjectDetector, FaceDetector]] = {
            "square": (objects["square"], square_faces),
            "rect": (objects["rect"], rect_faces),
            "rect-pad": (padded_objects, rect_faces),
            "int8": (objects.get("int8", square_objects), square_faces),
            "rect+int8": (objects.get("rect+int8", rect_objects), rect_faces),
        }
        self.analyzers: dict[str, Analyzer] = {}
        for name in names:
            obj, faces = layout[name]
            timed = Models(objects=CpuTimed(obj, "objects"), faces=CpuTimed(faces, "faces"),  # type: ignore[arg-type]
                           embeddings=embeddings)
            self.analyzers[name] = Analyzer(self.analysis, timed)
        # The margin rule's reference: square, thresholds lowered by the margin.
        low = dataclasses.replace(self.analysis, object_conf=self.analysis.object_conf - MARGIN,
                                  face_conf=self.face_conf - MARGIN)
        self.low = Analyzer(low, self.analyzers["square"].models)

    @property
    def face_conf(self) -> float:
        """The face threshold in force (config, else the descriptor's)."""
        if self.analysis.face_conf is not None:
            return self.analysis.face_conf
        return self.analyzers["square"].models.faces.default_conf


def run(analyzer: Analyzer, paths: Sequence[Path]) -> dict[Path, Found]:
    """Every photo through the chain, two worker threads (results do not depend on the threads)."""

    def one(path: Path) -> tuple[Path, Found | None]:
        _cpu.objects = _cpu.faces = 0.0
        try:
            result = analyzer.analyze_file(path)
        except PhotoError:
            return path, None
        return path, Found(
            objects=tuple((o.label, o.score, o.box) for o in result.objects),
            faces=tuple((f.box, f.score, f.embedding) for f in result.faces),
            objects_ms=result.timings_ms["objects"],
            faces_ms=result.timings_ms["faces"],
            size=(result.meta.width, result.meta.height),
            objects_cpu_ms=_cpu.objects,
            faces_cpu_ms=_cpu.faces,
        )

    with ThreadPoolExecutor(WORKERS) as pool:
        return {p: f for p, f in pool.map(one, paths) if f is not None}


# --------------------------------------------------------------------------------------------- judging


def ground_truth(truths: Sequence[gt.Truth], found: dict[Path, Found]) -> dict[str, gt.Score]:
    """Scores per truth set, and pooled over POOLED."""
    scores: dict[str, gt.Score] = {}
    for truth in truths:
        f = found.get(truth.path)
        if f is None:
            continue
        photo = gt.score_photo(truth, [(lab, box) for lab, _, box in f.objects], [box for box, _, _ in f.faces])
        scores.setdefault(truth.set, gt.Score()).add(photo)
        if truth.set in POOLED:
            scores.setdefault("pooled", gt.Score()).add(photo)
    return scores


def margin_changes(ref: dict[Path, Found], low: dict[Path, Found], ours: dict[Path, Found], object_conf: float,
                   face_conf: float) -> dict[str, Any]:
    """Objects and faces changed beyond the margin against the reference (see the module docstring)."""
    out: dict[str, Any] = {"objects_lost": [], "objects_gained": [], "faces_lost": [], "faces_gained": [],
                           "objects_reference": 0, "faces_reference": 0}
    for path in sorted(set(ref) & set(ours) & set(low)):
        r, lo, o = ref[path], low[path], ours[path]
        out["objects_reference"] += len(r.objects)
        out["faces_reference"] += len(r.faces)
        for label in {lab for lab, _, _ in r.objects + o.objects}:
            strong = [(s, b) for lab, s, b in r.objects if lab == label and s >= object_conf + MARGIN]
            mine = [(s, b) for lab, s, b in o.objects if lab == label]
            # "square" at the lowered threshold: everything it scores >= conf - margin (a superset of its output).
            weak = [b for lab, s, b in lo.objects + r.objects if lab == label]
            hit, _ = gt.match([b for _, b in strong], [b for _, b in mine])
            out["objects_lost"] += [{"photo": path.name, "label": label, "score": round(strong[i][0], 3)}
                                    for i in range(len(strong)) if i not in hit]
            _, seen = gt.match(weak, [b for _, b in mine])
            out["objects_gained"] += [{"photo": path.name, "label": label, "score": round(mine[j][0], 3)}
                                      for j in range(len(mine)) if j not in seen]
        strong_f = [(s, b) for b, s, _ in r.faces if s >= face_conf + MARGIN]
        mine_f = [(s, b) for b, s, _ in o.faces]
        # The lowered run can take another route through the close-up pass: either run's faces count as seen.
        weak_f = [b for b, _, _ in lo.faces + r.faces]
        hit, _ = gt.match([b for _, b in strong_f], [b for _, b in mine_f])
        out["faces_lost"] += [{"photo": path.name, "score": round(strong_f[i][0], 3)}
                              for i in range(len(strong_f)) if i not in hit]
        _, seen = gt.match(weak_f, [b for _, b in mine_f])
        out["faces_gained"] += [{"photo": path.name, "score": round(mine_f[j][0], 3)}
                                for j in range(len(mine_f)) if j not in seen]
    return out


def embedding_cosines(ref: dict[Path, Found], ours: dict[Path, Found]) -> dict[str, Any]:
    """Cosine between the embeddings of the same faces (matched at IoU >= 0.5) in the two runs, apart for
    faces the photo's frame cuts (box within 2% of an edge): their landmarks are guessed past the edge, where
    the square canvas had zero padding below the photo and the fitted one has none."""
    cos: dict[bool, list[float]] = {False: [], True: []}
    for path in sorted(set(ref) & set(ours)):
        a, b = ref[path].faces, ours[path].faces
        width, height = ref[path].size
        pairs = sorted(((gt.iou(x[0], y[0]), i, j) for i, x in enumerate(a) for j, y in enumerate(b)), reverse=True)
        used_a: set[int] = set()
        used_b: set[int] = set()
        for value, i, j in pairs:
            if value < gt.IOU:
                break
            if i not in used_a and j not in used_b:
                used_a.add(i)
                used_b.add(j)
                x1, y1, x2, y2 = a[i][0]
                edge = min(x1, y1, width - x2, height - y2) < 0.02 * max(width, height)
                cos[edge].append(float(a[i][2] @ b[j][2]))

    def stats(values: list[float]) -> dict[str, Any]:
        arr = np.array(values) if values else np.ones(1)
        return {"faces": len(values), "min": round(float(arr.min()), 4), "median": round(float(np.median(arr)), 4),
                "within": int((arr >= EMBEDDING_COSINE).sum()) if values else 0}

    return {**stats(cos[False]), "cut_by_the_frame": stats(cos[True])}


def face_recall(scores: dict[str, gt.Score]) -> dict[str, str]:
    """The recall figures the issue pins (dlib VOC 42/43, johns 55/55)."""
    out = {}
    for name in ("dlib VOC faces", "johns"):
        c = scores.get(name, gt.Score()).faces
        out[name] = f"{c.tp}/{c.tp + c.fn}"
    return out


def not_worse(ours: gt.Counts, ref: gt.Counts) -> bool:
    """Pooled precision and recall both at least the reference's."""
    def ge(a: float | None, b: float | None) -> bool:
        return b is None or (a is not None and a >= b - 1e-12)

    return ge(ours.precision, ref.precision) and ge(ours.recall, ref.recall)


# --------------------------------------------------------------------------------------------- speed


def speed(bench: Bench, names: Sequence[str], paths: Sequence[Path], rounds: int) -> dict[str, Any]:
    """Stage times (objects, faces) per variant; ratios to square per round. Within a round the variants take
    turns every CHUNK photos (the order alternating), so a burst of load from elsewhere on a shared machine
    hits them alike instead of whichever variant's whole pass it falls in."""
    stages = ("objects", "faces", "objects_cpu", "faces_cpu")
    totals: dict[str, dict[str, list[float]]] = {n: {k: [] for k in stages} for n in names}
    load = [os.getloadavg()[0]]
    for r in range(rounds):
        sums = {n: {"objects": 0.0, "faces": 0.0, "objects_cpu": 0.0, "faces_cpu": 0.0, "photos": 0} for n in names}
        for c, start in enumerate(range(0, len(paths), CHUNK)):
            chunk = paths[start : start + CHUNK]
            for name in list(names) if (r + c) % 2 == 0 else list(reversed(names)):
                found = run(bench.analyzers[name], chunk)
                sums[name]["objects"] += sum(f.objects_ms for f in found.values())
                sums[name]["faces"] += sum(f.faces_ms for f in found.values())
                sums[name]["objects_cpu"] += sum(f.objects_cpu_ms for f in found.values())
                sums[name]["faces_cpu"] += sum(f.faces_cpu_ms for f in found.values())
                sums[name]["photos"] += len(found)
        for name in names:
            for stage in stages:
                totals[name][stage].append(sums[name][stage] / max(1, sums[name]["photos"]))
        load.append(os.getloadavg()[0])
    out: dict[str, Any] = {"photos": len(paths), "rounds": rounds, "loadavg": [round(x, 1) for x in load],
                           "variants": {}}
    for name in names:
        entry: dict[str, Any] = {}
        for stage in stages:
            ms = totals[name][stage]
            ratios = [a / b for a, b in zip(totals["square"][stage], ms, strict=True) if b > 0]
            entry[stage] = {"ms": round(statistics.median(ms), 2), "ms_rounds": [round(x, 2) for x in ms],
                            "speedup": round(statistics.median(ratios), 3) if ratios else None,
                            "speedup_min": round(min(ratios), 3) if ratios else None,
                            "speedup_max": round(max(ratios), 3) if ratios else None}
        out["variants"][name] = entry
    return out


# --------------------------------------------------------------------------------------------- main


def trials(photos: int, rounds: int, names: Sequence[str] = VARIANTS, *, calibrate: int | None = None,
           timed: int | None = None, rendered: int = 0) -> dict[str, Any]:
    """Run every judge on every variant; the result as a JSON-ready dict."""
    started = time.perf_counter()
    # Photos 0..n-1 are judged (the first `timed` of them timed), the next `calibrate` calibrate the int8
    # builds: prefixes of one deterministic sequence, so any cached set at least that large serves.
    calibrate = photos if calibrate is None else calibrate
    need = photos + calibrate
    cached = (workload.load(n) for n in (*workload.SIZES.values(), need) if n >= need)
    wl = next((w for w in cached if w is not None), None) or workload.build(need, log=False)
    specs = {s.name: s for s in workload.plan(len(wl.items))}
    judged = [wl.photos / i.name for i in wl.items[:photos]]
    calibration = [wl.photos / i.name for i in wl.items[photos:need]]
    truths = [*gt.photo_sets(), *gt.derived([specs[p.name] for p in judged], wl.photos)]
    with tempfile.TemporaryDirectory() as tmp:
        if rendered:
            # Specs past the ones the cached set holds: other crops of the labelled photos than the set's.
            folder = Path(tmp) / "rendered"
            folder.mkdir()
            extra = workload.plan(need + 6 * rendered)[need:]
            truths += gt.rendered(extra, folder, scale=0.25, count=rendered)
        every = sorted({t.path for t in truths} | set(judged))
        bench = Bench(Path(tmp), calibration, names)
        found = {name: run(bench.analyzers[name], every) for name in names}
        low = run(bench.low, every)
        result: dict[str, Any] = {
            "workload_photos": len(judged), "calibration_photos": len(calibration), "photos_judged": len(every),
            "truth": {s: sum(t.set == s for t in truths) for s in dict.fromkeys(t.set for t in truths)},
            "truth_objects": sum(len(t.objects) for t in truths), "object_conf": bench.analysis.object_conf,
            "face_conf": bench.face_conf, "margin": MARGIN, "variants": {},
        }
        ref_scores = ground_truth(truths, found["square"])
        for name in names:
            scores = ground_truth(truths, found[name])
            pooled, ref_pooled = scores["pooled"], ref_scores["pooled"]
            entry: dict[str, Any] = {
                "ground_truth": {k: v.as_dict() for k, v in scores.items()},
                "face_recall": face_recall(scores),
                "objects_not_worse": not_worse(pooled.objects_total(), ref_pooled.objects_total()),
                "faces_not_worse": not_worse(pooled.faces, ref_pooled.faces),
            }
            if name != "square":
                entry["margin"] = margin_changes(found["square"], low, found[name], bench.analysis.object_conf,
                                                 bench.face_conf)
                entry["embeddings"] = embedding_cosines(found["square"], found[name])
            result["variants"][name] = entry
        result["speed"] = speed(bench, names, judged[: timed or len(judged)], rounds)
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


def speed_only(photos: int, rounds: int, names: Sequence[str]) -> dict[str, Any]:
    """Only the side-by-side stage timing, on the first `photos` of the set (int8 calibrated on as many more)."""
    need = 2 * photos if any("int8" in n for n in names) else photos
    cached = (workload.load(n) for n in (*workload.SIZES.values(), need) if n >= need)
    wl = next((w for w in cached if w is not None), None) or workload.build(need, log=False)
    paths = [wl.photos / i.name for i in wl.items[:need]]
    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(Path(tmp), paths[photos:], names)
        return {"speed": speed(bench, names, paths[:photos], rounds)}


def _pr(c: dict[str, int]) -> str:
    p = f"{c['tp'] / (c['tp'] + c['fp']):.3f}" if c["tp"] + c["fp"] else "-"
    r = f"{c['tp'] / (c['tp'] + c['fn']):.3f}" if c["tp"] + c["fn"] else "-"
    return f"{p} / {r} ({c['tp']}, {c['fp']}, {c['fn']})"


def report_lines(tr: dict[str, Any]) -> list[str]:
    """The trials as markdown (bench/results.md's section, also printed by --markdown)."""
    if "variants" not in tr:
        return [str(tr.get("error", "not run"))]
    names = list(tr["variants"])
    sp = tr["speed"]["variants"]
    truth = ", ".join(f"{k} {v}" for k, v in tr["truth"].items())
    lines = [
        f"Each variant through pictod's chain on {tr['photos_judged']} photos: the labelled test photos and the "
        f"first {tr['workload_photos']} of the benchmark set (int8 calibrated on the next "
        f"{tr['calibration_photos']}); truth photos by set: {truth}. Judged against the `square` fp32 run "
        f"(what pictod shipped before), see `bench/model_trials.py` and `bench/ground_truth.py`.",
        "",
        "| variant | objects stage | faces stage | objects P / R (pooled) | faces P / R (pooled) | dlib VOC, johns "
        f"recall | beyond the margin (objects lost / gained; faces) | embeddings >= {EMBEDDING_COSINE} | ships |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in names:
        v = tr["variants"][name]
        pooled = v["ground_truth"]["pooled"]
        fr = v["face_recall"]
        s = sp[name]
        if name == "square":
            stages = [f"{s[k + '_cpu']['ms']:.1f} ms CPU in the detector, {s[k]['ms']:.1f} ms wall stage"
                      for k in ("objects", "faces")]
            margin = emb = "(reference)"
            ships = "before"
        else:
            stages = [f"x{s[k + '_cpu']['speedup']:.2f} ({s[k + '_cpu']['speedup_min']:.2f}-"
                      f"{s[k + '_cpu']['speedup_max']:.2f}) CPU, x{s[k]['speedup']:.2f} wall stage"
                      for k in ("objects", "faces")]
            m = v["margin"]
            margin = (f"{len(m['objects_lost'])} / {len(m['objects_gained'])} of {m['objects_reference']}; "
                      f"{len(m['faces_lost'])} / {len(m['faces_gained'])} of {m['faces_reference']}")
            e = v["embeddings"]
            cut = e.get("cut_by_the_frame") or {}
            emb = (f"{e['within']}/{e['faces']} (min {e['min']:.3f}); cut by the frame "
                   f"{cut.get('within', 0)}/{cut.get('faces', 0)} (min {cut.get('min', 1.0):.3f})")
            ships = "yes" if v["objects_not_worse"] and v["faces_not_worse"] else "no"
        lines.append(f"| {name} | {stages[0]} | {stages[1]} | {_pr(pooled['objects_total'])} | "
                     f"{_pr(pooled['faces'])} | {fr['dlib VOC faces']}, {fr['johns']} | {margin} | {emb} | "
                     f"{ships} |")
    lines += [
        "",
        "P / R (tp, fp, fn): precision and recall at IoU 0.5; pooled over the labelme COCO, hand-labelled, dlib "
        "VOC, johns, derived and rendered sets. Stage speed-ups: square ms / variant ms per round, median "
        "(min-max): CPU is the calling thread's CPU time inside the detector's detect() (letterbox, tensors, "
        "inference, decode; one intra-op thread runs on the caller), wall is the Analyzer's stage time, which on "
        "a shared machine also counts other processes' turns; over "
        f"{tr['speed']['rounds']} rounds of {tr['speed']['photos']} photos, two workers x one "
        f"intra-op thread; load average during the rounds {tr['speed']['loadavg']}. A variant ships only if "
        "pooled precision and recall are not lower than square's, for objects and for faces.",
        "",
        "Per set and class, precision / recall (tp, fp, fn):",
        "",
        "| set | class | " + " | ".join(names) + " |",
        "| --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    sets = [s for s in tr["variants"]["square"]["ground_truth"] if s != "pooled"] + ["pooled"]
    for s in sets:
        ref = tr["variants"]["square"]["ground_truth"][s]
        classes = sorted(ref["objects"])
        rows = [(c, lambda g, c=c: g["objects"].get(c)) for c in classes if sum(ref["objects"][c].values())]
        if len(classes) > 1:
            rows.append(("all objects", lambda g: g["objects_total"]))
        if sum(ref["faces"].values()):
            rows.append(("faces", lambda g: g["faces"]))
        for label, pick in rows:
            cells = []
            for name in names:
                counts = pick(tr["variants"][name]["ground_truth"].get(s, {}))
                cells.append(_pr(counts) if counts else "-")
            lines.append(f"| {s} | {label} | " + " | ".join(cells) + " |")
    for name in names:
        m = tr["variants"][name].get("margin")
        if not m:
            continue
        changed = [*(f"lost {d['label']} {d['score']} ({d['photo']})" for d in m["objects_lost"]),
                   *(f"gained {d['label']} {d['score']} ({d['photo']})" for d in m["objects_gained"]),
                   *(f"lost face {d['score']} ({d['photo']})" for d in m["faces_lost"]),
                   *(f"gained face {d['score']} ({d['photo']})" for d in m["faces_gained"])]
        if changed:
            lines.append("")
            lines.append(f"{name}, changes beyond the margin: " + "; ".join(changed[:12])
                         + (f"; and {len(changed) - 12} more" if len(changed) > 12 else ""))
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Run the trials and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=200, help="benchmark photos judged (and as many calibrate)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--calibrate", type=int, help="photos calibrating the int8 builds (default: --photos)")
    parser.add_argument("--timed", type=int, help="of the judged photos, how many are timed (default: all)")
    parser.add_argument("--rendered", type=int, default=300,
                        help="more photos of the labelled sources, rendered small, judged against their truth")
    parser.add_argument("--variants", nargs="*", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--json", action="store_true", help="the results as JSON (default: the results.md section)")
    parser.add_argument("--speed-only", action="store_true", help="only the stage timing (JSON), no judging")
    args = parser.parse_args(argv)
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
                        wrapper_class=structlog.make_filtering_bound_logger(30))
    names = ["square", *(n for n in args.variants if n != "square")]
    if args.speed_only:
        print(json.dumps(speed_only(args.timed or args.photos, args.rounds, names), indent=1))
        return 0
    result = trials(args.photos, args.rounds, names, calibrate=args.calibrate, timed=args.timed,
                    rendered=args.rendered)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print("\n".join(report_lines(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
