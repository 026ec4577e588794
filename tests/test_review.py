"""The same-person review (issue 21) on a real library of real test photos made by `pictod scan`: the ranking,
exemplar growth, rejection memory (it survives a recluster) and undo, through `daemon.library.review`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pictod_testdata import copy_johns
from web_helpers import pictod

from daemon.config import ClusteringConfig
from daemon.library import corrections, review
from daemon.people import clusters
from daemon.people.manager import recluster_now
from daemon.store import Store
from daemon.store import faces as faces_sql

WHO = ("John_Salley", "John_Savage", "John_Schneider")  # SFace: 0.1-0.4 within each, 0.77+ between them


def scan_crops(root: Path, who: tuple[str, ...], per_person: int, extra: str = "") -> Path:
    """`pictod scan` of the first crops of these johns (files named IDENTITY-NAME) with an eps so tight that
    nothing clusters or attaches: every face is alone. The config's path."""
    photos = root / "photos"
    photos.mkdir()
    copy_johns(photos, who, per_person)
    config = root / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[log]\nformat = "json"\n'
                      '[clustering]\neps = 0.05\nsuggest_eps = 0.05\nattach_eps = 0.05\n' + extra)
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    return config


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """5 crops of each of 3 people, every face alone."""
    root = tmp_path_factory.mktemp("review")
    return {"root": root, "config": scan_crops(root, WHO, 5)}


@pytest.fixture()
def lib(scanned: dict[str, object], tmp_path: Path) -> Iterator[tuple[Store, dict[int, str], dict[int, np.ndarray]]]:
    """A fresh copy of the scanned library per test, its faces' truth and embeddings."""
    db = tmp_path / "lib.db"
    shutil.copy(Path(str(scanned["root"])) / "lib.db", db)
    with Store.open(db) as store:
        rows = store.read(lambda c: c.execute(
            "SELECT f.id, (SELECT path FROM files WHERE photo_id = f.photo_id), f.embedding FROM faces f").fetchall())
        truth = {int(f): Path(p.decode() if isinstance(p, bytes) else p).name.split("-")[0] for f, p, _e in rows}
        vectors = {int(f): clusters.normalise(np.frombuffer(e, np.float32))[0] for f, _p, e in rows}
        assert sorted(truth.values()) == sorted(w for w in WHO for _ in range(5))
        assert store.read(lambda c: c.execute("SELECT count(*) FROM faces WHERE person_id IS NOT NULL").fetchone()
                          ) == (0,)
        yield store, truth, vectors


def dist(vectors: dict[int, np.ndarray], a: int, b: int) -> float:
    return float(1.0 - vectors[a] @ vectors[b])


def faces_of(truth: dict[int, str], who: str) -> list[int]:
    return sorted(f for f, w in truth.items() if w == who)


def test_candidates_are_ranked_by_distance_to_the_nearest_face(lib: tuple[Store, dict[int, str],
                                                                          dict[int, np.ndarray]]) -> None:
    store, truth, vectors = lib
    seed = faces_of(truth, "John_Salley")[0]
    person = corrections.new_person(store, [seed], name="Salley")
    found = review.candidates(store, person, max_distance=2.0)
    assert seed not in [c.face_id for c in found] and len(found) == 14
    # Nearest first, each with its real distance to the one exemplar; Salley's own four come before anyone else.
    assert [c.distance for c in found] == sorted(c.distance for c in found)
    for c in found:
        assert c.distance == pytest.approx(dist(vectors, seed, c.face_id), abs=1e-3)
        assert c.rank == c.distance and c.person_id is None and not c.skipped
    assert {truth[c.face_id] for c in found[:4]} == {"John_Salley"}
    # The default radius keeps the other people out (SFace: 0.77+ between these three).
    assert {truth[c.face_id] for c in review.candidates(store, person)} == {"John_Salley"}
    assert review.might_also_be(store, person) == 4
    assert [c.face_id for c in review.candidates(store, person, limit=2)] == [c.face_id for c in found[:2]]


