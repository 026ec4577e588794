"""The people manager on real SQLite files: invariants under random operation sequences, stable people,
corrections that survive reclusters, content identity, coalescing, the CLI support functions."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from people_synth import analysis, content_hash, face_vectors, identities
from pictod_testdata import JOHNS
from structlog.testing import capture_logs

from daemon.config import ClusteringConfig
from daemon.errors import NotFoundError
from daemon.library import corrections as C
from daemon.library import reads as L
from daemon.library.photos import PhotoFilter, search_photos
from daemon.library.sheet import write_contact_sheet
from daemon.people import manager as P
from daemon.people.manager import PeopleManager, clusters
from daemon.store import Store, missing
from daemon.store import base as B
from daemon.store import faces as F
from daemon.store import queries as q
from daemon.store.rows import RemoveResult

CFG = ClusteringConfig()


def photo_of(store: Store, content: str) -> int | None:
    """The analysed photo with these bytes (the store's one hash lookup, read directly)."""
    return store.read(lambda c: q.photo_id_for_hash(c, content))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store.open(tmp_path / "library.db")
    yield s
    s.close()


def _add(store: Store, manager: PeopleManager, path: str, embeddings: np.ndarray | list, tags: tuple[str, ...] = (),
         key: object = None) -> list[int]:
    result = store.record_analysis(path, 1, 1, content_hash(key if key is not None else path),
                                   analysis(embeddings, tags))
    manager.on_photo_added(result)
    if manager.recluster_due():
        manager.recluster()
    return list(result.face_ids)


def _remove_for_good(store: Store, path: str) -> RemoveResult:
    """A file gone and its photo purged at once (issue 22 keeps it missing for a grace period first)."""
    gone = store.remove(path)
    return store.write(lambda c: missing.purge(c, gone.photos_missing))


def _all_people(store: Store) -> dict[int, str | None]:
    return dict(store.read(lambda c: c.execute("SELECT id, name FROM people").fetchall()))


def _face_person(store: Store) -> dict[int, int | None]:
    return dict(store.read(lambda c: c.execute("SELECT id, person_id FROM faces").fetchall()))


def check_invariants(store: Store) -> None:
    """Everything the issue lists as 'Done when', read straight from the database."""
    def read(c):  # type: ignore[no-untyped-def]
        return (c.execute("SELECT id, photo_id, person_id, embedding FROM faces").fetchall(),
                c.execute("SELECT id, name, mean, face_count, photo_count FROM people").fetchall(),
                c.execute("SELECT kind, face_id, person_id FROM corrections WHERE kind IN ('assign', 'reject')")
                .fetchall(),
                c.execute("SELECT id FROM photos WHERE missing_since IS NULL AND id NOT IN (SELECT photo_id "
                          "FROM files WHERE photo_id IS NOT NULL)").fetchall(),
                c.execute("PRAGMA foreign_key_check").fetchall())
    faces, people, corrections, orphan_photos, fk = store.read(read)
    assert fk == []
    assert orphan_photos == []  # a photo with no file is missing (issue 22), nothing else keeps one
    members: dict[int, list[tuple[int, np.ndarray]]] = {}
    for _fid, photo, person, emb in faces:
        if person is not None:
            members.setdefault(person, []).append((photo, B.vec(emb)))
    ids = {p[0] for p in people}
    assert set(members) <= ids, "a face refers to a missing person"
    for pid, _name, mean, face_count, photo_count in people:
        got = members.get(pid, [])
        assert got, f"person {pid} has no face and was not pruned"
        photos = [m[0] for m in got]
        assert len(photos) == len(set(photos)), f"person {pid} has two faces of one photo"
        assert (face_count, photo_count) == (len(got), len(set(photos)))
        np.testing.assert_allclose(B.vec(mean), np.mean([m[1] for m in got], axis=0), atol=1e-5)
    person_of = {f[0]: f[2] for f in faces}
    for kind, face_id, person_id in corrections:
        if kind == "assign":
            assert person_of[face_id] == person_id, f"pin of face {face_id} to {person_id} lost"
        else:
            assert person_of[face_id] != person_id, f"face {face_id} is back on rejected person {person_id}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold_under_random_operations(store: Store, seed: int) -> None:
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    centres = identities(12, seed=seed)
    manager = PeopleManager(store, CFG)
    files: list[str] = []
    names: dict[int, str] = {}
    serial = 0
    for step in range(300):
        op = rnd.choices(["add", "copy", "remove", "rmdir", "move", "recluster", "name", "merge", "pin", "reject"],
                         weights=[10, 1.5, 2.5, 0.3, 1, 1.5, 1, 0.5, 1, 1])[0]
        people = [p.id for p in L.list_people(store)]
        face_map = _face_person(store)
        if op == "add" or not files:
            serial += 1
            who = rng.choice(len(centres), size=int(rng.integers(0, 4)), replace=False)
            path = f"/lib/d{serial % 4}/photo {serial}.jpg"
            _add(store, manager, path, face_vectors(centres, who, rng), tags=("person",) * (len(who) > 0))
            files.append(path)
        elif op == "copy":
            src = rnd.choice(files)
            photo = store.get_file(src).photo_id
            sha = store.read(lambda c, p=photo: c.execute("SELECT content_hash FROM photos WHERE id = ?",
                                                          (p,)).fetchone()[0])
            dest = f"/lib/copies/{step}.jpg"
            result = store.link_or_mark_pending(dest, 1, 1, sha)
            assert result is not None and not result.created
            assert manager.on_photo_added(result) == []
            files.append(dest)
        elif op == "remove":
            path = files.pop(rnd.randrange(len(files)))
            manager.on_removed(store.remove(path))
        elif op == "rmdir":
            d = f"/lib/d{rnd.randrange(4)}"
            result = store.remove(d)
            files = [f for f in files if not f.startswith(d + "/")]
            manager.on_removed(result)
        elif op == "move":
            src = files.pop(rnd.randrange(len(files)))
            dest = f"/lib/moved/{step}.jpg"
            assert store.move(src, dest) == 1
            files.append(dest)
        elif op == "recluster":
            before = {pid: n for pid, n in names.items()}
            manager.recluster(full=rnd.random() < 0.3)
            for pid, name in before.items():
                # a recluster never drops or renames a named person that has faces
                assert _all_people(store).get(pid, "gone") == name
        elif op == "name" and people:
            pid = rnd.choice(people)
            names[pid] = f"Person {step}"
            C.name_person(store, pid, names[pid])
        elif op == "merge" and len(people) >= 2:
            keep, other = rnd.sample(people, 2)
            merged = C.merge_people(store, keep, other)
            if keep not in names and other in names:
                names[keep] = names[other]
            names.pop(other, None)
            assert merged.name == names.get(keep)
        elif op == "pin" and people and face_map:
            C.move_face(store, rnd.choice(sorted(face_map)), rnd.choice(people))
        elif op == "reject":
            assigned = sorted(f for f, p in face_map.items() if p is not None)
            if assigned:
                C.reject_face(store, rnd.choice(assigned))
        # Named people disappear only by merge or when their last face went (a person whose photos are all
        # missing is out of the list but kept, name and all: issue 22).
        alive = _all_people(store)
        names = {pid: name for pid, name in names.items() if pid in alive}
        for pid, name in names.items():
            assert alive[pid] == name
        if step % 10 == 0:
            check_invariants(store)
    manager.recluster()
    check_invariants(store)
    # The incremental index equals a from-scratch DBSCAN: a full recluster now changes nothing.
    assert manager.recluster(full=True).changed_faces == 0
    assert manager.recluster().changed_faces == 0
    check_invariants(store)


def test_streamed_people_match_identities_and_ids_are_stable(store: Store) -> None:
    rng = np.random.default_rng(5)
    centres = identities(20, seed=5)
    manager = PeopleManager(store, CFG)
    truth: dict[int, int] = {}
    for i in range(150):
        who = rng.choice(20, size=int(rng.integers(1, 3)), replace=False)
        for fid, w in zip(_add(store, manager, f"/p/{i}.jpg", face_vectors(centres, who, rng)), who, strict=True):
            truth[fid] = int(w)
    manager.recluster()
    before = _face_person(store)
    groups: dict[int, set[int]] = {}
    for fid, person in before.items():
        assert person is not None
        groups.setdefault(person, set()).add(truth[fid])
    assert len(groups) == 20 and all(len(g) == 1 for g in groups.values())
    result = manager.recluster(full=True)
    assert result.changed_faces == 0 and result.new_people == 0
    assert _face_person(store) == before


def test_copy_and_rename_reuse_analysis_and_keep_people(store: Store) -> None:
    centres = identities(2, seed=8)
    rng = np.random.default_rng(8)
    manager = PeopleManager(store, CFG)
    for i in range(6):
        _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([0]), rng))
    manager.recluster()
    faces = _face_person(store)
    person = faces[min(faces)]
    assert person is not None
    src = "/p/0.jpg"
    sha = content_hash(src)
    photos_before = store.status_counts().photos
    # Copy: the daemon looks the hash up first and links; no new photo, no new face.
    assert photo_of(store, sha) is not None
    linked = store.link_or_mark_pending("/elsewhere/copy.jpg", 1, 1, sha)
    assert linked is not None and not linked.created and linked.new_faces == ()
    assert manager.on_photo_added(linked) == []
    assert store.status_counts().photos == photos_before
    # Rename, then remove the original: the photo and its face's person survive.
    store.move(src, "/p/renamed.jpg")
    manager.on_removed(_remove_for_good(store, "/p/renamed.jpg"))
    assert store.status_counts().photos == photos_before
    assert _face_person(store)[min(faces)] == person
    manager.recluster(full=True)
    assert _face_person(store)[min(faces)] == person
    check_invariants(store)


