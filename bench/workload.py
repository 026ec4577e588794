"""Deterministic benchmark photo sets built from the real test photos (never committed, cached outside the repo).

Owns: the phone-sized workload (`build(n)`: 4032x3024 / 3000x4000 JPEGs at quality ~90 plus a few HEICs, each
made unique by a crop / flip / scale / exposure / sensor-grain variant seeded by its index; about a third come
from photos with faces) and the 50,000 tiny files of the restart-cost figure (`small_files(n)`).

Everything is a pure function of the index: `plan(n)` gives the same specs on every machine, `render(spec)`
the same bytes (libjpeg-turbo and x265 are deterministic), and `build` reuses a cached set whose manifest and
file hashes still match. Run it directly to build a set: `python bench/workload.py --quick|--full`.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

# The test-data cache and its named folders are defined once, in tests/pictod_testdata.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from pictod_testdata import (
    DLIB_FACES,
    FACE_RECOGNITION,
    HEIF_IMAGES,
    LABELME,
    SKIMAGE,
    cache_root,
)

# Bump when render() changes: a cached set built by another version is rebuilt.
VERSION = 3
SEED = 20_261_125
SIZES = {"quick": 200, "full": 2000}
LANDSCAPE = (4032, 3024)  # width, height: a 12 MP phone photo
PORTRAIT = (3000, 4000)
HEIC_EVERY = 25  # one photo in 25 is a HEIC (phones default to HEIC; x265 at 12 MP costs ~1-2 s to encode)
GRAIN_SIGMA = 3.0  # sensor-like noise: upscaled test photos are too smooth and would decode unrealistically fast
_NOISE_PAD = 96




@dataclass(frozen=True)
class Source:
    """One real test photo the variants are cut from; `faces` says whether people's faces are in it."""

    name: str
    path: Path
    faces: bool


def sources() -> tuple[list[Source], list[Source]]:
    """(photos with faces, photos without), in a fixed order."""
    with_faces = [
        Source("astronaut", SKIMAGE / "astronaut.png", True),
        Source("obama", FACE_RECOGNITION / "obama.jpg", True),
        Source("obama2", FACE_RECOGNITION / "obama2.jpg", True),
        Source("obama3", FACE_RECOGNITION / "obama3.jpg", True),
        Source("biden", FACE_RECOGNITION / "biden.jpg", True),
        Source("bald_guys", DLIB_FACES / "bald_guys.jpg", True),
        Source("labelme_2011_000003", LABELME / "bbox_detection" / "data_annotated" / "2011_000003.jpg", True),
        Source("labelme_2011_000006", LABELME / "bbox_detection" / "data_annotated" / "2011_000006.jpg", True),
    ]
    for name in ("2007_007763", "2008_001009", "2008_001322", "2008_002079", "2008_002470", "2008_002506",
                 "2008_004176", "2008_007676", "2009_004587"):
        with_faces.append(Source(f"dlib_{name}", DLIB_FACES / f"{name}.jpg", True))
    without = [
        Source("chelsea", SKIMAGE / "chelsea.png", False),
        Source("coffee", SKIMAGE / "coffee.png", False),
        Source("motorcycle", SKIMAGE / "motorcycle_left.png", False),
        Source("rocket", SKIMAGE / "rocket.jpg", False),
        Source("horse", SKIMAGE / "horse.png", False),
        Source("hubble", SKIMAGE / "hubble_deep_field.jpg", False),
        Source("dogs", DLIB_FACES / "dogs.jpg", False),
        Source("labelme_2011_000025", LABELME / "bbox_detection" / "data_annotated" / "2011_000025.jpg", False),
        Source("labelme_cat", LABELME / "classification" / "data_annotated" / "0001.jpg", False),
        Source("labelme_dog", LABELME / "classification" / "data_annotated" / "0002.jpg", False),
        Source("pug_heic", HEIF_IMAGES / "heif_other" / "pug.heic", False),
        Source("cat_hif", HEIF_IMAGES / "heif_other" / "cat.hif", False),
    ]
    return with_faces, without


@dataclass(frozen=True)
class Spec:
    """How one benchmark photo is made: every field is drawn from an RNG seeded by the index."""

    index: int
    source: str
    faces: bool
    fmt: str  # "jpeg" | "heic"
    width: int
    height: int
    crop: tuple[float, float, float]  # fraction of the largest crop with the target aspect, x and y offsets 0..1
    flip: bool
    gain: float  # exposure multiplier
    quality: int
    grain_offset: tuple[int, int]

    @property
    def name(self) -> str:
        """File name inside the set."""
        return f"IMG_{self.index:05d}.{'heic' if self.fmt == 'heic' else 'jpg'}"


