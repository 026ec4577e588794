"""The library store: one SQLite file holding photos, files, objects, faces, people and corrections.

Owns connection set-up (`db.py`), versioned migrations (`migrations.py`), the single writer thread
(`writer.py`), the records it hands out (`records.py`), the `Store` facade (`store.py`) and every SQL statement
pictod runs: files, photos, objects, state and status in `queries.py`; faces, people and corrections with the
people maths (sums, means, counts, pruning) in `faces.py`; shared primitives in `base.py`. Clustering maths lives
in `daemon/people/clusters.py`, the people manager in `daemon/people/manager.py`.

Model: content identity. A *photo* is one content (sha256 hex of the bytes) with its analysis (objects, faces);
a *file* is a path on disk (path, size, mtime_ns, status) pointing at a photo. Copies, moves and renames of the
same bytes share one photo (no second inference; faces keep their people). A photo with no file left is deleted
with its faces, and the people those faces belonged to get their mean and counts updated in the same
transaction (people left with no face are pruned). Each person stores the float64 sum of its faces'
embeddings (`people.embedding_sum`), so a face joining or leaving costs O(1) queries (`faces.assign_faces`).
Paths are `str` in the API and stored as BLOBs of `os.fsencode(path)`, so any file name (newlines, quotes,
non-UTF-8 bytes via surrogateescape) round-trips.

API (final; all records are frozen dataclasses from `daemon.store.rows`, re-exported here)::

    class Store:
        @classmethod
        def open(cls, path: Path, *, read_only: bool = False) -> Store
            # creates missing parent dirs 0700 and the DB file 0600 (-wal/-shm inherit 0600); WAL,
            # synchronous=NORMAL, foreign_keys=ON, busy_timeout; runs migrations (backs the file up before a
            # data migration); a DB newer than this code raises StoreError; starts the one writer thread.
            # read_only: an existing DB, never migrated, no writer thread, never a file created or changed
            # (db.connect_readonly); an older schema is read as is, a newer one refused; write() raises StoreError.
        path: Path
        def close(self) -> None                                        # idempotent; stops the writer
        # reads: any thread, one connection per thread
        def get_file(self, path: str) -> FileRecord | None
        def iter_files(self, under: str | None = None) -> Iterator[FileRecord]   # `under`: the directory
                                                                       # itself is excluded, all depths below
        def has_files(self, under: str) -> bool                         # LIMIT 1 probe of a directory
        def photo_id_for_hash(self, content_hash: str) -> int | None
        def status_counts(self) -> StatusCounts
        # writes: any thread; run on the writer thread, each in BEGIN IMMEDIATE; block until committed;
        # the task's exception is re-raised in the caller
        def mark_pending(self, path: str, size: int, mtime_ns: int) -> None
        def record_analysis(self, path: str, size: int, mtime_ns: int, content_hash: str,
                            analysis: PhotoAnalysis) -> AddResult
            # one transaction: photo + objects + faces + file 'done'. If the hash is already stored (a copy
            # analysed concurrently) the analysis is dropped and the file linked: AddResult.created False.
        def link_existing(self, path: str, size: int, mtime_ns: int, content_hash: str) -> AddResult | None
            # None if no photo has this hash
        def record_failure(self, path: str, size: int, mtime_ns: int, reason: str) -> RemoveResult
            # the previous photo's removal if it lost its last file: pass it to PeopleManager.on_removed
        def move(self, src: str, dest: str) -> int                     # a file or a directory; files moved
        def remove(self, path: str) -> RemoveResult                    # a file or a directory
        def write(self, task: Callable[[sqlite3.Connection], T]) -> T  # run any task on the writer
        def read(self, task: Callable[[sqlite3.Connection], T]) -> T   # run a read on this thread's connection

    records: FileRecord(path, size, mtime_ns, status, reason, photo_id)
             AddResult(path, photo_id, created, objects, face_ids, new_faces, removed: RemoveResult | None)
             RemoveResult(files_removed, photo_ids, faces_removed, face_ids, people_updated, people_pruned,
                          removed_rev)
             StatusCounts(files_done, files_pending, files_failed, photos, faces, faces_unassigned, people,
                          named_people, last_recluster, photos_since_recluster)

    # daemon/people/manager.py
    class PeopleManager:
        def __init__(self, store: Store, cfg: ClusteringConfig) -> None
        def on_photo_added(self, result: AddResult) -> list[tuple[int, int | None]]  # (face_id, person_id)
            # nearest person mean within eps (cosine), never two faces of one photo to one person, never a
            # rejected person; also applies result.removed. Thread-safe (no caller lock needed).
        def on_removed(self, result: RemoveResult) -> None   # the store already fixed means and pruned; the
            # density index forgets the faces (now, or in the running recluster). Thread-safe.
        def added_since_recluster(self) -> int  # the photos_since_recluster state row: the one counter
        def recluster_due(self) -> bool        # True once cfg.recluster_every photos were stored since the last
        def recluster(self, *, full: bool = False) -> ReclusterResult
            # blocking (run it in an executor); thread-safe; a call returns the result of a run that started
            # after it arrived (the one coalescing). Exact incremental DBSCAN: new faces are searched against
            # all, deleted faces re-link only the clusters they touched; full=True (or the first run) does a
            # blocked full DBSCAN and verifies (repairs, with a warning) every person's stored sum. Stable ids,
            # names and corrections kept.
        clustering_seconds: float; runs: int                 # for benchmarks and logs
    ReclusterResult(faces, clusters, people, assigned, unassigned, new_people, pruned_people, changed_faces,
                    full, ms)
    PersonSummary(id, name, faces, photos); PersonDetail(id, name, faces, photos, face_list: list[FaceInfo])
    FaceInfo(id, photo_id, path, box, score, pinned)

    # the read side (library/reads.py) and corrections (library/corrections.py): plain dataclasses / dicts for
    # --json; NotFoundError for unknown ids
    def list_people(store: Store) -> list[PersonSummary]          # id, name, faces, photos
    def person_detail(store: Store, person_id: int) -> PersonDetail   # + faces: FaceInfo(id, photo_id, path,
                                                                        #   box, score)
    def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary
    def merge_people(store: Store, keep: int, other: int) -> PersonSummary    # other's faces go to keep
    def move_face(store: Store, face_id: int, person_id: int) -> None       # pins the face to the person
    def reject_face(store: Store, face_id: int) -> int | None   # "not this person": unassigns, never again
    def search_photos(store: Store, query: PhotoQuery) -> list[PhotoHit]   # every condition ANDed; see PhotoQuery
    def tag_counts(store: Store) -> dict[str, int]
    def write_contact_sheet(store: Store, person_id: int, out_png: Path, *, size: int = 112,
                            columns: int = 8) -> int   # faces drawn; photos whose file is gone are skipped
    def recluster_now(store: Store, cfg: ClusteringConfig) -> ReclusterResult   # `pictod recluster`
"""

from __future__ import annotations

from daemon.store.rows import AddResult, FileRecord, NewFace, RemoveResult, StatusCounts
from daemon.store.store import Store

__all__ = ["AddResult", "FileRecord", "NewFace", "RemoveResult", "StatusCounts", "Store"]
