"""User corrections: name a person, merge two, move a face to a person, reject a face from its person; and the
names imported from XMP metadata (issue 13), which become corrections of their own (source 'xmp').

Each correction runs in one write transaction and is recorded in the `corrections` table, so every later
recluster honours it (`clusters.map_clusters`: named/curated people anchored, pins kept, rejections never undone).
Every correction also marks the photos whose sidecars it changes dirty, in the same transaction, whichever process
makes it (daemon, CLI, web app): the daemon's sidecar writer (`daemon/runtime/sidecar_sync.py`) flushes them in batches.

Imports (`import_metadata`, inside the writer transaction that stores the photo, or alone for a changed sidecar):
regions match detected faces one to one, greedily by IoU (>= 0.5, both in oriented pixels); a matched face is
pinned to the person of that name (casefold; created and curated if new); a named region with no face becomes an
imported face (its crop embedded by the caller); a name without a region is used only when the photo has one name,
no region and one face. A face the user corrected after its last import is never touched, and importing name X onto
a face of person Y moves the face: it never renames or merges Y.

Suggestions: an accepted suggestion is a pin (kind `assign`), a rejected one a rejection (kind `reject`)
of that face and person, whether the face was on the person or not; a new person is curated and its faces pinned.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from daemon.errors import UsageError
from daemon.library.reads import PersonSummary, summary_of
from daemon.metadata import FaceRegion, PhotoMetadata, SidecarInfo
from daemon.metadata.geometry import iou
from daemon.store import Store, faces
from daemon.store import metadata as meta_sql
from daemon.types import Box, DetectedFace

MATCH_IOU = 0.5


def name_person(store: Store, person_id: int, name: str | None) -> PersonSummary:
    """Name (or with None, unname) a person; a named person is kept whole by every recluster."""
    clean = " ".join(name.split()) if name is not None else None

    def task(conn: sqlite3.Connection) -> faces.PersonRow:
        row = faces.name_person(conn, person_id, clean or None)
        meta_sql.mark_person_dirty(conn, person_id)
        return row

    return summary_of(store.write(task))


def merge_people(store: Store, keep: int, other: int) -> PersonSummary:
    """Move every face of `other` to `keep` and delete `other`; recorded so reclusters keep them together."""

    def task(conn: sqlite3.Connection) -> faces.PersonRow:
        meta_sql.mark_person_dirty(conn, other)  # before: a clashing face of `other` ends on nobody
        row = faces.merge_people(conn, keep, other)
        meta_sql.mark_person_dirty(conn, keep)
        return row

    return summary_of(store.write(task))


def move_face(store: Store, face_id: int, person_id: int) -> None:
    """Put a face on a person and pin it there (a face of the same photo already there is unassigned)."""

    def task(conn: sqlite3.Connection) -> None:
        faces.move_face(conn, face_id, person_id)
        meta_sql.mark_face_dirty(conn, face_id)

    store.write(task)


def reject_face(store: Store, face_id: int) -> int | None:
    """"Not this person": take the face off its person for good; return that person (None if it had none)."""

    def task(conn: sqlite3.Connection) -> int | None:
        person = faces.reject_face(conn, face_id)
        meta_sql.mark_face_dirty(conn, face_id)
        return person

    return store.write(task)


# ----------------------------------------------------------------------------------------------- imports


@dataclass(frozen=True)
class ImportResult:
    """What one photo's import did (the per-photo log line's xmp_* fields)."""

    regions: int = 0
    matched: int = 0
    imported_faces: int = 0
    names: int = 0  # a name without a region placed on the photo's one face
    skipped: int = 0  # faces left alone: the user corrected them after the last import

    def fields(self) -> dict[str, int]:
        """Log fields (empty when there was nothing to import)."""
        if not (self.regions or self.names):
            return {}
        return {"xmp_regions": self.regions, "xmp_matched": self.matched, "xmp_imported_faces": self.imported_faces,
                "xmp_names": self.names}


def importable(meta: PhotoMetadata,
               written_digest: str | None = None) -> tuple[tuple[FaceRegion, ...], tuple[str, ...]]:
    """The regions and names to import: a sidecar that is exactly pictod's own last write is its echo, skipped."""
    own = {s.path.name for s in meta.sidecars if _own(s, written_digest)}
    regions = tuple(r for r in meta.regions if not (r.sidecar and r.source in own))
    names = () if own and not regions and all(s.path.name in own for s in meta.sidecars) else meta.names
    return regions, names


