"""The plain records daemon.metadata hands out and takes in, and what a valid person name is."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from daemon.errors import MetadataError
from daemon.types import Box

MAX_NAME_CHARS = 200
# Bidirectional overrides and isolates can make a name display as something else in a terminal or page.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class FaceRegion:
    """A named face region found in a photo's metadata.

    `box` is x1, y1, x2, y2 in pixels of the ORIENTED photo, the frame pictod's analysis reports faces in.
    """

    name: str
    box: Box
    source: str  # file the region was read from: the photo's or the sidecar's name
    sidecar: bool
    schema: Literal["mwg", "mp"]
    pictod_key: str | None = None  # set when pictod wrote this region (its own mark)


@dataclass(frozen=True)
class Ignored:
    """Metadata that was not used, with a one-line reason for the log."""

    source: str
    reason: str  # "<code>: <message>", e.g. "forbidden: IMG_1.jpg.xmp: XMP with a DTD or entities refused ..."


@dataclass(frozen=True)
class SidecarInfo:
    """One sidecar found beside a photo."""

    path: Path
    digest: str | None  # sha256 of its bytes; None when it could not be read
    pictod_unchanged: bool  # pictod wrote it and nobody changed it since (the daemon's own write)


@dataclass(frozen=True)
class PlaceNames:
    """A photo's place by name, as photoshop:City, State and Country hold it (each may be missing)."""

    city: str | None = None
    state: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class PhotoMetadata:
    """Names, face regions and keywords of one photo, from its embedded XMP and its sidecars."""

    width: int  # oriented size (0 when the photo's header could not be read: then no region is placed)
    height: int
    orientation: int
    regions: tuple[FaceRegion, ...] = ()
    names: tuple[str, ...] = ()  # person names with no region (PersonInImage, People/ tags, unplaced regions)
    keywords: tuple[str, ...] = ()  # dc:subject, without the person names
    sidecars: tuple[SidecarInfo, ...] = ()
    ignored: tuple[Ignored, ...] = ()
    place: PlaceNames | None = None  # another tool's photoshop:City/State/Country (pictod's own left out)


@dataclass(frozen=True)
class NamedFace:
    """A face pictod writes to a sidecar: a person's name, its box in ORIENTED pixels and pictod's key for it."""

    name: str
    box: Box
    key: str  # opaque and stable, e.g. "face:1234": marks the region as pictod's own


@dataclass(frozen=True)
class SidecarContent:
    """Everything pictod owns in one photo's sidecar; an empty content removes pictod's part."""

    faces: tuple[NamedFace, ...] = ()
    keywords: tuple[str, ...] = ()  # object tags, written only when [metadata] write_tags is on
    place: PlaceNames | None = None  # the geocoder's names, written where no other tool wrote a place field
    # False for a video (issue 24): its people are written as names only (PersonInImage and the keyword
    # hierarchies), no face regions: a region names an area of one frame, and a video has many.
    regions: bool = True


@dataclass(frozen=True)
class WriteResult:
    """What write_sidecar did."""

    path: Path
    status: Literal["written", "unchanged", "removed", "absent", "skipped"]
    digest: str | None = None  # sha256 of the sidecar's bytes as written (or as they already were)
    reason: str | None = None  # why it was skipped (one line)
    dropped: tuple[str, ...] = ()  # faces or keywords left out, each with a one-line reason


def clean_name(raw: str, *, what: str) -> str:
    """A person name as pictod stores it: NFC, whitespace collapsed; MetadataError for an unusable one."""
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in raw) or any(
        ch in _BIDI_CONTROLS for ch in raw
    ):
        raise MetadataError("bad_name", f"{what}: name {_preview(raw)} has control characters")
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name:
        raise MetadataError("bad_name", f"{what}: empty name")
    if len(name) > MAX_NAME_CHARS:
        raise MetadataError("bad_name", f"{what}: name of {len(name)} characters, limit {MAX_NAME_CHARS}")
    return name


def _preview(raw: str) -> str:
    shown = raw[:40] + ("..." if len(raw) > 40 else "")
    return ascii(shown)