def test_corrections_survive_reclusters(store: Store) -> None:
    centres = identities(4, seed=11)
    rng = np.random.default_rng(11)
    manager = PeopleManager(store, CFG)
    by_id: dict[int, list[int]] = {i: [] for i in range(4)}
    for i in range(40):
        w = i % 4
        by_id[w] += _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([w]), rng))
    manager.recluster()
    faces = _face_person(store)
    a, b, c, d = (faces[by_id[i][0]] for i in range(4))
    assert len({a, b, c, d}) == 4
    C.name_person(store, a, "Ada")
    C.merge_people(store, c, d)  # the user says identities 2 and 3 are one person
    moved = by_id[1][0]
    C.move_face(store, moved, a)  # a face of identity 1 pinned to Ada
    rejected = by_id[0][1]
    C.reject_face(store, rejected)  # "not Ada"
    for i in range(40, 60):
        w = i % 4
        by_id[w] += _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([w]), rng))
    for full in (False, True):
        manager.recluster(full=full)
        faces = _face_person(store)
        assert faces[moved] == a
        assert faces[rejected] != a
        assert L.person_detail(store, a).name == "Ada"
        merged = {faces[f] for f in by_id[2] + by_id[3]}
        assert merged == {c}, "merged people split again"
        assert {faces[f] for f in by_id[0] if f != rejected} == {a}
        check_invariants(store)


def test_two_named_people_are_never_merged_by_a_bridge(store: Store) -> None:
    centres = identities(2, seed=21)
    rng = np.random.default_rng(21)
    manager = PeopleManager(store, CFG)
    first = [_add(store, manager, f"/a/{i}.jpg", face_vectors(centres, np.array([0]), rng))[0] for i in range(5)]
    second = [_add(store, manager, f"/b/{i}.jpg", face_vectors(centres, np.array([1]), rng))[0] for i in range(5)]
    manager.recluster()
    faces = _face_person(store)
    pa, pb = faces[first[0]], faces[second[0]]
    C.name_person(store, pa, "A")
    C.name_person(store, pb, "B")
    # Faces on the line between the two identities chain them into one DBSCAN cluster.
    for i, t in enumerate(np.linspace(0.1, 0.9, 25)):
        v = (1 - t) * centres[0] + t * centres[1]
        _add(store, manager, f"/bridge/{i}.jpg", [v / np.linalg.norm(v)])
    result = manager.recluster()
    assert result.clusters == 1
    faces = _face_person(store)
    assert {faces[f] for f in first} == {pa} and {faces[f] for f in second} == {pb}
    assert {p.name for p in L.list_people(store)} == {"A", "B"}
    check_invariants(store)


