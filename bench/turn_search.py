"""The person-gated turn search (issue 21) and its CPU cost, side by side in one run.

A photo with no face upright where the object detector found a person (a hint: any person score >=
hard_faces.PERSON_HINT_CONF) used to be searched turned only if the probe of its person boxes shortlisted a
turn; now the three turns get their full passes when it shortlists none (`Analyzer.faceless_turns`).

"Such photos": sideways copies of dlib's VOC group photos (each in a grey canvas 1.25-2x its size, so its
faces are smaller in the frame, turned 90 or 270 degrees, PNG, no EXIF), kept when the new rule runs
more detector passes on them than the old (the probe shortlisted nothing): the photos the rule exists for, and
its worst case for cost. The library: the first 98 photos of the benchmark's quick set (bench/workload.py,
phone-sized variants of the test photos) and 2 such photos, 1 in 50. Every photo is analysed with the rule on
and off, back to back in alternating order, one worker on one intra-op thread, process CPU time; the ratio is
the cost (budget: 1.05). Also: the faces found in the such photos both ways (recall against dlib's boxes) and
the faces turned on the benchmark photos (a turn there is a false turn).

    .venv/bin/python bench/turn_search.py [--rounds 2] [--out bench/turn_search.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from pictod_testdata import dlib_voc_faces, matched  # noqa: E402
from turned_faces import analyzer, png, turn_boxes  # noqa: E402

from daemon.analysis import hard_faces as facelib  # noqa: E402
from daemon.analysis.analyzer import Analyzer  # noqa: E402

PADS = (1.25, 1.5, 1.75, 2.0)
SUCH = 2  # such photos among 100
ORDINARY = 98


def detector_runs(an: Analyzer, data: bytes) -> tuple[int, Any]:
    """Face detector runs of one analysis, and the analysis."""
    detect = an.models.faces.detect
    runs = [0]

    def counting(images: Any, *, conf: float | None = None) -> Any:
        runs[0] += len(images)
        return detect(images, conf=conf)

    an.models.faces.detect = counting  # type: ignore[method-assign]
    try:
        result = an.analyze_header(an.open_header(data))
    finally:
        del an.models.faces.detect
    return runs[0], result


def such_photos(an: Analyzer) -> list[tuple[str, bytes, list[tuple[float, float, float, float]]]]:
    """Sideways VOC group photos on which the rule runs more passes than the probe alone (deterministic order)."""
    found = []
    for path, boxes in dlib_voc_faces():
        with Image.open(path) as im:
            rgb = np.asarray(im.convert("RGB"))
        for pad in PADS:
            canvas = np.full((int(rgb.shape[0] * pad), int(rgb.shape[1] * pad), 3), 120, np.uint8)
            canvas[:rgb.shape[0], :rgb.shape[1]] = rgb
            for degrees in (90, 270):
                data = png(facelib.turn(canvas, degrees))
                an.faceless_turns = False
                old_runs, _old = detector_runs(an, data)
                an.faceless_turns = True
                new_runs, _new = detector_runs(an, data)
                if new_runs > old_runs:
                    truth = turn_boxes(boxes, degrees, canvas.shape[1], canvas.shape[0])
                    found.append((f"{path.name} x{pad} turned {degrees}", data, truth))
                if len(found) == SUCH:
                    return found
    return found


def cost(an: Analyzer, photos: list[tuple[str, bytes]], rounds: int) -> dict[str, float]:
    cpu = {True: 0.0, False: 0.0}
    for r in range(rounds):
        for i, (_name, data) in enumerate(photos):
            for on in ((True, False) if (i + r) % 2 == 0 else (False, True)):
                an.faceless_turns = on
                start = time.process_time()
                an.analyze_header(an.open_header(data))
                cpu[on] += time.process_time() - start
    an.faceless_turns = True
    n = len(photos) * rounds
    return {"cpu_ms_per_photo_on": round(cpu[True] / n * 1000, 1),
            "cpu_ms_per_photo_off": round(cpu[False] / n * 1000, 1),
            "cpu_ratio_on_over_off": round(cpu[True] / cpu[False], 4)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "turn_search.json")
    args = parser.parse_args()
    import structlog
    import workload

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    an = analyzer()
    such = such_photos(an)
    wl = workload.build(max(ORDINARY, workload.SIZES["quick"]))
    ordinary = [(item.name, (wl.photos / item.name).read_bytes()) for item in wl.items[:ORDINARY]]
    recall: dict[str, dict[str, int]] = {}
    for name, data, truth in such:
        recall[name] = {"faces": len(truth)}
        for on in (False, True):
            an.faceless_turns = on
            runs, result = detector_runs(an, data)
            recall[name]["found_on" if on else "found_off"] = matched(truth, [f.box for f in result.faces])
            recall[name]["detector_runs_on" if on else "detector_runs_off"] = runs
    false_turns = {}
    for on in (False, True):
        an.faceless_turns = on
        false_turns["on" if on else "off"] = sum(
            any(f.rotation for f in an.analyze_header(an.open_header(data)).faces) for _name, data in ordinary)
    library = ordinary[:ORDINARY // SUCH] + [(n, d) for n, d, _t in such[:1]] + ordinary[ORDINARY // SUCH:] + [
        (n, d) for n, d, _t in such[1:]]
    report = {"library": {"photos": len(library), "such_photos": len(such), "rounds": args.rounds},
              "cost": cost(an, library, args.rounds),
              "such_photos": recall,
              "benchmark_photos_turned": false_turns}
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
