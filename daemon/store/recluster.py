"""The recluster's own SQL: what a recluster written in chunks checks between two chunks, and its record.

A recluster (`daemon/people/manager.py`) plans off the writer from one read snapshot and writes the plan in chunks,
one writer transaction each. Between two, anything may happen: a photo recorded and placed, a correction, a
deletion, another process's recluster. Each chunk compares `corrections_mark` with its plan's, leaves out what
the corrections since name (`corrected_since`) and the moves the library no longer allows (`recluster_moves`);
the last writes `record_recluster`. The moves themselves go through `faces.assign_faces` (sums, counts, pruning).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from daemon.store.base import (
    LAST_RECLUSTER,
    LAST_RECLUSTER_STATS,
    PHOTOS_SINCE_RECLUSTER,
    chunks,
    get_int,
    marks,
    set_state,
)


def record_recluster(conn: sqlite3.Connection, stamp: str, stats_json: str, clustered: int | None = None) -> None:
    """A recluster finished: its time and stats; the photos it clustered leave the counter. `clustered` is the
    counter as the recluster read it with the faces it clustered (photos recorded while its chunks were written
    stay counted, so the next recluster takes them); None: every photo stored so far (counter to 0)."""
    set_state(conn, LAST_RECLUSTER, stamp)
    set_state(conn, LAST_RECLUSTER_STATS, stats_json)
    left = 0 if clustered is None else max(0, get_int(conn, PHOTOS_SINCE_RECLUSTER) - clustered)
    set_state(conn, PHOTOS_SINCE_RECLUSTER, str(left))


def corrections_mark(conn: sqlite3.Connection) -> tuple[int, int]:
    """(highest id, count) of the corrections: changes whenever one is recorded or dropped (a recluster written
    in chunks compares it between chunks to see a user's correction made meanwhile)."""
    row = conn.execute("SELECT coalesce(max(id), 0), count(*) FROM corrections").fetchone()
    return int(row[0]), int(row[1])


def corrected_since(conn: sqlite3.Connection, after: int) -> tuple[set[int], set[int]]:
    """What the corrections recorded after this id name: (faces pinned or rejected, people pinned to, named or
    merged, either side); a recluster written in chunks leaves them to its next plan."""
    touched: set[int] = set()
    people: set[int] = set()
    for kind, face_id, person_id, other in conn.execute(
            "SELECT kind, face_id, person_id, other_person_id FROM corrections WHERE id > ?", (after,)):
        if face_id is not None:
            touched.add(int(face_id))
        if kind != "reject":
            people |= {int(p) for p in (person_id, other) if p is not None}
    return touched, people


def recluster_moves(conn: sqlite3.Connection, moves: Sequence[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """The moves of one recluster chunk, (face, person it joins, person the mapping saw it on), that still hold
    in the library as it is now, as (face, person); person 0 is none, a negative one a person yet to be made.

    A move holds while its face still exists and is still on the person the mapping saw (else someone else moved
    it since: left as it is), the person it joins still exists, and no face of its photo that stays (or whose
    move was dropped) is on that person (one face per photo). A chunk carries every move of its photos."""
    wanted = {int(f): (int(to), int(seen)) for f, to, seen in moves}
    where: dict[int, tuple[int, int]] = {}  # face -> (photo, person now)
    for chunk in chunks(sorted(wanted)):
        for face_id, photo_id, person_id in conn.execute(
                f"SELECT id, photo_id, coalesce(person_id, 0) FROM faces WHERE id IN ({marks(len(chunk))})", chunk):
            where[int(face_id)] = (int(photo_id), int(person_id))
    ok = {f: to for f, (to, seen) in wanted.items() if f in where and where[f][1] == seen}
    targets = sorted({to for to in ok.values() if to > 0})
    present: set[int] = set()
    for chunk in chunks(targets):
        present |= {int(r[0]) for r in conn.execute(f"SELECT id FROM people WHERE id IN ({marks(len(chunk))})", chunk)}
    ok = {f: to for f, to in ok.items() if to <= 0 or to in present}
    held = {(photo, person) for face, photo, person in _photo_faces(conn, sorted({where[f][0] for f in ok}))
            if face not in ok}
    dropped = True
    while dropped:  # a dropped move keeps its face where it is, which may hold the person another move wanted
        dropped = False
        taken: set[tuple[int, int]] = set()
        for face in sorted(ok):
            photo, to = where[face][0], ok[face]
            if to != 0 and ((photo, to) in held or (photo, to) in taken):
                del ok[face]
                if where[face][1]:
                    held.add((photo, where[face][1]))
                dropped = True
                break
            taken.add((photo, to))
    return sorted(ok.items())


def _photo_faces(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> list[tuple[int, int, int]]:
    """(face id, photo id, person id) of the assigned faces of these photos."""
    rows: list[tuple[int, int, int]] = []
    for chunk in chunks(photo_ids):
        rows += [(int(a), int(b), int(c)) for a, b, c in conn.execute(
            f"SELECT id, photo_id, person_id FROM faces WHERE photo_id IN ({marks(len(chunk))}) "
            "AND person_id IS NOT NULL", chunk)]
    return rows
