"""A small real library for the command-line tests: photos derived from the test sets (EXIF dates, cameras and
GPS written with Pillow, one composite with two people), scanned by `pictod scan`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from pictod_testdata import FACE_RECOGNITION, SKIMAGE
from PIL import Image

REPO = Path(__file__).resolve().parents[1]

# name -> (source(s), EXIF (taken_at, make, model, (lat, lon)) or None, file mtime)
CHICAGO = (41.8781, -87.6298)
CAPE = (28.5729, -80.6490)


def pictod(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m daemon.cli.main ARGS` as a subprocess, output captured."""
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd or REPO, timeout=timeout, env=env)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    return float(degrees), float(minutes), round((value - degrees - minutes / 60) * 3600, 4)


def save_jpeg(image: Image.Image, path: Path, *, taken: str | None = None, make: str | None = None,
              model: str | None = None, gps: tuple[float, float] | None = None) -> Path:
    """Save as JPEG with the given EXIF capture time ('YYYY:MM:DD HH:MM:SS'), camera and position."""
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if taken:
        exif.get_ifd(0x8769)[0x9003] = taken
    if gps:
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("N" if gps[0] >= 0 else "S"), _dms(gps[0])
        ifd[3], ifd[4] = ("E" if gps[1] >= 0 else "W"), _dms(gps[1])
    image.convert("RGB").save(path, "JPEG", quality=93, exif=exif)
    return path


def set_mtime(path: Path, when: str) -> None:
    """Give a file a modification time (local time, ISO 8601)."""
    stamp = datetime.fromisoformat(when).timestamp()
    os.utime(path, (stamp, stamp))


def build_photos(folder: Path) -> None:
    """The library's photos: 7 that analyse, one that fails."""
    folder.mkdir(parents=True, exist_ok=True)
    with Image.open(SKIMAGE / "astronaut.png") as im:
        save_jpeg(im, folder / "astronaut.jpg", taken="2019:07:20 10:00:00", make="Canon", model="Canon EOS 5D",
                  gps=CAPE)
    with Image.open(FACE_RECOGNITION / "obama.jpg") as im:
        save_jpeg(im, folder / "obama.jpg", taken="2012:11:06 21:00:00", make="Apple", model="iPhone 5",
                  gps=CHICAGO)
    with Image.open(FACE_RECOGNITION / "obama2.jpg") as im:
        save_jpeg(im, folder / "obama2.jpg", taken="2013:01:21 12:00:00", make="NIKON CORPORATION",
                  model="NIKON D4")
    with Image.open(FACE_RECOGNITION / "obama3.jpg") as a, Image.open(FACE_RECOGNITION / "biden.jpg") as b:
        a, b = a.convert("RGB"), b.convert("RGB")
        h = min(a.height, b.height)
        a, b = a.resize((a.width * h // a.height, h)), b.resize((b.width * h // b.height, h))
        both = Image.new("RGB", (a.width + b.width, h))
        both.paste(a, (0, 0))
        both.paste(b, (a.width, 0))
        # ~3 km north-west of CHICAGO
        save_jpeg(both, folder / "together.jpg", taken="2014:05:01 09:30:00", make="Apple", model="iPhone 6",
                  gps=(41.9000, -87.6600))
    shutil.copy(FACE_RECOGNITION / "biden.jpg", folder / "biden.jpg")
    set_mtime(folder / "biden.jpg", "2015-03-01T12:00:00")
    shutil.copy(SKIMAGE / "chelsea.png", folder / "chelsea.png")
    set_mtime(folder / "chelsea.png", "2010-06-01T08:00:00")
    shutil.copy(SKIMAGE / "coffee.png", folder / "coffee.png")
    set_mtime(folder / "coffee.png", "2011-01-01T08:00:00")
    (folder / "notes.jpg").write_text("not a photo at all")


def write_config(root: Path, *, extra: str = "") -> Path:
    """A config for a library in `root` (photos/ and lib.db), JSON logs."""
    config = root / "config.toml"
    config.write_text(f'[library]\nfolders = ["{root / "photos"}"]\ndatabase = "{root / "lib.db"}"\n'
                      f'[log]\nformat = "json"\n{extra}')
    return config
