"""Live Photos and motion clips (issue 24): a still and a short video of the same name in the same folder
(`IMG_1234.HEIC` + `IMG_1234.MOV`) are one item. The video points at its still (`photos.paired_with`, schema v11):
the photo search shows the still, which carries the video; the video adds to the people only faces the still
does not have (a face within `eps` of one of the still's is dropped).

Both orders are handled in the recording transaction: a video recorded after its still is paired and its
duplicate faces never stored (`still_for_video`); a still recorded after its video pairs it and drops the
video's duplicate faces (`pair_videos_of_still`, their people's sums follow as for any face leaving).
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.store import faces
from daemon.store.base import enc, marks, vec
from daemon.store.rows import RemoveResult


@dataclass(frozen=True)
class LiveRule:
    """What makes a pair: the photo and video extensions (lower case, with the dot), the video's longest
    duration, and the face distance under which the video's face is the still's."""

    photo_extensions: tuple[str, ...]
    video_extensions: tuple[str, ...]
    max_seconds: float
    eps: float


def _siblings(conn: sqlite3.Connection, path: str, extensions: Sequence[str]) -> list[tuple[int, str]]:
    """Done files `<same folder>/<same stem>.<ext>` with one of the extensions: (photo id, path). One range probe
    of the unique path index."""
    stem, _ext = os.path.splitext(path)
    prefix = enc(stem + ".")
    found = []
    for raw, photo_id in conn.execute("SELECT path, photo_id FROM files WHERE path >= ? AND path < ? AND "
                                      "status = 'done' AND photo_id IS NOT NULL", (prefix, prefix + b"\xff")):
        rest = bytes(raw)[len(prefix):]
        if b"." not in rest and b"/" not in rest and ("." + os.fsdecode(rest)).lower() in extensions:
            found.append((int(photo_id), os.fsdecode(bytes(raw))))
    return found


def still_for_video(conn: sqlite3.Connection, path: str, duration: float | None,
                    rule: LiveRule) -> tuple[int, NDArray[np.float32]] | None:
    """The still a video at `path` belongs to (a photo of the same stem, the video short enough), with the still's
    face embeddings (n x d); None when it is no Live Photo."""
    if duration is None or duration > rule.max_seconds:
        return None
    for photo_id, _path in _siblings(conn, path, rule.photo_extensions):
        row = conn.execute("SELECT kind FROM photos WHERE id = ?", (photo_id,)).fetchone()
        if row is not None and row[0] == "photo":
            return photo_id, _embeddings(conn, [photo_id])
    return None


def _embeddings(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> NDArray[np.float32]:
    rows = [vec(r[0]) for r in conn.execute(
        f"SELECT embedding FROM faces WHERE photo_id IN ({marks(len(photo_ids))})", list(photo_ids))]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), np.float32)


def duplicates(still: NDArray[np.float32], candidates: Sequence[NDArray[np.float32]], eps: float) -> list[bool]:
    """For each candidate embedding: within `eps` (cosine distance) of one of the still's faces."""
    if still.size == 0 or not candidates:
        return [False] * len(candidates)
    sims = np.stack([np.asarray(c, np.float32).reshape(-1) for c in candidates]) @ still.T
    return [bool(1.0 - float(s.max()) <= eps) for s in sims]


def pair(conn: sqlite3.Connection, video_id: int, still_id: int) -> None:
    """Mark the video as the still's motion part."""
    conn.execute("UPDATE photos SET paired_with = ? WHERE id = ?", (still_id, video_id))


def pair_videos_of_still(conn: sqlite3.Connection, path: str, still_id: int, rule: LiveRule) -> RemoveResult | None:
    """A still just recorded: the short videos of its name become its motion part, their faces the still has
    dropped. The removal (for the people manager's index), or None when nothing was dropped."""
    videos = []
    for video_id, _path in _siblings(conn, path, rule.video_extensions):
        row = conn.execute("SELECT kind, duration FROM photos WHERE id = ?", (video_id,)).fetchone()
        if row is not None and row[0] == "video" and row[1] is not None and row[1] <= rule.max_seconds:
            videos.append(video_id)
    if not videos:
        return None  # the common case, on every still recorded: no embedding read
    still = _embeddings(conn, [still_id])
    dropped: list[int] = []
    for video_id in videos:
        pair(conn, video_id, still_id)
        rows = conn.execute("SELECT id, embedding FROM faces WHERE photo_id = ? ORDER BY id", (video_id,)).fetchall()
        same = duplicates(still, [vec(r[1]) for r in rows], rule.eps)
        dropped += [int(r[0]) for r, dup in zip(rows, same, strict=True) if dup]
    if not dropped:
        return None
    return faces.drop_faces(conn, dropped)


def merged(a: RemoveResult | None, b: RemoveResult | None) -> RemoveResult | None:
    """Two removals of one transaction as one (what the people manager is told)."""
    if a is None or b is None:
        return a or b
    return RemoveResult(files_removed=a.files_removed + b.files_removed, photo_ids=a.photo_ids + b.photo_ids,
                        faces_removed=a.faces_removed + b.faces_removed, face_ids=a.face_ids + b.face_ids,
                        people_updated=tuple(sorted(set(a.people_updated) | set(b.people_updated))),
                        people_pruned=tuple(sorted(set(a.people_pruned) | set(b.people_pruned))),
                        removed_rev=max(a.removed_rev, b.removed_rev),
                        photos_missing=a.photos_missing + b.photos_missing)
