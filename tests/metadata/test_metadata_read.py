"""daemon.metadata reading: regions written by the real exiftool and exiv2 into real photos (embedded and as
sidecars, EXIF orientations 1/3/6/8, JPEG/PNG/TIFF/WebP/HEIC, ExtendedXMP) land on the faces as pictod's
analysis sees the photo. Ground truth: dlib's hand-drawn face boxes for a VOC photo (500x375, 3 faces)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from pictod_testdata import HEIF_IMAGES, PILLOW_IMAGES, REPO, SKIMAGE
from PIL import Image
from xmp_tools import (
    KINDS,
    NAMES,
    PHOTO,
    Box,
    displayed_box,
    exiftool,
    exiftool_batch,
    iou,
    make_rotated,
    region_arg,
    stored_box,
    tagged_rotated,
    truth,
)

from daemon import config
from daemon.analysis.analyzer import Analyzer, imaging
from daemon.metadata import read_metadata

ORIENTATIONS = (1, 3, 6, 8)


@pytest.fixture(scope="module")
def rotated(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    """PHOTO stored turned back for each orientation, tagged by exiftool in one run: MWG embedded, MWG in a
    `photo.jpg.xmp` sidecar, MWG in a Lightroom-style `photo.xmp`, MP (Microsoft) embedded."""
    tmp = tmp_path_factory.mktemp("rotated")
    commands: list[list[str | Path]] = []
    made: dict[tuple[str, int], Path] = {}
    for orientation in ORIENTATIONS:
        for kind in KINDS:
            made[(kind, orientation)], tag = tagged_rotated(tmp, kind, orientation)
            commands += tag
    exiftool_batch(commands, tmp)
    return made


@pytest.mark.parametrize("orientation", ORIENTATIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_regions_land_on_the_faces_in_the_oriented_frame(
    rotated: dict[tuple[str, int], Path], kind: str, orientation: int
) -> None:
    path = rotated[(kind, orientation)]
    meta = read_metadata(path)
    assert meta.ignored == ()
    assert meta.orientation == orientation
    assert (meta.width, meta.height) == Image.open(PHOTO).size
    by_name = {region.name: region for region in meta.regions}
    assert sorted(by_name) == sorted(NAMES)
    for name, box in zip(NAMES, truth(), strict=True):
        assert iou(by_name[name].box, box) >= 0.95, (name, by_name[name].box, box)
        assert by_name[name].schema == ("mp" if kind == "mp" else "mwg")
        assert by_name[name].sidecar == (kind in ("sidecar", "lightroom"))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_oriented_frame_is_the_one_imaging_decodes(rotated: dict[tuple[str, int], Path], orientation: int) -> None:
    """The frame regions are mapped to is the frame daemon.analysis.imaging hands the analysis: same size, same pixels
    under each region as in the upright photo."""
    path = rotated[("embedded", orientation)]
    decoded = imaging.load(path, max_pixels=10**8, max_file_bytes=10**8)
    meta = read_metadata(path)
    assert (decoded.meta.width, decoded.meta.height) == (meta.width, meta.height)
    upright = np.asarray(Image.open(PHOTO).convert("RGB"), dtype=np.int16)
    for region in meta.regions:
        x1, y1, x2, y2 = (round(v) for v in region.box)
        diff = np.abs(decoded.rgb[y1:y2, x1:x2].astype(np.int16) - upright[y1:y2, x1:x2]).mean()
        assert diff < 6, (region.name, diff)


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    cfg = config.load(REPO / "config.toml", check_folders=False)
    return Analyzer.from_config(cfg, workers=1)


@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_each_named_region_matches_a_face_the_detector_finds(
    rotated: dict[tuple[str, int], Path], analyzer: Analyzer, orientation: int
) -> None:
    """The integration's rule (IoU >= 0.5 after orientation) holds on the real detector's faces."""
    path = rotated[("sidecar", orientation)]
    faces = analyzer.analyze_file(path).faces
    for region in read_metadata(path).regions:
        best = max((iou(region.box, face.box) for face in faces), default=0.0)
        assert best >= 0.5, (region.name, region.box, [face.box for face in faces])


def _display_and_stored(path: Path) -> tuple[tuple[int, int], tuple[int, int], int]:
    """(displayed size as imaging decodes it, stored size, orientation for regions) of a test file."""
    decoded = imaging.load(path, max_pixels=10**9, max_file_bytes=10**9)
    displayed = (decoded.meta.width, decoded.meta.height)
    with Image.open(path) as im:
        orientation = im.info.get("original_orientation") or im.getexif().get(0x0112) or 1
    stored = displayed[::-1] if orientation in (5, 6, 7, 8) else displayed
    return displayed, stored, orientation


@pytest.mark.parametrize(
    ("source", "name"),
    [
        (SKIMAGE / "astronaut.png", "astronaut.png"),  # iTXt, which exiftool writes after the image data
        (PILLOW_IMAGES / "hopper_orientation_6.webp", "hopper.webp"),  # WebP with EXIF orientation 6
        (HEIF_IMAGES / "heif_other" / "arrow.heic", "arrow.heic"),  # a phone HEIC turned by 90 degrees
        (PHOTO, "photo.tif"),  # TIFF tag 700
    ],
)
def test_embedded_xmp_in_every_container(tmp_path: Path, source: Path, name: str) -> None:
    path = tmp_path / name
    if name.endswith(".tif"):
        Image.open(source).save(path, "TIFF")
    else:
        shutil.copy(source, path)
    displayed, stored, orientation = _display_and_stored(path)
    want = (0.2 * displayed[0], 0.3 * displayed[1], 0.45 * displayed[0], 0.6 * displayed[1])
    box = _stored_of(displayed, want, orientation)
    exiftool("-q", "-overwrite_original", region_arg(*stored, [("Ana Müller", box)], normalise=stored), path)
    meta = read_metadata(path)
    assert meta.ignored == ()
    assert (meta.width, meta.height) == displayed
    assert [region.name for region in meta.regions] == ["Ana Müller"]
    assert iou(meta.regions[0].box, want) >= 0.95, (meta.regions[0].box, want)


def _stored_of(displayed: tuple[int, int], box: Box, orientation: int) -> Box:
    if orientation in (1, 3, 6, 8):
        return stored_box(displayed, box, orientation)
    raise AssertionError(f"test file with orientation {orientation}")


def test_jpeg_extended_xmp_is_joined(tmp_path: Path) -> None:
    """exiftool moves what does not fit in 64 KB into ExtendedXMP segments; regions there are read too."""
    path = tmp_path / "big.jpg"
    shutil.copy(PHOTO, path)
    size = Image.open(PHOTO).size
    regions = [(f"Person {i:04d}", (2.0 * (i % 200), 1.5 * (i // 200), 2.0 * (i % 200) + 2, 1.5 * (i // 200) + 1.5))
               for i in range(300)]
    regions[0] = ("Ana Müller", truth()[0])
    exiftool("-q", "-overwrite_original", region_arg(*size, regions, normalise=size), path)
    with Image.open(path) as im:
        standard = im.info["xmp"]
    assert "Ana Müller".encode() not in standard and b"HasExtendedXMP" in standard  # the regions went there
    meta = read_metadata(path)
    assert meta.regions[0].name == "Ana Müller"
    assert iou(meta.regions[0].box, truth()[0]) >= 0.95
    assert any("too_many" in entry.reason for entry in meta.ignored)  # 300 regions, capped at 100
    assert len(meta.regions) == 100


def test_exiv2_compact_form_is_read(tmp_path: Path) -> None:
    """exiv2 (Adobe's XMP toolkit inside) writes structs as attributes on rdf:Description inside rdf:li."""
    import subprocess

    from xmp_tools import tool

    path = tmp_path / "exiv2.jpg"
    shutil.copy(PHOTO, path)
    face = truth()[1]
    w, h = Image.open(PHOTO).size
    base = "Xmp.mwg-rs.Regions/mwg-rs:RegionList[1]"
    sets = [
        "set Xmp.mwg-rs.Regions XmpText type=Struct",
        "set Xmp.mwg-rs.Regions/mwg-rs:RegionList XmpText type=Bag",
        f"set {base} XmpText type=Struct",
        f"set {base}/mwg-rs:Name Björn Ek",
        f"set {base}/mwg-rs:Type Face",
        f"set {base}/mwg-rs:Area XmpText type=Struct",
        f"set {base}/mwg-rs:Area/stArea:x {(face[0] + face[2]) / 2 / w:.6f}",
        f"set {base}/mwg-rs:Area/stArea:y {(face[1] + face[3]) / 2 / h:.6f}",
        f"set {base}/mwg-rs:Area/stArea:w {(face[2] - face[0]) / w:.6f}",
        f"set {base}/mwg-rs:Area/stArea:h {(face[3] - face[1]) / h:.6f}",
        "set Xmp.iptcExt.PersonInImage XmpBag Ana Müller",
    ]
    subprocess.run([tool("exiv2"), *[f"-M{s}" for s in sets], str(path)], check=True, timeout=60)
    meta = read_metadata(path)
    assert [region.name for region in meta.regions] == ["Björn Ek"]
    assert iou(meta.regions[0].box, face) >= 0.95
    assert meta.names == ("Ana Müller",)


def test_names_without_regions_and_keywords(tmp_path: Path) -> None:
    path = tmp_path / "names.jpg"
    shutil.copy(PHOTO, path)
    exiftool("-q", "-overwrite_original", "-PersonInImage=Ana Müller",
             "-TagsList=People/Björn Ek", "-TagsList+=People/Unknown", "-TagsList+=Places/Paris",
             "-HierarchicalSubject=People|Family|王芳", "-HierarchicalSubject+=Events|Birthday",
             "-Subject=beach", "-Subject+=Ana Müller", path)
    meta = read_metadata(path)
    assert meta.regions == ()
    assert meta.names == ("Ana Müller", "Björn Ek", "王芳")
    assert meta.keywords == ("beach",)  # person names are not keywords


def test_sidecar_wins_over_embedded_and_conflicts_are_reported(tmp_path: Path) -> None:
    path = tmp_path / "both.jpg"
    shutil.copy(PHOTO, path)
    size = Image.open(PHOTO).size
    faces = truth()
    exiftool("-q", "-overwrite_original",
             region_arg(*size, [("Old Name", faces[0]), ("Björn Ek", faces[1])], normalise=size), path)
    exiftool("-q", region_arg(*size, [("Ana Müller", faces[0]), ("Björn Ek", faces[1])], normalise=size),
             tmp_path / "BOTH.JPG.XMP")  # found whatever its case
    meta = read_metadata(path, listing=[p.name for p in tmp_path.iterdir()])
    assert sorted((r.name, r.sidecar) for r in meta.regions) == [("Ana Müller", True), ("Björn Ek", True)]
    assert [e.reason.split(":")[0] for e in meta.ignored] == ["conflict"]
    assert "Old Name" in meta.ignored[0].reason


def test_sidecar_case_variants_without_a_listing(tmp_path: Path) -> None:
    path = tmp_path / "IMG_1.JPG"
    shutil.copy(PHOTO, path)
    size = Image.open(PHOTO).size
    exiftool("-q", region_arg(*size, [("Ana Müller", truth()[0])], normalise=size), tmp_path / "IMG_1.jpg.xmp")
    meta = read_metadata(path)
    assert [r.name for r in meta.regions] == ["Ana Müller"]
    assert [s.path.name for s in meta.sidecars] == ["IMG_1.jpg.xmp"]


def test_regions_written_in_the_displayed_frame_are_recognised(tmp_path: Path) -> None:
    """Some writers ignore MWG and store displayed-frame regions; their AppliedToDimensions then has the
    displayed aspect ratio, which for a photo turned by 90 degrees gives them away."""
    path = tmp_path / "turned.jpg"
    make_rotated(PHOTO, 6, path)
    displayed = Image.open(PHOTO).size
    exiftool("-q", "-overwrite_original", "-Orientation#=6", path)
    exiftool("-q", region_arg(*displayed, [("Ana Müller", truth()[2])], normalise=displayed),
             tmp_path / "turned.jpg.xmp")
    meta = read_metadata(path)
    assert iou(meta.regions[0].box, truth()[2]) >= 0.95


def test_latin1_xmp_in_a_heic_is_read(tmp_path: Path) -> None:
    """pillow-heif's test file carries XMP in Latin-1, not UTF-8: transcoded, not lost."""
    meta = read_metadata(HEIF_IMAGES / "heif_other" / "L_xmp_latin1.heic", sidecars=False)
    assert not [entry for entry in meta.ignored if "malformed" in entry.reason]


def test_displayed_box_helper_inverts_stored_box() -> None:
    size = Image.open(PHOTO).size
    for orientation in ORIENTATIONS:
        stored = stored_box(size, truth()[0], orientation)
        stored_size = size[::-1] if orientation in (6, 8) else size
        assert displayed_box(stored_size, stored, orientation) == truth()[0]
