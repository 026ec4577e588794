"""`has_column`: the catalogue asked once per connection, never a stale answer across a migration."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from people_synth import analysis, content_hash, identities

from daemon.library import timeline
from daemon.store import Store, db, migrations
from daemon.store import base as B
from daemon.store.search import PhotoFilter, count_photos, search_photos


def _pragmas(store: Store, task: Callable[[], object]) -> list[str]:
    """The `PRAGMA table_info` statements `task`'s reads run on this thread's connection of the store."""
    seen: list[str] = []
    store.read(lambda c: c.set_trace_callback(lambda sql: seen.append(sql) if "table_info" in sql else None))
    try:
        task()
    finally:
        store.read(lambda c: c.set_trace_callback(None))
    return seen


def test_a_connection_asks_the_catalogue_once(tmp_path: Path) -> None:
    with Store.open(tmp_path / "library.db") as store:
        face = identities(1)[0]
        for i in range(3):
            store.record_analysis(f"/p/{i}.jpg", 1, 1, content_hash(i), analysis([face], tags=("dog",)))
        flt = PhotoFilter(tags=("dog",), sort="date", descending=True)

        def reads(conn: sqlite3.Connection) -> None:
            assert len(search_photos(conn, flt)) == count_photos(conn, flt) == 3

        first = _pragmas(store, lambda: store.read(reads))
        assert first, "the first read asks"
        assert len(first) == len(set(first)), first  # each table once, however many queries ask
        assert _pragmas(store, lambda: store.read(reads)) == []
        assert timeline.timeline(store, flt).total == 3
        assert _pragmas(store, lambda: timeline.timeline(store, flt)) == []
    # A new connection (another store) asks again.
    with Store.open(tmp_path / "library.db", read_only=True) as reader:
        assert _pragmas(reader, lambda: reader.read(reads))


def test_a_connection_used_across_a_migration_sees_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    conn = db.connect(path)
    try:
        assert isinstance(conn, B.Connection)
        migrations.migrate(conn, path, upto=10)
        assert not B.has_column(conn, "photos", "kind")  # v11's
        assert not B.has_column(conn, "photo_dates", "file_ns")  # v12's table
        migrations.migrate(conn, path)
        assert B.has_column(conn, "photos", "kind")
        assert B.has_column(conn, "photo_dates", "file_ns")
        assert not B.has_column(conn, "photos", "no_such_column")
    finally:
        conn.close()
