"""Flagged regions, box IoU and matching, PRO and ROC curves, MSE: hand-computable cases."""

import numpy as np
import pytest

from specview import metrics as M
from specview.errors import ParameterError
from specview.types import Box

TIMES = np.arange(20) * 0.1 + 0.05  # cells 0.1 s wide, edges at 0.0, 0.1, ...
FREQS = np.arange(10) * 100.0 + 50.0  # rows 100 Hz wide, edges at 0, 100, ...


def test_flagged_regions_are_the_connected_areas_above_threshold():
    m = np.zeros((10, 20))
    m[2:4, 5:9] = 1.0  # rows 2-3 (200-400 Hz), frames 5-8 (0.5-0.9 s)
    m[7, 15] = 2.0  # a one-cell speck
    m[6:9, 14:17] = np.maximum(m[6:9, 14:17], 0.8)
    regions = M.flagged_regions(m, TIMES, FREQS, 0.5, relative=0.0)  # plain thresholding
    assert [r.n_cells for r in regions] == [9, 8]  # highest score first
    big, small = regions[1], regions[0]
    def corners(b):
        return (b.t0, b.t1, b.f0, b.f1)

    assert corners(big.box) == pytest.approx((0.5, 0.9, 200.0, 400.0)) and big.score == 1.0
    assert corners(small.box) == pytest.approx((1.4, 1.7, 600.0, 900.0)) and small.score == 2.0
    # by default each region keeps the cells within half its peak: the flat one all 8; the
    # peaked one (2.0 on a skirt of 0.8) only its peak cell, then a speck
    assert [r.n_cells for r in M.flagged_regions(m, TIMES, FREQS, 0.5)] == [8]
    (peak, flat) = M.flagged_regions(m, TIMES, FREQS, 0.5, min_cells=1)
    assert peak.n_cells == 1 and corners(peak.box) == pytest.approx((1.5, 1.6, 700.0, 800.0))
    assert flat.box == big.box and flat.n_cells == 8
    speck = np.zeros((10, 20))
    speck[1, 1] = 1.0
    assert M.flagged_regions(speck, TIMES, FREQS, 0.5) == []
    assert len(M.flagged_regions(speck, TIMES, FREQS, 0.5, min_cells=1)) == 1


def blob(peak: float, sigma: float, row: float, col: float, shape=(41, 61)) -> np.ndarray:
    r, c = np.mgrid[: shape[0], : shape[1]]
    return peak * np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * sigma**2))


BIG_T = np.arange(61) * 0.1 + 0.05  # 0.1 s cells, edges at 0.0, 0.1, ...
BIG_F = np.arange(41) * 100.0 + 50.0  # 100 Hz rows, edges at 0, 100, ...


def test_relative_level_keeps_a_strong_blob_to_its_half_maximum():
    m = blob(10.0, 2.0, 20, 30)  # peak 10 at 2050 Hz, 3.05 s; sigma 2 cells; base 0
    (wide,) = M.flagged_regions(m, BIG_T, BIG_F, 1.0, relative=0.0)
    (core,) = M.flagged_regions(m, BIG_T, BIG_F, 1.0, relative=0.5)
    # threshold 1: cells within sqrt(2 ln 10) sigma = 4.29 cells of the peak, 61 lattice points,
    # 9 cells across; half the peak: within sqrt(2 ln 2) sigma = 2.35 cells, 21 points, 5 across
    assert wide.n_cells == 61 and core.n_cells == 21
    assert wide.box.t1 - wide.box.t0 == pytest.approx(0.9)
    assert core.box.t1 - core.box.t0 == pytest.approx(0.5)
    assert wide.score == core.score == pytest.approx(10.0)
    # the box spans the half-maximum width (+-1.1774 sigma) within one cell on both axes
    half = np.sqrt(2 * np.log(2)) * 2.0
    for lo, hi, centre, cell in ((core.box.t0, core.box.t1, 3.05, 0.1),
                                 (core.box.f0, core.box.f1, 2050.0, 100.0)):
        assert abs(lo - (centre - half * cell)) < cell and abs(hi - (centre + half * cell)) < cell
    # the cut is measured from the normal level: on a base of 4 the half height is 4 + 5 = 9,
    # the same 21 cells; measured from 0 it is 7, the blob's 3: within 1.55 sigma, 29 cells
    (based,) = M.flagged_regions(m + 4.0, BIG_T, BIG_F, 1.0, base=4.0)
    assert based.box == core.box and based.n_cells == 21
    (unbased,) = M.flagged_regions(m + 4.0, BIG_T, BIG_F, 1.0)
    assert unbased.n_cells == 29 and unbased.box.t1 - unbased.box.t0 == pytest.approx(0.7)


