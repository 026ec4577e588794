"""XMP metadata wired into the daemon (issue 13, second half), with the real exiftool and exiv2 and real photos:
`pictod scan` imports MWG/MP names (embedded and sidecars, orientations 1/3/6/8) onto the right faces; with
write_sidecars, pictod's sidecars read back by exiftool and exiv2 after naming, merging and rejecting; a second
library on the same folder ends with the same named people; a running daemon re-imports a sidecar another tool
changed and never its own writes; a hostile sidecar costs one log line, never the photo."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Daemon, Layout, expect, query, write_config
from pictod_testdata import FACE_RECOGNITION, REPO
from PIL import Image
from xmp_tools import (
    NAMES,
    PHOTO,
    exiftool,
    exiftool_batch,
    exiftool_json,
    exiv2_px,
    iou,
    make_rotated,
    region_arg,
    stored_box,
    tagged_rotated,
    truth,
)

from daemon.library import corrections
from daemon.store import Store

ONE_KIND_EACH = {1: "embedded", 3: "sidecar", 6: "lightroom", 8: "mp"}  # one photo per orientation, each a kind
WRITE = {"metadata": {"write_sidecars": True}}


def _layout_for(base: Path, photos: Path, sections: dict[str, dict[str, object]] | None = None) -> Layout:
    return write_config(base, folders=[photos], database=base / "data" / "library.db", sections=sections)


def pictod(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def named_people(db: Path) -> dict[str, int]:
    return {name: faces for name, faces in query(db, "SELECT name, face_count FROM people WHERE name IS NOT NULL")}


def log_lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


# ---------------------------------------------------------------------------------------------------- reading


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A folder tagged by exiftool (one kind per orientation) plus a photo with a hostile sidecar, scanned once."""
    tmp = tmp_path_factory.mktemp("read")
    photos = tmp / "photos"
    photos.mkdir()
    commands: list[list[str | Path]] = []
    for orientation, kind in ONE_KIND_EACH.items():
        commands += tagged_rotated(photos, kind, orientation)[1]
    exiftool_batch(commands, tmp)
    hostile = photos / "hostile.jpg"
    shutil.copy(FACE_RECOGNITION / "obama.jpg", hostile)
    (photos / "hostile.jpg.xmp").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/" xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/">'
        b'&b;</x:xmpmeta>')
    layout = _layout_for(tmp, photos)
    config = layout.config
    result = pictod("scan", "--config", config, "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    return photos, tmp / "data" / "library.db", layout.log


def test_scan_imports_names_onto_the_right_faces_in_every_orientation(imported: tuple[Path, Path, Path]) -> None:
    photos, db, _log = imported
    people = named_people(db)
    assert people == {name: len(ONE_KIND_EACH) for name in NAMES}
    for orientation, kind in ONE_KIND_EACH.items():
        rows = query(db, "SELECT p.name, f.x1, f.y1, f.x2, f.y2 FROM faces f JOIN people p ON p.id = f.person_id "
                         "JOIN files fl ON fl.photo_id = f.photo_id WHERE fl.path = ?",
                     str(photos / f"{kind}_{orientation}.jpg").encode())
        by_name = {name: box for name, *box in rows}
        # The rotated photos display as PHOTO, so dlib's boxes are where the analysis (oriented pixels) finds them.
        for name, box in zip(NAMES, truth(), strict=True):
            assert iou(by_name[name], box) >= 0.4, (kind, orientation, name, by_name[name], box)
    # Every imported name is a curated person and a pinned, imported correction.
    assert query(db, "SELECT count(*) FROM people WHERE name IS NOT NULL AND curated = 0") == [(0,)]
    assert query(db, "SELECT count(*) FROM corrections WHERE source = 'xmp' AND kind = 'assign'")[0][0] == 12


def test_hostile_sidecar_is_one_log_line_and_the_photo_is_still_analysed(imported: tuple[Path, Path, Path]) -> None:
    photos, db, log = imported
    hostile = str(photos / "hostile.jpg")
    ignored = [e for e in log_lines(log) if e.get("event") == "metadata_ignored" and e.get("path") == hostile]
    assert len(ignored) == 1 and "forbidden" in str(ignored[0]["reason"]), ignored
    assert query(db, "SELECT status FROM files WHERE path = ?", hostile.encode()) == [("done",)]
    assert query(db, "SELECT count(*) FROM faces f JOIN files fl ON fl.photo_id = f.photo_id WHERE fl.path = ?",
                 hostile.encode())[0][0] == 1


def test_a_user_correction_after_the_import_is_never_overridden(imported: tuple[Path, Path, Path]) -> None:
    photos, db, _log = imported
    with Store.open(db) as store:
        face_id, person = store.read(lambda c: c.execute(
            "SELECT f.id, f.person_id FROM faces f JOIN files fl ON fl.photo_id = f.photo_id JOIN people p ON "
            "p.id = f.person_id WHERE fl.path = ? AND p.name = ?",
            (str(photos / "sidecar_3.jpg").encode(), NAMES[0])).fetchone())
        corrections.reject_face(store, face_id)
        # The sidecar changes (another tool touches it): the re-import leaves the rejected face alone.
        from daemon.metadata import read_metadata
        from daemon.store import metadata as meta_sql
        photo_id = store.read(lambda c: c.execute("SELECT photo_id FROM faces WHERE id = ?", (face_id,)).fetchone()[0])
        meta = read_metadata(photos / "sidecar_3.jpg")
        from daemon.people import xmp_import
        plan = xmp_import.plan_import(meta, store.photo_faces(photo_id), {},
                                      written_digest=store.sidecar_seen(photo_id)[1], reimport=True)
        result = store.import_metadata(photo_id, plan)
        assert result.skipped == 1
        assert store.read(lambda c: c.execute("SELECT person_id FROM faces WHERE id = ?", (face_id,)).fetchone()) \
            == (None,)
        # Two different names never merge: importing another name onto a named face moves the face only.
        other = store.read(lambda c: meta_sql.person_named(c, NAMES[1]))
        assert other is not None and other != person


# ---------------------------------------------------------------------------------------------------- writing


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, Path]]:
    """Library A (write_sidecars on) on untagged photos; one sidecar already holds another tool's properties."""
    tmp = tmp_path_factory.mktemp("write")
    photos = tmp / "photos"
    photos.mkdir()
    shutil.copy(PHOTO, photos / "group.jpg")
    make_rotated(FACE_RECOGNITION / "obama.jpg", 6, photos / "obama.jpg")
    exiftool("-q", "-overwrite_original", "-Orientation#=6", photos / "obama.jpg")
    shutil.copy(FACE_RECOGNITION / "biden.jpg", photos / "biden.jpg")
    exiftool("-q", "-o", photos / "group.jpg.xmp", "-XMP-dc:Title=Picnic", "-XMP-xmp:Rating=4", photos / "group.jpg")
    config = _layout_for(tmp, photos, WRITE).config
    result = pictod("scan", "--config", config)
    assert result.returncode == 0, result.stderr[-3000:]
    yield photos, tmp / "data" / "library.db", config


