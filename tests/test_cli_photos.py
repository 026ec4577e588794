"""`pictod photos` (every flag, AND semantics, --json), `failed`, contact sheets and shell completion on a real
library scanned from the test photos (tests/cli_library.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import structlog
from cli_library import build_photos, pictod, write_config

from daemon.cli import main as cli


@pytest.fixture(autouse=True)
def _fresh_logging() -> Any:
    yield
    structlog.reset_defaults()  # cli.main configures structlog for the process


class Run:
    """`pictod ARGS` in this process (the real parser and handlers; a subprocess costs a second per call)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        out, err = self.capsys.readouterr()
        return code, out, err


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    return Run(capsys)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli-photos")
    build_photos(root / "photos")
    config = write_config(root)
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["analysed"], summary["failed"]) == (7, 1)
    return config


@pytest.fixture(scope="module")
def people(library: Path) -> dict[str, int]:
    rows = json.loads(pictod("people", "--config", str(library), "--json").stdout)
    by_faces = {r["faces"]: r["id"] for r in rows}
    return {"obama": by_faces[3], "biden": by_faces[2]}  # obama, obama2, together / biden, together


def photos(run: Run, library: Path, *args: str) -> list[dict[str, Any]]:
    code, out, err = run("photos", "--config", str(library), "--json", *args)
    assert code == 0, err
    result = json.loads(out)
    assert isinstance(result, list)
    return result


def names(hits: list[dict[str, Any]]) -> list[str]:
    return [Path(h["paths"][0]).name for h in hits]


def test_json_fields_and_types(run: Run, library: Path) -> None:
    hits = photos(run, library)
    assert names(hits) == ["astronaut.jpg", "biden.jpg", "chelsea.png", "coffee.png", "obama.jpg", "obama2.jpg",
                           "together.jpg"]
    for hit in hits:
        assert isinstance(hit["id"], int) and all(isinstance(p, str) for p in hit["paths"])
        assert hit["date_source"] in ("exif", "file")
        assert hit["date"] == (hit["taken_at"] if hit["date_source"] == "exif" else hit["file_time"])
        assert isinstance(hit["width"], int) and isinstance(hit["height"], int) and isinstance(hit["bytes"], int)
        assert isinstance(hit["format"], str) and hit["distance_km"] is None
        for obj in hit["objects"]:
            assert isinstance(obj["label"], str) and 0 < obj["score"] <= 1 and len(obj["box"]) == 4
        for face in hit["faces"]:
            assert isinstance(face["id"], int) and len(face["box"]) == 4 and 0 < face["score"] <= 1
            assert face["person_id"] is None or isinstance(face["person_id"], int)
            assert "person_name" in face and "quality" in face
    together = next(h for h in hits if names([h]) == ["together.jpg"])
    assert together["camera"] == "Apple iPhone 6" and together["taken_at"] == "2014-05-01T09:30:00"
    assert together["gps"] == pytest.approx([41.9, -87.66], abs=1e-4) and len(together["faces"]) == 2
    chelsea = next(h for h in hits if names([h]) == ["chelsea.png"])
    assert chelsea["date_source"] == "file" and chelsea["date"] == "2010-06-01T08:00:00"
    assert chelsea["taken_at"] is None and chelsea["gps"] is None and chelsea["format"] == "PNG"


def test_repeated_tags_combine_with_and(run: Run, library: Path) -> None:
    assert "together.jpg" in names(photos(run, library, "--tag", "person"))
    assert names(photos(run, library, "--tag", "person", "--tag", "tie")) == ["biden.jpg", "obama.jpg", "obama2.jpg"]
    assert photos(run, library, "--tag", "cat", "--tag", "cup") == []


def test_repeated_people_combine_with_and(run: Run, library: Path, people: dict[str, int]) -> None:
    obama, biden = str(people["obama"]), str(people["biden"])
    assert names(photos(run, library, "--person", obama)) == ["obama.jpg", "obama2.jpg", "together.jpg"]
    assert names(photos(run, library, "--person", biden)) == ["biden.jpg", "together.jpg"]
    # Regression (issue 14): a second --person replaced the first.
    assert names(photos(run, library, "--person", obama, "--person", biden)) == ["together.jpg"]
    assert names(photos(run, library, "--person", biden, "--tag", "tie")) == ["biden.jpg"]


