"""Face clustering onto people, pure numpy: DBSCAN's clusters (`density.py`: exact and incremental) mapped onto
existing people with stable ids and the user's corrections honoured (`map_clusters`, `settle`), nearest-people
assignment and suggestions (`nearest_people`, `assign_ranked`, `confident`), and lone faces attached to their
clearly nearest person (`attach_lonely`). Touches no database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.people.density import (
    BLOCK_BYTES,
    F32,
    I64,
    DensityIndex,
    block_rows,
    normalise,
    one_blas_thread,
    radius_pairs,
)

__all__ = ["F32", "I64", "Constraints", "DensityIndex", "assign_ranked", "attach_lonely", "block_rows",
           "confident", "map_clusters", "nearest_people", "normalise", "one_blas_thread", "radius_pairs", "settle",
           "twins_by_means"]


@dataclass(frozen=True)
class Constraints:
    """What the user said and what must be kept, per face position (0 = none)."""

    current: I64  # person each face has now (0: none)
    pinned: I64  # person a face was moved to by the user (0: none)
    curated: I64  # sorted ids of people the user named, merged into or gave a face: they anchor their faces
    photo: I64  # photo of each face (one face per photo per person)
    rejected: dict[int, set[int]]  # face position -> people it must never join


def _unique_pairs(a: I64, b: I64) -> tuple[NDArray[np.int64], I64]:
    """Distinct (a, b) rows (sorted by a, then b) with their counts; a, b >= 0. Faster than unique(axis=0)."""
    if len(a) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    span = int(b.max()) + 1
    keys, counts = np.unique(a * span + b, return_counts=True)
    return np.stack([keys // span, keys % span], axis=1), counts


def _overlaps(labels: I64, people: I64, k: int) -> tuple[NDArray[np.int64], I64]:
    """(label, person) pairs with their face counts. Clusters whose faces all have one person (nearly all, in a
    library that changed little) are counted without sorting; only mixed clusters go through unique."""
    lo = np.full(k, np.iinfo(np.int64).max, np.int64)
    hi = np.full(k, -1, np.int64)
    np.minimum.at(lo, labels, people)
    np.maximum.at(hi, labels, people)
    pure = lo == hi
    pure_labels = np.flatnonzero(pure)
    pure_keys = np.stack([pure_labels, lo[pure_labels]], axis=1)
    pure_counts = np.bincount(labels, minlength=k)[pure_labels]
    mixed = ~pure[labels]
    mixed_keys, mixed_counts = _unique_pairs(labels[mixed], people[mixed])
    return np.concatenate([pure_keys, mixed_keys]), np.concatenate([pure_counts, mixed_counts])


def map_clusters(labels: I64, vectors: F32, cons: Constraints) -> I64:
    """Person per face after a recluster: existing ids (>0), new people (<0, one per cluster), or 0 (none).

    Stable: a cluster keeps the person it shares most faces with (greedy maximum-overlap matching, one person
    per cluster), so a recluster that changes no membership changes no id. Anchored faces (pinned, or members
    of a curated person) keep their person; a cluster holding anchors of several people is split between them
    by nearest anchor centroid, so two named people are never merged. Noise keeps only anchored faces.
    Afterwards rejections and the one-face-per-photo rule are enforced (pinned faces win).
    """
    n = len(labels)
    result = np.zeros(n, np.int64)
    if n == 0:
        return result
    in_curated = np.isin(cons.current, cons.curated) & (cons.current > 0)
    anchor = np.where(cons.pinned > 0, cons.pinned, np.where(in_curated, cons.current, 0))
    k = max(int(labels.max()) + 1, 1)  # at least one slot so empty label arrays index safely
    clustered = labels >= 0
    label_person = np.zeros(k, np.int64)
    # Anchored clusters.
    anchored = np.flatnonzero(clustered & (anchor > 0))
    pairs = _unique_pairs(labels[anchored], anchor[anchored])[0]
    n_anchors = np.bincount(pairs[:, 0], minlength=k) if len(pairs) else np.zeros(k, np.int64)
    single = pairs[n_anchors[pairs[:, 0]] == 1]
    label_person[single[:, 0]] = single[:, 1]
    result[clustered] = label_person[labels[clustered]]
    multi = np.flatnonzero(n_anchors > 1)
    if len(multi):
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], multi, side="left")
        stops = np.searchsorted(labels[order], multi, side="right")
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            members = order[start:stop]
            own = anchor[members]
            people = np.unique(own[own > 0])
            centroids = normalise(np.stack([vectors[members[own == p]].mean(axis=0) for p in people]))
            free = members[own == 0]
            result[members[own > 0]] = own[own > 0]
            if len(free):
                result[free] = people[np.argmax(vectors[free] @ centroids.T, axis=1)]
    # Unanchored clusters: maximum overlap with the people their faces have now.
    open_label = (n_anchors == 0)
    faces_open = np.flatnonzero(clustered & open_label[np.maximum(labels, 0)] & (cons.current > 0))
    used: set[int] = set(np.unique(anchor[anchor > 0]).tolist())
    if len(faces_open):
        keys, counts = _overlaps(labels[faces_open], cons.current[faces_open], k)
        order = np.lexsort((keys[:, 0], keys[:, 1], -counts))
        ranked = keys[order]
        ranked = ranked[~np.isin(ranked[:, 1], np.fromiter(used, np.int64, len(used)))]
        # Greedy maximum overlap, mostly vectorised: a pair that is the first (best) pair of both its cluster
        # and its person is taken by the greedy scan whatever else happens, so take all of those at once and
        # scan only what is left (in a stable library: almost nothing).
        idx = np.arange(len(ranked))
        first_label = np.full(k, len(ranked), np.int64)
        np.minimum.at(first_label, ranked[:, 0], idx)
        _people, first_at = np.unique(ranked[:, 1], return_index=True)
        first_person = np.zeros(len(ranked), bool)
        first_person[first_at] = True
        sure = (first_label[ranked[:, 0]] == idx) & first_person
        label_person[ranked[sure, 0]] = ranked[sure, 1]
        used.update(ranked[sure, 1].tolist())
        rest = ranked[~sure]
        rest = rest[(label_person[rest[:, 0]] == 0) & ~np.isin(rest[:, 1], ranked[sure, 1])]
        for label, person in rest.tolist():
            if label_person[label] != 0 or person in used:
                continue
            label_person[label] = person
            used.add(person)
    fresh = np.flatnonzero(open_label & (label_person == 0))
    label_person[fresh] = -np.arange(1, len(fresh) + 1, dtype=np.int64)
    open_faces = clustered & open_label[np.maximum(labels, 0)]
    result[open_faces] = label_person[labels[open_faces]]
    # Noise keeps anchored faces only.
    noise = ~clustered
    result[noise] = anchor[noise]
    for pos, never in cons.rejected.items():
        if result[pos] in never:
            result[pos] = 0
    pinned = cons.pinned > 0
    result[pinned] = cons.pinned[pinned]
    return one_per_photo(result, vectors, cons.photo, cons.pinned)


def settle(labels: I64, vectors: F32, cons: Constraints, *, rounds: int = 6) -> I64:
    """`map_clusters` repeated until the result maps onto itself, so the next recluster changes nothing.

    One round can leave work for the next: faces dropped by a rejection or by the one-face-per-photo rule no
    longer anchor their cluster, which may then deserve a new person. New people are carried between rounds
    under provisional ids above every existing id and returned as negative numbers.
    """
    top = int(max(cons.current.max(initial=0), cons.pinned.max(initial=0), cons.curated.max(initial=0)))
    current = cons.current
    result = current
    for _round in range(rounds):
        result = map_clusters(labels, vectors, Constraints(current=current, pinned=cons.pinned,
                                                           curated=cons.curated, photo=cons.photo,
                                                           rejected=cons.rejected))
        fresh = result < 0
        if fresh.any():
            _uniq, inverse = np.unique(result[fresh], return_inverse=True)
            result[fresh] = max(top, int(current.max(initial=0))) + 1 + inverse.reshape(-1)
        if np.array_equal(result, current):
            break
        current = result
    out = result.copy()
    new = out > top
    _uniq, inverse = np.unique(out[new], return_inverse=True)
    out[new] = -(1 + inverse.reshape(-1))
    return out


def one_per_photo(result: I64, vectors: F32, photo: I64, pinned: I64) -> I64:
    """Keep at most one face per (photo, person): the pinned one, else the one nearest the person's centroid."""
    # Only photos with several faces can break the rule.
    multi = np.bincount(photo)[photo] > 1 if len(photo) else np.zeros(0, bool)
    assigned = np.flatnonzero((result != 0) & multi)
    if len(assigned) == 0:
        return result
    # result may hold provisional ids far above the photo ids: combine as (photo, person) in one int64 key
    person = result[assigned]
    key = photo[assigned] * (int(np.abs(person).max()) * 2 + 1) + (person + int(np.abs(person).max()))
    _uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    dup = assigned[counts[inverse.reshape(-1)] > 1]
    if len(dup) == 0:
        return result
    result = result.copy()
    groups: dict[tuple[int, int], list[int]] = {}
    for pos in dup.tolist():
        groups.setdefault((int(photo[pos]), int(result[pos])), []).append(pos)
    for (_photo, who), members in groups.items():
        pins = [m for m in members if pinned[m] == who]
        if pins:
            keep = pins[0]
        else:
            centroid = normalise(vectors[result == who].mean(axis=0))[0]
            keep = members[int(np.argmax(vectors[members] @ centroid))]
        for m in members:
            if m != keep:
                result[m] = 0
    return result


