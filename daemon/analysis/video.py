"""Reading a video with PyAV (FFmpeg): what the container says (`probe`) and the few frames worth analysing
(`sample`), never the whole stream.

PyAV was chosen over OpenCV's bundled FFmpeg (bench/video_decoders.py): it seeks to a key frame and decodes
that frame alone (5-8x less CPU than cv2's exact seek), and it reads the display matrix and the container's tags
(creation time, QuickTime ISO 6709 location) that OpenCV does not expose.

Sampling: key frames are probed about every `probe_every` seconds, the decoder skipping every non-key frame:
probes up to SEQUENTIAL_STEP apart in one pass over the key frames, sparser ones (a long video) by seeking
backward to the key frame at or before each time and decoding that one frame (a seek flushes the decoder: 3x
the cost of the frame itself). Each probe gives a tiny grey signature. A probe is kept for analysis when it is
the first, when the scene changed since the last kept frame (the largest per-cell mean absolute signature
difference above `scene_threshold`: a cut, a pan to something new, someone walking in), or when `sample_every`
seconds have passed; never more than `max_frames`. An analysed frame is searched for objects when it is the
first or its signature differs from the last frame searched by more than `objects_threshold` (a slow pan
adds up); otherwise the objects found there stand for it (faces are looked for in every analysed frame). A
long video stretches both spacings to fit `max_probes` and `max_frames`. Frames are scaled by FFmpeg (swscale)
straight from the decoder to the analysis size and turned by the display matrix, so memory holds one reduced
frame and the decoder's own buffers, whatever the file's length or resolution.

Blocking: call from an executor. Errors are `PhotoError`s with one-line reasons: not_a_video, no_video_stream,
truncated, unsupported_codec, corrupt.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from daemon.config import VideoConfig
from daemon.errors import PhotoError

SIGNATURE = (32, 18)  # width, height of the grey thumbnail the scene test compares
CELLS = (4, 3)  # the scene test compares the thumbnail cell by cell: someone walking in changes one cell a lot
# Decoder options for sampling: only key frames are decoded and nothing is predicted from them, so the
# deblocking filter's work is never carried into another frame; skipping it costs the probes ~6% less decode
# (H.264 1080p; ~8% HEVC 4K), the pixels differing by 0.1-0.3 levels on average (bench/video.py --variants at e2456e7).
# flags2=fast measured no gain. The poster and face frames (`frame_at`) decode with the defaults.
PROBE_OPTIONS = {"skip_loop_filter": "all"}
SEQUENTIAL_STEP = 2.0  # probes at most this far apart are read in one pass over the key frames
ISO6709 = re.compile(r"^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")
LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
CREATION_KEYS = ("com.apple.quicktime.creationdate", "creation_time", "date")
MAKE_KEYS = ("com.apple.quicktime.make", "make")
MODEL_KEYS = ("com.apple.quicktime.model", "model")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says: display size (rotation applied), the rotation, codec, duration and tags."""

    width: int  # as displayed: the coded size turned by `rotation`
    height: int
    coded_width: int
    coded_height: int
    rotation: int  # degrees counter-clockwise the display matrix turns the coded frames (0, 90, 180, 270)
    codec: str
    duration: float  # seconds (0.0 when the container does not say)
    fps: float | None
    container: str
    taken_at: str | None = None
    gps: tuple[float, float] | None = None
    camera: str | None = None


@dataclass(frozen=True)
class Sample:
    """One frame chosen for analysis: its time, RGB pixels (displayed orientation, reduced) and why."""

    time: float
    rgb: NDArray[np.uint8]
    scale: float  # display size / decoded size (>= 1.0)
    why: str  # "first", "scene", "time"
    objects: bool = True  # look for objects (else the view is that of the last frame searched: its objects stand)


@dataclass
class SampleStats:
    """What sampling cost: key frames probed and decoded, frames kept."""

    probes: int = 0
    kept: int = 0


def _av() -> Any:
    import av

    av.logging.set_level(av.logging.PANIC)  # FFmpeg's own complaints are turned into PhotoError reasons
    return av


def _open(path: Path) -> Any:
    av = _av()
    try:
        return av.open(str(path), metadata_errors="replace")
    except av.error.InvalidDataError:
        raise _not_decodable(path) from None
    except av.error.FFmpegError as exc:
        if isinstance(exc, FileNotFoundError | PermissionError):
            raise
        raise PhotoError("corrupt", f"{path.name}: the container cannot be read ({_text(exc)})") from None


