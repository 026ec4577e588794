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
    """The outcome of record_analysis / link_existing for one path."""

    path: str
    photo_id: int
    created: bool  # True: a new photo was analysed and stored; False: linked to the photo with this hash
    objects: int
    face_ids: tuple[int, ...]
    new_faces: tuple[NewFace, ...] = ()  # only when created
    removed: RemoveResult | None = None  # the path's previous content, if that photo lost its last file
    restored: bool = False  # the photo was missing and its bytes came back (linked, nothing analysed)


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
