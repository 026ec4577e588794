"""The pair rule (issue 21), pure numpy beside `clusters.attach_lonely`: two faces left alone that are each
other's nearest face within `attach_eps` and clearly apart from every other face become a person.

DBSCAN with min_samples 2 joins two faces only within eps (0.3); `attach_lonely` joins a lone face to a person
that exists. Two photos of one person at 0.3-0.45 (one actor's photos at 0.45) so stay apart for ever, however
alone they are. The rule takes the same margin as `confident` (a face joins its clearly nearest person): a pair
(a, b) at distance d is made only when every other face lies at least `margin` farther than d from a and from
b, so a pair is never a face choosing between two look-alikes. Faces of one photo never pair (one face per
photo per person). Measured by bench/review_sim.py (bench/results.md, "Pair rule").
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from daemon.people.clusters import F32, I64, Constraints, radius_pairs


def _neighbours(queries: I64, vectors: F32, alive: NDArray[np.bool_], reach: float
                ) -> dict[int, list[tuple[float, int]]]:
    """For each query position: its alive neighbours within reach as (distance, position), nearest first."""
    points = np.flatnonzero(alive)
    out: dict[int, list[tuple[float, int]]] = {int(p): [] for p in queries.tolist()}
    if len(queries) == 0 or len(points) == 0:
        return out
    qi, pj = radius_pairs(vectors[queries], vectors[points], reach)
    sims = np.einsum("ij,ij->i", vectors[queries[qi]], vectors[points[pj]])
    for row, col, sim in zip(qi.tolist(), pj.tolist(), sims.tolist(), strict=True):
        a, b = int(queries[row]), int(points[col])
        if a != b:
            out[a].append((1.0 - float(sim), b))
    for found in out.values():
        found.sort()
    return out


def _clear(found: list[tuple[float, int]], attach_eps: float, margin: float) -> int | None:
    """The position of the nearest neighbour if it lies within attach_eps and the next one `margin` farther."""
    if not found or found[0][0] > attach_eps:
        return None
    if len(found) > 1 and found[1][0] - found[0][0] < margin:
        return None
    return found[0][1]


def pair_lonely(lonely: NDArray[np.bool_], candidates: NDArray[np.bool_], vectors: F32, photo: I64,
                alive: NDArray[np.bool_], *, attach_eps: float, margin: float) -> list[tuple[int, int]]:
    """Pairs (a, b), a < b, of `lonely` positions (faces with no person, unpinned) that are each other's clear
    nearest face (`_clear`), at least one of them among `candidates` (the faces decided again); in different
    photos. `vectors` normalised (a removed face's zero vector is near nothing). Cost: one candidates x faces
    product, and one row per mate that is not a candidate itself."""
    todo = np.flatnonzero(candidates & lonely & alive)
    if len(todo) == 0:
        return []
    reach = attach_eps + margin
    near = _neighbours(todo, vectors, alive, reach)
    mates = {b for a in near if (b := _clear(near[a], attach_eps, margin)) is not None and b not in near}
    near |= _neighbours(np.array(sorted(mates), np.int64), vectors, alive, reach)
    pairs: set[tuple[int, int]] = set()
    for a in todo.tolist():
        b = _clear(near[a], attach_eps, margin)
        if b is None or not lonely[b] or photo[a] == photo[b] or _clear(near[b], attach_eps, margin) != a:
            continue
        pairs.add((min(a, b), max(a, b)))
    return sorted(pairs)


def people_from_pairs(result: I64, current: I64, cons: Constraints, alive: NDArray[np.bool_],
                      todo: NDArray[np.bool_], vectors: F32, *, attach_eps: float, margin: float) -> I64:
    """Lone faces among `todo` paired into people (`pair_lonely`): a pair keeps the person its two faces share,
    else gets a new one (negative: the recluster's chunk makes it); a pair one of whose faces the user rejected
    from the other's person is not made, and the other keeps that person."""
    lonely = alive & (result == 0) & (cons.pinned == 0)
    found = pair_lonely(lonely, todo, vectors, cons.photo, alive, attach_eps=attach_eps, margin=margin)
    out, held, temp = result.copy(), set(np.unique(result).tolist()), min(int(result.min(initial=0)), 0)
    for a, b in found:
        split = False
        for one, other in ((a, b), (b, a)):
            if current[other] > 0 and current[other] in cons.rejected.get(one, ()):
                # The user took `one` off the pair's person: `other` keeps it alone (so the person and the
                # rejection stay, and the pair is never made again under another id).
                split = True
                if current[other] not in held:
                    out[other] = current[other]
                    held.add(int(current[other]))
        if split:
            continue
        person = int(current[a])
        if person <= 0 or current[b] != person or person in held:
            temp -= 1
            person = temp
        out[a] = out[b] = person
        held.add(person)
    return out
