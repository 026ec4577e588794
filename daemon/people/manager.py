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
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import structlog

from daemon.config import ClusteringConfig
from daemon.people import clusters, pairs
from daemon.store import AddResult, RemoveResult, Store, faces
from daemon.store import base as q
from daemon.store import recluster as mapping

log = structlog.get_logger()

# A recluster writes its mapping in chunks of about CHUNK_FACES faces, one writer transaction each (~25 ms at 100k
# faces, bench/click_latency.py), and leaves the writer free CHUNK_PAUSE seconds between two: photo records queue
# on the writer meanwhile, and another process's click (the CLI, the web app) gets in, its busy handler polling
# every few ms at first. What a correction or a deletion seen by a chunk leaves undecided is planned again once
# the chunks are written, at most MAX_RESTARTS times.
CHUNK_FACES = 1000
CHUNK_PAUSE = 0.05
MAX_RESTARTS = 3


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
    """A density index built off the writer from one read snapshot, waiting to be installed by `_install`."""

    rows: faces.FaceRows
    removed_rev: int
    index: clusters.DensityIndex
    drifted: list[tuple[int, str | None]]
    unknown: list[int]


@dataclass
class _Plan:
    """A recluster's mapping, computed off the writer from one read snapshot, written by `_chunk`s."""

    result: np.ndarray  # person per indexed face: 0 none, negative a person to make (one per number)
    current: np.ndarray  # person per indexed face in the snapshot (0: none, or deleted)
    alive: np.ndarray
    clusters: int
    mark: tuple[int, int]  # mapping.corrections_mark in the snapshot
    removed_rev: int  # FACES_REMOVED_REV in the snapshot
    people_rev: int
    counter: int  # photos_since_recluster in the snapshot