def _faces(db: Path, path: Path) -> list[tuple[int, int | None, tuple[float, float, float, float]]]:
    return [(fid, pid, (x1, y1, x2, y2)) for fid, pid, x1, y1, x2, y2 in query(
        db, "SELECT f.id, f.person_id, f.x1, f.y1, f.x2, f.y2 FROM faces f JOIN files fl ON "
            "fl.photo_id = f.photo_id WHERE fl.path = ? ORDER BY f.x1", str(path).encode())]


def _regions(sidecar: Path) -> dict[str, tuple[float, float, float, float]]:
    """exiftool's reading of a sidecar's MWG regions: name -> box in the stored frame (pixels)."""
    info = exiftool_json(sidecar, "-RegionInfo")["RegionInfo"]
    w, h = info["AppliedToDimensions"]["W"], info["AppliedToDimensions"]["H"]
    out = {}
    for item in info["RegionList"]:
        a = item["Area"]
        out[item["Name"]] = ((a["X"] - a["W"] / 2) * w, (a["Y"] - a["H"] / 2) * h,
                             (a["X"] + a["W"] / 2) * w, (a["Y"] + a["H"] / 2) * h)
    return out


def test_sidecars_follow_naming_merging_and_rejecting(written: tuple[Path, Path, Path]) -> None:
    photos, db, config = written
    group = _faces(db, photos / "group.jpg")
    assert len(group) >= 2
    obama, biden = _faces(db, photos / "obama.jpg")[0], _faces(db, photos / "biden.jpg")[0]
    with Store.open(db) as store:
        ids = []
        for i, (face_id, person, _box) in enumerate([*group[:2], obama, biden]):
            if person is None:
                person = store.write(lambda c: c.execute("INSERT INTO people (created_at, updated_at) "
                                                         "VALUES ('t', 't') RETURNING id").fetchone()[0])
                corrections.move_face(store, face_id, person)
            ids.append(person)
            corrections.name_person(store, person, ["Ana Müller", "Björn Ek", "Barack", "Joe"][i])
        # Merge Joe into Barack, reject Björn's face: both sidecars change, once.
        corrections.merge_people(store, ids[2], ids[3])
        corrections.reject_face(store, group[1][0])
    result = pictod("metadata", "write", "--all", "--json", "--config", config)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["skipped"] == 0 and report["written"] == 3
    # exiftool: the names, boxes within IoU 0.95 of pictod's, the other tool's properties kept.
    regions = _regions(photos / "group.jpg.xmp")
    assert set(regions) == {"Ana Müller"}
    assert iou(regions["Ana Müller"], group[0][2]) >= 0.95
    props = exiftool_json(photos / "group.jpg.xmp", "-XMP:all")
    assert props["Title"] == "Picnic" and props["Rating"] == 4
    # An EXIF-rotated photo: the region is in the stored frame, pictod's box in the displayed one.
    stored = stored_box(Image.open(photos / "obama.jpg").size[::-1], obama[2], 6)
    assert iou(_regions(photos / "obama.jpg.xmp")["Barack"], stored) >= 0.95
    assert set(_regions(photos / "biden.jpg.xmp")) == {"Barack"}  # merged into Barack
    # exiv2, an independent reader, sees the same.
    px = exiv2_px(photos / "group.jpg.xmp")
    assert any(v == "Ana Müller" for k, v in px.items() if k.endswith("mwg-rs:Name")), px
    assert px.get("Xmp.dc.title", "").endswith("Picnic") and px.get("Xmp.xmp.Rating") == "4"
    # Nothing dirty is left, and the photos themselves were never touched.
    assert query(db, "SELECT count(*) FROM photo_metadata WHERE dirty = 1") == [(0,)]