def _not_decodable(path: Path) -> PhotoError:
    """A file FFmpeg cannot open: an mp4/mov without its index (cut short while copying or recording) or not a
    video at all."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        head = b""
    if not head:
        return PhotoError("empty", f"{path.name}: empty file")
    if head[4:8] in (b"ftyp", b"mdat", b"moov", b"wide", b"free"):
        return PhotoError("truncated", f"{path.name}: an MP4/QuickTime video without its index (moov atom): "
                          "cut short while being copied or recorded")
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return PhotoError("corrupt", f"{path.name}: a Matroska/WebM file FFmpeg cannot read")
    return PhotoError("not_a_video", f"{path.name}: not a video FFmpeg recognises ({len(head)}+ bytes starting "
                      f"{head[:8]!r})")


def probe(path: Path) -> VideoInfo:
    """The container's facts about its first video stream; PhotoError when there is none or it cannot be read."""
    with opened(path) as (_container, info):
        return info


@contextlib.contextmanager
def opened(path: Path) -> Iterator[tuple[Any, VideoInfo]]:
    """The open container and its facts (`probe`), for `sample` to read without opening the file again."""
    container = _open(path)
    try:
        _for_sampling(container)
        yield container, _info(path, container)
    finally:
        container.close()


def _for_sampling(container: Any) -> None:
    """The decoder set up for `sample` (before its first frame: an open decoder keeps its options)."""
    for stream in container.streams.video[:1]:
        stream.codec_context.thread_count = 1  # one frame at a time: frame threads would only hold more frames
        stream.codec_context.options = dict(PROBE_OPTIONS)


def _info(path: Path, container: Any) -> VideoInfo:
    streams = list(container.streams.video)
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise PhotoError("no_video_stream", f"{path.name}: no video stream (it holds {', '.join(kinds)})")
    stream = streams[0]
    ctx = stream.codec_context
    if ctx is None or not ctx.name:
        raise PhotoError("unsupported_codec", f"{path.name}: no decoder for its video stream")
    width, height = int(stream.width or 0), int(stream.height or 0)
    if width <= 0 or height <= 0:
        raise PhotoError("corrupt", f"{path.name}: its video stream says {width}x{height}")
    rotation = _rotation(container, stream)
    duration = _duration(container, stream)
    tags = {str(k).lower(): str(v) for k, v in {**dict(stream.metadata), **dict(container.metadata)}.items()}
    shown = (height, width) if rotation in (90, 270) else (width, height)
    fps = float(stream.average_rate) if stream.average_rate else None
    make, model = _first(tags, MAKE_KEYS), _first(tags, MODEL_KEYS)
    camera = " ".join(p for p in (make, model) if p) or None
    return VideoInfo(width=shown[0], height=shown[1], coded_width=width, coded_height=height, rotation=rotation,
                     codec=str(ctx.name), duration=duration, fps=fps, container=str(container.format.name),
                     taken_at=_when(_first(tags, CREATION_KEYS)), gps=_gps(_first(tags, LOCATION_KEYS)), camera=camera)


