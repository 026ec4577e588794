"""Face clustering maths, pure numpy: exact DBSCAN (cosine) without an n x n matrix, exact incremental insertion,
nearest-mean assignment, and mapping new clusters onto existing people. Touches no database.

DBSCAN semantics are scikit-learn's: a point is *core* when at least `min_samples` points (itself included) lie
within cosine distance `eps`; core points within `eps` of each other share a cluster; a non-core point within
`eps` of a core point is a border point of that cluster; the rest is noise (-1). On L2-normalised vectors
cosine distance <= eps is the dot product >= 1 - eps, so neighbourhoods are found with blocked matrix products
(rows x N, memory bounded by `block_bytes`); 128-d embeddings defeat ball and k-d trees (measured: a ball tree
radius query over 100k faces costs ~15 ms per face, the blocked product ~0.15 ms).

`DensityIndex` keeps each point's neighbour count, its core flag, a union-find over core points and a border
link, so new points are inserted exactly (Ester et al. 1998): only the new points and the points that become
core through them are searched. Deletions are exact too: only the clusters the deleted points touched are
re-linked among their own members.

Low-quality points (`low`, issue 11): never core, and a border point of a cluster only when a core point lies
within the stricter `low_eps` (they still count as neighbours for the others' core test).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

BLOCK_BYTES = 256 * 1024 * 1024

_blas: Any = None  # threadpoolctl controller, False if unavailable
_blas_limit: Any = None  # the active limit while _blas_users > 0
_blas_users = 0
_blas_lock = threading.Lock()



def _components(i: NDArray[np.intp], j: NDArray[np.intp], n: int) -> NDArray[np.int32]:
    """Connected-component label of each of n points, given the edges (i, j)."""
    # Imported here: scipy.sparse.csgraph costs 0.24 s of every start-up (pictod status, an empty scan) and is
    # only needed once faces are clustered.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    _count, labels = connected_components(graph, directed=False)
    return np.asarray(labels, dtype=np.int32)

@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the small incremental products on one BLAS thread.

    Measured on 2 shared cores (bench/clusters.py, 100k faces, 1,000 photos imported): with OpenBLAS' default
    threads the incremental path spent 13-16 CPU ms per photo, most of it BLAS threads spinning on an
    8 x 100k product; with one thread 4.6 ms. threadpoolctl is a requirement of scikit-learn. The limit is
    process-wide, so overlapping users share one limit (reference-counted) and the last one out restores it;
    it only slows other BLAS users meanwhile, never changes a result.
    """
    global _blas, _blas_limit, _blas_users
    with _blas_lock:
        if _blas is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:  # pragma: no cover - scikit-learn always brings it
                _blas = False
            else:
                _blas = ThreadpoolController()
        if _blas is not False:
            if _blas_users == 0:
                _blas_limit = _blas.limit(limits=1, user_api="blas")
            _blas_users += 1
    try:
        yield
    finally:
        if _blas is not False:
            with _blas_lock:
                _blas_users -= 1
                if _blas_users == 0:
                    _blas_limit.restore_original_limits()
                    _blas_limit = None


