"""PyAV against OpenCV's bundled FFmpeg (cv2.VideoCapture) as pictod's video decoder, side by side in one run.

Both wheels ship FFmpeg. What is compared, on clips this script encodes with PyAV into a temp dir (real frames:
skimage's astronaut panned and zoomed across a 1080p canvas, key frames every 1 s like a phone's camera):
  - what each can read: duration, codec, frame size, rotation (display matrix), creation time, location
    (QuickTime `©xyz` / `com.apple.quicktime.location.ISO6709`);
  - CPU and wall time to take 10 frames spread over the clip (PyAV: seek to the key frame before each time and
    decode that one frame; OpenCV: CAP_PROP_POS_MSEC, which decodes from the key frame up to the exact frame),
    and to decode the whole stream (the floor any sampler that reads every frame pays);
  - which encoders each wheel has (pictod's test clips are made by the decoder's own encoders).

    .venv/bin/python bench/video_decoders.py [--seconds 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from pictod_testdata import SKIMAGE  # noqa: E402

META = {"creation_time": "2024-05-01T10:20:30.000000Z", "location": "+48.8584+002.2945/",
        "com.apple.quicktime.location.ISO6709": "+48.8584+002.2945+035.000/"}


def make_clip(path: Path, codec: str, seconds: float, size: tuple[int, int]) -> None:
    """A 30 fps clip: the astronaut panned and zoomed on a grey canvas, rotation 90 and QuickTime metadata."""
    w, h = size
    src = cv2.cvtColor(cv2.imread(str(SKIMAGE / "astronaut.png")), cv2.COLOR_BGR2RGB)
    out = av.open(str(path), "w", options={"movflags": "use_metadata_tags"})
    out.metadata.update(META)
    stream = out.add_stream(codec, rate=30, options={"preset": "ultrafast", "g": "30", "x265-params": "log-level=none"})
    stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
    stream.set_display_rotation(90)
    frames = int(seconds * 30)
    for i in range(frames):
        scale = 1.0 + 0.8 * i / frames
        tile = cv2.resize(src, None, fx=scale * h / 1024, fy=scale * h / 1024)
        canvas = np.full((h, w, 3), 90, np.uint8)
        x = int((w - tile.shape[1]) * (i % 90) / 90) if tile.shape[1] < w else 0
        th, tw = min(h, tile.shape[0]), min(w - x, tile.shape[1])
        canvas[:th, x:x + tw] = tile[:th, :tw]
        for packet in stream.encode(av.VideoFrame.from_ndarray(canvas, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()


def timed(fn: Any) -> tuple[Any, float, float]:
    c0, w0 = time.process_time(), time.perf_counter()
    result = fn()
    return result, (time.process_time() - c0) * 1000, (time.perf_counter() - w0) * 1000


def pyav_info(path: Path) -> dict[str, Any]:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        first = next(c.decode(v))
        return {"duration_s": (c.duration or 0) / 1e6, "codec": v.codec_context.name,
                "size": [v.width, v.height], "rotation": first.rotation,
                "creation_time": c.metadata.get("creation_time"),
                "location": c.metadata.get("com.apple.quicktime.location.ISO6709") or c.metadata.get("location")}


def cv2_info(path: Path) -> dict[str, Any]:
    cap = cv2.VideoCapture(str(path))
    frames, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), cap.get(cv2.CAP_PROP_FPS)
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
    size = [int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))]
    rotation = cap.get(cv2.CAP_PROP_ORIENTATION_META)
    ok, img = cap.read()
    cap.release()
    # OpenCV exposes no container tags at all: creation time and location cannot be read through it.
    return {"duration_s": frames / fps if fps else None, "codec": fourcc.to_bytes(4, "little").decode(errors="replace"),
            "size": size, "rotation": rotation, "decoded_shape_after_auto_rotation":
            list(img.shape[:2]) if ok else None, "creation_time": None, "location": None}


def pyav_sample(path: Path, times: list[float]) -> int:
    got = 0
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        for t in times:
            c.seek(int(t / v.time_base), stream=v, backward=True, any_frame=False)
            for frame in c.decode(v):
                frame.to_ndarray(format="rgb24")
                got += 1
                break
    return got


def pyav_all(path: Path) -> int:
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        return sum(1 for _ in c.decode(v))


def pyav_keyframes(path: Path) -> int:
    """Every key frame, the rest skipped by the decoder (skip_frame NONKEY): the cost of a scene-change probe."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        v.codec_context.skip_frame = "NONKEY"
        return sum(1 for _ in c.decode(v))


