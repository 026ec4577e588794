"""Live Photos (issue 24): the test clips' pair `live/IMG_0001.HEIC` (the still, the clip's middle frame) and
`live/IMG_0001.MOV` (3 s of the same person) are one item, in either order they arrive: the video is paired with
the still and adds no face the still has; a video of another name stays its own item. Real `pictod scan`s."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cli_library import pictod
from harness import query, write_config
from pictod_testdata import CLIPS, JOHNS

LIVE = CLIPS / "live"


def scan(config: Path) -> None:
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr[-3000:]


def people_consistent(db: Path) -> None:
    """Every person's stored face count is its faces'."""
    for person, count in query(db, "SELECT id, face_count FROM people"):
        assert query(db, "SELECT count(*) FROM faces WHERE person_id = ?", person)[0][0] == count


def test_still_then_video_is_one_item(tmp_path: Path) -> None:
    layout = write_config(tmp_path)
    folder = layout.folders[0]
    shutil.copy(LIVE / "IMG_0001.HEIC", folder / "IMG_0001.HEIC")
    shutil.copy(LIVE / "IMG_0001.MOV", folder / "IMG_0001.MOV")
    scan(layout.config)  # two workers: either may be recorded first, the pair is the same
    (still_id, still_kind, _, still_faces), (video_id, kind, paired, video_faces) = query(
        layout.database, "SELECT id, kind, paired_with, (SELECT count(*) FROM faces WHERE photo_id = p.id) "
                         "FROM photos p ORDER BY kind")
    assert (still_kind, kind, paired) == ("photo", "video", still_id)
    assert still_faces == 1 and video_faces == 0  # the same person: the video adds nothing
    assert video_id != still_id


def test_video_then_still_drops_the_videos_duplicate_face(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"clustering": {"recluster_every": 1}})
    folder = layout.folders[0]
    # Someone else first, so people exist to be updated when the video's face leaves.
    for src in sorted((JOHNS / "John_Shimkus").glob("*.jpg"))[3:5]:
        shutil.copy(src, folder / src.name)
    shutil.copy(LIVE / "IMG_0001.MOV", folder / "IMG_0001.MOV")
    scan(layout.config)
    video = query(layout.database, "SELECT id FROM photos WHERE kind = 'video'")[0][0]
    assert query(layout.database, "SELECT count(*) FROM faces WHERE photo_id = ?", video) == [(1,)]
    people_consistent(layout.database)
    shutil.copy(LIVE / "IMG_0001.HEIC", folder / "IMG_0001.HEIC")
    scan(layout.config)
    still = query(layout.database, "SELECT id FROM photos WHERE format = 'HEIF'")[0][0]
    assert query(layout.database, "SELECT paired_with FROM photos WHERE id = ?", video) == [(still,)]
    assert query(layout.database, "SELECT count(*) FROM faces WHERE photo_id = ?", video) == [(0,)]
    assert query(layout.database, "SELECT count(*) FROM faces WHERE photo_id = ?", still) == [(1,)]
    people_consistent(layout.database)
    shown = pictod("people", "--config", str(layout.config), "--json")
    assert shown.returncode == 0, shown.stderr
    assert sum(p["faces"] for p in json.loads(shown.stdout)) <= 3


def test_other_name_or_long_video_is_no_pair(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"video": {"live_max_seconds": 2.0}})
    folder = layout.folders[0]
    shutil.copy(LIVE / "IMG_0001.HEIC", folder / "IMG_0001.HEIC")
    shutil.copy(LIVE / "IMG_0001.MOV", folder / "IMG_0001.MOV")  # 3 s: longer than live_max_seconds
    shutil.copy(CLIPS / "people.mp4", folder / "IMG_0002.mp4")
    scan(layout.config)
    assert query(layout.database, "SELECT count(*) FROM photos WHERE paired_with IS NOT NULL") == [(0,)]
    assert query(layout.database, "SELECT count(*) FROM faces WHERE photo_id = "
                                  "(SELECT id FROM photos WHERE duration = 3.0)") == [(1,)]
