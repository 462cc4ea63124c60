"""specview.metrics: hand-computed cases, scikit-learn cross-checks, brute-force AU-PRO."""

import subprocess
import sys

import numpy as np
import pytest
from scipy import ndimage
from sklearn.metrics import (
    average_precision_score,
    precision_recall_curve,
    roc_auc_score,
)

from specview import metrics as M
from specview.errors import ParameterError
from specview.types import Box

# ------------------------------------------------------------------ hand-computed clip metrics


def test_perfect_and_inverted_ranking():
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert M.roc_auc(s, y) == pytest.approx(1.0)
    assert M.average_precision(s, y) == pytest.approx(1.0)
    f1, thr = M.best_f1(s, y)
    assert f1 == pytest.approx(1.0) and thr == pytest.approx(0.8)
    assert M.partial_auc(s, y) == pytest.approx(1.0)
    assert M.roc_auc(-s, y) == pytest.approx(0.0)
    # McClish-standardised pAUC of an inverted ranking: 0.5 * (1 - a / (2 - a)), a = max_fpr
    assert M.partial_auc(-s, y, max_fpr=0.1) == pytest.approx(9 / 19)
    assert M.partial_auc(-s, y, max_fpr=0.1) == pytest.approx(roc_auc_score(y, -s, max_fpr=0.1))


def test_two_by_two_with_one_swap():
    # order: 0.9 (P), 0.7 (N), 0.6 (P), 0.2 (N)
    s = [0.9, 0.6, 0.7, 0.2]
    y = [1, 1, 0, 0]
    assert M.roc_auc(s, y) == pytest.approx(3 / 4)
    assert M.average_precision(s, y) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    f1, thr = M.best_f1(s, y)
    assert f1 == pytest.approx(0.8) and thr == pytest.approx(0.6)
    out = M.clip_metrics(s, y)
    assert set(out) == {"auroc", "pauc", "ap", "f1_max"}
    assert out["f1_max"] == pytest.approx(0.8)


def test_all_tied_scores_are_chance():
    y = [0, 1, 0, 1]
    assert M.roc_auc([1, 1, 1, 1], y) == pytest.approx(0.5)
    assert M.average_precision([1, 1, 1, 1], y) == pytest.approx(0.5)
    assert M.best_f1([1, 1, 1, 1], y) == pytest.approx((2 / 3, 1.0))


def test_bool_labels_accepted():
    assert M.roc_auc([0.1, 0.9], np.array([False, True])) == pytest.approx(1.0)


# ------------------------------------------------------------------ cross-checks with sklearn


def _sk_best_f1(y, s):
    p, r, t = precision_recall_curve(y, s)
    p, r = p[: len(t)], r[: len(t)]
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    return f1.max()


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n", [7, 60, 500])
def test_against_sklearn_with_ties(seed, n):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.3
    y[:2] = [True, False]
    # few distinct values -> many ties, some across classes
    s = np.round(rng.normal(size=n) + 0.8 * y, 1)
    assert M.roc_auc(s, y) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    for a in (0.05, 0.1, 0.3):
        assert M.partial_auc(s, y, max_fpr=a) == pytest.approx(roc_auc_score(y, s, max_fpr=a), abs=1e-12)
    assert M.partial_auc(s, y, max_fpr=1.0) == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert M.average_precision(s, y) == pytest.approx(average_precision_score(y, s), abs=1e-12)
    f1, thr = M.best_f1(s, y)
    assert f1 == pytest.approx(_sk_best_f1(y, s), abs=1e-12)
    pred = s >= thr
    tp = np.sum(pred & y)
    assert f1 == pytest.approx(2 * tp / (pred.sum() + y.sum()))


