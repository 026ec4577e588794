"""Generators of bad inputs and hostile file names for the hardening suite (tests/hardening/), usable by hand.

Everything here writes real files on a real disk: tiny distinct JPEGs for volume, files that only pretend to
be photos (text, an ELF executable, 0 bytes, a 1 GB sparse file, a PNG whose header claims 100000x100000),
copies of Pillow's and pillow-heif's test images, file names no sane user picks, a 100-level deep tree and
symlink traps. Nothing here knows pictod's internals; the tests decide what the daemon must do with them.

    python tools/make_hostile_files.py tiny DEST -n 1000        # 1000 distinct 64x64 JPEGs
    python tools/make_hostile_files.py bad DEST                  # the fake/bad photos
    python tools/make_hostile_files.py names DEST                # one tiny JPEG per hostile name
    python tools/make_hostile_files.py tree DEST --depth 100     # a deep tree with a photo at the bottom
    python tools/make_hostile_files.py links DEST OUTSIDE        # symlinks to files, dirs, loops, outside
    python tools/make_hostile_files.py corpus DEST SRC...        # copy every file of SRC folders, flattened
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# The extensions pictod treats as photos by default (daemon/config.py DEFAULT_EXTENSIONS); duplicated here so
# the tool runs without the package installed.
PHOTO_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".bmp", ".heic", ".heif", ".hif", ".avif",
)

SQL_INJECTION_NAME = b"x'); DROP TABLE photos;--.jpg"
NEWLINE_NAME = b"new\nline.jpg"
NON_UTF8_NAME = b"latin1-caf\xe9-\xff\xfe.jpg"
SPARSE_SIZE = 1 << 30
BOMB_SIDE = 100_000


def _bytes(path: Path | bytes | str) -> bytes:
    return path if isinstance(path, bytes) else os.fsencode(path)


# --- tiny distinct photos ----------------------------------------------------------------------------------


def tiny_jpeg_bytes(seed: int, size: int = 64, text: str | None = None) -> bytes:
    """A small JPEG whose bytes are unique per seed: seeded noise under a label, so content hashes differ."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    # Smooth the noise so the JPEG stays small, then stamp the seed so a person can tell files apart.
    image = cv2.GaussianBlur(image, (0, 0), 3)
    label = text if text is not None else str(seed)
    cv2.putText(image, label[:8], (2, size // 2), cv2.FONT_HERSHEY_SIMPLEX, size / 160, (255, 255, 255), 1)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("cv2.imencode failed")
    # Belt and braces: two seeds could in theory encode alike after blurring; a COM segment makes it certain.
    data = buf.tobytes()
    comment = f"pictod-test seed={seed}".encode()
    return data[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + data[2:]


def write_tiny_jpeg(path: Path | bytes | str, seed: int, size: int = 64) -> bytes:
    """Write one tiny distinct JPEG at path (str, Path or raw bytes path); returns the path as bytes."""
    raw = _bytes(path)
    with open(raw, "wb") as f:
        f.write(tiny_jpeg_bytes(seed, size))
    return raw


def write_tiny_jpegs(folder: Path, count: int, *, start: int = 0, prefix: str = "tiny", size: int = 64) -> list[Path]:
    """Write `count` distinct tiny JPEGs named prefix_000000.jpg ... into folder (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        path = folder / f"{prefix}_{i:06d}.jpg"
        write_tiny_jpeg(path, i, size)
        paths.append(path)
    return paths


# --- files that pretend to be photos ----------------------------------------------------------------------


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk with its length and a valid CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_bomb_bytes(width: int = BOMB_SIDE, height: int = BOMB_SIDE) -> bytes:
    """A tiny PNG whose IHDR (valid CRC) claims width x height RGB pixels; the IDAT holds one short row."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" + b"\x00" * 300, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def write_big_png(path: Path, width: int, height: int, color: tuple[int, int, int] = (120, 60, 30)) -> Path:
    """A real, fully decodable RGB PNG of width x height in one colour, streamed (small file, huge pixels)."""
    row = b"\x00" + bytes(color) * width
    packer = zlib.compressobj(1)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        pending = b""
        for _ in range(height):
            pending += packer.compress(row)
            if len(pending) > 1 << 20:
                f.write(png_chunk(b"IDAT", pending))
                pending = b""
        pending += packer.flush()
        f.write(png_chunk(b"IDAT", pending) + png_chunk(b"IEND", b""))
    return path


@dataclass(frozen=True)
class BadFile:
    """A written bad input and what it is."""

    path: Path
    kind: str


def write_bad_files(folder: Path, *, sparse_size: int = SPARSE_SIZE, elf: Path = Path("/bin/true")) -> list[BadFile]:
    """Write the files that only pretend to be photos into folder; returns them with a kind each."""
    folder.mkdir(parents=True, exist_ok=True)
    out: list[BadFile] = []

    def add(name: str, kind: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        out.append(BadFile(path, kind))

    add("zero_bytes.jpg", "empty", b"")
    add("text_as.jpg", "text", b"this is not a photo\n" * 50)
    add("html_as.png", "text", b"<!doctype html><html><body>nope</body></html>\n")
    add("csv_as.heic", "text", b"a,b,c\n1,2,3\n")
    add("jpeg_magic_only.jpg", "truncated", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00")
    add("jpeg_truncated_half.jpg", "truncated", tiny_jpeg_bytes(424242, 128)[:300])
    add("png_header_bomb.png", "bomb", png_header_bomb_bytes())
    add("png_bomb_as.jpg", "bomb", png_header_bomb_bytes())
    add("random_bytes.jpg", "random", np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    if elf.is_file():
        path = folder / "elf_as.jpg"
        shutil.copyfile(elf, path)
        path.chmod(0o644)
        out.append(BadFile(path, "executable"))
    sparse = folder / "sparse_1g.jpg"
    with open(sparse, "wb") as f:
        # A real JPEG start followed by a hole: looks like a photo to magic sniffing, costs no disk.
        f.write(tiny_jpeg_bytes(99, 32)[:200])
        f.truncate(sparse_size)
    out.append(BadFile(sparse, "sparse"))
    return out


# --- hostile names -----------------------------------------------------------------------------------------


def hostile_names() -> list[bytes]:
    """File names (bytes, all ending .jpg, none hidden or temporary) that break naive code."""
    names = [
        b"with space.jpg",
        b"  leading and trailing spaces  .jpg",
        b"single'quote.jpg",
        b'double"quote.jpg',
        b"back\\slash.jpg",
        NEWLINE_NAME,
        b"tab\tcarriage\rreturn.jpg",
        b"escape\x1b[31mred\x1b[0m.jpg",
        b"bell\x07and\x7fdel.jpg",
        NON_UTF8_NAME,
        "emoji 📷🎉👨‍👩‍👧.jpg".encode(),
        "日本語の写真.jpg".encode(),
        unicodedata.normalize("NFD", "café-nfd.jpg").encode(),
        unicodedata.normalize("NFC", "café-nfc.jpg").encode(),
        "rtl-\u202egpj.exe.jpg".encode(),
        b"-rf.jpg",
        b"--help.jpg",
        b"%s%n%x.jpg",
        b"$(touch pwned).jpg",
        b"`id`.jpg",
        b"semi;colon|pipe&amp.jpg",
        b"*glob?[x].jpg",
        b"UPPER.JPG",
        b"percent%2Fslash.jpg",
        SQL_INJECTION_NAME,
        b"a" * 251 + b".jpg",  # 255 bytes: NAME_MAX on ext4/tmpfs
        ("é" * 125).encode() + b".jpg",  # 254 bytes of two-byte characters
        ("📷" * 62).encode() + b"a.jpg",  # 253 bytes of four-byte characters
    ]
    for name in names:
        if len(name) > 255 or b"/" in name or b"\0" in name:
            raise AssertionError(f"not a valid file name: {name!r}")
    return names


def write_hostile_names(folder: Path, *, seed: int = 10_000) -> list[bytes]:
    """One distinct tiny JPEG per hostile name in folder; returns the full paths as bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_tiny_jpeg(os.path.join(_bytes(folder), name), seed + i) for i, name in enumerate(hostile_names())]


def write_deep_tree(root: Path, depth: int = 100, *, component: str = "level", seed: int = 20_000) -> Path:
    """A chain of `depth` nested folders under root with a tiny JPEG at the bottom; returns that photo."""
    parts = [f"{component}{i:03d}" for i in range(depth)]
    leaf_dir = root.joinpath(*parts)
    leaf_dir.mkdir(parents=True, exist_ok=True)
    photo = leaf_dir / "deep.jpg"
    write_tiny_jpeg(photo, seed)
    return photo


@dataclass(frozen=True)
class LinkSet:
    """Symlink traps written under a root, with the real targets they point at."""

    inside_file: Path        # a real photo inside the root
    link_to_file: Path       # -> inside_file
    inside_dir: Path         # a real folder inside the root holding one photo
    link_to_dir: Path        # -> inside_dir
    self_loop: Path          # -> itself
    loop_a: Path             # -> loop_b
    loop_b: Path             # -> loop_a
    dir_loop: Path           # a folder symlink pointing at its own parent
    dangling: Path           # -> a path that does not exist
    outside_file: Path       # a real photo outside the root
    link_outside_file: Path  # -> outside_file
    outside_dir: Path        # a real folder outside the root with photos
    link_outside_dir: Path   # -> outside_dir
    outside_photos: tuple[Path, ...]


def write_symlinks(root: Path, outside: Path, *, seed: int = 30_000, ancestor_loop: bool = True) -> LinkSet:
    """Write real photos and symlink traps under root, and the photos they leak to under outside.

    `ancestor_loop` adds root/dir_loop -> "." (a folder link to its own parent: endless paths when followed).
    """
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    inside_file = root / "real_inside.jpg"
    write_tiny_jpeg(inside_file, seed)
    inside_dir = root / "real_dir"
    inside_dir.mkdir(exist_ok=True)
    write_tiny_jpeg(inside_dir / "in_real_dir.jpg", seed + 1)
    outside_file = outside / "secret_outside.jpg"
    write_tiny_jpeg(outside_file, seed + 2)
    outside_dir = outside / "secret_dir"
    outside_dir.mkdir(exist_ok=True)
    outside_photos = [outside_file]
    for i in range(3):
        p = outside_dir / f"secret_{i}.jpg"
        write_tiny_jpeg(p, seed + 3 + i)
        outside_photos.append(p)

    def link(name: str, target: Path | str) -> Path:
        path = root / name
        os.symlink(target, path)
        return path

    self_loop = link("self_loop.jpg", root / "self_loop.jpg")
    loop_a = link("loop_a.jpg", root / "loop_b.jpg")
    loop_b = link("loop_b.jpg", root / "loop_a.jpg")
    return LinkSet(
        inside_file=inside_file,
        link_to_file=link("link_to_inside.jpg", inside_file),
        inside_dir=inside_dir,
        link_to_dir=link("link_to_real_dir", inside_dir),
        self_loop=self_loop,
        loop_a=loop_a,
        loop_b=loop_b,
        dir_loop=link("dir_loop", ".") if ancestor_loop else root / "dir_loop",
        dangling=link("dangling.jpg", root / "does_not_exist.jpg"),
        outside_file=outside_file,
        link_outside_file=link("link_outside.jpg", outside_file),
        outside_dir=outside_dir,
        link_outside_dir=link("link_outside_dir", outside_dir),
        outside_photos=tuple(outside_photos),
    )


# --- copies of real test corpora ---------------------------------------------------------------------------


def iter_corpus(sources: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Every regular file under each source folder with a flat, unique, non-hidden name for it."""
    for source in sources:
        for path in sorted(source.rglob("*")):
            if not path.is_file() or path.is_symlink():
                continue
            rel = path.relative_to(source).as_posix().replace("/", "__")
            flat = f"{source.parent.parent.name}__{rel}".lstrip(".~")
            # A trailing ~ or a .part suffix would make the daemon ignore the file as temporary.
            yield path, flat.rstrip("~")


def copy_corpus(dest: Path, sources: Iterable[Path], *, only_photos: bool = False,
                select: Iterable[str] | None = None) -> list[Path]:
    """Copy every file of the source folders into dest (flat names); optionally only photo extensions or names."""
    dest.mkdir(parents=True, exist_ok=True)
    wanted = set(select) if select is not None else None
    out = []
    for src, flat in iter_corpus(sources):
        if only_photos and os.path.splitext(flat)[1].lower() not in PHOTO_EXTENSIONS:
            continue
        if wanted is not None and src.name not in wanted and flat not in wanted:
            continue
        target = dest / flat
        shutil.copyfile(src, target)
        out.append(target)
    return out


def is_photo_name(name: bytes | str, extensions: Iterable[str] = PHOTO_EXTENSIONS) -> bool:
    """True if the daemon should consider this name (extension listed, not hidden, not a temporary name)."""
    text = os.fsdecode(name) if isinstance(name, bytes) else name
    base = os.path.basename(text)
    if base.startswith(".") or base.endswith("~") or base.endswith((".part", ".crdownload", ".tmp")):
        return False
    return os.path.splitext(base)[1].lower() in tuple(extensions)


# --- command line ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Write hostile files by hand: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("tiny", help="distinct tiny JPEGs")
    p.add_argument("dest", type=Path)
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--size", type=int, default=64)
    p = sub.add_parser("bad", help="files that pretend to be photos")
    p.add_argument("dest", type=Path)
    p = sub.add_parser("names", help="one tiny JPEG per hostile name")
    p.add_argument("dest", type=Path)
    p = sub.add_parser("tree", help="a deep tree with one photo at the bottom")
    p.add_argument("dest", type=Path)
    p.add_argument("--depth", type=int, default=100)
    p = sub.add_parser("links", help="symlink traps under DEST leaking to OUTSIDE")
    p.add_argument("dest", type=Path)
    p.add_argument("outside", type=Path)
    p = sub.add_parser("corpus", help="copy every file of SRC folders into DEST, flattened")
    p.add_argument("dest", type=Path)
    p.add_argument("sources", type=Path, nargs="+")
    p.add_argument("--only-photos", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "tiny":
        written = len(write_tiny_jpegs(args.dest, args.n, start=args.start, size=args.size))
    elif args.what == "bad":
        written = len(write_bad_files(args.dest))
    elif args.what == "names":
        written = len(write_hostile_names(args.dest))
    elif args.what == "tree":
        print(write_deep_tree(args.dest, args.depth))
        written = 1
    elif args.what == "links":
        write_symlinks(args.dest, args.outside)
        written = 13
    else:
        written = len(copy_corpus(args.dest, args.sources, only_photos=args.only_photos))
    print(f"wrote {written} files under {args.dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
