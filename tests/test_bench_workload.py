"""bench/workload.py: the benchmark set is deterministic, unique by content, phone-sized, and cached safely."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import sys
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _load_workload() -> ModuleType:
    # bench/ is a folder of scripts, not a package: load the module from its file.
    spec = importlib.util.spec_from_file_location("bench_workload", REPO / "bench" / "workload.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_workload"] = module
    spec.loader.exec_module(module)
    return module


workload = _load_workload()


def test_plan_is_deterministic_and_nested() -> None:
    first = workload.plan(120)
    assert first == workload.plan(120)
    assert workload.plan(40) == first[:40]


def test_plan_mix_of_faces_heic_and_phone_sizes() -> None:
    specs = workload.plan(workload.SIZES["quick"])
    with_faces = sum(s.faces for s in specs)
    assert 0.30 <= with_faces / len(specs) <= 0.36
    assert sum(s.fmt == "heic" for s in specs) == len(specs) // workload.HEIC_EVERY
    assert {(s.width, s.height) for s in specs} == {workload.LANDSCAPE, workload.PORTRAIT}
    assert all(88 <= s.quality <= 92 for s in specs if s.fmt == "jpeg")
    # Every source photo is used, so the set spans all the real photos.
    with_src, without_src = workload.sources()
    assert {s.source for s in specs} == {s.name for s in with_src + without_src}
    assert all(s.path.is_file() for s in with_src + without_src)


def test_render_is_deterministic_and_variants_are_unique() -> None:
    specs = workload.plan(60)
    hashes = [hashlib.sha256(workload.render(s, scale=0.05)).hexdigest() for s in specs]
    assert len(set(hashes)) == len(hashes)
    assert workload.render(specs[7], scale=0.05) == workload.render(specs[7], scale=0.05)


def test_heic_renders_and_decodes() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    spec = next(s for s in workload.plan(60) if s.fmt == "heic")
    data = workload.render(spec, scale=0.05)
    assert data == workload.render(spec, scale=0.05)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "HEIF"
        assert im.size == (round(spec.width * 0.05), round(spec.height * 0.05))


def test_build_writes_phone_sized_jpegs_and_reuses_the_cache(tmp_path: Path) -> None:
    wl = workload.build(4, tmp_path / "wl", jobs=1, log=False)
    assert len(wl.items) == 4
    assert len({i.sha256 for i in wl.items}) == 4
    for item in wl.items:
        with Image.open(wl.photos / item.name) as im:
            assert im.format == "JPEG"
            assert im.size == (item.width, item.height)
            assert im.size in (workload.LANDSCAPE, workload.PORTRAIT)
    again = workload.load(4, tmp_path / "wl")
    assert again is not None and again.items == wl.items
    # A changed file invalidates the cached set.
    (wl.photos / wl.items[0].name).write_bytes(b"not a photo")
    assert workload.load(4, tmp_path / "wl") is None


@pytest.mark.parametrize("n", [300])
def test_small_files_are_unique(tmp_path: Path, n: int) -> None:
    photos = workload.small_files(n, tmp_path / "small", per_dir=100)
    files = sorted(photos.rglob("*.png"))
    assert len(files) == n
    assert len({hashlib.sha256(f.read_bytes()).hexdigest() for f in files}) == n
    with Image.open(files[0]) as im:
        assert im.size == (8, 8)
