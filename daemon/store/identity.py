"""Which file a row saw (issue 22): the inode and ctime of a file as last handled, beside its size and mtime.

A photo replaced by other bytes of the same size and mtime (a copy tool that keeps times, a restore) looked
unchanged to a size/mtime compare; the new file has another inode or at least a newer ctime, which no tool can
set back. They are written with the file row (`queries._upsert_file`, from the `FileDigest` of the bytes read).
Rows from before schema v9, or a failure, have NULL here and are compared on size and mtime alone.
"""

from __future__ import annotations

from daemon.store.base import clamp_ns


def same_file(stored: tuple[int | None, int | None], inode: int, ctime_ns: int | None) -> bool:
    """Whether a row's (inode, ctime_ns) still names this file (True when the row never recorded them);
    `ctime_ns` None: the inode alone (a chmod changes the ctime too)."""
    if stored[0] is None:
        return True
    if ctime_ns is None:
        return stored[0] == clamp_ns(inode)
    return stored == (clamp_ns(inode), clamp_ns(ctime_ns))
