"""Clustering maths: exact DBSCAN against scikit-learn, exact incremental insertion, placement, cluster mapping."""

from __future__ import annotations

import numpy as np
import pytest
from people_synth import face_vectors, identities
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from daemon.people import clusters
from daemon.people.clusters import Constraints, DensityIndex


def _data(seed: int, n: int = 1500, ids: int = 150, spread: float = 0.09, dim: int = 64) -> np.ndarray:
    # Wide spread: chains, merges, borders and noise all occur (about a third noise at min_samples 2).
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((ids, dim))
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    x = c[rng.integers(0, ids, n)] + rng.standard_normal((n, dim)) * spread
    return x.astype(np.float32)


def _same_partition(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> bool:
    """Labels equal up to renaming on `mask`, and noise in the same places everywhere."""
    if not np.array_equal(a == -1, b == -1):
        return False
    pairs = set(zip(a[mask].tolist(), b[mask].tolist(), strict=True))
    return len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})


@pytest.mark.parametrize("min_samples", [2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_dbscan_matches_sklearn(seed: int, min_samples: int) -> None:
    x = _data(seed)
    ref = DBSCAN(eps=0.3, min_samples=min_samples, metric="cosine").fit_predict(x)
    # A tiny block budget forces many row blocks: the result must not depend on blocking.
    index = DensityIndex.build(x, 0.3, min_samples, block_bytes=64 * 1024)
    ours = index.labels()
    assert (ref == -1).sum() > 50 and len(set(ref)) > 50  # the case is not trivial
    core = np.zeros(len(x), bool)
    skl = DBSCAN(eps=0.3, min_samples=min_samples, metric="cosine").fit(x)
    core[skl.core_sample_indices_] = True
    np.testing.assert_array_equal(index.core, core)
    # Core points: identical partition. Border points may sit in either neighbouring cluster (as in sklearn).
    assert _same_partition(ref, ours, core)
    assert adjusted_rand_score(ref, ours) > 0.999


@pytest.mark.parametrize("min_samples", [2, 4])
def test_incremental_insertion_equals_batch(min_samples: int) -> None:
    x = _data(7)
    rng = np.random.default_rng(3)
    order = rng.permutation(len(x))
    index = DensityIndex(x.shape[1], 0.3, min_samples)
    start = 0
    while start < len(x):
        step = int(rng.integers(1, 9))
        index.add(x[order[start:start + step]])
        start += step
    inc = np.empty(len(x), np.int64)
    inc[order] = index.labels()
    batch = DensityIndex.build(x, 0.3, min_samples)
    core = batch.core
    core_inc = np.empty(len(x), bool)
    core_inc[order] = index.core
    np.testing.assert_array_equal(core_inc, core)
    counts = np.empty(len(x), np.int64)
    counts[order] = index.counts
    np.testing.assert_array_equal(counts, batch.counts)
    assert _same_partition(batch.labels(), inc, core)


@pytest.mark.parametrize("min_samples", [2, 4])
def test_removal_equals_a_rebuild_without_the_points(min_samples: int) -> None:
    x = _data(2)
    rng = np.random.default_rng(min_samples)
    index = DensityIndex.build(x, 0.3, min_samples)
    alive = np.ones(len(x), bool)
    for round_ in range(6):
        gone = rng.choice(np.flatnonzero(alive), size=40, replace=False)
        index.remove(gone)
        alive[gone] = False
        if round_ % 2:  # interleave insertions: the index stays exact under both
            extra = _data(100 + round_, n=60)
            index.add(extra)
            x = np.concatenate([x, extra])
            alive = np.concatenate([alive, np.ones(len(extra), bool)])
        keep = np.flatnonzero(alive)
        fresh = DensityIndex.build(x[keep], 0.3, min_samples)
        np.testing.assert_array_equal(index.counts[keep], fresh.counts)
        np.testing.assert_array_equal(index.core[keep], fresh.core)
        labels = index.labels()
        assert np.all(labels[~alive] == -1)
        assert _same_partition(fresh.labels(), labels[keep], fresh.core)


def _cons(current: list[int], *, pinned: list[int] | None = None, curated: list[int] = (),
          photo: list[int] | None = None, rejected: dict[int, set[int]] | None = None) -> Constraints:
    n = len(current)
    return Constraints(current=np.array(current, np.int64),
                       pinned=np.array(pinned if pinned is not None else [0] * n, np.int64),
                       curated=np.array(sorted(curated), np.int64),
                       photo=np.array(photo if photo is not None else list(range(n)), np.int64),
                       rejected=rejected or {})


def _vectors(labels: list[int]) -> np.ndarray:
    c = identities(10)
    return face_vectors(c, np.array([max(label, 0) for label in labels]), np.random.default_rng(0))


def test_mapping_is_stable_when_nothing_changed() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2, 2, -1])
    current = [7, 7, 3, 3, 3, 9, 9, 0]
    out = clusters.map_clusters(labels, _vectors(labels.tolist()), _cons(current))
    assert out.tolist() == current