def plan(n: int) -> list[Spec]:
    """The specs of an n-photo set; the first k of plan(n) equal plan(k) (sets nest)."""
    with_faces, without = sources()
    specs = []
    for index in range(n):
        rng = np.random.default_rng([SEED, index])
        if index % 3 == 0:  # a third of the set shows people's faces
            src = with_faces[(index // 3) % len(with_faces)]
        else:
            src = without[(index - index // 3 - 1) % len(without)]
        fmt = "heic" if index % HEIC_EVERY == HEIC_EVERY // 2 else "jpeg"
        portrait = _source_is_portrait(src)
        width, height = PORTRAIT if portrait else LANDSCAPE
        specs.append(
            Spec(
                index=index,
                source=src.name,
                faces=src.faces,
                fmt=fmt,
                width=width,
                height=height,
                crop=(float(rng.uniform(0.82, 1.0)), float(rng.uniform()), float(rng.uniform())),
                flip=bool(rng.uniform() < 0.5),
                gain=float(rng.uniform(0.9, 1.1)),
                quality=int(rng.integers(88, 93)) if fmt == "jpeg" else 60,
                grain_offset=(int(rng.integers(0, _NOISE_PAD)), int(rng.integers(0, _NOISE_PAD))),
            )
        )
    return specs


_PORTRAIT_SOURCES = {"obama", "obama2", "obama3", "biden", "dlib_2008_001009", "dlib_2009_004587"}


def _source_is_portrait(src: Source) -> bool:
    # Fixed list rather than reading each source's size in plan(): plan() stays cheap and file-free.
    return src.name in _PORTRAIT_SOURCES


_cache: dict[str, NDArray[np.uint8]] = {}
_grain: NDArray[np.int16] | None = None


def _load_source(name: str) -> NDArray[np.uint8]:
    """RGB uint8 of a source photo (alpha and grey flattened), cached per process."""
    if name not in _cache:
        with_faces, without = sources()
        src = next(s for s in with_faces + without if s.name == name)
        if src.path.suffix.lower() in (".heic", ".hif"):
            import pillow_heif

            pillow_heif.register_heif_opener()
        with Image.open(src.path) as im:
            _cache[name] = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return _cache[name]


def _grain_field() -> NDArray[np.int16]:
    global _grain
    if _grain is None:
        side = max(*LANDSCAPE, *PORTRAIT) + _NOISE_PAD
        rng = np.random.default_rng([SEED, 999_999])
        _grain = np.rint(rng.normal(0.0, GRAIN_SIGMA, size=(side, side, 3))).astype(np.int16)
    return _grain


def render_pixels(spec: Spec, *, scale: float = 1.0) -> NDArray[np.uint8]:
    """The RGB pixels of a benchmark photo (`scale` < 1 makes a small version, for tests)."""
    img = _load_source(spec.source)
    h, w = img.shape[:2]
    aspect = spec.width / spec.height
    # Largest crop with the target aspect, shrunk by crop[0], placed by the offsets.
    cw, ch = (w, w / aspect) if w / h <= aspect else (h * aspect, h)
    cw, ch = cw * spec.crop[0], ch * spec.crop[0]
    x0 = (w - cw) * spec.crop[1]
    y0 = (h - ch) * spec.crop[2]
    crop = img[int(y0) : int(y0 + ch), int(x0) : int(x0 + cw)]
    if spec.flip:
        crop = crop[:, ::-1]
    out_w, out_h = max(8, round(spec.width * scale)), max(8, round(spec.height * scale))
    big = cv2.resize(np.ascontiguousarray(crop), (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    gy, gx = spec.grain_offset
    grain = _grain_field()[gy : gy + out_h, gx : gx + out_w]
    pixels = big.astype(np.float32) * np.float32(spec.gain) + grain
    return np.clip(pixels, 0, 255).astype(np.uint8)


def render(spec: Spec, *, scale: float = 1.0) -> bytes:
    """The encoded bytes of a benchmark photo."""
    pixels = render_pixels(spec, scale=scale)
    if spec.fmt == "jpeg":
        bgr = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, spec.quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {spec.name}")
        return buf.tobytes()
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    # x265's default preset takes ~10-17 s per 12 MP photo; ultrafast ~1.3 s and still a real phone-sized HEIC.
    Image.fromarray(pixels).save(out, format="HEIF", quality=spec.quality, enc_params={"preset": "ultrafast"})
    return out.getvalue()


@dataclass(frozen=True)
class Item:
    """One photo of a built set, as recorded in its manifest."""

    name: str
    source: str
    faces: bool
    fmt: str
    width: int
    height: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Workload:
    """A built set: `photos` is the folder holding only the photos (point library.folders at it)."""

    root: Path
    photos: Path
    items: list[Item]

    @property
    def total_bytes(self) -> int:
        """Sum of the file sizes."""
        return sum(i.bytes for i in self.items)


def workload_dir(n: int) -> Path:
    """Where the n-photo set is cached."""
    return cache_root() / "bench" / f"workload-{n}"


def _write_one(args: tuple[Spec, str]) -> Item:
    spec, folder = args
    data = render(spec)
    path = Path(folder) / spec.name
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return Item(spec.name, spec.source, spec.faces, spec.fmt, spec.width, spec.height, len(data),
                hashlib.sha256(data).hexdigest())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(n: int, root: Path | None = None) -> Workload | None:
    """The cached n-photo set if its manifest matches this generator and every file its recorded hash."""
    root = root or workload_dir(n)
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text())
    if data.get("version") != VERSION or data.get("n") != n:
        return None
    items = [Item(**d) for d in data["items"]]
    photos = root / "photos"
    for item in items:
        path = photos / item.name
        if not path.is_file() or path.stat().st_size != item.bytes or _sha256_file(path) != item.sha256:
            return None
    extra = {p.name for p in photos.iterdir()} - {i.name for i in items}
    if extra:
        return None
    return Workload(root, photos, items)


def build(n: int, root: Path | None = None, *, jobs: int = 2, log: bool = True) -> Workload:
    """Build (or reuse) the n-photo set in ~/.cache/pictod/bench/workload-n/photos with manifest.json."""
    root = root or workload_dir(n)
    cached = load(n, root)
    if cached is not None:
        return cached
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    for stale in photos.iterdir():
        stale.unlink()
    specs = plan(n)
    start = time.perf_counter()
    items: list[Item] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for i, item in enumerate(pool.map(_write_one, [(s, str(photos)) for s in specs], chunksize=4)):
            items.append(item)
            if log and (i + 1) % 50 == 0:
                print(f"workload-{n}: {i + 1}/{n} photos ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    hashes = [i.sha256 for i in items]
    if len(set(hashes)) != len(hashes):
        raise RuntimeError("benchmark photos are not unique: the content hashes collide")
    manifest = {"version": VERSION, "n": n, "seed": SEED, "items": [asdict(i) for i in items]}
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return Workload(root, photos, items)


def _tiny_png(index: int) -> bytes:
    # The index is spelled into the first pixels, so every file's content (and hash) differs.
    rng = np.random.default_rng([SEED, 7, index])
    pixels = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
    pixels[0, 0] = (index & 0xFF, (index >> 8) & 0xFF, (index >> 16) & 0xFF)
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def small_files(n: int = 50_000, root: Path | None = None, *, per_dir: int = 1000) -> Path:
    """n unique 8x8 PNGs in folders of `per_dir` (cached; returns the folder to scan)."""
    root = root or cache_root() / "bench" / f"small-{n}"
    photos = root / "photos"
    done = root / "complete.json"
    if done.is_file() and json.loads(done.read_text()).get("n") == n:
        return photos
    for index in range(n):
        folder = photos / f"d{index // per_dir:03d}"
        if index % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"t{index:06d}.png").write_bytes(_tiny_png(index))
    done.write_text(json.dumps({"n": n, "version": VERSION}))
    return photos


def main(argv: list[str] | None = None) -> int:
    """Build a set from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", const=SIZES["quick"], dest="n")
    size.add_argument("--full", action="store_const", const=SIZES["full"], dest="n")
    size.add_argument("-n", type=int, dest="n")
    parser.add_argument("--small", type=int, default=0, help="also build N tiny files for the restart figure")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    n = args.n or SIZES["quick"]
    start = time.perf_counter()
    wl = build(n, jobs=args.jobs)
    faces = sum(i.faces for i in wl.items)
    heic = sum(i.fmt == "heic" for i in wl.items)
    print(f"{wl.photos}: {len(wl.items)} photos ({faces} from photos with faces, {heic} HEIC), "
          f"{wl.total_bytes / 1e6:.0f} MB, {time.perf_counter() - start:.1f} s")
    if args.small:
        print(small_files(args.small))
    return 0


if __name__ == "__main__":
    sys.exit(main())
