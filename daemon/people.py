"""The people manager: places new faces on people, reclusters, keeps people ids stable, prunes empty people.

The maths is in `daemon/clusters.py`; this module owns the state around it: the in-memory density index
(exact incremental DBSCAN over all faces: insertions and deletions touch only the affected clusters), the cache
of people means used for placing new faces, the recluster counter and coalescing, and persistence through the
store's single writer. User corrections are in `daemon/corrections.py`, library reads in `daemon/library.py`.

Face -> person links change in three ways only: a new face is placed on the nearest person mean within eps;
a recluster maps DBSCAN clusters onto people (`clusters.map_clusters`: stable ids, curated people anchored,
rejections and one face per photo enforced); the user corrects (`daemon/corrections.py`), recorded in the
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
from numpy.typing import NDArray

from daemon import clusters
from daemon.config import ClusteringConfig
from daemon.store import AddResult, RemoveResult, Store, faces
from daemon.store import base as q

log = structlog.get_logger()
I64 = NDArray[np.int64]


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


class PeopleManager:
    """Places faces on people and reclusters; thread-safe, one per store."""

    def __init__(self, store: Store, cfg: ClusteringConfig) -> None:
        self.store = store
        self.cfg = cfg
        self._lock = threading.Lock()  # counters and tickets
        self._recluster_lock = threading.Lock()  # one recluster at a time
        self._added = 0
        self._requested = 0
        self._completed = 0
        self._last: ReclusterResult | None = None
        # Density index over every face, aligned with _ids (ascending face ids). Touched only while holding
        # _recluster_lock, and inside writer tasks submitted by the holder.
        self._index: clusters.DensityIndex | None = None
        self._ids = np.zeros(0, np.int64)
        self._photos = np.zeros(0, np.int64)
        self._removed_rev = -1
        # Person per indexed face as last written, valid while PEOPLE_REV equals _person_rev (else re-read).
        self._person = np.zeros(0, np.int64)
        self._person_rev = -1
        self._state = threading.Lock()  # guards swapping the arrays above between recluster and writer threads
        # Means cache for placing new faces; touched only on the writer thread.
        self._means_rev = -1
        self._mean_ids = np.zeros(0, np.int64)
        self._means = np.zeros((0, 0), np.float32)
        self.clustering_seconds = 0.0  # time spent placing faces and reclustering (bench/clusters.py reads it)
        self.runs = 0  # reclusters actually run (coalesced calls do not count)

    # ------------------------------------------------------------------------------------------- placing

    def on_photo_added(self, result: AddResult) -> list[tuple[int, int | None]]:
        """Place a new photo's faces on the nearest person means; return (face_id, person_id or None)."""
        if result.removed is not None:
            self.on_removed(result.removed)
        if not result.created:
            return []
        with self._lock:
            self._added += 1
        if not result.new_faces:
            return []
        t0 = time.perf_counter()
        with clusters.one_blas_thread():
            placed = self.store.write(lambda conn: self._place(conn, result))
        self.clustering_seconds += time.perf_counter() - t0
        return placed

    def _load_means(self, conn: sqlite3.Connection) -> None:
        rows = faces.means(conn)
        self._mean_ids = np.array([r[0] for r in rows], np.int64)
        self._means = clusters.normalise(np.stack([q.vec(r[1]) for r in rows])) if rows else \
            np.zeros((0, 0), np.float32)

    def _place(self, conn: sqlite3.Connection, result: AddResult) -> list[tuple[int, int | None]]:
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        if rev0 != self._means_rev:
            self._load_means(conn)
        # A recluster may have run since the photo was stored: faces it placed stay, and their people are
        # taken for the others (one face per photo per person). Faces already deleted are skipped.
        now = faces.photo_face_people(conn, result.photo_id)
        unplaced = [f for f in result.new_faces if f.id in now and now[f.id] is None]
        placed: dict[int, int | None] = {f: now.get(f) for f in result.face_ids}
        if unplaced and len(self._mean_ids):
            taken = {p for p in now.values() if p is not None}
            forbidden = {int(i) for i in np.flatnonzero(np.isin(self._mean_ids, list(taken)))}
            rows = clusters.assign_nearest(np.stack([f.embedding for f in unplaced]), self._means, self.cfg.eps,
                                           [forbidden] * len(unplaced), means_normalised=True)
            moves: list[tuple[int, int]] = []
            for face, row in zip(unplaced, rows, strict=True):
                if row is None:
                    continue
                person = int(self._mean_ids[row])
                placed[face.id] = person
                moves.append((face.id, person))
            if moves:
                # O(1) queries: the people's stored embedding sums move, their faces are not re-read.
                self._patch_means(conn, *faces.assign_faces(conn, moves))
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        self._means_rev = rev1
        with self._state:
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

    def on_removed(self, result: RemoveResult) -> None:
        """The store already fixed means and pruned people; the index notices the deletion on its next sync."""
        if result.faces_removed:
            log.debug("people_faces_removed", faces=result.faces_removed, pruned=len(result.people_pruned))

    # ------------------------------------------------------------------------------------------- reclustering

    def recluster_due(self) -> bool:
        """True once `recluster_every` photos were added since the last recluster started."""
        with self._lock:
            return self._added >= max(1, self.cfg.recluster_every)

    def recluster(self, *, full: bool = False) -> ReclusterResult:
        """DBSCAN over all faces mapped onto stable people; calls arriving during a run are coalesced into one."""
        with self._lock:
            self._requested += 1
            ticket = self._requested
        with self._recluster_lock:
            if self._completed >= ticket and self._last is not None and not full:
                return self._last  # a run that started after this request already covered it
            with self._lock:
                covers = self._requested
                self._added = 0
            t0 = time.perf_counter()
            self.runs += 1
            result = self._recluster(full, t0)
            self.clustering_seconds += time.perf_counter() - t0
            self._completed = covers
            self._last = result
            log.info("people_reclustered", **asdict(result))
            return result

    def _rebuild(self) -> None:
        rows, rev = self.store.read(lambda c: (faces.faces_after(c, 0), q.get_int(c, q.FACES_REMOVED_REV)))
        index = clusters.DensityIndex.build(rows.vectors, self.cfg.eps, self.cfg.min_samples)
        with self._state:
            self._ids, self._photos, self._index = rows.ids, rows.photos, index
            self._person = np.zeros(len(rows.ids), np.int64)
            self._person_rev = -1
            self._removed_rev = rev

    def _sync_removed(self) -> None:
        """Drop deleted faces from the index in place (exact: only the clusters they touched are re-linked)."""
        assert self._index is not None

        def current(conn: sqlite3.Connection) -> tuple[I64, int]:
            return faces.face_ids(conn, int(self._ids[-1]) if len(self._ids) else 0), \
                q.get_int(conn, q.FACES_REMOVED_REV)

        ids, rev = self.store.read(current)
        gone = np.flatnonzero(~np.isin(self._ids, ids) & self._index.alive)
        self._index.remove(gone)
        with self._state:
            self._person[gone] = 0
            self._removed_rev = rev

    def _recluster(self, full: bool, t0: float) -> ReclusterResult:
        rebuild = full or self._index is None
        if not rebuild and self.store.read(lambda c: q.get_int(c, q.FACES_REMOVED_REV)) != self._removed_rev:
            with clusters.one_blas_thread():
                self._sync_removed()
        if rebuild:
            self._rebuild()  # the full pass is one big product per block: all BLAS threads help there
        with clusters.one_blas_thread():
            return self.store.write(functools.partial(self._apply, full=rebuild, t0=t0))

    def _drop_deleted(self, conn: sqlite3.Connection) -> NDArray[np.bool_]:
        """Faces deleted since the index was synced (a removal raced the rebuild): drop them from the index in
        place (exact) and leave them out of this mapping. Returns a gone mask."""
        assert self._index is not None
        gone = np.zeros(len(self._ids), bool)
        rev = q.get_int(conn, q.FACES_REMOVED_REV)
        if rev == self._removed_rev:
            return gone
        last = int(self._ids[-1]) if len(self._ids) else 0
        ids = faces.face_ids(conn, last)
        gone = ~np.isin(self._ids, ids) & self._index.alive
        with self._state:
            self._index.remove(np.flatnonzero(gone))
            self._removed_rev = rev
            self._person[gone] = 0
        return gone

    def _apply(self, conn: sqlite3.Connection, *, full: bool, t0: float) -> ReclusterResult:
        assert self._index is not None
        gone = self._drop_deleted(conn)
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        means_valid = self._means_rev == rev0
        last = int(self._ids[-1]) if len(self._ids) else 0
        rows = faces.faces_after(conn, last)
        with self._state:
            if len(rows.ids):
                self._index.add(rows.vectors)
                self._ids = np.concatenate([self._ids, rows.ids])
                self._photos = np.concatenate([self._photos, rows.photos])
                self._person = np.concatenate([self._person, rows.people])
            n = len(self._ids)
            if self._person_rev != rev0 or len(self._person) != n:
                # Someone else (a CLI correction, a removal) changed people: read every face's person again.
                face_rows = faces.face_people(conn)
                self._person = np.zeros(n, np.int64)
                self._person[np.searchsorted(self._ids, face_rows[:, 0])] = face_rows[:, 1]
            current = self._person.copy()
        labels = self._index.roots()  # sparse ids are fine for the mapping and skip a sort
        if len(gone) < n:
            gone = np.concatenate([gone, np.zeros(n - len(gone), bool)])
        labels[gone] = -1
        current[gone] = 0
        pinned = np.zeros(n, np.int64)
        for face_id, person_id in faces.pins(conn):
            pinned[int(np.searchsorted(self._ids, face_id))] = person_id
        rejected: dict[int, set[int]] = {}
        for face_id, person_id in faces.rejections(conn):
            rejected.setdefault(int(np.searchsorted(self._ids, face_id)), set()).add(int(person_id))
        curated = faces.curated_people(conn)
        cons = clusters.Constraints(current=current, pinned=pinned, curated=curated, photo=self._photos,
                                    rejected=rejected)
        result = clusters.settle(labels, self._index.vectors, cons)
        stamp = q.now()
        fresh: dict[int, int] = {}
        for temp in np.unique(result[result < 0]).tolist():
            fresh[temp] = faces.new_person(conn, stamp)
        if fresh:
            lookup = np.vectorize(lambda t: fresh.get(int(t), int(t)), otypes=[np.int64])
            neg = result < 0
            result[neg] = lookup(result[neg])
        alive = self._index.alive & ~gone
        result[~alive] = 0
        changed = np.flatnonzero((result != current) & alive)
        updated, pruned = faces.assign_faces(conn, [(int(f), int(p) if p else None) for p, f in zip(
            result[changed], self._ids[changed], strict=True)])
        empty = sorted(set(fresh.values()) - set(updated))  # none expected: every new person got a face
        if empty:
            more, gone_people = faces.refresh_people(conn, empty)
            updated, pruned = sorted(set(updated) | set(more)), sorted(set(pruned) | set(gone_people))
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        with self._state:
            self._person = result
            self._person_rev = rev1
        if means_valid:
            self._patch_means(conn, updated, pruned)
            self._means_rev = rev1
        people = faces.people_count(conn)
        outcome = ReclusterResult(
            faces=int(alive.sum()), clusters=int(np.count_nonzero(labels == np.arange(n))), people=int(people),
            assigned=int(((result != 0) & alive).sum()), unassigned=int(((result == 0) & alive).sum()),
            new_people=len(set(fresh.values()) - set(pruned)), pruned_people=len(set(pruned) - set(fresh.values())),
            changed_faces=len(changed), full=full, ms=round((time.perf_counter() - t0) * 1000, 1))
        faces.record_recluster(conn, stamp, json.dumps(asdict(outcome)))
        return outcome


def recluster_now(store: Store, cfg: ClusteringConfig) -> ReclusterResult:
    """`pictod recluster`: a full recluster from the database."""
    return PeopleManager(store, cfg).recluster(full=True)