def test_two_equal_blobs_joined_above_threshold_split_at_half_height():
    # peaks 8 cells apart: the saddle between them is 2 * 10 exp(-16 / 8) = 2.7, above 1
    m = blob(10.0, 2.0, 20, 26) + blob(10.0, 2.0, 20, 34)
    assert m[20, 30] == pytest.approx(20 * np.exp(-2.0))
    (joined,) = M.flagged_regions(m, BIG_T, BIG_F, 1.0, relative=0.0)
    parts = sorted(M.flagged_regions(m, BIG_T, BIG_F, 1.0), key=lambda r: r.box.t0)
    assert len(parts) == 2
    left, right = parts
    assert left.n_cells == right.n_cells == 21 and left.score == pytest.approx(right.score)
    assert left.box.t0 <= 2.65 <= left.box.t1 < right.box.t0 <= 3.45 <= right.box.t1
    assert joined.box.t0 < left.box.t0 and right.box.t1 < joined.box.t1
    assert (left.box.t0, right.box.t1) == pytest.approx((2.4, 3.7))


def test_a_weak_blob_keeps_every_cell_above_the_threshold():
    m = blob(1.5, 2.0, 20, 30)  # half its height (0.75) is below the threshold 1: the threshold
    plain = M.flagged_regions(m, BIG_T, BIG_F, 1.0, relative=0.0)
    assert M.flagged_regions(m, BIG_T, BIG_F, 1.0, relative=0.5) == plain
    assert len(plain) == 1 and plain[0].n_cells == int((m >= 1.0).sum())


def test_a_floor_grows_a_region_over_the_event_from_its_cells_above_the_threshold():
    # an event standing 0.6 above a normal level of 0 over rows 2-6 (200-700 Hz), frames 3-14
    # (0.3-1.5 s), with two short spikes above the threshold 1; and a patch at 0.6 elsewhere
    # that never reaches the threshold
    m = np.zeros((10, 20))
    m[2:7, 3:15] = 0.6
    m[4, 5:7] = 2.0
    m[3, 11:13] = 1.5
    m[8:10, 16:19] = 0.6
    plain = M.flagged_regions(m, TIMES, FREQS, 1.0, relative=0.0)
    spans = sorted((r.box.t0, r.box.t1) for r in plain)
    assert np.allclose(spans, [(0.5, 0.7), (1.1, 1.3)])  # two fragments of the event
    assert [r.n_cells for r in plain] == [2, 2]
    (grown,) = M.flagged_regions(m, TIMES, FREQS, 1.0, relative=0.0, floor=0.5)
    b = grown.box
    assert (b.t0, b.t1, b.f0, b.f1) == pytest.approx((0.3, 1.5, 200.0, 700.0))
    assert grown.n_cells == 60 and grown.score == 2.0
    # the cut relative to the peak still applies, from the floor up: at 0.3 of 2.0 (0.6) every
    # cell stays; at half (1.0) only the spikes, as without the floor
    (same,) = M.flagged_regions(m, TIMES, FREQS, 1.0, relative=0.3, floor=0.5)
    assert same == grown
    halves = M.flagged_regions(m, TIMES, FREQS, 1.0, relative=0.5, floor=0.5)
    assert [(r.box, r.n_cells) for r in halves] == [(r.box, r.n_cells) for r in
                                                   M.flagged_regions(m, TIMES, FREQS, 1.0)]
    # a floor at or above the threshold changes nothing; nothing above the floor alone is flagged
    assert M.flagged_regions(m, TIMES, FREQS, 1.0, relative=0.0, floor=1.0) == plain
    assert M.flagged_regions(np.where(m > 1.0, 0.6, m), TIMES, FREQS, 1.0, floor=0.5) == []


@pytest.mark.parametrize("kw,pattern", [({"relative": 1.0}, "relative"),
                                        ({"relative": -0.1}, "relative"),
                                        ({"base": float("nan")}, "base"),
                                        ({"floor": float("inf")}, "floor")])
def test_flagged_region_levels_are_checked(kw, pattern):
    with pytest.raises(ParameterError, match=pattern):
        M.flagged_regions(np.zeros((10, 20)), TIMES, FREQS, 0.5, **kw)


def test_flagged_regions_validate_shapes():
    with pytest.raises(ParameterError, match="expected \\(10, 20\\)"):
        M.flagged_regions(np.zeros((20, 10)), TIMES, FREQS, 0.5)