def test_mapping_follows_maximum_overlap_and_makes_new_people() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2])
    current = [5, 5, 6, 6, 6, 0, 0]  # cluster 0 mostly 5, cluster 1 all 6, cluster 2 new
    out = clusters.map_clusters(labels, _vectors(labels.tolist()), _cons(current))
    assert out[:5].tolist() == [5, 5, 5, 6, 6]
    assert out[5] == out[6] < 0


def test_two_curated_people_are_split_not_merged() -> None:
    labels = np.array([0, 0, 0, 0, 0, 0])
    vectors = face_vectors(identities(2), np.array([0, 0, 0, 1, 1, 1]), np.random.default_rng(1))
    current = [1, 1, 0, 2, 2, 0]
    out = clusters.map_clusters(labels, vectors, _cons(current, curated=[1, 2]))
    assert out.tolist() == [1, 1, 1, 2, 2, 2]  # unanchored faces go to the nearer named person


def test_curated_faces_stay_when_they_become_noise_and_pins_win() -> None:
    labels = np.array([-1, -1, 0, 0])
    current = [4, 8, 8, 8]
    out = clusters.map_clusters(labels, _vectors(labels.tolist()), _cons(current, curated=[4],
                                                                         pinned=[0, 0, 0, 4]))
    assert out[0] == 4  # curated member kept although noise
    assert out[1] == 0  # uncurated noise is unassigned
    assert out[3] == 4  # pinned face follows its pin
    assert out[2] == 4  # the cluster is anchored by the pin


def test_rejections_and_one_face_per_photo() -> None:
    labels = np.array([0, 0, 0, 0])
    current = [3, 3, 3, 3]
    out = clusters.map_clusters(labels, _vectors(labels.tolist()),
                                _cons(current, photo=[1, 1, 2, 3], rejected={3: {3}}))
    assert out[3] == 0
    assert sorted(out[:2].tolist()) == [0, 3]
    assert out[2] == 3


