"""A library to browse by month for the timeline tests: distinct real JPEGs (`harness.make_variants` of test
photos), each with a capture time or only a file time (its mtime set before it is recorded), faces of a few
people and object tags, written through Store.record_analysis, then a real recluster makes the people."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import people_synth as synth
from harness import make_variants
from pictod_testdata import DLIB_FACES, FACE_RECOGNITION
from web_helpers import Built

from daemon.analysis import imaging
from daemon.config import ClusteringConfig, Config, FolderConfig, LibraryConfig, WebConfig
from daemon.people.manager import recluster_now
from daemon.store import Store
from daemon.types import DetectedFace, DetectedObject, PhotoAnalysis, PhotoMeta


@dataclass(frozen=True)
class Dated:
    """One photo of the library: its capture time (None: dated by its file), its file's local mtime, who is in
    it (identity numbers) and its object tags."""

    taken: datetime | None
    mtime: datetime
    who: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()


def local_ns(moment: datetime) -> int:
    """A naive local time as the ns since the epoch a file's mtime is."""
    return int(time.mktime(moment.timetuple())) * 10**9


def build(root: Path, plan: Sequence[Dated], *, seed: int = 25) -> Built:
    """Write the photos into root/photos, each with its mtime, and record them in plan order."""
    sources = [FACE_RECOGNITION / "obama.jpg", *sorted(DLIB_FACES.glob("*.jpg"))[:6]]
    variants = make_variants(sources, root / "variants", len(plan), seed=seed, long_side=320, prefix="t")
    photos = root / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    db = root / "data" / "library.db"
    cfg = Config(library=LibraryConfig(folders=(FolderConfig(path=photos),), database=db),
                 web=WebConfig(thumbnail_cache_mb=16))
    centres = synth.identities(max([w for d in plan for w in d.who], default=0) + 1, seed=seed)
    rng = np.random.default_rng(seed)
    built = Built(cfg=cfg, root=root, paths=[])
    store = Store.open(db)
    try:
        for i, (dated, variant) in enumerate(zip(plan, variants, strict=True)):
            dest = photos / f"{i:03d}.jpg"
            shutil.copyfile(variant, dest)
            ns = local_ns(dated.mtime)
            os.utime(dest, ns=(ns, ns))
            data = dest.read_bytes()
            seen = imaging.decode(data, max_pixels=10**9).meta
            vectors = synth.face_vectors(centres, np.array(dated.who, np.int64), rng) if dated.who else []
            faces = tuple(DetectedFace(box=(10.0 + 40 * k, 10.0, 40.0 + 40 * k, 40.0), score=0.9,
                                       landmarks=((0.0, 0.0),) * 5, embedding=np.asarray(v, np.float32))
                          for k, v in enumerate(vectors))
            objects = tuple(DetectedObject(label=t, score=0.8, box=(0.0, 0.0, 50.0, 50.0)) for t in dated.tags)
            meta = PhotoMeta(width=seen.width, height=seen.height, format=seen.format,
                             taken_at=None if dated.taken is None else dated.taken.isoformat())
            st = dest.stat()
            result = store.record_analysis(str(dest), st.st_size, st.st_mtime_ns, hashlib.sha256(data).hexdigest(),
                                           PhotoAnalysis(meta=meta, objects=objects, faces=faces))
            built.paths.append(dest)
            built.faces.append(list(result.face_ids))
        recluster_now(store, ClusteringConfig())
    finally:
        store.close()
    return built


def write_config(built: Built, path: Path) -> Path:
    """A config.toml of the built library (for the CLI and `pictod web` subprocesses)."""
    folder = built.cfg.library.folders[0].path
    path.write_text(f'[library]\nfolders = ["{folder}"]\ndatabase = "{built.cfg.database_path}"\n'
                    '[log]\nformat = "json"\nlevel = "warning"\n[web]\nthumbnail_cache_mb = 16\n')
    return path


def browsing_plan() -> list[Dated]:
    """160 photos over 18 months (September 2023 to February 2025), newest month 40, the others 6 or 7; every
    fourth photo of a month dated by its file only (its capture time unknown); 4 people and the tags dog and cat
    spread so that each narrows differently. Photos with a capture time were copied in on 2025-03-01."""
    months = [(2023 + (8 + k) // 12, (8 + k) % 12 + 1) for k in range(18)]  # 2023-09 .. 2025-02
    plan: list[Dated] = []
    i = 0
    for year, month in reversed(months):
        count = 40 if (year, month) == (2025, 2) else 6 + (month % 2)
        for k in range(count):
            moment = datetime(year, month, 1 + (27 * (count - k - 1)) // count, 9 + k % 10, (7 * k) % 60)
            exif = k % 4 != 3
            who = tuple(sorted({i % 4, (i // 4) % 4})) if i % 3 else ()
            tags = tuple(t for t, every in (("dog", 5), ("cat", 7)) if i % every == 0)
            plan.append(Dated(taken=moment if exif else None,
                              mtime=datetime(2025, 3, 1, 12, 0) if exif else moment,
                              who=who, tags=("person",) * bool(who) + tags))
            i += 1
    return plan
