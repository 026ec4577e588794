"""XMP metadata in and out, as plain data: face regions, person names and keywords; no database.

Read: `read_metadata(photo)` -> PhotoMetadata (regions in the oriented pixels pictod's analysis uses, names
without regions, keywords, the sidecars found and everything ignored with its one-line reason).
Write: `write_sidecar(photo, SidecarContent(...))` -> WriteResult, atomic, keeping what pictod did not write.
Own writes: `is_own_write(sidecar)` (or SidecarInfo.pictod_unchanged) tells the daemon's echo from a change.

XML goes through the standard library's expat via defusedxml with DTDs refused (see xmpdoc.py): the packets
pictod needs are small RDF documents, exiv2's bindings do not read JPEG ExtendedXMP, and exempi is a system
library that a pip install cannot bring.
"""

from __future__ import annotations

from daemon.metadata.containers import geometry_of
from daemon.metadata.geometry import Geometry
from daemon.metadata.model import (
    FaceRegion,
    Ignored,
    NamedFace,
    PhotoMetadata,
    PlaceNames,
    SidecarContent,
    SidecarInfo,
    WriteResult,
    clean_name,
)
from daemon.metadata.read import read_metadata
from daemon.metadata.sidecars import find_sidecars, is_own_write, is_sidecar_name, sidecar_for_write
from daemon.metadata.write import write_sidecar

__all__ = [
    "FaceRegion",
    "Geometry",
    "Ignored",
    "NamedFace",
    "PhotoMetadata",
    "PlaceNames",
    "SidecarContent",
    "SidecarInfo",
    "WriteResult",
    "clean_name",
    "find_sidecars",
    "geometry_of",
    "is_own_write",
    "is_sidecar_name",
    "read_metadata",
    "sidecar_for_write",
    "write_sidecar",
]
