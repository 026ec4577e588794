"""The people manager: places new faces on people, reclusters, keeps people ids stable, prunes empty people.

The maths is in `daemon/people/clusters.py`; this module owns the state around it: the in-memory density index
(exact incremental DBSCAN over all faces: insertions and deletions touch only the affected clusters), the cache
of people means used for placing new faces, the recluster counter and coalescing, and persistence through the
store's single writer. User corrections are in `library/corrections.py`, library reads in `library/reads.py`.

Face -> person links change in three ways only: a new face is placed on the nearest person within eps, by the
smaller of its distance to the person's mean and one minus the mean of its `assign_k` best similarities to the
person's faces (`clusters.nearest_people`: follows people who change over the years, whose mean is far from each
of their faces);
a face of low quality (below `min_core_quality`; unknown quality counts as good) is never a DBSCAN core and joins
a person, placed or as a border point, only within the stricter `low_quality_eps`;
a recluster maps DBSCAN clusters onto people (`clusters.map_clusters`: stable ids, curated people anchored,
rejections and one face per photo enforced), joins faces left alone to their clearly nearest person
(`clusters.attach_lonely`) and makes a person of two lone faces that are each other's clear nearest
(`pairs.pair_lonely`, issue 21); the user corrects (`daemon/library/corrections.py`), recorded in the
`corrections` table so every later recluster honours them.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np
import structlog

from daemon.config import ClusteringConfig
from daemon.people import clusters, pairs
from daemon.store import AddResult, RemoveResult, Store, faces
from daemon.store import base as q

log = structlog.get_logger()


@dataclass(frozen=True)
class ReclusterResult:
    """What one recluster did."""

    faces: int
    clusters: int
    people: int
    assigned: int
    unassigned: int
    new_people: int
    pruned_people: int
    changed_faces: int
    full: bool
    ms: float


@dataclass
class _Snapshot:
    """A density index built off the writer from one read snapshot, waiting to be installed by `_apply`."""

    rows: faces.FaceRows
    removed_rev: int
    index: clusters.DensityIndex
    drifted: list[tuple[int, str | None]]
    unknown: list[int]


class PeopleManager:
    """Places faces on people and reclusters; thread-safe, one per store.

    The recluster counter is the `photos_since_recluster` state row: the store bumps it in the same transaction
    that records a new photo, a recluster sets it back to 0 in the transaction that commits its mapping (every
    photo committed before is clustered), so it survives restarts and `pictod status` reads the same number.
    Coalescing is the ticket pair `_requested` / `_completed`: a call returns at once with the result of a run
    that started after the call arrived.

    Concurrency, two locks and the writer thread:
    - `_lock` (held briefly): tickets, removals waiting for the index, `clustering_seconds`;
    - `_recluster_lock`: one recluster at a time; its holder owns the density index (`_index`, `_ids`,
      `_photos`, `_removed_rev`, `_reported`), on its own thread or inside a writer task it submitted
      (`on_removed` forgets faces at once when the lock is free, else leaves them to the running recluster);
    - the store's single writer thread runs `_place` and `_apply` one at a time, so the means cache and the
      person cache need no lock: they are only touched inside writer tasks. `_ids` is replaced only there too.
    """

    def __init__(self, store: Store, cfg: ClusteringConfig) -> None:
        self.store = store
        self.cfg = cfg
        self._lock = threading.Lock()
        self._recluster_lock = threading.Lock()
        self._requested = 0
        self._completed = 0
        self._completed_full = 0
        self._last: ReclusterResult | None = None
        self._pending: list[tuple[int, tuple[int, ...]]] = []  # (removed_rev, face ids) not yet in the index
        # Density index over every face, aligned with _ids (ascending face ids); it reflects every removal up to
        # FACES_REMOVED_REV == _removed_rev, and the reported ones in _reported above it.
        self._index: clusters.DensityIndex | None = None
        self._ids = np.zeros(0, np.int64)
        self._photos = np.zeros(0, np.int64)
        self._removed_rev = -1
        self._reported: set[int] = set()
        # Person per indexed face as last written, valid while PEOPLE_REV equals _person_rev (else re-read).
        self._person = np.zeros(0, np.int64)
        self._person_rev = -1
        # Faces whose person came from `clusters.attach_lonely` (DBSCAN left them alone), aligned with _ids.
        self._attached = np.zeros(0, bool)
        # Means cache for placing new faces.
        self._means_rev = -1
        self._mean_ids = np.zeros(0, np.int64)
        self._means = np.zeros((0, 0), np.float32)
        # Every assigned face (vector, person) for placing new faces by their nearest faces of each person;
        # valid while PEOPLE_REV equals _members_rev (placements and reclusters patch it, anything else reloads).
        self._members_rev = -1
        self._member_vecs = np.zeros((0, 0), np.float32)
        self._member_people = np.zeros(0, np.int64)
        self.clustering_seconds = 0.0  # time spent placing faces and reclustering (bench/clusters.py reads it)
        self.runs = 0  # reclusters actually run (coalesced calls do not count)
        # Two lone faces that are each other's clear nearest become a person (pairs.py). An attribute, not
        # config, so bench/review_sim.py can measure both ways.
        self.pair_lonely = True

    # ------------------------------------------------------------------------------------------- placing

    def on_photo_added(self, result: AddResult) -> list[tuple[int, int | None]]:
        """Place a new photo's faces on the nearest person means; return (face_id, person_id or None)."""
        if result.removed is not None:
            self.on_removed(result.removed)
        if not result.created or not result.new_faces:
            return []
        t0 = time.perf_counter()
        with clusters.one_blas_thread():
            placed = self.store.write(lambda conn: self._place(conn, result))
        with self._lock:
            self.clustering_seconds += time.perf_counter() - t0
        return placed

    def _load_means(self, conn: sqlite3.Connection) -> None:
        rows = faces.means(conn)
        self._mean_ids = np.array([r[0] for r in rows], np.int64)
        self._means = clusters.normalise(np.stack([q.vec(r[1]) for r in rows])) if rows else \
            np.zeros((0, 0), np.float32)

    def _load_members(self, conn: sqlite3.Connection) -> None:
        rows = faces.assigned_faces(conn)
        self._member_people, self._member_vecs = rows.people, clusters.normalise(rows.vectors)

    def _place(self, conn: sqlite3.Connection, result: AddResult) -> list[tuple[int, int | None]]:
        """Writer task: the nearest person within eps (its mean or its nearest faces) for each face unassigned."""
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        if rev0 != self._means_rev:
            self._load_means(conn)
        if rev0 != self._members_rev:
            self._load_members(conn)
            self._members_rev = rev0
        # A recluster may have run since the photo was stored: faces it placed stay, and their people are
        # taken for the others (one face per photo per person). Faces already deleted are skipped.
        now = faces.photo_face_people(conn, result.photo_id)
        unplaced = [f for f in result.new_faces if f.id in now and now[f.id] is None]
        placed: dict[int, int | None] = {f: now.get(f) for f in result.face_ids}
        if unplaced and len(self._mean_ids):
            taken = {p for p in now.values() if p is not None}
            vectors = np.stack([f.embedding for f in unplaced])
            low = [f.quality is not None and f.quality < self.cfg.min_core_quality for f in unplaced]
            limits = np.where(low, self._low_eps(), self.cfg.eps).astype(np.float32)
            cfg = self.cfg
            reach = max(cfg.eps, cfg.attach_eps + cfg.attach_margin)
            ranked = clusters.nearest_people(vectors, self._member_vecs, self._member_people, reach,
                                             k=cfg.assign_k, means=self._means, mean_owners=self._mean_ids)
            twins = clusters.twins_by_means(self._mean_ids, self._means, cfg.attach_eps)
            ranked = [clusters.confident(options, min(cfg.eps, float(limit)), min(cfg.attach_eps, float(limit))
                                         if low_face else cfg.attach_eps, cfg.attach_margin, twins)
                      for options, limit, low_face in zip(ranked, limits, low, strict=True)]
            chosen = clusters.assign_ranked(ranked, [taken] * len(unplaced))
            moves: list[tuple[int, int]] = []
            for face, person in zip(unplaced, chosen, strict=True):
                if person is None:
                    continue
                placed[face.id] = person
                moves.append((face.id, person))
            if moves:
                # O(1) queries: the people's stored embedding sums move, their faces are not re-read.
                self._patch_means(conn, *faces.assign_faces(conn, moves))
                got = [i for i, p in enumerate(chosen) if p is not None]
                self._member_vecs = np.concatenate([self._member_vecs.reshape(-1, vectors.shape[1]),
                                                    clusters.normalise(vectors[got])])
                self._member_people = np.concatenate([self._member_people,
                                                      np.array([chosen[i] for i in got], np.int64)])
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        if self._members_rev == rev0:
            self._members_rev = rev1
        self._means_rev = rev1
        if self._person_rev == rev0:
            # Keep the recluster's person cache in step with placements of faces it already indexed.
            for face_id, placed_on in placed.items():
                at = int(np.searchsorted(self._ids, face_id))
                if placed_on is not None and at < len(self._ids) and self._ids[at] == face_id:
                    self._person[at] = placed_on
            self._person_rev = rev1
        return list(placed.items())

    def _patch_means(self, conn: sqlite3.Connection, updated: list[int], pruned: list[int]) -> None:
        """Bring the means cache up to date for these people only (a full reload costs ~15 ms at 10k people)."""
        if pruned:
            keep = ~np.isin(self._mean_ids, pruned)
            self._mean_ids, self._means = self._mean_ids[keep], self._means[keep]
        for person_id, mean in faces.means(conn, updated):
            vector = clusters.normalise(q.vec(mean))
            at = int(np.searchsorted(self._mean_ids, person_id))
            if at < len(self._mean_ids) and self._mean_ids[at] == person_id:
                self._means[at] = vector[0]
            else:
                if self._means.shape[1] != vector.shape[1]:
                    self._means = np.zeros((0, vector.shape[1]), np.float32)
                self._mean_ids = np.insert(self._mean_ids, at, person_id)
                self._means = np.insert(self._means, at, vector[0], axis=0)

    # ------------------------------------------------------------------------------------------- removals

    def on_removed(self, result: RemoveResult) -> None:
        """Faces were deleted (the store already fixed the people's sums and pruned): the density index forgets
        them, now if no recluster runs, else that recluster does before it maps (exact, in place)."""
        if not result.face_ids:
            return
        with self._lock:
            self._pending.append((result.removed_rev, result.face_ids))
        if self._recluster_lock.acquire(blocking=False):
            try:
                if self._index is not None:
                    with clusters.one_blas_thread():
                        self._forget_pending()
                else:
                    with self._lock:  # no index and no snapshot in flight: the first one will not see them
                        self._pending.clear()
            finally:
                self._recluster_lock.release()
        log.debug("people_faces_removed", faces=result.faces_removed, pruned=len(result.people_pruned))

    def _forget_pending(self) -> None:
        """Drop the reported removals from the index (holder of _recluster_lock only)."""
        with self._lock:
            pending, self._pending = self._pending, []
        ids = [i for rev, face_ids in pending if rev > self._removed_rev for i in face_ids]
        self._reported |= {rev for rev, _ids in pending if rev > self._removed_rev}
        self._forget(np.array(ids, np.int64))

    def _forget(self, face_ids: np.ndarray) -> None:
        """The one path by which a deleted face leaves the index: only the clusters it touched are re-linked."""
        assert self._index is not None
        if not len(face_ids) or not len(self._ids):
            return
        at = np.searchsorted(self._ids, face_ids)
        at = at[at < len(self._ids)]
        at = at[np.isin(self._ids[at], face_ids)]
        self._index.remove(at)

    def _catch_up(self, conn: sqlite3.Connection) -> None:
        """Writer task part: removals nobody reported (a file failed or was moved over another, another process)
        are found by comparing face ids, once; reported ones cost nothing here."""
        assert self._index is not None
        rev = q.get_int(conn, q.FACES_REMOVED_REV)
        if rev > self._removed_rev and not set(range(self._removed_rev + 1, rev + 1)) <= self._reported:
            last = int(self._ids[-1]) if len(self._ids) else 0
            gone = self._ids[~np.isin(self._ids, faces.face_ids(conn, last)) & self._index.alive]
            self._forget(gone)
            log.debug("people_unreported_removals", faces=len(gone))
        self._removed_rev = max(rev, self._removed_rev)
        self._reported = {r for r in self._reported if r > self._removed_rev}

    # ------------------------------------------------------------------------------------------- reclustering

    def added_since_recluster(self) -> int:
        """Photos stored since the last recluster committed (the `photos_since_recluster` state row)."""
        return self.store.read(lambda c: q.get_int(c, q.PHOTOS_SINCE_RECLUSTER))

    def recluster_due(self) -> bool:
        """True once `recluster_every` photos were stored since the last recluster committed."""
        return self.added_since_recluster() >= max(1, self.cfg.recluster_every)

    def recluster(self, *, full: bool = False) -> ReclusterResult:
        """DBSCAN over all faces mapped onto stable people; blocking, thread-safe. A call that arrives while a
        run computes waits, and returns the result of a run that started after it arrived (one run for all)."""
        with self._lock:
            self._requested += 1
            ticket = self._requested
        with self._recluster_lock:
            covered = self._completed_full if full else self._completed
            if covered >= ticket and self._last is not None:
                return self._last  # a run that started after this request already covered it
            with self._lock:
                covers = self._requested
            t0 = time.perf_counter()
            self.runs += 1
            result = self._recluster(full, t0)
            with self._lock:
                self.clustering_seconds += time.perf_counter() - t0
            self._completed = covers
            if result.full:
                self._completed_full = covers
            self._last = result
            log.info("people_reclustered", **asdict(result))
            return result

    def _recluster(self, full: bool, t0: float) -> ReclusterResult:
        snapshot = None
        if full or self._index is None:
            snapshot = self._snapshot()  # the full pass is one big product per block: all BLAS threads help there
        with clusters.one_blas_thread():
            if snapshot is None:
                self._forget_pending()  # off the writer: the writer task below only sees what came meanwhile
            return self.store.write(functools.partial(self._apply, snapshot=snapshot, t0=t0))

    def _snapshot(self) -> _Snapshot:
        """Read every face and every person's stored sums in one snapshot; build the index off the writer."""
        rows, removed_rev, stored = self.store.read(lambda c: (
            faces.faces_after(c, 0), q.get_int(c, q.FACES_REMOVED_REV), faces.stored_sums(c)))
        drifted, unknown = faces.drifted_sums(rows, stored)
        index = clusters.DensityIndex.build(rows.vectors, self.cfg.eps, self.cfg.min_samples, low=self._low(rows),
                                            low_eps=self._low_eps())
        return _Snapshot(rows=rows, removed_rev=removed_rev, index=index, drifted=drifted, unknown=unknown)

    def _low_eps(self) -> float:
        """The stricter distance of low-quality faces: never looser than eps (a lowered eps lowers it too)."""
        return min(self.cfg.low_quality_eps, self.cfg.eps)

    def _low(self, rows: faces.FaceRows) -> np.ndarray:
        """Low-quality flags of these faces (unknown quality: good, so libraries from before v6 cluster as before)."""
        if rows.quality is None:
            return np.zeros(len(rows.ids), bool)
        return np.nan_to_num(rows.quality, nan=1.0) < self.cfg.min_core_quality

    def _install(self, conn: sqlite3.Connection, snap: _Snapshot) -> None:
        """Writer task part: the snapshot's index replaces the old one; drifted people sums are repaired."""
        self._index, self._ids, self._photos = snap.index, snap.rows.ids, snap.rows.photos
        self._removed_rev, self._reported = snap.removed_rev, set()
        self._person = snap.rows.people.copy()
        self._attached = np.zeros(len(snap.rows.ids), bool)
        self._person_rev = -1  # re-read below: people may have changed since the snapshot
        for person_id, name in snap.drifted:
            log.warning("people_sum_repaired", person=person_id, name=name,
                        hint="the stored embedding sum or counts of this person did not match its faces")
        if snap.drifted or snap.unknown:
            faces.refresh_people(conn, [p for p, _name in snap.drifted] + snap.unknown)

    def _attach(self, result: np.ndarray, current: np.ndarray, cons: clusters.Constraints, alive: np.ndarray,
                first_new: int) -> np.ndarray:
        """Faces DBSCAN left alone joined to their clearly nearest person (`clusters.attach_lonely`).

        The decision for a face depends only on the people of the faces within attach_eps + attach_margin of it,
        so an incremental recluster decides again only the faces that may have changed: new faces, faces near
        a face that is new or changed person, faces whose attached person is gone or now holds another face of
        their photo; the others keep their attachment (or stay alone). A full recluster decides every one.
        """
        cfg, n = self.cfg, len(result)
        assert self._index is not None
        if cfg.attach_eps <= cfg.eps or n == 0:
            self._attached = np.zeros(n, bool)
            return result
        vectors, reach = self._index.vectors, cfg.attach_eps + cfg.attach_margin
        members = alive & (result != 0)  # what DBSCAN and the corrections decided: the only reference points
        lonely = alive & (result == 0) & (cons.pinned == 0)
        prev = np.zeros(n, bool)
        prev[:min(first_new, len(self._attached))] = self._attached[:min(first_new, len(self._attached))]
        new = np.zeros(n, bool)
        new[first_new:] = True
        keep = lonely & prev & (current != 0) & np.isin(current, result[members])
        todo = lonely & (new | (prev & ~keep))
        trigger = np.flatnonzero(alive & (new | ((result != current) & ~prev)))
        rest = np.flatnonzero(lonely & ~todo)
        if len(trigger) and len(rest):
            _q, near = clusters.radius_pairs(vectors[trigger], vectors[rest], reach)
            todo[rest[np.unique(near)]] = True
        restored = keep & ~todo
        out = result.copy()
        if restored.any():
            near_photo = members & np.isin(cons.photo, cons.photo[restored])
            held = set(zip(cons.photo[near_photo].tolist(), result[near_photo].tolist(), strict=True))
            for pos in np.flatnonzero(restored).tolist():
                if (int(cons.photo[pos]), int(current[pos])) in held or int(current[pos]) in cons.rejected.get(pos, ()):
                    restored[pos], todo[pos] = False, True
            out[restored] = current[restored]
        low = self._index.low
        limits = np.where(low, self._low_eps(), cfg.attach_eps)[todo]
        joined = clusters.attach_lonely(out, vectors, cons, todo, eps=cfg.eps, attach_eps=cfg.attach_eps,
                                        margin=cfg.attach_margin, k=cfg.assign_k, limits=limits, members=members)
        if self.pair_lonely:
            joined = self._pair(joined, current, cons, alive, todo)
        self._attached = restored | (todo & (joined != 0))
        return joined

    def _pair(self, result: np.ndarray, current: np.ndarray, cons: clusters.Constraints, alive: np.ndarray,
              todo: np.ndarray) -> np.ndarray:
        """Lone faces among `todo` paired into people (`pairs.pair_lonely`, issue 21): a pair keeps the person
        its two faces share, else gets a new one (negative: `_apply` makes it); a pair one of whose faces the
        user rejected from the other's person is not made, and the other keeps that person."""
        assert self._index is not None
        lonely = alive & (result == 0) & (cons.pinned == 0)
        found = pairs.pair_lonely(lonely, todo, self._index.vectors, cons.photo, alive,
                                  attach_eps=self.cfg.attach_eps, margin=self.cfg.attach_margin)
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

    def _apply(self, conn: sqlite3.Connection, *, snapshot: _Snapshot | None, t0: float) -> ReclusterResult:
        """Writer task: bring the index up to date (install, removals, new faces) and commit the mapping."""
        if snapshot is not None:
            self._install(conn, snapshot)
        assert self._index is not None
        self._forget_pending()
        self._catch_up(conn)
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        means_valid = self._means_rev == rev0
        rows = faces.faces_after(conn, int(self._ids[-1]) if len(self._ids) else 0)
        first_new = len(self._ids) if snapshot is None else 0
        if len(rows.ids):
            self._index.add(rows.vectors, low=self._low(rows))
            self._ids = np.concatenate([self._ids, rows.ids])
            self._photos = np.concatenate([self._photos, rows.photos])
            self._person = np.concatenate([self._person, rows.people])
        n = len(self._ids)
        if self._person_rev != rev0 or len(self._person) != n:
            # Someone else (a CLI correction, a removal) changed people: read every face's person again.
            face_rows = faces.face_people(conn)
            self._person = np.zeros(n, np.int64)
            self._person[np.searchsorted(self._ids, face_rows[:, 0])] = face_rows[:, 1]
        alive = self._index.alive
        current = np.where(alive, self._person, 0)
        labels = self._index.roots()  # sparse ids are fine for the mapping and skip a sort; -1 for dead faces
        pinned = np.zeros(n, np.int64)
        for face_id, person_id in faces.pins(conn):
            pinned[int(np.searchsorted(self._ids, face_id))] = person_id
        rejected: dict[int, set[int]] = {}
        for face_id, person_id in faces.rejections(conn):
            rejected.setdefault(int(np.searchsorted(self._ids, face_id)), set()).add(int(person_id))
        cons = clusters.Constraints(current=current, pinned=pinned, curated=faces.curated_people(conn),
                                    photo=self._photos, rejected=rejected)
        result = clusters.settle(labels, self._index.vectors, cons)
        result[~alive] = 0
        result = self._attach(result, current, cons, alive, first_new)  # new people stay negative until here
        stamp = q.now()
        fresh: dict[int, int] = {}
        for temp in np.unique(result[result < 0]).tolist():
            fresh[temp] = faces.new_person(conn, stamp)
        if fresh:
            lookup = np.vectorize(lambda t: fresh.get(int(t), int(t)), otypes=[np.int64])
            neg = result < 0
            result[neg] = lookup(result[neg])
        changed = np.flatnonzero((result != current) & alive)
        updated, pruned = faces.assign_faces(conn, [(int(f), int(p) if p else None) for p, f in zip(
            result[changed], self._ids[changed], strict=True)])
        empty = sorted(set(fresh.values()) - set(updated))  # none expected: every new person got a face
        if empty:
            more, gone_people = faces.refresh_people(conn, empty)
            updated, pruned = sorted(set(updated) | set(more)), sorted(set(pruned) | set(gone_people))
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        self._person = result
        self._person_rev = rev1
        if means_valid:
            self._patch_means(conn, updated, pruned)
            self._means_rev = rev1
        keep = alive & (result != 0)
        self._member_vecs, self._member_people = self._index.vectors[keep], result[keep].copy()
        self._members_rev = rev1
        outcome = ReclusterResult(
            faces=int(alive.sum()), clusters=int(np.count_nonzero(labels == np.arange(n))),
            people=faces.people_count(conn), assigned=int(((result != 0) & alive).sum()),
            unassigned=int(((result == 0) & alive).sum()), new_people=len(set(fresh.values()) - set(pruned)),
            pruned_people=len(set(pruned) - set(fresh.values())), changed_faces=len(changed),
            full=snapshot is not None, ms=round((time.perf_counter() - t0) * 1000, 1))
        faces.record_recluster(conn, stamp, json.dumps(asdict(outcome)))
        return outcome


def recluster_now(store: Store, cfg: ClusteringConfig) -> ReclusterResult:
    """`pictod recluster`: a full recluster from the database."""
    return PeopleManager(store, cfg).recluster(full=True)
