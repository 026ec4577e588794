"""A video's sampled frames -> one face per person seen and one object per label, with when they are seen.

Pure maths, no decoding and no database. Faces: the faces of neighbouring samples are linked into tracks
(greedy by embedding distance: within `eps` when the boxes are near each other, within `eps_alone` wherever
they are); tracks of the same person (a cut away and back) are then joined when their mean embeddings are
within `eps_alone` and they never share a frame (two faces of one frame are two people). Each person keeps its
best face (quality score, then detector score and size), which is what goes to the people, with the spans of
every track it was made of. So a person gets at most one face of a video and a track never gives two.
Objects: each label's best detection, seen over the runs of consecutive samples that have it.

Borrowing (`Lender`): a face that looks the same as a face near it in the previous analysed frame (its aligned
crop in grey, `look`, correlating >= `same_look` with the crop whose embedding it would take) takes that
embedding instead of running the embedder (~25 ms a face on a CPU core). Measured on the labelled clips and the
cost clips of bench/video.py (`--looks`: 93 near pairs): every near pair at or above 0.8 was one person (cosine
<= 0.13), two people in one place at most 0.53. Looks are always compared with the crop the embedding was made
from, never with another borrower's (no drift along a track), and a face lends once per frame. A borrowed face ranked
above its lender (`rank`: quality, then detector score and size, the order a person's face is chosen by; the
quality score alone ties at its top, 1.0) keeps its pixels (`Lent.keep_payload`; the best one per lender) so the
analysis can embed it after all when it is the face a person keeps (`Lender.kept`): what goes to the people is
always a face's own embedding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daemon.types import Box, DetectedFace, DetectedObject, Span

NEAR = 1.5  # boxes are near when their centres are within this many face sizes
LOOK_SIDE = 24  # px: the grey thumbnail of a face's aligned crop that borrowing compares


@dataclass
class _Track:
    members: list[tuple[int, float, DetectedFace]] = field(default_factory=list)  # (sample index, time, face)
    total: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))

    def add(self, index: int, time: float, face: DetectedFace) -> None:
        vector = np.asarray(face.embedding, dtype=np.float64)
        self.total = vector.copy() if self.total.size == 0 else self.total + vector
        self.members.append((index, time, face))

    @property
    def mean(self) -> NDArray[np.float64]:
        norm = float(np.linalg.norm(self.total))
        return self.total / norm if norm > 0 else self.total

    @property
    def last(self) -> tuple[int, float, DetectedFace]:
        return self.members[-1]

    def indices(self) -> set[int]:
        return {m[0] for m in self.members}


def _distance(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    return 1.0 - float(np.dot(a, b))


def _near(a: Box, b: Box) -> bool:
    size = max(a[2] - a[0], a[3] - a[1], b[2] - b[0], b[3] - b[1], 1.0)
    ca, cb = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2), ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    return float(np.hypot(ca[0] - cb[0], ca[1] - cb[1])) <= NEAR * size


def link(samples: Sequence[tuple[float, Sequence[DetectedFace]]], *, eps: float, eps_alone: float) -> list[_Track]:
    """Tracks across neighbouring samples (see the module docstring)."""
    tracks: list[_Track] = []
    open_tracks: list[_Track] = []  # those whose last face is in the previous sample
    for index, (time, faces) in enumerate(samples):
        pairs = []
        for fi, face in enumerate(faces):
            vector = np.asarray(face.embedding, dtype=np.float64)
            for ti, track in enumerate(open_tracks):
                d = _distance(track.mean, vector)
                if d <= eps_alone or (d <= eps and _near(track.last[2].box, face.box)):
                    pairs.append((d, fi, ti))
        used_faces: set[int] = set()
        used_tracks: set[int] = set()
        continued: list[_Track] = []
        for _d, fi, ti in sorted(pairs):
            if fi in used_faces or ti in used_tracks:
                continue
            used_faces.add(fi)
            used_tracks.add(ti)
            open_tracks[ti].add(index, time, faces[fi])
            continued.append(open_tracks[ti])
        for fi, face in enumerate(faces):
            if fi not in used_faces:
                track = _Track()
                track.add(index, time, face)
                tracks.append(track)
                continued.append(track)
        open_tracks = continued
    return tracks


def people(tracks: list[_Track], *, eps_alone: float) -> list[list[_Track]]:
    """Tracks of the same person joined: average linkage on the tracks' mean embeddings within eps_alone, never
    two tracks that share a sample."""
    groups = [[t] for t in tracks]
    while True:
        best: tuple[float, int, int] | None = None
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                if _indices(groups[i]) & _indices(groups[j]):
                    continue
                d = float(np.mean([_distance(a.mean, b.mean) for a in groups[i] for b in groups[j]]))
                if d <= eps_alone and (best is None or d < best[0]):
                    best = (d, i, j)
        if best is None:
            return groups
        _d, i, j = best
        groups[i] = groups[i] + groups[j]
        del groups[j]


def _indices(group: list[_Track]) -> set[int]:
    out: set[int] = set()
    for track in group:
        out |= track.indices()
    return out


Rank = tuple[float, float, float]


def rank(quality: float, score: float, box: Box) -> Rank:
    """How a person's face is chosen among its track's: quality score, then detector score, then box area (a
    borrower keeps its pixels by the same order: the quality score alone ties, 1.0 being its top)."""
    return (quality, score, (box[2] - box[0]) * (box[3] - box[1]))


def _rank(face: DetectedFace) -> Rank:
    return rank(face.quality.score if face.quality is not None else 0.5, face.score, face.box)


def spans(indices: Sequence[int], times: Sequence[float], end: float) -> tuple[Span, ...]:
    """Runs of consecutive sample indices -> (start, end) seconds each: from the first sample of the run to the
    next sample that no longer shows it (or the video's `end`). The sampler analyses a frame whenever the scene
    changes, so the key frames probed in between looked like the last analysed one."""
    out: list[Span] = []
    run: list[int] = []

    def close() -> None:
        after = run[-1] + 1
        out.append((times[run[0]], round(times[after] if after < len(times) else max(end, times[run[-1]]), 3)))

    for i in sorted(set(indices)):
        if run and i != run[-1] + 1:
            close()
            run = []
        run.append(i)
    if run:
        close()
    return tuple(out)


def video_faces(samples: Sequence[tuple[float, Sequence[DetectedFace]]], *, eps: float,
                eps_alone: float, end: float) -> tuple[DetectedFace, ...]:
    """One face per person seen in the video: the best of its tracks' faces, with time, track number and spans."""
    times = [t for t, _ in samples]
    out = []
    groups = people(link(samples, eps=eps, eps_alone=eps_alone), eps_alone=eps_alone)
    groups.sort(key=lambda g: min(m[0] for t in g for m in t.members))
    for number, group in enumerate(groups):
        members = [m for t in group for m in t.members]
        _index, time, face = max(members, key=lambda m: _rank(m[2]))
        out.append(replace(face, time=time, track=number, seen=spans([m[0] for m in members], times, end)))
    return tuple(out)


def video_objects(samples: Sequence[tuple[float, Sequence[DetectedObject]]], *, end: float
                  ) -> tuple[DetectedObject, ...]:
    """One object per label: its best detection, with the time of that frame and the spans it is seen over."""
    times = [t for t, _ in samples]
    best: dict[str, tuple[DetectedObject, float]] = {}
    where: dict[str, list[int]] = {}
    for index, (time, objects) in enumerate(samples):
        for obj in objects:
            where.setdefault(obj.label, []).append(index)
            if obj.label not in best or obj.score > best[obj.label][0].score:
                best[obj.label] = (obj, time)
    return tuple(replace(obj, time=time, seen=spans(where[label], times, end))
                 for label, (obj, time) in sorted(best.items()))


def look(crop: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A face's appearance for borrowing: its aligned RGB crop in grey at LOOK_SIDE px, mean off, unit length
    (so the dot product of two looks is their correlation: brightness and contrast changes do not count)."""
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (LOOK_SIDE, LOOK_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
    small -= small.mean()
    norm = float(np.linalg.norm(small))
    return small / norm if norm > 0 else small


@dataclass
class _Source:
    """An embedding the embedder made: the look of its crop and the rank of its face (`rank`), and the best
    borrower of better rank (its rank, time and box; its pixels are in `Lender._payloads`)."""

    look: NDArray[np.float32]
    rank: Rank
    best: tuple[Rank, float, Box] | None = None  # (rank, time, box)


@dataclass
class Lent:
    """What `Lender.lend` answers: the embedding to take and whether the caller should hand over the face's
    pixels (`keep_payload`: it is the best-quality borrower of its lender so far)."""

    embedding: NDArray[np.float32]
    keep_payload: bool
    _source: _Source


class Lender:
    """The faces of a video's last analysed frame, lending their embeddings to the next frame's faces (see the
    module docstring). `lend` per face of a frame, then `frame` with that frame's faces."""

    def __init__(self, same_look: float) -> None:
        self.same_look = same_look
        self.lent = 0  # faces that borrowed
        self._last: list[tuple[Box, NDArray[np.float32], _Source]] = []  # (box, embedding, source)
        self._taken: set[int] = set()
        self._payloads: dict[tuple[float, Box], Any] = {}  # the best borrower of each source: at most one each

    def lend(self, box: Box, face_look: NDArray[np.float32], face_rank: Rank) -> Lent | None:
        """The embedding of the most alike face near `box` in the last frame, if it looks the same; `face_rank`
        (`rank`) tells whether it is a borrower a person may keep (the video_faces order): it keeps its pixels."""
        best: tuple[float, int] | None = None
        for i, (other, _vector, source) in enumerate(self._last):
            if i in self._taken or not _near(other, box):
                continue
            alike = float(np.dot(face_look.ravel(), source.look.ravel()))
            if alike >= self.same_look and (best is None or alike > best[0]):
                best = (alike, i)
        if best is None:
            return None
        self._taken.add(best[1])
        _box, vector, source = self._last[best[1]]
        self.lent += 1
        keep = face_rank > source.rank and (source.best is None or face_rank > source.best[0])
        return Lent(embedding=vector, keep_payload=keep, _source=source)

    def frame(self, time: float, faces: Sequence[tuple[Box, NDArray[np.float32], NDArray[np.float32], Rank,
                                                      Lent | None, Any]]) -> None:
        """This frame's faces (box, look, embedding, rank, what `lend` gave or None, the payload when
        `keep_payload`), the next frame's lenders."""
        last = []
        for box, face_look, vector, face_rank, lent, payload in faces:
            if lent is None:
                source = _Source(look=face_look, rank=face_rank)
            else:
                source = lent._source
                if lent.keep_payload and payload is not None:
                    if source.best is not None:
                        self._payloads.pop((source.best[1], source.best[2]), None)
                    source.best = (face_rank, time, box)
                    self._payloads[(time, box)] = payload
            last.append((box, vector, source))
        self._last, self._taken = last, set()

    def kept(self, time: float | None, box: Box) -> Any:
        """The payload of the borrowed face at `time` and `box` when it is the best borrower of its lender (a
        face a person may keep: it should be embedded after all), else None (it has its own embedding, or a
        face of its track is better)."""
        return None if time is None else self._payloads.get((time, box))