def normalise(x: NDArray[np.floating]) -> F32:
    """Rows scaled to unit length (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x.reshape(1, -1)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def block_rows(n: int, block_bytes: int = BLOCK_BYTES) -> int:
    """Query rows per block so one rows x n float32 product stays within block_bytes."""
    return int(max(16, min(4096, block_bytes // max(1, 4 * n))))


def radius_pairs(queries: F32, points: F32, eps: float, *, block_bytes: int = BLOCK_BYTES) -> tuple[I64, I64]:
    """All (query row, point row) pairs with cosine distance <= eps (inputs normalised)."""
    threshold = np.float32(1.0 - eps)
    rows = block_rows(len(points), block_bytes)
    qs: list[I64] = []
    ps: list[I64] = []
    for start in range(0, len(queries), rows):
        # points @ block.T, not block @ points.T: with few query rows BLAS is ~5x faster this way round.
        sims = points @ queries[start:start + rows].T
        p, q = np.nonzero(sims >= threshold)
        qs.append(q.astype(np.int64) + start)
        ps.append(p.astype(np.int64))
    if not qs:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(qs), np.concatenate(ps)


def _self_pairs(x: F32, eps: float, block_bytes: int) -> tuple[I64, I64]:
    """All pairs i < j within eps, computing only the upper triangle of the product."""
    threshold = np.float32(1.0 - eps)
    rows = block_rows(len(x), block_bytes)
    ii: list[I64] = []
    jj: list[I64] = []
    n = len(x)
    # Buffers reused across blocks: fresh 100+ MB arrays per block cost page faults (~15% measured).
    sims_buf = np.empty((n, min(rows, n)), np.float32)
    mask_buf = np.empty((n, min(rows, n)), bool)
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        sims = sims_buf[:n - start, :stop - start]
        np.matmul(x[start:], x[start:stop].T, out=sims)  # this way round is faster (measured)
        mask = mask_buf[:n - start, :stop - start]
        np.greater_equal(sims, threshold, out=mask)
        c, r = np.nonzero(mask)
        keep = c > r  # both offsets are `start`, so c > r is j > i globally
        ii.append(r[keep].astype(np.int64) + start)
        jj.append(c[keep].astype(np.int64) + start)
    if not ii:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    return np.concatenate(ii), np.concatenate(jj)


class DensityIndex:
    """Exact DBSCAN state over a growing set of normalised vectors: neighbour counts, core flags, union-find."""

    def __init__(self, dim: int, eps: float, min_samples: int, *, low_eps: float | None = None,
                 block_bytes: int = BLOCK_BYTES) -> None:
        self.dim = dim
        self.eps = float(eps)
        self.low_eps = self.eps if low_eps is None else min(float(low_eps), self.eps)
        self.min_samples = int(min_samples)
        self.block_bytes = block_bytes
        self.n = 0
        self._vecs = np.zeros((0, dim), np.float32)
        self._counts = np.zeros(0, np.int64)  # neighbours within eps, the point itself included
        self._parent = np.zeros(0, np.int64)  # union-find over core points
        self._border = np.zeros(0, np.int64)  # for non-core points: one core neighbour, or -1
        self._alive = np.zeros(0, bool)
        self._low = np.zeros(0, bool)  # low-quality points: never core, border only within low_eps

    def __len__(self) -> int:
        return self.n

    @property
    def vectors(self) -> F32:
        """The stored (normalised) vectors."""
        return self._vecs[:self.n]

    @property
    def counts(self) -> I64:
        """Neighbour counts (self included)."""
        return self._counts[:self.n]

    @property
    def alive(self) -> NDArray[np.bool_]:
        """False for removed points."""
        return self._alive[:self.n]

    @property
    def low(self) -> NDArray[np.bool_]:
        """Low-quality flags."""
        return self._low[:self.n]

    @property
    def core(self) -> NDArray[np.bool_]:
        """Core flags."""
        return (self._counts[:self.n] >= self.min_samples) & self._alive[:self.n] & ~self._low[:self.n]

    def _border_ok(self, points: NDArray[np.integer], cores: NDArray[np.integer]) -> NDArray[np.bool_]:
        """Per pair: may `points[i]` be a border point of `cores[i]` (low-quality points: within low_eps only)."""
        ok = ~self._low[points]
        strict = np.flatnonzero(~ok)
        if len(strict):
            sims = np.einsum("ij,ij->i", self._vecs[points[strict]], self._vecs[cores[strict]])
            ok[strict] = sims >= np.float32(1.0 - self.low_eps)
        return ok

    @classmethod
    def build(cls, embeddings: NDArray[np.floating], eps: float, min_samples: int, *,
              low: NDArray[np.bool_] | None = None, low_eps: float | None = None,
              block_bytes: int = BLOCK_BYTES) -> DensityIndex:
        """Index all points at once (one symmetric blocked pass); `low` flags low-quality points."""
        x = normalise(embeddings) if len(embeddings) else np.zeros((0, np.shape(embeddings)[-1]), np.float32)
        index = cls(x.shape[1], eps, min_samples, low_eps=low_eps, block_bytes=block_bytes)
        n = len(x)
        index._grow(n)
        index._vecs[:n] = x
        index.n = n
        index._alive[:n] = True
        if low is not None:
            index._low[:n] = np.asarray(low, bool)
        i, j = _self_pairs(x, eps, block_bytes)
        counts = 1 + np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        index._counts[:n] = counts
        core = (counts >= index.min_samples) & ~index._low[:n]
        both = core[i] & core[j]
        comp = _components(i[both], j[both], n)
        # Representative of each component: its smallest member, so parent[] is a valid union-find forest.
        first = np.full(int(comp.max()) + 1 if n else 0, n, np.int64)
        np.minimum.at(first, comp, np.arange(n, dtype=np.int64))
        index._parent[:n] = first[comp]
        border = np.full(n, -1, np.int64)
        one_way = core[i] != core[j]
        inner = np.where(core[i[one_way]], j[one_way], i[one_way])
        outer = np.where(core[i[one_way]], i[one_way], j[one_way])
        ok = index._border_ok(inner, outer)
        inner, outer = inner[ok], outer[ok]
        # First core neighbour in index order, like a scan would find it.
        order = np.lexsort((outer, inner))
        inner, outer = inner[order], outer[order]
        uniq, first_at = np.unique(inner, return_index=True)
        border[uniq] = outer[first_at]
        index._border[:n] = border
        return index

    def _grow(self, extra: int) -> None:
        need = self.n + extra
        if need <= len(self._vecs):
            return
        size = max(need, 2 * len(self._vecs), 1024)
        vecs = np.zeros((size, self.dim), np.float32)
        vecs[:self.n] = self._vecs[:self.n]
        self._vecs = vecs
        for name, fill in (("_counts", 0), ("_parent", 0), ("_border", -1), ("_alive", False), ("_low", False)):
            old = getattr(self, name)
            new = np.full(size, fill, dtype=old.dtype)
            new[:self.n] = old[:self.n]
            setattr(self, name, new)

    def _find(self, a: int) -> int:
        parent = self._parent
        root = a
        while parent[root] != root:
            root = int(parent[root])
        while parent[a] != root:
            parent[a], a = root, int(parent[a])
        return root

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            # Smaller index as root keeps roots deterministic.
            if ra < rb:
                self._parent[rb] = ra
            else:
                self._parent[ra] = rb

    def add(self, embeddings: NDArray[np.floating], low: NDArray[np.bool_] | None = None) -> I64:
        """Insert points exactly (DBSCAN insertion); return their positions. `low` flags low-quality points."""
        q = normalise(embeddings)
        k = len(q)
        if k == 0:
            return np.empty(0, np.int64)
        old_n = self.n
        self._grow(k)
        self._vecs[old_n:old_n + k] = q
        self.n = old_n + k
        self._alive[old_n:self.n] = True
        self._low[old_n:self.n] = False if low is None else np.asarray(low, bool)
        positions = np.arange(old_n, self.n, dtype=np.int64)
        self._parent[old_n:self.n] = positions
        self._border[old_n:self.n] = -1
        ms = self.min_samples
        before = self._counts[:old_n].copy()
        qi, pj = radius_pairs(q, self._vecs[:self.n], self.eps, block_bytes=self.block_bytes)
        qi_global = qi + old_n
        not_self = pj != qi_global
        qi_global, pj = qi_global[not_self], pj[not_self]
        self._counts[old_n:self.n] = 1 + np.bincount(qi[not_self], minlength=k)[:k]
        old_hits = pj[pj < old_n]
        if len(old_hits):
            self._counts[:old_n] += np.bincount(old_hits, minlength=old_n)
        counts = self._counts[:self.n]
        core = (counts >= ms) & ~self._low[:self.n]
        became = np.flatnonzero((before < ms) & core[:old_n])  # old points made core by the new ones
        # Neighbour lists of every newly core point: the new points' rows are known; search the others once.
        src = [qi_global]
        dst = [pj]
        # A point that had no neighbour before (count 1) has only new ones: reverse the pairs found, no search.
        lonely = np.zeros(old_n, bool)
        lonely[became[before[became] == 1]] = True
        hit_lonely = (pj < old_n) & lonely[np.minimum(pj, max(old_n - 1, 0))] if old_n else np.zeros(0, bool)
        src.append(pj[hit_lonely])
        dst.append(qi_global[hit_lonely])
        search = became[before[became] > 1]
        if len(search):
            bi, bj = radius_pairs(self._vecs[search], self._vecs[:self.n], self.eps, block_bytes=self.block_bytes)
            bi = search[bi]
            keep = bi != bj
            src.append(bi[keep])
            dst.append(bj[keep])
        a = np.concatenate(src)
        b = np.concatenate(dst)
        newly = np.zeros(self.n, bool)
        newly[became] = True
        newly[old_n:] = core[old_n:]
        from_new = newly[a]
        a, b = a[from_new], b[from_new]
        both = core[b]
        for x, y in zip(a[both].tolist(), b[both].tolist(), strict=True):
            self._union(x, y)
        # Border links: a non-core neighbour of a newly core point that had none gets this one.
        ok = self._border_ok(b[~both], a[~both])
        for x, y in zip(a[~both][ok].tolist(), b[~both][ok].tolist(), strict=True):
            if self._border[y] < 0:
                self._border[y] = x
        # New non-core points take their first core neighbour.
        new_noncore = ~core[qi_global] if len(qi_global) else np.zeros(0, bool)
        if new_noncore.any():
            new_noncore[new_noncore] = self._border_ok(qi_global[new_noncore], pj[new_noncore])
        for x, y in zip(qi_global[new_noncore].tolist(), pj[new_noncore].tolist(), strict=True):
            if core[y] and self._border[x] < 0:
                self._border[x] = y
        return positions

    def remove(self, positions: I64) -> None:
        """Delete points exactly, recomputing only the clusters they touched (never needs a rebuild).

        Counts drop for the deleted points' neighbours; then every cluster holding one of those neighbours is
        re-linked from scratch among its own members (a deletion can only split clusters, so no core edge leaves
        them), and their non-core members look for a core neighbour again. Cost: one product for the deleted
        points, a members x members product per touched cluster, one product for their non-core members.
        """
        dead = np.unique(np.asarray(positions, np.int64))
        dead = dead[self._alive[dead]]
        if len(dead) == 0:
            return
        n = self.n
        ms = self.min_samples
        roots_before = self.roots()
        di, dj = radius_pairs(self._vecs[dead], self._vecs[:n], self.eps, block_bytes=self.block_bytes)
        is_dead = np.zeros(n, bool)
        is_dead[dead] = True
        hit = dj[~is_dead[dj]]
        touched = np.unique(hit)
        self._counts[:n] -= np.bincount(hit, minlength=n)
        self._alive[dead] = False
        self._vecs[dead] = 0.0  # a zero vector is never within eps (< 1) of anything
        self._counts[dead] = 0
        self._border[dead] = -1
        self._parent[dead] = dead
        del di
        # Members of every cluster a deleted point or one of its neighbours belonged to.
        affected_roots = np.unique(roots_before[np.concatenate([dead, touched])])
        affected_roots = affected_roots[affected_roots >= 0]
        members = np.flatnonzero(np.isin(roots_before, affected_roots) & self._alive[:n])
        members = np.union1d(members, touched)
        if len(members) == 0:
            return
        core = (self._counts[:n] >= ms) & self._alive[:n] & ~self._low[:n]
        mc = members[core[members]]
        if len(mc):
            i, j = _self_pairs(self._vecs[mc], self.eps, self.block_bytes)
            comp = _components(i, j, len(mc))
            first = np.full(int(comp.max()) + 1, n, np.int64)
            np.minimum.at(first, comp, mc)
            self._parent[mc] = first[comp]
        # Non-core members (old borders, points that lost core status): first core neighbour anywhere.
        loose = members[~core[members]]
        self._border[loose] = -1
        self._parent[loose] = loose
        if len(loose):
            li, lj = radius_pairs(self._vecs[loose], self._vecs[:n], self.eps, block_bytes=self.block_bytes)
            ok = core[lj] & (lj != loose[li])
            li, lj = li[ok], lj[ok]
            ok = self._border_ok(loose[li], lj)
            li, lj = li[ok], lj[ok]
            order = np.lexsort((lj, li))
            li, lj = li[order], lj[order]
            uniq, first_at = np.unique(li, return_index=True)
            self._border[loose[uniq]] = lj[first_at]

    def labels(self) -> I64:
        """Cluster label per point: 0..K-1, -1 for noise (and removed points)."""
        root = self.roots()
        labels = np.full(len(root), -1, np.int64)
        has = root >= 0
        _uniq, inverse = np.unique(root[has], return_inverse=True)
        labels[has] = inverse
        return labels

    def roots(self) -> I64:
        """Cluster id per point as its union-find root (< n, not dense; -1 noise): labels() without a sort."""
        n = self.n
        parent = self._parent[:n].copy()
        while True:  # full path compression, vectorised
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        self._parent[:n] = parent
        core = self.core
        root = np.full(n, -1, np.int64)
        root[core] = parent[core]
        border = (~core) & (self._border[:n] >= 0) & self._alive[:n]
        root[border] = parent[self._border[:n][border]]
        return root


@dataclass(frozen=True)
class Constraints:
    """What the user said and what must be kept, per face position (0 = none)."""

    current: I64  # person each face has now (0: none)
    pinned: I64  # person a face was moved to by the user (0: none)
    curated: I64  # sorted ids of people the user named, merged into or gave a face: they anchor their faces
    photo: I64  # photo of each face (one face per photo per person)
    rejected: dict[int, set[int]]  # face position -> people it must never join


def _unique_pairs(a: I64, b: I64) -> tuple[NDArray[np.int64], I64]:
    """Distinct (a, b) rows (sorted by a, then b) with their counts; a, b >= 0. Faster than unique(axis=0)."""
    if len(a) == 0:
        return np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    span = int(b.max()) + 1
    keys, counts = np.unique(a * span + b, return_counts=True)
    return np.stack([keys // span, keys % span], axis=1), counts


def _overlaps(labels: I64, people: I64, k: int) -> tuple[NDArray[np.int64], I64]:
    """(label, person) pairs with their face counts. Clusters whose faces all have one person (nearly all, in a
    library that changed little) are counted without sorting; only mixed clusters go through unique."""
    lo = np.full(k, np.iinfo(np.int64).max, np.int64)
    hi = np.full(k, -1, np.int64)
    np.minimum.at(lo, labels, people)
    np.maximum.at(hi, labels, people)
    pure = lo == hi
    pure_labels = np.flatnonzero(pure)
    pure_keys = np.stack([pure_labels, lo[pure_labels]], axis=1)
    pure_counts = np.bincount(labels, minlength=k)[pure_labels]
    mixed = ~pure[labels]
    mixed_keys, mixed_counts = _unique_pairs(labels[mixed], people[mixed])
    return np.concatenate([pure_keys, mixed_keys]), np.concatenate([pure_counts, mixed_counts])


def map_clusters(labels: I64, vectors: F32, cons: Constraints) -> I64:
    """Person per face after a recluster: existing ids (>0), new people (<0, one per cluster), or 0 (none).

    Stable: a cluster keeps the person it shares most faces with (greedy maximum-overlap matching, one person
    per cluster), so a recluster that changes no membership changes no id. Anchored faces (pinned, or members
    of a curated person) keep their person; a cluster holding anchors of several people is split between them
    by nearest anchor centroid, so two named people are never merged. Noise keeps only anchored faces.
    Afterwards rejections and the one-face-per-photo rule are enforced (pinned faces win).
    """
    n = len(labels)
    result = np.zeros(n, np.int64)
    if n == 0:
        return result
    in_curated = np.isin(cons.current, cons.curated) & (cons.current > 0)
    anchor = np.where(cons.pinned > 0, cons.pinned, np.where(in_curated, cons.current, 0))
    k = max(int(labels.max()) + 1, 1)  # at least one slot so empty label arrays index safely
    clustered = labels >= 0
    label_person = np.zeros(k, np.int64)
    # Anchored clusters.
    anchored = np.flatnonzero(clustered & (anchor > 0))
    pairs = _unique_pairs(labels[anchored], anchor[anchored])[0]
    n_anchors = np.bincount(pairs[:, 0], minlength=k) if len(pairs) else np.zeros(k, np.int64)
    single = pairs[n_anchors[pairs[:, 0]] == 1]
    label_person[single[:, 0]] = single[:, 1]
    result[clustered] = label_person[labels[clustered]]
    multi = np.flatnonzero(n_anchors > 1)
    if len(multi):
        order = np.argsort(labels, kind="stable")
        starts = np.searchsorted(labels[order], multi, side="left")
        stops = np.searchsorted(labels[order], multi, side="right")
        for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
            members = order[start:stop]
            own = anchor[members]
            people = np.unique(own[own > 0])
            centroids = normalise(np.stack([vectors[members[own == p]].mean(axis=0) for p in people]))
            free = members[own == 0]
            result[members[own > 0]] = own[own > 0]
            if len(free):
                result[free] = people[np.argmax(vectors[free] @ centroids.T, axis=1)]
    # Unanchored clusters: maximum overlap with the people their faces have now.
    open_label = (n_anchors == 0)
    faces_open = np.flatnonzero(clustered & open_label[np.maximum(labels, 0)] & (cons.current > 0))
    used: set[int] = set(np.unique(anchor[anchor > 0]).tolist())
    if len(faces_open):
        keys, counts = _overlaps(labels[faces_open], cons.current[faces_open], k)
        order = np.lexsort((keys[:, 0], keys[:, 1], -counts))
        ranked = keys[order]
        ranked = ranked[~np.isin(ranked[:, 1], np.fromiter(used, np.int64, len(used)))]
        # Greedy maximum overlap, mostly vectorised: a pair that is the first (best) pair of both its cluster
        # and its person is taken by the greedy scan whatever else happens, so take all of those at once and
        # scan only what is left (in a stable library: almost nothing).
        idx = np.arange(len(ranked))
        first_label = np.full(k, len(ranked), np.int64)
        np.minimum.at(first_label, ranked[:, 0], idx)
        _people, first_at = np.unique(ranked[:, 1], return_index=True)
        first_person = np.zeros(len(ranked), bool)
        first_person[first_at] = True
        sure = (first_label[ranked[:, 0]] == idx) & first_person
        label_person[ranked[sure, 0]] = ranked[sure, 1]
        used.update(ranked[sure, 1].tolist())
        rest = ranked[~sure]
        rest = rest[(label_person[rest[:, 0]] == 0) & ~np.isin(rest[:, 1], ranked[sure, 1])]
        for label, person in rest.tolist():
            if label_person[label] != 0 or person in used:
                continue
            label_person[label] = person
            used.add(person)
    fresh = np.flatnonzero(open_label & (label_person == 0))
    label_person[fresh] = -np.arange(1, len(fresh) + 1, dtype=np.int64)
    open_faces = clustered & open_label[np.maximum(labels, 0)]
    result[open_faces] = label_person[labels[open_faces]]
    # Noise keeps anchored faces only.
    noise = ~clustered
    result[noise] = anchor[noise]
    for pos, never in cons.rejected.items():
        if result[pos] in never:
            result[pos] = 0
    pinned = cons.pinned > 0
    result[pinned] = cons.pinned[pinned]
    return one_per_photo(result, vectors, cons.photo, cons.pinned)


def settle(labels: I64, vectors: F32, cons: Constraints, *, rounds: int = 6) -> I64:
    """`map_clusters` repeated until the result maps onto itself, so the next recluster changes nothing.

    One round can leave work for the next: faces dropped by a rejection or by the one-face-per-photo rule no
    longer anchor their cluster, which may then deserve a new person. New people are carried between rounds
    under provisional ids above every existing id and returned as negative numbers.
    """
    top = int(max(cons.current.max(initial=0), cons.pinned.max(initial=0), cons.curated.max(initial=0)))
    current = cons.current
    result = current
    for _round in range(rounds):
        result = map_clusters(labels, vectors, Constraints(current=current, pinned=cons.pinned,
                                                           curated=cons.curated, photo=cons.photo,
                                                           rejected=cons.rejected))
        fresh = result < 0
        if fresh.any():
            _uniq, inverse = np.unique(result[fresh], return_inverse=True)
            result[fresh] = max(top, int(current.max(initial=0))) + 1 + inverse.reshape(-1)
        if np.array_equal(result, current):
            break
        current = result
    out = result.copy()
    new = out > top
    _uniq, inverse = np.unique(out[new], return_inverse=True)
    out[new] = -(1 + inverse.reshape(-1))
    return out


def one_per_photo(result: I64, vectors: F32, photo: I64, pinned: I64) -> I64:
    """Keep at most one face per (photo, person): the pinned one, else the one nearest the person's centroid."""
    # Only photos with several faces can break the rule.
    multi = np.bincount(photo)[photo] > 1 if len(photo) else np.zeros(0, bool)
    assigned = np.flatnonzero((result != 0) & multi)
    if len(assigned) == 0:
        return result
    # result may hold provisional ids far above the photo ids: combine as (photo, person) in one int64 key
    person = result[assigned]
    key = photo[assigned] * (int(np.abs(person).max()) * 2 + 1) + (person + int(np.abs(person).max()))
    _uniq, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    dup = assigned[counts[inverse.reshape(-1)] > 1]
    if len(dup) == 0:
        return result
    result = result.copy()
    groups: dict[tuple[int, int], list[int]] = {}
    for pos in dup.tolist():
        groups.setdefault((int(photo[pos]), int(result[pos])), []).append(pos)
    for (_photo, who), members in groups.items():
        pins = [m for m in members if pinned[m] == who]
        if pins:
            keep = pins[0]
        else:
            centroid = normalise(vectors[result == who].mean(axis=0))[0]
            keep = members[int(np.argmax(vectors[members] @ centroid))]
        for m in members:
            if m != keep:
                result[m] = 0
    return result


