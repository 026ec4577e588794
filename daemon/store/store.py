"""The `Store` facade: opens the DB, runs migrations, owns the writer thread and per-thread read connections.

`Store.open(path, read_only=True)` is the readers' store (`status`, `people`, `photos`, `tags`, the web app): no
migration, no writer thread, read-only connections that never create or modify a file (`db.connect_readonly`);
a library of an older schema is read as it is (a read that needs the upgrade says so), a newer one is refused.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import structlog

from daemon.errors import StoreError
from daemon.store import db, edits, events, faces, migrations, places, queries
from daemon.store import live as live_sql
from daemon.store import metadata as meta_sql
from daemon.store.base import mark_dirty
from daemon.store.rows import AddResult, FileRecord, ImportPlan, ImportResult, RemoveResult, SidecarSeen, StatusCounts
from daemon.store.writer import Writer
from daemon.types import PhotoAnalysis

T = TypeVar("T")
log = structlog.get_logger()


class Store:
    """One library database: reads on any thread, writes serialized through one writer thread."""

    def __init__(self, path: Path, writer: Writer | None, *, schema_version: int = migrations.LATEST) -> None:
        self.path = path
        self._writer = writer  # None: a read-only store
        self.read_only = writer is None
        self.schema_version = schema_version
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> Store:
        """Open (creating if needed, privately) and migrate the library database; with read_only, open an
        existing one for reading only (never migrated, never written)."""
        path = Path(path).expanduser()
        if read_only:
            conn, _stamp = db.connect_readonly(path)
            try:
                version = migrations.current_version(conn)
                migrations.refuse_newer(version, path)
                db.looks_foreign(conn, path, version)
            finally:
                conn.close()
            log.debug("store_opened", path=str(path), read_only=True, schema_version=version)
            return cls(path, None, schema_version=version)
        created = db.prepare_path(path)
        db.check_library_file(path, created=created)  # never a new library over a file that is something else
        try:
            conn = db.connect(path)
        except StoreError:
            if created:
                db.discard_new(path)  # left empty, it would be refused as a truncated library at the next start
            raise
        try:
            migrations.migrate(conn, path)
            db.checkpoint(conn)  # a log left by the last run: back into the file, truncated (issue 22)
        except sqlite3.OperationalError as exc:
            if created:
                conn.close()
                db.discard_new(path)
            raise StoreError(f"cannot open the database {path}: {exc}"
                             + (f"; {db.space_hint(path)}" if "full" in str(exc) else "")) from None
        finally:
            conn.close()
        store = cls(path, Writer(path))
        log.debug("store_opened", path=str(path))
        return store

    def close(self) -> None:
        """Stop the writer and close every connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._writer.close()
        with self._lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- plumbing

    def _reader(self) -> tuple[sqlite3.Connection, db.Stamp | None]:
        if self._closed:
            raise StoreError(f"the store {self.path} is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        stamp: db.Stamp | None = getattr(self._local, "stamp", None)
        if conn is None:
            if self.read_only:
                conn, stamp = db.connect_readonly(self.path)
            else:
                conn = db.connect(self.path, create=False)
            self._local.conn, self._local.stamp = conn, stamp
            with self._lock:
                self._readers.append(conn)
        return conn, stamp

    def _drop_reader(self) -> None:
        conn: sqlite3.Connection = self._local.conn
        self._local.conn = self._local.stamp = None
        with self._lock:
            self._readers.remove(conn)
        conn.close()

    def read(self, task: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read task on this thread's connection, in one read transaction (a consistent snapshot)."""
        for _attempt in range(3):
            conn, stamp = self._reader()
            try:
                conn.execute("BEGIN")
                try:
                    result = task(conn)
                finally:
                    conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if stamp is not None and db.at_rest_stamp(self.path) != stamp:
                    self._drop_reader()  # a writer started under an at-rest read: read again, live
                    continue
                raise self._read_error(exc) from None
            if stamp is None or db.at_rest_stamp(self.path) == stamp:
                return result
            self._drop_reader()
        raise StoreError(f"database read failed on {self.path}: it kept changing under a read-only reader")

    def _read_error(self, exc: sqlite3.Error) -> StoreError:
        if self.read_only and self.schema_version < migrations.LATEST and "no such" in str(exc):
            return StoreError(
                f"database {self.path} has schema version {self.schema_version}, older than this pictod "
                f"({migrations.LATEST}), and this command reads it without upgrading it: start the daemon, or "
                "run any write command (e.g. `pictod recluster`), once to upgrade it")
        return StoreError(f"database read failed on {self.path}: {exc}")

    def checkpoint(self) -> None:
        """Fold the write-ahead log back into the library and truncate it (the daemon's idle tick)."""
        if self.read_only:
            return
        conn, _stamp = self._reader()
        db.checkpoint(conn)

    def write(self, task: Callable[[sqlite3.Connection], T]) -> T:
        """Run a write task on the writer thread in BEGIN IMMEDIATE; block until committed."""
        if self._writer is None:
            raise StoreError(f"the store {self.path} was opened read-only: it cannot write")
        return self._writer.submit(task)

    # ------------------------------------------------------------------------------------------- reads

    def get_file(self, path: str) -> FileRecord | None:
        """The file row for a path."""
        return self.read(lambda c: queries.get_file(c, path))

    def iter_files(self, under: str | None = None) -> Iterator[FileRecord]:
        """All files, or all files at any depth below a directory."""
        return iter(self.read(lambda c: list(queries.iter_files(c, under))))

    def has_files(self, under: str) -> bool:
        """Whether any file at any depth below a directory is known."""
        return self.read(lambda c: queries.has_files(c, under))

    def people_count(self) -> int:
        """How many people there are."""
        return self.read(faces.people_count)

    def status_counts(self) -> StatusCounts:
        """Counts for `pictod status`."""
        return self.read(queries.status_counts)

    def photo_faces(self, photo_id: int) -> list[meta_sql.PhotoFace]:
        """One photo's faces with their people and whether a user correction protects them (an import's view)."""
        return self.read(lambda c: meta_sql.photo_faces(c, photo_id))

    def sidecar_seen(self, photo_id: int) -> tuple[str | None, str | None]:
        """(digest of the sidecar last imported, digest pictod last wrote) of a photo."""
        return self.read(lambda c: meta_sql.sidecar_seen(c, photo_id))

    def sidecar_jobs(self, limit: int, *, tags: bool) -> list[meta_sql.SidecarJob]:
        """Up to `limit` dirty photos whose sidecar write is due, with what their sidecars must say."""
        return self.read(lambda c: meta_sql.dirty_batch(c, limit, tags=tags))

    def sidecars_dirty(self) -> int:
        """Photos whose sidecars wait to be written (now or at their retry)."""
        return self.read(meta_sql.dirty_count)

    # ------------------------------------------------------------------------------------------- writes
    # Every write the daemon and the front ends make is one of these: one hop to the writer thread, one
    # transaction, the result back (datasette's execute_write_fn). `write` stays for the people manager's
    # writer tasks and for tests.

    def record_analysis(self, path: str, size: int, mtime_ns: int, content_hash: str, analysis: PhotoAnalysis, *,
                        imports: ImportPlan | None = None, identity: tuple[int, int] | None = None,
                        place: places.PlaceRow | None = None, place_to_sidecar: bool = False,
                        live: live_sql.LiveRule | None = None) -> AddResult:
        """Store one photo's analysis and point the file at it, with its place (the geocoder's, from its GPS) and
        the names its metadata gives (`imports`, applied only to a photo this call created:
        `AddResult.imported`; a place in its XMP wins over the geocoder's; `place_to_sidecar`: [metadata]
        write_sidecars is on, the photo's sidecar gets the place), in one transaction. With `live`, a still and
        its short video of the same name become one item (`store/live.py`): the video keeps only the faces the
        still has not, whichever of the two comes first (`AddResult.removed` says what left)."""
        def task(c: sqlite3.Connection) -> AddResult:
            recorded, still = analysis, None
            if live is not None and analysis.meta.kind == "video":
                still = live_sql.still_for_video(c, path, analysis.meta.duration, live)
                if still is not None:
                    same = live_sql.duplicates(still[1], [f.embedding for f in analysis.faces], live.eps)
                    recorded = replace(analysis, faces=tuple(f for f, dup in zip(analysis.faces, same, strict=True)
                                                             if not dup))
            result = queries.record_analysis(c, path, size, mtime_ns, content_hash, recorded, identity)
            if place is not None and result.created and places.set_place(c, result.photo_id, place) \
                    and place_to_sidecar and place.source == "geocoder":
                mark_dirty(c, [result.photo_id])
            if live is not None and result.created:
                if still is not None:
                    live_sql.pair(c, result.photo_id, still[0])
                elif analysis.meta.kind == "photo":
                    dropped = live_sql.pair_videos_of_still(c, path, result.photo_id, live)
                    if dropped is not None:
                        result = replace(result, removed=live_sql.merged(result.removed, dropped))
            if imports is None or not result.created:
                return result
            return replace(result, imported=meta_sql.apply_import(c, result.photo_id, imports, result.face_ids))

        return self.write(task)

    def import_metadata(self, photo_id: int, plan: ImportPlan) -> ImportResult:
        """Apply an import planned on a stored photo (a changed sidecar), in one transaction."""
        return self.write(lambda c: meta_sql.apply_import(c, photo_id, plan))

    def name_person(self, person_id: int, name: str | None) -> faces.PersonRow:
        """Name (None: unname) a person; recorded as a correction."""
        return self.write(lambda c: edits.name_person(c, person_id, name))

    def merge_people(self, keep: int, other: int) -> faces.PersonRow:
        """Move every face of `other` to `keep` and delete `other`; recorded."""
        return self.write(lambda c: edits.merge_people(c, keep, other))

    def move_face(self, face_id: int, person_id: int) -> None:
        """Pin a face to a person (a face of the same photo already there leaves it)."""
        self.write(lambda c: edits.move_face(c, face_id, person_id))

    def accept_faces(self, person_id: int, face_ids: Sequence[int]) -> list[int]:
        """Pin to a person those of these faces still on nobody when the write runs; the faces moved."""
        return self.write(lambda c: edits.accept_faces(c, person_id, face_ids))

    def reject_face(self, face_id: int) -> int | None:
        """Take a face off its person for good; the person it had (None: none)."""
        return self.write(lambda c: edits.reject_face(c, face_id))

    def reject_suggestion(self, face_id: int, person_id: int) -> None:
        """"This face is not this person": recorded, and the face leaves that person if it was on it."""
        self.write(lambda c: edits.reject_suggestion(c, face_id, person_id))

    def new_person(self, face_ids: Sequence[int], name: str | None) -> int:
        """A curated person from these faces (pinned to it; ValueError for two faces of one photo); its id."""
        return self.write(lambda c: edits.new_curated_person(c, face_ids, name))

    def mark_retry(self, paths: Sequence[str] | None) -> list[str]:
        """Mark failed files (these, or below these folders; None: all) to be analysed again; their paths."""
        return self.write(lambda c: queries.mark_retry(c, paths))

    def mark_sidecars_dirty(self, paths: Sequence[str] | None) -> list[str]:
        """The sidecars of these files' photos (None: every photo) to be written now; the paths not in the
        library (then nothing is marked)."""
        return self.write(lambda c: meta_sql.mark_paths_dirty(c, paths))

    def sidecar_written(self, photo_id: int, gen: int, seen: SidecarSeen) -> None:
        """A photo's sidecar is in step as of `gen`; what was written is remembered (its own echo is skipped)."""
        self.write(lambda c: meta_sql.sidecar_written(c, photo_id, gen, seen))

    def sidecar_failed(self, photo_id: int, error: str) -> float:
        """A photo's sidecar could not be written: kept dirty, retried after a backoff (its seconds, returned)."""
        return self.write(lambda c: meta_sql.sidecar_failed(c, photo_id, error))

    def link_or_mark_pending(self, path: str, size: int, mtime_ns: int, content_hash: str, *,
                             identity: tuple[int, int] | None = None) -> AddResult | None:
        """Point a file at the analysed photo with this hash, or, if there is none, mark it pending (one lookup);
        `identity`: the file's (inode, ctime_ns), stored on its row."""
        return self.write(lambda c: queries.link_or_mark_pending(c, path, size, mtime_ns, content_hash, identity))

    def record_failure(self, path: str, size: int, mtime_ns: int, reason: str,
                       error: str | None = None) -> RemoveResult:
        """Mark a file failed with a short reason code (and its message); what its previous photo took away."""
        return self.write(lambda c: queries.record_failure(c, path, size, mtime_ns, reason, error))

    def claim_retries(self) -> list[str]:
        """The files `pictod retry` marked, now pending and unmarked (a read first: no write when none)."""
        if not self.read(queries.has_retries):
            return []
        return self.write(queries.claim_retries)

    def set_places(self, rows: Sequence[tuple[int, places.PlaceRow]], *, to_sidecars: bool = False) -> int:
        """Store the places of some photos (a geocoder's never over another tool's); how many were written.
        `to_sidecars`: their sidecars get the names ([metadata] write_sidecars)."""
        def task(c: sqlite3.Connection) -> int:
            written = [photo_id for photo_id, row in rows if places.set_place(c, photo_id, row)]
            events.refresh_names(c, written)  # the events of photos placed after they were grouped
            if to_sidecars:
                placed = set(written)
                mark_dirty(c, [p for p, row in rows if row.source == "geocoder" and p in placed])
            return len(written)
        return self.write(task)

    def update_events(self, *, gap_s: float, split_km: float, limit: int = 5000) -> events.EventChanges:
        """Regroup the events around the photos that arrived and left since the last call, in one transaction."""
        return self.write(lambda c: events.update(c, gap_s=gap_s, split_km=split_km, limit=limit))

    def rename_event(self, event_id: int, name: str | None) -> events.EventRow:
        """Name (None: unname) an event; the name survives regrouping."""
        return self.write(lambda c: events.rename(c, event_id, name))

    def move(self, src: str, dest: str) -> int:
        """Rename a file or a directory of files; return how many rows moved."""
        return self.write(lambda c: queries.move(c, src, dest))

    def remove(self, path: str) -> RemoveResult:
        """Forget a file or a directory of files; photos left without a file go with their faces."""
        return self.write(lambda c: queries.remove(c, path))
