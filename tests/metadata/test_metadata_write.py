"""daemon.metadata writing: sidecars read back by the real exiftool and exiv2 with the same names and boxes
(IoU >= 0.95), every property that was there before still there, pictod's own entries replaced as names change,
its own writes recognised, the photo never touched."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from pictod_testdata import FACE_RECOGNITION
from PIL import Image
from xmp_tools import (
    NAMES,
    PHOTO,
    Box,
    displayed_box,
    exiftool,
    exiftool_batch,
    exiftool_json,
    exiv2_px,
    iou,
    make_rotated,
    mp_region_arg,
    region_arg,
    stored_box,
    truth,
)

from daemon.metadata import NamedFace, SidecarContent, is_own_write, read_metadata, write_sidecar
from daemon.metadata import sidecars as sc

SHARED = ("PersonInImage", "TagsList", "HierarchicalSubject", "Subject")


def faces(names: tuple[str, ...] = NAMES, boxes: list[Box] | None = None) -> tuple[NamedFace, ...]:
    boxes = boxes or truth()
    return tuple(NamedFace(name, box, f"face:{i}") for i, (name, box) in enumerate(zip(names, boxes, strict=True)))


FOREIGN_BOX = (10.0, 10.0, 60.0, 60.0)  # displayed pixels; no face of NAMES there


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[Path, bytes]]:
    """For each orientation: a rotated photo and the bytes of a sidecar exiftool wrote beforehand with the
    real XMP of a press photo (dozens of properties), a foreign MWG region and MP region, people and tags."""
    tmp = tmp_path_factory.mktemp("prepared")
    displayed = Image.open(PHOTO).size
    commands = []
    for orientation in (1, 3, 6, 8):
        photo = tmp / f"photo_{orientation}.jpg"
        size = make_rotated(PHOTO, orientation, photo)
        foreign = [("Someone Else", stored_box(displayed, FOREIGN_BOX, orientation))]
        commands.append(["-q", "-overwrite_original", f"-Orientation#={orientation}", photo])
        commands.append(["-q", "-tagsfromfile", FACE_RECOGNITION / "obama.jpg", "-xmp:all", "-x", "xmp-mwg-rs:all",
                         region_arg(*size, foreign, normalise=size), mp_region_arg(foreign, normalise=size),
                         "-PersonInImage=Guest", "-TagsList=Places/Paris", "-TagsList+=People/Guest",
                         "-HierarchicalSubject=People|Guest", "-Subject=holiday", "-Rating=4",
                         tmp / f"photo_{orientation}.jpg.xmp"])
    exiftool_batch(commands, tmp)
    result = {}
    for orientation in (1, 3, 6, 8):
        result[orientation] = (tmp / f"photo_{orientation}.jpg", (tmp / f"photo_{orientation}.jpg.xmp").read_bytes())
    return result


def _setup(prepared: dict[int, tuple[Path, bytes]], orientation: int, tmp_path: Path) -> tuple[Path, Path]:
    source, sidecar_bytes = prepared[orientation]
    photo = tmp_path / source.name
    shutil.copy(source, photo)
    sidecar = photo.with_name(photo.name + ".xmp")
    sidecar.write_bytes(sidecar_bytes)
    return photo, sidecar


def _stored_size(orientation: int) -> tuple[int, int]:
    w, h = Image.open(PHOTO).size
    return (h, w) if orientation in (6, 8) else (w, h)


def _exiftool_regions(sidecar: Path, orientation: int) -> dict[str, Box]:
    """Regions as exiftool reads them, turned into displayed pixels by Pillow (not by pictod's geometry)."""
    info = exiftool_json(sidecar, "-RegionInfo")["RegionInfo"]
    sw, sh = _stored_size(orientation)
    assert (info["AppliedToDimensions"]["W"], info["AppliedToDimensions"]["H"]) == (sw, sh)
    out = {}
    for region in info["RegionList"]:
        a = region["Area"]
        stored = ((a["X"] - a["W"] / 2) * sw, (a["Y"] - a["H"] / 2) * sh,
                  (a["X"] + a["W"] / 2) * sw, (a["Y"] + a["H"] / 2) * sh)
        out[region["Name"]] = displayed_box((sw, sh), stored, orientation)
    return out


def _exiv2_regions(sidecar: Path, orientation: int) -> dict[str, Box]:
    values = exiv2_px(sidecar)
    sw, sh = _stored_size(orientation)
    out = {}
    for i in range(1, 20):
        base = f"Xmp.mwg-rs.Regions/mwg-rs:RegionList[{i}]"
        if f"{base}/mwg-rs:Name" not in values:
            break
        x, y, w, h = (float(values[f"{base}/mwg-rs:Area/stArea:{k}"]) for k in "xywh")
        stored = ((x - w / 2) * sw, (y - h / 2) * sh, (x + w / 2) * sw, (y + h / 2) * sh)
        out[values[f"{base}/mwg-rs:Name"]] = displayed_box((sw, sh), stored, orientation)
    return out


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_exiftool_and_exiv2_read_back_the_same_names_and_boxes(
    prepared: dict[int, tuple[Path, bytes]], tmp_path: Path, orientation: int
) -> None:
    photo, sidecar = _setup(prepared, orientation, tmp_path)
    before_et = exiftool_json(sidecar, "-G1", "-a")
    assert len([key for key in before_et if key.startswith("XMP-")]) > 100
    before_x2 = exiv2_px(sidecar)
    photo_bytes, photo_mtime = photo.read_bytes(), photo.stat().st_mtime_ns

    result = write_sidecar(photo, SidecarContent(faces=faces()))
    assert result.status == "written" and result.dropped == ()

    for regions in (_exiftool_regions(sidecar, orientation), _exiv2_regions(sidecar, orientation)):
        assert sorted(regions) == sorted((*NAMES, "Someone Else"))
        for name, box in zip(NAMES, truth(), strict=True):
            assert iou(regions[name], box) >= 0.95, (name, regions[name], box)
        assert iou(regions["Someone Else"], FOREIGN_BOX) >= 0.95

    after_et = exiftool_json(sidecar, "-G1", "-a")
    for key, value in before_et.items():
        if not key.startswith("XMP-") or key == "XMP-x:XMPToolkit":
            continue  # the file's size and dates, exiftool's own notes
        if key.split(":")[-1] in SHARED:
            assert set(_as_list(value)) <= set(_as_list(after_et[key])), key
        elif key == "XMP-mwg-rs:RegionInfo":
            assert value["RegionList"][0] in after_et[key]["RegionList"]
        else:
            assert after_et.get(key) == value, key
    assert set(_as_list(after_et["XMP-iptcExt:PersonInImage"])) == {"Guest", *NAMES}
    assert set(_as_list(after_et["XMP-digiKam:TagsList"])) == {"Places/Paris", "People/Guest",
                                                                *(f"People/{n}" for n in NAMES)}
    assert set(_as_list(after_et["XMP-lr:HierarchicalSubject"])) == {"People|Guest",
                                                                      *(f"People|{n}" for n in NAMES)}

    after_x2 = exiv2_px(sidecar)
    for key, value in before_x2.items():
        if key.endswith(("PersonInImage", "TagsList", "hierarchicalSubject", "dc.subject")):
            assert set(value.split(", ")) <= set(after_x2[key].split(", ")), key
        elif key != "Xmp.x.xmptk":
            assert after_x2.get(key) == value, key

    read_back = {region.name: region for region in read_metadata(photo).regions}
    assert sorted(read_back) == sorted((*NAMES, "Someone Else"))
    for name, box in zip(NAMES, truth(), strict=True):
        assert iou(read_back[name].box, box) >= 0.95
        assert read_back[name].pictod_key is not None
    assert read_back["Someone Else"].pictod_key is None
    assert (photo.read_bytes(), photo.stat().st_mtime_ns) == (photo_bytes, photo_mtime)


def test_names_change_as_people_are_renamed_merged_and_rejected(
    prepared: dict[int, tuple[Path, bytes]], tmp_path: Path
) -> None:
    photo, sidecar = _setup(prepared, 6, tmp_path)
    write_sidecar(photo, SidecarContent(faces=faces()))
    # renamed: Björn Ek -> Bea
    write_sidecar(photo, SidecarContent(faces=faces(("Ana Müller", "Bea", "王芳"))))
    data = exiftool_json(sidecar, "-PersonInImage", "-TagsList", "-HierarchicalSubject", "-RegionInfo")
    assert sorted(data["PersonInImage"]) == sorted(["Guest", "Ana Müller", "Bea", "王芳"])
    assert "People/Björn Ek" not in data["TagsList"] and "People/Guest" in data["TagsList"]
    assert "People|Björn Ek" not in data["HierarchicalSubject"]
    names = sorted(r["Name"] for r in data["RegionInfo"]["RegionList"])
    assert names == sorted(["Someone Else", "Ana Müller", "Bea", "王芳"])
    # merged: the third face's person merged into Ana Müller
    write_sidecar(photo, SidecarContent(faces=faces(("Ana Müller", "Bea", "Ana Müller"))))
    data = exiftool_json(sidecar, "-PersonInImage", "-RegionInfo")
    assert sorted(data["PersonInImage"]) == ["Ana Müller", "Bea", "Guest"]
    assert sorted(r["Name"] for r in data["RegionInfo"]["RegionList"]) == ["Ana Müller", "Ana Müller", "Bea",
                                                                        "Someone Else"]
    # rejected: the second face is not a face
    write_sidecar(photo, SidecarContent(faces=(faces()[0],)))
    data = exiftool_json(sidecar, "-PersonInImage", "-RegionInfo")
    assert sorted(data["PersonInImage"]) == ["Ana Müller", "Guest"]
    assert sorted(r["Name"] for r in data["RegionInfo"]["RegionList"]) == ["Ana Müller", "Someone Else"]
    # the photo left the library (or every name was removed): only what pictod wrote goes
    result = write_sidecar(photo, SidecarContent())
    assert result.status == "written"
    data = exiftool_json(sidecar, "-G1", "-a")
    assert data["XMP-iptcExt:PersonInImage"] == ["Guest"]
    assert [r["Name"] for r in data["XMP-mwg-rs:RegionInfo"]["RegionList"]] == ["Someone Else"]
    assert [key for key in data if key.startswith("XMP-pictod:")] == ["XMP-pictod:Digest"]
    assert data["XMP-xmp:Rating"] == 4 and data["XMP-photoshop:City"] == "WASHINGTON"
    assert iou(_exiftool_regions(sidecar, 6)["Someone Else"], FOREIGN_BOX) >= 0.95


def test_a_sidecar_only_pictod_wrote_is_removed_when_empty(tmp_path: Path) -> None:
    photo = tmp_path / "solo.jpg"
    shutil.copy(PHOTO, photo)
    assert write_sidecar(photo, SidecarContent()).status == "absent"
    assert write_sidecar(photo, SidecarContent(faces=faces(), keywords=("person", "dog"))).status == "written"
    assert exiftool_json(photo.with_name("solo.jpg.xmp"), "-Subject")["Subject"] == ["person", "dog"]
    result = write_sidecar(photo, SidecarContent())
    assert result.status == "removed"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["solo.jpg"]


def test_own_writes_are_recognised_and_edits_by_others_are_not(
    prepared: dict[int, tuple[Path, bytes]], tmp_path: Path
) -> None:
    photo, sidecar = _setup(prepared, 1, tmp_path)
    assert not is_own_write(sidecar)
    first = write_sidecar(photo, SidecarContent(faces=faces()))
    assert is_own_write(sidecar) and read_metadata(photo).sidecars[0].pictod_unchanged
    assert first.digest == sc.sha256(sidecar.read_bytes())
    mtime = sidecar.stat().st_mtime_ns
    again = write_sidecar(photo, SidecarContent(faces=faces()))
    assert again.status == "unchanged" and sidecar.stat().st_mtime_ns == mtime
    exiftool("-q", "-overwrite_original", "-Rating=2", sidecar)  # the user edits in another tool
    assert not is_own_write(sidecar)
    meta = read_metadata(photo)
    assert not meta.sidecars[0].pictod_unchanged
    assert sorted(r.name for r in meta.regions if r.pictod_key) == sorted(NAMES)  # the mark survives exiftool
    write_sidecar(photo, SidecarContent(faces=faces(("Ana Müller", "Bea", "王芳"))))
    names = sorted(r.name for r in read_metadata(photo).regions)
    assert names == sorted(["Ana Müller", "Bea", "王芳", "Someone Else"])  # replaced, not duplicated
    assert exiftool_json(sidecar, "-Rating")["Rating"] == 2


def test_a_foreign_region_of_the_same_person_is_not_duplicated(tmp_path: Path) -> None:
    photo = tmp_path / "dup.jpg"
    shutil.copy(PHOTO, photo)
    size = Image.open(PHOTO).size
    exiftool("-q", region_arg(*size, [("Ana Müller", truth()[0])], normalise=size), tmp_path / "dup.jpg.xmp")
    write_sidecar(photo, SidecarContent(faces=faces()))
    regions = read_metadata(photo).regions
    assert sorted(r.name for r in regions) == sorted(NAMES)
    assert [r.pictod_key for r in regions if r.name == "Ana Müller"] == [None]


def test_replace_is_atomic_and_keeps_the_mode(tmp_path: Path) -> None:
    photo = tmp_path / "mode.jpg"
    shutil.copy(PHOTO, photo)
    write_sidecar(photo, SidecarContent(faces=faces()))
    sidecar = photo.with_name("mode.jpg.xmp")
    os.chmod(sidecar, 0o640)
    write_sidecar(photo, SidecarContent(faces=faces(("Ana Müller", "Bea", "王芳"))))
    assert stat.S_IMODE(sidecar.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mode.jpg", "mode.jpg.xmp"]
    before = os.stat(sidecar)
    sidecar.write_bytes(sidecar.read_bytes() + b"\n")  # another program writes in between
    with pytest.raises(sc.ChangedMeanwhile):
        sc.replace_atomically(sidecar, b"new", before=before)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mode.jpg", "mode.jpg.xmp"]
    assert sidecar.read_bytes() != b"new"


def test_a_symlinked_sidecar_is_written_through(tmp_path: Path) -> None:
    photo = tmp_path / "link.jpg"
    shutil.copy(PHOTO, photo)
    elsewhere = tmp_path / "store"
    elsewhere.mkdir()
    real = elsewhere / "link.jpg.xmp"
    exiftool("-q", "-Rating=5", real)
    (tmp_path / "link.jpg.xmp").symlink_to(real)
    write_sidecar(photo, SidecarContent(faces=faces()))
    assert (tmp_path / "link.jpg.xmp").is_symlink()
    assert exiftool_json(real, "-Rating")["Rating"] == 5
    assert sorted(r.name for r in read_metadata(photo).regions) == sorted(NAMES)


def test_round_trip_gives_a_fresh_reader_the_same_people(tmp_path: Path) -> None:
    """What library A writes, a fresh library B reads back: the same names on the same faces."""
    for orientation in (1, 6):
        photo = tmp_path / f"rt_{orientation}.jpg"
        make_rotated(PHOTO, orientation, photo)
        exiftool("-q", "-overwrite_original", f"-Orientation#={orientation}", photo)
        write_sidecar(photo, SidecarContent(faces=faces()))
        read_back = {r.name: r.box for r in read_metadata(photo).regions}
        assert sorted(read_back) == sorted(NAMES)
        for name, box in zip(NAMES, truth(), strict=True):
            assert iou(read_back[name], box) >= 0.95