def test_person_by_name_and_unknown_person(run: Run, library: Path, people: dict[str, int]) -> None:
    assert run("people", "name", str(people["biden"]), "Joe", "--config", str(library))[0] == 0
    assert names(photos(run, library, "--person", "Joe", "--person", str(people["obama"]))) == ["together.jpg"]
    face = next(f for f in photos(run, library, "--person", "Joe")[0]["faces"] if f["person_id"] == people["biden"])
    assert face["person_name"] == "Joe"
    for unknown in ("Nobody", "9999"):
        code, _out, err = run("photos", "--config", str(library), "--person", unknown)
        assert code == 2 and unknown in err


def test_any_person_and_no_people_split_the_library(run: Run, library: Path) -> None:
    anyone = names(photos(run, library, "--any-person"))
    nobody = names(photos(run, library, "--no-people"))
    assert anyone == ["biden.jpg", "obama.jpg", "obama2.jpg", "together.jpg"]
    # astronaut.jpg has a face, but the only one of its person: not grouped into a person.
    assert nobody == ["astronaut.jpg", "chelsea.png", "coffee.png"]
    assert run("photos", "--config", str(library), "--any-person", "--no-people")[0] == 2


def test_since_and_until_on_capture_time_else_file_time(run: Run, library: Path) -> None:
    assert names(photos(run, library, "--since", "2012", "--until", "2013")) == ["obama.jpg", "obama2.jpg"]
    assert names(photos(run, library, "--since", "2013-01-21T12:00")) == ["astronaut.jpg", "obama2.jpg", "together.jpg"]
    # --until covers the whole day given; chelsea.png has no EXIF date: its file's time (June 1st) counts.
    early = photos(run, library, "--until", "2010-06-01")
    assert names(early) == ["biden.jpg", "chelsea.png"]
    assert [h["date_source"] for h in early] == ["exif", "file"]
    assert names(photos(run, library, "--until", "2010-05-31")) == ["biden.jpg"]
    for bad in ("2020-13", "yesterday", "2020-02-30"):
        code, _out, err = run("photos", "--config", str(library), "--since", bad)
        assert code == 2 and "date" in err


def test_camera_is_a_case_insensitive_substring(run: Run, library: Path) -> None:
    assert names(photos(run, library, "--camera", "iphone")) == ["obama.jpg", "together.jpg"]
    assert names(photos(run, library, "--camera", "EOS 5D")) == ["astronaut.jpg", "biden.jpg"]
    assert photos(run, library, "--camera", "5D_") == []  # LIKE wildcards are literal


def test_near_on_stored_gps(run: Run, library: Path) -> None:
    assert names(photos(run, library, "--near", "41.8781,-87.6298")) == ["obama.jpg"]  # 1 km by default
    hits = photos(run, library, "--near", "41.8781,-87.6298,5", "--sort", "date")
    assert names(hits) == ["obama.jpg", "together.jpg"]
    assert hits[0]["distance_km"] < 0.01 and 2 < hits[1]["distance_km"] < 4
    assert names(photos(run, library, "--near", "28.57,-80.65,2")) == ["astronaut.jpg"]
    for bad in ("41.8", "91,0", "a,b", "0,0,-1"):
        assert run("photos", "--config", str(library), "--near", bad)[0] == 2


def test_sort_limit_offset(run: Run, library: Path) -> None:
    by_date = names(photos(run, library, "--sort", "date"))
    assert by_date == ["biden.jpg", "chelsea.png", "coffee.png", "obama.jpg", "obama2.jpg", "together.jpg",
                       "astronaut.jpg"]
    assert names(photos(run, library, "--sort", "date", "--limit", "2")) == by_date[:2]
    assert names(photos(run, library, "--sort", "date", "--limit", "2", "--offset", "2")) == by_date[2:4]
    assert names(photos(run, library, "--sort", "date", "--reverse", "--limit", "1")) == ["astronaut.jpg"]
    assert names(photos(run, library, "--limit", "1")) == ["astronaut.jpg"]
    assert run("photos", "--config", str(library), "--limit", "-1")[0] == 2