def test_spectrogram_metrics_pool_all_cells():
    rng = np.random.default_rng(3)
    maps = [np.round(rng.random((6, 9)), 1).astype(np.float32) for _ in range(3)]
    masks = [np.zeros((6, 9), bool) for _ in range(3)]
    masks[0][2:4, 3:6] = True
    masks[1][0, 0] = True  # clip 2 stays normal
    maps[0][masks[0]] += 0.5
    out = M.spectrogram_metrics(maps, masks)
    s = np.concatenate([m.ravel() for m in maps]).astype(np.float64)
    y = np.concatenate([k.ravel() for k in masks])
    assert out["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert out["ap"] == pytest.approx(average_precision_score(y, s))
    assert out["f1_max"] == pytest.approx(_sk_best_f1(y, s))
    # a 3-D stack is the same as a list
    assert M.spectrogram_metrics(np.stack(maps), np.stack(masks)) == out


# ------------------------------------------------------------------ boxes_to_mask

TIMES = np.arange(8) * 0.125 + 0.0625  # exact binary fractions
MEL = np.array([100.0, 200.0, 400.0, 800.0, 1600.0])  # bands: 50|150|300|600|1200|2000


def _rows_cols(mask):
    return sorted(set(np.nonzero(mask.any(axis=1))[0])), sorted(
        set(np.nonzero(mask.any(axis=0))[0])
    )


def test_boxes_to_mask_mel_rows_and_time_centres():
    m = M.boxes_to_mask([Box(0.1875, 0.4375, 290.0, 310.0)], TIMES, MEL)
    assert m.shape == (5, 8) and m.dtype == bool
    rows, cols = _rows_cols(m)
    assert rows == [1, 2]  # straddles the 300 Hz edge between the 200 and 400 Hz rows
    assert cols == [1, 2, 3]  # centres 0.1875, 0.3125, 0.4375 (closed interval)
    assert m.sum() == 6


def test_boxes_to_mask_edges_do_not_leak():
    m = M.boxes_to_mask([Box(0.0, 1.0, 300.0, 600.0)], TIMES, MEL)
    assert _rows_cols(m) == ([2], list(range(8)))


def test_boxes_to_mask_narrow_and_short_boxes():
    # narrower than the 200 Hz row band [150, 300] and shorter than one frame
    m = M.boxes_to_mask([Box(0.30, 0.31, 250.0, 260.0)], TIMES, MEL)
    assert _rows_cols(m) == ([1], [2])  # nearest frame centre to 0.305 is 0.3125
    assert m.sum() == 1
    # zero-width box in the top band, and a box wholly above the grid
    m = M.boxes_to_mask([Box(0.45, 0.45, 1000.0, 1000.0)], TIMES, MEL)
    assert _rows_cols(m) == ([3], [3])
    assert not M.boxes_to_mask([Box(0.1, 0.5, 2500.0, 4000.0)], TIMES, MEL).any()
    assert not M.boxes_to_mask([Box(5.0, 5.01, 100.0, 200.0)], TIMES, MEL).any()
    assert not M.boxes_to_mask([], TIMES, MEL).any()


def test_boxes_to_mask_union_of_boxes():
    boxes = [Box(0.0, 0.2, 50.0, 120.0), Box(0.9, 1.0, 1500.0, 1700.0)]
    m = M.boxes_to_mask(boxes, TIMES, MEL)
    assert m[0, 0] and m[0, 1] and m[4, 7]
    assert m.sum() == 2 + 1  # rows {0} x cols {0, 1}; rows {4} x cols {7}


# ------------------------------------------------------------------ energy_mask


def test_energy_mask_by_hand():
    x = np.array([[0.0, 1.0], [2.0, 3.0]])  # normalised 0, 1/3, 2/3, 1; mass 2
    np.testing.assert_array_equal(M.energy_mask(x, tau=0.4), [[False, False], [False, True]])
    np.testing.assert_array_equal(M.energy_mask(x, tau=0.6), [[False, False], [True, True]])
    db = np.array([[-80.0, -80.0], [-20.0, -50.0]])  # normalised 0, 0, 1, 0.5; mass 1.5
    np.testing.assert_array_equal(M.energy_mask(db, tau=0.4), [[False, False], [True, False]])
    np.testing.assert_array_equal(M.energy_mask(db, tau=0.7), [[False, False], [True, True]])


def test_energy_mask_ties_and_constant():
    x = np.array([[5.0, 5.0], [1.0, 1.0]])
    np.testing.assert_array_equal(M.energy_mask(x, tau=0.4), [[True, True], [False, False]])
    assert not M.energy_mask(np.full((3, 4), -30.0)).any()


# ------------------------------------------------------------------ AU-PRO


def _reference_aupro(maps, masks, max_fpr, thresholds=None, structure=None):
    """Straightforward threshold loop (MVTec AD definition)."""
    n_neg = sum((~k).sum() for k in masks)
    allv = np.concatenate([m.ravel() for m in maps])
    if thresholds is None:
        thresholds = np.unique(allv)[::-1]
    fprs, pros = [0.0], [0.0]
    for t in thresholds:
        preds = [m >= t for m in maps]
        fprs.append(sum((p & ~k).sum() for p, k in zip(preds, masks, strict=True)) / n_neg)
        ov = []
        for k, p in zip(masks, preds, strict=True):
            lab, n = ndimage.label(k, structure=structure)
            ov += [(p & (lab == i)).sum() / (lab == i).sum() for i in range(1, n + 1)]
        pros.append(np.mean(ov))
    f, p = np.array(fprs), np.array(pros)
    keep = f <= max_fpr
    stop = np.searchsorted(f, max_fpr, side="right")
    y_at = (
        np.interp(max_fpr, f[stop - 1 : stop + 1], p[stop - 1 : stop + 1])
        if stop < len(f)
        else p[-1]
    )
    xs, ys = np.r_[f[keep], max_fpr], np.r_[p[keep], y_at]
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2) / max_fpr)