def nearest_people(queries: NDArray[np.floating], points: F32, owners: I64, eps: float, *, k: int = 3,
                   means: F32 | None = None, mean_owners: I64 | None = None,
                   query_eps: NDArray[np.floating] | None = None,
                   block_bytes: int = BLOCK_BYTES) -> list[list[tuple[int, float]]]:
    """For each query face: every person within `eps` (or within its own `query_eps[i]`, never above `eps`: a
    low-quality face's stricter distance), as (owner, distance), nearest first.

    A person's distance is the smaller of two: one minus the mean of the query's `k` best similarities to the
    person's faces (all of them if it has fewer), and the cosine distance to the person's mean (`means`, rows
    normalised, owned by `mean_owners`; optional). The first follows a person photographed over decades, whose
    mean is far from each of its faces; it is never below the nearest face's distance, so only people with a
    face within eps are candidates, found by the same blocked product as `radius_pairs` (points x a block of
    queries; rows normalised). Cost per query: one n x d product plus, per candidate person, one pass over the
    n owners and a partition of that person's similarities (bench/clusters.py: 0.1 ms at 10k faces and
    1.2 ms at 100k, with one BLAS thread).
    """
    q = normalise(queries)
    out: list[list[tuple[int, float]]] = [[] for _ in range(len(q))]
    if len(q) == 0:
        return out
    threshold = np.float32(1.0 - eps)
    mean_dist: F32 | None = None
    if means is not None and mean_owners is not None and len(means):
        mean_dist = 1.0 - (q @ means.T)  # queries x people: small (people << faces)
    rows = block_rows(max(len(points), 1), block_bytes)
    for start in range(0, len(q), rows):
        block = q[start:start + rows]
        sims = points @ block.T if len(points) else np.zeros((0, len(block)), np.float32)
        for c in range(len(block)):
            best: dict[int, float] = {}
            col = sims[:, c]
            for owner in np.unique(owners[col >= threshold]).tolist():
                s = col[owners == owner]  # one pass per candidate person (a handful), no per-call grouping
                top = s if len(s) <= k else np.partition(s, len(s) - k)[len(s) - k:]
                best[owner] = float(1.0 - top.mean())
            if mean_dist is not None and mean_owners is not None:
                row = mean_dist[start + c]
                for at in np.flatnonzero(row <= eps).tolist():
                    owner = int(mean_owners[at])
                    best[owner] = min(best.get(owner, 2.0), float(row[at]))
            limit = eps if query_eps is None else min(eps, float(query_eps[start + c]))
            out[start + c] = sorted(((o, d) for o, d in best.items() if d <= limit), key=lambda od: (od[1], od[0]))
    return out


