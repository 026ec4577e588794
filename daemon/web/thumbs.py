"""Thumbnails and face crops made from the original files, cached on disk.

Decoding goes through `daemon/analysis/imaging.py`, so HEIC, 16-bit, CMYK and EXIF orientation come out exactly as the
analysis saw them (face boxes are in those oriented pixels). A rendition is made only from the bytes the
library analysed: the file's size and mtime must match what the library recorded, and the bytes read must hash
to the photo's content hash; anything else is reported (MISSING, CHANGED, UNREADABLE) for a placeholder.

A video's renditions are frames decoded by `daemon/analysis/video.py` (its display matrix applied): the poster
frame (at POSTER_SECONDS, or the middle of a shorter clip) for its thumbnail and view, the face's own frame for a
face crop. A video is checked by size and mtime only: hashing gigabytes for a thumbnail would cost more than the
analysis did.

The cache lives under the user's cache directory, one file per rendition named by a hash of (content hash,
kind, size, box), 0600 in 0700 folders; it is capped in bytes and evicts the least recently used (a hit
touches the file's mtime, so the order survives a restart). Several `pictod web` processes may share it: a
file another process evicted is just a miss.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import io
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog
from PIL import Image

from daemon.analysis import imaging, video
from daemon.errors import PhotoError
from daemon.runtime.lock import private_dirs
from daemon.types import PhotoMeta

log = structlog.get_logger()

SIZES = {"thumb": 320, "view": 1600}  # long side of the photo renditions
FACE_SIDE = 160  # face crops are square
FORMAT_VERSION = 1  # part of every cache key: bump it when renditions change
TOUCH_SECONDS = 60.0
POSTER_SECONDS = 1.0  # a video's poster frame: one second in (past a fade-in), or the middle of a shorter clip


class Outcome(enum.Enum):
    """What became of a rendition request."""

    OK = "ok"
    MISSING = "missing"  # no file of the photo is there (deleted, or its drive unmounted)
    CHANGED = "changed"  # the file is not the one analysed any more
    UNREADABLE = "unreadable"  # it is, but cannot be decoded now


@dataclass(frozen=True)
class Source:
    """The file a rendition is made from, with what the library recorded of it."""

    path: Path
    size: int
    mtime_ns: int
    content_hash: str
    duration: float | None = None  # a video's (its renditions are frames): None for a photo

    def frame_time(self, time: float | None) -> float:
        """A video's frame to show: the face's `time`, else the poster frame's."""
        if time is not None:
            return max(0.0, time)
        return min(POSTER_SECONDS, (self.duration or 0.0) / 2)


def check_source(path: Path, size: int, mtime_ns: int) -> Outcome:
    """Whether the file at `path` still has the size and mtime recorded at analysis."""
    try:
        st = os.stat(path)
    except OSError:
        return Outcome.MISSING
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        return Outcome.CHANGED
    return Outcome.OK