def _own(info: SidecarInfo, written_digest: str | None) -> bool:
    return info.pictod_unchanged and info.digest is not None and info.digest == written_digest


def match_regions(regions: Sequence[FaceRegion], boxes: Sequence[Box]) -> tuple[dict[int, int], list[int]]:
    """Regions onto face boxes one to one, greedily by IoU descending (>= MATCH_IOU): ({region: box}, unmatched)."""
    pairs = sorted(((iou(r.box, b), ri, bi) for ri, r in enumerate(regions) for bi, b in enumerate(boxes)),
                   reverse=True)
    matched: dict[int, int] = {}
    used: set[int] = set()
    for score, ri, bi in pairs:
        if score < MATCH_IOU:
            break
        if ri in matched or bi in used:
            continue
        matched[ri] = bi
        used.add(bi)
    return matched, [ri for ri in range(len(regions)) if ri not in matched]


def unmatched_regions(meta: PhotoMetadata, boxes: Sequence[Box], written_digest: str | None = None
                      ) -> list[FaceRegion]:
    """The named regions no face box covers: the caller embeds their crops before `import_metadata`."""
    regions, _names = importable(meta, written_digest)
    _matched, rest = match_regions(regions, boxes)
    return [regions[i] for i in rest]


def import_metadata(conn: sqlite3.Connection, photo_id: int, meta: PhotoMetadata,
                    embedded: Mapping[FaceRegion, DetectedFace], *, reimport: bool = False) -> ImportResult:
    """Apply one photo's names and regions as imported corrections, in the caller's write transaction.

    `embedded`: the crops of regions that no detected face covers (from `Analyzer.embed_regions`); a region
    missing there (the photo changed meanwhile) is left for the next import. With `reimport`, this photo's earlier
    imports are replaced (its imported corrections dropped, imported faces without a region any more deleted)."""
    written = meta_sql.sidecar_seen(conn, photo_id)[1]
    regions, names = importable(meta, written)
    current = meta_sql.photo_faces(conn, photo_id)
    if reimport:
        meta_sql.drop_imports(conn, photo_id)
    # One region per name: the same person twice in one photo is a metadata error, the first (by priority) wins.
    seen: set[str] = set()
    unique = [r for r in regions if not (r.name.casefold() in seen or seen.add(r.name.casefold()))]  # type: ignore[func-returns-value]
    matched, rest = match_regions(unique, [f.box for f in current])
    pins: list[tuple[int, str]] = []
    skipped = 0
    kept_imported: set[int] = set()
    for ri, fi in matched.items():
        face = current[fi]
        if face.source == "xmp":
            kept_imported.add(face.id)
        if face.protected:
            skipped += 1
            continue
        pins.append((face.id, unique[ri].name))
    new_faces = 0
    for ri in rest:
        region = unique[ri]
        crop = embedded.get(region)
        if crop is None:
            continue
        face_id = meta_sql.add_imported_face(conn, photo_id, region.box, crop.landmarks, crop.embedding)
        pins.append((face_id, region.name))
        new_faces += 1
    if reimport:
        gone = [f.id for f in current if f.source == "xmp" and f.id not in kept_imported and not f.protected]
        meta_sql.drop_imported_faces(conn, gone)
    used_names = 0
    if not regions and len(names) == 1:
        open_faces = [f for f in current if f.source == "detected"]
        if len(open_faces) == 1 and not open_faces[0].protected:
            pins.append((open_faces[0].id, names[0]))
            used_names = 1
    if pins:
        resolved: list[tuple[int, int]] = []
        for face_id, name in pins:
            person = meta_sql.person_named(conn, name)
            if person is None:
                person = meta_sql.new_named_person(conn, name)
            resolved.append((face_id, person))
        # One face per person per photo: a face of this photo already on a person another face is pinned to leaves.
        taken = {p for _f, p in resolved}
        pinned = {f for f, _p in resolved}
        clash = [(f.id, None) for f in current if f.person_id in taken and f.id not in pinned and not f.protected]
        if clash:
            faces.assign_faces(conn, clash)
        meta_sql.pin_imported(conn, photo_id, resolved)
    _record_sidecar(conn, photo_id, meta)
    return ImportResult(regions=len(regions), matched=len(matched), imported_faces=new_faces, names=used_names,
                        skipped=skipped)


