"""The `pictod` command line as a user runs it: real subprocesses on a real library built by `pictod scan`."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pictod_testdata import FACE_RECOGNITION, SKIMAGE

COMMANDS = [
    ["run"], ["scan"], ["analyze"], ["status"], ["people"], ["people", "show"], ["people", "name"],
    ["people", "merge"], ["faces", "move"], ["faces", "reject"], ["photos"], ["tags"], ["recluster"],
]


def pictod(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "daemon.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    photos = root / "photos"
    photos.mkdir()
    for src in (SKIMAGE / "astronaut.png", SKIMAGE / "chelsea.png", FACE_RECOGNITION / "obama.jpg",
                FACE_RECOGNITION / "obama2.jpg", FACE_RECOGNITION / "biden.jpg"):
        shutil.copy(src, photos / src.name)
    (photos / "notes.jpg").write_text("not a photo at all")
    config = root / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[log]\nformat = "json"\n')
    done = pictod("scan", "--config", str(config), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["analysed"] == 5 and summary["failed"] == 1
    return config


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    done = pictod(*command, "--help")
    assert done.returncode == 0
    assert "--config" in done.stdout


def test_status_reports_counts_and_exit_3_without_a_daemon(library: Path) -> None:
    done = pictod("status", "--config", str(library), "--json")
    assert done.returncode == 3  # no daemon owns the database
    status = json.loads(done.stdout)
    assert status["daemon_running"] is False
    assert (status["files_done"], status["files_failed"], status["photos"]) == (5, 1, 5)
    human = pictod("status", "--config", str(library))
    assert "not running" in human.stdout and "files failed:" in human.stdout


def test_people_naming_and_search_round_trip(library: Path) -> None:
    people = json.loads(pictod("people", "--config", str(library), "--json").stdout)
    obama = next(p for p in people if p["faces"] == 2)
    assert pictod("people", "name", str(obama["id"]), "Barack", "--config", str(library)).returncode == 0
    found = json.loads(pictod("photos", "--person", "Barack", "--config", str(library), "--json").stdout)
    assert sorted(Path(p["paths"][0]).name for p in found) == ["obama.jpg", "obama2.jpg"]
    detail = json.loads(pictod("people", "show", str(obama["id"]), "--config", str(library), "--json").stdout)
    assert detail["name"] == "Barack" and len(detail["face_list"]) == 2


def test_contact_sheet_is_a_png(library: Path, tmp_path: Path) -> None:
    people = json.loads(pictod("people", "--config", str(library), "--json").stdout)
    sheet = tmp_path / "sheet.png"
    done = pictod("people", "show", str(people[0]["id"]), "--sheet", str(sheet), "--config", str(library))
    assert done.returncode == 0, done.stderr
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tags_and_tag_search(library: Path) -> None:
    tags = json.loads(pictod("tags", "--config", str(library), "--json").stdout)
    assert tags["person"] >= 3 and tags["cat"] == 1
    cats = json.loads(pictod("photos", "--tag", "cat", "--config", str(library), "--json").stdout)
    assert [Path(p["paths"][0]).name for p in cats] == ["chelsea.png"]


def test_unknown_ids_exit_2_with_a_message(library: Path) -> None:
    done = pictod("people", "show", "9999", "--config", str(library))
    assert done.returncode == 2
    assert "9999" in done.stderr and "Traceback" not in done.stderr
    assert pictod("faces", "reject", "9999", "--config", str(library)).returncode == 2


def test_recluster_keeps_names(library: Path) -> None:
    done = pictod("recluster", "--config", str(library), "--json")
    assert done.returncode == 0, done.stderr
    names = [p["name"] for p in json.loads(pictod("people", "--config", str(library), "--json").stdout)]
    assert "Barack" in names


def test_analyze_prints_results_and_exits_65_for_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "empty.jpg"
    bad.write_bytes(b"")
    done = pictod("analyze", str(SKIMAGE / "astronaut.png"), str(bad), "--json", cwd=tmp_path)
    assert done.returncode == 65
    results = json.loads(done.stdout)
    assert results[0]["status"] == "done" and len(results[0]["faces"]) == 1
    assert any(o["label"] == "person" for o in results[0]["objects"])
    assert results[1] == {"path": str(bad), "status": "failed", "reason": "empty", "message": results[1]["message"]}


def test_config_errors_exit_78_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[daemon]\nworkers = 'many'\n")
    done = pictod("status", "--config", str(config))
    assert done.returncode == 78
    assert done.stderr.strip().count("\n") == 0 and "daemon.workers" in done.stderr


def test_sigterm_while_the_models_load_is_an_orderly_stop(tmp_path: Path) -> None:
    # Regression (hardening suite): a stop request during start-up killed the process with -15.
    (tmp_path / "photos").mkdir()
    config = tmp_path / "config.toml"
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n[log]\nformat = "json"\n')
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "daemon.cli.main", "run", "--config", str(config)],
                                stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while b"model_session_built" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.01)  # the first model is loaded: the others, and the store, are still to come
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.mark.parametrize("args", [
    ("people", "show", "ID"), ("people", "name", "ID", "Ada"), ("people", "merge", "1", "ID"),
    ("faces", "move", "ID", "1"), ("faces", "accept", "ID"), ("faces", "suggest", "--person", "ID"),
    ("review", "list", "ID"), ("review", "answer", "1", "ID", "yes"), ("events", "show", "ID"),
    ("photos", "--event", "ID")])
@pytest.mark.parametrize("bad", [str(2**64), "0", "-3", "seven"])
def test_an_id_no_row_can_have_is_a_usage_error_not_a_traceback(capsys: pytest.CaptureFixture[str],
                                                                 args: tuple[str, ...], bad: str) -> None:
    """Ids past SQLite's INTEGER range raised OverflowError (a traceback, exit 1) in every lookup by id."""
    from daemon.cli import main as cli

    with pytest.raises(SystemExit) as exited:
        cli.main([*(bad if a == "ID" else a for a in args)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err and ("not an id" in err or "no such id" in err), err
