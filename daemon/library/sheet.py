"""The contact sheet of `pictod people show ID --sheet`: a grid PNG of a person's face crops, each labelled.

It decodes photos with `daemon/analysis/imaging.py` and draws with cv2; the faces come from `reads.person_detail`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from daemon.config import AnalysisConfig
from daemon.errors import NotFoundError, PictodError
from daemon.library.reads import person_detail
from daemon.store import Store, faces


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
