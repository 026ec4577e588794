"""The service built in-process: a real Store in tmp_path, the real Analyzer and PeopleManager, scans run with
asyncio on real test photos, and the database asserted afterwards (daemon/runtime/service.py, daemon/runtime/intake.py,
daemon/runtime/roots.py without a subprocess)."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sqlite3
from pathlib import Path

import pytest
from pictod_testdata import FACE_RECOGNITION, REPO, SKIMAGE
from structlog.testing import capture_logs

from daemon import config
from daemon.analysis.analyzer import Analyzer
from daemon.config import Config, FolderConfig
from daemon.people.manager import PeopleManager
from daemon.runtime.service import ScanSummary, Service
from daemon.store import Store


@pytest.fixture(scope="module")
def base_cfg() -> Config:
    cfg = config.load(REPO / "config.toml", check_folders=False)
    return dataclasses.replace(cfg, daemon=dataclasses.replace(cfg.daemon, workers=2, settle_seconds=0.05),
                               clustering=dataclasses.replace(cfg.clustering, recluster_every=2))


@pytest.fixture(scope="module")
def analyzer(base_cfg: Config) -> Analyzer:
    return Analyzer.from_config(base_cfg, workers=2)


def library_cfg(base: Config, folder: Path, db: Path) -> Config:
    library = dataclasses.replace(base.library, folders=(FolderConfig(path=folder),), database=db)
    return dataclasses.replace(base, library=library)


def scan(cfg: Config, analyzer: Analyzer) -> tuple[int, ScanSummary]:
    """One in-process scan of the configured folder, as `pictod scan` runs it (without the lock)."""

    async def main() -> tuple[int, ScanSummary]:
        store = Store.open(cfg.database_path)
        try:
            service = Service(cfg, store, PeopleManager(store, cfg.clustering), analyzer)
            code = await service.serve(watch=False)
            service.close()
            return code, service.summary
        finally:
            store.close()

    return asyncio.run(main())


def files(db: Path) -> dict[str, tuple[str, str | None, int | None]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT path, status, reason, photo_id FROM files").fetchall()
    finally:
        con.close()
    return {Path(bytes(p).decode()).name: (s, r, pid) for p, s, r, pid in rows}


def scalar(db: Path, sql: str, *args: object) -> object:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def test_scan_in_process_analyses_links_fails_and_reclusters(tmp_path: Path, base_cfg: Config,
                                                             analyzer: Analyzer) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for src in (SKIMAGE / "astronaut.png", SKIMAGE / "chelsea.png", FACE_RECOGNITION / "obama.jpg",
                FACE_RECOGNITION / "obama2.jpg"):
        shutil.copy(src, photos / src.name)
    shutil.copy(FACE_RECOGNITION / "obama.jpg", photos / "obama-copy.jpg")  # same bytes: linked, not analysed
    (photos / "notes.jpg").write_text("not a photo")
    db = tmp_path / "state" / "library.db"
    cfg = library_cfg(base_cfg, photos, db)

    code, summary = scan(cfg, analyzer)
    assert code == 0
    assert (summary.seen, summary.analysed, summary.linked, summary.failed) == (6, 4, 1, 1)
    assert summary.reclusters >= 1  # due after 2 photos, and once more at the end of the scan if needed
    rows = files(db)
    assert rows["notes.jpg"][:2] == ("failed", "not_an_image")
    assert {name for name, row in rows.items() if row[0] == "done"} == {
        "astronaut.png", "chelsea.png", "obama.jpg", "obama2.jpg", "obama-copy.jpg"}
    assert rows["obama-copy.jpg"][2] == rows["obama.jpg"][2]
    assert scalar(db, "SELECT count(*) FROM photos") == 4
    assert scalar(db, "SELECT count(*) FROM faces WHERE photo_id = ?", rows["astronaut.png"][2]) == 1
    assert scalar(db, "SELECT count(*) FROM faces WHERE photo_id = ?", rows["chelsea.png"][2]) == 0
    assert scalar(db, "SELECT count(*) FROM objects WHERE photo_id = ? AND label = 'cat'",
                  rows["chelsea.png"][2]) == 1
    assert scalar(db, "SELECT count(*) FROM files WHERE status = 'pending'") == 0

    # Second scan: one photo moved while nobody watched, one deleted, three new, the rest unchanged. The moved
    # file is linked to its photo (no inference) before its old path is removed, so its faces keep their
    # people; the deletion no new file can be the moved copy of (its size is unique) does not wait for the
    # new photos' analysis.
    moved_from = rows["obama2.jpg"][2]
    faces_before = scalar(db, "SELECT group_concat(id || ':' || ifnull(person_id, '-')) FROM faces "
                              "WHERE photo_id = ?", moved_from)
    (photos / "sub").mkdir()
    (photos / "obama2.jpg").rename(photos / "sub" / "renamed.jpg")
    (photos / "chelsea.png").unlink()
    for name in ("obama3.jpg", "biden.jpg"):
        shutil.copy(FACE_RECOGNITION / name, photos / name)
    shutil.copy(SKIMAGE / "coffee.png", photos / "coffee.png")
    with capture_logs() as logs:
        code, summary = scan(cfg, analyzer)
    assert code == 0
    assert (summary.analysed, summary.linked, summary.removed, summary.unchanged) == (3, 1, 2, 4)
    order = [(e["event"], Path(str(e["path"])).name, e.get("status")) for e in logs
             if e["event"] in ("photo", "photo_removed")]
    assert order.index(("photo", "renamed.jpg", "linked")) < order.index(("photo_removed", "obama2.jpg", None))
    first_new = min(i for i, (_e, name, status) in enumerate(order) if status == "analysed")
    assert order.index(("photo_removed", "chelsea.png", None)) < first_new
    rows = files(db)
    assert "chelsea.png" not in rows and "obama2.jpg" not in rows
    assert rows["renamed.jpg"][:3:2] == ("done", moved_from)
    assert scalar(db, "SELECT count(*) FROM photos WHERE missing_since IS NULL") == 6
    assert scalar(db, "SELECT count(*) FROM photos WHERE missing_since IS NOT NULL") == 1  # chelsea (issue 22)
    assert scalar(db, "SELECT group_concat(id || ':' || ifnull(person_id, '-')) FROM faces WHERE photo_id = ?",
                  moved_from) == faces_before


def test_face_quality_and_rotation_are_stored_and_read_back(tmp_path: Path, base_cfg: Config,
                                                           analyzer: Analyzer) -> None:
    """Issue 11: the analysis' quality score reaches faces.quality, and the readers (`pictod photos --json`, the
    web app) take it from there."""
    from daemon.library.photos import PhotoFilter, search_photos
    from daemon.store import web_queries
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(FACE_RECOGNITION / "obama.jpg", photos / "obama.jpg")
    cfg = library_cfg(base_cfg, photos, tmp_path / "library.db")
    code, _summary = scan(cfg, analyzer)
    assert code == 0
    con = sqlite3.connect(f"file:{cfg.database_path}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT id, quality, rotation FROM faces").fetchall()
        assert rows and all(q is not None and 0.0 <= q <= 1.0 for _i, q, _r in rows)
        assert {r for _i, _q, r in rows} == {0}
        web = {f.id: f.quality for f in web_queries.photo_faces(con, 1)}
    finally:
        con.close()
    stored = {i: q for i, q, _r in rows}
    # obama.jpg is a large, sharp, frontal face: a good score (the ramps of daemon/analysis/hard_faces.py give it ~1).
    assert max(stored.values()) > 0.5
    assert web == pytest.approx(stored)
    with Store.open(cfg.database_path) as store:
        hits = search_photos(store, PhotoFilter())
    assert {f.id: f.quality for h in hits for f in h.faces} == pytest.approx(stored)
