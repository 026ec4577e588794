"""Videos through daemon/analysis/video.py, tracks.py and `Analyzer.analyze_video`, on the real clips the test-data
step encodes (tools/make_clips.py): every container and codec made, the rotated phone clip with its QuickTime
location and date, truncated clips, a file with no video stream, random bytes; and `pictod analyze` on them."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from cli_library import pictod
from pictod_testdata import CLIPS, JOHNS, REPO

from daemon import config
from daemon.analysis import tracks, video
from daemon.analysis.analyzer import Analyzer
from daemon.config import VideoConfig
from daemon.errors import PhotoError
from daemon.types import DetectedFace, DetectedObject

CONTAINERS = {"people.mp4": ("h264", "mov,mp4"), "people.mov": ("hevc", "mov,mp4"),
              "people.mkv": ("h264", "matroska"), "people.webm": ("vp9", "matroska"),
              "people.avi": ("mpeg4", "avi"), "people.3gp": ("h264", "mov,mp4"), "people.m4v": ("h264", "mov,mp4")}


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    cfg = config.load(REPO / "config.toml", check_folders=False)
    return Analyzer.from_config(cfg, workers=1)


@pytest.fixture(scope="module")
def labels() -> dict[str, dict[str, object]]:
    return dict(json.loads((CLIPS / "labels.json").read_text()))


@pytest.fixture(scope="module")
def johns(analyzer: Analyzer) -> dict[str, np.ndarray]:
    """Each john's mean embedding over his crops (the clips use crop 0 of each, so this is no circular check)."""
    out = {}
    for folder in sorted(JOHNS.iterdir()):
        vectors = [max(analyzer.analyze_file(p).faces, key=lambda f: f.score).embedding
                   for p in sorted(folder.glob("*.jpg"))[1:6]]
        mean = np.mean(vectors, axis=0)
        out[folder.name] = mean / np.linalg.norm(mean)
    return out


def who(face: DetectedFace, johns: dict[str, np.ndarray]) -> str:
    return max(johns, key=lambda name: float(np.dot(johns[name], face.embedding)))


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_each_container_and_codec_gives_its_people_and_times(name: str, analyzer: Analyzer,
                                                              johns: dict[str, np.ndarray],
                                                              labels: dict[str, dict[str, object]]) -> None:
    codec, container = CONTAINERS[name]
    info = video.probe(CLIPS / name)
    assert (info.codec, info.width, info.height, info.rotation) == (codec, 640, 360, 0)
    assert info.container.startswith(container)
    assert info.duration == pytest.approx(4.0, abs=0.1)
    result = analyzer.analyze_video(CLIPS / name, VideoConfig())
    assert result.meta.kind == "video" and result.meta.codec == codec
    assert result.meta.duration == pytest.approx(4.0, abs=0.1)
    truth = labels[name]["people"]
    assert isinstance(truth, list)
    found = {who(f, johns): f for f in result.faces}
    assert sorted(found) == sorted(p["who"] for p in truth)  # three people, each once: one face per track
    for person in truth:
        face = found[person["who"]]
        assert face.time is not None and person["start"] <= face.time < person["end"]
        assert face.seen and all(person["start"] <= a < b <= person["end"] for a, b in face.seen)
        assert face.quality is not None and face.track is not None
    assert len({f.track for f in result.faces}) == len(result.faces)
    # Only key frames were decoded (a key frame every 2 s: at most 4 probes); the first and the cut analysed.
    assert 2 <= result.timings_ms["frames"] <= result.timings_ms["probes"] <= 4


