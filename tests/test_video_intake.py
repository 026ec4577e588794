"""Videos through the intake like photos (issue 24): `pictod scan` subprocesses on a folder of the real test clips:
recorded once with their kind, duration, codec and frame size; failures with their one-line reasons; unchanged on
a rescan; a copy linked by its hash; a move followed; a delete makes the video missing; video_extensions = []
leaves them alone."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cli_library import pictod
from harness import query, write_config
from pictod_testdata import CLIPS

CLIP_NAMES = ("people.mp4", "people.mov", "people.webm", "phone-rotated.mov", "truncated.mp4", "truncated.mkv",
              "audio-only.mp4", "not-a-video.mp4")


def scan(config: Path) -> dict[str, object]:
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(json.loads(done.stdout))


def rows(db: Path) -> dict[str, tuple[object, ...]]:
    found = query(db, "SELECT f.path, f.status, f.reason, p.kind, p.duration, p.codec, p.width, p.height "
                      "FROM files f LEFT JOIN photos p ON p.id = f.photo_id")
    return {os.path.basename(os.fsdecode(bytes(r[0]))): tuple(r[1:]) for r in found}


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    base = tmp_path_factory.mktemp("video-intake")
    layout = write_config(base)
    photos = layout.folders[0]
    for name in CLIP_NAMES:
        shutil.copy(CLIPS / name, photos / name)
    summary = scan(layout.config)
    assert summary["analysed"] == 5 and summary["failed"] == 3
    return layout.config, photos, layout.database


def test_videos_are_recorded_with_kind_duration_codec_and_size(scanned: tuple[Path, Path, Path]) -> None:
    _config, _photos, db = scanned
    got = rows(db)
    assert got["people.mp4"] == ("done", None, "video", 4.0, "h264", 640, 360)
    assert got["people.mov"] == ("done", None, "video", 4.0, "hevc", 640, 360)
    assert got["people.webm"][:6] == ("done", None, "video", 4.0, "vp9", 640)
    assert got["phone-rotated.mov"][5:] == (360, 640)  # displayed size, rotation applied
    assert got["truncated.mkv"][:3] == ("done", None, "video")
    assert got["truncated.mp4"][:2] == ("failed", "truncated")
    assert got["audio-only.mp4"][:2] == ("failed", "no_video_stream")
    assert got["not-a-video.mp4"][:2] == ("failed", "not_a_video")
    errors = dict(query(db, "SELECT reason, error FROM files WHERE status = 'failed'"))
    assert "without its index" in errors["truncated"] and "HEIF" not in errors["truncated"]
    place = query(db, "SELECT gps_lat, gps_lon, taken_at FROM photos WHERE codec = 'h264' AND height = 640")
    assert place == [(48.8584, 2.2945, "2024-05-01T10:20:30+00:00")]
    faces = query(db, "SELECT count(*), count(time), count(track), count(seen) FROM faces")
    assert faces[0][0] >= 10 and len(set(faces[0])) == 1  # every video face has its time, track and spans


def test_rescan_copy_move_and_delete(scanned: tuple[Path, Path, Path]) -> None:
    config, photos, db = scanned
    again = scan(config)
    assert again["analysed"] == 0 and again["unchanged"] == 8
    shutil.copy(photos / "people.mp4", photos / "copy.mp4")
    (photos / "people.mov").rename(photos / "renamed.mov")
    faces_before = query(db, "SELECT count(*) FROM faces")[0][0]
    after = scan(config)
    assert after["analysed"] == 0 and after["linked"] >= 2  # the copy and the renamed file: no decoding
    got = rows(db)
    assert got["copy.mp4"][2] == "video" and "people.mov" not in got and got["renamed.mov"][4] == "hevc"
    assert query(db, "SELECT count(*) FROM faces")[0][0] == faces_before
    (photos / "people.webm").unlink()
    scan(config)
    missing = query(db, "SELECT count(*) FROM photos WHERE codec = 'vp9' AND missing_since IS NOT NULL")
    assert missing == [(1,)]


def test_video_extensions_empty_leaves_videos_alone(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"library": {"video_extensions": []}})
    shutil.copy(CLIPS / "people.mp4", layout.folders[0] / "people.mp4")
    summary = scan(layout.config)
    assert summary["seen"] == 0