def _first(tags: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = tags.get(key.lower())
        if value and value.strip():
            return value.strip()
    return None


def _when(value: str | None) -> str | None:
    """A container date -> ISO 8601 to the second, with its offset when it has one (QuickTime's creationdate is
    local time with an offset; mp4's creation_time is UTC). The mp4/QuickTime zero dates (1904, 1970) are none."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        return None
    if moment.year <= 1970:
        return None
    return moment.replace(microsecond=0).isoformat()


def _gps(value: str | None) -> tuple[float, float] | None:
    """ISO 6709 `+48.8584+002.2945+035.000/` (QuickTime's key and ©xyz) -> (latitude, longitude)."""
    if not value:
        return None
    match = ISO6709.match(value.strip())
    if match is None:
        return None
    lat, lon = float(match.group(1)), float(match.group(2))
    return (lat, lon) if abs(lat) <= 90 and abs(lon) <= 180 else None


def _rotation(container: Any, stream: Any) -> int:
    """The display matrix's rotation, read from the first decoded key frame (PyAV gives it per frame), normalised
    to 0/90/180/270 counter-clockwise."""
    ctx = stream.codec_context
    ctx.skip_frame = "NONKEY"
    try:
        for frame in container.decode(stream):
            return round(float(frame.rotation) / 90.0) % 4 * 90
    except _av().error.FFmpegError:
        return 0
    finally:
        ctx.skip_frame = "DEFAULT"
    return 0


def _duration(container: Any, stream: Any) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return max(0.0, float(stream.duration * stream.time_base))
    if container.duration is not None:
        return max(0.0, container.duration / 1_000_000)
    return 0.0


def _text(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def signature(grey: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The scene test's signature: the grey thumbnail in [0, 1], its mean taken off (a fade is no cut)."""
    values = grey.astype(np.float32) / 255.0
    return np.asarray(values - values.mean(), dtype=np.float32)


def changed(a: NDArray[np.float32], b: NDArray[np.float32]) -> float:
    """How much two signatures differ: the largest mean absolute difference over CELLS (0 same .. ~1). A cut
    changes every cell, a face walking into the frame one or two: a mean over the whole thumbnail would dilute
    that below any threshold a pan does not also cross."""
    diff = np.abs(a - b)
    h, w = diff.shape
    ch, cw = h // CELLS[1], w // CELLS[0]
    cells = diff[: ch * CELLS[1], : cw * CELLS[0]].reshape(CELLS[1], ch, CELLS[0], cw).mean(axis=(1, 3))
    return float(cells.max())


def plan(duration: float, cfg: VideoConfig) -> tuple[list[float], float]:
    """Probe times and the time spacing of kept frames for a video of `duration` seconds: every probe_every
    (at most max_probes), kept every sample_every (stretched so time picks use at most half of max_frames; the
    other half is for scene changes)."""
    if duration <= 0:
        return [0.0], cfg.sample_every
    step = max(cfg.probe_every, duration / cfg.max_probes)
    count = max(1, min(cfg.max_probes, math.ceil(duration / step)))
    times = [min(duration, i * step) for i in range(count)]
    spacing = max(cfg.sample_every, duration / max(1, cfg.max_frames // 2))
    return times, spacing


def sample(path: Path, info: VideoInfo, cfg: VideoConfig, *, long_side: int | None,
           stats: SampleStats | None = None, container: Any = None) -> Iterator[Sample]:
    """The frames to analyse, in time order (see the module docstring); `long_side` caps the decoded size
    (None: the video's own). A stream that ends early (a truncated file) yields what it has; PhotoError if
    not one frame decodes. `container`: the file already open (`opened`), read from its start and left open."""
    av = _av()
    stats = stats if stats is not None else SampleStats()
    times, spacing = plan(info.duration, cfg)
    width, height = _decoded_size(info, long_side)
    scale = info.width / (height if info.rotation in (90, 270) else width)
    own = container is None
    if own:
        container = _open(path)
        _for_sampling(container)
    else:  # `_info` decoded the first key frame (its rotation): back to the start
        try:
            container.seek(0, stream=container.streams.video[0], backward=True, any_frame=False)
        except (av.error.FFmpegError, EOFError):  # a file cut short may not seek (matroska: EPERM): opened anew
            own, container = True, _open(path)
            _for_sampling(container)
    try:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        base = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        kept_sig: NDArray[np.float32] | None = None
        kept_time = -math.inf
        looked_sig: NDArray[np.float32] | None = None  # the last frame searched for objects
        # One swscale context each for the signature and the analysed frame, kept from frame to frame: a frame's
        # own to_ndarray builds a new one every call (the 1080p cost clip's 45 conversions: 198 -> 74-98 ms,
        # cProfile's wall time of `sample`, single-threaded, three runs each).
        to_sig, to_rgb = av.video.reformatter.VideoReformatter(), av.video.reformatter.VideoReformatter()
        for when, frame in _probes(av, container, stream, times, base, stats):
            if stats.kept >= cfg.max_frames:
                break
            grey = to_sig.reformat(frame, width=SIGNATURE[0], height=SIGNATURE[1], format="gray").to_ndarray()
            sig = signature(np.asarray(grey, dtype=np.uint8))
            why = ("first" if kept_sig is None else
                   "scene" if changed(sig, kept_sig) > cfg.scene_threshold else
                   "time" if when - kept_time >= spacing else None)
            if why is None:
                continue
            rgb = np.asarray(to_rgb.reformat(frame, width=width, height=height, format="rgb24").to_ndarray(),
                             dtype=np.uint8)
            kept_sig, kept_time = sig, when
            look = looked_sig is None or cfg.objects_threshold <= 0 or changed(sig, looked_sig) > cfg.objects_threshold
            if look:
                looked_sig = sig
            stats.kept += 1
            yield Sample(time=round(when, 3), rgb=_turn(rgb, info.rotation), scale=scale, why=why, objects=look)
    finally:
        if own:
            container.close()
    if stats.kept == 0:
        raise PhotoError("truncated", f"{path.name}: no frame of its {info.codec} stream can be decoded "
                         "(cut short or damaged)")


def _probes(av: Any, container: Any, stream: Any, times: list[float], base: float,
            stats: SampleStats) -> Iterator[tuple[float, Any]]:
    """(seconds, key frame) near each probe time. Probes up to SEQUENTIAL_STEP apart (a short video) come from one
    pass over the packets, only the key packets due reaching the decoder (a seek per probe costs 3x the decode:
    the decoder is flushed each time); sparser probes (a long video) seek to the key frame before each time."""
    if len(times) < 2 or times[1] - times[0] <= SEQUENTIAL_STEP:
        yield from _sequential(av, container, stream, times[1] - times[0] if len(times) > 1 else math.inf, base,
                               stats)
        return
    last_pts: int | None = None
    errors = 0
    for t in times:
        frame = _key_frame(av, container, stream, base + t)
        stats.probes += 1
        if frame is None:
            errors += 1
            if errors >= 3:
                return  # past the end of what the file holds (truncated)
            continue
        if frame.pts is not None and frame.pts == last_pts:
            continue  # a long GOP: the same key frame again
        last_pts = frame.pts
        yield (max(0.0, float(frame.time) - base) if frame.time is not None else t), frame


def _sequential(av: Any, container: Any, stream: Any, step: float, base: float,
                stats: SampleStats) -> Iterator[tuple[float, Any]]:
    """One pass over the packets: only key packets at least `step` after the last probe reach the decoder (a key
    frame decodes alone; the others are never decoded at all)."""
    ctx = stream.codec_context
    due = 0.0
    try:
        for packet in container.demux(stream):
            if not packet.is_keyframe or packet.pts is None or packet.time_base is None:
                continue
            at = float(packet.pts * packet.time_base) - base
            if at + 1e-3 < due:
                continue
            # Decided on the packet's time: the decoder may give a frame back one packet late.
            due = at + step * 0.999
            for frame in ctx.decode(packet):
                stats.probes += 1
                yield (max(0.0, float(frame.time) - base) if frame.time is not None else at), frame
        for frame in ctx.decode(None):  # the decoder's last frame (it may hold one back)
            stats.probes += 1
            yield (max(0.0, float(frame.time) - base) if frame.time is not None else due), frame
    except (av.error.FFmpegError, EOFError):
        return  # the stream ends early (a truncated file): what was read is what there is


def _key_frame(av: Any, container: Any, stream: Any, t: float) -> Any:
    """The key frame at or before `t` seconds, decoded alone; None when nothing decodes there."""
    try:
        container.seek(max(0, int(t / stream.time_base)), stream=stream, backward=True, any_frame=False)
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, EOFError):
        return None
    return None


def _decoded_size(info: VideoInfo, long_side: int | None) -> tuple[int, int]:
    """Coded-orientation size to scale frames to: the coded size fitted within long_side, even numbers."""
    return _fit(info.coded_width, info.coded_height, long_side)


def _fit(w: int, h: int, long_side: int | None) -> tuple[int, int]:
    if long_side is None or max(w, h) <= long_side:
        return w, h
    factor = long_side / max(w, h)
    return max(2, round(w * factor / 2) * 2), max(2, round(h * factor / 2) * 2)


def _turn(rgb: NDArray[np.uint8], rotation: int) -> NDArray[np.uint8]:
    """Coded frame -> as displayed: the display matrix turns it `rotation` degrees counter-clockwise."""
    if rotation == 0:
        return rgb
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90))


def frame_at(path: Path, time: float, *, long_side: int | None = None) -> tuple[NDArray[np.uint8], VideoInfo]:
    """The displayed frame nearest after `time` seconds (key frame, then decoded forward): for a face crop or a
    poster frame. PhotoError if the file cannot be read."""
    av = _av()
    container = _open(path)
    try:
        info = _info(path, container)
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "DEFAULT"
        width, height = _decoded_size(info, long_side)
        base = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        target = base + max(0.0, time)
        try:
            container.seek(max(0, int(target / stream.time_base)), stream=stream, backward=True, any_frame=False)
            best = None
            for frame in container.decode(stream):
                best = frame
                if frame.time is None or frame.time >= target - 1e-3:
                    break
        except (av.error.FFmpegError, EOFError):
            best = None
        if best is None:
            raise PhotoError("truncated", f"{path.name}: no frame decodes at {time:.2f} s")
        rgb = np.asarray(best.to_ndarray(width=width, height=height, format="rgb24"), dtype=np.uint8)
        return _turn(rgb, info.rotation), info
    finally:
        container.close()
