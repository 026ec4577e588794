"""The test clips, encoded from real frames into the cache by the test-data step (tools/fetch_testdata.py).

No package on the registries ships phone videos, so the clips are made here, with the decoder's own encoders
(PyAV's wheel: libx264, libx265, libvpx-vp9, mpeg4, aac), from the fetched real photos:

- `dlib-frames.mp4`: dlib's 151 real video frames (`examples/video_frames/`, 320x240 grey) at 15 fps, H.264.
- `people.<ext>`: the same composed clip in each container and codec (mp4/H.264, mov/HEVC, mkv/H.264,
  webm/VP9, avi/MPEG-4 Part 2, 3gp/H.264, m4v/H.264). Composed: a real photo without people (skimage's coffee,
  rocket, chelsea the cat, ...) as a background panned across the frame (moving background), the dlib "johns"
  face crops (150x150, folder name = identity) pasted with a feathered edge, moving along a line and growing
  or shrinking (motion, scale), scenes joined by hard cuts. Who is visible when is written to `labels.json`.
- `phone-rotated.mov`: a portrait phone clip as phones store it: frames encoded landscape (turned 90 degrees
  clockwise) with a display matrix saying "rotate 90 counter-clockwise" (PyAV's set_display_rotation), plus
  QuickTime's `com.apple.quicktime.location.ISO6709` (mdta keys, movflags=use_metadata_tags), `©xyz`
  ('location') and a creation time. Its face is upright only once the rotation is applied.
- `truncated.mp4`: `people.mp4` (moov at the end, as phones write it) cut at 60% of its bytes: no index left.
  `truncated.mkv`: `people.mkv` cut at 60%: Matroska is streamable, so the first part still decodes.
- `audio-only.mp4`: an AAC tone in an mp4 container, no video stream at all.
- `live/IMG_0001.HEIC` + `live/IMG_0001.MOV`: a Live Photo pair, the still (HEIC by pillow-heif) being the
  middle frame of the 3 s H.264 clip of the same person.
- `not-a-video.mp4`: 4 KiB of seeded random bytes under a video name.

`labelled_set(...)` makes the benchmark's labelled clips with the same composer (bench/video.py), and
`long_clip(...)` one synthetic long file by repeating a short encoded stretch packet by packet (no re-encoding;
what a long file costs the daemon is the frames it decodes and the index, not the encoding).

Everything is seeded: the same inputs give the same frames. Generation takes seconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import shutil
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

# Bumped by hand when the clips change, so a cache made by an older generator is rebuilt.
VERSION = 3

Frame = np.ndarray
BACKGROUNDS = ("coffee.png", "rocket.jpg", "chelsea.png", "motorcycle_left.png", "brick.png", "grass.png")
JOHNS = ("John_Salley", "John_Savage", "John_Schneider", "John_Shimkus", "John_Simm")
WHEN = "2024-05-01T10:20:30.000000Z"
WHERE = "+48.8584+002.2945+035.000/"


@dataclasses.dataclass(frozen=True)
class Actor:
    """A face crop moving across a scene: centre and width (as fractions of the frame) from start to end."""

    who: str
    crop: Path
    start: tuple[float, float, float]  # cx, cy, width
    end: tuple[float, float, float]
    enters: float = 0.0  # seconds into the scene
    leaves: float | None = None


@dataclasses.dataclass(frozen=True)
class Scene:
    background: Path
    seconds: float
    actors: tuple[Actor, ...] = ()
    pan: tuple[float, float] = (0.0, 0.3)  # background offset from/to (fraction of its spare width)


@dataclasses.dataclass(frozen=True)
class Sources:
    skimage: Path
    johns: Path
    video_frames: Path

    @classmethod
    def of(cls, testdata: Path) -> Sources:
        examples = testdata / "dlib" / "docs" / "docs" / "cache" / "examples"
        return cls(testdata / "scikit-image" / "skimage" / "data", examples / "johns", examples / "video_frames")

    def crops(self, who: str) -> list[Path]:
        return sorted((self.johns / who).glob("*.jpg"))


def _rgb(path: Path) -> Frame:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _feather(size: int) -> np.ndarray:
    """An elliptical alpha mask with a soft edge, so a pasted crop has no hard square border."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    r = np.sqrt(((xx - size / 2) / (size * 0.5)) ** 2 + ((yy - size / 2) / (size * 0.56)) ** 2)
    return np.clip((1.0 - r) / 0.12, 0.0, 1.0)[..., None]


