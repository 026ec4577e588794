"""The plain records the store hands out: frozen dataclasses, ready for logs and `--json` (dataclasses.asdict)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class FileRecord:
    """One path on disk as the library knows it."""

    path: str
    size: int
    mtime_ns: int
    status: str  # 'pending' | 'done' | 'failed'
    reason: str | None
    photo_id: int | None
    retry: bool = False  # marked by `pictod retry`: analysed again even though size and mtime are unchanged
    inode: int | None = None  # of the file last handled at this path (schema v7; None: not recorded)
    ctime_ns: int | None = None


@dataclass(frozen=True)
class NewFace:
    """A face row just written (what the people manager needs to place it)."""

    id: int
    photo_id: int
    embedding: NDArray[np.float32] = field(repr=False, compare=False)
    quality: float | None = None  # the face's quality score (None: unknown, treated as good)


@dataclass(frozen=True)
class RemoveResult:
    """What a remove (or a file pointed at new content) took away."""

    files_removed: int = 0
    photo_ids: tuple[int, ...] = ()  # photos deleted because no file pointed at them any more
    faces_removed: int = 0
    face_ids: tuple[int, ...] = ()
    people_updated: tuple[int, ...] = ()  # people whose mean and counts were updated
    people_pruned: tuple[int, ...] = ()  # people deleted because they had no face left
    removed_rev: int = 0  # the faces_removed_rev this removal committed (0: no face removed)
    photos_missing: tuple[int, ...] = ()  # photos that lost their last file: missing, kept (store/missing.py)


@dataclass(frozen=True)
class AddResult:
    """The outcome of record_analysis / link_or_mark_pending for one path."""

    path: str
    photo_id: int
    created: bool  # True: a new photo was analysed and stored; False: linked to the photo with this hash
    objects: int
    face_ids: tuple[int, ...]
    new_faces: tuple[NewFace, ...] = ()  # only when created
    removed: RemoveResult | None = None  # the path's previous content, if that photo lost its last file
    restored: bool = False  # the photo was missing and its bytes came back (linked, nothing analysed)
    imported: ImportResult | None = None  # what the photo's metadata import did (record_analysis with a plan)


Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class RegionFace:
    """A named region no detected face covers, with its crop's face (an imported face, source 'xmp')."""

    box: Box
    name: str
    landmarks: tuple[tuple[float, float], ...]
    embedding: NDArray[np.float32] = field(repr=False, compare=False)


@dataclass(frozen=True)
class SidecarSeen:
    """The sidecar a photo's metadata came from as last seen (None: no sidecar), so start-up notices a change."""

    path: str | None = None
    size: int | None = None
    mtime_ns: int | None = None
    digest: str | None = None


@dataclass(frozen=True)
class ImportPlan:
    """What one photo's XMP names become (planned by `daemon/people/xmp_import.py`, applied by the store in one
    transaction): faces pinned to the people of these names, new imported faces, imported faces to drop.

    `pins` are (position in `face_ids`, name); `face_ids` None: the faces the same transaction records, in order.
    The store pins no face a user correction protects by then. `resync`: pictod's part of the sidecar must be
    written again whatever changed (a photo replaced in place, another tool's edit)."""

    pins: tuple[tuple[int, str], ...] = ()
    face_ids: tuple[int, ...] | None = None
    new_faces: tuple[RegionFace, ...] = ()
    drop_faces: tuple[int, ...] = ()  # imported faces whose region is gone (a re-import)
    reimport: bool = False  # this photo's earlier imported corrections are replaced
    sidecar: SidecarSeen = SidecarSeen()
    resync: bool = False
    regions: int = 0  # for the result: importable regions, matched to a face, names used without a region
    matched: int = 0
    names: int = 0
    skipped: int = 0  # faces left alone: the user corrected them after the last import
    place: tuple[str | None, str | None, str | None] | None = None  # another tool's City, State, Country


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


@dataclass(frozen=True)
class StatusCounts:
    """What `pictod status` shows."""

    files_done: int
    files_pending: int
    files_failed: int
    photos: int
    faces: int
    faces_unassigned: int
    people: int
    named_people: int
    last_recluster: str | None  # ISO 8601 UTC
    photos_since_recluster: int
    photos_missing: int = 0  # photos whose files vanished, kept for library.keep_missing_days (not in `photos`)
    people_missing: int = 0  # people all of whose photos are missing (not in `people`; they keep their names)
    oldest_missing: str | None = None  # since when the oldest missing photo is missing (ISO 8601 UTC)
    roots_missing: dict[str, str] = field(default_factory=dict)  # watched roots away: root -> since (ISO UTC)
    sidecars_dirty: int = 0  # photos whose sidecars wait to be written (or to be retried)
    sidecar_error: str | None = None  # the last failed sidecar write, while any photo still waits for a retry
