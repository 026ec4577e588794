"""Helpers for the metadata tests: the real exiftool and exiv2, rotated copies of real photos, and the one test
photo with its hand-drawn faces (`PHOTO`, `NAMES`, `truth`, `tagged_rotated`).

Rotated photos are made the way a camera makes them: the displayed picture is turned back to what the sensor
stored and the EXIF Orientation says how to show it. Where a box lands in the stored picture is worked out by
turning a mask with Pillow, independently of daemon.metadata.geometry.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from pictod_testdata import DLIB_FACES, dlib_voc_faces
from PIL import Image

Box = tuple[float, float, float, float]

PHOTO = DLIB_FACES / "2008_001322.jpg"  # a VOC photo, 500x375, three faces boxed by hand in dlib's annotations
NAMES = ("Ana Müller", "Björn Ek", "王芳")  # given to truth()'s faces, left to right
KINDS = ("embedded", "sidecar", "lightroom", "mp")  # where `tagged_rotated` puts the regions

# Displayed = stored turned by EXIF orientation o, so stored = displayed turned back.
TO_STORED = {
    1: None,
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,  # shown turned 90 degrees clockwise: stored turned counter-clockwise
    8: Image.Transpose.ROTATE_270,
}


def tool(name: str) -> str:
    """Path of a third-party tool; fails (never skips) when it is missing: tools/ci_prereqs.sh installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `bash tools/ci_prereqs.sh` (it installs exiftool and exiv2)")
    return path