def test_removal_updates_means_and_prunes_empty_people(store: Store) -> None:
    centres = identities(2, seed=3)
    rng = np.random.default_rng(3)
    manager = PeopleManager(store, CFG)
    for i in range(4):
        _add(store, manager, f"/x/{i}.jpg", face_vectors(centres, np.array([0]), rng))
        _add(store, manager, f"/y/{i}.jpg", face_vectors(centres, np.array([1]), rng))
    manager.recluster()
    assert len(L.list_people(store)) == 2
    manager.on_removed(store.remove("/x/0.jpg"))
    check_invariants(store)
    gone = store.remove("/x")
    assert gone.files_removed == 3 and len(gone.photos_missing) == 3 and len(L.list_people(store)) == 1
    # Issue 22: missing first, deleted by a purge (here all the missing photos, /x/0.jpg's too).
    result = store.write(lambda c: missing.purge(c, [p.id for p in missing.missing_photos(c)]))
    assert len(result.people_pruned) == 1
    manager.on_removed(result)
    check_invariants(store)
    assert len(L.list_people(store)) == 1
    after = manager.recluster()
    assert after.changed_faces == 0
    assert not after.full  # deletions were applied to the index in place, no rebuild


def test_concurrent_recluster_calls_are_coalesced(store: Store) -> None:
    manager = PeopleManager(store, CFG)
    centres = identities(3)
    rng = np.random.default_rng(0)
    for i in range(10):
        _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([i % 3]), rng))
    runs = manager.runs
    manager._recluster_lock.acquire()  # a recluster "running"
    threads = [threading.Thread(target=manager.recluster) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while manager._requested < 4 + runs and time.monotonic() < deadline:  # all four are waiting
        time.sleep(0.01)
    manager._recluster_lock.release()
    for t in threads:
        t.join()
    assert manager.runs == runs + 1


def test_adds_during_a_recluster_stay_consistent(store: Store) -> None:
    centres = identities(10, seed=4)
    rng = np.random.default_rng(4)
    manager = PeopleManager(store, CFG)
    for i in range(100):
        _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([i % 10]), rng))
    stop = threading.Event()
    errors: list[BaseException] = []

    def recluster_loop() -> None:
        try:
            while not stop.is_set():
                manager.recluster(full=True)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=recluster_loop)
    thread.start()
    local = np.random.default_rng(9)
    for i in range(100, 160):
        result = store.record_analysis(f"/p/{i}.jpg", 1, 1, content_hash(i), analysis(
            face_vectors(centres, np.array([i % 10]), local)))
        manager.on_photo_added(result)
        if i % 7 == 0:
            manager.on_removed(_remove_for_good(store, f"/p/{i - 50}.jpg"))
    stop.set()
    thread.join()
    assert not errors
    manager.recluster()
    check_invariants(store)
    assert len(L.list_people(store)) == 10


def test_cli_support_functions(store: Store) -> None:
    centres = identities(2, seed=6)
    rng = np.random.default_rng(6)
    manager = PeopleManager(store, CFG)
    for i in range(4):
        _add(store, manager, f"/p/a{i}.jpg", face_vectors(centres, np.array([0]), rng), tags=("dog",))
        _add(store, manager, f"/p/b{i}.jpg", face_vectors(centres, np.array([1]), rng), tags=("cat", "dog"))
    manager.recluster()
    listed = L.list_people(store)
    assert [(p.faces, p.photos) for p in listed] == [(4, 4), (4, 4)]
    detail = L.person_detail(store, listed[0].id)
    assert len(detail.face_list) == 4 and all(f.path and f.path.startswith("/p/") for f in detail.face_list)
    C.name_person(store, listed[0].id, "  Grace   Hopper ")
    assert L.person_detail(store, listed[0].id).name == "Grace Hopper"
    def paths(**query: Any) -> list[str]:
        return [p for hit in search_photos(store, PhotoFilter(**query)) for p in hit.paths]

    assert paths(people=("Grace Hopper",)) == sorted(f.path for f in detail.face_list)
    assert len(paths(tags=("dog",))) == 8
    assert len(paths(tags=("cat",), people=(listed[1].id,))) == 4
    assert paths(tags=("cat",), people=(listed[0].id,)) == []
    assert L.tag_counts(store) == {"dog": 8, "cat": 4}
    status = store.status_counts()
    assert (status.people, status.faces, status.faces_unassigned, status.photos_since_recluster) == (2, 8, 0, 0)
    assert status.last_recluster is not None
    again = P.recluster_now(store, CFG)  # `pictod recluster`: a fresh manager, full DBSCAN from the database
    assert again.full and again.changed_faces == 0 and again.people == 2
    for call in (lambda: L.person_detail(store, 999), lambda: C.name_person(store, 999, "x"),
                 lambda: C.merge_people(store, listed[0].id, 999), lambda: C.move_face(store, 999, listed[0].id),
                 lambda: C.reject_face(store, 999), lambda: paths(people=("Nobody",))):
        with pytest.raises(NotFoundError):
            call()


def test_contact_sheet_from_real_face_crops(store: Store, tmp_path: Path) -> None:
    crops = sorted((JOHNS / "John_Simm").glob("*.jpg"))[:5]
    assert len(crops) == 5
    centre = identities(1, seed=2)
    rng = np.random.default_rng(2)
    manager = PeopleManager(store, CFG)
    for i, crop in enumerate(crops):
        photo = tmp_path / "photos" / f"{i}.jpg"
        photo.parent.mkdir(exist_ok=True)
        shutil.copy(crop, photo)
        h, w = cv2.imread(str(photo)).shape[:2]
        an = analysis(face_vectors(centre, np.array([0]), rng))
        face = an.faces[0]
        an = type(an)(meta=an.meta, faces=(type(face)(box=(w * 0.2, h * 0.2, w * 0.8, h * 0.8), score=face.score,
                                                      landmarks=face.landmarks, embedding=face.embedding),))
        manager.on_photo_added(store.record_analysis(str(photo), 1, 1, content_hash(i), an))
    manager.recluster()
    person = L.list_people(store)[0].id
    out = tmp_path / "sheet.png"
    assert len(write_contact_sheet(store, person, out, size=64, columns=4)) == 5
    sheet = cv2.imread(str(out))
    assert sheet.shape == (128, 256, 3)
    assert sheet[:64, :64].std() > 10  # a real crop, not a blank tile
    (tmp_path / "photos" / "0.jpg").unlink()
    assert len(write_contact_sheet(store, person, out, size=64, columns=4)) == 4
    with pytest.raises(NotFoundError):
        write_contact_sheet(store, 12345, out)