def nearest_people(queries: NDArray[np.floating], points: F32, owners: I64, eps: float, *, k: int = 3,
                   means: F32 | None = None, mean_owners: I64 | None = None,
                   query_eps: NDArray[np.floating] | None = None,
                   block_bytes: int = BLOCK_BYTES) -> list[list[tuple[int, float]]]:
    """For each query face: every person within `eps` (or within its own `query_eps[i]`, never above `eps`: a
    low-quality face's stricter distance), as (owner, distance), nearest first.

    A person's distance is the smaller of two: one minus the mean of the query's `k` best similarities to the
    person's faces (all of them if it has fewer), and the cosine distance to the person's mean (`means`, rows
    normalised, owned by `mean_owners`; optional). The first follows a person photographed over decades, whose
    mean is far from each of its faces; it is never below the nearest face's distance, so only people with a
    face within eps are candidates, found by the same blocked product as `radius_pairs` (points x a block of
    queries; rows normalised). Cost per query: one n x d product plus, per candidate person, one pass over the
    n owners and a partition of that person's similarities (bench/clusters.py: 0.1 ms at 10k faces and
    1.2 ms at 100k, with one BLAS thread).
    """
    q = normalise(queries)
    out: list[list[tuple[int, float]]] = [[] for _ in range(len(q))]
    if len(q) == 0:
        return out
    threshold = np.float32(1.0 - eps)
    mean_dist: F32 | None = None
    if means is not None and mean_owners is not None and len(means):
        mean_dist = 1.0 - (q @ means.T)  # queries x people: small (people << faces)
    rows = block_rows(max(len(points), 1), block_bytes)
    for start in range(0, len(q), rows):
        block = q[start:start + rows]
        sims = points @ block.T if len(points) else np.zeros((0, len(block)), np.float32)
        for c in range(len(block)):
            best: dict[int, float] = {}
            col = sims[:, c]
            for owner in np.unique(owners[col >= threshold]).tolist():
                s = col[owners == owner]  # one pass per candidate person (a handful), no per-call grouping
                top = s if len(s) <= k else np.partition(s, len(s) - k)[len(s) - k:]
                best[owner] = float(1.0 - top.mean())
            if mean_dist is not None and mean_owners is not None:
                row = mean_dist[start + c]
                for at in np.flatnonzero(row <= eps).tolist():
                    owner = int(mean_owners[at])
                    best[owner] = min(best.get(owner, 2.0), float(row[at]))
            limit = eps if query_eps is None else min(eps, float(query_eps[start + c]))
            out[start + c] = sorted(((o, d) for o, d in best.items() if d <= limit), key=lambda od: (od[1], od[0]))
    return out


