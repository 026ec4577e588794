"""Places and events kept by a running daemon (`pictod run` in a subprocess, watching a real folder): photos
dropped in get their place at intake and join events on the next status tick; a deleted photo leaves its event."""

from __future__ import annotations

from pathlib import Path

from harness import Daemon, expect, write_config
from harness import query as rows
from test_places_cli import SKAGEN, make_photo


def test_a_running_daemon_places_and_groups_photos_as_they_come_and_go(tmp_path: Path) -> None:
    layout = write_config(tmp_path, sections={"events": {"gap_hours": 12.0, "split_km": 50.0}})
    daemon = Daemon(layout).start(wait_ready=True)
    try:
        photos = layout.folders[0]
        staging = tmp_path / "staging"
        for name, seed, when in (("a", 1, "2019-06-10T10:00:00"), ("b", 2, "2019-06-10T20:00:00"),
                                 ("c", 3, "2019-06-11T06:00:00")):
            make_photo(staging, name, seed, when, SKAGEN)
            (staging / f"{name}.jpg").rename(photos / f"{name}.jpg")  # appears whole, as a move in
        expect(lambda: rows(layout.database, "SELECT event_id FROM event_photos").__len__() == 3, 60,
               what="three photos in events", alive=daemon)
        assert rows(layout.database, "SELECT city, source FROM photo_places") == [("Skagen", "geocoder")] * 3
        assert rows(layout.database, "SELECT auto_name, photo_count FROM events") == [("Skagen, June 2019", 3)]
        (photos / "b.jpg").unlink()  # b bridged a and c: its leaving splits the event
        expect(lambda: sorted(r[0] for r in rows(layout.database, "SELECT photo_count FROM events")) == [1, 1], 60,
               what="the event split in two", alive=daemon)
    finally:
        daemon.stop_clean()
