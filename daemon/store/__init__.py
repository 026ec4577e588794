"""The library store: one SQLite file holding photos, files, objects, faces, people and corrections.

Owns connection set-up (`db.py`), versioned migrations (`migrations.py`), the single writer thread
(`writer.py`), the records it hands out (`rows.py`), the `Store` facade (`store.py`) and every SQL statement
pictod runs: files, photos, objects, state and status in `queries.py`; the photo search in `search.py`; faces
and people with the people maths (sums, means, counts, pruning) in `faces.py`; the user corrections in
`edits.py`; XMP imports and sidecar state in `metadata.py`; the reads only the web app asks for in
`web_queries.py`; shared primitives in `base.py`. Clustering maths lives in `daemon/people/clusters.py`, the
people manager in `daemon/people/manager.py`.

Model: content identity. A *photo* is one content (sha256 hex of the bytes) with its analysis (objects, faces);
a *file* is a path on disk (path, size, mtime_ns, status) pointing at a photo. Copies, moves and renames of the
same bytes share one photo (no second inference; faces keep their people). A photo with no file left is deleted
with its faces, and the people those faces belonged to get their mean and counts updated in the same
transaction (people left with no face are pruned). Each person stores the float64 sum of its faces'
embeddings (`people.embedding_sum`), so a face joining or leaving costs O(1) queries (`faces.assign_faces`).
Paths are `str` in the API and stored as BLOBs of `os.fsencode(path)`, so any file name (newlines, quotes,
non-UTF-8 bytes via surrogateescape) round-trips.

The API is `Store` (`store.py`): `Store.open(path, read_only=...)`, reads on any thread, and one named method
per write, each one transaction on the writer thread. The modules, their functions and who calls them: the root
ARCHITECTURE.md (the code map). The records it hands out are frozen dataclasses from `rows.py`, re-exported here.
"""

from __future__ import annotations

from daemon.store.rows import AddResult, FileRecord, NewFace, RemoveResult, StatusCounts
from daemon.store.store import Store

__all__ = ["AddResult", "FileRecord", "NewFace", "RemoveResult", "StatusCounts", "Store"]