class DiskCache:
    """Renditions on disk, capped at `max_bytes`, least recently used evicted first. Thread-safe."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._index: OrderedDict[str, int] | None = None  # name -> bytes, least recently used first
        self._total = 0
        self._touched: dict[str, float] = {}
        self.hits = 0
        self.misses = 0
        self.evicted = 0

    @staticmethod
    def key(*parts: object) -> str:
        """The file name for a rendition described by `parts`."""
        return hashlib.sha256(repr((FORMAT_VERSION, *parts)).encode()).hexdigest()

    def _path(self, name: str) -> Path:
        return self.root / name[:2] / f"{name}.jpg"

    def _load(self) -> OrderedDict[str, int]:
        if self._index is not None:
            return self._index
        private_dirs(self.root)
        found: list[tuple[int, str, int]] = []
        for sub in _scandir(self.root):
            if not sub.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(Path(sub.path)):
                if entry.name.endswith(".tmp"):  # a write that died half-way
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)
                    continue
                if not entry.name.endswith(".jpg"):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                found.append((st.st_mtime_ns, entry.name[:-4], st.st_size))
        found.sort()
        self._index = OrderedDict((name, size) for _m, name, size in found)
        self._total = sum(size for *_rest, size in found)
        self._evict()
        return self._index

    def get(self, name: str) -> bytes | None:
        """The cached rendition, or None."""
        with self._lock:
            index = self._load()
            known = name in index
        if not known:
            self.misses += 1
            return None
        path = self._path(name)
        try:
            data = path.read_bytes()
            now = time.monotonic()
            if now - self._touched.get(name, -TOUCH_SECONDS) >= TOUCH_SECONDS:
                os.utime(path)  # the LRU order on disk, for the next start (at most once a minute per file)
                self._touched[name] = now
        except OSError:  # evicted by another process meanwhile
            with self._lock:
                self._forget(name)
            self.misses += 1
            return None
        with self._lock:
            if name in index:
                index.move_to_end(name)
        self.hits += 1
        return data

    def put(self, name: str, data: bytes) -> None:
        """Store a rendition (atomically: a reader sees the whole file or none); evict beyond the cap."""
        path = self._path(name)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            private_dirs(path.parent)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except OSError as exc:  # a full or read-only cache costs speed, never a page
            log.warning("thumbnail_cache_write_failed", path=str(path), error=exc.strerror or str(exc))
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        with self._lock:
            index = self._load()
            self._forget(name)
            index[name] = len(data)
            self._total += len(data)
            self._evict()

    def _forget(self, name: str) -> None:
        assert self._index is not None
        self._touched.pop(name, None)
        size = self._index.pop(name, None)
        if size is not None:
            self._total -= size

    def _evict(self) -> None:
        assert self._index is not None
        if self._total <= self.max_bytes:
            return
        target = int(self.max_bytes * 0.9)  # evict in a batch, not one file per put
        while self._index and self._total > target:
            name, size = self._index.popitem(last=False)
            self._touched.pop(name, None)
            self._total -= size
            self.evicted += 1
            with contextlib.suppress(OSError):
                os.unlink(self._path(name))

    @property
    def total_bytes(self) -> int:
        """Bytes held (as far as this process knows)."""
        with self._lock:
            self._load()
            return self._total


def _scandir(path: Path) -> Iterator[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            yield from entries
    except OSError:
        return


class Renderer:
    """Makes JPEG renditions of photos and faces from verified original bytes. Blocking: run it in a pool."""

    def __init__(self, cache: DiskCache, *, max_pixels: int, max_file_bytes: int) -> None:
        self.cache = cache
        self.max_pixels = max_pixels
        self.max_file_bytes = max_file_bytes
        self._decoded: OrderedDict[str, imaging.DecodedImage] = OrderedDict()  # by content hash
        self._decoded_lock = threading.Lock()

    def cached_photo(self, content_hash: str, kind: str) -> tuple[str, bytes | None]:
        """The cache key of a photo rendition and its bytes if cached."""
        name = self.cache.key(content_hash, "photo", SIZES[kind])
        return name, self.cache.get(name)

    def cached_face(self, content_hash: str, box: tuple[float, float, float, float],
                    time: float | None = None) -> tuple[str, bytes | None]:
        """The cache key of a face crop (of a video's frame at `time`) and its bytes if cached."""
        name = self.cache.key(content_hash, "face", FACE_SIDE, tuple(round(v, 1) for v in box),
                              *(() if time is None else (round(time, 3),)))
        return name, self.cache.get(name)

    def render_photo(self, name: str, source: Source, kind: str) -> tuple[Outcome, bytes | None]:
        """A photo scaled to fit SIZES[kind], EXIF-corrected (a video: its poster frame), as JPEG (cached under
        `name`)."""
        side = SIZES[kind]
        outcome, decoded = self._decode(source, side)
        if decoded is None:
            return outcome, None
        image = Image.fromarray(decoded.rgb)
        image.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=3.0)
        data = _jpeg(image, quality=84 if kind == "view" else 80)
        self.cache.put(name, data)
        return Outcome.OK, data

    def render_face(self, name: str, source: Source, box: tuple[float, float, float, float],
                    photo_long_side: int, time: float | None = None) -> tuple[Outcome, bytes | None]:
        """A square crop around a face (a margin of a quarter of its size each side), FACE_SIDE px, as JPEG; a
        video's face from its own frame (`time`)."""
        x1, y1, x2, y2 = box
        face_side = max(x2 - x1, y2 - y1, 1.0)
        # Decode only as large as the crop needs: the face keeps >= FACE_SIDE pixels after the reduction.
        needed = max(FACE_SIDE, math.ceil(photo_long_side * FACE_SIDE / face_side))
        outcome, decoded = self._decode(source, needed, time)
        if decoded is None:
            return outcome, None
        s = decoded.scale
        height, width = decoded.rgb.shape[:2]
        side = max(1.0, min(face_side * 1.5 / s, width, height))
        cx, cy = (x1 + x2) / 2 / s, (y1 + y2) / 2 / s
        left = min(max(cx - side / 2, 0.0), width - side)
        top = min(max(cy - side / 2, 0.0), height - side)
        a, b, size = round(left), round(top), max(1, round(side))
        crop = Image.fromarray(decoded.rgb[b:b + size, a:a + size])
        crop = crop.resize((FACE_SIDE, FACE_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
        data = _jpeg(crop, quality=86)
        self.cache.put(name, data)
        return Outcome.OK, data

    def _decode(self, source: Source, long_side: int, time: float | None = None
                ) -> tuple[Outcome, imaging.DecodedImage | None]:
        """Decode the verified original with a long side of at least `long_side` (or whole)."""
        if source.duration is not None:
            return self._decode_frame(source, long_side, time)
        with self._decoded_lock:
            hit = self._decoded.get(source.content_hash)
            if hit is not None and (hit.scale == 1.0 or max(hit.rgb.shape[:2]) >= long_side):
                self._decoded.move_to_end(source.content_hash)
                return Outcome.OK, hit
        outcome = check_source(source.path, source.size, source.mtime_ns)
        if outcome is not Outcome.OK:
            return outcome, None
        try:
            with open(source.path, "rb") as fh:
                data = fh.read(min(source.size, self.max_file_bytes) + 1)
        except OSError:
            return Outcome.MISSING, None
        # The bytes must be the analysed ones: a file rewritten within one mtime tick is caught here.
        if len(data) != source.size or hashlib.sha256(data).hexdigest() != source.content_hash:
            return Outcome.CHANGED, None
        try:
            decoded = imaging.decode(data, max_pixels=self.max_pixels, target_long_side=long_side,
                                     name=source.path.name)
        except PhotoError as exc:
            log.info("thumbnail_unreadable", path=str(source.path), reason=exc.reason)
            return Outcome.UNREADABLE, None
        with self._decoded_lock:
            self._decoded[source.content_hash] = decoded
            self._decoded.move_to_end(source.content_hash)
            while len(self._decoded) > 2:  # the faces of one photo, asked together, decode it once
                self._decoded.popitem(last=False)
        return Outcome.OK, decoded


    def _decode_frame(self, source: Source, long_side: int, time: float | None
                      ) -> tuple[Outcome, imaging.DecodedImage | None]:
        """A video's frame at `time` (the poster frame when None), its display matrix applied, scaled by FFmpeg
        to about `long_side`; the scale back to the displayed frame the face boxes are in."""
        outcome = check_source(source.path, source.size, source.mtime_ns)
        if outcome is not Outcome.OK:
            return outcome, None
        try:
            rgb, info = video.frame_at(source.path, source.frame_time(time), long_side=max(long_side, FACE_SIDE))
        except PhotoError as exc:
            log.info("thumbnail_unreadable", path=str(source.path), reason=exc.reason)
            return Outcome.UNREADABLE, None
        except OSError:
            return Outcome.MISSING, None
        meta = PhotoMeta(width=info.width, height=info.height, format="video")
        return Outcome.OK, imaging.DecodedImage(rgb=np.ascontiguousarray(rgb), scale=info.width / rgb.shape[1],
                                                meta=meta, orientation=1)


def _jpeg(image: Image.Image, *, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=False)
    return out.getvalue()