def exiftool(*args: str | Path) -> str:
    """Run exiftool; its stdout. A failing run fails the test with exiftool's message."""
    result = subprocess.run([tool("exiftool"), *map(str, args)], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        pytest.fail(f"exiftool {' '.join(map(str, args))[:300]} failed: {result.stderr.strip()[:500]}")
    return result.stdout


def exiftool_batch(commands: Sequence[Sequence[str | Path]], tmp: Path) -> None:
    """Several exiftool commands in one process (-@ argfile with -execute): perl starts once."""
    lines: list[str] = []
    for command in commands:
        lines.extend(str(arg) for arg in command)
        lines.append("-execute")
    argfile = tmp / "exiftool.args"
    argfile.write_text("\n".join(lines) + "\n", encoding="utf-8")
    exiftool("-@", argfile)


def exiftool_json(path: Path, *tags: str) -> dict[str, Any]:
    """exiftool -struct -j [tags] FILE, as a dict."""
    return json.loads(exiftool("-struct", "-j", *tags, path))[0]


def exiv2_px(path: Path) -> dict[str, str]:
    """`exiv2 -px FILE` as {key: value} (the value column, as exiv2 prints it)."""
    result = subprocess.run([tool("exiv2"), "-px", str(path)], capture_output=True, text=True, timeout=120)
    if result.returncode not in (0, 253):  # 253: exiv2 0.27 for "no Exif data", not an error here
        pytest.fail(f"exiv2 -px {path.name} failed ({result.returncode}): {result.stderr.strip()[:500]}")
    values: dict[str, str] = {}
    for line in result.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 3 and parts[0].startswith("Xmp."):
            values[parts[0]] = parts[3] if len(parts) == 4 else ""
    return values


def region_arg(width: int, height: int, regions: Sequence[tuple[str, Box]], *, normalise: tuple[int, int]) -> str:
    """-RegionInfo=... for exiftool: regions as (name, stored pixel box), normalised by `normalise` (w, h)."""
    nw, nh = normalise
    items = []
    for name, (x1, y1, x2, y2) in regions:
        area = (f"X={(x1 + x2) / 2 / nw:.6f},Y={(y1 + y2) / 2 / nh:.6f},"
                f"W={(x2 - x1) / nw:.6f},H={(y2 - y1) / nh:.6f},Unit=normalized")
        items.append(f"{{Area={{{area}}},Name={name},Type=Face}}")
    return (f"-RegionInfo={{AppliedToDimensions={{W={width},H={height},Unit=pixel}},"
            f"RegionList=[{','.join(items)}]}}")


def mp_region_arg(regions: Sequence[tuple[str, Box]], *, normalise: tuple[int, int]) -> str:
    """-RegionInfoMP=... (Microsoft: left, top, width, height, normalised; commas escaped for exiftool)."""
    nw, nh = normalise
    items = []
    for name, (x1, y1, x2, y2) in regions:
        rect = f"{x1 / nw:.6f}|, {y1 / nh:.6f}|, {(x2 - x1) / nw:.6f}|, {(y2 - y1) / nh:.6f}"
        items.append(f"{{PersonDisplayName={name},Rectangle={rect}}}")
    return f"-RegionInfoMP={{Regions=[{','.join(items)}]}}"


def stored_box(displayed_size: tuple[int, int], box: Box, orientation: int) -> Box:
    """Where a box of the displayed picture lies in the stored one: a mask turned by Pillow."""
    mask = Image.new("L", displayed_size, 0)
    mask.paste(255, tuple(round(v) for v in box))  # type: ignore[arg-type]
    op = TO_STORED[orientation]
    if op is not None:
        mask = mask.transpose(op)
    bbox = mask.getbbox()
    assert bbox is not None
    return tuple(float(v) for v in bbox)  # type: ignore[return-value]


def displayed_box(stored_size: tuple[int, int], box: Box, orientation: int) -> Box:
    """The inverse of stored_box: where a box of the stored picture is shown."""
    mask = Image.new("L", stored_size, 0)
    mask.paste(255, tuple(round(v) for v in box))  # type: ignore[arg-type]
    op = TO_STORED[orientation]
    if op is not None:
        back = {Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
                Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90}.get(op, op)
        mask = mask.transpose(back)
    bbox = mask.getbbox()
    assert bbox is not None
    return tuple(float(v) for v in bbox)  # type: ignore[return-value]


def make_rotated(source: Path, orientation: int, dest: Path) -> tuple[int, int]:
    """A JPEG whose stored pixels are `source` turned back, with EXIF Orientation set (by exiftool later);
    returns the stored size. quality 95 so the decoded display matches the source closely."""
    with Image.open(source) as im:
        rgb = im.convert("RGB")
    op = TO_STORED[orientation]
    stored = rgb.transpose(op) if op is not None else rgb
    stored.save(dest, "JPEG", quality=95)
    return stored.size


def truth() -> list[Box]:
    """dlib's face boxes of PHOTO, left to right (x1, y1, x2, y2 in its displayed pixels)."""
    for path, boxes in dlib_voc_faces():
        if path.name == PHOTO.name:
            return sorted(boxes)
    raise AssertionError(f"{PHOTO.name} not in dlib's annotations")


def tagged_rotated(folder: Path, kind: str, orientation: int) -> tuple[Path, list[list[str | Path]]]:
    """PHOTO stored turned back for `orientation` as folder/KIND_ORIENTATION.jpg, and the exiftool commands (for
    `exiftool_batch`) that set its Orientation and tag NAMES on truth()'s faces: MWG embedded ('embedded'), MWG
    in a `photo.jpg.xmp` sidecar ('sidecar'), MWG in a Lightroom-style `photo.xmp` ('lightroom'), MP embedded
    ('mp')."""
    path = folder / f"{kind}_{orientation}.jpg"
    displayed = Image.open(PHOTO).size
    size = make_rotated(PHOTO, orientation, path)
    regions = [(name, stored_box(displayed, box, orientation)) for name, box in zip(NAMES, truth(), strict=True)]
    arg = mp_region_arg(regions, normalise=size) if kind == "mp" else region_arg(*size, regions, normalise=size)
    target = {"sidecar": folder / f"{path.name}.xmp", "lightroom": folder / f"{path.stem}.xmp"}.get(kind, path)
    return path, [["-q", "-overwrite_original", f"-Orientation#={orientation}", path],
                  ["-q", "-overwrite_original", arg, target]]


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