def test_rotated_phone_clip_is_upright_with_its_place_and_date(analyzer: Analyzer,
                                                              johns: dict[str, np.ndarray]) -> None:
    info = video.probe(CLIPS / "phone-rotated.mov")
    # Coded landscape, displayed portrait: the display matrix turns it 90 degrees counter-clockwise.
    assert (info.coded_width, info.coded_height, info.rotation, info.width, info.height) == (640, 360, 90, 360, 640)
    assert info.gps == pytest.approx((48.8584, 2.2945))  # com.apple.quicktime.location.ISO6709
    assert info.taken_at == "2024-05-01T10:20:30+00:00"
    assert info.camera == "Apple"
    samples = list(video.sample(CLIPS / "phone-rotated.mov", info, VideoConfig(), long_side=None))
    assert samples and all(s.rgb.shape == (640, 360, 3) for s in samples)
    result = analyzer.analyze_video(CLIPS / "phone-rotated.mov", VideoConfig())
    assert (result.meta.width, result.meta.height, result.meta.gps) == (360, 640, info.gps)
    assert len(result.faces) == 1 and who(result.faces[0], johns) == "John_Schneider"
    x1, y1, x2, y2 = result.faces[0].box
    assert 0 <= x1 < x2 <= 360 and 0 <= y1 < y2 <= 640
    # Unturned (a reader that ignores the display matrix) the frames come out as coded: landscape.
    sideways = dataclasses.replace(info, rotation=0, width=640, height=360)
    coded = next(iter(video.sample(CLIPS / "phone-rotated.mov", sideways, VideoConfig(), long_side=None)))
    assert coded.rgb.shape == (360, 640, 3)


def test_truncated_mp4_fails_with_a_reason_and_truncated_mkv_gives_what_it_has(analyzer: Analyzer,
                                                                                johns: dict[str, np.ndarray]) -> None:
    with pytest.raises(PhotoError) as caught:
        analyzer.analyze_video(CLIPS / "truncated.mp4", VideoConfig())
    assert caught.value.reason == "truncated" and "index" in caught.value.message
    result = analyzer.analyze_video(CLIPS / "truncated.mkv", VideoConfig())
    assert [who(f, johns) for f in result.faces] == ["John_Salley"]  # the first scene is all that is left


