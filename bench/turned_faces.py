"""Faces in photos stored turned without an orientation tag (issue 11, section 1), measured side by side.

1. Recall on turned copies: dlib's VOC photos (43 labelled faces) and the 55 johns crops, each as stored and
   turned by 90, 180 and 270 degrees (pixels turned, PNG, so no EXIF and no re-compression): VOC face recall
   at IoU 0.5 (truth boxes turned with the photo), johns crops with a face, and the cosine distance between a
   turned copy's face embedding and the upright copy's. With the turned-face search on and off.
2. Cost on the benchmark photo set (bench/workload.py, the first --photos of the quick set): every photo
   analysed with the search on and off, back to back in alternating order, one worker on one intra-op
   thread, process CPU time; how often the search looked and why, and the faces it turned on these upright
   photos (each one a false turn).

    .venv/bin/python bench/turned_faces.py [--photos 200] [--rounds 1] [--json] [--out bench/turned_faces.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from pictod_testdata import JOHNS, dlib_voc_faces  # noqa: E402

from daemon import config  # noqa: E402
from daemon.analysis import hard_faces as facelib  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402
from daemon.types import iou  # noqa: E402

Box = tuple[float, float, float, float]
TURNS = (0, 90, 180, 270)


def analyzer(*, threads: int = 1) -> Analyzer:
    """The real chain with the shipped models, one worker on `threads` intra-op threads."""
    cfg = config.load(ROOT / "config.toml", check_folders=False)
    cfg = dataclasses.replace(cfg, models=dataclasses.replace(cfg.models, intra_op_threads=threads))
    return Analyzer.from_config(cfg, workers=1)


def png(rgb: np.ndarray) -> bytes:
    """Lossless bytes with no metadata at all."""
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "PNG")
    return out.getvalue()


def turn_boxes(boxes: Sequence[Box], degrees: int, width: int, height: int) -> list[Box]:
    """Boxes on a width x height photo -> the same boxes on the photo turned clockwise by `degrees`."""
    if degrees == 0:
        return list(boxes)
    # Turning back by (360 - degrees) from the turned photo's frame maps its points onto ours: the inverse.
    tw, th = (height, width) if degrees in (90, 270) else (width, height)
    out = []
    for b in boxes:
        pts = facelib.unturn_points(np.array([[b[0], b[1]], [b[2], b[3]]], np.float32), (360 - degrees) % 360, tw, th)
        lo, hi = pts.min(axis=0), pts.max(axis=0)
        out.append((float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])))
    return out


def matched(truth: Sequence[Box], found: Sequence[Box], threshold: float = 0.5) -> int:
    """Truth boxes matched one-to-one (greedy by IoU) by a found box with IoU >= threshold."""
    pairs = sorted(((iou(t, f), i, j) for i, t in enumerate(truth) for j, f in enumerate(found)),
                   reverse=True)
    used_t: set[int] = set()
    used_f: set[int] = set()
    for value, i, j in pairs:
        if value >= threshold and i not in used_t and j not in used_f:
            used_t.add(i)
            used_f.add(j)
    return len(used_t)


def recall(an: Analyzer) -> dict[str, Any]:
    """Part 1 with the analyzer as it is set (search on or off)."""
    voc_hits = dict.fromkeys(TURNS, 0)
    total = 0
    for path, truth in dlib_voc_faces():
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        height, width = rgb.shape[:2]
        total += len(truth)
        for degrees in TURNS:
            result = an.analyze_header(an.open_header(png(facelib.turn(rgb, degrees))))
            voc_hits[degrees] += matched(turn_boxes(truth, degrees, width, height), [f.box for f in result.faces])
    crops = sorted(JOHNS.glob("*/*.jpg"))
    with_face = dict.fromkeys(TURNS, 0)
    distances: dict[int, list[float]] = {d: [] for d in TURNS[1:]}
    for path in crops:
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        vectors = {}
        for degrees in TURNS:
            faces = an.analyze_header(an.open_header(png(facelib.turn(rgb, degrees)))).faces
            if faces:
                with_face[degrees] += 1
                vectors[degrees] = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).embedding
        for degrees in TURNS[1:]:
            if 0 in vectors and degrees in vectors:
                distances[degrees].append(1.0 - float(vectors[0] @ vectors[degrees]))
    return {
        "voc_faces": total,
        "voc_recall": {str(d): round(voc_hits[d] / total, 3) for d in TURNS},
        "johns_crops": len(crops),
        "johns_with_face": {str(d): with_face[d] for d in TURNS},
        "johns_cosine_to_upright": {
            str(d): {"n": len(v), "median": round(statistics.median(v), 4) if v else None,
                     "max": round(max(v), 4) if v else None, "over_0.1": sum(x > 0.1 for x in v)}
            for d, v in distances.items()
        },
    }


class Reasons:
    """Counts why `facelib.recover` looked for a turn, and the turns it chose (wraps it while installed)."""

    def __init__(self) -> None:
        self.why: Counter[str] = Counter()
        self.turned_photos = 0
        self.turned_faces = 0
        self._original: Callable[..., Any] = facelib.recover

    def __enter__(self) -> Reasons:
        def counting(*args: Any, **kwargs: Any) -> Any:
            found, why = self._original(*args, **kwargs)
            self.why[why or "not looked"] += 1
            turned = sum(f.rotation != 0 for f in found)
            self.turned_faces += turned
            self.turned_photos += bool(turned)
            return found, why

        facelib.recover = counting
        return self

    def __exit__(self, *exc: object) -> None:
        facelib.recover = self._original


def cost(an: Analyzer, photos: Sequence[Path], rounds: int) -> dict[str, Any]:
    """Part 2: CPU seconds per photo with the search on and off, alternating which goes first."""
    cpu = {True: 0.0, False: 0.0}
    faces = {True: 0, False: 0}
    runs = {True: 0, False: 0}
    reasons = Reasons()
    detect = an.models.faces.detect
    mode = [True]

    def counting(images: Any, *, conf: float | None = None) -> Any:
        runs[mode[0]] += len(images)
        return detect(images, conf=conf)

    an.models.faces.detect = counting  # type: ignore[method-assign]
    with reasons:
        for r in range(rounds):
            for i, path in enumerate(photos):
                data = path.read_bytes()
                order = (True, False) if (i + r) % 2 == 0 else (False, True)
                for on in order:
                    an.recover_turned = mode[0] = on
                    start = time.process_time()
                    result = an.analyze_header(an.open_header(data, path.name))
                    cpu[on] += time.process_time() - start
                    if r == 0:
                        faces[on] += len(result.faces)
    an.recover_turned = True
    del an.models.faces.detect  # back to the class's method
    n = len(photos) * rounds
    why = {k: v // rounds for k, v in reasons.why.items()}
    return {
        "photos": len(photos), "rounds": rounds,
        "cpu_ms_per_photo": {"on": round(cpu[True] / n * 1000, 1), "off": round(cpu[False] / n * 1000, 1)},
        "cpu_ratio_on_over_off": round(cpu[True] / cpu[False], 4),
        "faces": {"on": faces[True], "off": faces[False]},
        "face_detector_runs_per_photo": {"on": round(runs[True] / n, 3), "off": round(runs[False] / n, 3)},
        "looked_why": dict(sorted(why.items())),
        "false_turns": {"photos": reasons.turned_photos // rounds, "faces": reasons.turned_faces // rounds},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200, help="benchmark photos for the cost (quick set prefix)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--skip-recall", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    import structlog
    import workload

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    an = analyzer()
    report: dict[str, Any] = {}
    if not args.skip_recall:
        for on in (True, False):
            an.recover_turned = on
            report["recall_on" if on else "recall_off"] = recall(an)
            print(f"recall with the search {'on' if on else 'off'} done", file=sys.stderr)
        an.recover_turned = True
    wl = workload.build(max(args.photos, workload.SIZES["quick"]))
    photos = [wl.photos / item.name for item in wl.items[: args.photos]]
    report["cost"] = cost(an, photos, args.rounds)
    text = json.dumps(report, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    if args.json:
        print(text)
        return 0
    for key in ("recall_on", "recall_off"):
        if key in report:
            r = report[key]
            print(f"{key}: VOC recall {r['voc_recall']} of {r['voc_faces']}; johns with a face "
                  f"{r['johns_with_face']} of {r['johns_crops']}; cosine to upright {r['johns_cosine_to_upright']}")
    c = report["cost"]
    print(f"cost on {c['photos']} benchmark photos x {c['rounds']}: CPU ms/photo {c['cpu_ms_per_photo']}, "
          f"ratio {c['cpu_ratio_on_over_off']}; detector runs/photo {c['face_detector_runs_per_photo']}; "
          f"faces {c['faces']}; looked {c['looked_why']}; "
          f"false turns {c['false_turns']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