def test_an_accepted_face_becomes_an_exemplar(lib: tuple[Store, dict[int, str], dict[int, np.ndarray]]) -> None:
    store, truth, vectors = lib
    mine = faces_of(truth, "John_Salley")
    # Three of Salley's faces s, a, b with d(s, a) <= r < d(s, b) and d(a, b) <= r: b is reached only through a.
    triples = [(dist(vectors, s, b) - max(dist(vectors, s, a), dist(vectors, a, b)), s, a, b)
               for s in mine for a in mine for b in mine if len({s, a, b}) == 3]
    gap, s, a, b = max(triples)
    assert gap > 0.01, triples
    radius = max(dist(vectors, s, a), dist(vectors, a, b)) + gap / 2
    person = corrections.new_person(store, [s])
    before = {c.face_id for c in review.candidates(store, person, max_distance=radius)}
    assert a in before and b not in before
    review.answer(store, person, a, "yes")
    after = {c.face_id: c for c in review.candidates(store, person, max_distance=radius)}
    assert b in after and after[b].distance == pytest.approx(dist(vectors, a, b), abs=1e-3)
    assert a not in after
    assert store.read(lambda c: c.execute("SELECT person_id FROM faces WHERE id = ?", (a,)).fetchone()) == (person,)
    # A recluster (the daemon's, meanwhile) keeps the answer: a "yes" is a pin.
    recluster_now(store, ClusteringConfig(eps=0.05, suggest_eps=0.05, attach_eps=0.05))
    assert store.read(lambda c: c.execute("SELECT person_id FROM faces WHERE id = ?", (a,)).fetchone()) == (person,)


def test_a_rejected_face_is_never_asked_again_and_weighs_down_its_neighbours(
        lib: tuple[Store, dict[int, str], dict[int, np.ndarray]]) -> None:
    store, truth, vectors = lib
    seed = faces_of(truth, "John_Salley")[0]
    person = corrections.new_person(store, [seed], name="Salley")
    wide = review.candidates(store, person, max_distance=2.0)
    savage = [c for c in wide if truth[c.face_id] == "John_Savage"]
    no = savage[0].face_id
    review.answer(store, person, no, "no")
    again = {c.face_id: c for c in review.candidates(store, person, max_distance=2.0)}
    assert no not in again
    # Savage's other faces lie nearer to the rejected face than to Salley: their rank goes up by the difference.
    for c in savage[1:]:
        d, near = dist(vectors, seed, c.face_id), dist(vectors, no, c.face_id)
        assert near < d
        assert again[c.face_id].rank == pytest.approx(d + (d - near), abs=2e-3)
    ranked = list(again.values())
    assert [c.rank for c in ranked] == sorted(c.rank for c in ranked)
    # A full recluster keeps the answer: the face is still never offered (and never put on the person).
    recluster_now(store, ClusteringConfig(eps=0.05, suggest_eps=0.05, attach_eps=0.05))
    assert store.read(lambda c: c.execute("SELECT person_id FROM faces WHERE id = ?", (no,)).fetchone()) == (None,)
    assert no not in {c.face_id for c in review.candidates(store, person, max_distance=2.0)}


def test_undo_takes_back_each_answer(lib: tuple[Store, dict[int, str], dict[int, np.ndarray]]) -> None:
    store, truth, _vectors = lib
    seed = faces_of(truth, "John_Salley")[0]
    person = corrections.new_person(store, [seed])
    assert review.undo(store, person) is None
    first, second, third = [c.face_id for c in review.candidates(store, person, max_distance=2.0)[:3]]

    def state(face: int) -> tuple[object, ...]:
        return store.read(lambda c: (
            c.execute("SELECT person_id FROM faces WHERE id = ?", (face,)).fetchone()[0],
            c.execute("SELECT kind, person_id FROM corrections WHERE face_id = ? ORDER BY id", (face,)).fetchall()))

    blank = state(first)
    review.answer(store, person, first, "yes")
    assert state(first) == (person, [("assign", person)])
    review.answer(store, person, second, "no")
    review.answer(store, person, third, "skip")
    offered = [c.face_id for c in review.candidates(store, person, max_distance=2.0)]
    assert first not in offered and second not in offered and offered[-1] == third  # skipped: last
    assert review.undo(store, person) == (third, "skip")
    assert review.candidates(store, person, max_distance=2.0)[0].face_id == third
    assert review.undo(store, person) == (second, "no")
    assert second in {c.face_id for c in review.candidates(store, person, max_distance=2.0)}
    assert state(second) == (None, [])
    assert review.undo(store, person) == (first, "yes")
    assert state(first) == blank
    assert review.candidates(store, person, max_distance=2.0)[0].face_id == first
    assert review.undo(store, person) is None


