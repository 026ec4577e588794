"""The real daemon (`pictod run` subprocess) finds the people of a clip dropped into its folder (issue 24): three
photos each of Salley and Savage make two people; the test clip (Salley 0-2 s, then Savage and Simm) is copied in
while the daemon runs; its Salley and Savage faces join those people, one face each, with when they are seen;
`pictod photos --person` then finds the clip with those times. A clip written slowly (still growing) is read
once complete, and a truncated one fails with its reason without stopping the daemon."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from cli_library import pictod
from harness import Daemon, expect, query, write_config
from pictod_testdata import CLIPS, JOHNS

WHO = ("John_Salley", "John_Savage")


def test_dropped_clip_finds_its_people(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"clustering": {"recluster_every": 1}})
    photos = layout.folders[0]
    for who in WHO:
        for src in sorted((JOHNS / who).glob("*.jpg"))[4:7]:
            shutil.copy(src, photos / f"{who}-{src.name}")
    daemon = Daemon(layout).start()
    try:
        db = layout.database
        expect(lambda: db.exists() and query(db, "SELECT count(*) FROM files WHERE status = 'done'")[0][0] == 6,
               120, 0.2, "the photos analysed")

        def person(who: str) -> set[int]:
            rows = query(db, "SELECT f.person_id, fi.path FROM faces f JOIN files fi ON fi.photo_id = f.photo_id "
                             "WHERE f.person_id IS NOT NULL")
            return {int(p) for p, path in rows if os.path.basename(os.fsdecode(bytes(path))).startswith(who)}

        expect(lambda: all(len(person(w)) == 1 for w in WHO), 60, 0.2, "a person for each john")
        salley, savage = (person(w).pop() for w in WHO)
        # Dropped the way a phone sync writes it: in pieces, then complete.
        data = (CLIPS / "people.mp4").read_bytes()
        target = photos / "VID_0001.mp4"
        with open(target, "wb") as out:
            out.write(data[: len(data) // 3])
            out.flush()
            time.sleep(0.4)
            out.write(data[len(data) // 3:])
        shutil.copy(CLIPS / "truncated.mp4", photos / "VID_0002.mp4")

        def clip_faces() -> list[tuple[int | None, float, str]]:
            return [(r[0], r[1], r[2]) for r in query(
                db, "SELECT f.person_id, f.time, f.seen FROM faces f JOIN files fi ON fi.photo_id = f.photo_id "
                    "WHERE CAST(fi.path AS TEXT) LIKE '%VID_0001.mp4' AND fi.status = 'done'")]

        expect(lambda: len(clip_faces()) == 3, 120, 0.2, "the clip analysed")
        expect(lambda: {p for p, _t, _s in clip_faces()} >= {salley, savage}, 60, 0.2,
               "the clip's faces on Salley and Savage")
        by_person = {p: (t, json.loads(s)) for p, t, s in clip_faces()}
        assert by_person[salley] == (0.0, [[0.0, 2.0]]) and by_person[savage][1] == [[2.0, 4.0]]
        assert [p for p, _t, _s in clip_faces()].count(salley) == 1  # one face per person per clip
        expect(lambda: query(db, "SELECT status, reason FROM files WHERE CAST(path AS TEXT) LIKE '%VID_0002.mp4'")
               == [("failed", "truncated")], 60, 0.2, "the truncated clip failed with its reason")
        def clip_lines() -> list[dict[str, Any]]:
            return [r for r in daemon.photo_lines() if r.get("path", "").endswith("VID_0001.mp4")]

        # The line follows the row (after the clip's faces are placed): waited for, not read at once.
        expect(lambda: any(r["status"] == "analysed" for r in clip_lines()), 30, 0.2, "the clip's line")
        lines = clip_lines()
        # Read once complete. Paused longer than settle_seconds mid-write, an MP4 without its index yet may be
        # seen as truncated first (recorded failed); the completed file is then analysed, once.
        statuses = [r["status"] for r in lines]
        assert statuses[-1:] == ["analysed"] and statuses.count("analysed") == 1, lines
        assert all(r.get("reason") == "truncated" for r in lines if r["status"] == "failed"), lines
        assert daemon.alive()
        found = pictod("photos", "--config", str(layout.config), "--person", str(salley), "--kind", "video",
                       "--json")
        assert found.returncode == 0, found.stderr
        (hit,) = json.loads(found.stdout)
        assert hit["paths"] == [str(target)] and hit["seen"] == [{"person_id": salley, "tag": None,
                                                                   "spans": [[0.0, 2.0]]}]
    finally:
        assert daemon.stop() == 0, daemon.tail()
        daemon.teardown()
