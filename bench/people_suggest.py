"""The suggestion step of bench/people_quality.py's scripted users ("actions to the truth", issue 11 section 4):
the daemon's own suggestion maths (`clusters.nearest_people`, as `library.suggestions.suggest_faces` calls it:
people within `clustering.suggest_eps`, by the smaller of the distance to their mean and one minus the mean of the
face's `assign_k` best similarities to their faces) over the scripted user's current state.

`Suggester` serves both users: `make_suggest` (the one-face-at-a-time user: asking again after not accepting
the top means it was turned down) and `people_quality.actions_one_step` (rejections explicit, `people accept`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

Suggest = Callable[[int, dict[int, object]], list[tuple[object, float]]]


def _single(v: object) -> bool:
    return isinstance(v, str) and v.startswith("single")


class Suggester:
    """Ranked suggestions for one face over a state (face -> person or "single..."), minus rejected people."""

    def __init__(self, vectors: dict[int, np.ndarray], cfg: Any) -> None:
        from daemon.people import clusters
        self.cfg = cfg
        self.ids = sorted(vectors)
        self.x = clusters.normalise(np.stack([vectors[i] for i in self.ids])) if self.ids else \
            np.zeros((0, 128), np.float32)
        self.row = {f: i for i, f in enumerate(self.ids)}
        self.rejected: dict[int, set[object]] = defaultdict(set)

    def reject(self, face: int, person: object) -> None:
        self.rejected[face].add(person)

    def ranked(self, face: int, state: dict[int, object]) -> list[tuple[object, float]]:
        from daemon.people import clusters
        members = [f for f, v in state.items() if not _single(v) and f != face and f in self.row]
        if not members or face not in self.row:
            return []
        labels = sorted({state[f] for f in members}, key=str)
        code = {v: i for i, v in enumerate(labels)}
        owners = np.array([code[state[f]] for f in members], np.int64)
        pts = self.x[[self.row[f] for f in members]]
        means = clusters.normalise(np.stack([pts[owners == c].mean(axis=0) for c in range(len(labels))]))
        ranked = clusters.nearest_people(self.x[[self.row[face]]], pts, owners, self.cfg.suggest_eps,
                                         k=self.cfg.assign_k, means=means,
                                         mean_owners=np.arange(len(labels), dtype=np.int64))[0]
        return [(labels[o], d) for o, d in ranked if labels[o] not in self.rejected[face]]


def make_suggest(vectors: dict[int, np.ndarray], cfg: Any) -> Suggest:
    """The daemon's suggestion maths over the scripted user's current state; people it rejected for a face are
    never suggested again (asking again for a face whose top was not accepted rejects that top)."""
    s = Suggester(vectors, cfg)
    last: dict[int, object] = {}

    def suggest(face: int, state: dict[int, object]) -> list[tuple[object, float]]:
        if face in last:  # the user turned the previous top suggestion down
            s.reject(face, last.pop(face))
        out = s.ranked(face, state)
        if out:
            last[face] = out[0][0]
        return out

    return suggest