def test_iou_is_measured_in_seconds_by_rows():
    a = Box(0.0, 1.0, 0.0, 200.0)
    assert M.box_iou(a, a, FREQS) == pytest.approx(1.0)
    assert M.box_iou(a, Box(0.5, 1.5, 0.0, 200.0), FREQS) == pytest.approx(1 / 3)
    assert M.box_iou(a, Box(2.0, 3.0, 0.0, 200.0), FREQS) == 0.0
    # a mel-like grid: rows widen with frequency, so the same Hz span is fewer rows up high
    mel = np.array([100.0, 200, 400, 800, 1600])
    low, high = Box(0, 1, 150, 300), Box(0, 1, 150, 1200)
    rows_low = np.diff(M.row_position(np.array([150.0, 300]), mel))[0]
    rows_high = np.diff(M.row_position(np.array([150.0, 1200]), mel))[0]
    assert M.box_iou(low, high, mel) == pytest.approx(rows_low / rows_high)


def test_matching_is_one_to_one_and_respects_the_iou_floor():
    truth = [Box(0.0, 1.0, 0, 200), Box(1.5, 2.0, 500, 900)]
    pred = [Box(0.0, 1.0, 0, 200), Box(0.1, 1.0, 0, 200), Box(1.5, 1.6, 500, 900)]
    matches = M.match_boxes(pred, truth, FREQS, min_iou=0.3)
    assert matches == [(0, 0, pytest.approx(1.0))]  # the 2nd overlaps box 0 (taken); 3rd IoU 0.2
    assert len(M.match_boxes(pred, truth, FREQS, min_iou=0.2)) == 2
    scores = M.box_metrics([(1, 3, 2), (0, 1, 0)])
    assert scores["precision"] == 0.25 and scores["recall"] == 0.5
    assert scores["f1"] == pytest.approx(2 * 0.25 * 0.5 / 0.75)
    assert M.box_metrics([(0, 0, 0)])["precision"] is None


def test_pro_curve_reaches_one_where_the_perfect_map_is_complete():
    mask = np.zeros((4, 6), dtype=bool)
    mask[1:3, 2:4] = True
    fpr, pro = M.pro_curve([mask.astype(float)], [mask])
    assert fpr[0] == 0 and pro[0] == 0 and fpr[-1] == 1 and pro[-1] == 1
    assert pro[1] == 1.0 and fpr[1] == 0.0  # the first threshold takes the whole region only
    fpr, tpr = M.roc_curve(mask.ravel().astype(float), mask.ravel())
    assert np.array_equal(tpr, [0, 1, 1]) and np.array_equal(fpr, [0, 0, 1])


def test_mse_and_set_normalisation():
    maps = [np.array([[0.0, 2.0]]), np.array([[4.0, 4.0]])]
    lo, hi = M.set_normalise(maps)
    assert (lo, hi) == (0.0, 4.0)
    norm = [(m - lo) / (hi - lo) for m in maps]
    assert M.map_mse(norm, [np.array([[0.0, 0.5]]), np.array([[1.0, 0.0]])]) == pytest.approx(0.25)
    with pytest.raises(ParameterError, match="targets\\[0\\] has shape"):
        M.map_mse(norm, [np.zeros((2, 2)), np.zeros((1, 2))])


def test_box_truth_metrics_for_a_perfect_and_an_empty_clip():
    m = np.zeros((10, 20))
    m[2:4, 5:9] = 1.0
    truth = [Box(0.5, 0.9, 200.0, 400.0)]
    flagged = [r.box for r in M.flagged_regions(m, TIMES, FREQS, 0.5)]
    one = M.box_truth_metrics([(m, TIMES, FREQS, truth, flagged)])
    assert one["spectrogram_auroc"] == 1.0 and one["aupro"] == pytest.approx(1.0)
    assert one["temporal_auroc"] == 1.0
    assert one["box_precision"] == 1.0 and one["box_recall"] == 1.0
    # a normal clip with a false flag pulls precision down, pooled
    both = M.box_truth_metrics([(m, TIMES, FREQS, truth, flagged),
                                (m, TIMES, FREQS, [], flagged)])
    assert both["box_precision"] == 0.5 and both["box_recall"] == 1.0
    assert both["spectrogram_auroc"] < 1.0
    # no truth at all: ranking metrics are undefined, not an error
    none = M.box_truth_metrics([(m, TIMES, FREQS, [], [])])
    assert none["spectrogram_auroc"] is None and none["box_recall"] is None


def test_a_region_at_the_first_frame_and_lowest_band_starts_at_zero():
    # cell edges lie half a cell outside the first centres; a box never starts before 0 s / 0 Hz
    times = np.arange(20) * 0.1  # first centre at 0 s
    freqs = np.linspace(50.0, 5000.0, 16)
    amap = np.zeros((16, 20))
    amap[0:3, 0:4] = 2.0
    (r,) = M.flagged_regions(amap, times, freqs, 1.0)
    assert r.box.t0 == 0.0 and r.box.t1 == pytest.approx(0.35)
    assert r.box.f0 == 0.0