def test_a_second_library_on_the_same_folder_ends_with_the_same_named_people(
        tmp_path: Path, written: tuple[Path, Path, Path]) -> None:
    photos, db_a, _config = written
    # Library A named, merged and wrote in the test above (file order; the fixture is module-scoped).
    config = _layout_for(tmp_path, photos).config
    result = pictod("scan", "--config", config)
    assert result.returncode == 0, result.stderr[-3000:]
    assert named_people(tmp_path / "data" / "library.db") == named_people(db_a) == {"Ana Müller": 1, "Barack": 2}


# ---------------------------------------------------------------------------------------------------- the daemon


def test_running_daemon_reimports_a_changed_sidecar_and_not_its_own_writes(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    photo = photos / "obama.jpg"
    shutil.copy(FACE_RECOGNITION / "obama.jpg", photo)
    daemon = Daemon(_layout_for(tmp_path, photos, WRITE))
    try:
        daemon.start()
        expect(lambda: daemon.events("photo", status="analysed"), 120, 0.2, "analysed")
        (_fid, _pid, box), = _faces(daemon.db, photo)
        w, h = Image.open(photo).size
        mark = daemon.mark()
        exiftool("-q", "-o", photos / "obama.jpg.xmp", region_arg(w, h, [("Barack Obama", box)], normalise=(w, h)),
                 photo)
        expect(lambda: daemon.events("photo", after=mark, status="metadata"), 60, 0.2, "re-import")
        assert daemon.events("photo", after=mark, status="metadata")[0]["xmp_matched"] == 1
        assert named_people(daemon.db) == {"Barack Obama": 1}
        assert query(daemon.db, "SELECT count(*) FROM photos") == [(1,)]  # not analysed again
        # The import marked the photo dirty: the daemon writes its sidecar, and does not import its own write.
        expect(lambda: daemon.events("sidecars", after=mark), 30, 0.2, "sidecar write")
        person = query(daemon.db, "SELECT id FROM people")[0][0]
        mark = daemon.mark()
        result = pictod("people", "name", str(person), "Barack H. Obama", "--config", daemon.layout.config)
        assert result.returncode == 0, result.stderr
        expect(lambda: "Barack H. Obama" in _regions(photos / "obama.jpg.xmp"), 30, 0.2, "rename written")
        expect(lambda: daemon.events("sidecars", after=mark), 30, 0.2, "sidecar write logged")
        time.sleep(2.0)  # the watcher's events for pictod's own write arrive and are handled (settle 0.3 s)
        assert daemon.events("photo", after=mark, status="metadata") == []
        assert named_people(daemon.db) == {"Barack H. Obama": 1}
        assert daemon.stop() == 0
        # Changed while the daemon was down: the start-up reconcile notices the sidecar and re-imports it (the
        # user's rename, made after the first import, still wins over the sidecar's "Barack Obama").
        exiftool("-q", "-overwrite_original", "-XMP-dc:Subject+=beach", photos / "obama.jpg.xmp")
        daemon.start()
        expect(lambda: daemon.events("photo", status="metadata"), 60, 0.2, "start-up re-import")
        assert daemon.events("reconcile")[0]["sidecars"] == 1
        assert named_people(daemon.db) == {"Barack H. Obama": 1}
        assert query(daemon.db, "SELECT count(*) FROM photos") == [(1,)]
        assert daemon.stop() == 0
    finally:
        daemon.teardown()
