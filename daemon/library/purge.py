"""Purging missing photos (issue 22): the use case behind `pictod purge` and the daemon's grace-period expiry.

A photo whose files vanished is kept as *missing* (`daemon/store/missing.py`) for `library.keep_missing_days`;
`expire` deletes those past it (the daemon, at start and once a day), `purge` every missing photo at once or,
with `dry_run`, only says which. Deleting goes through `faces.drop_photos`: faces, objects and corrections go,
people lose those faces (a person left with none is pruned) and the running daemon's people index learns it
from the faces-removed revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from daemon.store import missing
from daemon.store.missing import MissingPhoto
from daemon.store.rows import RemoveResult

if TYPE_CHECKING:
    from daemon.store import Store


@dataclass(frozen=True)
class PurgeReport:
    """What `pictod purge` deleted (or, with dry_run, would delete)."""

    dry_run: bool
    photos: list[MissingPhoto] = field(default_factory=list)  # the missing photos concerned, oldest first
    purged: int = 0  # photos deleted for good (0 with dry_run)
    faces_removed: int = 0
    people_pruned: int = 0  # people left with no face at all, deleted


def purge(store: Store, *, dry_run: bool = False, older_than_days: float | None = None) -> PurgeReport:
    """Delete the missing photos (those missing longer than `older_than_days` when given) for good."""
    before = None if older_than_days is None else missing.cutoff(older_than_days)
    photos = store.read(lambda conn: missing.missing_photos(conn, before=before))
    if dry_run or not photos:
        return PurgeReport(dry_run=dry_run, photos=photos)
    ids = [p.id for p in photos]
    result = store.write(lambda conn: missing.purge(conn, ids))
    return PurgeReport(dry_run=False, photos=photos, purged=len(result.photo_ids),
                       faces_removed=result.faces_removed, people_pruned=len(result.people_pruned))


def expire(store: Store, keep_days: float) -> RemoveResult:
    """The daemon's check: delete the photos missing longer than `keep_days` (a read first: no write when
    none); what went, for `PeopleManager.on_removed`."""
    before = missing.cutoff(keep_days)
    ids = [p.id for p in store.read(lambda conn: missing.missing_photos(conn, before=before))]
    if not ids:
        return RemoveResult()
    return store.write(lambda conn: missing.purge(conn, ids))
