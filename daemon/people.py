"""The people manager: places new faces, reclusters, keeps people stable, applies the user's corrections.

The maths is in `daemon/clusters.py`; this module owns the state around it: the in-memory density index
(exact incremental DBSCAN over all faces: insertions and deletions touch only the affected clusters), the cache
of people means used for placing new faces, the recluster counter and coalescing, and persistence through the
store's single writer. It also holds the functions the CLI calls (`list_people`, `name_person`, ...).

Face -> person links change in three ways only: a new face is placed on the nearest person mean within eps;
a recluster maps DBSCAN clusters onto people (`clusters.map_clusters`: stable ids, curated people anchored,
rejections and one face per photo enforced); the user corrects (name, merge, move, reject), recorded in the
`corrections` table so every later recluster honours them.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import structlog
from numpy.typing import NDArray

from daemon import clusters
from daemon.config import AnalysisConfig, ClusteringConfig
from daemon.errors import NotFoundError, PictodError
from daemon.store import AddResult, RemoveResult, Store
from daemon.store import queries as q

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
        rows = conn.execute("SELECT id, mean FROM people WHERE mean IS NOT NULL ORDER BY id").fetchall()
        self._mean_ids = np.array([r[0] for r in rows], np.int64)
        self._means = clusters.normalise(np.stack([q.vec(r[1]) for r in rows])) if rows else \
            np.zeros((0, 0), np.float32)

    def _place(self, conn: sqlite3.Connection, result: AddResult) -> list[tuple[int, int | None]]:
        rev0 = q.get_int(conn, q.PEOPLE_REV)
        if rev0 != self._means_rev:
            self._load_means(conn)
        # A recluster may have run since the photo was stored: faces it placed stay, and their people are
        # taken for the others (one face per photo per person). Faces already deleted are skipped.
        now: dict[int, int | None] = dict(conn.execute("SELECT id, person_id FROM faces WHERE photo_id = ?",
                                                        (result.photo_id,)).fetchall())
        faces = [f for f in result.new_faces if f.id in now and now[f.id] is None]
        placed: dict[int, int | None] = {f: now.get(f) for f in result.face_ids}
        if faces and len(self._mean_ids):
            taken = {p for p in now.values() if p is not None}
            forbidden = {int(i) for i in np.flatnonzero(np.isin(self._mean_ids, list(taken)))}
            rows = clusters.assign_nearest(np.stack([f.embedding for f in faces]), self._means, self.cfg.eps,
                                           [forbidden] * len(faces), means_normalised=True)
            moves: list[tuple[int, int]] = []
            for face, row in zip(faces, rows, strict=True):
                if row is None:
                    continue
                person = int(self._mean_ids[row])
                placed[face.id] = person
                moves.append((face.id, person))
            if moves:
                # O(1) queries: the people's stored embedding sums move, their faces are not re-read.
                self._patch_means(conn, *q.assign_faces(conn, moves))
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
        for start in range(0, len(updated), 500):
            chunk = updated[start:start + 500]
            for person_id, mean in conn.execute(
                    f"SELECT id, mean FROM people WHERE id IN ({','.join('?' * len(chunk))})", chunk):
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

    def added_since_recluster(self) -> int:
        """Photos added since the last recluster started."""
        with self._lock:
            return self._added

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
        def snapshot(conn: sqlite3.Connection) -> tuple[list[tuple[int, int, bytes]], int]:
            rows = conn.execute("SELECT id, photo_id, embedding FROM faces ORDER BY id").fetchall()
            return rows, q.get_int(conn, q.FACES_REMOVED_REV)

        rows, rev = self.store.read(snapshot)
        ids = np.array([r[0] for r in rows], np.int64)
        photos = np.array([r[1] for r in rows], np.int64)
        vectors = np.stack([q.vec(r[2]) for r in rows]) if rows else np.zeros((0, 128), np.float32)
        del rows
        index = clusters.DensityIndex.build(vectors, self.cfg.eps, self.cfg.min_samples)
        with self._state:
            self._ids, self._photos, self._index = ids, photos, index
            self._person = np.zeros(len(ids), np.int64)
            self._person_rev = -1
            self._removed_rev = rev

    def _sync_removed(self) -> None:
        """Drop deleted faces from the index in place (exact: only the clusters they touched are re-linked)."""
        assert self._index is not None

        def current(conn: sqlite3.Connection) -> tuple[I64, int]:
            ids = np.array([r[0] for r in conn.execute("SELECT id FROM faces ORDER BY id")], np.int64)
            return ids, q.get_int(conn, q.FACES_REMOVED_REV)

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
        ids = np.array([r[0] for r in conn.execute("SELECT id FROM faces WHERE id <= ? ORDER BY id", (last,))],
                       np.int64)
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
        rows = conn.execute("SELECT id, photo_id, embedding, coalesce(person_id, 0) FROM faces WHERE id > ? "
                            "ORDER BY id", (last,)).fetchall()
        with self._state:
            if rows:
                self._index.add(np.stack([q.vec(r[2]) for r in rows]))
                self._ids = np.concatenate([self._ids, np.array([r[0] for r in rows], np.int64)])
                self._photos = np.concatenate([self._photos, np.array([r[1] for r in rows], np.int64)])
                self._person = np.concatenate([self._person, np.array([r[3] for r in rows], np.int64)])
            n = len(self._ids)
            if self._person_rev != rev0 or len(self._person) != n:
                # Someone else (a CLI correction, a removal) changed people: read every face's person again.
                face_rows = np.array(conn.execute("SELECT id, coalesce(person_id, 0) FROM faces").fetchall(),
                                     np.int64).reshape(-1, 2)
                self._person = np.zeros(n, np.int64)
                self._person[np.searchsorted(self._ids, face_rows[:, 0])] = face_rows[:, 1]
            current = self._person.copy()
        labels = self._index.roots()  # sparse ids are fine for the mapping and skip a sort
        if len(gone) < n:
            gone = np.concatenate([gone, np.zeros(n - len(gone), bool)])
        labels[gone] = -1
        current[gone] = 0
        pinned = np.zeros(n, np.int64)
        for face_id, person_id in conn.execute(
                "SELECT face_id, person_id FROM corrections WHERE kind = 'assign' ORDER BY id"):
            pinned[int(np.searchsorted(self._ids, face_id))] = person_id
        rejected: dict[int, set[int]] = {}
        for face_id, person_id in conn.execute("SELECT face_id, person_id FROM corrections WHERE kind = 'reject'"):
            rejected.setdefault(int(np.searchsorted(self._ids, face_id)), set()).add(int(person_id))
        curated = np.array([r[0] for r in conn.execute("SELECT id FROM people WHERE curated = 1 ORDER BY id")],
                           np.int64)
        cons = clusters.Constraints(current=current, pinned=pinned, curated=curated, photo=self._photos,
                                    rejected=rejected)
        result = clusters.settle(labels, self._index.vectors, cons)
        stamp = q.now()
        fresh: dict[int, int] = {}
        for temp in np.unique(result[result < 0]).tolist():
            cursor = conn.execute("INSERT INTO people (created_at, updated_at) VALUES (?, ?)", (stamp, stamp))
            fresh[temp] = int(cursor.lastrowid or 0)
        if fresh:
            lookup = np.vectorize(lambda t: fresh.get(int(t), int(t)), otypes=[np.int64])
            neg = result < 0
            result[neg] = lookup(result[neg])
        alive = self._index.alive & ~gone
        result[~alive] = 0
        changed = np.flatnonzero((result != current) & alive)
        updated, pruned = q.assign_faces(conn, [(int(f), int(p) if p else None) for p, f in zip(
            result[changed], self._ids[changed], strict=True)])
        empty = sorted(set(fresh.values()) - set(updated))  # none expected: every new person got a face
        if empty:
            more, gone_people = q.refresh_people(conn, empty)
            updated, pruned = sorted(set(updated) | set(more)), sorted(set(pruned) | set(gone_people))
        rev1 = q.get_int(conn, q.PEOPLE_REV)
        with self._state:
            self._person = result
            self._person_rev = rev1
        if means_valid:
            self._patch_means(conn, updated, pruned)
            self._means_rev = rev1
        people = conn.execute("SELECT count(*) FROM people").fetchone()[0]
        outcome = ReclusterResult(
            faces=int(alive.sum()), clusters=int(np.count_nonzero(labels == np.arange(n))), people=int(people),
            assigned=int(((result != 0) & alive).sum()), unassigned=int(((result == 0) & alive).sum()),
            new_people=len(set(fresh.values()) - set(pruned)), pruned_people=len(set(pruned) - set(fresh.values())),
            changed_faces=len(changed), full=full, ms=round((time.perf_counter() - t0) * 1000, 1))
        q.set_state(conn, q.LAST_RECLUSTER, stamp)
        q.set_state(conn, q.LAST_RECLUSTER_STATS, json.dumps(asdict(outcome)))
        q.set_state(conn, q.PHOTOS_SINCE_RECLUSTER, "0")
        return outcome


# ----------------------------------------------------------------------------------------------- CLI support


@dataclass(frozen=True)
class PersonSummary:
    """One line of `pictod people`."""

    id: int
    name: str | None
    faces: int
    photos: int


@dataclass(frozen=True)
class FaceInfo:
    """One face of a person, with a path to see it."""

    id: int
    photo_id: int
    path: str | None  # one file showing the photo (None if none is known)
    box: tuple[float, float, float, float]
    score: float
    pinned: bool


@dataclass(frozen=True)
class PersonDetail:
    """`pictod people show ID`."""

    id: int
    name: str | None
    faces: int
    photos: int
    face_list: list[FaceInfo] = field(default_factory=list)


def _person(conn: sqlite3.Connection, person_id: int) -> PersonSummary:
    row = conn.execute("SELECT id, name, face_count, photo_count FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no person with id {person_id} (see `pictod people`)")
    return PersonSummary(id=row[0], name=row[1], faces=row[2], photos=row[3])


def _face_person(conn: sqlite3.Connection, face_id: int) -> tuple[int, int | None]:
    row = conn.execute("SELECT photo_id, person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no face with id {face_id} (see `pictod people show ID`)")
    return int(row[0]), (None if row[1] is None else int(row[1]))


def list_people(store: Store) -> list[PersonSummary]:
    """Every person: id, name, faces, photos (most faces first)."""
    rows = store.read(lambda c: c.execute(
        "SELECT id, name, face_count, photo_count FROM people ORDER BY face_count DESC, id").fetchall())
    return [PersonSummary(id=r[0], name=r[1], faces=r[2], photos=r[3]) for r in rows]


def person_detail(store: Store, person_id: int) -> PersonDetail:
    """One person with each face, its photo path and box."""
    def read(conn: sqlite3.Connection) -> PersonDetail:
        person = _person(conn, person_id)
        pins = {r[0] for r in conn.execute(
            "SELECT face_id FROM corrections WHERE kind = 'assign' AND person_id = ?", (person_id,))}
        faces = []
        for fid, photo_id, x1, y1, x2, y2, score, path in conn.execute(
                "SELECT f.id, f.photo_id, f.x1, f.y1, f.x2, f.y2, f.score, "
                "(SELECT path FROM files WHERE photo_id = f.photo_id ORDER BY path LIMIT 1) "
                "FROM faces f WHERE f.person_id = ? ORDER BY f.id", (person_id,)):
            faces.append(FaceInfo(id=fid, photo_id=photo_id, path=None if path is None else q.dec(path),
                                  box=(x1, y1, x2, y2), score=score, pinned=fid in pins))
        return PersonDetail(id=person.id, name=person.name, faces=person.faces, photos=person.photos,
                            face_list=faces)
    return store.read(read)


def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary:
    """Name (or with None, unname) a person; a named person is kept whole by every recluster."""
    clean = " ".join(name.split()) if name is not None else None

    def task(conn: sqlite3.Connection) -> PersonSummary:
        _person(conn, person_id)
        conn.execute("UPDATE people SET name = ?, curated = 1, updated_at = ? WHERE id = ?",
                     (clean or None, q.now(), person_id))
        conn.execute("INSERT INTO corrections (kind, person_id, name, created_at) VALUES ('name', ?, ?, ?)",
                     (person_id, clean or None, q.now()))
        q.bump(conn, q.PEOPLE_REV)
        return _person(conn, person_id)
    return store.write(task)


def merge_people(store: Store, keep: int, other: int) -> PersonSummary:
    """Move every face of `other` to `keep` and delete `other`; recorded so reclusters keep them together."""
    def task(conn: sqlite3.Connection) -> PersonSummary:
        kept, gone = _person(conn, keep), _person(conn, other)
        if keep == other:
            return kept
        # One face per photo: where both have a face of one photo, the kept person's face stays.
        clash = [r[0] for r in conn.execute(
            "SELECT id FROM faces WHERE person_id = ? AND photo_id IN (SELECT photo_id FROM faces WHERE person_id = ?)",
            (other, keep))]
        for face_id in clash:
            conn.execute("UPDATE faces SET person_id = NULL WHERE id = ?", (face_id,))
            conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (face_id,))
        conn.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (keep, other))
        conn.execute("UPDATE corrections SET person_id = ? WHERE person_id = ? AND kind IN ('assign', 'reject')",
                     (keep, other))
        # "Not other" now means "not keep"; a pin to either wins over a rejection of the same face.
        conn.execute("DELETE FROM corrections WHERE kind = 'reject' AND person_id = ? AND face_id IN "
                     "(SELECT face_id FROM corrections WHERE kind = 'assign' AND person_id = ?)", (keep, keep))
        conn.execute("UPDATE faces SET person_id = NULL WHERE person_id = ? AND id IN "
                     "(SELECT face_id FROM corrections WHERE kind = 'reject' AND person_id = ?)", (keep, keep))
        name = kept.name if kept.name is not None else gone.name
        conn.execute("UPDATE people SET name = ?, curated = 1 WHERE id = ?", (name, keep))
        conn.execute("INSERT INTO corrections (kind, person_id, other_person_id, name, created_at) "
                     "VALUES ('merge', ?, ?, ?, ?)", (keep, other, gone.name, q.now()))
        conn.execute("DELETE FROM people WHERE id = ?", (other,))
        q.refresh_people(conn, [keep])
        q.bump(conn, q.PEOPLE_REV)
        return _person(conn, keep)
    return store.write(task)


def move_face(store: Store, face_id: int, person_id: int) -> None:
    """Put a face on a person and pin it there (a face of the same photo already there is unassigned)."""
    def task(conn: sqlite3.Connection) -> None:
        photo_id, _before = _face_person(conn, face_id)
        _person(conn, person_id)
        clash = [r[0] for r in conn.execute(
            "SELECT id FROM faces WHERE photo_id = ? AND person_id = ? AND id != ?", (photo_id, person_id, face_id))]
        for other in clash:
            conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (other,))
        conn.execute("DELETE FROM corrections WHERE face_id = ? AND (kind = 'assign' OR "
                     "(kind = 'reject' AND person_id = ?))", (face_id, person_id))
        conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('assign', ?, ?, ?)",
                     (face_id, person_id, q.now()))
        conn.execute("UPDATE people SET curated = 1 WHERE id = ?", (person_id,))
        q.assign_faces(conn, [(other, None) for other in clash] + [(face_id, person_id)])
        q.bump(conn, q.PEOPLE_REV)
    store.write(task)


def reject_face(store: Store, face_id: int) -> int | None:
    """"Not this person": take the face off its person for good; return that person (None if it had none)."""
    def task(conn: sqlite3.Connection) -> int | None:
        _photo, person = _face_person(conn, face_id)
        if person is None:
            return None
        conn.execute("DELETE FROM corrections WHERE kind = 'assign' AND face_id = ?", (face_id,))
        conn.execute("INSERT INTO corrections (kind, face_id, person_id, created_at) VALUES ('reject', ?, ?, ?)",
                     (face_id, person, q.now()))
        q.assign_faces(conn, [(face_id, None)])
        q.bump(conn, q.PEOPLE_REV)
        return person
    return store.write(task)


def search_photos(store: Store, tag: str | None = None, person: int | str | None = None) -> list[str]:
    """Paths of photos with an object tag and/or a person (id or exact name)."""
    def read(conn: sqlite3.Connection) -> list[str]:
        where = ["f.status = 'done'"]
        args: list[object] = []
        if tag is not None:
            where.append("EXISTS (SELECT 1 FROM objects o WHERE o.photo_id = f.photo_id AND o.label = ?)")
            args.append(tag)
        if person is not None:
            if isinstance(person, int) or str(person).isdigit():
                ids = [_person(conn, int(person)).id]
            else:
                ids = [r[0] for r in conn.execute("SELECT id FROM people WHERE name = ?", (person,))]
                if not ids:
                    raise NotFoundError(f"no person named {person!r} (see `pictod people`)")
            where.append(f"EXISTS (SELECT 1 FROM faces fa WHERE fa.photo_id = f.photo_id AND fa.person_id IN "
                         f"({','.join('?' * len(ids))}))")
            args.extend(ids)
        rows = conn.execute(f"SELECT f.path FROM files f WHERE {' AND '.join(where)} ORDER BY f.path", args)
        return [q.dec(r[0]) for r in rows]
    return store.read(read)


def tag_counts(store: Store) -> dict[str, int]:
    """Object tags with the number of photos showing each, most common first."""
    rows = store.read(lambda c: c.execute(
        "SELECT label, count(DISTINCT photo_id) AS n FROM objects GROUP BY label ORDER BY n DESC, label").fetchall())
    return {str(r[0]): int(r[1]) for r in rows}


def recluster_now(store: Store, cfg: ClusteringConfig) -> ReclusterResult:
    """`pictod recluster`: a full recluster from the database."""
    return PeopleManager(store, cfg).recluster(full=True)


def write_contact_sheet(
    store: Store, person_id: int, out_png: Path, *, size: int = 112, columns: int = 8,
    limits: AnalysisConfig | None = None,
) -> int:
    """Write a grid PNG of the person's face crops (photos whose file is gone are skipped); return faces drawn."""
    import cv2

    detail = person_detail(store, person_id)
    tiles: list[NDArray[np.uint8]] = []
    for face in detail.face_list:
        if face.path is None:
            continue
        loaded = _read_rgb(Path(face.path), limits or AnalysisConfig())
        if loaded is None:
            continue
        image, scale = loaded
        x1, y1, x2, y2 = (v / scale for v in face.box)
        # A margin of a quarter of the box so the face is recognisable, clipped to the image.
        mx, my = (x2 - x1) * 0.25, (y2 - y1) * 0.25
        h, w = image.shape[:2]
        a, b = max(0, int(x1 - mx)), max(0, int(y1 - my))
        c, d = min(w, int(x2 + mx)), min(h, int(y2 + my))
        if c <= a or d <= b:
            continue
        tiles.append(np.asarray(cv2.resize(image[b:d, a:c], (size, size), interpolation=cv2.INTER_AREA), np.uint8))
    if not tiles:
        raise NotFoundError(f"person {person_id} has no face whose photo file is still readable")
    cols = min(columns, len(tiles))
    rows = (len(tiles) + cols - 1) // cols
    sheet = np.full((rows * size, cols * size, 3), 255, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    out_png = Path(out_png)
    if not cv2.imwrite(str(out_png), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise PictodError(f"cannot write the contact sheet {out_png} (is the folder writable?)")
    return len(tiles)


def _read_rgb(path: Path, limits: AnalysisConfig) -> tuple[NDArray[np.uint8], float] | None:
    """Oriented RGB pixels and the factor from original to decoded coordinates; None if unreadable."""
    from daemon import imaging
    from daemon.errors import PhotoError

    try:
        # Boxes are in original oriented pixels, which is what imaging gives (EXIF rotation applied).
        decoded = imaging.load(path, max_pixels=limits.max_pixels, max_file_bytes=limits.max_file_bytes,
                               target_long_side=2048)
    except PhotoError:
        return None
    return decoded.rgb, decoded.scale
