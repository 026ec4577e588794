"""The hostile-file generators and the harness probes, checked on real files and real processes.

If these lie, every hardening test built on them proves nothing: a "bomb" that is not a valid PNG, a "sparse"
file that is really 1 GB, a socket probe that cannot see a socket, an RSS sampler that reads zero.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import pytest
from hardening_harness import hostile
from harness import Daemon, ExpectTimeout, LibraryDB, RssSampler, expect, process_sockets, write_config
from pictod_testdata import HEIF_IMAGES, PILLOW_IMAGES
from PIL import Image


def test_tiny_jpegs_decode_and_are_distinct(tmp_path: Path) -> None:
    paths = hostile.write_tiny_jpegs(tmp_path / "t", 50)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    assert len(digests) == 50
    for p in paths[:5]:
        image = cv2.imread(str(p))
        assert image is not None and image.shape == (64, 64, 3)
        with Image.open(p) as im:
            im.load()
            assert im.format == "JPEG" and im.size == (64, 64)
    # Deterministic: the same seed writes the same bytes, so tests are reproducible.
    assert hostile.tiny_jpeg_bytes(3) == hostile.tiny_jpeg_bytes(3)


def test_png_header_bomb_is_a_valid_png_claiming_100000_squared(tmp_path: Path) -> None:
    data = hostile.png_header_bomb_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    # Walk the chunks and check every CRC, as a strict decoder would.
    pos, kinds = 8, []
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length:pos + 12 + length], "big")
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        kinds.append(kind)
        pos += 12 + length
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]
    path = tmp_path / "bomb.png"
    path.write_bytes(data)
    assert len(data) < 1024
    # Pillow parses the header and refuses it as a decompression bomb: proof the header claims 10^10 pixels.
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)
    old = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as im:
            assert im.size == (100_000, 100_000)
    finally:
        Image.MAX_IMAGE_PIXELS = old


def test_big_png_is_a_real_image(tmp_path: Path) -> None:
    path = hostile.write_big_png(tmp_path / "big.png", 3000, 2000, (1, 2, 3))
    assert path.stat().st_size < 200_000
    with Image.open(path) as im:
        assert im.size == (3000, 2000)
        im.load()
        assert im.getpixel((2999, 1999)) == (1, 2, 3)


def test_bad_files_are_what_they_claim(tmp_path: Path) -> None:
    bad = {b.kind + ":" + b.path.name: b.path for b in hostile.write_bad_files(tmp_path / "bad")}
    assert bad["empty:zero_bytes.jpg"].stat().st_size == 0
    sparse = bad["sparse:sparse_1g.jpg"].stat()
    assert sparse.st_size == 1 << 30
    assert sparse.st_blocks * 512 < 1 << 20, "the 1 GB file must be sparse (no real disk use)"
    elf = bad["executable:elf_as.jpg"].read_bytes()
    assert elf[:4] == b"\x7fELF"
    assert all(p.suffix in (".jpg", ".png", ".heic") for p in bad.values())


def test_hostile_names_can_all_be_created_and_listed(tmp_path: Path) -> None:
    folder = tmp_path / "names"
    written = hostile.write_hostile_names(folder)
    listed = set(os.listdir(os.fsencode(folder)))
    assert {os.path.basename(p) for p in written} == listed
    assert hostile.SQL_INJECTION_NAME in listed
    assert any(len(n) == 255 for n in listed)
    assert any(b"\n" in n for n in listed)
    with pytest.raises(UnicodeDecodeError):
        hostile.NON_UTF8_NAME.decode("utf-8")
    assert all(hostile.is_photo_name(n) for n in listed)
    digests = {hashlib.sha256(Path(os.fsdecode(p)).read_bytes()).hexdigest() for p in written}
    assert len(digests) == len(written)


def test_deep_tree_has_100_levels(tmp_path: Path) -> None:
    photo = hostile.write_deep_tree(tmp_path / "deep", 100)
    assert len(photo.relative_to(tmp_path / "deep").parts) == 101
    assert photo.stat().st_size > 0


def test_symlink_traps(tmp_path: Path) -> None:
    links = hostile.write_symlinks(tmp_path / "root", tmp_path / "outside")
    assert links.link_to_file.resolve() == links.inside_file.resolve()
    assert links.link_to_dir.is_dir() and links.link_to_dir.is_symlink()
    with pytest.raises(OSError):
        links.self_loop.stat()  # ELOOP
    with pytest.raises(OSError):
        links.loop_a.stat()
    assert not links.dangling.exists() and links.dangling.is_symlink()
    assert links.dir_loop.resolve() == (tmp_path / "root").resolve()
    outside = (tmp_path / "outside").resolve()
    assert links.link_outside_file.resolve().is_relative_to(outside)
    assert links.link_outside_dir.resolve().is_relative_to(outside)
    assert len(links.outside_photos) == 4


def test_corpus_copy_takes_every_file(tmp_path: Path) -> None:
    sources = [PILLOW_IMAGES, HEIF_IMAGES]
    expected = sum(1 for s in sources for p in s.rglob("*") if p.is_file() and not p.is_symlink())
    copied = hostile.copy_corpus(tmp_path / "corpus", sources)
    assert len(copied) == expected > 700
    assert len({p.name for p in copied}) == len(copied), "flattened names must stay unique"
    assert not any(p.name.startswith(".") for p in copied)


def test_expect_polls_and_times_out() -> None:
    start = time.monotonic()
    values = iter([0, 0, 5])
    assert expect(lambda: next(values), timeout=5, interval=0.01) == 5
    with pytest.raises(ExpectTimeout, match="waiting for never"):
        expect(lambda: False, timeout=0.2, interval=0.05, what="never")
    assert time.monotonic() - start < 5


def test_socket_probe_sees_a_network_socket(tmp_path: Path) -> None:
    # A child that opens a TCP listener and a UDP socket must be seen as holding network sockets.
    code = (
        "import socket, time\n"
        "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
        "u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(('127.0.0.1', 0))\n"
        "print('ready', flush=True); time.sleep(30)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"ready"
        socks = process_sockets(child.pid)
        assert len(socks["inet"]) == 2, socks
    finally:
        child.kill()
        child.wait()
    quiet = subprocess.Popen([sys.executable, "-c", "import time; print('ready', flush=True); time.sleep(30)"],
                             stdout=subprocess.PIPE)
    try:
        assert quiet.stdout is not None and quiet.stdout.readline().strip() == b"ready"
        assert process_sockets(quiet.pid)["inet"] == []
    finally:
        quiet.kill()
        quiet.wait()


def test_rss_sampler_sees_memory() -> None:
    code = "import time; b = bytearray(300 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); time.sleep(2)"
    child = subprocess.Popen([sys.executable, "-c", code])
    sampler = RssSampler(child.pid, interval=0.05)
    sampler.start()
    child.wait()
    sampler.stop()
    assert sampler.peak > 250 * 1024 * 1024


def test_db_probe_finds_corruption_signs(tmp_path: Path) -> None:
    # A hand-built DB shaped like the store's with one of each problem the probe must report.
    path = tmp_path / "probe.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE photos (id INTEGER PRIMARY KEY, content_hash TEXT);
        CREATE TABLE files (path BLOB, status TEXT, reason TEXT, photo_id INTEGER);
        CREATE TABLE faces (id INTEGER PRIMARY KEY, photo_id INTEGER, x1, y1, x2, y2);
        CREATE TABLE objects (id INTEGER PRIMARY KEY, photo_id INTEGER, label, x1, y1, x2, y2);
        INSERT INTO photos VALUES (1, 'aa'), (2, 'aa');
        INSERT INTO files VALUES (X'2f702f612e6a7067', 'done', NULL, 1), (X'2f702f612e6a7067', 'done', NULL, 2),
                                 (X'2f702f622e6a7067', 'done', NULL, 9);
        INSERT INTO faces VALUES (1, 7, 0, 0, 1, 1), (2, 1, 0, 0, 5, 5), (3, 1, 0, 0, 5, 5);
        INSERT INTO objects VALUES (1, 8, 'cat', 0, 0, 1, 1);
        """
    )
    conn.commit()
    conn.close()
    problems = "\n".join(LibraryDB(path).problems())
    for label in ("duplicate file paths", "duplicate photo hashes", "orphan faces", "orphan objects",
                  "files pointing at missing photos", "faces stored twice"):
        assert label in problems
    assert set(LibraryDB(path).files()) == {"/p/a.jpg", "/p/b.jpg"}


def test_daemon_harness_runs_a_process_and_reads_its_output(tmp_path: Path) -> None:
    # `--version` exits at once: proves argv, env, cwd and output capture work without the service.
    layout = write_config(tmp_path / "lib")
    d = Daemon(layout, command="--version")
    d.argv = lambda: [sys.executable, "-m", "daemon.cli.main", "--version"]  # type: ignore[method-assign]
    d.start()
    assert d.wait(60) == 0
    assert "pictod" in d.stdout()
