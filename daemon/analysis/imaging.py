"""Bytes or a file -> an oriented uint8 RGB image plus what the file says about itself (`PhotoMeta`).

Owns everything format-specific: which formats are accepted, the pixel limit checked from the header before
any pixel is decoded, reduced decoding (DCT-scaled for JPEG, a box filter right after decoding for the other
formats), EXIF orientation, mode conversion (palette, alpha,
CMYK, 16-bit, float) and EXIF metadata. Every way a bad file can fail comes out as one `PhotoError`.
Safe to call from several executor threads at once: each call works on its own Pillow objects and the
only process-wide set-up happens once, under a lock.
"""

from __future__ import annotations

import io
import math
import re
import struct
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from daemon.analysis.hashing import FileChangedError, read_file
from daemon.errors import PhotoError
from daemon.types import PhotoMeta

log = structlog.get_logger()

# Photo formats we decode. Restricting Image.open matters beyond tidiness: Pillow would otherwise hand an
# EPS file to Ghostscript and try dozens of rarely-fuzzed plugins on every file in a watched folder.
# The JPEG plugin also opens MPO (phone JPEGs with a depth map or second frame).
FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "HEIF", "AVIF")

# Exceptions Pillow and pillow-heif raise for bad data (Pillow's own fuzzing tests expect this family).
# Caught only around calls into the decoders, never around our own code.
_DECODE_ERRORS: tuple[type[Exception], ...] = (
    OSError,  # includes "image file is truncated", "broken data stream", decoder errors
    ValueError,  # includes UnicodeDecodeError, bad modes, "tile cannot extend outside image"
    SyntaxError,  # Pillow's "not a X file" inside plugins
    struct.error,
    EOFError,
    ZeroDivisionError,
    IndexError,
    KeyError,
    TypeError,
    OverflowError,
    RuntimeError,  # pillow-heif / libheif
    MemoryError,
    Image.DecompressionBombError,
)
# EXIF is optional: a broken block only loses orientation or metadata, never the photo.
_EXIF_ERRORS: tuple[type[Exception], ...] = (
    OSError, ValueError, SyntaxError, struct.error, EOFError, ZeroDivisionError, IndexError, KeyError,
    TypeError, OverflowError, AttributeError,
)

