"""Bursts: thousands of files at once are all processed, none lost to a full queue, with bounded memory.

The default suite overflows a tiny queue (queue_size 16) with 200 files written straight into the watched
folder, so the overflow path (drop, then rescan) is exercised in seconds; the slow test drops 5,000.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from hardening_harness import RSS_LIMIT, hostile, path_key, wait_settled
from harness import Daemon, Layout, LibraryDB


def _burst(daemons: Callable[..., Daemon], make_layout: Callable[..., Layout], count: int, queue_size: int,
           timeout: float) -> dict[str, int]:
    layout = make_layout("burst", sections={"daemon": {"queue_size": queue_size}})
    d = daemons(layout).wait_ready()
    db = LibraryDB(layout.database)
    # Written live into two folders at once (no staging): one event burst, many more events than queue slots.
    paths = hostile.write_tiny_jpegs(layout.root / "a", count // 2, start=200_000, prefix="a")
    paths += hostile.write_tiny_jpegs(layout.root / "b", count - count // 2, start=300_000, prefix="b")
    files = wait_settled(db, paths, timeout, daemon=d, what=f"a burst of {count} files")
    statuses = Counter(files[path_key(p)][0] for p in paths)
    assert statuses == {"done": count}, statuses
    assert db.photo_count() == count
    lines = Counter(r.get("path") for r in d.photo_lines(current=True))
    twice = {p: n for p, n in lines.items() if n > 1}
    assert twice == {}, f"files processed more than once in a burst: {list(twice.items())[:5]}"
    overflowed = len(d.events("queue_full", current=True)) + len(d.events("rescan", current=True))
    peak = d.peak_rss
    counts = {"files": count, "processed": statuses["done"], "lost": count - statuses["done"],
              "overflow_events": overflowed, "peak_rss_mib": peak // 2**20}
    print(f"burst {count} / queue {queue_size}:", counts)
    d.stop_clean()
    assert 0 < peak < RSS_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"
    assert db.problems() == []
    return counts


def test_burst_overflowing_the_queue(daemons: Callable[..., Daemon], make_layout: Callable[..., Layout],
                                     record_property: Callable[[str, object], None]) -> None:
    counts = _burst(daemons, make_layout, 200, 16, timeout=180)
    record_property("counts", counts)
    assert counts["overflow_events"] > 0, "the queue never overflowed: the test did not exercise the overflow path"


@pytest.mark.slow
def test_burst_of_5000_files(daemons: Callable[..., Daemon], make_layout: Callable[..., Layout],
                             record_property: Callable[[str, object], None]) -> None:
    counts = _burst(daemons, make_layout, 5000, 1000, timeout=1500)
    record_property("counts", counts)
