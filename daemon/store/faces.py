"""Faces and people in SQL, with the people maths: embedding sums, means, counts, pruning, corrections.

Each person stores the float64 sum of its faces' embeddings (`people.embedding_sum`, schema v3), its mean, its
face count and its photo count (distinct photos, on every path). A face joining or leaving a person updates
those in O(1) queries (`assign_faces`); `refresh_people` recomputes them from the faces (a bulk change, a sum not
yet stored, or a repair); a person left with no face is pruned. Every function here runs on a connection: write
functions inside the writer's transaction (`Store.write`), read functions on any connection (`Store.read`).
The people manager (`daemon/people/manager.py`), the `Store`'s named writes (`store.py`) and the read side
(`daemon/library/reads.py`) call these; none of them writes SQL of its own. A face changing name here (joining,
leaving or swapping a named person, its person renamed or merged) marks its photo's sidecar dirty, for every caller.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from daemon.errors import NotFoundError
from daemon.store.base import (
    FACES_REMOVED_REV,
    PEOPLE_REV,
    blob,
    bump,
    chunks,
    dec,
    mark_dirty,
    marks,
    now,
    vec,
    visible,
)
from daemon.store.rows import RemoveResult

PersonRow = tuple[int, str | None, int, int]  # id, name, faces, photos
I64 = NDArray[np.int64]


# ----------------------------------------------------------------------------------------------- people maths


def _mean(total: NDArray[np.float64], count: int) -> NDArray[np.float32]:
    return (total / count).astype(np.float32)


def sum_of(raw: bytes) -> NDArray[np.float64]:
    """A people.embedding_sum BLOB back to its float64 vector."""
    return np.frombuffer(raw, dtype=np.float64)


def refresh_people(conn: sqlite3.Connection, person_ids: Iterable[int]) -> tuple[list[int], list[int]]:
    """Recompute sum, mean and counts of these people from all their faces; delete those with none left.

    O(faces of each person): for a bulk change (a merge), a person whose sum is unknown, or a repair. Changes of
    a few faces go through `assign_faces`, which updates the stored sums instead."""
    updated: list[int] = []
    pruned: list[int] = []
    stamp = now()
    for person_id in sorted(set(person_ids)):
        rows = conn.execute("SELECT embedding, photo_id FROM faces WHERE person_id = ?", (person_id,)).fetchall()
        if not rows:
            conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
            pruned.append(person_id)
            continue
        total = np.stack([vec(r[0]) for r in rows]).astype(np.float64).sum(axis=0)
        conn.execute("UPDATE people SET mean = ?, embedding_sum = ?, face_count = ?, photo_count = ?, "
                     "updated_at = ? WHERE id = ?",
                     (blob(_mean(total, len(rows))), total.tobytes(), len(rows), len({r[1] for r in rows}), stamp,
                      person_id))
        updated.append(person_id)
    if updated or pruned:
        bump(conn, PEOPLE_REV)
    return updated, pruned


class _Deltas:
    """Per person: the change of its embedding sum (float64), of its face count and of its photo count."""

    def __init__(self) -> None:
        self.sums: dict[int, NDArray[np.float64]] = {}
        self.counts: dict[int, int] = {}
        self.photos: dict[int, int] = {}

    def add(self, person_id: int, embedding: NDArray[np.float32], sign: int) -> None:
        change = embedding.astype(np.float64) * sign
        if person_id in self.sums:
            self.sums[person_id] = self.sums[person_id] + change
        else:
            self.sums[person_id] = change
        self.counts[person_id] = self.counts.get(person_id, 0) + sign

    def photo_pairs(self, before: set[tuple[int, int]], after: set[tuple[int, int]]) -> None:
        """Distinct photos: a person gains a photo for each (photo, person) pair that appeared, loses one for each
        that went (pairs read from the touched photos' faces only)."""
        for _photo, person in after - before:
            self.photos[person] = self.photos.get(person, 0) + 1
        for _photo, person in before - after:
            self.photos[person] = self.photos.get(person, 0) - 1


def _apply_deltas(conn: sqlite3.Connection, deltas: _Deltas) -> tuple[list[int], list[int]]:
    """Add the deltas to the people's stored sums and counts (O(1) queries per chunk of people); a person
    whose sum was never stored (a library from before schema v3) is recomputed from its faces instead."""
    people = sorted(deltas.sums)
    if not people:
        return [], []
    updated: list[int] = []
    pruned: list[int] = []
    unknown: list[int] = []  # recomputed from their faces: no stored sum yet, or no face left
    rows: list[tuple[bytes, bytes, int, int, int]] = []
    stamp = now()
    for chunk in chunks(people):
        for person_id, raw, face_count, photo_count in conn.execute(
                f"SELECT id, embedding_sum, face_count, photo_count FROM people WHERE id IN ({marks(len(chunk))})",
                chunk):
            if raw is None and face_count > 0:
                unknown.append(int(person_id))
                continue
            count = int(face_count) + deltas.counts[person_id]
            if count <= 0:
                unknown.append(int(person_id))  # emptied: refresh_people checks the faces and prunes it
                continue
            total = deltas.sums[person_id] if raw is None else sum_of(raw) + deltas.sums[person_id]
            photos = int(photo_count) + deltas.photos.get(person_id, 0)
            rows.append((blob(_mean(total, count)), total.tobytes(), count, photos, int(person_id)))
            updated.append(int(person_id))
    conn.executemany("UPDATE people SET mean = ?, embedding_sum = ?, face_count = ?, photo_count = ?, updated_at = ? "
                     "WHERE id = ?", [(m, t, c, ph, stamp, p) for m, t, c, ph, p in rows])
    if updated:
        bump(conn, PEOPLE_REV)
    if unknown:
        more, gone = refresh_people(conn, unknown)
        updated += more
        pruned += gone
    return sorted(updated), sorted(pruned)


def _photo_people(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for chunk in chunks(photo_ids):
        pairs |= {(int(r[0]), int(r[1])) for r in conn.execute(
            f"SELECT photo_id, person_id FROM faces WHERE photo_id IN ({marks(len(chunk))}) "
            "AND person_id IS NOT NULL", chunk)}
    return pairs


def _names(conn: sqlite3.Connection, person_ids: Iterable[int]) -> dict[int | None, str | None]:
    """person id -> name (None for an unnamed person; the key None, no person, has no name either)."""
    out: dict[int | None, str | None] = {}
    for chunk in chunks(sorted(person_ids)):
        out.update((int(r[0]), r[1]) for r in conn.execute(
            f"SELECT id, name FROM people WHERE id IN ({marks(len(chunk))})", chunk))
    return out


def face_names(conn: sqlite3.Connection, face_ids: Sequence[int]) -> dict[int, tuple[int, str | None]]:
    """face id -> (photo id, the name it shows: its person's, or None)."""
    out: dict[int, tuple[int, str | None]] = {}
    for chunk in chunks(sorted(face_ids)):
        out.update((int(r[0]), (int(r[1]), r[2])) for r in conn.execute(
            f"SELECT f.id, f.photo_id, p.name FROM faces f LEFT JOIN people p ON p.id = f.person_id "
            f"WHERE f.id IN ({marks(len(chunk))})", chunk))
    return out


def assign_faces(conn: sqlite3.Connection, changes: Iterable[tuple[int, int | None]]) -> tuple[list[int], list[int]]:
    """Put faces on people (None: on nobody) and update the touched people's sums, means and counts in place;
    delete people left with no face. Costs O(changed faces), whatever the size of the people involved.
    Returns (people updated, people pruned)."""
    wanted = dict(changes)
    ids = sorted(wanted)
    moves: list[tuple[int | None, int]] = []
    photos: set[int] = set()
    ends: list[tuple[int, int | None, int | None]] = []  # photo, person before, person after
    deltas = _Deltas()
    for chunk in chunks(ids):
        for face_id, photo_id, before, embedding in conn.execute(
                f"SELECT id, photo_id, person_id, embedding FROM faces WHERE id IN ({marks(len(chunk))})", chunk):
            after = wanted[face_id]
            if before == after:
                continue
            moves.append((after, int(face_id)))
            photos.add(int(photo_id))
            ends.append((int(photo_id), before, after))
            vector = vec(embedding)
            if before is not None:
                deltas.add(int(before), vector, -1)
            if after is not None:
                deltas.add(int(after), vector, +1)
    if not moves:
        return [], []
    names = _names(conn, {p for _ph, b, a in ends for p in (b, a) if p is not None})
    # The sidecar rule, once for every caller: a photo whose face changes name (joins, leaves or swaps a named
    # person) has its sidecar written again.
    mark_dirty(conn, {ph for ph, b, a in ends if names.get(b) != names.get(a)})
    touched = sorted(photos)
    pairs_before = _photo_people(conn, touched)
    conn.executemany("UPDATE faces SET person_id = ? WHERE id = ?", moves)
    deltas.photo_pairs(pairs_before, _photo_people(conn, touched))
    return _apply_deltas(conn, deltas)


def drop_photos(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> RemoveResult:
    """Delete these photos (faces and objects cascade) and take their faces off their people, in O(1) queries
    per chunk of photos; bumps FACES_REMOVED_REV so the people manager's index learns of the deletion."""
    face_ids: list[int] = []
    deltas = _Deltas()
    pairs: set[tuple[int, int]] = set()
    for chunk in chunks(photo_ids):
        for face_id, photo_id, person_id, embedding in conn.execute(
                f"SELECT id, photo_id, person_id, CASE WHEN person_id IS NOT NULL THEN embedding END FROM faces "
                f"WHERE photo_id IN ({marks(len(chunk))}) ORDER BY photo_id, id", chunk):
            face_ids.append(int(face_id))
            if person_id is not None:
                deltas.add(int(person_id), vec(embedding), -1)
                pairs.add((int(photo_id), int(person_id)))
        conn.execute(f"DELETE FROM photos WHERE id IN ({marks(len(chunk))})", chunk)
    deltas.photo_pairs(pairs, set())
    updated, pruned = _apply_deltas(conn, deltas)
    rev = bump(conn, FACES_REMOVED_REV) if face_ids else 0
    return RemoveResult(photo_ids=tuple(photo_ids), faces_removed=len(face_ids), face_ids=tuple(face_ids),
                        people_updated=tuple(updated), people_pruned=tuple(pruned), removed_rev=rev)


def drop_faces(conn: sqlite3.Connection, face_ids: Sequence[int]) -> RemoveResult:
    """Delete these faces of photos that stay (taken off their people first: sums follow, empty people are
    pruned); bumps FACES_REMOVED_REV so the people manager's index learns of the deletion."""
    if not face_ids:
        return RemoveResult()
    updated, pruned = assign_faces(conn, [(f, None) for f in face_ids])
    for chunk in chunks(list(face_ids)):
        conn.execute(f"DELETE FROM faces WHERE id IN ({marks(len(chunk))})", chunk)
    rev = bump(conn, FACES_REMOVED_REV)
    return RemoveResult(faces_removed=len(face_ids), face_ids=tuple(face_ids), people_updated=tuple(updated),
                        people_pruned=tuple(pruned), removed_rev=rev)


StoredSum = tuple[int, str | None, bytes | None, int, int]  # id, name, embedding_sum, face_count, photo_count


def stored_sums(conn: sqlite3.Connection) -> list[StoredSum]:
    """What every person stores about its faces (read with the faces, in one snapshot, to check them)."""
    return conn.execute("SELECT id, name, embedding_sum, face_count, photo_count FROM people ORDER BY id").fetchall()


def drifted_sums(rows: FaceRows, stored: list[StoredSum]) -> tuple[list[tuple[int, str | None]], list[int]]:
    """Compare the stored sums and counts with the faces of the same snapshot (pure numpy, no DB).

    Returns (people whose stored sum or counts differ from their faces, as (id, name); people with no sum stored
    yet, pre-v3). Both are fixed by `refresh_people`, which recomputes from the faces as they are then."""
    assigned = rows.people != 0
    people = rows.people[assigned]
    order = np.argsort(people, kind="stable")
    people = people[order]
    uniq, starts = np.unique(people, return_index=True)
    dim = rows.vectors.shape[1] if rows.vectors.ndim == 2 else 0
    totals = np.add.reduceat(rows.vectors[assigned][order].astype(np.float64), starts, axis=0) if len(uniq) \
        else np.zeros((0, dim), np.float64)
    counts = np.diff(np.append(starts, len(people)))
    # Distinct photos per person: (person, photo) keys sorted, counted where they change.
    keys = people.astype(np.int64) * (int(rows.photos.max(initial=0)) + 1) + rows.photos[assigned][order]
    keys.sort()
    first = np.ones(len(keys), bool)
    first[1:] = keys[1:] != keys[:-1]
    photo_counts = np.add.reduceat(first.astype(np.int64), starts) if len(uniq) else np.zeros(0, np.int64)
    drifted: list[tuple[int, str | None]] = []
    unknown: list[int] = []
    ids = np.array([r[0] for r in stored], np.int64)
    at = np.minimum(np.searchsorted(uniq, ids), max(len(uniq) - 1, 0))
    present = (uniq[at] == ids) if len(uniq) else np.zeros(len(ids), bool)
    known = np.array([r[2] is not None for r in stored], bool)
    check = present & known
    ok = np.zeros(len(ids), bool)
    if check.any():
        sums = np.stack([sum_of(stored[i][2]) for i in np.flatnonzero(check)])  # type: ignore[arg-type]
        stored_counts = np.array([(stored[i][3], stored[i][4]) for i in np.flatnonzero(check)], np.int64)
        k = at[check]
        # float64 sums of float32 vectors: a few ulps apart when right, whatever the order of the additions.
        ok[check] = (np.abs(sums - totals[k]).max(axis=1) <= 1e-6) & (stored_counts[:, 0] == counts[k]) & \
            (stored_counts[:, 1] == photo_counts[k])
    for i, (person_id, name, _raw, _faces, _photos) in enumerate(stored):
        if not present[i]:
            drifted.append((int(person_id), name))  # no face left: should have been pruned
        elif not known[i]:
            unknown.append(int(person_id))
        elif not ok[i]:
            drifted.append((int(person_id), name))
    return drifted, unknown


# ----------------------------------------------------------------------------------------------- the manager's reads


def means(conn: sqlite3.Connection, person_ids: Sequence[int] | None = None) -> list[tuple[int, bytes]]:
    """(id, mean BLOB) of every person with a mean, or of these people, in id order."""
    if person_ids is None:
        return conn.execute("SELECT id, mean FROM people WHERE mean IS NOT NULL ORDER BY id").fetchall()
    rows: list[tuple[int, bytes]] = []
    for chunk in chunks(sorted(person_ids)):
        rows += conn.execute(f"SELECT id, mean FROM people WHERE mean IS NOT NULL AND id IN ({marks(len(chunk))}) "
                             "ORDER BY id", chunk).fetchall()
    return rows


def face_distances(conn: sqlite3.Connection, person_id: int) -> dict[int, float]:
    """face id -> cosine distance of its embedding to its person's mean (the contact sheet's numbers)."""
    row = conn.execute("SELECT mean FROM people WHERE id = ? AND mean IS NOT NULL", (person_id,)).fetchone()
    if row is None:
        return {}
    mean = vec(row[0]).astype(np.float64)
    norm = float(np.linalg.norm(mean))
    if norm == 0.0:
        return {}
    mean /= norm
    out: dict[int, float] = {}
    for fid, raw in conn.execute("SELECT id, embedding FROM faces WHERE person_id = ?", (person_id,)):
        emb = vec(raw).astype(np.float64)
        length = float(np.linalg.norm(emb))
        if emb.shape == mean.shape and length > 0:
            out[int(fid)] = float(1.0 - emb @ mean / length)
    return out


def photo_face_people(conn: sqlite3.Connection, photo_id: int) -> dict[int, int | None]:
    """face id -> person id (or None) of one photo's faces."""
    return dict(conn.execute("SELECT id, person_id FROM faces WHERE photo_id = ?", (photo_id,)).fetchall())


@dataclass(frozen=True)
class FaceRows:
    """Faces as aligned arrays (ascending ids), for the density index."""

    ids: I64
    photos: I64
    people: I64  # 0: no person
    vectors: NDArray[np.float32]
    quality: NDArray[np.float32] | None = None  # per face, NaN when unknown (faces_after only)


def faces_after(conn: sqlite3.Connection, last_id: int, *, dim: int = 128) -> FaceRows:
    """Every face with an id above `last_id` (face ids only grow: AUTOINCREMENT)."""
    ids: list[int] = []
    photos: list[int] = []
    people: list[int] = []
    vectors: list[NDArray[np.float32]] = []
    quality: list[float] = []
    cursor = conn.execute("SELECT id, photo_id, coalesce(person_id, 0), embedding, quality FROM faces WHERE id > ? "
                          "ORDER BY id", (last_id,))
    while rows := cursor.fetchmany(4096):
        for face_id, photo_id, person_id, embedding, score in rows:
            ids.append(face_id)
            photos.append(photo_id)
            people.append(person_id)
            vectors.append(vec(embedding))
            quality.append(np.nan if score is None else score)
    return FaceRows(ids=np.array(ids, np.int64), photos=np.array(photos, np.int64),
                    people=np.array(people, np.int64),
                    vectors=np.stack(vectors) if vectors else np.zeros((0, dim), np.float32),
                    quality=np.array(quality, np.float32))


def assigned_faces(conn: sqlite3.Connection, person_id: int | None = None, *, dim: int = 128) -> FaceRows:
    """Every face on a person (or on this person), ascending ids."""
    where, args = ("person_id = ?", (person_id,)) if person_id is not None else ("person_id IS NOT NULL", ())
    rows = conn.execute(f"SELECT id, photo_id, person_id, embedding FROM faces WHERE {where} ORDER BY id",
                        args).fetchall()
    return FaceRows(ids=np.array([r[0] for r in rows], np.int64), photos=np.array([r[1] for r in rows], np.int64),
                    people=np.array([r[2] for r in rows], np.int64),
                    vectors=np.stack([vec(r[3]) for r in rows]) if rows else np.zeros((0, dim), np.float32))


def unassigned_faces(conn: sqlite3.Connection, face_ids: Sequence[int] | None = None, *,
                     dim: int = 128) -> FaceRows:
    """Every face on nobody (or those of these faces), ascending ids."""
    rows: list[tuple[int, int, int, bytes]] = []
    if face_ids is None:
        rows = conn.execute("SELECT id, photo_id, 0, embedding FROM faces WHERE person_id IS NULL ORDER BY id"
                            ).fetchall()
    else:
        for chunk in chunks(sorted(face_ids)):
            rows += conn.execute(f"SELECT id, photo_id, 0, embedding FROM faces WHERE person_id IS NULL AND id IN "
                                 f"({marks(len(chunk))}) ORDER BY id", chunk).fetchall()
    return FaceRows(ids=np.array([r[0] for r in rows], np.int64), photos=np.array([r[1] for r in rows], np.int64),
                    people=np.zeros(len(rows), np.int64),
                    vectors=np.stack([vec(r[3]) for r in rows]) if rows else np.zeros((0, dim), np.float32))


def photo_people_of(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> set[tuple[int, int]]:
    """(photo id, person id) of every assigned face of these photos."""
    return _photo_people(conn, sorted(set(photo_ids)))


def face_ids(conn: sqlite3.Connection, upto: int) -> I64:
    """Ids of every face up to `upto`, ascending."""
    return np.array([r[0] for r in conn.execute("SELECT id FROM faces WHERE id <= ? ORDER BY id", (upto,))],
                    np.int64)


def face_people(conn: sqlite3.Connection) -> NDArray[np.int64]:
    """(face id, person id or 0) of every face, as an n x 2 array."""
    return np.array(conn.execute("SELECT id, coalesce(person_id, 0) FROM faces").fetchall(),
                    np.int64).reshape(-1, 2)


def pins(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(face id, person id) of every face the user pinned, oldest first (a later pin wins)."""
    return conn.execute("SELECT face_id, person_id FROM corrections WHERE kind = 'assign' ORDER BY id").fetchall()


def rejections(conn: sqlite3.Connection) -> list[tuple[int, int]]:
    """(face id, person id) of every "not this person"."""
    return conn.execute("SELECT face_id, person_id FROM corrections WHERE kind = 'reject'").fetchall()


def rejections_of(conn: sqlite3.Connection, face_ids: Sequence[int] | None = None) -> set[tuple[int, int]]:
    """(face id, person id) of every "not this person" (of these faces)."""
    if face_ids is None:
        return {(int(a), int(b)) for a, b in rejections(conn)}
    out: set[tuple[int, int]] = set()
    for chunk in chunks(sorted(face_ids)):
        out |= {(int(a), int(b)) for a, b in conn.execute(
            f"SELECT face_id, person_id FROM corrections WHERE kind = 'reject' AND face_id IN ({marks(len(chunk))})",
            chunk)}
    return out


def person_names(conn: sqlite3.Connection) -> dict[int, str | None]:
    """id -> name of every person."""
    return {int(r[0]): r[1] for r in conn.execute("SELECT id, name FROM people")}


def curated_people(conn: sqlite3.Connection) -> I64:
    """Ids of the people the user named, merged into or gave a face to, ascending."""
    return np.array([r[0] for r in conn.execute("SELECT id FROM people WHERE curated = 1 ORDER BY id")], np.int64)


def new_person(conn: sqlite3.Connection, stamp: str) -> int:
    """A new, empty, unnamed person (its faces follow in the same transaction); its id."""
    cursor = conn.execute("INSERT INTO people (created_at, updated_at) VALUES (?, ?)", (stamp, stamp))
    return int(cursor.lastrowid or 0)


def people_count(conn: sqlite3.Connection) -> int:
    """How many people there are."""
    return int(conn.execute("SELECT count(*) FROM people").fetchone()[0])


# ----------------------------------------------------------------------------------------------- the read side


def person_row(conn: sqlite3.Connection, person_id: int) -> PersonRow:
    """(id, name, faces, photos) of one person; NotFoundError for an unknown id."""
    row = conn.execute("SELECT id, name, face_count, photo_count FROM people WHERE id = ?", (person_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no person with id {person_id} (see `pictod people`)")
    return int(row[0]), row[1], int(row[2]), int(row[3])


def people_rows(conn: sqlite3.Connection) -> list[PersonRow]:
    """(id, name, faces, photos) of every person, most faces first; faces on missing photos (issue 22,
    `base.visible`) are not counted, and a person with only those is left out (kept, with its name)."""
    return conn.execute(
        "SELECT pe.id, pe.name, count(f.id) AS n, count(DISTINCT f.photo_id) FROM people pe "
        f"JOIN faces f ON f.person_id = pe.id JOIN photos p ON p.id = f.photo_id AND {visible(conn)} "
        "GROUP BY pe.id ORDER BY n DESC, pe.id").fetchall()


def people_named(conn: sqlite3.Connection, name: str) -> list[int]:
    """Ids of the people with exactly this name."""
    return [int(r[0]) for r in conn.execute("SELECT id FROM people WHERE name = ?", (name,))]


def face_row(conn: sqlite3.Connection, face_id: int) -> tuple[int, int | None]:
    """(photo id, person id or None) of one face; NotFoundError for an unknown id."""
    row = conn.execute("SELECT photo_id, person_id FROM faces WHERE id = ?", (face_id,)).fetchone()
    if row is None:
        raise NotFoundError(f"no face with id {face_id} (see `pictod people show ID`)")
    return int(row[0]), (None if row[1] is None else int(row[1]))


def person_faces(conn: sqlite3.Connection, person_id: int) -> list[tuple[int, int, str | None,
                                                                         tuple[float, float, float, float],
                                                                         float, bool]]:
    """(face id, photo id, one path showing the photo or None, box, score, pinned) of a person's faces."""
    pinned = {r[0] for r in conn.execute(
        "SELECT face_id FROM corrections WHERE kind = 'assign' AND person_id = ?", (person_id,))}
    return [(fid, photo_id, None if path is None else dec(path), (x1, y1, x2, y2), score, fid in pinned)
            for fid, photo_id, x1, y1, x2, y2, score, path in conn.execute(
                "SELECT f.id, f.photo_id, f.x1, f.y1, f.x2, f.y2, f.score, "
                "(SELECT path FROM files WHERE photo_id = f.photo_id ORDER BY path LIMIT 1) "
                "FROM faces f WHERE f.person_id = ? ORDER BY f.id", (person_id,))]