def _people_state_vs_full_recompute(store: Store) -> None:
    """Each person's stored sum, mean and counts equal a recompute from all its faces."""
    def read(c):  # type: ignore[no-untyped-def]
        return (c.execute("SELECT photo_id, person_id, embedding FROM faces WHERE person_id IS NOT NULL").fetchall(),
                c.execute("SELECT id, mean, embedding_sum, face_count, photo_count FROM people").fetchall())
    faces, people = store.read(read)
    members: dict[int, list[tuple[int, np.ndarray]]] = {}
    for photo, person, emb in faces:
        members.setdefault(person, []).append((photo, B.vec(emb)))
    assert {p[0] for p in people} == set(members)
    for pid, mean, total, face_count, photo_count in people:
        got = members[pid]
        full = np.stack([m[1] for m in got]).astype(np.float64)
        assert (face_count, photo_count) == (len(got), len({m[0] for m in got}))
        if total is not None:  # NULL only for a person not touched since the upgrade
            np.testing.assert_allclose(F.sum_of(total), full.sum(axis=0), rtol=0, atol=1e-9)
        np.testing.assert_allclose(B.vec(mean), full.mean(axis=0).astype(np.float32), rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [4, 5])
def test_incremental_people_sums_equal_a_full_recompute(store: Store, seed: int) -> None:
    rnd = random.Random(seed)
    rng = np.random.default_rng(seed)
    centres = identities(8, seed=seed)
    manager = PeopleManager(store, CFG)
    files: list[str] = []
    for step in range(220):
        op = rnd.choices(["add", "remove", "merge", "move", "reject", "recluster", "forget_sum"],
                         weights=[10, 3, 0.7, 1.5, 1, 1, 0.5])[0]
        people = [p.id for p in L.list_people(store)]
        faces = _face_person(store)
        if op == "add" or not files:
            who = rng.choice(len(centres), size=int(rng.integers(1, 4)), replace=False)
            path = f"/s/{step}.jpg"
            _add(store, manager, path, face_vectors(centres, who, rng))
            files.append(path)
        elif op == "remove":
            manager.on_removed(_remove_for_good(store, files.pop(rnd.randrange(len(files)))))
        elif op == "merge" and len(people) >= 2:
            C.merge_people(store, *rnd.sample(people, 2))
        elif op == "move" and people and faces:
            C.move_face(store, rnd.choice(sorted(faces)), rnd.choice(people))
        elif op == "reject":
            assigned = sorted(f for f, p in faces.items() if p is not None)
            if assigned:
                C.reject_face(store, rnd.choice(assigned))
        elif op == "recluster":
            manager.recluster(full=rnd.random() < 0.3)
        elif op == "forget_sum" and people:
            # A library upgraded from schema v2: the sum is unknown until the person is next touched.
            chosen = rnd.choice(people)
            store.write(lambda c, p=chosen: c.execute("UPDATE people SET embedding_sum = NULL WHERE id = ?", (p,)))
        _people_state_vs_full_recompute(store)
    check_invariants(store)


def test_placing_a_face_does_not_reread_the_persons_faces(store: Store) -> None:
    centres = identities(2, seed=12)
    rng = np.random.default_rng(12)
    manager = PeopleManager(store, CFG)
    for i in range(60):
        _add(store, manager, f"/big/{i}.jpg", face_vectors(centres, np.array([0]), rng))
    manager.recluster()
    person = L.list_people(store)[0]
    assert person.faces == 60
    statements: list[str] = []
    store.write(lambda c: c.set_trace_callback(statements.append))
    try:
        result = store.record_analysis("/big/new.jpg", 1, 1, content_hash("new"),
                                       analysis(face_vectors(centres, np.array([0]), rng)))
        statements.clear()
        assert manager.on_photo_added(result) == [(result.face_ids[0], person.id)]
    finally:
        store.write(lambda c: c.set_trace_callback(None))
    # The person's other 60 faces are not read again: only the placed face and the person's row.
    assert not [s for s in statements if "FROM faces WHERE person_id" in s], statements
    # 16: one O(1) statement marks the photo's sidecar dirty when the face joins a named person (issue 13).
    assert len(statements) <= 16, statements
    _people_state_vs_full_recompute(store)


