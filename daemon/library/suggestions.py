"""Suggestions, for both front ends: which people an unassigned face may be (`suggest_faces`), taking one
(`accept`) and taking every suggestion of a person at once (`accept_all`). Each takes `[clustering]`
(`suggest_eps`, `assign_k`), so the terminal and the browser suggest, and accept, the same people.

The rules live here once, each in one function: a rejected suggestion never returns (`offered`), one face per
photo in accept all, the nearer one kept (`one_face_per_photo`), a face pinned to a person stays there
(`check_accept`). The writes are `daemon/library/corrections.py`'s; rejecting a suggestion is
`corrections.reject_suggestion`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from daemon.config import ClusteringConfig
from daemon.errors import UsageError
from daemon.library import corrections
from daemon.people import clusters
from daemon.store import Store, base, faces
from daemon.store import web_queries as wq


@dataclass(frozen=True)
class Suggestion:
    """A person an unassigned face may be: its distance (the smaller of the distance to the person's mean and one
    minus the mean of the face's `assign_k` best similarities to the person's faces)."""

    person_id: int
    person_name: str | None
    distance: float


@dataclass(frozen=True)
class FaceSuggestions:
    """An unassigned face and the people it may be, nearest first."""

    face_id: int
    photo_id: int
    suggestions: list[Suggestion]


def offered(face_id: int, photo_id: int, person_id: int, rejected: Collection[tuple[int, int]],
            taken: Collection[tuple[int, int]]) -> bool:
    """Whether a person may be suggested for a face: never a person the user rejected for it (a rejected
    suggestion never returns), never a person already holding a face of the same photo."""
    return (face_id, person_id) not in rejected and (photo_id, person_id) not in taken


def suggest_faces(store: Store, clustering: ClusteringConfig, *, person_id: int | None = None,
                  face_ids: Sequence[int] | None = None, max_distance: float | None = None) -> list[FaceSuggestions]:
    """For every unassigned face (or these faces), the people within `max_distance` (default
    `clustering.suggest_eps`) by `clustering.assign_k`'s distance, nearest first; only faces with at least one
    suggestion, nearest first. With `person_id`, only that person is suggested. NotFoundError for an unknown
    person."""
    radius = clustering.suggest_eps if max_distance is None else float(max_distance)

    def read(conn: sqlite3.Connection) -> tuple[faces.FaceRows, faces.FaceRows, list[tuple[int, bytes]],
                                                set[tuple[int, int]], set[tuple[int, int]], dict[int, str | None]]:
        if person_id is not None:
            faces.person_row(conn, person_id)
        loose = faces.unassigned_faces(conn, None if face_ids is None else list(face_ids))
        return (loose, faces.assigned_faces(conn, person_id),
                faces.means(conn, None if person_id is None else [person_id]),
                faces.rejections_of(conn, loose.ids.tolist()), faces.photo_people_of(conn, loose.photos.tolist()),
                faces.person_names(conn))

    loose, members, mean_rows, rejected, taken, names = store.read(read)
    if not len(loose.ids) or not len(members.ids):
        return []
    means = clusters.normalise(np.stack([base.vec(m) for _p, m in mean_rows])) if mean_rows else None
    ranked = clusters.nearest_people(loose.vectors, clusters.normalise(members.vectors), members.people, radius,
                                     k=clustering.assign_k, means=means,
                                     mean_owners=np.array([p for p, _m in mean_rows], np.int64))
    out: list[FaceSuggestions] = []
    for face_id, photo_id, options in zip(loose.ids.tolist(), loose.photos.tolist(), ranked, strict=True):
        kept = [Suggestion(person_id=p, person_name=names.get(p), distance=round(d, 4)) for p, d in options
                if offered(face_id, photo_id, p, rejected, taken)]
        if kept:
            out.append(FaceSuggestions(face_id=face_id, photo_id=photo_id, suggestions=kept))
    out.sort(key=lambda item: (item.suggestions[0].distance, item.face_id))
    return out


# ----------------------------------------------------------------------------------------------- accept one


@dataclass(frozen=True)
class Accepted:
    """A face taken for a person (`faces accept`, the web's accept)."""

    face_id: int
    person_id: int
    confirmed: bool  # the face was on that person already: now pinned there


def check_accept(face_id: int, current: int | None, target: int, holder: int | None, holder_pinned: bool) -> None:
    """Pinned faces stay: refuse to take a face for `target` when the face sits on another person (that is a
    move, `faces move`), or when `target` holds a face of the same photo (`holder`) that the user pinned there."""
    if current is not None and current != target:
        raise UsageError(f"face {face_id} is on person {current}, not {target}: "
                         f"`pictod faces move {face_id} {target}` moves it")
    if holder is not None and holder_pinned:
        raise UsageError(f"person {target} already has face {holder} of the same photo, pinned there: "
                         f"one face per photo (reject face {holder} first)")


def accept(store: Store, clustering: ClusteringConfig, face_id: int, person_id: int | None = None) -> Accepted:
    """Put a face on its top suggestion (or on `person_id`) as a pin; a face already on `person_id` is pinned.

    NotFoundError for an unknown face or person; UsageError if the face has no suggestion (and no person is
    given), is on a person and none is given, or `check_accept` refuses."""
    photo_id, current = store.read(lambda conn: faces.face_row(conn, face_id))
    if person_id is None:
        if current is not None:
            raise UsageError(f"face {face_id} is already on person {current}: give a person to confirm it")
        items = suggest_faces(store, clustering, face_ids=[face_id])
        if not items:
            raise UsageError(f"no suggestion for face {face_id}: give a person, or `pictod people new {face_id}`")
        person_id = items[0].suggestions[0].person_id
    target = person_id

    def read(conn: sqlite3.Connection) -> tuple[int | None, bool]:
        faces.person_row(conn, target)
        holders = [f.id for f in wq.photo_faces(conn, photo_id) if f.person_id == target and f.id != face_id]
        holder = holders[0] if holders else None
        return holder, holder is not None and holder in wq.pinned_faces(conn, [holder])

    holder, pinned = store.read(read)
    check_accept(face_id, current, target, holder, pinned)
    corrections.accept_suggestion(store, face_id, target)
    return Accepted(face_id=face_id, person_id=target, confirmed=current == target)


# ----------------------------------------------------------------------------------------------- accept all


@dataclass(frozen=True)
class PassedOver:
    """A suggested face accept all left on nobody: a nearer face of its photo went to the person."""

    face_id: int
    photo_id: int
    kept_face_id: int


@dataclass(frozen=True)
class AcceptedAll:
    """What `people accept` / the web's "accept all" did."""

    person_id: int
    accepted: list[int]  # face ids, ascending
    passed_over: list[PassedOver]

    def message(self, who: str | None = None) -> str:
        """One line for a person (`who`: how to call them, e.g. their name): what was taken and what was left,
        and why."""
        n = len(self.accepted)
        text = f"{who or f'person {self.person_id}'}: {n} suggested face{'' if n == 1 else 's'} accepted" + (
            f" ({', '.join(map(str, self.accepted))})" if self.accepted else "")
        for left in self.passed_over:
            text += (f"; face {left.face_id} left on nobody: face {left.kept_face_id} of the same photo is "
                     "nearer")
        return text


def one_face_per_photo(items: Sequence[FaceSuggestions],
                       person_id: int) -> tuple[list[int], list[PassedOver]]:
    """Of the faces whose top suggestion is `person_id`, one per photo: the nearest (ties: the lower id).
    Returns the chosen face ids ascending and the faces passed over."""
    best: dict[int, tuple[float, int]] = {}
    rest: list[tuple[int, int]] = []
    for item in items:
        top = item.suggestions[0]
        if top.person_id != person_id:
            continue
        mine = (top.distance, item.face_id)
        if item.photo_id in best:
            rest.append((item.photo_id, max(mine, best[item.photo_id])[1]))
            mine = min(mine, best[item.photo_id])
        best[item.photo_id] = mine
    passed = [PassedOver(face_id=f, photo_id=p, kept_face_id=best[p][1]) for p, f in sorted(rest, key=lambda r: r[1])]
    return sorted(face for _d, face in best.values()), passed


def accept_all(store: Store, clustering: ClusteringConfig, person_id: int, *, max_distance: float | None = None,
               among: Collection[int] | None = None) -> AcceptedAll:
    """Accept every suggestion whose top person is `person_id` within `max_distance` (default
    `clustering.suggest_eps`), only among these faces if given (the faces a page showed), one face per photo;
    in one write. NotFoundError for an unknown person."""
    store.read(lambda conn: faces.person_row(conn, person_id))
    items = suggest_faces(store, clustering, max_distance=max_distance)
    if among is not None:
        wanted = set(among)
        items = [i for i in items if i.face_id in wanted]
    chosen, passed = one_face_per_photo(items, person_id)
    done = corrections.accept_person_suggestions(store, person_id, chosen) if chosen else []
    return AcceptedAll(person_id=person_id, accepted=done, passed_over=passed)