def test_blas_limit_is_shared_and_restored_by_the_last_user() -> None:
    from threadpoolctl import threadpool_info

    def blas_threads() -> int:
        return min(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    before = blas_threads()
    first = clusters.one_blas_thread()
    second = clusters.one_blas_thread()
    first.__enter__()
    second.__enter__()
    assert blas_threads() == 1
    first.__exit__(None, None, None)  # overlapping users: the first one out must not restore yet
    assert blas_threads() == 1
    second.__exit__(None, None, None)
    assert blas_threads() == before


def _arc(ts: list[float], dim: int = 128) -> np.ndarray:
    """Unit vectors on a great circle at these angles (radians): a person who changes along it."""
    x = np.zeros((len(ts), dim), np.float32)
    x[:, 0], x[:, 1] = np.cos(ts), np.sin(ts)
    return x


def test_nearest_people_follows_a_person_who_changes_and_matches_brute_force() -> None:
    arc = _arc([0.1 * i for i in range(15)])  # 0 .. 1.4 rad: the mean points at 0.7
    owners = np.full(len(arc), 7, np.int64)
    mean = clusters.normalise(arc.mean(axis=0))
    late = _arc([1.6])
    assert 1.0 - float((late @ mean.T)[0, 0]) > 0.3  # the mean is beyond eps ...
    ranked = clusters.nearest_people(late, arc, owners, 0.3, k=3, means=mean, mean_owners=np.array([7]))
    sims = np.sort((arc @ late.T)[:, 0])[-3:]
    assert ranked == [[(7, pytest.approx(1.0 - float(sims.mean()), abs=1e-6))]]  # ... its 3 nearest faces are not
    # A face near one stray face only: the mean of its 3 best similarities is beyond eps, so it joins nobody.
    stray = np.vstack([arc[:3], _arc([2.5])])
    assert clusters.nearest_people(_arc([2.6]), stray, np.full(4, 7, np.int64), 0.3, k=3) == [[]]
    assert clusters.nearest_people(_arc([2.6]), stray, np.full(4, 7, np.int64), 0.3, k=1)[0][0][0] == 7
    # Brute force over random people, tiny blocks so several blocks run.
    rng = np.random.default_rng(3)
    centres = identities(20, seed=3)
    who = rng.integers(0, 20, 400)
    pts = face_vectors(centres, who, rng, spread=0.06)
    qs = face_vectors(centres, rng.integers(0, 20, 30), rng, spread=0.06)
    got = clusters.nearest_people(qs, pts, who.astype(np.int64), 0.45, k=3, block_bytes=4 * 400 * 16)
    for row, q in zip(got, qs, strict=True):
        want = []
        for p in range(20):
            s = np.sort(pts[who == p] @ q)[-3:]
            if s.max() >= 1 - 0.45 and 1 - s.mean() <= 0.45:
                want.append((p, 1 - float(s.mean())))
        want.sort(key=lambda pd: pd[1])
        assert [p for p, _d in row] == [p for p, _d in want]
        np.testing.assert_allclose([d for _p, d in row], [d for _p, d in want], atol=1e-5)


def test_assign_ranked_gives_one_person_per_face_nearest_pair_first() -> None:
    ranked = [[(1, 0.2), (2, 0.25)], [(1, 0.1)], [(3, 0.2)]]
    assert clusters.assign_ranked(ranked) == [2, 1, 3]
    assert clusters.assign_ranked(ranked, [set(), set(), {3}]) == [2, 1, None]


def _at(distance: float, axis: int, dim: int = 16) -> np.ndarray:
    """A unit vector at this cosine distance from e0, towards e_axis."""
    v = np.zeros(dim, np.float32)
    v[0], v[axis] = 1.0 - distance, np.sqrt(1.0 - (1.0 - distance) ** 2)
    return v


def test_low_quality_points_are_never_cores_and_border_only_within_low_eps() -> None:
    # 0, 1: a good pair (a cluster); 2: low quality at 0.28 from 0 (within eps 0.3, beyond low_eps 0.25);
    # 3: low quality at 0.2 from 0; 4, 5: two low-quality faces next to each other, far from the rest.
    x = np.stack([_at(0.0, 1), _at(0.05, 1), _at(0.28, 2), _at(0.2, 3), _at(0.0, 5), _at(0.02, 6)])
    x[4:, 0], x[4:, 4] = 0.0, 1.0  # move the last two far away (around e4)
    x = clusters.normalise(x)
    low = np.array([False, False, True, True, True, True])
    plain = DensityIndex.build(x, 0.3, 2).roots()
    assert plain[2] == plain[0] and plain[3] == plain[0] and plain[4] == plain[5] >= 0
    index = DensityIndex.build(x, 0.3, 2, low=low, low_eps=0.25)
    roots = index.roots()
    assert not index.core[low].any()
    assert roots[0] == roots[1] == roots[3] >= 0
    assert roots[2] == -1 and roots[4] == -1 and roots[5] == -1
    # Inserting them one by one gives the same clusters; deleting the good pair leaves nothing clustered.
    grown = DensityIndex(x.shape[1], 0.3, 2, low_eps=0.25)
    for i in (2, 4, 0, 3, 5, 1):
        grown.add(x[i:i + 1], low=low[i:i + 1])
    order = np.array([2, 4, 0, 3, 5, 1])
    got = grown.roots()[np.argsort(order)]
    assert _same_partition(got, roots, np.ones(len(x), bool)) and (got == -1).tolist() == (roots == -1).tolist()
    # Deleting point 1: 0 stays core (low-quality faces count as its neighbours), 3 stays its border, 2 noise.
    grown.remove(np.array([int(np.flatnonzero(order == 1)[0])]))
    after = grown.roots()[np.argsort(order)]
    assert after[0] == after[3] >= 0 and after[2] == after[4] == after[5] == after[1] == -1


def test_nearest_people_honours_a_stricter_distance_per_query() -> None:
    points = clusters.normalise(np.stack([_at(0.0, 1), _at(0.05, 1)]))
    owners = np.array([7, 7], np.int64)
    query = clusters.normalise(_at(0.28, 2)[None, :])
    assert [o for o, _d in clusters.nearest_people(query, points, owners, 0.3, k=1)[0]] == [7]
    assert clusters.nearest_people(query, points, owners, 0.3, k=1, query_eps=np.array([0.25]))[0] == []
    assert [o for o, _d in clusters.nearest_people(query, points, owners, 0.3, k=1,
                                                   query_eps=np.array([0.29]))[0]] == [7]


def test_confident_takes_the_clearly_nearest_person_only() -> None:
    assert clusters.confident([(1, 0.2), (2, 0.28)], 0.3, 0.45, 0.15) == [(1, 0.2), (2, 0.28)]  # within eps
    assert clusters.confident([(1, 0.4), (2, 0.6)], 0.3, 0.45, 0.15) == [(1, 0.4)]
    assert clusters.confident([(1, 0.4), (2, 0.5)], 0.3, 0.45, 0.15) == []  # the next person too near
    assert clusters.confident([(1, 0.5)], 0.3, 0.45, 0.15) == []  # beyond attach_eps
    assert clusters.confident([], 0.3, 0.45, 0.15) == []
    # The next person is one DBSCAN split from the first (their means near): it casts no doubt.
    assert clusters.confident([(1, 0.4), (2, 0.42)], 0.3, 0.45, 0.15, lambda a, b: {a, b} == {1, 2}) == [(1, 0.4)]
    assert clusters.confident([(1, 0.4), (2, 0.42), (3, 0.5)], 0.3, 0.45, 0.15,
                              lambda a, b: {a, b} == {1, 2}) == []


def _axis(*parts: tuple[int, float], dim: int = 16) -> np.ndarray:
    v = np.zeros(dim, np.float32)
    for axis, weight in parts:
        v[axis] = weight
    return v / np.linalg.norm(v)


def test_attach_lonely_joins_lonely_faces_to_their_clearly_nearest_person() -> None:
    # People 7 (axis 0) and 9 (axis 5); candidates: near 7 only, torn between both, far from all, two of one
    # photo both nearest 7, one rejected from 7, one pinned elsewhere.
    vectors = np.stack([_axis((0, 1.0)), _axis((0, 1.0), (1, 0.2)), _axis((5, 1.0)), _axis((5, 1.0), (6, 0.2)),
                        _axis((0, 1.0), (2, 1.25)),  # 4: ~0.38 from 7
                        _axis((0, 1.0), (5, 1.0), (6, 0.9)),  # 5: ~0.40 from both
                        _axis((9, 1.0)),  # 6: far
                        _axis((0, 1.0), (3, 1.25)), _axis((0, 1.0), (4, 1.1)),  # 7, 8: one photo, both near 7
                        _axis((0, 1.0), (2, 1.2), (3, 0.1))])  # 9: near 7, rejected from it
    result = np.array([7, 7, 9, 9, 0, 0, 0, 0, 0, 0], np.int64)
    cons = _cons(result.tolist(), photo=[0, 1, 2, 3, 4, 5, 6, 7, 7, 9], rejected={9: {7}})
    everyone = np.ones(len(result), bool)
    out = clusters.attach_lonely(result, vectors, cons, everyone, eps=0.3, attach_eps=0.45, margin=0.15, k=3)
    assert out[:4].tolist() == [7, 7, 9, 9]  # others unchanged
    assert out[4] == 7 and out[5] == 0 and out[6] == 0 and out[9] == 0
    assert sorted(out[7:9].tolist()) == [0, 7]  # one face per photo per person: the nearer one
    assert out[8 if np.dot(vectors[8], vectors[0]) > np.dot(vectors[7], vectors[0]) else 7] == 7
    # Only candidates move; attach_eps <= eps is off; a low-quality limit at eps keeps it out.
    only = np.zeros(len(result), bool)
    only[5] = only[6] = True
    assert np.array_equal(clusters.attach_lonely(result, vectors, cons, only, eps=0.3, attach_eps=0.45,
                                                 margin=0.15, k=3), result)
    assert np.array_equal(clusters.attach_lonely(result, vectors, cons, everyone, eps=0.3, attach_eps=0.3,
                                                 margin=0.15, k=3), result)
    strict = np.full(6, 0.3)  # per candidate: faces 4-9
    assert clusters.attach_lonely(result, vectors, cons, everyone, eps=0.3, attach_eps=0.45, margin=0.15, k=3,
                                  limits=strict)[4] == 0
    pinned = _cons(result.tolist(), pinned=[0, 0, 0, 0, 9, 0, 0, 0, 0, 0], photo=cons.photo.tolist())
    assert clusters.attach_lonely(result, vectors, pinned, everyone, eps=0.3, attach_eps=0.45, margin=0.15,
                                  k=3)[4] == 0  # a pinned face is the user's, left as it is
