"""`pictod photos` over photos and videos (issue 24): videos are hits with kind, duration and codec; --kind
photo|video; for a searched person or tag, when a video shows it (`seen`); a Live Photo is one hit, its still,
carrying its video. One library scanned once by `pictod scan`: johns crops, the people clip, the Live pair."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cli_library import pictod
from harness import query, write_config
from pictod_testdata import CLIPS, JOHNS

SALLEY, SAVAGE = "John_Salley", "John_Savage"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("video-search")
    layout = write_config(base)
    folder = layout.folders[0]
    for who in (SALLEY, SAVAGE):
        for src in sorted((JOHNS / who).glob("*.jpg"))[2:5]:
            shutil.copy(src, folder / f"{who}-{src.name}")
    shutil.copy(CLIPS / "people.mp4", folder / "party.mp4")
    shutil.copy(CLIPS / "phone-rotated.mov", folder / "phone.mov")
    (folder / "live").mkdir()
    for name in ("IMG_0001.HEIC", "IMG_0001.MOV"):
        shutil.copy(CLIPS / "live" / name, folder / "live" / name)
    done = pictod("scan", "--config", str(layout.config), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    return layout.config, layout.database


def photos(config: Path, *args: str) -> list[dict[str, object]]:
    done = pictod("photos", "--config", str(config), "--json", *args)
    assert done.returncode == 0, done.stderr
    hits = json.loads(done.stdout)
    assert isinstance(hits, list)
    return hits


def name_of(hit: dict[str, object]) -> str:
    paths = hit["paths"]
    assert isinstance(paths, list)
    return os.path.basename(str(paths[0]))


def person_of(db: Path, who: str) -> int:
    rows = query(db, "SELECT fa.person_id, f.path FROM faces fa JOIN files f ON f.photo_id = fa.photo_id "
                     "WHERE fa.person_id IS NOT NULL")
    ids = {int(p) for p, path in rows if os.path.basename(os.fsdecode(bytes(path))).startswith(who)}
    assert len(ids) == 1, ids
    return ids.pop()


def test_videos_are_hits_with_kind_duration_codec(library: tuple[Path, Path]) -> None:
    config, _db = library
    hits = {name_of(h): h for h in photos(config)}
    assert hits["party.mp4"]["kind"] == "video" and hits["party.mp4"]["duration"] == 4.0
    assert hits["party.mp4"]["codec"] == "h264" and hits["phone.mov"]["height"] == 640
    assert hits["IMG_0001.HEIC"]["kind"] == "photo" and "IMG_0001.MOV" not in hits  # the pair is one item
    assert isinstance(hits["IMG_0001.HEIC"]["live_video"], int)
    assert all(hits[n]["kind"] == "photo" and hits[n]["duration"] is None for n in hits if n.endswith(".jpg"))
    videos = {name_of(h) for h in photos(config, "--kind", "video")}
    assert videos == {"party.mp4", "phone.mov"}
    stills = {name_of(h) for h in photos(config, "--kind", "photo")}
    assert "IMG_0001.HEIC" in stills and not stills & videos


def test_a_person_in_a_video_with_the_times_seen(library: tuple[Path, Path]) -> None:
    config, db = library
    salley, savage = person_of(db, SALLEY), person_of(db, SAVAGE)
    hits = {name_of(h): h for h in photos(config, "--person", str(salley))}
    assert "party.mp4" in hits and sum(n.startswith(SALLEY) for n in hits) == 3
    (seen,) = hits["party.mp4"]["seen"]
    assert seen["person_id"] == salley and seen["spans"] == [[0.0, 2.0]]  # the first scene, 0-2 s
    both = {name_of(h): h for h in photos(config, "--person", str(salley), "--person", str(savage))}
    assert set(both) == {"party.mp4"}
    assert [m["spans"] for m in both["party.mp4"]["seen"]] == [[[0.0, 2.0]], [[2.0, 4.0]]]
    faces = both["party.mp4"]["faces"]
    assert isinstance(faces, list) and all(f["time"] is not None and f["seen"] for f in faces)
    plain = pictod("photos", "--config", str(config), "--person", str(savage))
    assert "video 0:04" in plain.stdout and f"#{savage} 0:02-0:04" in plain.stdout


def test_a_tag_in_a_video(library: tuple[Path, Path]) -> None:
    config, _db = library
    hits = {name_of(h): h for h in photos(config, "--tag", "cup")}
    assert "party.mp4" in hits
    (seen,) = hits["party.mp4"]["seen"]
    assert seen["tag"] == "cup" and seen["spans"][0][0] == 0.0


def test_live_photo_people_found_through_its_still(library: tuple[Path, Path]) -> None:
    config, db = library
    still = query(db, "SELECT id FROM photos WHERE format = 'HEIF'")[0][0]
    video = query(db, "SELECT id FROM photos WHERE paired_with = ?", still)
    assert len(video) == 1
    assert query(db, "SELECT count(*) FROM faces WHERE photo_id = ?", video[0][0]) == [(0,)]
    people = query(db, "SELECT person_id FROM faces WHERE photo_id = ? AND person_id IS NOT NULL", still)
    for (person,) in people:
        assert [name_of(h) for h in photos(config, "--person", str(person))] == ["IMG_0001.HEIC"]


def test_the_timeline_reads_a_tag_or_person_per_photo_as_the_search_does(library: tuple[Path, Path],
                                                                         tmp_path: Path) -> None:
    """`photo_where(per_photo=True)` (the timeline's page under a filter keeping many photos: each photo's rows
    looked up, a Live Photo's video's from the video) keeps exactly the photos the search's lists keep, for
    every tag and person here and a tag only the Live pair's video has (its still is the hit); so does the
    timeline's page."""
    import sqlite3

    from daemon.library import timeline
    from daemon.library.photos import PhotoFilter
    from daemon.store import Store
    from daemon.store.search import photo_where, photos_from

    _config, shared = library
    db = tmp_path / "copy.db"
    with sqlite3.connect(shared) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
        dst.execute("INSERT INTO objects (photo_id, label, score, x1, y1, x2, y2) "
                    "SELECT id, 'kite', 0.9, 0, 0, 1, 1 FROM photos WHERE paired_with IS NOT NULL")
    src.close()
    dst.close()
    with Store.open(db, read_only=True) as store:
        def ids(conn: sqlite3.Connection, flt: PhotoFilter, per_photo: bool) -> set[int]:
            clause, args, _distance = photo_where(conn, flt, per_photo=per_photo)
            return {r[0] for r in conn.execute(f"SELECT t.photo_id FROM {photos_from(conn)}{clause}", args)}

        video_tags = {r[0] for r in query(db, "SELECT o.label FROM objects o JOIN photos v ON v.id = o.photo_id "
                                              "WHERE v.paired_with IS NOT NULL")}
        filters = [PhotoFilter(tags=(r[0],)) for r in query(db, "SELECT DISTINCT label FROM objects")]
        filters += [PhotoFilter(people=(int(r[0]),)) for r in query(
            db, "SELECT DISTINCT person_id FROM faces WHERE person_id IS NOT NULL")]
        assert len(filters) > 2 and "kite" in video_tags
        still = query(db, "SELECT paired_with FROM photos WHERE paired_with IS NOT NULL")[0][0]
        assert store.read(lambda conn: ids(conn, PhotoFilter(tags=("kite",)), True)) == {still}
        for flt in filters:
            kept = store.read(lambda conn, flt=flt: ids(conn, flt, False))
            assert kept and store.read(lambda conn, flt=flt: ids(conn, flt, True)) == kept, flt
            page = timeline.timeline(store, flt, size=1000)
            assert {p.id for items in page.photos.values() for p in items} == kept, flt
