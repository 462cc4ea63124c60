"""AUPIMO with known answers: perfect and hopeless maps, a curve built to be linear in
log10(FPR), a brute-force recomputation, and the normal-clips-only x-axis."""

import math

import numpy as np
import pytest

from specview import metrics as M
from specview.errors import ParameterError


def test_perfect_and_hopeless_maps():
    rng = np.random.default_rng(0)
    normal = [rng.random((100, 1000)) for _ in range(3)]  # 300k normal cells
    amap = rng.random((100, 1000))
    mask = np.zeros_like(amap, dtype=bool)
    mask[40:60, 100:200] = True
    good = amap.copy()
    good[mask] = 2.0  # above every normal cell
    bad = amap.copy()
    bad[mask] = -1.0  # below every normal cell
    empty = [np.zeros_like(m, dtype=bool) for m in normal]
    assert M.aupimo([*normal, good], [*empty, mask])["aupimo"] == pytest.approx(1.0)
    assert M.aupimo([*normal, bad], [*empty, mask])["aupimo"] == pytest.approx(0.0)


def test_a_curve_linear_in_log_fpr_has_area_one_half():
    # one normal clip of 10**6 cells scored 1..10**6: FPR(t) = (cells >= t) / 10**6
    n = 10**6
    normal = np.arange(1, n + 1, dtype=np.float64).reshape(1000, 1000)
    # 100 anomalous cells, cell k found once FPR reaches 10**(-5 + k/100): TPR = log10(FPR)+5
    k = np.arange(1, 101)
    fpr_k = 10.0 ** (-5 + k / 100)
    # half a step above the normal score with fpr_k * n cells at or above it: the TPR jumps
    # while the FPR stays at fpr_k (no ramp from the previous normal cell)
    scores = n - np.round(fpr_k * n) + 0.5
    amap = np.zeros((10, 100))
    amap[0, :] = scores
    mask = np.zeros_like(amap, dtype=bool)
    mask[0, :] = True
    out = M.aupimo([normal, amap], [np.zeros_like(normal, dtype=bool), mask])
    # the step curve under the line y = x over [0, 1] (1/100 steps): 0.5 - half a step
    assert out["aupimo"] == pytest.approx(0.5 - 0.005, abs=2e-3)
    assert out["per_clip"][0] is None and out["n_anomalous"] == 1 and out["n_normal"] == 1


def _brute(maps, masks, normal, lo, hi, steps=20001):
    """PIMO by its definition, sampled on a fine grid of log10(FPR).

    Between two consecutive normal scores t0 > t1 (shared FPRs f0 < f1) the curve rises at f0
    to the share of anomalous cells above t1 (no normal cell lies between them), then runs
    straight, in log10(FPR), to the share at or above t1 at f1.
    """
    neg = [m.ravel() for m, n in zip(maps, normal, strict=True) if n]
    cand = np.unique(np.concatenate(neg))[::-1]
    fprs = np.array([np.mean([np.mean(x >= t) for x in neg]) for t in cand])
    out = []
    for m, k, n in zip(maps, masks, normal, strict=True):
        if n:
            continue
        pos = m[k]
        xs = np.linspace(math.log10(lo), math.log10(hi), steps)
        ys = []
        for x in xs:
            i = np.searchsorted(fprs, 10**x, side="right") - 1
            f0, t1, f1 = fprs[i], cand[i + 1], fprs[i + 1]
            y0, y1 = np.mean(pos > t1), np.mean(pos >= t1)
            w = (x - math.log10(f0)) / (math.log10(f1) - math.log10(f0))
            ys.append(y0 + w * (y1 - y0))
        out.append(np.trapezoid(ys, xs) / (math.log10(hi) - math.log10(lo)))
    return out


def test_agrees_with_a_brute_force_recomputation():
    rng = np.random.default_rng(3)
    maps, masks, normal = [], [], []
    for i in range(6):
        m = rng.normal(size=(12, 40)).round(2)  # ties on purpose
        k = np.zeros_like(m, dtype=bool)
        if i >= 3:
            k[3:8, 10 + i:20 + i] = True
            m[k] += rng.uniform(0.5, 2.5)
        maps.append(m)
        masks.append(k)
        normal.append(i < 3)
    got = M.aupimo(maps, masks, fpr_bounds=(0.01, 0.2))
    want = _brute(maps, masks, normal, 0.01, 0.2)
    assert [v for v in got["per_clip"] if v is not None] == pytest.approx(want, abs=1e-3)
    assert got["aupimo"] == pytest.approx(np.mean(want), abs=1e-3)


def test_only_normal_clips_set_the_x_axis():
    rng = np.random.default_rng(5)
    normal = [rng.random((50, 400)) for _ in range(2)]
    amap = rng.random((50, 400))
    mask = np.zeros_like(amap, dtype=bool)
    mask[10:20, 50:90] = True
    amap[mask] += 0.9
    empty = [np.zeros_like(m, dtype=bool) for m in normal]
    base = M.aupimo([*normal, amap], [*empty, mask], fpr_bounds=(1e-4, 1e-3))["aupimo"]
    # the anomalous clip's own normal cells going wild changes nothing: they are not on x
    wild = amap.copy()
    wild[~mask] = 5.0
    again = M.aupimo([*normal, wild], [*empty, mask], fpr_bounds=(1e-4, 1e-3))["aupimo"]
    assert again == pytest.approx(base)
    # an anomalous clip without a box is neither normal nor scored
    out = M.aupimo([*normal, amap, amap], [*empty, mask, np.zeros_like(mask)],
                   normal=[True, True, False, False], fpr_bounds=(1e-4, 1e-3))
    assert out["per_clip"][3] is None and out["aupimo"] == pytest.approx(base)


def test_refusals():
    m = np.zeros((4, 4))
    k = np.zeros((4, 4), dtype=bool)
    k[0, 0] = True
    with pytest.raises(ParameterError, match="no normal clip"):
        M.aupimo([m], [k])
    with pytest.raises(ParameterError, match="too few cells to measure a false-positive rate"):
        M.aupimo([m, m], [np.zeros_like(k), k])  # 16 normal cells cannot reach 1e-5
    with pytest.raises(ParameterError, match="fpr_bounds"):
        M.aupimo([m, m], [np.zeros_like(k), k], fpr_bounds=(1e-3, 1e-4))
    with pytest.raises(ParameterError, match="marked normal but their masks hold cells"):
        M.aupimo([m, m], [k, k], normal=[True, False], fpr_bounds=(0.1, 0.5))
