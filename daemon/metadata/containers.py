"""A photo file -> its embedded XMP packets and its geometry (stored size, EXIF orientation); no pixel decoded.

Pillow (already what decodes the photo) walks the container: JPEG APP1 segments, including the ExtendedXMP
segments Pillow keeps in `applist` but does not join (XMP Part 3, 1.1.3.1: chunks carry a GUID, the full length
and an offset; the GUID is the MD5 of the whole and is named by xmpNote:HasExtendedXMP in the standard packet),
PNG iTXt (also after IDAT, where exiftool puts it and Pillow does not look without decoding), TIFF tag 700,
WebP's XMP chunk, and HEIF/AVIF metadata items.

The orientation is the one daemon.analysis.imaging applies (EXIF, else XMP tiff:Orientation, else 1), so regions land
where pictod's analysis sees faces. HEIF is the exception: libheif applies the file's rotation itself and
pillow-heif reports the displayed size, keeping the EXIF value in `original_orientation`; regions still refer
to the stored (coded) image, so that value maps them.
"""

from __future__ import annotations

import hashlib
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from daemon.analysis import imaging
from daemon.errors import MetadataError
from daemon.metadata.geometry import Geometry
from daemon.metadata.xmpdoc import MAX_PACKET_BYTES

XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_SIGNATURE = b"http://ns.adobe.com/xmp/extension/\x00"
_HAS_EXTENDED = re.compile(rb"HasExtendedXMP(?:\s*=\s*[\"']|[^<>]*>)\s*([0-9A-Fa-f]{32})")
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')  # the rule daemon.analysis.imaging applies
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_XMP_KEYWORD = b"XML:com.adobe.xmp"
_MAX_PNG_CHUNKS = 10_000

# Exceptions Pillow's header parsers raise for bad data (the same family daemon.analysis.imaging catches).
_HEADER_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, SyntaxError, struct.error, EOFError, ZeroDivisionError, IndexError, KeyError, TypeError,
    OverflowError, RuntimeError, MemoryError, AttributeError, Image.DecompressionBombError,
)


@dataclass(frozen=True)
class Embedded:
    """What a photo file itself carries: geometry, XMP packets (standard first, then extended), problems met."""

    geometry: Geometry
    packets: tuple[bytes, ...]
    problems: tuple[MetadataError, ...] = ()


def read_photo(path: Path, *, packets: bool = True) -> Embedded:
    """Open the photo's header; MetadataError(unreadable) when it is not a photo pictod can read."""
    imaging.ensure_ready()
    try:
        with Image.open(path, formats=imaging.FORMATS) as im:
            return _inspect(im, path, packets=packets)
    except UnidentifiedImageError:
        raise MetadataError("unreadable", f"{path.name}: not a photo pictod reads") from None
    except MetadataError:
        raise
    except _HEADER_ERRORS as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise MetadataError("unreadable", f"{path.name}: header unreadable ({text})") from None


def geometry_of(path: Path) -> Geometry:
    """Stored size and orientation only."""
    return read_photo(path, packets=False).geometry


def _inspect(im: Image.Image, path: Path, *, packets: bool) -> Embedded:
    problems: list[MetadataError] = []
    found: list[bytes] = []
    fmt = im.format
    if packets:
        if fmt in ("JPEG", "MPO"):
            found, problems = _jpeg_packets(getattr(im, "applist", []), path.name)
        else:
            packet = _as_bytes(im.info.get("xmp") or im.info.get(_PNG_XMP_KEYWORD.decode()))
            if packet is None and fmt == "TIFF":
                packet = _as_bytes(getattr(im, "tag_v2", {}).get(700))
            if packet is None and fmt == "PNG":
                packet = _png_late_xmp(path, problems)
            if packet is not None:
                found = [packet]
    orientation = _orientation(im, found[0] if found else None)
    width, height = im.size
    if fmt == "HEIF":
        original = im.info.get("original_orientation")
        orientation = original if isinstance(original, int) and 1 <= original <= 8 else 1
        if orientation in (5, 6, 7, 8):  # pillow-heif reports the displayed size
            width, height = height, width
    return Embedded(Geometry(int(width), int(height), orientation), tuple(found), tuple(problems))


def _as_bytes(value: object) -> bytes | None:
    if isinstance(value, bytes):
        return value or None
    if isinstance(value, str):
        return value.encode("utf-8") or None
    if isinstance(value, tuple) and value and isinstance(value[0], bytes | int):  # TIFF BYTE arrays
        try:
            return bytes(value) or None
        except (TypeError, ValueError):
            return None
    return None