def assign_ranked(ranked: list[list[tuple[int, float]]], forbidden: list[set[int]] | None = None) -> list[int | None]:
    """For faces of ONE photo, given each face's people nearest first: one person per face, never one person for
    two faces (the nearest pair first), never a forbidden one."""
    pairs = sorted((d, f, o) for f, options in enumerate(ranked) for o, d in options)
    result: list[int | None] = [None] * len(ranked)
    taken: set[int] = set()
    for _d, f, o in pairs:
        if result[f] is not None or o in taken or (forbidden is not None and o in forbidden[f]):
            continue
        result[f] = o
        taken.add(o)
    return result


def confident(options: list[tuple[int, float]], eps: float, attach_eps: float, margin: float,
              twins: Callable[[int, int], bool] | None = None) -> list[tuple[int, float]]:
    """A face's people nearest first, cut to those it may join: every one within `eps`; else the nearest alone
    if it lies within the looser `attach_eps` and every other person is at least `margin` farther (issue 11: a
    face DBSCAN leaves alone joins its clearly nearest person). `twins(a, b)`: people a and b are themselves
    within attach_eps of each other (one person DBSCAN split), so b does not make a doubtful. `options` must
    reach `attach_eps + margin`."""
    within = [(o, d) for o, d in options if d <= eps]
    if within or not options or options[0][1] > attach_eps:
        return within
    best, dist = options[0]
    for other, d in options[1:]:
        if d - dist < margin and not (twins is not None and twins(best, other)):
            return []
    return [options[0]]