def _two_regions():
    mask = np.zeros((8, 8), bool)
    mask[0:2, 0:2] = True  # region A, 4 cells
    mask[5:7, 2:6] = True  # region B, 8 cells
    return mask


def test_aupro_perfect_map_is_one():
    mask = _two_regions()
    normal = np.zeros((8, 8), bool)
    maps = [mask.astype(np.float32), np.zeros((8, 8), np.float32)]
    assert M.aupro(maps, [mask, normal]) == pytest.approx(1.0)
    assert M.aupro(maps, [mask, normal], max_fpr=1.0) == pytest.approx(1.0)
    assert M.aupro(maps, [mask, normal], n_thresholds=10) == pytest.approx(1.0)


def test_aupro_half_of_one_region():
    mask = _two_regions()
    amap = np.zeros((8, 8), np.float32)
    amap[0:2, 0:2] = 1.0  # all of A
    amap[5:7, 2:4] = 1.0  # exactly half of B
    # curve: (0, 0) -> (0, 0.75) -> (1, 1); area to a, over a, = 0.75 + 0.125 a
    assert M.aupro([amap], [mask], max_fpr=0.3) == pytest.approx(0.75 + 0.125 * 0.3)
    assert M.aupro([amap], [mask], max_fpr=1.0) == pytest.approx(0.875)
    assert M.aupro(amap, mask, max_fpr=0.3) == pytest.approx(0.7875)


def test_aupro_connectivity():
    mask = np.zeros((4, 4), bool)
    mask[0, 0:2] = True
    mask[1, 2] = True  # touches (0, 1) diagonally only
    amap = np.zeros((4, 4))
    amap[1, 2] = 1.0
    # 8-connectivity: one region of 3, PRO 1/3 at FPR 0; 4-connectivity: regions of 2 and 1 -> 1/2
    assert M.aupro([amap], [mask]) == pytest.approx(1 / 3 + (2 / 3) * 0.15)
    assert M.aupro([amap], [mask], connectivity=4) == pytest.approx(0.5 + 0.5 * 0.15)


@pytest.mark.parametrize("seed", range(4))
def test_aupro_matches_threshold_loop(seed):
    rng = np.random.default_rng(seed)
    masks = [np.zeros((10, 12), bool) for _ in range(3)]
    masks[0][2:5, 3:7] = True
    masks[0][7, 9:12] = True
    masks[1][6:9, 0:2] = True
    maps = [np.round(rng.random((10, 12)) + 0.6 * k, 1) for k in masks]
    for a in (0.05, 0.3, 1.0):
        want = _reference_aupro(maps, masks, a, structure=np.ones((3, 3)))
        assert M.aupro(maps, masks, max_fpr=a) == pytest.approx(want, abs=1e-12)
    allv = np.concatenate([m.ravel() for m in maps])
    grid = np.linspace(allv.max(), allv.min(), 7)
    want = _reference_aupro(maps, masks, 0.3, thresholds=grid, structure=np.ones((3, 3)))
    assert M.aupro(maps, masks, n_thresholds=7) == pytest.approx(want, abs=1e-12)


# ------------------------------------------------------------------ temporal


def test_temporal_scores_top_cells():
    a = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0]])
    np.testing.assert_allclose(M.temporal_scores(a, top=2), [2.5, 2.0])
    np.testing.assert_allclose(M.temporal_scores(a, top=5), [2.0, 4 / 3], rtol=1e-6)
    assert M.temporal_scores(a).dtype == np.float32