_ORIENTATION_TAG = 0x0112
_MAKE_TAG, _MODEL_TAG = 0x010F, 0x0110
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED, _OFFSET_TIME_ORIGINAL = 0x9003, 0x9004, 0x9011
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(?:="|>)([1-8])')

# EXIF orientation value -> the transpose that undoes it (as in PIL.ImageOps.exif_transpose).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Modes whose box-filter reduction before `_to_rgb` gives what reducing the RGB result would.
_REDUCE_FIRST_MODES = frozenset({"RGB", "RGBA", "L", "LA", "CMYK"})

_init_lock = threading.Lock()
_initialised = False


@dataclass(frozen=True)
class DecodedImage:
    """A decoded photo: RGB pixels (possibly reduced), the factor back to original pixels, and metadata."""

    rgb: NDArray[np.uint8]  # HxWx3 RGB, C-contiguous, EXIF orientation applied, possibly DCT-reduced
    scale: float  # original oriented size / decoded size (>= 1.0): decoded coords * scale = original coords
    meta: PhotoMeta  # ORIGINAL oriented width/height, format, taken_at, camera, gps
    # The EXIF (or XMP) orientation the file states, 1-8, already applied; None when it states none, so the
    # analysis may look for faces in a photo stored sideways (never when the file says how it stands).
    orientation: int | None = None


def _init() -> None:
    """One-time process set-up: HEIF opener, plugin registry, and Pillow's global pixel guard off."""
    global _initialised
    if _initialised:
        return
    with _init_lock:
        if _initialised:
            return
        import pillow_heif

        # AVIF is Pillow's own plugin since 11.2; pillow-heif only for HEIC/HEIF.
        pillow_heif.register_heif_opener()
        Image.init()
        # Pillow's guard is one process-global threshold (warns above it, refuses above twice it), so it
        # cannot express a per-call limit and changing it per call would race between executor threads.
        # It is switched off once here; decode() checks width*height from the header (after Image.open,
        # which also covers GIF frame extents) before any pixel is decoded.
        Image.MAX_IMAGE_PIXELS = None
        _initialised = True


def ensure_ready() -> None:
    """The one-time Pillow set-up, for modules that open photo headers without decoding (daemon.metadata)."""
    _init()


@dataclass
class Header:
    """A photo whose header has been read and checked, no pixel decoded yet (`open_header`). For a JPEG the
    reduced (DCT-scaled) decode is already chosen, so `pixels` is what decoding will hold."""

    image: Image.Image  # opened, not loaded; closed by decode_header
    width: int  # the stored (not yet oriented) size
    height: int
    format: str  # "JPEG" for MPO too
    scale: int  # DCT factor chosen for a JPEG (1: full size)
    target_long_side: int | None
    prefix: str  # "name: " for messages, or ""

    @property
    def pixels(self) -> int:
        """Pixels the decoder will produce: the reduced size for a JPEG, the stored size otherwise."""
        return int(self.image.size[0]) * int(self.image.size[1])

    def close(self) -> None:
        """Let the file go without decoding it."""
        self.image.close()


def open_header(data: bytes, *, max_pixels: int, target_long_side: int | None = None, name: str = "") -> Header:
    """Read and check the header of image bytes (format, size, pixel limit) and choose the reduced decode;
    PhotoError (empty, not_an_image, corrupt, too_many_pixels, ...) on bad input."""
    prefix = f"{name}: " if name else ""
    if not data:
        raise PhotoError("empty", f"{prefix}empty file")
    _init()
    try:
        im = Image.open(io.BytesIO(data), formats=FORMATS)
    except UnidentifiedImageError:
        raise _unidentified(data, prefix) from None
    except _DECODE_ERRORS as exc:
        raise _wrap(exc, prefix, "header") from None
    try:
        width, height = im.size
        if width <= 0 or height <= 0:
            raise PhotoError("corrupt", f"{prefix}{im.format} header says {width}x{height}")
        if width * height > max_pixels:
            raise PhotoError(
                "too_many_pixels", f"{prefix}{width}x{height} = {width * height} pixels, limit {max_pixels}"
            )
        fmt = "JPEG" if im.format == "MPO" else str(im.format)
        scale = 1
        if target_long_side and fmt == "JPEG" and max(width, height) >= 2 * target_long_side:
            scale = _draft(im, width, height, target_long_side)
    except BaseException:
        im.close()
        raise
    return Header(im, width, height, fmt, scale, target_long_side, prefix)


def load(
    path: Path, *, max_pixels: int, max_file_bytes: int, target_long_side: int | None = None
) -> DecodedImage:
    """Read and decode one photo file; PhotoError (empty, file_too_large, unreadable, ...) on bad input."""
    try:
        data, _st = read_file(path, max_bytes=max_file_bytes)
    except FileChangedError:
        raise PhotoError("unreadable", f"{path.name}: changed while it was being read") from None
    except OSError as exc:
        raise PhotoError("unreadable", f"{path.name}: {exc.strerror or exc}") from None
    return decode(data, max_pixels=max_pixels, target_long_side=target_long_side, name=path.name)


def decode(
    data: bytes, *, max_pixels: int, target_long_side: int | None = None, name: str = ""
) -> DecodedImage:
    """Decode image bytes to oriented RGB uint8, reduced to a long side >= target_long_side when one is given
    (DCT scaling for JPEG, an integer box filter for the other formats)."""
    return decode_header(open_header(data, max_pixels=max_pixels, target_long_side=target_long_side, name=name))


def decode_header(header: Header) -> DecodedImage:
    """Decode a photo opened by `open_header` (and close it)."""
    prefix, fmt, scale, target_long_side = header.prefix, header.format, header.scale, header.target_long_side
    width, height = header.width, header.height
    with header.image as im:
        try:
            im.load()
        except _DECODE_ERRORS as exc:
            raise _wrap(exc, prefix, fmt) from None
        # After load: PNG keeps eXIf wherever it likes, and getexif() would otherwise load the pixels itself.
        exif = _read_exif(im, prefix)
        orientation = _orientation(im, exif)
        try:
            if scale == 1 and target_long_side and max(width, height) >= 2 * target_long_side:
                # What DCT scaling does for JPEG, a box filter does for the rest (HEIC, PNG, TIFF...): a 12 MP
                # HEIC is decoded whole (36 MB) and would otherwise stay that size for the whole analysis.
                # Reduced before the RGB conversion where the mode averages correctly (Pillow premultiplies
                # alpha), so the conversion works on the small image; palettes, colour keys and 16-bit after.
                scale = max(width, height) // target_long_side
                if im.mode in _REDUCE_FIRST_MODES and "transparency" not in im.info:
                    rgb = _to_rgb(im.reduce(scale))
                else:
                    rgb = _to_rgb(im).reduce(scale)
            else:
                rgb = _to_rgb(im)
            if orientation in _TRANSPOSE:
                rgb = rgb.transpose(_TRANSPOSE[orientation])
            array = np.ascontiguousarray(np.asarray(rgb, dtype=np.uint8))
        except _DECODE_ERRORS as exc:
            raise _wrap(exc, prefix, fmt) from None
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if array.ndim != 3 or array.shape[2] != 3:
        raise PhotoError("corrupt", f"{prefix}decoded to unexpected shape {array.shape}")
    decoded_long = max(array.shape[0], array.shape[1])
    meta = PhotoMeta(width=width, height=height, format=fmt, **_metadata(exif, prefix))
    return DecodedImage(
        rgb=array, scale=max(width, height) / decoded_long if scale > 1 else 1.0, meta=meta, orientation=orientation
    )


def _draft(im: Image.Image, width: int, height: int, target_long_side: int) -> int:
    """Ask libjpeg for 1/2, 1/4 or 1/8 scale with the long side staying >= target; return the factor."""
    ratio = max(width, height) / target_long_side
    # Pillow picks the largest power of two <= min(w // rw, h // rh): asking for the size whose long side
    # is the target keeps the decoded long side >= target.
    request = (max(1, math.ceil(width / ratio)), max(1, math.ceil(height / ratio)))
    try:
        result = im.draft("RGB", request)
    except _DECODE_ERRORS:
        return 1
    if result is None:
        return 1
    return max(1, round(width / im.size[0]))


# Signatures of the accepted formats: a file that starts like one but will not open is damaged, not alien.
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "JPEG"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (8, b"WEBP", "WEBP"),
    (4, b"ftyp", "HEIF/AVIF"),
)