def _orientation(im: Image.Image, xmp: bytes | None) -> int:
    """EXIF orientation (1-8), else an XMP tiff:Orientation, else 1: daemon.analysis.imaging's rule."""
    value: object = None
    try:
        value = im.getexif().get(0x0112)
    except _HEADER_ERRORS:
        value = None
    if value is None and xmp:
        match = _XMP_ORIENTATION.search(xmp)
        value = int(match.group(1)) if match else None
    if isinstance(value, tuple | list) and value:
        value = value[0]
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg_packets(applist: list[tuple[str, bytes]], name: str) -> tuple[list[bytes], list[MetadataError]]:
    standard: bytes | None = None
    chunks: dict[bytes, list[tuple[int, int, bytes]]] = {}
    for marker, payload in applist:
        if marker != "APP1":
            continue
        if payload.startswith(XMP_SIGNATURE) and standard is None:
            standard = payload[len(XMP_SIGNATURE) :]
        elif payload.startswith(EXTENDED_SIGNATURE):
            body = payload[len(EXTENDED_SIGNATURE) :]
            if len(body) < 40:
                continue
            guid = body[:32].upper()
            total, offset = struct.unpack(">II", body[32:40])
            chunks.setdefault(guid, []).append((total, offset, body[40:]))
    if standard is None:
        return [], []
    found, problems = [standard], []
    match = _HAS_EXTENDED.search(standard)
    if match:
        guid = match.group(1).upper()
        try:
            found.append(_join_extended(guid, chunks.get(guid, []), name))
        except MetadataError as exc:
            problems.append(exc)
    return found, problems


def _join_extended(guid: bytes, parts: list[tuple[int, int, bytes]], name: str) -> bytes:
    if not parts:
        raise MetadataError("malformed", f"{name}: ExtendedXMP {guid.decode()} is named but missing")
    total = parts[0][0]
    if any(part[0] != total for part in parts):
        raise MetadataError("malformed", f"{name}: ExtendedXMP chunks disagree on the full length")
    if total > 4 * MAX_PACKET_BYTES:  # depth maps and motion photos live here; not read, not held
        raise MetadataError("too_large", f"{name}: ExtendedXMP of {total} bytes, limit {4 * MAX_PACKET_BYTES}")
    buffer = bytearray(total)
    covered = 0
    for _, offset, data in sorted(parts, key=lambda part: part[1]):
        if offset + len(data) > total:
            raise MetadataError("malformed", f"{name}: ExtendedXMP chunk outside its declared length")
        buffer[offset : offset + len(data)] = data
        covered += len(data)
    if covered != total:
        raise MetadataError("malformed", f"{name}: ExtendedXMP incomplete ({covered} of {total} bytes)")
    joined = bytes(buffer)
    if hashlib.md5(joined, usedforsecurity=False).hexdigest().upper().encode() != guid:
        raise MetadataError("malformed", f"{name}: ExtendedXMP does not match its GUID (changed or damaged)")
    return joined


def _png_late_xmp(path: Path, problems: list[MetadataError]) -> bytes | None:
    """An iTXt XML:com.adobe.xmp chunk anywhere in the file: chunk headers only, data skipped by seeking."""
    try:
        with open(path, "rb") as fh:
            if fh.read(8) != _PNG_SIGNATURE:
                return None
            for _ in range(_MAX_PNG_CHUNKS):
                header = fh.read(8)
                if len(header) < 8:
                    return None
                length, kind = struct.unpack(">I4s", header)
                if kind == b"IEND":
                    return None
                if kind == b"iTXt" and length <= 4 * MAX_PACKET_BYTES:
                    data = fh.read(length)
                    fh.seek(4, 1)
                    if data.startswith(_PNG_XMP_KEYWORD + b"\x00"):
                        return _itxt_text(data, path.name)
                else:
                    fh.seek(length + 4, 1)
    except OSError as exc:
        problems.append(MetadataError("unreadable", f"{path.name}: {exc.strerror or exc}"))
    except MetadataError as exc:
        problems.append(exc)
    return None


def _itxt_text(data: bytes, name: str) -> bytes:
    rest = data[len(_PNG_XMP_KEYWORD) + 1 :]
    if len(rest) < 2:
        raise MetadataError("malformed", f"{name}: truncated iTXt XMP chunk")
    compressed, rest = rest[0], rest[2:]
    _, _, rest = rest.partition(b"\x00")  # language tag
    _, _, rest = rest.partition(b"\x00")  # translated keyword
    if not compressed:
        return rest
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(rest, MAX_PACKET_BYTES + 1)
    except zlib.error as exc:
        raise MetadataError("malformed", f"{name}: compressed iTXt XMP is damaged ({exc})") from None
    if len(out) > MAX_PACKET_BYTES:  # a zip bomb stops at the limit
        raise MetadataError("too_large", f"{name}: compressed iTXt XMP inflates past {MAX_PACKET_BYTES} bytes")
    return out
