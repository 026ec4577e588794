"""The same-person review (issue 21) while a real daemon works: `pictod run` on a library made by `pictod scan`,
new photos dropped into its folder one at a time (each one analysed and reclustered: `recluster_every = 1`), and
meanwhile the review answered through the CLI, top candidate first. Every answer must be kept: each
"yes" face ends on the person (pinned), each "no" face never on it, and no answered face is asked again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from harness import expect
from pictod_testdata import copy_johns, johns
from web_helpers import cli_json, pictod

from daemon.library import corrections
from daemon.store import Store

WHO = ("John_Salley", "John_Savage", "John_Schneider")  # SFace: 0.1-0.4 within each, 0.77+ between them


def log_events(log: Path, name: str) -> list[dict[str, Any]]:
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if record.get("event") == name:
            found.append(record)
    return found


def test_review_answers_survive_a_daemon_reclustering_meanwhile(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    crops = copy_johns(photos, WHO[:2], 3) | {WHO[2]: johns(WHO[2])}
    log = tmp_path / "daemon.log"
    config = tmp_path / "config.toml"
    # Nothing clusters or attaches (eps tiny): every face is alone, so only the user's answers put faces on the
    # person, and every recluster must keep them.
    config.write_text('[library]\nfolders = ["photos"]\ndatabase = "lib.db"\n'
                      f'[log]\nformat = "json"\nlevel = "debug"\nfile = "{log}"\n'
                      '[daemon]\nsettle_seconds = 0.2\n'
                      '[clustering]\neps = 0.05\nsuggest_eps = 0.05\nattach_eps = 0.05\nrecluster_every = 1\n')
    assert pictod("scan", "--config", str(config), "--json").returncode == 0
    with Store.open(tmp_path / "lib.db") as store:
        rows = store.read(lambda c: c.execute("SELECT f.id FROM faces f ORDER BY f.id").fetchall())
        seed = int(rows[0][0])
        person = corrections.new_person(store, [seed], name="Salley")

    def truth() -> dict[int, str]:
        with Store.open(tmp_path / "lib.db", read_only=True) as store:
            found = store.read(lambda c: c.execute(
                "SELECT f.id, (SELECT path FROM files WHERE photo_id = f.photo_id) FROM faces f").fetchall())
        return {int(f): Path(os.fsdecode(p)).name.split("-")[0] for f, p in found if p is not None}

    assert truth()[seed] == "John_Salley"
    daemon = subprocess.Popen([sys.executable, "-m", "daemon.cli.main", "run", "--config", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        expect(lambda: log_events(log, "daemon_ready"), timeout=120, what="daemon ready")
        drops = [(name, src) for name in WHO for src in crops[name][3:6]]
        answers: dict[int, str] = {}
        for name, src in drops:
            shutil.copy(src, photos / f"{name}-{src.name}")  # analysed, then a recluster: while we answer
            for _ in range(2):
                listed = cli_json("review", "list", str(person), "--config", str(config))
                fresh = [c for c in listed if c["face_id"] not in answers]
                assert len(fresh) == len(listed), "an answered face was asked again"
                if not fresh:
                    break
                face = fresh[0]["face_id"]
                who = truth().get(face)
                if who is None:  # its photo is being recorded right now: ask again next round
                    break
                # Truthful, except the second face offered: a "no" (a user's mistake is an answer to keep too;
                # the other johns lie beyond the review radius, so no true "no" is ever asked here).
                verdict = "yes" if who == "John_Salley" and len(answers) != 1 else "no"
                assert cli_json("review", "answer", str(person), str(face), verdict,
                                "--config", str(config))["answer"] == verdict
                answers[face] = verdict
        # Every drop analysed and reclustered after the last answer.
        expect(lambda: len([r for r in log_events(log, "photo") if r.get("status") == "analysed"]) >= len(drops),
               timeout=180, what="every dropped photo analysed")
        last = len(log_events(log, "recluster_done"))
        assert last >= len(drops) // 2, f"only {last} reclusters ran while the review was answered"
        (photos / "late.jpg").write_bytes((crops["John_Savage"][6]).read_bytes())  # one more recluster, after all
        expect(lambda: len(log_events(log, "recluster_done")) > last, timeout=120, what="a recluster after the answers")
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            rc = daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            rc = daemon.wait()
    assert rc == 0, daemon.stderr.read().decode() if daemon.stderr else ""
    assert "yes" in answers.values() and "no" in answers.values(), answers
    on_person = {f["id"] for f in cli_json("people", "show", str(person), "--config", str(config))["face_list"]}
    for face, verdict in answers.items():
        assert (face in on_person) == (verdict == "yes"), (face, verdict, sorted(on_person))
    left = {c["face_id"] for c in cli_json("review", "list", str(person), "--config", str(config))}
    assert not left & set(answers), "an answered face is offered again"