def test_temporal_metrics_frames_positive_if_any_cell():
    mask = np.zeros((6, 4), bool)
    mask[5, 1] = True  # one cell makes frame 1 positive
    amap = np.zeros((6, 4), np.float32)
    amap[:, 1] = 1.0
    normal = np.zeros((6, 4), bool)
    out = M.temporal_metrics([amap, np.zeros((6, 4))], [mask, normal])
    assert out == pytest.approx({"auroc": 1.0, "ap": 1.0, "f1_max": 1.0})
    amap2 = amap.copy()
    amap2[:, 3] = 2.0  # a negative frame outranks the positive one
    out = M.temporal_metrics([amap2], [mask])
    assert out["auroc"] == pytest.approx(2 / 3)
    assert out["ap"] == pytest.approx(0.5)


# ------------------------------------------------------------------ errors


def test_errors():
    with pytest.raises(ParameterError, match="only one class"):
        M.roc_auc([0.1, 0.2], [1, 1])
    with pytest.raises(ParameterError, match="only one class"):
        M.clip_metrics([0.1, 0.2], [0, 0])
    with pytest.raises(ParameterError, match="non-finite.*nan"):
        M.average_precision([0.1, np.nan], [0, 1])
    with pytest.raises(ParameterError, match="3 entries but labels has 2"):
        M.best_f1([0.1, 0.2, 0.3], [0, 1])
    with pytest.raises(ParameterError, match=r"\(2, 2\)"):
        M.roc_auc(np.zeros((2, 2)), [0, 1])
    with pytest.raises(ParameterError, match=r"other than 0 and 1: \[2\]"):
        M.roc_auc([0.1, 0.2, 0.3], [0, 1, 2])
    with pytest.raises(ParameterError, match="max_fpr=0"):
        M.partial_auc([0.1, 0.2], [0, 1], max_fpr=0)
    with pytest.raises(
        ParameterError, match=r"masks\[1\] has shape \(3, 4\) but maps\[1\] has \(3, 5\)"
    ):
        M.spectrogram_metrics(
            [np.zeros((3, 4)), np.zeros((3, 5))], [np.ones((3, 4)), np.ones((3, 4))]
        )
    with pytest.raises(ParameterError, match="2 maps but 1 masks"):
        M.aupro([np.zeros((3, 4))] * 2, [np.ones((3, 4), bool)])
    with pytest.raises(ParameterError, match="non-finite"):
        M.temporal_metrics([np.full((3, 4), np.nan)], [np.eye(3, 4, dtype=bool)])
    with pytest.raises(ParameterError, match="no anomalous cell"):
        M.aupro([np.zeros((3, 4))], [np.zeros((3, 4), bool)])
    with pytest.raises(ParameterError, match="connectivity=6"):
        M.aupro([np.zeros((3, 4))], [np.eye(3, 4, dtype=bool)], connectivity=6)
    with pytest.raises(ParameterError, match="inverted"):
        M.boxes_to_mask([Box(1.0, 0.5, 100.0, 200.0)], TIMES, MEL)
    with pytest.raises(ParameterError, match="strictly increasing"):
        M.boxes_to_mask([], TIMES, MEL[::-1])
    with pytest.raises(ParameterError, match="tau=1.5"):
        M.energy_mask(np.eye(3), tau=1.5)
    with pytest.raises(ParameterError, match=r"shape \(3,\)"):
        M.energy_mask(np.ones(3))
    with pytest.raises(ParameterError, match="top=0"):
        M.temporal_scores(np.ones((3, 3)), top=0)


def test_metrics_is_core_no_torch():
    code = "import specview.metrics, sys; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(out.stdout.split())
    assert "torch" not in mods and "sklearn" not in mods


def test_box_iou_counts_a_box_under_one_row_as_one_row():
    """A tone's box (a few Hz) against the one-row region a map can flag: IoU 1, not ~0.04."""
    from specview.metrics import box_iou

    freqs = np.array([100.0, 200.0, 300.0, 400.0])  # row edges 50, 150, 250, 350, 450 Hz
    tone = Box(1.0, 2.0, 298.0, 302.0)
    row = Box(1.0, 2.0, 250.0, 350.0)
    assert box_iou(tone, row, freqs) == pytest.approx(1.0)
    assert box_iou(row, tone, freqs) == pytest.approx(1.0)
    two_rows = Box(1.0, 2.0, 250.0, 450.0)
    assert box_iou(tone, two_rows, freqs) == pytest.approx(0.5)
    # a wider box is unchanged: half of it overlaps
    assert box_iou(two_rows, row, freqs) == pytest.approx(0.5)
    # at the grid's edge the one-row span stays inside the grid
    low = Box(1.0, 2.0, 50.0, 52.0)
    assert box_iou(low, Box(1.0, 2.0, 50.0, 150.0), freqs) == pytest.approx(1.0)
