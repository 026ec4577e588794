"""`pictod web` beside a running daemon on the same library: corrections made through the web app while the
daemon adds photos and reclusters (recluster_every = 1) are kept by every recluster that follows."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from harness import Daemon, expect, query, write_config
from pictod_testdata import FACE_RECOGNITION, JOHNS
from web_helpers import Browserless, cli_json, start_web, stop


def test_corrections_during_reclusters_are_kept(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg"):
        shutil.copy(FACE_RECOGNITION / name, photos / name)
    layout = write_config(tmp_path, folders=[photos], sections={
        "clustering": {"recluster_every": 1}, "daemon": {"settle_seconds": 0.2, "status_interval": 0.5}})
    config = layout.config
    daemon = Daemon(layout).start()
    web = None
    try:
        expect(lambda: query(daemon.db, "SELECT count(*) FROM files WHERE status = 'done'")[0][0] == 4, 120, 0.2,
               "the first photos analysed")
        expect(lambda: daemon.events("people_reclustered"), 60, 0.2, "a first recluster")
        web = start_web(config, tmp_path)
        client = Browserless(web)
        assert "daemon running" in client.get("/status")
        people = cli_json("people", "--config", str(config))
        obama = max(people, key=lambda p: p["faces"])
        assert obama["faces"] == 3
        faces = [f["id"] for f in cli_json("people", "show", str(obama["id"]), "--config", str(config))["face_list"]]
        # New photos arrive one after another; each one makes the daemon recluster while we correct.
        extra = [p for john in ("John_Salley", "John_Savage") for p in sorted((JOHNS / john).iterdir())[:3]]
        mark = daemon.mark()
        for i, src in enumerate(extra):
            shutil.copy(src, photos / f"new-{i}-{src.name}")
            time.sleep(0.3)
            if i == 1:
                assert client.post(f"/people/{obama['id']}/name", {"name": "Barack"})["ok"]
            if i == 2:
                assert client.post(f"/faces/{faces[0]}/reject", {})["ok"]
            if i == 3:
                assert client.post(f"/faces/{faces[0]}/move", {"person": f"#{obama['id']}"})["ok"]
            if i == 4:
                assert client.post(f"/faces/{faces[1]}/reject", {})["ok"]
                # Taken here, not after the loop: on a loaded machine the last sleep can outlast the analysis
                # and recluster of the photo copied after this correction (the one that must recluster later).
                corrected = time.time()
        expect(lambda: query(daemon.db, "SELECT count(*) FROM files WHERE status = 'done'")[0][0] == 10, 120, 0.2,
               "the new photos analysed")
        # Reclusters ran while the corrections were made, and at least one after the last of them.
        runs = daemon.events("people_reclustered", after=mark)
        assert len(runs) >= 2, runs
        expect(lambda: any(_epoch(e["timestamp"]) > corrected for e in daemon.events("people_reclustered",
                                                                                     after=mark)),
               60, 0.2, "a recluster after the last correction")
        after = cli_json("people", "--config", str(config))
        barack = next(p for p in after if p["id"] == obama["id"])
        assert barack["name"] == "Barack"
        kept = [f["id"] for f in cli_json("people", "show", str(obama["id"]), "--config", str(config))["face_list"]]
        assert faces[0] in kept  # rejected, then moved back (pinned): still his
        assert faces[1] not in kept  # "not this person" for good
        assert query(daemon.db, "SELECT person_id FROM faces WHERE id = ?", faces[1])[0][0] != obama["id"]
        assert "Barack" in client.get("/people")
    finally:
        if web is not None:
            assert stop(web.proc) == 0, web.stderr.read_text()
        assert daemon.stop() == 0, daemon.tail()
        daemon.teardown()


def _epoch(stamp: str) -> float:
    from datetime import datetime

    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.timestamp()
