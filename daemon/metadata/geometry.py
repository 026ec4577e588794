"""Where a region is: the photo's stored frame vs the oriented frame pictod's analysis sees. Pure functions.

The rule, as the MWG guidelines 2.0 (5.9, Image Region Metadata) state it and digiKam and exiftool follow it:
region metadata applies to the image as STORED; a viewer that applies the EXIF orientation must apply the same
rotation to the regions. digiKam reads `mwg-rs` and `MP` regions relative to the stored size and calls
TagRegion::adjustToOrientation with the photo's orientation (itemscanner_photo.cpp), and reverses it before
writing; exiftool writes the numbers it is given (its rotate_regions.config rotates regions along with an
image). `AppliedToDimensions` is the stored width and height.

Some writers put regions in the displayed frame instead. Where that is detectable it is honoured: for a photo
turned by 90 degrees (orientations 5-8) whose AppliedToDimensions has the displayed aspect ratio, not the
stored one, the regions are taken as already oriented. For 2-4 (same aspect) nothing can tell, so MWG wins.

Coordinates here are normalised (0..1) x1, y1, x2, y2.
"""

from __future__ import annotations

from dataclasses import dataclass

from daemon.types import Box

Norm = tuple[float, float, float, float]  # x1, y1, x2, y2, each 0..1

# A point (x, y) of the stored image -> the same point once the EXIF orientation is applied (what
# PIL.ImageOps.exif_transpose and daemon.analysis.imaging do to the pixels).
_FORWARD = {
    1: lambda x, y: (x, y),
    2: lambda x, y: (1 - x, y),  # mirrored
    3: lambda x, y: (1 - x, 1 - y),  # rotated 180
    4: lambda x, y: (x, 1 - y),  # mirrored vertically
    5: lambda x, y: (y, x),  # transpose
    6: lambda x, y: (1 - y, x),  # shown turned 90 clockwise
    7: lambda x, y: (1 - y, 1 - x),  # transverse
    8: lambda x, y: (y, 1 - x),  # shown turned 90 counter-clockwise
}
_INVERSE = {6: 8, 8: 6}  # every other orientation's mapping is its own inverse

ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class Geometry:
    """A photo's stored size, its EXIF orientation and so its oriented size (what pictod's analysis sees)."""

    stored_width: int
    stored_height: int
    orientation: int  # 1-8

    @property
    def width(self) -> int:
        """Oriented width."""
        return self.stored_height if self.orientation in (5, 6, 7, 8) else self.stored_width

    @property
    def height(self) -> int:
        """Oriented height."""
        return self.stored_width if self.orientation in (5, 6, 7, 8) else self.stored_height


def _map(box: Norm, orientation: int) -> Norm:
    fn = _FORWARD.get(orientation, _FORWARD[1])
    ax, ay = fn(box[0], box[1])
    bx, by = fn(box[2], box[3])
    return (min(ax, bx), min(ay, by), max(ax, bx), max(ay, by))


def stored_to_oriented(box: Norm, orientation: int) -> Norm:
    """A normalised box on the stored image -> the same region on the oriented image."""
    return _map(box, orientation)


def oriented_to_stored(box: Norm, orientation: int) -> Norm:
    """The inverse of stored_to_oriented."""
    return _map(box, _INVERSE.get(orientation, orientation))


def regions_are_oriented(geometry: Geometry, applied: tuple[float, float] | None) -> bool:
    """True when a region list's AppliedToDimensions (w, h) shows it was written in the displayed frame."""
    if applied is None or geometry.orientation not in (5, 6, 7, 8):
        return False
    aw, ah = applied
    sw, sh = geometry.stored_width, geometry.stored_height
    if aw <= 0 or ah <= 0 or sw <= 0 or sh <= 0 or sw == sh:
        return False
    stored_aspect, applied_aspect = sw / sh, aw / ah
    if abs(applied_aspect - stored_aspect) <= ASPECT_TOLERANCE * stored_aspect:
        return False
    displayed_aspect = sh / sw
    return abs(applied_aspect - displayed_aspect) <= ASPECT_TOLERANCE * displayed_aspect


def to_pixels(box: Norm, geometry: Geometry) -> Box:
    """A normalised box on the oriented image -> pixels of the oriented image."""
    w, h = geometry.width, geometry.height
    return (box[0] * w, box[1] * h, box[2] * w, box[3] * h)


def to_normalised(box: Box, geometry: Geometry) -> Norm:
    """Pixels of the oriented image -> a normalised box on the oriented image."""
    w, h = geometry.width or 1, geometry.height or 1
    return (box[0] / w, box[1] / h, box[2] / w, box[3] / h)


def clip(box: Norm) -> Norm:
    """Clamp a normalised box to the image."""
    return tuple(min(1.0, max(0.0, v)) for v in box)  # type: ignore[return-value]


def area(box: Norm | Box) -> float:
    """Area of an x1, y1, x2, y2 box (0 for an empty or inverted one)."""
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])
