"""Exact DBSCAN (cosine) without an n x n matrix, and exact incremental insertion and deletion: the density
maths under the people (`clusters.py` maps its clusters onto people). Pure numpy; touches no database.

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
from collections.abc import Iterator
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