def assign_ranked(ranked: list[list[tuple[int, float]]], forbidden: list[set[int]] | None = None) -> list[int | None]:
    """For faces of ONE photo, given each face's people nearest first: one person per face, never one person for
    two faces (the nearest pair first), never a forbidden one."""
    pairs = sorted((d, f, o) for f, options in enumerate(ranked) for o, d in options)
    result: list[int | None] = [None] * len(ranked)
    taken: set[int] = set()
    for _d, f, o in pairs:
        if result[f] is not None or o in taken or (forbidden is not None and o in forbidden[f]):
            continue
        result[f] = o
        taken.add(o)
    return result


def confident(options: list[tuple[int, float]], eps: float, attach_eps: float, margin: float,
              twins: Callable[[int, int], bool] | None = None) -> list[tuple[int, float]]:
    """A face's people nearest first, cut to those it may join: every one within `eps`; else the nearest alone
    if it lies within the looser `attach_eps` and every other person is at least `margin` farther (issue 11: a
    face DBSCAN leaves alone joins its clearly nearest person). `twins(a, b)`: people a and b are themselves
    within attach_eps of each other (one person DBSCAN split), so b does not make a doubtful. `options` must
    reach `attach_eps + margin`."""
    within = [(o, d) for o, d in options if d <= eps]
    if within or not options or options[0][1] > attach_eps:
        return within
    best, dist = options[0]
    for other, d in options[1:]:
        if d - dist < margin and not (twins is not None and twins(best, other)):
            return []
    return [options[0]]


