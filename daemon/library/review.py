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

import sqlite3
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.people import clusters
from daemon.store import Store
from daemon.store import metadata as meta_sql
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


def rank(exemplars: NDArray[np.floating], faces: NDArray[np.floating], rejected: NDArray[np.floating]
         ) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per face: (distance to the nearest exemplar, rank); pure. The rank is the distance raised by how much
    nearer the face lies to a rejected face than to the person."""
    if len(faces) == 0 or len(exemplars) == 0:
        far = np.full(len(faces), 2.0, np.float32)
        return far, far
    q = clusters.normalise(faces)
    distance = (1.0 - (q @ clusters.normalise(exemplars).T).max(axis=1)).astype(np.float32)
    score = distance.copy()
    if len(rejected):
        near_rejected = 1.0 - (q @ clusters.normalise(rejected).T).max(axis=1)
        score += np.maximum(0.0, distance - near_rejected).astype(np.float32)
    return distance, score


def candidates(store: Store, person_id: int, *, limit: int | None = None, max_distance: float | None = None,
               include_assigned: bool = False) -> list[Candidate]:
    """The faces to ask about for this person, best first (NotFoundError for an unknown person)."""
    radius = REVIEW_EPS if max_distance is None else float(max_distance)
    rows = store.read(lambda conn: sql.review_rows(conn, person_id, include_assigned=include_assigned))
    others = rows.others
    distance, score = rank(rows.exemplars, others.vectors, rows.rejected)
    out: list[Candidate] = []
    for at in np.flatnonzero(distance <= radius).tolist():
        face_id, photo_id, owner = int(others.ids[at]), int(others.photos[at]), int(others.people[at])
        if face_id in rows.never or photo_id in rows.taken_photos:
            continue
        skipped = face_id in rows.skipped
        out.append(Candidate(face_id=face_id, photo_id=photo_id, distance=round(float(distance[at]), 4),
                             rank=round(float(score[at]) + (SKIPPED_PENALTY if skipped else 0.0), 4),
                             person_id=owner or None, person_name=rows.names.get(owner) if owner else None,
                             skipped=skipped))
    out.sort(key=lambda c: (c.rank, c.distance, c.face_id))
    return out if limit is None else out[:max(0, limit)]


def answer(store: Store, person_id: int, face_id: int, verdict: str) -> None:
    """"yes" (the face is this person: pinned to it, an exemplar from now on), "no" (never offered again, and
    it weighs down faces near it) or "skip" (offered again after the others); recorded, so `undo` can take it
    back. NotFoundError for an unknown face or person, ValueError for another verdict."""

    def task(conn: sqlite3.Connection) -> None:
        sql.record_answer(conn, person_id, face_id, verdict)
        if verdict != "skip":
            meta_sql.mark_face_dirty(conn, face_id)  # its sidecar names it now (or no longer)

    store.write(task)


def undo(store: Store, person_id: int) -> tuple[int, str] | None:
    """Take back the person's last answer; (face id, the answer undone), None if nothing is left to undo."""

    def task(conn: sqlite3.Connection) -> tuple[int, str] | None:
        done = sql.undo_last(conn, person_id)
        if done is not None and done[1] != "skip":
            meta_sql.mark_face_dirty(conn, done[0])
        return done

    return store.write(task)


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
    rows = store.read(lambda conn: sql.who_rows(conn, face_id))
    if not len(rows.people):
        return []
    sims = clusters.normalise(rows.others) @ clusters.normalise(rows.vector)[0]
    best: dict[int, float] = {}
    for person, sim in zip(rows.people.tolist(), sims.tolist(), strict=True):
        if person not in rows.excluded:
            best[person] = max(best.get(person, -2.0), float(sim))
    ranked = sorted((1.0 - s, p) for p, s in best.items() if 1.0 - s <= radius)[:max(0, k)]
    return [Nearest(person_id=p, person_name=rows.names.get(p), distance=round(d, 4)) for d, p in ranked]