def _record_sidecar(conn: sqlite3.Connection, photo_id: int, meta: PhotoMetadata) -> None:
    if not meta.sidecars:
        meta_sql.record_sidecar(conn, photo_id, None, None, None, None)
        return
    info = meta.sidecars[0]
    try:
        st = info.path.stat()
    except OSError:
        meta_sql.record_sidecar(conn, photo_id, str(info.path), None, None, info.digest)
        return
    meta_sql.record_sidecar(conn, photo_id, str(info.path), st.st_size, st.st_mtime_ns, info.digest)


# ----------------------------------------------------------------------------------------------- suggestions


def accept_suggestion(store: Store, face_id: int, person_id: int) -> int:
    """Put a face on a person as a pin (the person chosen by `daemon/library/suggestions.py`); return the person.

    NotFoundError for an unknown face or person."""
    chosen = person_id

    def task(conn: sqlite3.Connection) -> None:
        faces.move_face(conn, face_id, chosen)
        meta_sql.mark_face_dirty(conn, face_id)  # its sidecar names it now

    store.write(task)
    return chosen


def accept_person_suggestions(store: Store, person_id: int, chosen: Sequence[int]) -> list[int]:
    """Put the chosen faces (one per photo: `suggestions.one_face_per_photo`) on `person_id` as pins, in one write;
    return the faces taken (those still unassigned when the write runs), in the order given."""

    def write(conn: sqlite3.Connection) -> list[int]:
        faces.person_row(conn, person_id)
        done = []
        for face_id in chosen:
            if faces.face_row(conn, face_id)[1] is None:  # still unassigned when the write runs
                faces.move_face(conn, face_id, person_id)
                done.append(face_id)
        meta_sql.mark_named_faces_dirty(conn, done)
        return done

    return store.write(write)


def reject_suggestion(store: Store, face_id: int, person_id: int) -> None:
    """"This face is not this person": never suggested again, and no recluster puts it there."""

    def task(conn: sqlite3.Connection) -> None:
        faces.reject_suggestion(conn, face_id, person_id)
        meta_sql.mark_face_dirty(conn, face_id)  # the face may have left that person

    store.write(task)


def new_person(store: Store, face_ids: list[int], *, name: str | None = None) -> int:
    """A person made from chosen faces (each pinned to it; moved off any person it was on), named if a name is
    given; return its id. UsageError for no face or two faces of one photo, NotFoundError for an unknown face."""
    unique = list(dict.fromkeys(int(f) for f in face_ids))
    if not unique:
        raise UsageError("a new person needs at least one face")
    clean = " ".join(name.split()) if name is not None else None

    def write(conn: sqlite3.Connection) -> int:
        try:
            person = faces.new_curated_person(conn, unique, clean or None)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        for face_id in unique:  # each face may have left a named person or joined a named one
            meta_sql.mark_face_dirty(conn, face_id)
        return person

    return store.write(write)