@pytest.mark.parametrize("name", ["people.mkv", "people.webm"])
def test_a_matroska_file_cut_short_before_its_second_frame_fails_as_truncated(analyzer: Analyzer, tmp_path: Path,
                                                                              name: str) -> None:
    """Cut in its first tenth: the first key frame read for the rotation, the seek back to the start of the open
    file fails (FFmpeg: EPERM); the file is read again from its start, as a truncated file is, not an OS error."""
    cut = tmp_path / f"cut-{name}"
    data = (CLIPS / name).read_bytes()
    cut.write_bytes(data[: len(data) // 10])
    with pytest.raises(PhotoError) as caught:
        analyzer.analyze_video(cut, VideoConfig())
    assert caught.value.reason == "truncated", caught.value.message


@pytest.mark.parametrize(("name", "reason", "words"), [
    ("audio-only.mp4", "no_video_stream", "no video stream (it holds audio)"),
    ("not-a-video.mp4", "not_a_video", "not a video"),
])
def test_files_that_are_no_video_say_why(name: str, reason: str, words: str) -> None:
    with pytest.raises(PhotoError) as caught:
        video.probe(CLIPS / name)
    assert caught.value.reason == reason and words in caught.value.message
    assert "\n" not in str(caught.value)


def test_empty_file(tmp_path: Path) -> None:
    (tmp_path / "x.mp4").write_bytes(b"")
    with pytest.raises(PhotoError) as caught:
        video.probe(tmp_path / "x.mp4")
    assert caught.value.reason in ("empty", "not_a_video")


def test_long_video_plan_is_capped() -> None:
    cfg = VideoConfig()
    times, spacing = video.plan(3600.0, cfg)
    assert len(times) <= cfg.max_probes and times[-1] < 3600.0
    assert spacing >= 3600.0 / (cfg.max_frames // 2)
    times, spacing = video.plan(60.0, cfg)
    assert len(times) == round(60 / cfg.probe_every) and spacing == cfg.sample_every


def test_dlib_frames_real_scene_samples_by_scene_and_time() -> None:
    info = video.probe(CLIPS / "dlib-frames.mp4")
    stats = video.SampleStats()
    samples = list(video.sample(CLIPS / "dlib-frames.mp4", info, VideoConfig(), long_side=None, stats=stats))
    assert samples[0].why == "first" and samples[0].time == 0.0
    assert [s.time for s in samples] == sorted(s.time for s in samples)
    assert stats.probes <= 11 and len(samples) <= stats.probes


def test_frame_at_gives_the_face_frame() -> None:
    rgb, info = video.frame_at(CLIPS / "phone-rotated.mov", 1.0)
    assert rgb.shape == (640, 360, 3) and info.rotation == 90


# --- tracks, on faces built by hand -------------------------------------------------------------------------


def _face(vector: np.ndarray, x: float, quality: float = 0.5) -> DetectedFace:
    from daemon.types import FaceQuality

    v = (vector / np.linalg.norm(vector)).astype(np.float32)
    return DetectedFace(box=(x, 10.0, x + 50.0, 60.0), score=0.9, landmarks=(), embedding=v,
                        quality=FaceQuality(score=quality, size_px=50, sharpness=100, frontal=1))


def test_tracks_one_face_per_person_best_quality_and_spans() -> None:
    rng = np.random.default_rng(24)
    a, b = rng.standard_normal(128), rng.standard_normal(128)
    noise = [rng.standard_normal(128) * 0.05 for _ in range(6)]
    samples = [
        (0.0, [_face(a + noise[0], 10, 0.4)]),
        (1.0, [_face(a + noise[1], 30, 0.9), _face(b + noise[2], 300)]),
        (2.0, [_face(a + noise[3], 50, 0.5), _face(b + noise[4], 310)]),
        (3.0, []),  # a cut away
        (4.0, [_face(a + noise[5], 400, 0.6)]),  # and back, elsewhere in the frame: the same person
    ]
    faces = tracks.video_faces(samples, eps=0.45, eps_alone=0.3, end=5.0)
    assert len(faces) == 2
    first, second = faces
    # The best face (quality 0.9); seen until the next sample without it, and from 4 s to the end.
    assert first.time == 1.0 and first.seen == ((0.0, 3.0), (4.0, 5.0))
    assert second.seen == ((1.0, 3.0),) and {first.track, second.track} == {0, 1}


def test_tracks_never_join_two_faces_of_one_frame() -> None:
    v = np.ones(128)
    samples = [(0.0, [_face(v, 10), _face(v, 300)]), (1.0, [_face(v, 12), _face(v, 305)])]
    assert len(tracks.video_faces(samples, eps=0.45, eps_alone=0.3, end=2.0)) == 2


def _look(seed: int, like: np.ndarray | None = None, mix: float = 0.0) -> np.ndarray:
    """A unit look: random, or `like` mixed with noise so the correlation is about 1 - mix."""
    noise = np.random.default_rng(seed).standard_normal((tracks.LOOK_SIDE, tracks.LOOK_SIDE)).astype(np.float32)
    noise -= noise.mean()
    noise /= np.linalg.norm(noise)
    out = noise if like is None else (1 - mix) * like + mix * noise
    return (out / np.linalg.norm(out)).astype(np.float32)


def test_a_face_borrows_only_from_a_near_face_that_looks_the_same_once_a_frame() -> None:
    a, b = _look(1), _look(2)
    lender = tracks.Lender(0.8)
    v1, v2 = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    lender.frame(0.0, [((0, 0, 10, 10), a, v1, (0.5, 0.0, 0.0), None, None),
                       ((100, 0, 110, 10), b, v2, (0.5, 0.0, 0.0), None, None)])
    assert lender.lend((200, 0, 210, 10), a, (0.5, 0.0, 0.0)) is None  # far from where `a` was
    assert lender.lend((2, 0, 12, 10), b, (0.5, 0.0, 0.0)) is None  # near, but another face
    lent = lender.lend((2, 0, 12, 10), a, (0.4, 0.0, 0.0))
    assert lent is not None and lent.embedding is v1 and not lent.keep_payload  # worse than its lender: no pixels
    assert lender.lend((1, 0, 11, 10), a, (0.4, 0.0, 0.0)) is None  # `a` lent already in this frame
    assert float(np.dot(a.ravel(), _look(3, a, 0.15).ravel())) > 0.8


def test_looks_are_compared_with_the_crop_the_embedding_came_from_and_the_best_borrower_is_kept() -> None:
    """A face drifting a little each frame: each step alike, the third far from the first: it embeds again."""
    first = _look(1)
    second = _look(2, first, 0.4)
    third = _look(3, second, 0.4)
    assert float(np.dot(first.ravel(), second.ravel())) >= 0.75 > float(np.dot(first.ravel(), third.ravel()))
    assert float(np.dot(second.ravel(), third.ravel())) >= 0.75
    v = np.eye(4, dtype=np.float32)[0]
    lender = tracks.Lender(0.75)
    lender.frame(0.0, [((0, 0, 10, 10), first, v, (0.5, 0.0, 0.0), None, None)])
    lent = lender.lend((1, 0, 11, 10), second, (0.9, 0.0, 0.0))
    assert lent is not None and lent.keep_payload  # better than its lender: its pixels are kept
    lender.frame(2.0, [((1, 0, 11, 10), second, lent.embedding, (0.9, 0.0, 0.0), lent, "pixels at 2 s")])
    assert lender.kept(2.0, (1, 0, 11, 10)) == "pixels at 2 s" and lender.kept(0.0, (0, 0, 10, 10)) is None
    assert lender.lend((2, 0, 12, 10), third, (0.95, 0.0, 0.0)) is None  # like the borrower, not like the source
    again = _look(4, first, 0.1)
    lender.frame(4.0, [((1, 0, 11, 10), second, lent.embedding, (0.9, 0.0, 0.0), lent, None)])
    better = lender.lend((2, 0, 12, 10), again, (0.95, 0.0, 0.0))
    assert better is not None and better.keep_payload
    lender.frame(6.0, [((2, 0, 12, 10), again, better.embedding, (0.95, 0.0, 0.0), better, "pixels at 6 s")])
    assert lender.kept(6.0, (2, 0, 12, 10)) == "pixels at 6 s"
    assert lender.kept(2.0, (1, 0, 11, 10)) is None  # one kept per source: the best


def test_objects_kept_per_label_with_runs() -> None:
    cup = DetectedObject(label="cup", score=0.8, box=(0, 0, 1, 1))
    best = DetectedObject(label="cup", score=0.95, box=(1, 1, 2, 2))
    samples = [(0.0, [cup]), (1.5, [best]), (3.0, []), (4.5, [cup])]
    (obj,) = tracks.video_objects(samples, end=6.0)
    assert (obj.label, obj.score, obj.time, obj.seen) == ("cup", 0.95, 1.5, ((0.0, 3.0), (4.5, 6.0)))


# --- the command line ---------------------------------------------------------------------------------------


def test_pictod_analyze_json_for_videos() -> None:
    done = pictod("analyze", "--json", str(CLIPS / "people.mp4"), str(CLIPS / "truncated.mp4"),
                  str(CLIPS / "audio-only.mp4"))
    assert done.returncode == 65, done.stderr
    ok, truncated, audio = json.loads(done.stdout)
    assert ok["kind"] == "video" and ok["codec"] == "h264" and ok["duration"] == pytest.approx(4.0, abs=0.1)
    assert len(ok["faces"]) == 3 and {"time", "track", "seen"} <= set(ok["faces"][0])
    assert (truncated["status"], truncated["reason"]) == ("failed", "truncated")
    assert (audio["status"], audio["reason"]) == ("failed", "no_video_stream")
    plain = pictod("analyze", str(CLIPS / "truncated.mp4"))
    assert "HEIF" not in plain.stdout and "without its index" in plain.stdout
