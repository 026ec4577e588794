"""The read side of the library: people lists, a person's faces, photo search, tag counts, contact sheets.

Everything here only reads (a read-only `Store` will do); the contact sheet decodes photos with `imaging` and
draws with cv2. Corrections live in `daemon/library/corrections.py`, the cluster manager in `daemon/people/manager.py`.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from daemon.config import AnalysisConfig, ClusteringConfig
from daemon.errors import NotFoundError, PictodError
from daemon.people import clusters
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


@dataclass(frozen=True)
class PhotoQuery:
    """A photo search (`pictod photos`, the web app). Every condition given must hold (AND); empty matches all.

    - `tags`: COCO object labels; the photo shows every one of them.
    - `people`: person ids (int, or a string of digits) or exact names; the photo has a face of every one of
      them (a name shared by several people matches any of those). Unknown ids/names raise NotFoundError.
    - `any_person`: at least one face assigned to a person; `no_people`: no face assigned to any person (the
      complement; faces not grouped into a person yet do not count, `tags=("person",)` finds bodies).
    - `since` / `until`: 'YYYY', 'YYYY-MM', 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM[:SS]', both inclusive (`until`
      covers the whole year/month/day/minute given), on the photo's date: its EXIF capture time, else its file's
      modification time in local time (`PhotoHit.date_source` says which). ValueError for other text.
    - `camera`: case-insensitive substring of the EXIF camera ("canon", "iPhone 12").
    - `near`: (latitude, longitude, km) on the stored GPS position; photos without one never match.
    - `sort`: 'path' (first path) or 'date'; `descending` reverses it. `limit` (None: all) and `offset` page it.
    """

    tags: tuple[str, ...] = ()
    people: tuple[int | str, ...] = ()
    any_person: bool = False
    no_people: bool = False
    since: str | None = None
    until: str | None = None
    camera: str | None = None
    near: tuple[float, float, float] | None = None
    sort: Literal["path", "date"] = "path"
    descending: bool = False
    limit: int | None = None
    offset: int = 0


@dataclass(frozen=True)
class PhotoObject:
    """An object found in a photo."""

    label: str
    score: float
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class PhotoFace:
    """A face in a photo, with its person if it has one."""

    id: int
    box: tuple[float, float, float, float]
    score: float  # detector confidence
    person_id: int | None
    person_name: str | None
    quality: float | None  # face quality where the library stores one, else None


@dataclass(frozen=True)
class PhotoHit:
    """One photo found by `search_photos`."""

    id: int
    paths: list[str]  # every file showing these bytes, in path order
    date: str  # the date the search used: taken_at, else file_time
    date_source: Literal["exif", "file"]
    taken_at: str | None  # EXIF capture time, ISO 8601 as the camera wrote it
    file_time: str  # the earliest file's modification time, local, ISO 8601
    camera: str | None
    width: int
    height: int
    format: str
    bytes: int
    gps: tuple[float, float] | None  # (latitude, longitude)
    distance_km: float | None  # from `near`, when given
    objects: list[PhotoObject] = field(default_factory=list)
    faces: list[PhotoFace] = field(default_factory=list)


_WHEN = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?)?)?")


def date_bounds(text: str) -> tuple[str, str]:
    """'2020', '2020-05', '2020-05-17' or '2020-05-17T14:30[:05]' -> (first second, first second after), as
    'YYYY-MM-DDTHH:MM:SS' text; ValueError naming what is wrong for anything else."""
    match = _WHEN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a date: {text!r} (use YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS])")
    year, month, day, hour, minute, second = (0 if g is None else int(g) for g in match.groups())
    given = sum(g is not None for g in match.groups())
    try:
        start = datetime(year, month or 1, day or 1, hour, minute, second)
    except ValueError as exc:
        raise ValueError(f"not a date: {text!r} ({exc}; years run from 0001 to 9999)") from None
    try:
        if given == 1:
            end = start.replace(year=year + 1)
        elif given == 2:
            end = datetime(year + (month == 12), month % 12 + 1, 1)
        else:
            end = start + timedelta(**{3: {"days": 1}, 5: {"minutes": 1}}.get(given, {"seconds": 1}))
    except (ValueError, OverflowError):
        # The first moment after the last one datetime knows (issue 22: `--since 9999` said "not a date"): text
        # that sorts after every 9999 date.
        return start.isoformat(), "9999-12-31T23:59:60"
    return start.isoformat(), end.isoformat()


def search_photos(store: Store, query: PhotoQuery) -> list[PhotoHit]:
    """Photos matching every condition of the query, with paths, dates, camera, objects and faces."""
    since = date_bounds(query.since)[0] if query.since else None
    until = date_bounds(query.until)[1] if query.until else None
    if query.near is not None:
        lat, lon, km = query.near
        if not (-90 <= lat <= 90 and -180 <= lon <= 180 and km >= 0):
            raise ValueError(f"near: latitude -90..90, longitude -180..180, km >= 0 (got {lat}, {lon}, {km})")

    def read(conn: sqlite3.Connection) -> list[PhotoHit]:
        groups: list[tuple[int, ...]] = []
        for person in query.people:
            if isinstance(person, int) or str(person).isdigit():
                groups.append((faces.person_row(conn, int(person))[0],))
            else:
                ids = faces.people_named(conn, person)
                if not ids:
                    raise NotFoundError(f"no person named {person!r} (see `pictod people`)")
                groups.append(tuple(ids))
        flt = queries.PhotoFilter(
            tags=tuple(query.tags), person_groups=tuple(groups), any_person=query.any_person,
            no_people=query.no_people, since=since, until=until, camera=query.camera, near=query.near,
            sort=query.sort, descending=query.descending, limit=query.limit, offset=query.offset)
        return [_hit(row) for row in queries.search_photos(conn, flt)]
    return store.read(read)


def _hit(row: queries.PhotoRow) -> PhotoHit:
    return PhotoHit(
        id=row.id, paths=list(row.paths), date=row.taken_at or row.file_time,
        date_source="exif" if row.taken_at else "file", taken_at=row.taken_at, file_time=row.file_time,
        camera=row.camera, width=row.width, height=row.height, format=row.format, bytes=row.bytes, gps=row.gps,
        distance_km=row.distance_km,
        objects=[PhotoObject(label=label, score=score, box=box) for label, score, box in row.objects],
        faces=[PhotoFace(id=fid, box=box, score=score, person_id=pid, person_name=name, quality=quality)
               for fid, box, score, pid, name, quality in row.faces])


def tag_counts(store: Store) -> dict[str, int]:
    """Object tags with the number of photos showing each, most common first."""
    return store.read(queries.tag_counts)


@dataclass(frozen=True)
class SheetFace:
    """One tile of a contact sheet, in reading order (left to right, top to bottom)."""

    position: int  # 1-based tile number
    face_id: int  # what `pictod faces move/reject` take
    photo_id: int
    path: str
    distance: float | None  # cosine distance to the person's mean (None if the person has no mean yet)


def write_contact_sheet(
    store: Store, person_id: int, out_png: Path, *, size: int = 112, columns: int = 8,
    limits: AnalysisConfig | None = None,
) -> list[SheetFace]:
    """Write a grid PNG of the person's face crops, each labelled with its face id and distance to the person
    (photos whose file is gone are skipped); return the faces drawn, in tile order."""
    import cv2

    detail = person_detail(store, person_id)
    distances = store.read(lambda conn: faces.face_distances(conn, person_id))
    tiles: list[NDArray[np.uint8]] = []
    drawn: list[SheetFace] = []
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
        tile = np.ascontiguousarray(cv2.resize(image[b:d, a:c], (size, size), interpolation=cv2.INTER_AREA),
                                    np.uint8)
        distance = distances.get(face.id)
        _label(tile, f"#{face.id}" + ("" if distance is None else f" {distance:.2f}"))
        tiles.append(tile)
        drawn.append(SheetFace(position=len(drawn) + 1, face_id=face.id, photo_id=face.photo_id, path=face.path,
                               distance=None if distance is None else round(distance, 4)))
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
    return drawn


def _label(tile: NDArray[np.uint8], text: str) -> None:
    """White text on a black band along the tile's bottom edge, scaled to fit its width."""
    import cv2

    size = tile.shape[0]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = 0.4
    (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    if tw > size - 4:
        scale *= (size - 4) / tw
        (tw, th), base = cv2.getTextSize(text, font, scale, 1)
    band = th + base + 4
    tile[size - band:, :] = 0
    cv2.putText(tile, text, (2, size - base - 2), font, scale, (255, 255, 255), 1, cv2.LINE_AA)


def _read_rgb(path: Path, limits: AnalysisConfig) -> tuple[NDArray[np.uint8], float] | None:
    """Oriented RGB pixels and the factor from original to decoded coordinates; None if unreadable."""
    from daemon.analysis import imaging
    from daemon.errors import PhotoError

    try:
        # Boxes are in original oriented pixels, which is what imaging gives (EXIF rotation applied).
        decoded = imaging.load(path, max_pixels=limits.max_pixels, max_file_bytes=limits.max_file_bytes,
                               target_long_side=2048)
    except PhotoError:
        return None
    return decoded.rgb, decoded.scale
