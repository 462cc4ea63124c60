"""Cell-level metrics from per-clip tables (specview.metrics.cells) against the same metrics of
the cells pooled, exactly for ordinary clips and within the rounding step for long ones."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from specview import metrics as M
from specview.errors import ParameterError
from specview.metrics import cells as C


def _clips(rng, n=4, ties=False):
    maps, masks = [], []
    for i in range(n):
        shape = (int(rng.integers(8, 30)), int(rng.integers(40, 160)))
        m = rng.normal(size=shape).astype(np.float32)
        if ties:
            m = np.round(m, 1)
        k = np.zeros(shape, dtype=bool)
        if i % 2:
            k[2:6, 10:30] = True
            k[rng.random(shape) > 0.98] = True
            m[k] += 1.0
        maps.append(m)
        masks.append(k)
    return maps, masks


@pytest.mark.parametrize("ties", [False, True])
def test_tables_give_the_metrics_of_the_pooled_cells(ties):
    rng = np.random.default_rng(3)
    maps, masks = _clips(rng, ties=ties)
    s = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    y = np.concatenate([k.ravel() for k in masks])
    cells = [C.clip_cells(m, k) for m, k in zip(maps, masks, strict=True)]
    got = C.cell_metrics(cells)
    assert got["auroc"] == pytest.approx(M.roc_auc(s, y), abs=1e-12)
    assert got["ap"] == pytest.approx(M.average_precision(s, y), abs=1e-12)
    assert got["f1_max"] == pytest.approx(M.best_f1(s, y)[0], abs=1e-12)
    fpr, tpr = C.roc_points(cells)
    ref_fpr, ref_tpr = M.roc_curve(s, y)
    np.testing.assert_allclose(fpr, ref_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, ref_tpr, atol=1e-12)
    assert all(c.exact for c in cells)
    assert sum(c.table.n_pos for c in cells) == int(y.sum())
    assert sum(c.n_cells for c in cells) == y.size


def test_regions_are_labelled_run_by_run_as_over_the_whole_mask():
    rng = np.random.default_rng(5)
    k = rng.random((20, 300)) > 0.9
    k[:, 100:110] = False  # a gap of empty columns splits the runs
    k[3:9, 40:80] = True
    for conn in (4, 8):
        lab, n = ndimage.label(k, structure=C.STRUCTURES[conn])
        sizes = np.bincount(lab.ravel())
        want = np.where(k, 1.0 / sizes[lab], 0.0)
        runs, got_n = C._regions(k, conn)
        assert got_n == n
        np.testing.assert_allclose(C._weights(runs, 0, k.shape[1], k.shape[0]), want)
        np.testing.assert_allclose(C._weights(runs, 37, 211, k.shape[0]), want[:, 37:211])


def test_a_long_clip_is_rounded_into_a_small_table_and_keeps_its_metrics():
    rng = np.random.default_rng(7)
    normal = rng.gamma(2.0, size=(64, 1500)).astype(np.float32)
    long = rng.gamma(2.0, size=(64, 30000)).astype(np.float32)
    k = np.zeros(long.shape, dtype=bool)
    k[20:30, 1000:1100] = True
    k[5:8, 25000:25300] = True
    long[k] += 1.0
    maps, masks = [normal, long], [np.zeros(normal.shape, dtype=bool), k]
    exact = [C.clip_cells(m, q) for m, q in zip(maps, masks, strict=True)]
    rounded = [C.clip_cells(m, q, exact_cells=100_000) for m, q in zip(maps, masks, strict=True)]
    assert exact[1].exact and not rounded[1].exact and rounded[0].exact
    assert rounded[1].table.values.size < long.size / 50  # the table is small
    assert rounded[1].table.n_pos == int(k.sum()) and rounded[1].table.n_neg == int((~k).sum())
    assert rounded[1].n_regions == exact[1].n_regions == 2
    a, b = C.cell_metrics(exact), C.cell_metrics(rounded)
    for key in a:
        assert b[key] == pytest.approx(a[key], abs=1e-4)
    assert C.aupro_cells(rounded) == pytest.approx(C.aupro_cells(exact), abs=1e-4)
    assert (rounded[1].lo, rounded[1].hi) == (float(long.min()), float(long.max()))
    # the rounding keeps 12 significant bits: every value moves by at most half a step
    v = long.ravel()[:5000].astype(np.float64)
    r = C._round(v)
    assert np.all(np.abs(r - v) <= np.abs(v) * 2.0 ** -12 + 1e-30)


def test_mse_from_running_sums_equals_the_pooled_mse():
    rng = np.random.default_rng(9)
    maps = [rng.normal(size=(6, 50)) + i for i in range(3)]
    targets = [rng.random((6, 50)) for _ in range(3)]
    lo, hi = M.set_normalise(maps)
    want = M.map_mse([(m - lo) / (hi - lo) for m in maps], targets)
    cells = [C.clip_cells(m, np.zeros(m.shape, dtype=bool), target=t)
             for m, t in zip(maps, targets, strict=True)]
    assert C.mse_cells(cells) == pytest.approx(want, rel=1e-9)


def test_aupimo_from_tables_equals_the_map_version_and_refuses_as_it_does():
    rng = np.random.default_rng(11)
    maps, masks = _clips(rng, n=6)
    normal = [not k.any() for k in masks]
    cells = [C.clip_cells(m, k) for m, k in zip(maps, masks, strict=True)]
    got = C.aupimo_summary(cells, normal, (1e-3, 1e-1))
    want = M.aupimo(maps, masks, fpr_bounds=(1e-3, 1e-1))
    assert got == want
    with pytest.raises(ParameterError, match="marked normal"):
        C.aupimo_summary(cells, [True] * len(cells), (1e-3, 1e-1))
    with pytest.raises(ParameterError, match="too few cells"):
        C.aupimo_summary(cells, normal, (1e-7, 1e-1))


def test_bad_input_is_refused_with_its_name():
    with pytest.raises(ParameterError, match="non-finite"):
        C.clip_cells(np.array([[0.0, np.nan]]), np.zeros((1, 2), dtype=bool))
    with pytest.raises(ParameterError, match="must match"):
        C.clip_cells(np.zeros((2, 3)), np.zeros((3, 2), dtype=bool))
    one_class = [C.clip_cells(np.ones((2, 3)), np.zeros((2, 3), dtype=bool))]
    with pytest.raises(ParameterError, match="only one class"):
        C.cell_metrics(one_class)
