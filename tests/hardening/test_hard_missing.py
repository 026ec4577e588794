"""Issue 22, removal that can be undone: a photo whose files vanish is *missing*, not deleted. Its analysis,
faces, people and names stay, hidden from searches and counts, until library.keep_missing_days have passed or
`pictod purge`; the same bytes coming back at any path restore it at once, nothing analysed. Real scans of
real photos through the CLI, the library read back as the user sees it (status, people, photos) and from the
database."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cli_library import pictod
from harness import Layout, query, write_config
from people_synth import analysis, content_hash, face_vectors, identities
from pictod_testdata import JOHNS

from daemon.library import purge as purge_case
from daemon.store import Store, missing


def run_json(layout: Layout, *args: str, code: int = 0) -> Any:
    done = pictod(*args, "--config", str(layout.config), "--json")
    assert done.returncode == code, (args, done.returncode, done.stderr)
    return json.loads(done.stdout)


def status(layout: Layout) -> dict[str, Any]:
    return run_json(layout, "status", code=3)  # 3: no daemon running, the counts still read


@pytest.fixture
def salley(tmp_path: Path) -> tuple[Layout, list[Path]]:
    """A library of five crops of one person (named Salley) and one of another, scanned."""
    layout = write_config(tmp_path / "lib")
    crops = sorted((JOHNS / "John_Salley").glob("*.jpg"))[:5]
    for crop in [*crops, sorted((JOHNS / "John_Savage").glob("*.jpg"))[0]]:
        shutil.copy(crop, layout.root / crop.name)
    assert run_json(layout, "scan")["analysed"] == 6
    people = run_json(layout, "people")
    top = max(people, key=lambda p: p["faces"])
    assert top["faces"] >= 4, people
    done = pictod("people", "name", str(top["id"]), "Salley", "--config", str(layout.config))
    assert done.returncode == 0, done.stderr
    return layout, [layout.root / c.name for c in crops]


def test_vanished_photos_are_missing_then_restored_at_any_path_without_analysis(
        salley: tuple[Layout, list[Path]], tmp_path: Path) -> None:
    layout, crops = salley
    away = tmp_path / "away"
    away.mkdir()
    for crop in crops:
        shutil.move(crop, away / crop.name)
    gone = run_json(layout, "scan")
    assert gone["removed"] == 5 and gone["analysed"] == 0
    counts = status(layout)
    # Hidden from the counts and searches, kept in the library: no face, no name lost.
    assert (counts["photos"], counts["photos_missing"], counts["people_missing"]) == (1, 5, 1), counts
    assert counts["named_people"] == 0 and counts["oldest_missing"]
    assert "Salley" not in [p["name"] for p in run_json(layout, "people")]
    assert len(run_json(layout, "photos")) == 1
    assert query(layout.database, "SELECT count(*) FROM faces")[0][0] == 6
    assert query(layout.database, "SELECT count(*) FROM people WHERE name = 'Salley'")[0][0] == 1
    # The drive (or the backup) comes back with the same bytes, under another folder.
    back = layout.root / "restored"
    shutil.copytree(away, back)
    again = run_json(layout, "scan")
    assert (again["analysed"], again["linked"]) == (0, 5), again
    counts = status(layout)
    assert (counts["photos"], counts["photos_missing"], counts["named_people"]) == (6, 0, 1), counts
    named = [p for p in run_json(layout, "people") if p["name"] == "Salley"]
    assert len(named) == 1 and named[0]["faces"] >= 4


def test_missing_photos_expire_after_the_grace_period_or_by_purge(salley: tuple[Layout, list[Path]],
                                                                  tmp_path: Path) -> None:
    layout, crops = salley
    for crop in crops:
        crop.unlink()
    run_json(layout, "scan")
    missing_ids = [r[0] for r in query(layout.database, "SELECT id FROM photos WHERE missing_since IS NOT NULL "
                                       "ORDER BY id")]
    assert len(missing_ids) == 5
    # Two of them went missing 31 days ago (the grace is 30 days by default): the next start purges those.
    conn = sqlite3.connect(layout.database)
    conn.execute("UPDATE photos SET missing_since = strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-31 days') "
                 "WHERE id IN (?, ?)", missing_ids[:2])
    conn.commit()
    conn.close()
    run_json(layout, "scan")
    assert [r[0] for r in query(layout.database, "SELECT id FROM photos WHERE missing_since IS NOT NULL "
                                "ORDER BY id")] == missing_ids[2:]
    # purge --dry-run lists the rest, with the names they carry, and changes nothing.
    plan = run_json(layout, "purge", "--dry-run")
    assert plan["dry_run"] is True and plan["purged"] == 0
    assert [p["id"] for p in plan["photos"]] == missing_ids[2:]
    assert all(p["faces"] == 1 for p in plan["photos"])
    assert any(p["named_people"] == ["Salley"] for p in plan["photos"])
    assert status(layout)["photos_missing"] == 3
    human = pictod("purge", "--dry-run", "--config", str(layout.config))
    assert human.returncode == 0 and "would be deleted" in human.stdout and "Salley" in human.stdout
    done = run_json(layout, "purge")
    assert done["purged"] == 3 and done["faces_removed"] == 3 and done["people_pruned"] == 1
    counts = status(layout)
    assert (counts["photos"], counts["photos_missing"], counts["people"]) == (1, 0, 0), counts
    assert query(layout.database, "SELECT count(*) FROM faces")[0][0] == 1
    assert run_json(layout, "purge")["photos"] == []


def test_photo_face_and_person_ids_are_never_reused(tmp_path: Path) -> None:
    """Issue 22 defect 10: seven different photos in a row got id 22 (links, caches and sidecar keys that name an
    id then pointed at another photo)."""
    rng = np.random.default_rng(5)
    centres = identities(1, seed=5)
    with Store.open(tmp_path / "library.db") as store:
        first = store.record_analysis("/p/a.jpg", 1, 1, content_hash("a"), analysis(face_vectors(
            centres, np.array([0]), rng)))
        person = store.write(lambda c: c.execute("INSERT INTO people (created_at, updated_at) VALUES ('t', 't') "
                                                 "RETURNING id").fetchone()[0])
        store.write(lambda c: c.execute("UPDATE faces SET person_id = ?", (person,)))
        store.remove("/p/a.jpg")
        assert purge_case.purge(store).purged == 1
        store.write(lambda c: c.execute("DELETE FROM people"))
        second = store.record_analysis("/p/b.jpg", 1, 1, content_hash("b"), analysis(face_vectors(
            centres, np.array([0]), rng)))
        again = store.write(lambda c: c.execute("INSERT INTO people (created_at, updated_at) VALUES ('t', 't') "
                                                "RETURNING id").fetchone()[0])
        assert second.photo_id > first.photo_id
        assert min(second.face_ids) > max(first.face_ids)
        assert again > person


def test_a_missing_photo_stays_out_of_searches_and_comes_back_by_hash(tmp_path: Path) -> None:
    """The store's side: remove marks missing (faces untouched), a link of the same hash restores it."""
    rng = np.random.default_rng(6)
    centres = identities(2, seed=6)
    with Store.open(tmp_path / "library.db") as store:
        added = store.record_analysis("/p/a.jpg", 1, 1, content_hash("a"), analysis(face_vectors(
            centres, np.array([0, 1]), rng), ("person",)))
        gone = store.remove("/p/a.jpg")
        assert gone.photos_missing == (added.photo_id,) and gone.face_ids == ()
        assert store.read(lambda c: missing.missing_counts(c).photos_missing) == 1
        assert store.status_counts().faces == 0
        back = store.link_or_mark_pending("/q/elsewhere.jpg", 1, 2, content_hash("a"))
        assert back is not None and back.restored and back.photo_id == added.photo_id
        assert back.face_ids == added.face_ids
        counts = store.status_counts()
        assert (counts.photos, counts.faces, counts.photos_missing) == (1, 2, 0)
        # A purge of a photo restored meanwhile deletes nothing.
        assert store.write(lambda c: missing.purge(c, [added.photo_id])).photo_ids == ()
