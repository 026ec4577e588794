"""The "is this the same person?" review (issue 21): the faces a person may also have, beyond the radius the
daemon attaches faces by itself, asked one at a time, nearest first; and the answers.

A candidate's distance is its cosine distance to the person's nearest face (k = 1: every accepted face becomes
an exemplar at once, so the faces near it come up next; a mean or a k-best average would dilute the one new
face that reaches a new look of the person). Rejected faces (every 'reject' correction for the person, a review
"no" among them) are never offered again and weigh down the faces close to them: the rank is
`distance + max(0, distance - distance to the nearest rejected face)`, so a face nearer to a rejected face
than to any of the person's stays in the list but drops behind the others. Skipped faces come last. Faces on
other people are offered only with `include_assigned` (the merge candidates: "maybe these two are one").
Never offered: a face of a photo that already holds one of the person's faces (one face per photo).

`REVIEW_EPS`, the radius, was measured on the test sets by bench/review_sim.py (bench/results.md, "Review"):
the distances of every labelled face to its identity's nearest other face and to the nearest face of another
identity; see there how it was picked.
"""

from __future__ import annotations

import functools
import threading
import weakref
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.people import clusters
from daemon.store import Store
from daemon.store import review as sql

REVIEW_EPS = 0.6  # see the module docstring: bench/review_sim.py's distributions
SKIPPED_PENALTY = 4.0  # added to a skipped face's rank: after every face not yet answered


@dataclass(frozen=True)
class Candidate:
    """A face the person may also have: its distance to the person's nearest face and its rank (lower first)."""

    face_id: int
    photo_id: int
    distance: float
    rank: float
    person_id: int | None  # the person it is on now (include_assigned), None: on nobody
    person_name: str | None
    skipped: bool


class _Faces:
    """Every face of one library as arrays (ascending ids): vectors (normalised), photos, people; kept between
    calls in one process (the web app answers a key press with one small read, not a read of every face).

    Valid while the store's stamp (`store/review.stamp`) is the one it was read at (`store/review.snapshot`
    reads only the change): faces added are appended,
    faces removed reload it all, people changed elsewhere (the daemon) reload the people column; this process's
    own answers patch it (`patch`). Per person, each face's best similarity to the person's faces and to its
    rejected faces is kept too and updated by the faces added to either set (an undo recomputes it).
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stamp: tuple[int, int, int] = (-1, -1, -1)
        self.ids = np.zeros(0, np.int64)
        self.photos = np.zeros(0, np.int64)
        self.people = np.zeros(0, np.int64)
        self.vectors = np.zeros((0, 128), np.float32)
        self.near: dict[tuple[int, str], tuple[frozenset[int], NDArray[np.float32]]] = {}

    @property
    def last_id(self) -> int:
        return int(self.ids[-1]) if len(self.ids) else 0

    def apply(self, snap: sql.Snapshot) -> None:
        """Bring the arrays up to a `store/review.snapshot` read against them."""
        if snap.full is not None:
            rows = snap.full
            self.ids, self.photos, self.vectors = rows.ids, rows.photos, clusters.normalise(rows.vectors)
            self.people, self.near = rows.people, {}
        if snap.added is not None and len(snap.added.ids):
            rows = snap.added
            self.ids = np.concatenate([self.ids, rows.ids])
            self.photos = np.concatenate([self.photos, rows.photos])
            self.vectors = np.concatenate([self.vectors.reshape(-1, rows.vectors.shape[1]),
                                           clusters.normalise(rows.vectors)])
            self.people = np.concatenate([self.people, rows.people])
        if snap.people is not None:  # people changed elsewhere: the person column again
            self.people = np.zeros(len(self.ids), np.int64)
            self.people[np.searchsorted(self.ids, snap.people[:, 0])] = snap.people[:, 1]
        self.stamp = snap.stamp

    def read(self, store: Store, *, person_id: int | None = None, face_id: int | None = None,
             names: bool = False) -> sql.Snapshot:
        """One snapshot read (caller holds `lock`), applied."""
        snap = store.read(functools.partial(sql.snapshot, known=self.stamp, last_id=self.last_id,
                                            person_id=person_id, face_id=face_id, names=names))
        self.apply(snap)
        return snap

    def best(self, key: tuple[int, str], members: NDArray[np.int64]) -> NDArray[np.float32]:
        """Per face, its highest similarity to the faces at `members` (positions): -2 with none."""
        have = frozenset(self.ids[members].tolist())
        cached = self.near.get(key)
        n = len(self.ids)
        if cached is not None and cached[0] <= have and len(cached[1]) <= n:
            old, sims = cached
            if len(sims) < n:  # faces added since: their rows against every member
                sims = np.concatenate([sims, _max_sim(self.vectors[len(sims):], self.vectors[members])])
            added = np.flatnonzero(np.isin(self.ids[members], list(have - old)))
            if len(added):
                sims = np.maximum(sims, _max_sim(self.vectors, self.vectors[members[added]]))
        else:
            sims = _max_sim(self.vectors, self.vectors[members])
        self.near[key] = (have, sims)
        return sims

    def patch(self, changed: sql.Changed) -> None:
        """This process changed these faces' people in one write from people rev0 to rev1."""
        rev0, rev1, rows = changed
        with self.lock:
            if self.stamp[0] != rev0 or not rows:
                return
            at = np.searchsorted(self.ids, [f for f, _p in rows])
            if (at >= len(self.ids)).any() or not np.array_equal(self.ids[at], [f for f, _p in rows]):
                return
            self.people[at] = [p for _f, p in rows]
            self.stamp = (rev1, *self.stamp[1:])