def cv2_sample(path: Path, times: list[float]) -> int:
    cap = cv2.VideoCapture(str(path))
    got = 0
    for t in times:
        cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
        ok, _ = cap.read()
        got += ok
    cap.release()
    return got


def cv2_all(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    got = 0
    while cap.grab():
        got += 1
    cap.release()
    return got


def encoders() -> dict[str, list[str]]:
    wanted = ["libx264", "libx265", "libvpx-vp9", "libsvtav1", "mpeg4", "mjpeg", "aac", "libopus"]
    pyav = [name for name in wanted if _av_encoder(name)]
    opencv = []
    with tempfile.TemporaryDirectory() as tmp:
        for fourcc, ext in (("avc1", "mp4"), ("hvc1", "mp4"), ("VP90", "webm"), ("mp4v", "mp4"), ("MJPG", "avi")):
            writer = cv2.VideoWriter(f"{tmp}/x.{ext}", cv2.VideoWriter_fourcc(*fourcc), 30, (64, 64))
            if writer.isOpened():
                opencv.append(fourcc)
            writer.release()
    return {"pyav": pyav, "opencv": opencv}


def _av_encoder(name: str) -> bool:
    try:
        av.Codec(name, "w")
    except av.codec.codec.UnknownCodecError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    av.logging.set_level(av.logging.ERROR)
    report: dict[str, Any] = {"pyav": av.__version__, "opencv": cv2.__version__, "seconds": args.seconds,
                              "encoders": encoders(), "clips": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, codec in (("1080p-h264.mov", "libx264"), ("1080p-hevc.mov", "libx265")):
            path = Path(tmp) / name
            make_clip(path, codec, args.seconds, (1920, 1080))
            times = [args.seconds * (i + 0.5) / 10 for i in range(10)]
            row: dict[str, Any] = {"info": {"pyav": pyav_info(path), "opencv": cv2_info(path)}}
            for label, fn in (("pyav_10_keyframe_seeks", lambda p=path, ts=times: pyav_sample(p, ts)),
                              ("opencv_10_exact_seeks", lambda p=path, ts=times: cv2_sample(p, ts)),
                              ("pyav_every_keyframe", lambda p=path: pyav_keyframes(p)),
                              ("pyav_whole_stream", lambda p=path: pyav_all(p)),
                              ("opencv_whole_stream", lambda p=path: cv2_all(p))):
                got, cpu, wall = timed(fn)
                row[label] = {"frames": got, "cpu_ms": round(cpu), "wall_ms": round(wall)}
            report["clips"][name] = row
    (REPO / "bench" / "video_decoders.json").write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"PyAV {report['pyav']}, OpenCV {report['opencv']}; encoders: {report['encoders']}")
    for name, row in report["clips"].items():
        print(f"\n{name} ({args.seconds:.0f} s, 30 fps, key frame every 1 s)")
        for who in ("pyav", "opencv"):
            print(f"  {who:7} reads {row['info'][who]}")
        for label, m in row.items():
            if label != "info":
                print(f"  {label:26} {m['frames']:4} frames  cpu {m['cpu_ms']:6} ms  wall {m['wall_ms']:6} ms")


if __name__ == "__main__":
    main()