def twins_by_means(people: I64, means: F32, attach_eps: float) -> Callable[[int, int], bool]:
    """`confident`'s twins test: the people's means (rows normalised, owned by `people`) within attach_eps."""
    at = {int(p): i for i, p in enumerate(people.tolist())}

    def twins(a: int, b: int) -> bool:
        if a not in at or b not in at:
            return False
        return float(means[at[a]] @ means[at[b]]) >= 1.0 - attach_eps

    return twins


def attach_lonely(result: I64, vectors: F32, cons: Constraints, candidates: NDArray[np.bool_], *, eps: float,
                  attach_eps: float, margin: float, k: int, limits: NDArray[np.floating] | None = None,
                  members: NDArray[np.bool_] | None = None) -> I64:
    """Faces left without a person (`candidates`, unpinned) attached to their clearly nearest person.

    A candidate's distance to a person is `nearest_people`'s over `members` (default: the faces that have a
    person in `result`; never the candidates themselves, so the outcome does not depend on their order); it
    joins by `confident` (within `attach_eps` and `margin` closer than the next person), never a person it was
    rejected from, never a person that already holds another face of its photo. `limits` caps the distance per
    candidate (a low-quality face's stricter one). Cost: one candidates x members product. Returns a new
    result; other faces are unchanged.
    """
    out = result.copy()
    todo = np.flatnonzero(candidates & (result == 0) & (cons.pinned == 0))
    points = np.flatnonzero((result != 0) if members is None else (members & (result != 0)))
    if attach_eps <= eps or len(todo) == 0 or len(points) == 0:
        return out
    reach = attach_eps + margin
    owners = result[points]
    ranked = nearest_people(vectors[todo], vectors[points], owners, reach, k=k)
    people, inverse = np.unique(owners, return_inverse=True)
    sums = np.zeros((len(people), vectors.shape[1]), np.float32)
    np.add.at(sums, inverse.reshape(-1), vectors[points])
    twins = twins_by_means(people, normalise(sums), attach_eps)
    by_photo: dict[int, list[int]] = {}
    for row, pos in enumerate(todo.tolist()):
        limit = attach_eps if limits is None else min(attach_eps, float(limits[row]))
        options = confident(ranked[row], min(eps, limit), limit, margin, twins)
        ranked[row] = options
        if options:
            by_photo.setdefault(int(cons.photo[pos]), []).append(row)
    if not by_photo:
        return out
    held: dict[int, set[int]] = {}
    photos = np.fromiter(by_photo, np.int64, len(by_photo))
    for pos in np.flatnonzero((result != 0) & np.isin(cons.photo, photos)).tolist():
        held.setdefault(int(cons.photo[pos]), set()).add(int(result[pos]))
    for photo, rows in by_photo.items():
        taken = held.get(photo, set())
        forbidden = [taken | cons.rejected.get(int(todo[r]), set()) for r in rows]
        for r, person in zip(rows, assign_ranked([ranked[r] for r in rows], forbidden), strict=True):
            if person is not None:
                out[todo[r]] = person
    return out
