"""The sidecar rule, enforced once where a face changes person (`faces.assign_faces`, renames and merges): every kind
of change marks dirty exactly the photos whose sidecar content changes, the named faces (face id, name) it shows;
no other photo. Real SQLite, the real corrections, people manager and XMP import."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from people_synth import analysis, content_hash, face_vectors, identities

from daemon.config import ClusteringConfig
from daemon.library import corrections as C
from daemon.metadata import FaceRegion, PhotoMetadata
from daemon.people import xmp_import
from daemon.people.manager import PeopleManager
from daemon.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "library.db") as s:
        yield s


def shown(store: Store) -> dict[int, frozenset[tuple[int, str]]]:
    """photo id -> the named faces its sidecar shows (what `sidecar_sync` writes)."""
    out: dict[int, set[tuple[int, str]]] = {}
    for photo, face, name in store.read(lambda c: c.execute(
            "SELECT f.photo_id, f.id, p.name FROM faces f JOIN people p ON p.id = f.person_id "
            "WHERE p.name IS NOT NULL").fetchall()):
        out.setdefault(int(photo), set()).add((int(face), str(name)))
    return {p: frozenset(v) for p, v in out.items()}


def dirty(store: Store) -> set[int]:
    return {int(r[0]) for r in store.read(lambda c: c.execute(
        "SELECT photo_id FROM photo_metadata WHERE dirty = 1").fetchall())}


def check(store: Store, change: Callable[[], object], expected: set[int]) -> None:
    """`change` marks exactly the photos whose shown names changed, and those are `expected`."""
    store.write(lambda c: c.execute("UPDATE photo_metadata SET dirty = 0"))
    before = shown(store)
    change()
    after = shown(store)
    changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
    assert changed == expected, "the change did not do what the test expects"
    assert dirty(store) == expected


def test_every_kind_of_change_marks_exactly_the_photos_it_changes(store: Store) -> None:
    centres = identities(4, seed=3)
    rng = np.random.default_rng(3)
    photo: dict[str, int] = {}
    face: dict[str, int] = {}

    def add(name: str, *who: int) -> None:
        vectors = face_vectors(centres, np.array(who), rng)
        result = store.record_analysis(f"/lib/{name}.jpg", 1, 1, content_hash(name), analysis(list(vectors)))
        photo[name] = result.photo_id
        for i, fid in enumerate(result.face_ids):
            face[name if len(who) == 1 else f"{name}{i}"] = fid

    for name in ("a1", "a2", "a3", "a4", "a5"):
        add(name, 0)
    for name in ("b1", "b2", "b3"):
        add(name, 1)
    add("c1", 2)
    add("ab", 0, 1)  # faces ab0 (A) and ab1 (B)
    for name in ("d1", "d2", "d3"):
        add(name, 3)

    ann = C.new_person(store, [face["a1"], face["a2"], face["a3"]])
    check(store, lambda: None, set())
    check(store, lambda: C.new_person(store, [face["d3"]]), set())  # an unnamed person shows no name
    check(store, lambda: C.name_person(store, ann, "Ann"), {photo["a1"], photo["a2"], photo["a3"]})
    check(store, lambda: C.name_person(store, ann, "Ann"), set())  # the same name again: nothing changes
    bob_box: list[int] = []
    check(store, lambda: bob_box.append(C.new_person(store, [face["b1"], face["b2"]], name="Bob")),
          {photo["b1"], photo["b2"]})
    bob = bob_box[0]
    check(store, lambda: C.move_face(store, face["ab0"], ann), {photo["ab"]})
    check(store, lambda: C.accept_suggestion(store, face["ab1"], bob), {photo["ab"]})
    carl = C.new_person(store, [face["c1"]])
    check(store, lambda: C.merge_people(store, bob, carl), {photo["c1"]})
    check(store, lambda: C.reject_face(store, face["a1"]), {photo["a1"]})
    check(store, lambda: C.reject_suggestion(store, face["b3"], bob), set())  # on nobody before and after
    check(store, lambda: C.reject_suggestion(store, face["b2"], bob), {photo["b2"]})
    check(store, lambda: C.new_person(store, [face["a2"]]), {photo["a2"]})  # leaves Ann for an unnamed person
    # Merging named Ann into an unnamed person: it takes the name, so only the faces that were unnamed change.
    other = C.new_person(store, [face["a4"]])
    check(store, lambda: C.merge_people(store, other, ann), {photo["a4"]})
    ann = other

    # A recluster: the lonely A face of a5 joins Ann (and nothing else named changes, whatever DBSCAN does).
    manager = PeopleManager(store, ClusteringConfig())
    check(store, lambda: manager.recluster(full=True), {photo["a5"]})
    # A new photo's face placed on its nearest person (every A person named first: wherever it goes, it shows a name).
    for person in {store.photo_faces(photo[n])[0].person_id for n in ("a1", "a2")} - {ann, None}:
        on = {photo[n] for n in ("a1", "a2") if store.photo_faces(photo[n])[0].person_id == person}
        check(store, lambda p=person: C.name_person(store, p, f"Al {p}"), on)  # type: ignore[misc]
    vectors = face_vectors(centres, np.array([0]), rng)
    new = store.record_analysis("/lib/a6.jpg", 1, 1, content_hash("a6"), analysis(list(vectors)))
    check(store, lambda: manager.on_photo_added(new), {new.photo_id})

    # XMP import of a changed sidecar: a region naming d1's face pins it to a new person "Dee".
    box = store.photo_faces(photo["d1"])[0].box
    meta = PhotoMetadata(width=640, height=480, orientation=1,
                         regions=(FaceRegion("Dee", box, "d1.jpg.xmp", True, "mwg"),))
    plan = xmp_import.plan_import(meta, store.photo_faces(photo["d1"]), {}, reimport=True)
    check(store, lambda: store.import_metadata(photo["d1"], plan), {photo["d1"]})
    # The same import again changes nothing: nothing marked.
    plan = xmp_import.plan_import(meta, store.photo_faces(photo["d1"]), {}, reimport=True)
    check(store, lambda: store.import_metadata(photo["d1"], plan), set())
    # And a new photo recorded with its names: the named face marks it, in the same transaction.
    vectors = face_vectors(centres, np.array([3]), rng)
    an = analysis(list(vectors))
    plan = xmp_import.plan_import(meta, xmp_import.new_photo_faces([f.box for f in an.faces]), {})
    store.write(lambda c: c.execute("UPDATE photo_metadata SET dirty = 0"))
    recorded = store.record_analysis("/lib/d4.jpg", 1, 1, content_hash("d4"), an, imports=plan)
    assert recorded.imported is not None and recorded.imported.matched == 1
    assert shown(store)[recorded.photo_id] == {(recorded.face_ids[0], "Dee")}
    assert dirty(store) == {recorded.photo_id}

def test_resync_marks_the_photo_whatever_its_faces_do(store: Store) -> None:
    """An import with `resync` (pictod's part of a sidecar another tool changed) marks its photo even when no face
    changes name; without it nothing is marked."""
    centres = identities(1)
    result = store.record_analysis("/lib/x.jpg", 1, 1, content_hash("x"), analysis(list(centres)))
    meta = PhotoMetadata(width=640, height=480, orientation=1)
    for resync, expected in ((False, set()), (True, {result.photo_id})):
        store.write(lambda c: c.execute("UPDATE photo_metadata SET dirty = 0"))
        plan = xmp_import.plan_import(meta, store.photo_faces(result.photo_id), {}, reimport=True, resync=resync)
        store.import_metadata(result.photo_id, plan)
        assert dirty(store) == expected
