"""The read side of the library: people lists, a person's faces, photo search, tag counts, contact sheets.

Everything here only reads (a read-only `Store` will do); the contact sheet decodes photos with `imaging` and
draws with cv2. Corrections live in `daemon/corrections.py`, the cluster manager in `daemon/people.py`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from daemon import clusters
from daemon.config import AnalysisConfig, ClusteringConfig
from daemon.errors import NotFoundError, PictodError
from daemon.store import Store, faces, queries


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


@dataclass(frozen=True)
class Suggestion:
    """A person an unassigned face may be: its distance (the smaller of the distance to the person's mean and one
    minus the mean of the face's `assign_k` best similarities to the person's faces)."""

    person_id: int
    person_name: str | None
    distance: float


@dataclass(frozen=True)
class FaceSuggestions:
    """An unassigned face and the people it may be, nearest first."""

    face_id: int
    photo_id: int
    suggestions: list[Suggestion]


def summary_of(row: faces.PersonRow) -> PersonSummary:
    """A person row from the store as a PersonSummary."""
    return PersonSummary(id=row[0], name=row[1], faces=row[2], photos=row[3])


def personsummary_of(conn: sqlite3.Connection, person_id: int) -> PersonSummary:
    """One person's summary on an open connection; NotFoundError for an unknown id."""
    return summary_of(faces.person_row(conn, person_id))


def list_people(store: Store) -> list[PersonSummary]:
    """Every person: id, name, faces, photos (most faces first)."""
    return [summary_of(r) for r in store.read(faces.people_rows)]


def person_detail(store: Store, person_id: int) -> PersonDetail:
    """One person with each face, its photo path and box."""
    def read(conn: sqlite3.Connection) -> PersonDetail:
        person = personsummary_of(conn, person_id)
        face_list = [FaceInfo(id=fid, photo_id=photo_id, path=path, box=box, score=score, pinned=pinned)
                     for fid, photo_id, path, box, score, pinned in faces.person_faces(conn, person_id)]
        return PersonDetail(id=person.id, name=person.name, faces=person.faces, photos=person.photos,
                            face_list=face_list)
    return store.read(read)


def suggest_faces(store: Store, *, person_id: int | None = None, face_ids: list[int] | None = None,
                  eps: float | None = None, k: int | None = None) -> list[FaceSuggestions]:
    """For every unassigned face (or these faces), the people within `eps` (default `clustering.suggest_eps`),
    nearest first; only faces with at least one suggestion, nearest first. With `person_id`, only that person
    is suggested. Never suggested: a person the user rejected for the face, a person that already has a face of
    the same photo. NotFoundError for an unknown person."""
    defaults = ClusteringConfig()
    radius = defaults.suggest_eps if eps is None else float(eps)
    best_k = defaults.assign_k if k is None else int(k)

    def read(conn: sqlite3.Connection) -> tuple[faces.FaceRows, faces.FaceRows, list[tuple[int, bytes]],
                                                set[tuple[int, int]], set[tuple[int, int]], dict[int, str | None]]:
        if person_id is not None:
            faces.person_row(conn, person_id)
        loose = faces.unassigned_faces(conn, face_ids)
        return (loose, faces.assigned_faces(conn, person_id),
                faces.means(conn, None if person_id is None else [person_id]),
                faces.rejections_of(conn, loose.ids.tolist()), faces.photo_people_of(conn, loose.photos.tolist()),
                faces.person_names(conn))

    loose, members, mean_rows, rejected, taken, names = store.read(read)
    if not len(loose.ids) or not len(members.ids):
        return []
    means = clusters.normalise(np.stack([q_vec(m) for _p, m in mean_rows])) if mean_rows else None
    ranked = clusters.nearest_people(loose.vectors, clusters.normalise(members.vectors), members.people, radius,
                                     k=best_k, means=means,
                                     mean_owners=np.array([p for p, _m in mean_rows], np.int64))
    out: list[FaceSuggestions] = []
    for face_id, photo_id, options in zip(loose.ids.tolist(), loose.photos.tolist(), ranked, strict=True):
        kept = [Suggestion(person_id=p, person_name=names.get(p), distance=round(d, 4)) for p, d in options
                if (face_id, p) not in rejected and (photo_id, p) not in taken]
        if kept:
            out.append(FaceSuggestions(face_id=face_id, photo_id=photo_id, suggestions=kept))
    out.sort(key=lambda item: (item.suggestions[0].distance, item.face_id))
    return out


def q_vec(raw: bytes) -> NDArray[np.float32]:
    """A stored embedding BLOB as a vector."""
    from daemon.store import base

    return base.vec(raw)


def search_photos(store: Store, tag: str | None = None, person: int | str | None = None) -> list[str]:
    """Paths of photos with an object tag and/or a person (id or exact name)."""
    def read(conn: sqlite3.Connection) -> list[str]:
        ids: list[int] | None = None
        if person is not None:
            if isinstance(person, int) or str(person).isdigit():
                ids = [faces.person_row(conn, int(person))[0]]
            else:
                ids = faces.people_named(conn, person)
                if not ids:
                    raise NotFoundError(f"no person named {person!r} (see `pictod people`)")
        return queries.search_photos(conn, tag, ids)
    return store.read(read)


def tag_counts(store: Store) -> dict[str, int]:
    """Object tags with the number of photos showing each, most common first."""
    return store.read(queries.tag_counts)


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
