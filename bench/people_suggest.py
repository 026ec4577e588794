"""The suggestion step of bench/people_quality.py's scripted user ("actions to the truth", issue 11 section 4):
the daemon's own suggestion maths (`daemon.clusters.nearest_people`, as `daemon.library.suggest_faces` calls it:
people within `clustering.suggest_eps`, by the smaller of the distance to their mean and one minus the mean of the
face's `assign_k` best similarities to their faces) over the scripted user's current state.

Plug-in (once bench/people_quality.py has the hard sets and `actions_to_truth(truth, pred, suggest)`):
`actions_to_truth(truth, final, make_suggest(vectors, cfg))` in `run_set`. Kept in its own file so it could be
committed before that script's new version reached main.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

Suggest = Callable[[int, dict[int, object]], list[tuple[object, float]]]


def _single(v: object) -> bool:
    return isinstance(v, str) and v.startswith("single")


def make_suggest(vectors: dict[int, np.ndarray], cfg: Any) -> Suggest:
    """The daemon's suggestion maths (`daemon.clusters.nearest_people`, as `library.suggest_faces` calls it)
    over the scripted user's current state; people it rejected for a face are never suggested again."""
    from daemon import clusters

    ids = sorted(vectors)
    x = clusters.normalise(np.stack([vectors[i] for i in ids])) if ids else np.zeros((0, 128), np.float32)
    row = {f: i for i, f in enumerate(ids)}
    rejected: dict[int, set[object]] = defaultdict(set)
    last: dict[int, object] = {}

    def suggest(face: int, state: dict[int, object]) -> list[tuple[object, float]]:
        if face in last:  # the user turned the previous top suggestion down
            rejected[face].add(last.pop(face))
        labels = sorted({v for f, v in state.items() if not _single(v) and f != face and f in row}, key=str)
        code = {v: i for i, v in enumerate(labels)}
        members = [f for f, v in state.items() if not _single(v) and f != face and f in row]
        if not members:
            return []
        owners = np.array([code[state[f]] for f in members], np.int64)
        pts = x[[row[f] for f in members]]
        means = clusters.normalise(np.stack([pts[owners == c].mean(axis=0) for c in range(len(labels))]))
        ranked = clusters.nearest_people(x[[row[face]]], pts, owners, cfg.suggest_eps, k=cfg.assign_k,
                                         means=means, mean_owners=np.arange(len(labels), dtype=np.int64))[0]
        out = [(labels[o], d) for o, d in ranked if labels[o] not in rejected[face]]
        if out:
            last[face] = out[0][0]
        return out

    return suggest