def _max_sim(vectors: NDArray[np.float32], members: NDArray[np.float32]) -> NDArray[np.float32]:
    """Per row of `vectors`, its highest dot product with a row of `members` (-2 with none), in blocks."""
    out = np.full(len(vectors), -2.0, np.float32)
    if len(members) == 0 or len(vectors) == 0:
        return out
    rows = clusters.block_rows(len(members))
    for start in range(0, len(vectors), rows):
        out[start:start + rows] = (vectors[start:start + rows] @ members.T).max(axis=1)
    return out


_CACHES: weakref.WeakKeyDictionary[Store, _Faces] = weakref.WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def _faces_of(store: Store) -> _Faces:
    with _CACHES_LOCK:
        cache = _CACHES.get(store)
        if cache is None:
            cache = _CACHES[store] = _Faces()
        return cache


def candidates(store: Store, person_id: int, *, limit: int | None = None, max_distance: float | None = None,
               include_assigned: bool = False) -> list[Candidate]:
    """The faces to ask about for this person, best first (NotFoundError for an unknown person)."""
    radius = REVIEW_EPS if max_distance is None else float(max_distance)
    cache = _faces_of(store)
    with cache.lock:
        snap = cache.read(store, person_id=person_id, names=include_assigned)
        rejected_ids, skipped, names = snap.rejected, snap.skipped, snap.names
        mine = np.flatnonzero(cache.people == person_id)
        never = np.searchsorted(cache.ids, rejected_ids)
        never = never[(never < len(cache.ids))]
        never = never[np.isin(cache.ids[never], rejected_ids)]
        if len(mine) == 0:
            return []
        near = 1.0 - cache.best((person_id, "person"), mine)
        near_rejected = 1.0 - cache.best((person_id, "rejected"), never)
        open_ = cache.people != person_id if include_assigned else cache.people == 0
        keep = open_ & (near <= radius) & ~np.isin(cache.photos, cache.photos[mine])
        keep[never] = False
        at = np.flatnonzero(keep)
        ids, photos, owners = cache.ids[at], cache.photos[at], cache.people[at]
        distance = near[at]
        score = distance + np.maximum(0.0, distance - near_rejected[at])
    score = score + np.where(np.isin(ids, list(skipped)), SKIPPED_PENALTY, 0.0).astype(np.float32)
    order = np.lexsort((ids, distance, np.round(score, 4)))[:None if limit is None else max(0, limit)]
    ids, photos, owners, distance, score = ids[order], photos[order], owners[order], distance[order], score[order]
    out = [Candidate(face_id=int(f), photo_id=int(p), distance=round(float(d), 4),
                     rank=round(float(r), 4),
                     person_id=int(o) or None, person_name=names.get(int(o)) if o else None,
                     skipped=int(f) in skipped)
           for f, p, o, d, r in zip(ids.tolist(), photos.tolist(), owners.tolist(), distance.tolist(),
                                    score.tolist(), strict=True)]
    return out


def answer(store: Store, person_id: int, face_id: int, verdict: str) -> None:
    """"yes" (the face is this person: pinned to it, an exemplar from now on), "no" (never offered again, and
    it weighs down faces near it) or "skip" (offered again after the others); recorded, so `undo` can take it
    back. NotFoundError for an unknown face or person, ValueError for another verdict."""

    _faces_of(store).patch(store.write(functools.partial(sql.answer, person_id=person_id, face_id=face_id,
                                                         verdict=verdict)))


def undo(store: Store, person_id: int) -> tuple[int, str] | None:
    """Take back the person's last answer; (face id, the answer undone), None if nothing is left to undo."""

    done, changed = store.write(functools.partial(sql.undo, person_id=person_id))
    _faces_of(store).patch(changed)
    return done


def might_also_be(store: Store, person_id: int, *, max_distance: float | None = None) -> int:
    """How many faces the review would offer for this person now (the person page's "Might also be NAME (N)")."""
    return len(candidates(store, person_id, max_distance=max_distance))


@dataclass(frozen=True)
class Nearest:
    """A person one face may be: its distance to the person's nearest face."""

    person_id: int
    person_name: str | None
    distance: float


def who_is_this(store: Store, face_id: int, *, k: int = 3, max_distance: float | None = None) -> list[Nearest]:
    """The `k` people nearest to one face (by their nearest face), within the review radius; never a person the
    face was rejected from, nor one that holds another face of its photo, nor its own. NotFoundError for an
    unknown face."""
    radius = REVIEW_EPS if max_distance is None else float(max_distance)
    cache = _faces_of(store)
    with cache.lock:
        snap = cache.read(store, face_id=face_id, names=True)
        excluded, names = snap.excluded, snap.names
        at = int(np.searchsorted(cache.ids, face_id))
        if at >= len(cache.ids) or cache.ids[at] != face_id:
            return []
        sims = cache.vectors @ cache.vectors[at]
        assigned = np.flatnonzero((cache.people != 0) & ~np.isin(cache.people, list(excluded)))
        owners, best = cache.people[assigned], sims[assigned]
    order = np.lexsort((owners, -best))
    _people, first = np.unique(owners[order], return_index=True)
    ranked = sorted((1.0 - float(best[order][i]), int(owners[order][i])) for i in first)
    return [Nearest(person_id=p, person_name=names.get(p), distance=round(d, 4))
            for d, p in ranked if d <= radius][:max(0, k)]
