"""Thumbnails and face crops: decoded through daemon/analysis/imaging.py like the analysis (HEIC, 16-bit, CMYK, EXIF
orientation), off the event loop, cached on disk by content hash and size with LRU eviction under a cap."""

from __future__ import annotations

import io
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from pictod_testdata import HEIF_IMAGES, PILLOW_IMAGES
from PIL import Image
from web_helpers import Shot, build_library, client

from daemon.analysis import imaging
from daemon.store import Store
from daemon.web.thumbs import DiskCache, Renderer

FORMATS = {
    "heic": HEIF_IMAGES / "heif_special" / "xiaomi.heic",
    "16-bit": PILLOW_IMAGES / "16bit.cropped.tif",
    "cmyk": PILLOW_IMAGES / "pil_sample_cmyk.jpg",
    "orientation-6": PILLOW_IMAGES / "hopper_orientation_6.jpg",
}


def _photo_ids(db: Path, paths: list[Path]) -> list[int]:
    store = Store.open(db)
    try:
        return [store.get_file(str(p)).photo_id for p in paths]  # type: ignore[union-attr]
    finally:
        store.close()


@pytest.mark.parametrize("kind", list(FORMATS))
def test_photo_renditions_look_like_what_the_analysis_saw(kind: str, tmp_path: Path) -> None:
    built = build_library(tmp_path / "lib", [Shot(FORMATS[kind])], recluster=False)
    (photo_id,) = _photo_ids(built.cfg.database_path, built.paths)
    test = client(built.cfg, tmp_path / "cache")
    try:
        answer = test.get(f"/img/photo/{photo_id}/thumb.jpg")
        assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg", answer.text[:200]
    finally:
        test.__exit__(None, None, None)
    thumb = np.asarray(Image.open(io.BytesIO(answer.content)).convert("RGB"), np.float32)
    seen = imaging.load(FORMATS[kind], max_pixels=10**9, max_file_bytes=10**9).rgb  # oriented, RGB
    assert abs(thumb.shape[1] / thumb.shape[0] - seen.shape[1] / seen.shape[0]) < 0.02  # same orientation
    expected = np.asarray(Image.fromarray(seen).resize((thumb.shape[1], thumb.shape[0]), Image.Resampling.BOX),
                          np.float32)
    assert float(np.abs(thumb - expected).mean()) < 12.0, kind  # the same picture, not a rotated/mangled one


def test_face_crops_follow_the_orientation(tmp_path: Path) -> None:
    # A photo stored sideways with EXIF orientation 6: upright it is 400x300, a red square at (250,100)-(330,180).
    upright = Image.new("RGB", (400, 300), "white")
    upright.paste((220, 20, 20), (250, 100, 330, 180))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what orientation 6 turns back upright
    exif = Image.Exif()
    exif[0x0112] = 6
    source = tmp_path / "sideways.jpg"
    stored.save(source, quality=95, exif=exif)
    built = build_library(tmp_path / "lib", [Shot(source, who=(0,), boxes=((250.0, 100.0, 330.0, 180.0),))],
                          recluster=False)
    test = client(built.cfg, tmp_path / "cache")
    try:
        crop = test.get(f"/img/face/{built.faces[0][0]}.jpg")
    finally:
        test.__exit__(None, None, None)
    pixels = np.asarray(Image.open(io.BytesIO(crop.content)).convert("RGB"), np.int32)
    assert pixels.shape == (160, 160, 3)
    centre = pixels[70:90, 70:90].mean(axis=(0, 1))
    assert centre[0] > 180 and centre[1] < 80 and centre[2] < 80, centre  # the face, red
    assert pixels[:8, :8].mean() > 200  # with a margin around it (white)


def test_renditions_are_cached_privately_and_made_off_the_loop(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    built = build_library(tmp_path / "lib", [Shot(FORMATS["cmyk"], who=(0,))], recluster=False)
    threads: list[str] = []
    original = Renderer.render_face

    def spy(self: Renderer, *args: object) -> object:
        threads.append(threading.current_thread().name)
        return original(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Renderer, "render_face", spy)
    test = client(built.cfg, tmp_path / "cache")
    try:
        first = test.get(f"/img/face/{built.faces[0][0]}.jpg")
        again = test.get(f"/img/face/{built.faces[0][0]}.jpg")
        state = test.app.state  # type: ignore[attr-defined]
    finally:
        test.__exit__(None, None, None)
    assert first.content == again.content and first.content[:2] == b"\xff\xd8"
    assert len(threads) == 1 and threads[0].startswith("pictod-web-decode")
    assert state.renderer.cache.hits == 1
    files = [p for p in (tmp_path / "cache" / "thumbs").rglob("*") if p.is_file()]
    assert len(files) == 1 and stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "cache" / "thumbs").stat().st_mode) == 0o700


def test_cache_evicts_the_least_recently_used_beyond_its_cap(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "thumbs", max_bytes=1000)
    for name in ("aa01", "bb02"):
        cache.put(name, b"x" * 400)
    assert cache.get("aa01") == b"x" * 400  # aa01 is now the most recently used
    cache.put("cc03", b"y" * 400)  # 1200 > 1000: the least recently used goes
    assert cache.get("bb02") is None and cache.get("aa01") is not None and cache.get("cc03") is not None
    assert cache.total_bytes == 800 and cache.evicted == 1
    # A restart reads the order back from the files' mtimes; a write that died half-way is cleared.
    os.utime(tmp_path / "thumbs" / "cc" / "cc03.jpg", ns=(1, 1))
    (tmp_path / "thumbs" / "aa" / "aa01.jpg.123.456.tmp").write_bytes(b"partial")
    again = DiskCache(tmp_path / "thumbs", max_bytes=1000)
    again.put("dd04", b"z" * 400)
    assert again.get("cc03") is None and again.get("aa01") is not None
    assert not (tmp_path / "thumbs" / "aa" / "aa01.jpg.123.456.tmp").exists()


def test_keys_depend_on_content_and_size() -> None:
    assert DiskCache.key("hash-a", "photo", 320) != DiskCache.key("hash-a", "photo", 1600)
    assert DiskCache.key("hash-a", "photo", 320) != DiskCache.key("hash-b", "photo", 320)
    assert DiskCache.key("hash-a", "photo", 320) == DiskCache.key("hash-a", "photo", 320)