def _unidentified(data: bytes, prefix: str) -> PhotoError:
    """Tell a damaged photo, a known but unaccepted image format and something that is not an image apart."""
    for offset, magic, fmt in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic:
            return PhotoError("corrupt", f"{prefix}starts like {fmt} but its header cannot be read")
    try:
        with Image.open(io.BytesIO(data)) as other:
            known = other.format
    except _DECODE_ERRORS:  # UnidentifiedImageError is an OSError
        return PhotoError("not_an_image", f"{prefix}not a recognised image ({_describe(data)})")
    return PhotoError("unsupported_format", f"{prefix}{known} images are not supported")


def _describe(data: bytes) -> str:
    head = data[:8]
    return f"{len(data)} bytes starting {head!r}"


def _wrap(exc: BaseException, prefix: str, where: str) -> PhotoError:
    """Turn a decoder exception into a PhotoError with a one-line message."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, Image.DecompressionBombError):
        return PhotoError("too_many_pixels", f"{prefix}{text}")
    if isinstance(exc, MemoryError):
        return PhotoError("too_many_pixels", f"{prefix}out of memory decoding {where}")
    lowered = text.lower()
    if isinstance(exc, EOFError) or "truncated" in lowered or "premature end" in lowered:
        return PhotoError("truncated", f"{prefix}{where} data ends early ({text})")
    if lowered.startswith("unsupported") or (isinstance(exc, ValueError) and "conversion" in lowered):
        return PhotoError("unsupported_format", f"{prefix}{where}: {text}")
    return PhotoError("corrupt", f"{prefix}{where} data is damaged ({type(exc).__name__}: {text})")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> RGB: alpha composited on white, 16-bit scaled (>>8), not clipped."""
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        return Image.fromarray(_gray_to_uint8(np.asarray(im)), "L").convert("RGB")
    # Palette, 1-bit, grey and RGB images can carry a transparent index or colour key (tRNS, GIF).
    keyed = mode in ("1", "L", "P", "RGB") and "transparency" in im.info
    if mode in ("LA", "La", "PA", "RGBa") or keyed:
        im = im.convert("RGBA")
    elif mode == "RGB":
        return im
    if im.mode == "RGBA":
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(im, mask=im.getchannel("A"))
        return white
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGBX, HSV...


