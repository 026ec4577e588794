"""A video's XMP sidecar (issue 24): its people as for a photo, without regions. A sidecar exiftool writes with
PersonInImage names the video's one face; pictod's own sidecar for a video carries PersonInImage, digiKam's
TagsList and Lightroom's hierarchicalSubject, no mwg-rs:Regions, and exiftool and exiv2 read it back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cli_library import pictod
from harness import query, write_config
from pictod_testdata import CLIPS
from xmp_tools import exiftool, exiftool_json, exiv2_px


def test_video_sidecar_names_read_and_written_without_regions(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"metadata": {"write_sidecars": True}})
    folder = layout.folders[0]
    clip = folder / "phone.mov"
    shutil.copy(CLIPS / "phone-rotated.mov", clip)
    # Another tool's sidecar names the one person of the clip (no region: what a video's XMP can say).
    exiftool("-o", str(folder / "phone.mov.xmp"), "-XMP-iptcExt:PersonInImage=Ada Lovelace",
             "-XMP-lr:HierarchicalSubject=People|Ada Lovelace", "-XMP-dc:Subject=holiday")
    done = pictod("scan", "--config", str(layout.config), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    named = query(layout.database, "SELECT p.name FROM faces f JOIN people p ON p.id = f.person_id")
    assert named == [("Ada Lovelace",)]
    # Renamed in pictod: its part of the sidecar follows, the other tool's keyword stays.
    person = query(layout.database, "SELECT id FROM people WHERE name = 'Ada Lovelace'")[0][0]
    renamed = pictod("people", "name", str(person), "Ada King", "--config", str(layout.config))
    assert renamed.returncode == 0, renamed.stderr
    wrote = pictod("metadata", "write", "--all", "--config", str(layout.config), "--json")
    assert wrote.returncode == 0, wrote.stderr
    assert json.loads(wrote.stdout)["written"] == 1
    sidecar = folder / "phone.mov.xmp"
    got = exiftool_json(sidecar)
    assert "Ada King" in _list(got.get("PersonInImage"))
    assert "People|Ada King" in _list(got.get("HierarchicalSubject"))
    assert "People/Ada King" in _list(got.get("TagsList"))
    assert "holiday" in _list(got.get("Subject"))
    assert "RegionInfo" not in got and "RegionList" not in json.dumps(got)
    assert any("Ada King" in v for k, v in exiv2_px(sidecar).items() if "PersonInImage" in k)


def _list(value: object) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]