def twins_by_means(people: I64, means: F32, attach_eps: float) -> Callable[[int, int], bool]:
    """`confident`'s twins test: the people's means (rows normalised, owned by `people`) within attach_eps."""
    at = {int(p): i for i, p in enumerate(people.tolist())}

    def twins(a: int, b: int) -> bool:
        if a not in at or b not in at:
            return False
        return float(means[at[a]] @ means[at[b]]) >= 1.0 - attach_eps

    return twins


def attach_lonely(result: I64, vectors: F32, cons: Constraints, candidates: NDArray[np.bool_], *, eps: float,
                  attach_eps: float, margin: float, k: int, limits: NDArray[np.floating] | None = None,
                  members: NDArray[np.bool_] | None = None) -> I64:
    """Faces left without a person (`candidates`, unpinned) attached to their clearly nearest person.

    A candidate's distance to a person is `nearest_people`'s over `members` (default: the faces that have a
    person in `result`; never the candidates themselves, so the outcome does not depend on their order); it
    joins by `confident` (within `attach_eps` and `margin` closer than the next person), never a person it was
    rejected from, never a person that already holds another face of its photo. `limits` caps the distance per
    candidate (a low-quality face's stricter one). Cost: one candidates x members product. Returns a new
    result; other faces are unchanged.
    """
    out = result.copy()
    todo = np.flatnonzero(candidates & (result == 0) & (cons.pinned == 0))
    points = np.flatnonzero((result != 0) if members is None else (members & (result != 0)))
    if attach_eps <= eps or len(todo) == 0 or len(points) == 0:
        return out
    reach = attach_eps + margin
    owners = result[points]
    ranked = nearest_people(vectors[todo], vectors[points], owners, reach, k=k)
    people, inverse = np.unique(owners, return_inverse=True)
    sums = np.zeros((len(people), vectors.shape[1]), np.float32)
    np.add.at(sums, inverse.reshape(-1), vectors[points])
    twins = twins_by_means(people, normalise(sums), attach_eps)
    by_photo: dict[int, list[int]] = {}
    for row, pos in enumerate(todo.tolist()):
        limit = attach_eps if limits is None else min(attach_eps, float(limits[row]))
        options = confident(ranked[row], min(eps, limit), limit, margin, twins)
        ranked[row] = options
        if options:
            by_photo.setdefault(int(cons.photo[pos]), []).append(row)
    if not by_photo:
        return out
    held: dict[int, set[int]] = {}
    photos = np.fromiter(by_photo, np.int64, len(by_photo))
    for pos in np.flatnonzero((result != 0) & np.isin(cons.photo, photos)).tolist():
        held.setdefault(int(cons.photo[pos]), set()).add(int(result[pos]))
    for photo, rows in by_photo.items():
        taken = held.get(photo, set())
        forbidden = [taken | cons.rejected.get(int(todo[r]), set()) for r in rows]
        for r, person in zip(rows, assign_ranked([ranked[r] for r in rows], forbidden), strict=True):
            if person is not None:
                out[todo[r]] = person
    return out