def _gray_to_uint8(values: NDArray[Any]) -> NDArray[np.uint8]:
    """16-bit, 32-bit integer and float grey -> 8 bit by scaling, never by clipping to 255."""
    if values.dtype.kind == "f":
        finite = np.nan_to_num(values.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        top = float(finite.max()) if finite.size else 0.0
        if top <= 1.0:  # normalised floats
            return np.clip(finite * 255.0 + 0.5, 0, 255).astype(np.uint8)
        values = finite
    if values.dtype.kind == "u" and values.dtype.itemsize == 2:
        return (values.astype(np.uint16) >> 8).astype(np.uint8)
    top = float(values.max()) if values.size else 0.0
    low = float(values.min()) if values.size else 0.0
    if low >= 0 and top <= 255:
        return values.astype(np.uint8)
    if low >= 0 and top <= 65535:
        return (values.astype(np.uint32) >> 8).astype(np.uint8)
    span = top - low or 1.0
    return ((values.astype(np.float64) - low) * (255.0 / span) + 0.5).astype(np.uint8)


def _read_exif(im: Image.Image, prefix: str) -> Image.Exif | None:
    try:
        exif = im.getexif()
        # Touch the lazily parsed sub-IFDs now so a broken block fails here, not later.
        exif.get_ifd(_EXIF_IFD)
        exif.get_ifd(_GPS_IFD)
    except _EXIF_ERRORS as exc:
        log.debug("exif_unreadable", name=prefix.rstrip(": "), error=" ".join(str(exc).split()))
        return None
    return exif


def _orientation(im: Image.Image, exif: Image.Exif | None) -> int | None:
    """EXIF orientation (1-8), else an XMP tiff:Orientation, else None (no usable tag)."""
    value: object = None
    if exif is not None:
        try:
            value = exif.get(_ORIENTATION_TAG)
        except _EXIF_ERRORS:
            value = None
    if value is None:
        xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
        if isinstance(xmp, str):
            xmp = xmp.encode("utf-8", "replace")
        if isinstance(xmp, bytes):
            match = _XMP_ORIENTATION.search(xmp)
            value = int(match.group(1)) if match else None
    if isinstance(value, tuple | list) and value:
        value = value[0]
    return value if isinstance(value, int) and 1 <= value <= 8 else None


def _metadata(exif: Image.Exif | None, prefix: str) -> dict[str, Any]:
    """taken_at, camera and gps from EXIF; each None when missing or malformed."""
    if exif is None:
        return {}
    result: dict[str, Any] = {}
    try:
        sub = exif.get_ifd(_EXIF_IFD)
        result["taken_at"] = _taken_at(sub)
        result["camera"] = _camera(exif.get(_MAKE_TAG), exif.get(_MODEL_TAG))
        result["gps"] = _gps(exif.get_ifd(_GPS_IFD))
    except _EXIF_ERRORS as exc:
        log.debug("exif_metadata_unreadable", name=prefix.rstrip(": "), error=" ".join(str(exc).split()))
    return result


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.replace("\x00", " ").split())
    return cleaned or None


def _taken_at(sub: dict[int, Any]) -> str | None:
    """DateTimeOriginal (else DateTimeDigitized) as ISO 8601; the offset only if the camera wrote one."""
    for tag in (_DATETIME_ORIGINAL, _DATETIME_DIGITIZED):
        text = _text(sub.get(tag))
        if not text:
            continue
        try:
            moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue  # "0000:00:00 00:00:00" and other placeholders
        iso = moment.isoformat()
        offset = _text(sub.get(_OFFSET_TIME_ORIGINAL)) if tag == _DATETIME_ORIGINAL else None
        if offset and re.fullmatch(r"[+-]\d\d:\d\d", offset):
            iso += offset
        return iso
    return None


def _camera(make: object, model: object) -> str | None:
    make_text, model_text = _text(make), _text(model)
    if make_text and model_text:
        # "Canon" + "Canon EOS 5D" -> "Canon EOS 5D"
        if model_text.lower().startswith(make_text.lower().split()[0]):
            return model_text
        return f"{make_text} {model_text}"
    return make_text or model_text


def _gps(gps: dict[int, Any]) -> tuple[float, float] | None:
    """(latitude, longitude) in degrees, south and west negative; None if absent or impossible."""
    if not gps:
        return None
    lat = _degrees(gps.get(2), gps.get(1), "S")
    lon = _degrees(gps.get(4), gps.get(3), "W")
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0.0 and lon == 0.0:  # what cameras write without a fix
        return None
    return (lat, lon)


def _degrees(value: object, ref: object, negative: str) -> float | None:
    if not isinstance(value, tuple | list) or not value:
        return None
    parts = [float(part) for part in value[:3]]
    if any(not math.isfinite(part) for part in parts):
        return None
    degrees = parts[0] + (parts[1] / 60 if len(parts) > 1 else 0.0) + (parts[2] / 3600 if len(parts) > 2 else 0.0)
    ref_text = _text(ref)
    if ref_text and ref_text.upper().startswith(negative):
        degrees = -degrees
    return degrees