@dataclass
class _Run:
    """What the chunks of one recluster did so far, across its plans."""

    counter: int  # photos_since_recluster as the first plan read it: the photos whose faces this run clusters
    people_rev: int  # PEOPLE_REV as this run's last chunk left it
    clean: bool = True  # nobody else changed people since the first plan
    restarts: int = 0
    changed: int = 0
    skipped: int = 0  # moves left out because someone else's change made them wrong
    fresh: dict[int, int] = field(default_factory=dict)  # the current plan's people to make -> the ones made
    created: set[int] = field(default_factory=set)
    pruned: set[int] = field(default_factory=set)


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
    - the store's single writer thread runs `_place` and a recluster's `_chunk`s one at a time, so the means
      and members caches need no lock: they are only touched inside writer tasks.
    A recluster plans off the writer (`_plan`, from one read snapshot) and writes its plan in chunks that give
    the writer back between them (`_write_plan`); a chunk re-validates against what changed since the snapshot.
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
        self.chunk_faces, self.chunk_pause = CHUNK_FACES, CHUNK_PAUSE
        self.between_chunks: Callable[[], None] | None = None  # called on the recluster's thread, writer free

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
        """Read part of a plan: removals nobody reported (a file failed or was moved over another, another process)
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
        """Plan off the writer, write the plan in chunks that give the writer back between them, plan again what
        a deletion or a user's correction made meanwhile left undecided (at most MAX_RESTARTS times), record."""
        snapshot = None
        if full or self._index is None:
            snapshot = self._snapshot()  # the full pass is one big product per block: all BLAS threads help there
        with clusters.one_blas_thread():
            if snapshot is not None:
                self._install(snapshot)
            self._forget_pending()
            first_new = len(self._ids) if snapshot is None else 0
            attached = self._attached
            plan = self._plan(first_new, attached, grow=True)
            run = _Run(counter=plan.counter, people_rev=plan.people_rev)
            while not (finished := self._write_plan(plan, run)) and run.restarts < MAX_RESTARTS:
                # From the library as it is now: the bulk is written, what is left is small.
                run.restarts += 1
                log.info("people_recluster_restarted", restarts=run.restarts, changed_faces=run.changed)
                self._forget_pending()
                plan = self._plan(first_new, attached, grow=False)
                run.clean &= plan.people_rev == run.people_rev
            if not finished:
                log.warning("people_recluster_unfinished", restarts=run.restarts, changed_faces=run.changed,
                            hint="corrections or deletions kept coming in; the next recluster finishes the mapping")
            return self.store.write(functools.partial(self._finish, plan=plan, run=run, full=snapshot is not None,
                                                      finished=finished, t0=t0))

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

    def _install(self, snap: _Snapshot) -> None:
        """The snapshot's index replaces the old one (holder of _recluster_lock); drifted people sums are repaired
        from their faces as they are then, a bounded number of people per writer task."""
        self._index, self._ids, self._photos = snap.index, snap.rows.ids, snap.rows.photos
        self._removed_rev, self._reported = snap.removed_rev, set()
        self._attached = np.zeros(len(snap.rows.ids), bool)
        for person_id, name in snap.drifted:
            log.warning("people_sum_repaired", person=person_id, name=name,
                        hint="the stored embedding sum or counts of this person did not match its faces")
        repair = [p for p, _name in snap.drifted] + snap.unknown
        for part in q.chunks(repair, self.chunk_faces // 10 or 1):
            self.store.write(functools.partial(self._repair, people=list(part)))

    def _repair(self, conn: sqlite3.Connection, *, people: list[int]) -> None:
        """Writer task: recompute these people from their faces; the caches that hold them are read again."""
        faces.refresh_people(conn, people)
        self._means_rev = self._members_rev = -1


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
            joined = pairs.people_from_pairs(joined, current, cons, alive, todo, self._index.vectors,
                                             attach_eps=self.cfg.attach_eps, margin=self.cfg.attach_margin)
        self._attached = restored | (todo & (joined != 0))
        return joined

    def _plan(self, first_new: int, attached: np.ndarray, *, grow: bool) -> _Plan:
        """The mapping, computed off the writer from one read snapshot of the faces' people and the corrections
        (with `grow`, the faces added since the index was built join it first): settle, then attach the faces
        left alone. People to make are negative numbers until a chunk makes them."""
        assert self._index is not None
        last = int(self._ids[-1]) if len(self._ids) else 0

        def read(conn: sqlite3.Connection) -> tuple[Any, ...]:
            self._catch_up(conn)
            return (faces.faces_after(conn, last) if grow else None, faces.face_people(conn), faces.pins(conn),
                    faces.rejections(conn), faces.curated_people(conn), mapping.corrections_mark(conn),
                    q.get_int(conn, q.PEOPLE_REV), q.get_int(conn, q.PHOTOS_SINCE_RECLUSTER))

        rows, people, pins, rejections, curated, mark, people_rev, counter = self.store.read(read)
        if rows is not None and len(rows.ids):
            self._index.add(rows.vectors, low=self._low(rows))
            self._ids = np.concatenate([self._ids, rows.ids])
            self._photos = np.concatenate([self._photos, rows.photos])
        n = len(self._ids)
        alive = self._index.alive
        current = np.zeros(n, np.int64)
        at = np.searchsorted(self._ids, people[:, 0])
        indexed = at < n  # faces added since the index grew last are placed, not clustered, by this run
        current[at[indexed]] = people[indexed, 1]
        current[~alive] = 0
        pinned = np.zeros(n, np.int64)
        for face_id, person_id in pins:  # oldest first: a later pin wins
            if (pos := self._position(face_id)) is not None:
                pinned[pos] = person_id
        rejected: dict[int, set[int]] = {}
        for face_id, person_id in rejections:
            if (pos := self._position(face_id)) is not None:
                rejected.setdefault(pos, set()).add(int(person_id))
        cons = clusters.Constraints(current=current, pinned=pinned, curated=curated, photo=self._photos,
                                    rejected=rejected)
        labels = self._index.roots()  # sparse ids are fine for the mapping and skip a sort; -1 for dead faces
        result = clusters.settle(labels, self._index.vectors, cons)
        result[~alive] = 0
        self._attached = attached
        result = self._attach(result, current, cons, alive, first_new)
        return _Plan(result=result, current=current, alive=alive,
                     clusters=int(np.count_nonzero(labels == np.arange(n))), mark=mark,
                     removed_rev=self._removed_rev, people_rev=people_rev, counter=counter)

    def _position(self, face_id: int) -> int | None:
        """Where this face is in the index (None: not in it)."""
        at = int(np.searchsorted(self._ids, face_id))
        return at if at < len(self._ids) and self._ids[at] == face_id else None

    def _write_plan(self, plan: _Plan, run: _Run) -> bool:
        """Write the plan's changes in chunks of about `chunk_faces` faces (a photo's faces in one chunk), one
        writer task each, the writer free for `chunk_pause` between two (another process's click gets in: its
        busy handler polls). False when a chunk saw a deletion made since the plan's snapshot or left a move to
        a correction made since (the plan is then made again once its chunks are written)."""
        changed = np.flatnonzero((plan.result != plan.current) & plan.alive)
        order = changed[np.argsort(self._photos[changed], kind="stable")]
        photos = self._photos[order]
        run.fresh = {}
        start, stale = 0, False
        while start < len(order):
            stop = min(start + max(1, self.chunk_faces), len(order))
            while stop < len(order) and photos[stop] == photos[stop - 1]:
                stop += 1
            part = order[start:stop]
            moves = list(zip(self._ids[part].tolist(), plan.result[part].tolist(), plan.current[part].tolist(),
                             strict=True))
            if start:
                if self.between_chunks is not None:
                    self.between_chunks()
                time.sleep(self.chunk_pause)
            stale |= not self.store.write(functools.partial(self._chunk, moves=moves, plan=plan, run=run))
            start = stop
        return not stale

    def _chunk(self, conn: sqlite3.Connection, *, moves: list[tuple[int, int, int]], plan: _Plan, run: _Run) -> bool:
        """Writer task: one chunk of a plan; False if a deletion came in since its snapshot, or a correction
        made since names one of its moves.

        A move someone else's change made wrong is left out (`mapping.recluster_moves`: the face moved meanwhile,
        its person gone, another face of its photo now there), and so is every move of a face a correction
        made since names or out of a person one names (pinned, named, merged: never emptied behind the user's
        back); the plan made again afterwards decides them. A person the plan makes is made by the first chunk
        that gives it a face, so no person is ever left empty."""
        total = len(moves)
        if mapping.corrections_mark(conn) != plan.mark:
            touched, curated = mapping.corrected_since(conn, plan.mark[0])
            moves = [m for m in moves if m[0] not in touched and m[2] not in curated]
        fresh_plan = len(moves) == total and q.get_int(conn, q.FACES_REMOVED_REV) == plan.removed_rev
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        run.clean &= rev0 == run.people_rev
        valid = mapping.recluster_moves(conn, moves)
        run.skipped += total - len(valid)
        stamp = q.now()
        made = [temp for temp in sorted({to for _f, to in valid if to < 0}) if temp not in run.fresh]
        for temp in made:
            run.fresh[temp] = faces.new_person(conn, stamp)
        changes = [(f, run.fresh[to] if to < 0 else (to or None)) for f, to in valid]
        updated, pruned = faces.assign_faces(conn, changes)  # it marks the sidecars whose names change
        empty = sorted({run.fresh[t] for t in made} - set(updated))  # none expected: every new person got a face
        if empty:
            more, gone = faces.refresh_people(conn, empty)
            updated, pruned = sorted(set(updated) | set(more)), sorted(set(pruned) | set(gone))
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        if self._means_rev == rev0:
            self._patch_means(conn, updated, pruned)
            self._means_rev = rev1
        self._members_rev = -1  # set again by _finish when the run's result is what the library holds
        run.people_rev = rev1
        run.changed += len(changes)
        run.created |= {run.fresh[t] for t in made}
        run.pruned |= set(pruned)
        return fresh_plan

    def _finish(self, conn: sqlite3.Connection, *, plan: _Plan, run: _Run, full: bool, finished: bool,
                t0: float) -> ReclusterResult:
        """Writer task: the run's outcome. A finished run takes the photos it clustered off the counter, and when
        nobody else changed people meanwhile its result becomes the members cache (no reload on the next place)."""
        assert self._index is not None
        alive = plan.alive
        rev = q.get_int(conn, q.PEOPLE_REV)
        if finished and run.clean and not run.skipped and rev == run.people_rev:
            final = plan.result.copy()
            fresh = final < 0
            final[fresh] = [run.fresh[int(t)] for t in final[fresh]]
            keep = alive & (final != 0)
            self._member_vecs, self._member_people = self._index.vectors[keep], final[keep]
            self._members_rev = rev
        outcome = ReclusterResult(
            faces=int(alive.sum()), clusters=plan.clusters, people=faces.people_count(conn),
            assigned=int(((plan.result != 0) & alive).sum()), unassigned=int(((plan.result == 0) & alive).sum()),
            new_people=len(run.created - run.pruned), pruned_people=len(run.pruned - run.created),
            changed_faces=run.changed, full=full, ms=round((time.perf_counter() - t0) * 1000, 1))
        if finished:
            mapping.record_recluster(conn, q.now(), json.dumps(asdict(outcome)), run.counter)
        return outcome


def recluster_now(store: Store, cfg: ClusteringConfig) -> ReclusterResult:
    """`pictod recluster`: a full recluster from the database."""
    return PeopleManager(store, cfg).recluster(full=True)