def compose(scenes: Sequence[Scene], size: tuple[int, int], fps: int) -> Iterator[tuple[float, Frame]]:
    """The frames of a clip: each scene's background panned, its actors pasted, scenes joined by hard cuts."""
    w, h = size
    t0 = 0.0
    cache: dict[Path, Frame] = {}
    for scene in scenes:
        bg = _rgb(scene.background)
        scale = max(w * 1.4 / bg.shape[1], h * 1.1 / bg.shape[0])
        bg = cv2.resize(bg, (round(bg.shape[1] * scale), round(bg.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        spare_x, spare_y = bg.shape[1] - w, bg.shape[0] - h
        n = max(1, round(scene.seconds * fps))
        for i in range(n):
            f = i / max(1, n - 1)
            dx = round(spare_x * (scene.pan[0] + (scene.pan[1] - scene.pan[0]) * f))
            frame = bg[spare_y // 2:spare_y // 2 + h, dx:dx + w].copy()
            t = i / fps
            for actor in scene.actors:
                if t < actor.enters or (actor.leaves is not None and t >= actor.leaves):
                    continue
                crop = cache.get(actor.crop)
                if crop is None:
                    crop = cache[actor.crop] = _rgb(actor.crop)
                cx, cy, cw = (a + (b - a) * f for a, b in zip(actor.start, actor.end, strict=True))
                side = max(16, round(cw * w))
                tile = cv2.resize(crop, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
                x0, y0 = round(cx * w - side / 2), round(cy * h - side / 2)
                xa, ya, xb, yb = max(0, x0), max(0, y0), min(w, x0 + side), min(h, y0 + side)
                if xb <= xa or yb <= ya:
                    continue
                alpha = _feather(side)[ya - y0:yb - y0, xa - x0:xb - x0]
                part = tile[ya - y0:yb - y0, xa - x0:xb - x0]
                region = frame[ya:yb, xa:xb].astype(np.float32)
                frame[ya:yb, xa:xb] = (part * alpha + region * (1 - alpha)).astype(np.uint8)
            yield t0 + t, frame
        t0 += n / fps


def truth(scenes: Sequence[Scene], fps: int) -> list[dict[str, Any]]:
    """Who is visible when: [{who, start, end}] in seconds, one entry per actor and scene."""
    out, t0 = [], 0.0
    for scene in scenes:
        n = max(1, round(scene.seconds * fps))
        for actor in scene.actors:
            leaves = min(actor.leaves if actor.leaves is not None else scene.seconds, n / fps)
            out.append({"who": actor.who, "start": round(t0 + actor.enters, 3), "end": round(t0 + leaves, 3)})
        t0 += n / fps
    return out


@dataclasses.dataclass(frozen=True)
class Encoding:
    codec: str
    options: dict[str, str] = dataclasses.field(default_factory=dict)
    pix_fmt: str = "yuv420p"


ENCODINGS = {
    "h264": Encoding("libx264", {"preset": "veryfast", "crf": "23", "g": "30"}),
    "hevc": Encoding("libx265", {"preset": "ultrafast", "crf": "28", "x265-params": "log-level=none:keyint=30"}),
    "vp9": Encoding("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "crf": "35", "b": "0", "g": "30"}),
    "mpeg4": Encoding("mpeg4", {"qscale": "4", "g": "30"}),
}


def encode(path: Path, frames: Iterator[tuple[float, Frame]], *, size: tuple[int, int], fps: int,
           codec: str = "h264", rotation: int | None = None, tags: dict[str, str] | None = None,
           transform: Any = None) -> None:
    """Write frames with one of ENCODINGS; rotation is the display matrix, tags the container's metadata
    (mov/mp4: QuickTime mdta keys too)."""
    enc = ENCODINGS[codec]
    options = {"movflags": "use_metadata_tags"} if path.suffix.lower() in (".mov", ".mp4", ".m4v", ".3gp") else {}
    tmp = path.with_name(path.name + ".part")
    out = av.open(str(tmp), "w", format=_format(path), options=options)
    try:
        out.metadata.update(tags or {})
        stream = out.add_stream(enc.codec, rate=fps, options=dict(enc.options))
        w, h = size
        if transform is not None:
            w, h = h, w
        stream.width, stream.height, stream.pix_fmt = w, h, enc.pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for _, frame in frames:
            if transform is not None:
                frame = transform(frame)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()
    tmp.replace(path)


def _format(path: Path) -> str:
    return {".mp4": "mp4", ".m4v": "ipod", ".mov": "mov", ".3gp": "3gp", ".mkv": "matroska", ".webm": "webm",
            ".avi": "avi"}[path.suffix.lower()]


def _grey_frames(folder: Path, size: tuple[int, int]) -> Iterator[tuple[float, Frame]]:
    for i, path in enumerate(sorted(folder.glob("*.jpg"))):
        yield i / 15, cv2.resize(_rgb(path), size)


def people_scenes(src: Sources) -> list[Scene]:
    """The test clip: 2 s of Salley walking right and growing, a cut, 2 s of Savage and Simm side by side
    over a panned cat photo; each face visible 2 s."""
    bg = src.skimage
    return [
        Scene(bg / "coffee.png", 2.0, (Actor("John_Salley", src.crops("John_Salley")[0], (0.3, 0.5, 0.22),
                                             (0.6, 0.45, 0.3)),)),
        Scene(bg / "rocket.jpg", 2.0, (Actor("John_Savage", src.crops("John_Savage")[0], (0.28, 0.5, 0.26),
                                             (0.3, 0.55, 0.24)),
                                       Actor("John_Simm", src.crops("John_Simm")[0], (0.72, 0.5, 0.24),
                                             (0.7, 0.45, 0.27)))),
    ]


CONTAINERS = (("people.mp4", "h264"), ("people.mov", "hevc"), ("people.mkv", "h264"), ("people.webm", "vp9"),
              ("people.avi", "mpeg4"), ("people.3gp", "h264"), ("people.m4v", "h264"))
SIZE, FPS = (640, 360), 15


def _audio_only(path: Path) -> None:
    out = av.open(str(path), "w", format="mp4")
    try:
        stream = out.add_stream("aac", rate=22050)
        stream.layout = "mono"
        t = np.arange(22050 * 2) / 22050
        samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
            frame.sample_rate = 22050
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    finally:
        out.close()


def _truncate(src: Path, dest: Path, fraction: float) -> None:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * fraction)])


def make_test_clips(testdata: Path) -> Path:
    """Every test clip into testdata/clips (skipped when a stamp of this VERSION is there); returns the folder."""
    dest = testdata / "clips"
    stamp = dest / ".pictod-made"
    if stamp.exists() and stamp.read_text().strip() == str(VERSION):
        return dest
    av.logging.set_level(av.logging.ERROR)
    src = Sources.of(testdata)
    tmp = dest.with_name("clips.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    encode(tmp / "dlib-frames.mp4", _grey_frames(src.video_frames, (320, 240)), size=(320, 240), fps=15)
    scenes = people_scenes(src)
    labels: dict[str, Any] = {}
    for name, codec in CONTAINERS:
        encode(tmp / name, compose(scenes, SIZE, FPS), size=SIZE, fps=FPS, codec=codec,
               tags={"creation_time": WHEN})
        labels[name] = {"codec": codec, "seconds": 4.0, "size": list(SIZE), "people": truth(scenes, FPS)}
    # Portrait phone clip: what the camera saw is upright 360x640; it is stored turned 90 degrees clockwise
    # (640x360 coded) with a display matrix of +90 (counter-clockwise), as phones do.
    phone = [Scene(src.skimage / "coffee.png", 3.0, (Actor("John_Schneider", src.crops("John_Schneider")[0],
                                                           (0.5, 0.4, 0.45), (0.5, 0.45, 0.5)),))]
    encode(tmp / "phone-rotated.mov", compose(phone, (360, 640), FPS), size=(360, 640), fps=FPS, codec="h264",
           rotation=90, transform=lambda f: cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE),
           tags={"creation_time": WHEN, "location": WHERE[:-9] + "/",
                 "com.apple.quicktime.location.ISO6709": WHERE, "com.apple.quicktime.make": "Apple"})
    labels["phone-rotated.mov"] = {"codec": "h264", "seconds": 3.0, "size": [360, 640], "rotation": 90,
                                   "people": truth(phone, FPS), "location": WHERE, "creation_time": WHEN}
    _truncate(tmp / "people.mp4", tmp / "truncated.mp4", 0.6)
    _truncate(tmp / "people.mkv", tmp / "truncated.mkv", 0.6)
    _audio_only(tmp / "audio-only.mp4")
    (tmp / "not-a-video.mp4").write_bytes(random.Random(24).randbytes(4096))
    live = tmp / "live"
    live.mkdir()
    live_scenes = [Scene(src.skimage / "brick.png", 3.0, (Actor("John_Shimkus", src.crops("John_Shimkus")[0],
                                                                (0.45, 0.5, 0.3), (0.55, 0.5, 0.33)),))]
    encode(live / "IMG_0001.MOV", compose(live_scenes, SIZE, FPS), size=SIZE, fps=FPS, tags={"creation_time": WHEN})
    middle = list(compose(live_scenes, SIZE, FPS))[round(1.5 * FPS)][1]
    _heic(live / "IMG_0001.HEIC", middle)
    labels["live/IMG_0001.MOV"] = {"codec": "h264", "seconds": 3.0, "people": truth(live_scenes, FPS)}
    (tmp / "labels.json").write_text(json.dumps(labels, indent=1) + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    stamp.write_text(f"{VERSION}\n")
    print(f"made test clips -> {dest}")
    return dest


def _heic(path: Path, frame: Frame) -> None:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    Image.fromarray(frame).save(path, format="HEIF", quality=85)


def labelled_scenes(src: Sources, seed: int, seconds: float) -> list[Scene]:
    """A random, seeded clip of about `seconds`: scenes of 1.5-8 s with 0-2 johns each (other crops of the
    same people than the test clips use), some walking in or out mid-scene, backgrounds and pans varied."""
    rng = random.Random(seed)
    scenes: list[Scene] = []
    total = 0.0
    while total < seconds:
        length = round(rng.uniform(1.5, 8.0), 1)
        actors = []
        for slot in range(rng.choice((0, 1, 1, 2))):
            who = rng.choice(JOHNS)
            crop = rng.choice(src.crops(who)[1:])
            x = (0.3 if slot == 0 else 0.72) + rng.uniform(-0.08, 0.08)
            w0, w1 = rng.uniform(0.12, 0.3), rng.uniform(0.12, 0.3)
            enters = 0.0 if rng.random() < 0.7 else round(rng.uniform(0.0, max(0.0, length - 2.0)), 1)
            actors.append(Actor(who, crop, (x, rng.uniform(0.35, 0.6), w0),
                                (x + rng.uniform(-0.1, 0.1), rng.uniform(0.35, 0.6), w1), enters=enters))
        if len(actors) == 2 and actors[0].who == actors[1].who:
            actors.pop()
        a, b = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
        scenes.append(Scene(src.skimage / rng.choice(BACKGROUNDS), length, tuple(actors), pan=(a, b)))
        total += length
    return scenes


def labelled_set(testdata: Path, dest: Path, *, count: int, seconds: float, size: tuple[int, int], fps: int,
                 codec: str = "h264", suffix: str = ".mp4") -> dict[str, Any]:
    """`count` labelled clips into dest (kept while this VERSION and these arguments are the same); returns
    the labels: {clip name: {seconds, people: [{who, start, end}]}}."""
    key = hashlib.sha256(repr((VERSION, count, seconds, size, fps, codec, suffix)).encode()).hexdigest()[:12]
    labels_path = dest / f"labels-{key}.json"
    if labels_path.exists():
        return dict(json.loads(labels_path.read_text()))
    av.logging.set_level(av.logging.ERROR)
    src = Sources.of(testdata)
    dest.mkdir(parents=True, exist_ok=True)
    labels: dict[str, Any] = {}
    for i in range(count):
        scenes = labelled_scenes(src, seed=1000 + i, seconds=seconds)
        name = f"labelled-{key}-{i:02d}{suffix}"
        encode(dest / name, compose(scenes, size, fps), size=size, fps=fps, codec=codec)
        labels[name] = {"seconds": round(sum(round(s.seconds * fps) for s in scenes) / fps, 3),
                        "people": truth(scenes, fps)}
    labels_path.write_text(json.dumps(labels, indent=1) + "\n")
    return labels


def long_clip(testdata: Path, dest: Path, *, seconds: float, size: tuple[int, int], fps: int = 30,
              codec: str = "hevc", stretch: float = 4.0) -> Path:
    """A long clip made once: `stretch` seconds of a composed scene encoded, then its packets written again and
    again with shifted timestamps (no re-encoding) until `seconds`. Each repeat starts on a key frame."""
    path = dest / f"long-{codec}-{size[0]}x{size[1]}-{round(seconds)}s.mov"
    if path.exists():
        return path
    av.logging.set_level(av.logging.ERROR)
    src = Sources.of(testdata)
    dest.mkdir(parents=True, exist_ok=True)
    short = dest / f"stretch-{codec}-{size[0]}x{size[1]}.mov"
    scenes = [Scene(src.skimage / "coffee.png", stretch, (Actor("John_Simm", src.crops("John_Simm")[2],
                                                                (0.4, 0.5, 0.15), (0.6, 0.5, 0.18)),))]
    encode(short, compose(scenes, size, fps), size=size, fps=fps, codec=codec)
    tmp = path.with_name(path.name + ".part")
    with av.open(str(short)) as inp:
        packets = [p for p in inp.demux(inp.streams.video[0]) if p.size]
        in_stream = inp.streams.video[0]
        span = int(stretch / in_stream.time_base)
        repeats = max(1, int(seconds // stretch))
        out = av.open(str(tmp), "w", format="mov")
        try:
            stream = out.add_stream_from_template(in_stream)
            for r in range(repeats):
                for packet in packets:
                    copy = av.Packet(bytes(packet))
                    copy.pts = None if packet.pts is None else packet.pts + r * span
                    copy.dts = None if packet.dts is None else packet.dts + r * span
                    copy.time_base = Fraction(in_stream.time_base)
                    copy.is_keyframe = packet.is_keyframe
                    copy.stream = stream
                    out.mux(copy)
        finally:
            out.close()
    tmp.replace(path)
    short.unlink()
    return path


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fetch_testdata import cache_root

    make_test_clips(cache_root() / "testdata")
