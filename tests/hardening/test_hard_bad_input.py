"""Bad input dropped into a watched folder: each file ends done or failed with a one-line reason, none is retried
forever, the daemon stays up with bounded memory and still processes a good photo dropped afterwards.

The default suite drops the fake photos (text, ELF, 0 bytes, 1 GB sparse, PNG header bomb, random bytes) and
the broken/odd part of Pillow's and pillow-heif's test images; the slow test drops every file of both.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable

import pytest
from hardening_harness import RSS_LIMIT, hostile, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB, expect
from pictod_testdata import HEIF_IMAGES, PILLOW_IMAGES, SKIMAGE

# The part of the corpora that is broken, a bomb, truncated, or an odd mode: what the default suite drops.
ODD = re.compile(r"trunc|broken|bomb|corrupt|crash|empty|oom|fuzz|invalid|bad|unsupported|200MP|overrun|zero|huge|"
                 r"negative|sugarshack|hopper_orientation_[26]|cmyk|16bit|heif_special", re.IGNORECASE)


def drop_and_check(daemons: Callable[..., Daemon], layout: Layout, *, corpus_filter: re.Pattern[str] | None,
                   timeout: float) -> dict[str, int]:
    """Drop the bad files (staged outside, then moved in), wait for all, check reasons, retries and memory."""
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    staging = layout.base / "staging"
    bad = hostile.write_bad_files(staging / "fake")
    corpus_dir = staging / "corpus"
    corpus_dir.mkdir(parents=True)
    for src, flat in hostile.iter_corpus([PILLOW_IMAGES, HEIF_IMAGES]):
        if corpus_filter is None or corpus_filter.search(flat):
            shutil.copyfile(src, corpus_dir / flat)
    all_files = [p for p in staging.rglob("*") if p.is_file()]
    photos = [p for p in all_files if hostile.is_photo_name(p.name)]
    ignored = [p for p in all_files if not hostile.is_photo_name(p.name)]
    os.rename(staging / "fake", layout.root / "fake")
    os.rename(corpus_dir, layout.root / "corpus")
    photos = [layout.root / p.relative_to(staging) for p in photos]
    ignored = [layout.root / p.relative_to(staging) for p in ignored]

    files = wait_settled(db, photos, timeout, daemon=d, what=f"{len(photos)} bad inputs settled")
    assert d.alive(), d.tail()
    keys = {path_key(p) for p in photos}
    # Every failure carries a one-line reason.
    failed = {k: v for k, v in files.items() if k in keys and v[0] == "failed"}
    no_reason = [k for k, v in failed.items() if not v[1] or "\n" in v[1]]
    assert no_reason == [], f"failed without a one-line reason: {no_reason[:5]}"
    for b in bad:
        if b.kind in ("empty", "text", "executable", "bomb", "sparse", "random", "truncated"):
            status = files[path_key(layout.root / b.path.relative_to(staging))]
            assert status[0] == "failed", f"{b.path.name} ({b.kind}) must fail, got {status}"
    # Files with other extensions are not photos: no rows.
    stray = [p for p in ignored if path_key(p) in files]
    assert stray == [], f"non-photo extensions recorded: {stray[:5]}"

    # Nothing is retried: give the daemon a few status intervals, then no path may have more than one line.
    time.sleep(3)
    lines = Counter(r.get("path") for r in d.photo_lines(current=True))
    retried = {p: n for p, n in lines.items() if n > 1}
    assert retried == {}, f"paths processed more than once: {list(retried.items())[:5]}"
    for record in d.photo_lines(current=True):
        if record.get("status") == "failed":
            assert "\n" not in str(record.get("error", "")) and record.get("reason"), record

    # Still alive and working: a real photo with a face dropped afterwards is analysed.
    good = layout.root / "good" / "astronaut.png"
    good.parent.mkdir()
    shutil.copyfile(SKIMAGE / "astronaut.png", good)
    after = wait_settled(db, [good], 120, daemon=d, what="a good photo after the bad ones")
    assert after[path_key(good)][0] == "done", after[path_key(good)]
    # Its line follows its row (after its faces are placed): waited for, not read at once.
    lines = expect(lambda: [r for r in d.photo_lines(current=True) if r.get("path") == path_key(good)], 30,
                   what="the good photo's line", alive=d)
    faces = [r.get("faces") for r in lines]
    assert faces and faces[-1] and faces[-1] >= 1, faces
    peak = d.peak_rss
    statuses = Counter(v[0] for k, v in after.items() if k in keys)
    reasons = Counter(v[1] for k, v in after.items() if k in keys and v[0] == "failed")
    counts = {"files_tried": len(photos), "done": statuses["done"], "failed": statuses["failed"],
              "ignored_other_extensions": len(ignored), "peak_rss_mib": peak // 2**20}
    print("bad inputs:", counts, "failure reasons:", dict(reasons))
    d.stop_clean()
    assert 0 < peak < RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    problems = db.problems()
    assert problems == [], problems
    # Nor across a restart: unchanged failed files are not tried again at start-up.
    d.start().wait_ready()
    expect(lambda: d.events("reconcile", current=True), 60, what="the start-up reconcile", alive=d)
    time.sleep(2)
    again = [r.get("path") for r in d.photo_lines(current=True)]
    assert again == [], f"{len(again)} unchanged files processed again after a restart, e.g. {again[:3]}"
    d.stop_clean()
    return counts


def test_bad_inputs_fail_cleanly(daemons: Callable[..., Daemon], layout: Layout,
                                 record_property: Callable[[str, object], None]) -> None:
    counts = drop_and_check(daemons, layout, corpus_filter=ODD, timeout=150)
    record_property("counts", counts)


@pytest.mark.slow
def test_every_pillow_and_heif_test_image(daemons: Callable[..., Daemon], layout: Layout,
                                          record_property: Callable[[str, object], None]) -> None:
    counts = drop_and_check(daemons, layout, corpus_filter=None, timeout=900)
    record_property("counts", counts)


def test_large_images_within_the_pixel_limit_keep_memory_bounded(daemons: Callable[..., Daemon],
                                                                   layout: Layout) -> None:
    # Legal photos (under analysis.max_pixels = 120 MP by default) but huge once decoded: 110 MP PNGs of
    # 1.5 MB each, one per worker at the same time. Memory must stay bounded whatever the content.
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    staging = layout.base / "staging"
    staging.mkdir()
    big = [hostile.write_big_png(staging / f"big_{i}.png", 10_000, 11_000, (40 * i, 90, 200 - 40 * i))
           for i in range(3)]
    for p in big:
        os.rename(p, layout.root / p.name)
    big = [layout.root / p.name for p in big]
    files = wait_settled(db, big, 120, daemon=d, what="three 110-megapixel PNGs")
    peak = d.peak_rss
    print("3 x 110 MP PNG:", {p.name: files[path_key(p)][:2] for p in big}, "peak RSS MiB", peak // 2**20)
    d.stop_clean()
    assert 0 < peak < RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB with {len(big)} legal 110 MP photos"


def _bytes_read(pid: int) -> int:
    """Bytes the process has read through read(2) and friends (/proc/<pid>/io rchar)."""
    with open(f"/proc/{pid}/io") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))


# Regression: a file over the limit used to be hashed in full and header-scanned before the size check.
def test_oversized_file_is_refused_without_reading_it(daemons: Callable[..., Daemon],
                                                      make_layout: Callable[..., Layout]) -> None:
    # analysis.max_file_bytes exists so a huge file costs nothing: a file over it must be refused from its
    # size alone, not hashed and header-scanned first (a 1 GiB sparse .jpg took 100 s of CPU that way).
    limit = 16 << 20
    layout = make_layout("oversized", sections={"analysis": {"max_file_bytes": limit}})
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    good = layout.root / "first.jpg"
    hostile.write_tiny_jpeg(good, 95_000)
    wait_settled(db, [good], 60, daemon=d)
    before = _bytes_read(d.pid)
    big = layout.base / "big.jpg"
    with open(big, "wb") as f:
        f.write(hostile.tiny_jpeg_bytes(95_001, 32)[:200])
        f.truncate(8 * limit)  # 128 MiB of holes after a JPEG start
    os.rename(big, layout.root / "big.jpg")
    files = wait_settled(db, [layout.root / "big.jpg"], 120, daemon=d)
    read = _bytes_read(d.pid) - before
    assert files[path_key(layout.root / "big.jpg")][:2] == ("failed", "file_too_large")
    d.stop_clean()
    assert read < limit, f"read {read / 2**20:.0f} MiB of a {8 * limit / 2**20:.0f} MiB file over the limit"
