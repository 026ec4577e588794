"""Suggestions and the corrections around them, on a real library of real test photos through the real CLI:
`faces suggest`, `faces accept`, `faces reject FACE PERSON`, `people accept`, `people new`; each survives a
recluster, a rejected suggestion is never made again, curated people stay whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pictod_testdata import copy_johns

from daemon.config import ClusteringConfig
from daemon.errors import UsageError
from daemon.library import suggestions
from daemon.store import Store

WHO = ("John_Salley", "John_Savage", "John_Schneider")  # SFace: 0.1-0.3 within each, 0.77+ between them


def pictod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args], capture_output=True, text=True, timeout=300)


def run_json(*args: str) -> object:
    done = pictod(*args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """9 crops of 3 people and one photo of two of them side by side; eps so tight that nothing clusters, so
    every person here is made by the user and every other face waits for a suggestion."""
    root = tmp_path_factory.mktemp("suggest")
    photos = root / "photos"
    photos.mkdir()
    crops = copy_johns(photos, WHO, 3)
    pair = np.hstack([cv2.imread(str(crops["John_Salley"][3])), cv2.imread(str(crops["John_Savage"][3]))])
    cv2.imwrite(str(photos / "pair.jpg"), pair)
    config = root / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[log]\nformat = "json"\n'
                      '[clustering]\neps = 0.05\nsuggest_eps = 0.5\nattach_eps = 0.05\n')  # nothing attached
    loose = root / "loose.toml"  # the same library with an eps that would merge everyone
    loose.write_text(config.read_text().replace("eps = 0.05\nsuggest_eps = 0.5", "eps = 0.95\nsuggest_eps = 0.99"))
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    with Store.open(root / "lib.db", read_only=True) as store:
        rows = store.read(lambda c: c.execute(
            "SELECT f.id, f.photo_id, f.x1, (SELECT path FROM files WHERE photo_id = f.photo_id) FROM faces f "
            "ORDER BY f.id").fetchall())
    truth: dict[int, str] = {}
    photo_of: dict[int, int] = {}
    for face_id, photo_id, x1, raw in rows:
        name = Path(raw.decode() if isinstance(raw, bytes) else raw).name
        photo_of[face_id] = photo_id
        if name == "pair.jpg":
            truth[face_id] = "John_Salley" if x1 < pair.shape[1] / 2 else "John_Savage"
        else:
            truth[face_id] = name.split("-")[0]
    assert sorted(truth.values()) == sorted([w for w in WHO for _ in range(3)] + ["John_Salley", "John_Savage"])
    return {"config": str(config), "loose": str(loose), "truth": truth, "photo": photo_of, "db": root / "lib.db"}


def faces_of(lib: dict[str, object], who: str) -> list[int]:
    return sorted(f for f, w in lib["truth"].items() if w == who)  # type: ignore[attr-defined]


def person_of(lib: dict[str, object]) -> dict[int, int | None]:
    with Store.open(Path(str(lib["db"])), read_only=True) as store:
        return dict(store.read(lambda c: c.execute("SELECT id, person_id FROM faces").fetchall()))


def suggested(lib: dict[str, object], *extra: str) -> dict[int, list[dict[str, object]]]:
    items = run_json("faces", "suggest", "--config", str(lib["config"]), *extra)
    return {i["face_id"]: i["suggestions"] for i in items}  # type: ignore[union-attr]


@pytest.mark.parametrize("command", [["faces", "suggest"], ["faces", "accept"], ["people", "accept"],
                                     ["people", "new"]], ids=" ".join)
def test_help(command: list[str]) -> None:
    done = pictod(*command, "--help")
    assert done.returncode == 0 and "--json" in done.stdout


def test_the_whole_suggestion_workflow(lib: dict[str, object]) -> None:
    cfg = str(lib["config"])
    assert person_of(lib) and set(person_of(lib).values()) == {None}  # eps 0.05: nothing clustered
    assert suggested(lib) == {}  # no person yet, nothing to suggest
    salley, savage, schneider = (faces_of(lib, w) for w in WHO)
    pair = [f for f in salley + savage if lib["photo"][f] == lib["photo"][salley[-1]]]  # type: ignore[index]
    assert len(pair) == 2

    # people new: refuses two faces of one photo (exit 2), makes a named curated person from one face.
    refused = pictod("people", "new", *map(str, pair), "--config", cfg)
    assert refused.returncode == 2 and "same photo" in refused.stderr
    made = run_json("people", "new", str(salley[0]), "--name", "Salley", "--config", cfg)
    sid = made["person_id"]  # type: ignore[index]
    assert person_of(lib)[salley[0]] == sid

    # Suggestions: every other Salley face, Salley on top, within suggest_eps; nobody else's face.
    got = suggested(lib)
    assert sorted(got) == salley[1:]
    for options in got.values():
        assert options[0]["person_id"] == sid and options[0]["person_name"] == "Salley"
        assert 0.0 < float(options[0]["distance"]) <= 0.5  # type: ignore[arg-type]
    human = pictod("faces", "suggest", "--config", cfg)
    assert human.returncode == 0 and "Salley" in human.stdout and "distance" in human.stdout
    # With --person: the review candidates (issue 21), out to the review radius, so every suggestion is among them.
    ranked = run_json("faces", "suggest", "--person", str(sid), "--config", cfg)
    assert {c["face_id"] for c in ranked} >= got.keys()  # type: ignore[index, union-attr]
    assert [c["distance"] for c in ranked] == sorted(c["distance"] for c in ranked)  # type: ignore[index, union-attr]
    assert pictod("faces", "suggest", "--limit", "2", "--config", cfg).returncode == 2  # --limit needs --person

    # Accept the top suggestion; reject another: neither comes back, both survive a recluster.
    accepted = run_json("faces", "accept", str(salley[1]), "--config", cfg)
    assert accepted == {"ok": True, "face_id": salley[1], "person_id": sid}
    assert run_json("faces", "reject", str(salley[2]), str(sid), "--config", cfg)["ok"] is True  # type: ignore[index]
    assert sorted(suggested(lib)) == [salley[3]]
    run_json("recluster", "--config", cfg)
    assert person_of(lib)[salley[1]] == sid and person_of(lib)[salley[2]] is None
    assert sorted(suggested(lib)) == [salley[3]]

    # A second person, then all its suggestions at once: the Savage faces, the pair photo's Savage face too.
    vid = run_json("people", "new", str(savage[0]), "--config", cfg)["person_id"]  # type: ignore[index]
    taken = run_json("people", "accept", str(vid), "--config", cfg)
    assert taken["accepted"] == savage[1:]  # type: ignore[index]
    assert run_json("people", "accept", str(vid), "--config", cfg)["accepted"] == []  # type: ignore[index]
    assert all(person_of(lib)[f] == vid for f in savage)

    # The library functions the web app calls: the same answers as the CLI.
    with Store.open(Path(str(lib["db"])), read_only=True) as store:
        items = suggestions.suggest_faces(store, ClusteringConfig(suggest_eps=0.5), person_id=sid)
    assert [(i.face_id, i.suggestions[0].person_id) for i in items] == [(salley[3], sid)]

    # Curated people are authoritative: a recluster at eps 0.95 (which would merge everyone) keeps both whole
    # and apart, and the rejected face stays off.
    run_json("recluster", "--config", str(lib["loose"]))
    now = person_of(lib)
    assert {now[f] for f in salley[:2]} == {sid} and {now[f] for f in savage} == {vid}
    assert now[salley[2]] != sid and len({now[f] for f in schneider}) == 1


def test_unknown_ids_and_nothing_to_accept_exit_2(lib: dict[str, object]) -> None:
    cfg = str(lib["config"])
    for args in (["faces", "accept", "99999"], ["faces", "accept", str(min(lib["truth"])), "99999"],  # type: ignore[call-overload]
                 ["people", "accept", "99999"], ["people", "new", "99999"], ["faces", "suggest", "--person", "99999"],
                 ["faces", "reject", "99999", "1"]):
        done = pictod(*args, "--config", cfg)
        assert done.returncode == 2, (args, done.stderr)
        assert "99999" in done.stderr and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------------------------- the rules, once each


def test_rule_a_rejected_suggestion_never_returns() -> None:
    """`suggestions.offered`: the one place suggest_faces asks (the CLI and the web app both go through it)."""
    rejected = {(7, 2)}
    taken = {(30, 3)}
    assert suggestions.offered(7, 30, 1, rejected, taken)  # another person for the rejected face: fine
    assert not suggestions.offered(7, 30, 2, rejected, taken)  # the person the user rejected for it: never
    assert not suggestions.offered(8, 30, 3, rejected, taken)  # a person already holding a face of its photo
    assert suggestions.offered(8, 31, 3, rejected, taken)


def test_rule_one_face_per_photo_in_accept_all_keeps_the_nearer() -> None:
    def item(face: int, photo: int, person: int, distance: float) -> suggestions.FaceSuggestions:
        return suggestions.FaceSuggestions(face_id=face, photo_id=photo, suggestions=[
            suggestions.Suggestion(person_id=person, person_name=None, distance=distance)])

    items = [item(12, 5, 8, 0.20), item(11, 5, 8, 0.30), item(13, 6, 8, 0.25), item(14, 5, 9, 0.10),
             item(15, 7, 8, 0.40), item(16, 7, 8, 0.40)]
    chosen, passed = suggestions.one_face_per_photo(items, 8)
    # Photo 5: face 12 (nearer than 11; 14's top is another person). Photo 7: a tie, the lower id.
    assert chosen == [12, 13, 15]
    assert [(p.face_id, p.photo_id, p.kept_face_id) for p in passed] == [(11, 5, 12), (16, 7, 15)]
    done = suggestions.AcceptedAll(person_id=8, accepted=chosen, passed_over=passed)
    assert "face 11 left on nobody: face 12 of the same photo is nearer" in done.message()


def test_rule_pinned_faces_stay() -> None:
    suggestions.check_accept(1, None, 8, None, False)  # an unassigned face, nobody of its photo on 8
    suggestions.check_accept(1, 8, 8, None, False)  # confirming a face on its own person
    suggestions.check_accept(1, None, 8, 2, False)  # 8's face of that photo was only clustered: it makes way
    with pytest.raises(UsageError, match="is on person 9, not 8"):
        suggestions.check_accept(1, 9, 8, None, False)  # a face on another person is moved, not accepted
    with pytest.raises(UsageError, match="pinned there"):
        suggestions.check_accept(1, None, 8, 2, True)  # the face the user pinned to 8 stays