def test_writes_are_not_blocked_while_a_full_recluster_computes(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The DBSCAN of a full recluster runs on a snapshot outside the write transaction: a photo recorded and
    placed, a removal and a correction made meanwhile all commit at once, and none of them is lost."""
    centres = identities(4, seed=13)
    rng = np.random.default_rng(13)
    manager = PeopleManager(store, CFG)
    for i in range(24):
        _add(store, manager, f"/r/{i}.jpg", face_vectors(centres, np.array([i % 4]), rng))
    manager.recluster()
    before = _face_person(store)
    person0 = before[min(before)]
    started, release = threading.Event(), threading.Event()
    build = clusters.DensityIndex.build

    def held_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        started.set()
        assert release.wait(60)
        return build(*args, **kwargs)

    monkeypatch.setattr(clusters.DensityIndex, "build", held_build)
    outcome: list[object] = []
    recluster = threading.Thread(target=lambda: outcome.append(manager.recluster(full=True)))
    recluster.start()
    assert started.wait(30)
    placed: list[tuple[int, int | None]] = []

    def writes() -> None:
        result = store.record_analysis("/r/new.jpg", 1, 1, content_hash("new"),
                                       analysis(face_vectors(centres, np.array([0]), rng)))
        placed.extend(manager.on_photo_added(result))
        gone = store.remove("/r/1.jpg")  # missing, then purged (issue 22): its face goes meanwhile
        manager.on_removed(store.write(lambda c: missing.purge(c, gone.photos_missing)))
        C.name_person(store, person0, "Ada")

    writer = threading.Thread(target=writes)
    writer.start()
    writer.join(20)
    done_while_computing = not writer.is_alive() and not release.is_set()
    release.set()
    writer.join()
    recluster.join()
    assert done_while_computing, "a write waited for the recluster's computation"
    assert len(outcome) == 1 and placed and placed[0][1] == person0
    faces = _face_person(store)
    assert faces[placed[0][0]] == person0  # the photo recorded meanwhile kept its person
    assert len(faces) == len(before)  # one face in, one face out
    assert L.person_detail(store, person0).name == "Ada"
    check_invariants(store)
    monkeypatch.setattr(clusters.DensityIndex, "build", build)
    # The outcome equals a recluster done afterwards, by this manager and by a fresh one.
    assert manager.recluster(full=True).changed_faces == 0
    assert P.recluster_now(store, CFG).changed_faces == 0
    assert _face_person(store) == faces


def _indexed_alive(manager: PeopleManager) -> set[int]:
    assert manager._index is not None
    return {int(i) for i in manager._ids[manager._index.alive]}


def test_a_recluster_after_a_reported_delete_does_not_reread_every_face_id(store: Store) -> None:
    """Issue 10: on_removed only logged, so every recluster after a delete listed every face id again."""
    centres = identities(3, seed=21)
    rng = np.random.default_rng(21)
    manager = PeopleManager(store, CFG)
    for i in range(30):
        _add(store, manager, f"/d/{i}.jpg", face_vectors(centres, np.array([i % 3]), rng))
    manager.recluster()
    removed = _remove_for_good(store, "/d/4.jpg")
    assert removed.face_ids and removed.removed_rev > 0
    manager.on_removed(removed)
    assert not set(removed.face_ids) & _indexed_alive(manager)  # forgotten at once: no recluster was running
    statements: list[str] = []
    for run in (store.write, store.read):  # the writer's connection and this thread's reader
        run(lambda c: c.set_trace_callback(statements.append))
    try:
        result = manager.recluster()
    finally:
        for run in (store.write, store.read):
            run(lambda c: c.set_trace_callback(None))
    assert not result.full and result.changed_faces == 0
    assert statements and not [s for s in statements if s.startswith("SELECT id FROM faces")], statements
    # A removal nobody reports (a file moved over another drops the photo silently) is still caught, once.
    store.move("/d/5.jpg", "/d/6.jpg")
    manager.recluster()
    assert _indexed_alive(manager) == set(_face_person(store))
    check_invariants(store)
    assert manager.recluster(full=True).changed_faces == 0


def test_the_recluster_counter_is_one_row_that_survives_a_restart(store: Store) -> None:
    centres = identities(2, seed=22)
    rng = np.random.default_rng(22)
    cfg = ClusteringConfig(recluster_every=5)
    manager = PeopleManager(store, cfg)
    for i in range(3):
        result = store.record_analysis(f"/c/{i}.jpg", 1, 1, content_hash(("c", i)),
                                       analysis(face_vectors(centres, np.array([i % 2]), rng)))
        manager.on_photo_added(result)
    copy = store.link_or_mark_pending("/c/copy.jpg", 1, 1, content_hash(("c", 0)))
    assert copy is not None
    manager.on_photo_added(copy)  # a copy is no new photo
    assert manager.added_since_recluster() == 3 == store.status_counts().photos_since_recluster
    assert not manager.recluster_due()
    again = PeopleManager(store, cfg)  # a restarted daemon carries on counting
    for i in range(3, 5):
        again.on_photo_added(store.record_analysis(f"/c/{i}.jpg", 1, 1, content_hash(("c", i)),
                                                   analysis(face_vectors(centres, np.array([0]), rng))))
    assert again.recluster_due() and again.added_since_recluster() == 5
    again.recluster()
    assert again.added_since_recluster() == 0 == store.status_counts().photos_since_recluster
    assert not manager.recluster_due()  # the other manager reads the same row


def test_concurrent_adds_removes_and_reclusters_without_a_caller_lock(store: Store) -> None:
    """Issue 10: the service serialised on_photo_added/on_removed with its own lock; the manager is safe alone."""
    centres = identities(6, seed=23)
    manager = PeopleManager(store, CFG)
    for i in range(30):
        _add(store, manager, f"/s/{i}.jpg", face_vectors(centres, np.array([i % 6]), np.random.default_rng(i)))
    manager.recluster()
    stop = threading.Event()
    errors: list[BaseException] = []

    def guard(fn):  # type: ignore[no-untyped-def]
        def run() -> None:
            try:
                fn()
            except BaseException as exc:
                errors.append(exc)
        return run

    def adder(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        for i in range(25):
            path = f"/t{k}/{i}.jpg"
            manager.on_photo_added(store.record_analysis(path, 1, 1, content_hash(path), analysis(
                face_vectors(centres, np.array([i % 6]), rng))))
            if i % 3 == 2:
                manager.on_removed(_remove_for_good(store, f"/t{k}/{i - 1}.jpg"))

    def reclusterer() -> None:
        while not stop.is_set():
            manager.recluster(full=manager.runs % 3 == 0)

    workers = [threading.Thread(target=guard(lambda k=k: adder(k))) for k in range(3)]
    background = threading.Thread(target=guard(reclusterer))
    background.start()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    stop.set()
    background.join()
    assert not errors
    manager.recluster()
    assert _indexed_alive(manager) == set(_face_person(store))
    check_invariants(store)
    _people_state_vs_full_recompute(store)
    assert manager.recluster(full=True).changed_faces == 0


def test_a_drifted_people_sum_is_repaired_by_a_full_recluster_with_a_warning(store: Store) -> None:
    centres = identities(2, seed=24)
    rng = np.random.default_rng(24)
    manager = PeopleManager(store, CFG)
    for i in range(12):
        _add(store, manager, f"/r/{i}.jpg", face_vectors(centres, np.array([i % 2]), rng))
    manager.recluster()
    person = L.list_people(store)[0]
    C.name_person(store, person.id, "Ada")

    def corrupt(c):  # type: ignore[no-untyped-def]
        raw = c.execute("SELECT embedding_sum FROM people WHERE id = ?", (person.id,)).fetchone()[0]
        bad = F.sum_of(raw).copy()
        bad[0] += 0.5
        c.execute("UPDATE people SET embedding_sum = ?, photo_count = photo_count + 1 WHERE id = ?",
                  (bad.tobytes(), person.id))
    store.write(corrupt)
    with capture_logs() as logs:
        manager.recluster()  # incremental: trusts the stored sums
    assert not [e for e in logs if e["event"] == "people_sum_repaired"]
    with capture_logs() as logs:
        manager.recluster(full=True)
    warnings = [e for e in logs if e["event"] == "people_sum_repaired"]
    assert [(e["person"], e["name"], e["log_level"]) for e in warnings] == [(person.id, "Ada", "warning")]
    _people_state_vs_full_recompute(store)
    check_invariants(store)
    with capture_logs() as logs:
        manager.recluster(full=True)
    assert not [e for e in logs if e["event"] == "people_sum_repaired"]


def test_a_new_face_joins_a_person_who_changed_by_its_nearest_faces(store: Store) -> None:
    # A person photographed along an arc of 1.4 rad: its mean is 0.38 from a new face at 1.6 rad, its three
    # nearest faces 0.05. Placed on arrival (before any recluster), not left unassigned.
    manager = PeopleManager(store, ClusteringConfig(eps=0.3, min_samples=2, recluster_every=1000))
    ts = [0.1 * i for i in range(15)] + [1.6]
    arc = np.zeros((16, 128), np.float32)
    arc[:, 0], arc[:, 1] = np.cos(ts), np.sin(ts)
    for i in range(15):
        _add(store, manager, f"/p/arc{i}.jpg", [arc[i]])
    manager.recluster()
    people = {p for p in _face_person(store).values()}
    assert len(people) == 1 and None not in people
    [face] = _add(store, manager, "/p/late.jpg", [arc[15]])
    assert _face_person(store)[face] == people.pop()
    mean = store.read(lambda c: F.means(c))[0][1]
    assert 1.0 - float((clusters.normalise(B.vec(mean)) @ arc[15])[0]) > 0.3  # the mean alone would not have
    check_invariants(store)


def test_placements_do_not_reload_the_assigned_faces(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = PeopleManager(store, ClusteringConfig(recluster_every=1000))
    centres = identities(2, seed=4)
    rng = np.random.default_rng(4)
    for i in range(6):
        _add(store, manager, f"/p/{i}.jpg", face_vectors(centres, np.array([i % 2]), rng))
    manager.recluster()
    loads = []
    real = F.assigned_faces
    monkeypatch.setattr(F, "assigned_faces", lambda *a, **k: loads.append(1) or real(*a, **k))
    placed = [_add(store, manager, f"/q/{i}.jpg", face_vectors(centres, np.array([i % 2]), rng))[0]
              for i in range(6)]
    assert all(_face_person(store)[f] is not None for f in placed)
    assert loads == []  # the recluster left the cache valid and each placement patched it
    C.name_person(store, int(_face_person(store)[placed[0]] or 0), "A")  # an outside change: reloaded once
    _add(store, manager, "/q/x.jpg", face_vectors(centres, np.array([0]), rng))
    assert loads == [1]


def _unit(distance: float, axis: int, dim: int = 128) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    v[0], v[axis] = 1.0 - distance, np.sqrt(1.0 - (1.0 - distance) ** 2)
    return v


def test_low_quality_faces_join_a_person_only_within_the_stricter_distance(store: Store) -> None:
    """Issue 11: a face below min_core_quality is placed (and kept by reclusters) only within low_quality_eps;
    a good face at the same distance, or a face without a score, joins as before."""
    import dataclasses

    from daemon.types import FaceQuality

    cfg = ClusteringConfig(recluster_every=100, assign_k=1, min_core_quality=0.1, low_quality_eps=0.25)
    manager = PeopleManager(store, cfg)

    def add(path: str, vector: np.ndarray, quality: float | None) -> int:
        face = analysis([vector]).faces[0]
        if quality is not None:
            face = dataclasses.replace(face, quality=FaceQuality(score=quality, size_px=30.0, sharpness=5.0,
                                                                 frontal=0.5))
        result = store.record_analysis(path, 1, 1, content_hash(path),
                                       dataclasses.replace(analysis([vector]), faces=(face,)))
        manager.on_photo_added(result)
        return result.face_ids[0]

    a, b = add("/a.jpg", _unit(0.0, 1), 0.9), add("/b.jpg", _unit(0.05, 1), 0.9)
    manager.recluster()
    owner = _face_person(store)[a]
    assert owner is not None and _face_person(store)[b] == owner
    far_low = add("/far-low.jpg", _unit(0.28, 2), 0.02)  # ~0.29 from the person: within eps, beyond 0.25
    near_low = add("/near-low.jpg", _unit(0.18, 3), 0.02)
    far_good = add("/far-good.jpg", _unit(0.28, 4), 0.8)
    far_unknown = add("/far-unknown.jpg", _unit(0.28, 5), None)  # no score (an old library): treated as good
    placed = _face_person(store)
    assert placed[far_low] is None
    assert placed[near_low] == placed[far_good] == placed[far_unknown] == owner
    assert store.read(lambda c: c.execute("SELECT quality FROM faces WHERE id = ?", (far_unknown,)).fetchone()) \
        == (None,)
    for full in (False, True):  # the incremental index and one built from the database agree
        manager.recluster(full=full)
        now = _face_person(store)
        assert now[far_low] is None, full
        assert now[near_low] == now[far_good] == now[far_unknown] == now[a] == owner, full
    check_invariants(store)


def _mix(*parts: tuple[int, float], dim: int = 128) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    for axis, weight in parts:
        v[axis] = weight
    return v / np.linalg.norm(v)


def test_a_face_dbscan_leaves_alone_joins_its_clearly_nearest_person(store: Store) -> None:
    """Issue 11: a face beyond eps but within attach_eps of one person, and not of another, joins that person
    when it arrives and at every recluster (incremental and full agree); one equally near two people stays
    alone; a rejection and attach_eps <= eps keep it out."""
    cfg = ClusteringConfig(recluster_every=100, assign_k=1, attach_eps=0.45, attach_margin=0.15)
    manager = PeopleManager(store, cfg)

    def add(path: str, vector: np.ndarray) -> int:
        result = store.record_analysis(path, 1, 1, content_hash(path), analysis([vector]))
        manager.on_photo_added(result)
        return result.face_ids[0]

    a = [add("/a1.jpg", _unit(0.0, 1)), add("/a2.jpg", _unit(0.05, 1))]
    c = [add("/c1.jpg", _mix((5, 1.0))), add("/c2.jpg", _mix((5, 1.0), (7, 0.3)))]  # 1.0 from A
    manager.recluster()
    people = _face_person(store)
    person_a, person_c = people[a[0]], people[c[0]]
    assert person_a is not None and person_c is not None and person_a != person_c
    lonely = add("/lonely.jpg", _unit(0.38, 3))  # 0.38 from A (beyond eps 0.3), ~1.0 from C
    torn = add("/torn.jpg", _mix((0, 1.0), (5, 1.0), (6, 0.9)))  # ~0.40 from both A and C
    assert 1.0 - float(np.dot(_unit(0.38, 3), _unit(0.05, 1))) > cfg.eps  # its nearer face of A, too
    placed = _face_person(store)
    assert placed[lonely] == person_a and placed[torn] is None
    for full in (False, True, False):
        manager.recluster(full=full)
        now = _face_person(store)
        assert now[lonely] == person_a and now[torn] is None, full
        add(f"/other-{full}.jpg", _mix((40, 1.0)))  # an unrelated photo: the next incremental run keeps it
    check_invariants(store)
    C.reject_suggestion(store, lonely, int(person_a))
    manager.recluster()
    assert _face_person(store)[lonely] is None  # never attached to a person the user rejected
    check_invariants(store)


def test_attaching_is_off_at_attach_eps_up_to_eps(tmp_path: Path) -> None:
    with Store.open(tmp_path / "lib.db") as store:
        manager = PeopleManager(store, ClusteringConfig(recluster_every=100, assign_k=1, attach_eps=0.3))
        ids = []
        for path, vector in (("/a1.jpg", _unit(0.0, 1)), ("/a2.jpg", _unit(0.05, 1)), ("/l.jpg", _unit(0.38, 3))):
            result = store.record_analysis(path, 1, 1, content_hash(path), analysis([vector]))
            manager.on_photo_added(result)
            ids.append(result.face_ids[0])
        for full in (False, True):
            manager.recluster(full=full)
            assert _face_person(store)[ids[2]] is None


def test_a_heavily_compressed_real_face_joins_its_person(tmp_path: Path) -> None:
    """Issue 11 on real photos: a johns crop saved at JPEG quality 20 lies 0.40 from its person's other crops
    (beyond eps 0.3: DBSCAN leaves it alone) and 0.7+ from everyone else; it joins its person by attach_eps,
    and not with attaching off. Nobody else's face joins it."""
    import io

    from pictod_testdata import REPO
    from PIL import Image

    from daemon import config
    from daemon.analysis.analyzer import Analyzer

    analyzer = Analyzer.from_config(config.load(REPO / "config.toml", check_folders=False), workers=1)
    target = JOHNS / "John_Schneider" / "000326_00926139.jpg"
    out = io.BytesIO()
    with Image.open(target) as im:
        im.convert("RGB").save(out, "JPEG", quality=20)
    photos = [(p.name, p.read_bytes(), "schneider") for p in sorted((JOHNS / "John_Schneider").glob("*.jpg"))
              if p != target]
    photos += [(p.name, p.read_bytes(), "salley") for p in sorted((JOHNS / "John_Salley").glob("*.jpg"))[:3]]
    photos.append(("q20.jpg", out.getvalue(), "schneider"))
    analysed = [(name, analyzer.analyze_header(analyzer.open_header(data, name)), who) for name, data, who in photos]
    outcome = {}
    for attach_eps in (0.3, ClusteringConfig().attach_eps):
        with Store.open(tmp_path / f"lib-{attach_eps}.db") as store:
            manager = PeopleManager(store, ClusteringConfig(recluster_every=5, attach_eps=attach_eps))
            truth = {}
            for name, result, who in analysed:
                added = store.record_analysis(f"/{name}", 1, 1, content_hash(name), result)
                truth[added.face_ids[0]] = (who, name)
                manager.on_photo_added(added)
                if manager.recluster_due():
                    manager.recluster()
            manager.recluster(full=True)
            people = _face_person(store)
            by_who = {w: {people[f] for f, (who, name) in truth.items() if who == w and name != "q20.jpg"}
                      for w in ("schneider", "salley")}
            assert all(len(v) == 1 and None not in v for v in by_who.values()), by_who
            assert by_who["schneider"] != by_who["salley"]
            q20 = next(f for f, (_w, name) in truth.items() if name == "q20.jpg")
            outcome[attach_eps] = people[q20], next(iter(by_who["schneider"]))
            check_invariants(store)
    assert outcome[0.3][0] is None  # the case is real: DBSCAN alone leaves it out
    joined, schneider = outcome[ClusteringConfig().attach_eps]
    assert joined == schneider


# ------------------------------------------------------------------------------------------- chunked reclusters


def _library_for_chunks(store: Store, manager: PeopleManager, seed: int) -> dict[int, list[int]]:
    """4 identities: 40 photos placed and reclustered (people a, b, c, d), then 200 photos recorded and not
    placed (their faces on nobody), so the next full recluster moves ~200 faces: many chunks of 20."""
    centres = identities(4, seed=seed)
    rng = np.random.default_rng(seed)
    by_id: dict[int, list[int]] = {i: [] for i in range(4)}
    for i in range(40):
        by_id[i % 4] += _add(store, manager, f"/k/{i}.jpg", face_vectors(centres, np.array([i % 4]), rng))
    manager.recluster(full=True)
    for i in range(40, 240):
        result = store.record_analysis(f"/k/{i}.jpg", 1, 1, content_hash(("k", seed, i)),
                                       analysis(face_vectors(centres, np.array([i % 4]), rng)))
        by_id[i % 4] += list(result.face_ids)
    manager.chunk_faces, manager.chunk_pause = 20, 0.0
    return by_id


def _recluster_between(manager: PeopleManager, other: Store,
                       between: Any) -> tuple[P.ReclusterResult, bool]:
    """A full recluster with `between` called between its chunks; (its result, whether it made its plan again).
    Closes `other`, the second connection `between` writes on."""
    manager.between_chunks = between
    try:
        with capture_logs() as logs:
            result = manager.recluster(full=True)
    finally:
        other.close()
        manager.between_chunks = None
    return result, any(e["event"] == "people_recluster_restarted" for e in logs)


def test_corrections_made_by_another_connection_between_chunks_survive(store: Store) -> None:
    """Issue 20: a recluster written in chunks gives the writer back between them; a user's name, merge, pin
    and "not this person" made then on another connection (as the CLI or the web app do) are neither lost nor
    undone: the chunk after them sees the correction and the mapping is made again from the library as it is."""
    manager = PeopleManager(store, CFG)
    by_id = _library_for_chunks(store, manager, seed=31)
    faces = _face_person(store)
    a, _b, c, d = (faces[by_id[i][0]] for i in range(4))
    pinned, rejected = by_id[1][-1], by_id[0][-1]  # unplaced faces of the last photos: the last chunk's
    other = Store.open(store.path)
    calls: list[int] = []

    def user() -> None:
        calls.append(1)
        if len(calls) == 1:
            assert _face_person(store)[rejected] is None  # the first chunk is in, the last not yet
            C.name_person(other, a, "Ada")
            C.merge_people(other, c, d)  # identities 2 and 3 are one person
            C.move_face(other, pinned, a)  # a face of identity 1 pinned to Ada
            C.reject_suggestion(other, rejected, a)  # a face of identity 0 on nobody: "not Ada"
        else:
            check_invariants(store)  # after every chunk: no pin undone, no rejection broken, no person emptied

    result, restarted = _recluster_between(manager, other, user)
    assert len(calls) > 3 and result.changed_faces > 150
    assert restarted
    faces = _face_person(store)
    assert L.person_detail(store, a).name == "Ada"
    assert faces[pinned] == a
    assert faces[rejected] != a
    assert {faces[f] for f in by_id[2] + by_id[3]} == {c}, "the merge was undone"
    assert {faces[f] for f in by_id[0] if f != rejected} == {a}
    assert len({faces[f] for f in by_id[1]}) == 1  # the pin's own cluster follows it: settle's rule, not ours
    check_invariants(store)
    assert manager.added_since_recluster() == 0
    assert manager.recluster(full=True).changed_faces == 0
    assert P.recluster_now(store, CFG).changed_faces == 0


def test_photos_deleted_by_another_connection_between_chunks(store: Store) -> None:
    """Issue 20: photos deleted between two chunks (by another process: nobody tells the manager) leave the
    index and the people consistent: a face the run already moved, one it had yet to move, a placed one."""
    manager = PeopleManager(store, CFG)
    by_id = _library_for_chunks(store, manager, seed=32)
    other = Store.open(store.path)
    gone: list[int] = []

    def delete() -> None:
        if gone:
            return
        faces = _face_person(store)
        moved = next(p for p in range(40, 240) if faces[by_id[p % 4][p // 4]] is not None)
        for photo in (moved, 239, 5):  # moved by the first chunk, in the last chunk, placed before the run
            removed = _remove_for_good(other, f"/k/{photo}.jpg")  # missing, then purged (issue 22)
            gone.extend(removed.face_ids)

    _result, restarted = _recluster_between(manager, other, delete)
    assert len(gone) == 3 and restarted
    faces = _face_person(store)
    assert not set(gone) & set(faces)
    assert _indexed_alive(manager) == set(faces), "the index kept faces deleted during the run"
    for w in range(4):
        assert len({faces[f] for f in by_id[w] if f in faces}) == 1
    check_invariants(store)
    assert manager.added_since_recluster() == 0
    assert manager.recluster(full=True).changed_faces == 0


def test_photos_recorded_between_chunks_stay_counted(store: Store) -> None:
    """The counter is taken down only by the photos the run clustered: one recorded between two chunks is
    placed, and left for the next recluster."""
    manager = PeopleManager(store, CFG)
    by_id = _library_for_chunks(store, manager, seed=33)
    centres = identities(4, seed=33)
    added: list[tuple[int, int | None]] = []

    def record() -> None:
        if not added:
            result = store.record_analysis("/k/new.jpg", 1, 1, content_hash("k-new"),
                                           analysis(face_vectors(centres, np.array([0]), np.random.default_rng(1))))
            added.extend(manager.on_photo_added(result))

    manager.between_chunks = record
    manager.recluster(full=True)
    assert added and added[0][1] == _face_person(store)[by_id[0][0]]  # placed on identity 0's person
    assert manager.added_since_recluster() == 1
    check_invariants(store)


def test_a_recluster_by_another_process_between_chunks_is_not_undone(store: Store) -> None:
    """`pictod recluster` (its own manager and connection, a config.toml edited since the daemon started: a far
    tighter eps) runs between two chunks of the daemon's recluster and empties the people the daemon's plan
    moves faces to. The later chunks leave those faces where the other run put them (no move to a person that
    is gone: a foreign-key failure would stop the daemon), the library stays consistent, and the next
    recluster puts the people right."""
    manager = PeopleManager(store, CFG)
    by_id = _library_for_chunks(store, manager, seed=35)
    other = Store.open(store.path)
    done: list[P.ReclusterResult] = []

    def recluster_elsewhere() -> None:
        if not done:
            done.append(P.recluster_now(other, ClusteringConfig(eps=0.05, attach_eps=0.05)))

    result, restarted = _recluster_between(manager, other, recluster_elsewhere)
    assert done and done[0].pruned_people >= 4 and not restarted
    assert result.changed_faces < 40  # the first chunk only: the others' people were gone
    check_invariants(store)
    manager.recluster(full=True)
    faces = _face_person(store)
    for w in range(4):
        assert len({faces[f] for f in by_id[w]}) == 1
    check_invariants(store)
    assert manager.recluster(full=True).changed_faces == 0


_KILL_AFTER_CHUNKS = """
import os, signal, sys
from pathlib import Path
from daemon.config import ClusteringConfig
from daemon.people.manager import PeopleManager
from daemon.store import Store

store = Store.open(Path(sys.argv[1]))
manager = PeopleManager(store, ClusteringConfig())
manager.chunk_faces, manager.chunk_pause = 20, 0.0
calls = []

def between():
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)

manager.between_chunks = between
manager.recluster(full=True)
"""


def _partition(store: Store) -> set[frozenset[int]]:
    people: dict[int, set[int]] = {}
    for face, person in _face_person(store).items():
        if person is not None:
            people.setdefault(person, set()).add(face)
    return {frozenset(f) for f in people.values()}


def test_a_recluster_killed_between_chunks_is_completed_by_the_next(tmp_path: Path) -> None:
    """Issue 20: a daemon killed (SIGKILL, a real process) between two chunks leaves a consistent library, its
    counter untouched; the next recluster completes it to the same people as a run never interrupted."""
    centres = identities(5, seed=34)
    rng = np.random.default_rng(34)
    path = tmp_path / "library.db"
    with Store.open(path) as store:
        for i in range(150):
            who = np.array([i % 5, (i + 2) % 5]) if i % 6 == 0 else np.array([i % 5])
            store.record_analysis(f"/kill/{i}.jpg", 1, 1, content_hash(("kill", i)),
                                  analysis(face_vectors(centres, who, rng)))
    shutil.copy(path, tmp_path / "copy.db")
    root = Path(__file__).resolve().parents[1]
    child = subprocess.run([sys.executable, "-c", _KILL_AFTER_CHUNKS, str(path)], cwd=root, capture_output=True,
                           text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(root)})
    assert child.returncode == -signal.SIGKILL, child.stderr
    with Store.open(path) as store:
        state = store.read(lambda c: (B.get_int(c, B.PHOTOS_SINCE_RECLUSTER), B.get_state(c, B.LAST_RECLUSTER)))
        assert state == (150, None)  # not recorded as done
        check_invariants(store)
        partial = _face_person(store)
        assert 0 < sum(p is not None for p in partial.values()) < len(partial) // 2
        P.recluster_now(store, CFG)
        check_invariants(store)
        completed = _partition(store)
        assert store.read(lambda c: B.get_int(c, B.PHOTOS_SINCE_RECLUSTER)) == 0
    with Store.open(tmp_path / "copy.db") as store:
        P.recluster_now(store, CFG)
        uninterrupted = _partition(store)
    assert len(uninterrupted) >= 4  # 5 identities; two may touch
    assert completed == uninterrupted