def test_human_output_says_which_date(run: Run, library: Path) -> None:
    done = pictod("photos", "--config", str(library), "--tag", "cat")
    assert done.returncode == 0
    assert "chelsea.png" in done.stdout and "2010-06-01 08:00 (file)" in done.stdout
    assert "modification time" in done.stdout
    _code, bare, _err = run("photos", "--config", str(library), "--camera", "iphone", "--paths")
    assert [Path(line).name for line in bare.splitlines()] == ["obama.jpg", "together.jpg"]
    assert "no photos match" in run("photos", "--config", str(library), "--tag", "zebra")[1]


def test_contact_sheet_labels_each_face_and_lists_them_in_tile_order(
        run: Run, library: Path, people: dict[str, int], tmp_path: Path) -> None:
    import cv2

    sheet = tmp_path / "obama.png"
    code, out, err = run("people", "show", str(people["obama"]), "--sheet", str(sheet), "--config", str(library),
                         "--json")
    assert code == 0, err
    detail = json.loads(out)
    tiles = detail["sheet_faces"]
    assert [t["position"] for t in tiles] == [1, 2, 3]
    assert [t["face_id"] for t in tiles] == [f["id"] for f in detail["face_list"]]
    for tile in tiles:
        assert isinstance(tile["photo_id"], int) and isinstance(tile["path"], str)
        assert 0 <= tile["distance"] < 0.3  # within the clustering eps of the person's mean
    image = cv2.imread(str(sheet))
    assert image.shape == (112, 3 * 112, 3)
    band = image[-12:, :112]  # the first tile's label: white text on black
    assert (band < 40).mean() > 0.5 and (band > 200).any()
    # Human output: the same faces, in the same order, with their distances.
    code, out, _err = run("people", "show", str(people["obama"]), "--sheet", str(sheet), "--config", str(library))
    listed = out.split("contact sheet:")[1].splitlines()[3:]
    assert [int(line.split()[1]) for line in listed] == [t["face_id"] for t in tiles]
    assert f"{tiles[0]['distance']:.3f}" in listed[0]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(run: Run, shell: str) -> None:
    code, out, _err = run("completion", shell)
    assert code == 0 and "pictod" in out and "_ARGCOMPLETE" in out
    if shell == "bash":
        import subprocess

        assert subprocess.run(["bash", "-n"], input=out, text=True).returncode == 0


def test_completion_answers_from_the_parser(tmp_path: Path) -> None:
    import os

    answers = tmp_path / "answers"
    line = "pictod photos --so"
    env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
           "_ARGCOMPLETE_STDOUT_FILENAME": str(answers), "_ARGCOMPLETE_IFS": "\n"}
    done = pictod(env=env)
    assert done.returncode == 0, done.stderr
    assert answers.read_text().split() == ["--sort"]
    line = "pictod fa"
    env.update(COMP_LINE=line, COMP_POINT=str(len(line)))
    assert pictod(env=env).returncode == 0
    assert sorted(answers.read_text().split()) == ["faces", "failed"]


def test_recluster_and_correction_json(run: Run, library: Path, people: dict[str, int]) -> None:
    code, out, err = run("recluster", "--config", str(library), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"faces", "clusters", "people", "assigned", "unassigned", "new_people", "pruned_people",
                           "changed_faces", "full", "ms"}
    assert result["full"] is True and result["faces"] == 6 and isinstance(result["ms"], float)
    code, out, err = run("people", "name", str(people["obama"]), "Barack", "--config", str(library), "--json")
    assert code == 0, err
    named = json.loads(out)
    assert named["ok"] is True and named["result"]["id"] == people["obama"] and named["result"]["name"] == "Barack"
    assert named["result"]["faces"] == 3 and named["result"]["photos"] == 3


@pytest.mark.parametrize("command", [["failed"], ["retry"], ["completion"], ["photos"], ["scan"], ["run"]],
                         ids=" ".join)
def test_new_commands_and_flags_have_help(run: Run, command: list[str]) -> None:
    code, out, _err = run(*command, "--help")
    assert code == 0 and "usage: pictod" in out
    if command != ["completion"]:
        assert "--config" in out
