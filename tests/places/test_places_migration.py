"""Schema v10 from a built v9 library: the tables added, nothing else touched, and the photos already there
placed from their stored GPS (the daemon's pass, `library.places.fill`) with no analysis; bad stored positions
recorded with their reason."""

from __future__ import annotations

from pathlib import Path

from daemon.config import EventsConfig
from daemon.library import events, places
from daemon.store import Store, db, migrations


def test_a_v9_library_gets_places_and_events_from_what_it_stored(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    conn = db.connect(path)
    try:
        assert migrations.migrate(conn, path, upto=9)[-1] == 9
        rows = [  # (hash, taken_at, lat, lon): as a v9 pictod stored them
            ("a" * 64, "2019-06-10T10:00:00", 57.7209, 10.5839),
            ("b" * 64, "2019-06-10T12:00:00+02:00", 55.6761, 12.5683),
            ("c" * 64, None, 95.0, 10.0),  # out of range: a v9 row from a pictod that kept it
            ("d" * 64, "2019-06-12T10:00:00", None, None),
            ("e" * 64, "2019-06-13T10:00:00", 30.0, -40.0),  # the Atlantic
        ]
        conn.executemany("INSERT INTO photos (content_hash, width, height, format, taken_at, gps_lat, gps_lon, "
                         "analysed_at) VALUES (?, 10, 10, 'JPEG', ?, ?, ?, '2026-01-01')", rows)
        conn.execute("INSERT INTO files (path, size, mtime_ns, status, photo_id, updated_at) "
                     "SELECT CAST('/p/' || id AS BLOB), 1, 1, 'done', id, '2026-01-01' FROM photos")
        conn.commit()
    finally:
        conn.close()
    with Store.open(path) as store:
        assert store.read(migrations.current_version) == migrations.LATEST >= 10
        assert places.unplaced_count(store) == 4
        assert places.fill(store) == 4 and places.fill(store) == 0
        stored = store.read(lambda c: c.execute(
            "SELECT p.content_hash, pp.city, pp.country, pp.source, pp.reason FROM photo_places pp "
            "JOIN photos p ON p.id = pp.photo_id ORDER BY p.content_hash").fetchall())
        assert [(h[0], city, country, source) for h, city, country, source, _r in stored] == [
            ("a", "Skagen", "Denmark", "geocoder"), ("b", "Copenhagen", "Denmark", "geocoder"),
            ("c", None, None, "none"), ("e", None, None, "none")]
        assert stored[2][4].startswith("invalid_gps: position out of range")
        assert stored[3][4].startswith("no_place_nearby:")
        events.update(store, EventsConfig(gap_hours=12, split_km=50))
        assert sorted(e.auto_name for e in events.list_events(store)) == [
            "Copenhagen, June 2019", "June 2019", "June 2019", "Skagen, June 2019"]
        assert [p.city for p in places.place_counts(store)] == ["Copenhagen", "Skagen"]