def test_faces_on_other_people_only_when_asked(lib: tuple[Store, dict[int, str], dict[int, np.ndarray]]) -> None:
    store, truth, _vectors = lib
    salley = faces_of(truth, "John_Salley")
    one = corrections.new_person(store, salley[:1])
    other = corrections.new_person(store, salley[1:3], name="Also Salley")  # two: it outlives the move
    plain = {c.face_id for c in review.candidates(store, one)}
    assert salley[1] not in plain
    merged = {c.face_id: c for c in review.candidates(store, one, include_assigned=True)}
    assert merged[salley[1]].person_id == other and merged[salley[1]].person_name == "Also Salley"
    review.answer(store, one, salley[1], "yes")  # moves it; undo puts it back on its person, pinned as before
    review.undo(store, one)
    assert store.read(lambda c: c.execute("SELECT person_id FROM faces WHERE id = ?", (salley[1],)).fetchone()) == (
        other,)
    assert store.read(lambda c: c.execute("SELECT kind, person_id FROM corrections WHERE face_id = ?",
                                          (salley[1],)).fetchall()) == [("assign", other)]
    with pytest.raises(ValueError):
        review.answer(store, one, salley[2], "maybe")


def test_the_review_commands(scanned: dict[str, object], tmp_path: Path) -> None:
    # The real CLI on a copy of the scanned library: list (table and --json), answer, undo, exit codes.
    root = tmp_path / "lib"
    shutil.copytree(Path(str(scanned["root"])), root)
    config = str(root / "config.toml")
    for command in (["review", "list"], ["review", "answer"], ["review", "undo"]):
        done = pictod(*command, "--help")
        assert done.returncode == 0 and "--config" in done.stdout
    with Store.open(root / "lib.db") as store:
        seed = store.read(lambda c: c.execute("SELECT min(id) FROM faces").fetchone()[0])
        person = corrections.new_person(store, [seed], name="Salley")
    listed = pictod("review", "list", str(person), "--config", config, "--json", "--limit", "3")
    assert listed.returncode == 0, listed.stderr
    items = json.loads(listed.stdout)
    assert len(items) == 3 and [i["distance"] for i in items] == sorted(i["distance"] for i in items)
    assert set(items[0]) == {"face_id", "photo_id", "distance", "rank", "person_id", "person_name", "skipped"}
    table = pictod("review", "list", str(person), "--config", config)
    assert table.returncode == 0 and "distance" in table.stdout and f"review answer {person}" in table.stdout
    face = items[0]["face_id"]
    done = pictod("review", "answer", str(person), str(face), "yes", "--config", config, "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"person_id": person, "face_id": face,
                                                                "answer": "yes"}
    after = json.loads(pictod("review", "list", str(person), "--config", config, "--json").stdout)
    assert face not in [i["face_id"] for i in after]
    undone = pictod("review", "undo", str(person), "--config", config, "--json")
    assert undone.returncode == 0 and json.loads(undone.stdout)["face_id"] == face
    assert pictod("review", "undo", str(person), "--config", config).returncode == 2  # nothing left
    assert pictod("review", "list", "999", "--config", config).returncode == 2  # no such person
    assert pictod("review", "answer", str(person), str(face), "maybe", "--config", config).returncode == 2
    assert pictod("review", "list", str(person), "--max-distance", "3", "--config", config).returncode == 2


def test_candidates_see_changes_made_elsewhere(lib: tuple[Store, dict[int, str], dict[int, np.ndarray]],
                                               tmp_path: Path) -> None:
    # The review keeps the faces in its process between questions: a change another process makes (the daemon,
    # the CLI: here a second Store on the same file) is seen at the next question.
    store, truth, _vectors = lib
    salley = faces_of(truth, "John_Salley")
    person = corrections.new_person(store, salley[:1])
    offered = [c.face_id for c in review.candidates(store, person)]
    assert salley[1] in offered
    db = Path(store.read(lambda c: c.execute("PRAGMA database_list").fetchone()[2]))
    with Store.open(db) as other:
        corrections.new_person(other, [salley[1]], name="someone else")  # taken by another process
        corrections.move_face(other, salley[2], person)  # and one more exemplar given there
    again = [c.face_id for c in review.candidates(store, person)]
    assert salley[1] not in again and salley[2] not in again
    assert salley[1] in [c.face_id for c in review.candidates(store, person, include_assigned=True)]
    with Store.open(db) as other:  # a photo removed elsewhere: its face is gone from the review
        photo = other.read(lambda c: c.execute("SELECT photo_id FROM faces WHERE id = ?", (salley[3],)).fetchone()[0])
        other.write(lambda c: faces_sql.drop_photos(c, [photo]))
    assert salley[3] not in [c.face_id for c in review.candidates(store, person, max_distance=2.0)]
