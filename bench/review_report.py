"""The "Review" section of bench/results.md (issue 21), rendered from the JSON its scripts commit:
bench/review_results.json (bench/review_sim.py), bench/turn_search.json (bench/turn_search.py) and
bench/review_latency.json (bench/review_latency.py). bench/run.py appends it; run alone it prints it.

    .venv/bin/python bench/review_report.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(name: str) -> dict[str, Any] | None:
    path = HERE / name
    return json.loads(path.read_text()) if path.exists() else None


def report_lines() -> list[str]:
    """Markdown lines of the section (only the parts whose JSON exists)."""
    lines = ["", "## Review: the same-person review, the pair rule, the person-gated turn search (issue 21)", ""]
    sim = _load("review_results.json")
    if sim:
        radius = sim["radius"]
        same, other = radius["same_identity_nearest"], radius["other_nearest"]
        lines += [
            "`python bench/review_sim.py` (bench/review_results.json): bench/people_quality.py's sets (59 labelled "
            "photos each, with its VOC strangers) and the natural-variation set (bench/natural_set.py: johns' "
            "different photos as they are, obama's three occasions, small faces pasted into real VOC group photos, "
            "sunglasses and hands drawn on the detector's landmarks, three-quarter views approximated by a "
            "perspective warp, VOC strangers), each fed through a real store and people manager in one order.",
            "",
            f"Radius. Each labelled face's distance to its identity's nearest other face: median {same['p50']}, "
            f"p99 {same['p99']}, max {same['max']} (n={same['n']}); to the nearest face of anyone else: min "
            f"{other['min']}, p1 {other['p1']}, p5 {other['p5']}, median {other['p50']} (n={other['n']}). "
            "`library.review.REVIEW_EPS` = 0.6: the smallest round radius that holds every same-identity nearest "
            "distance measured, where only "
            f"{radius['by_radius']['0.6']['other_within']:.1%} of faces have someone else's face as near "
            f"(0.65: {radius['by_radius']['0.65']['other_within']:.1%}, 0.7: "
            f"{radius['by_radius']['0.7']['other_within']:.1%}).",
            "",
            "Scripted reviewer (one named face per identity, the top candidate answered truthfully until none is "
            "left or 30 answers; faces reached = the identity's labelled faces on its person at the end, those the "
            "automatic people already gave it included). Automatic people: pairwise precision and recall over the "
            "labelled faces after the final recluster, without and with the pair rule.",
            "",
            "| set | reached | wrong proposals / face reached | answers / face reached | lowest identity | "
            "with --include-assigned: reached, wrong / face, answers / face | precision off -> on | "
            "recall off -> on | people of two faces made by the rule (both one identity / two) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, v in sim["sets"].items():
            r, a, off, on = v["reviewer"], v["reviewer_with_assigned"], v["pair_rule_off"], v["pair_rule_on"]
            made = on["people_of_two"] - off["people_of_two"]
            lines.append(
                f"| {name} | {r['reached']} | {r['wrong_per_face_reached']} | {r['answers_per_face_reached']} | "
                f"{r['lowest_identity_reached']} | {a['reached']}, {a['wrong_per_face_reached']}, "
                f"{a['answers_per_face_reached']} | {off['pairwise_precision']} -> {on['pairwise_precision']} | "
                f"{off['pairwise_recall']} -> {on['pairwise_recall']} | {made:+d} "
                f"({on['people_of_two_labelled_one_identity']} / {on['people_of_two_labelled_two_identities']}) |")
        lines += ["", "Targets: >= 0.9 reached and <= 0.3 wrong proposals per face reached on every set; automatic "
                  "precision >= 0.99 on every set."]
    turn = _load("turn_search.json")
    if turn:
        c = turn["cost"]
        such = turn["such_photos"]
        found = ", ".join(f"{name}: {v['found_off']} -> {v['found_on']} of {v['faces']} faces"
                          + (f" ({v['detector_runs_off']} -> {v['detector_runs_on']} detector runs)"
                             if "detector_runs_on" in v else "") for name, v in such.items())
        lines += [
            "", f"Person-gated turn search, `python bench/turn_search.py` (bench/turn_search.json): a library of "
            f"{turn['library']['photos']} photos, {turn['library']['such_photos']} of them sideways group photos "
            f"with a person and no face upright, {turn['library']['rounds']} alternating rounds: CPU "
            f"{c['cpu_ms_per_photo_off']} -> {c['cpu_ms_per_photo_on']} ms a photo, ratio "
            f"**{c['cpu_ratio_on_over_off']}** (budget 1.05); {found}; benchmark photos turned (false turns): "
            f"{turn['benchmark_photos_turned']['off']} -> {turn['benchmark_photos_turned']['on']}.",
        ]
    latency = _load("review_latency.json")
    if latency:
        p, wide = latency["press_ms"], latency["press_ms_every_face_a_candidate"]
        lines += [
            "", f"Review key press on the server, `python bench/review_latency.py` (bench/review_latency.json): "
            f"{latency['faces']:,} synthetic faces, none on a person, answer + the next {latency['prefetch']} "
            f"candidates (the faces are kept in the process between presses, `library/review._Faces`): p50 "
            f"{p['p50']} ms, p95 {p['p95']} ms, max {p['max']} ms over {p['presses']} presses (target <= 100 ms); "
            f"with every face a candidate (radius 2) p50 {wide['p50']} ms, p95 {wide['p95']} ms over "
            f"{wide['presses']}.",
        ]
    return lines


if __name__ == "__main__":
    print("\n".join(report_lines()))
