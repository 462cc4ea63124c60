"""Flagged regions of a map (boxes in seconds and Hz), merged into events, and their
localisation scores against expert boxes (IoU, one-to-one matching, precision / recall)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from specview.errors import ParameterError
from specview.metrics.cells import STRUCTURES
from specview.metrics.maps import aupro, spectrogram_metrics, temporal_metrics
from specview.metrics.truth import _axis, _edges, boxes_to_mask
from specview.types import Box, FlaggedRegion

__all__ = [
    "RELATIVE_LEVEL",
    "MERGE_GAP_S",
    "BAND_ENERGY",
    "MIN_EXCESS",
    "flagged_regions",
    "event_regions",
    "row_position",
    "box_iou",
    "match_boxes",
    "box_metrics",
    "box_truth_metrics",
]


# --------------------------------------------------------------------------- flagged regions


#: Default share of a region's peak height (above the normal level) its cells must reach.
RELATIVE_LEVEL = 0.5


def flagged_regions(
    amap, times, freqs, threshold: float, *, min_cells: int = 2, connectivity: int = 8,
    relative: float = RELATIVE_LEVEL, base: float = 0.0, floor: float | None = None,
) -> list[FlaggedRegion]:
    """Regions of the map above ``threshold`` that follow their event, as boxes in seconds and
    Hz, highest first.

    Two levels, as a hysteresis that looks down from the peak: every connected region of
    ``amap >= threshold`` is found, then cut at its own level ``max(threshold, base +
    relative * (peak - base))`` (``base`` the normal level of the map, e.g. the calibration's
    median): a strong event keeps only the cells within ``relative`` of its height, not the
    skirt its features spread over neighbouring bands and frames, and a weak one keeps all its
    cells above the threshold. A region split by the cut gives one box per part. ``relative``
    0 is plain thresholding.

    With ``floor`` (below ``threshold``; e.g. a high quantile of normal cells), a region also
    looks up from below: it is a connected area of ``amap >= floor`` holding at least one cell
    above the threshold, and its cut is ``max(floor, base + relative * (peak - base))``. An
    event whose map rises above the threshold in a few places only (a sharp-peaked map, a
    weak event) is then flagged over the whole connected area where it stands out of normal
    sound, not as fragments around those places; areas above the floor with no cell above
    the threshold are not flagged.

    A region's box spans the outer edges of its cells (cell edges are midpoints between
    neighbouring centres, as in :func:`boxes_to_mask`; never below 0 s or 0 Hz); regions with
    fewer than ``min_cells`` cells are dropped as specks.
    """
    if not (0.0 <= relative < 1.0):
        raise ParameterError(f"relative={relative!r}; expected 0 <= relative < 1")
    if not np.isfinite(base):
        raise ParameterError(f"base={base!r} must be finite")
    a = np.asarray(amap)
    t = _axis(times, "times")
    f = _axis(freqs, "freqs")
    if a.ndim != 2 or a.shape != (f.size, t.size):
        raise ParameterError(
            f"amap has shape {a.shape}; expected ({f.size}, {t.size}) to match freqs and times"
        )
    if connectivity not in STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    if not np.isfinite(threshold):
        raise ParameterError(f"threshold={threshold!r} must be finite")
    if floor is not None and not np.isfinite(floor):
        raise ParameterError(f"floor={floor!r} must be finite")
    t_lo, t_hi = _edges(t)
    f_lo, f_hi = _edges(f)
    if t.size == 1:
        t_lo, t_hi = t - 0.5, t + 0.5
    if f.size == 1:
        f_lo, f_hi = f * 0.5, f * 1.5
    structure = STRUCTURES[connectivity]
    low = float(threshold) if floor is None else min(float(floor), float(threshold))
    lab, n = ndimage.label(a >= low, structure=structure)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        inside = lab[sl] == k
        vals = a[sl]
        peak = float(vals[inside].max())
        if peak < threshold:
            continue  # above the floor only: nothing here is flagged
        level = max(low, base + relative * (peak - base))
        core = inside & (vals >= level)
        sub, _ = ndimage.label(core, structure=structure)
        for j, ssl in enumerate(ndimage.find_objects(sub), start=1):
            if ssl is None:
                continue
            part = sub[ssl] == j
            n_cells = int(part.sum())
            if n_cells < min_cells:
                continue
            r0, r1 = sl[0].start + ssl[0].start, sl[0].start + ssl[0].stop
            c0, c1 = sl[1].start + ssl[1].start, sl[1].start + ssl[1].stop
            # a region at the recording's first frame or lowest band starts at 0, not half a
            # cell before it (a Raven table refuses negative times)
            box = Box(float(max(0.0, t_lo[c0])), float(t_hi[c1 - 1]),
                      float(max(0.0, f_lo[r0])), float(f_hi[r1 - 1]))
            out.append(FlaggedRegion(box, float(vals[ssl][part].max()), n_cells))
    out.sort(key=lambda r: -r.score)
    return out


#: Flagged regions closer than this in time are one event (the beeps of one alarm, the low
#: and high parts of one knock that a machine's own harmonics split).
MERGE_GAP_S = 0.5
#: A flagged event's band is the one holding this central share of the energy its sound adds.
BAND_ENERGY = 0.95
#: ... when that energy is at least this share of the normal energy under its box.
MIN_EXCESS = 0.1
#: How a row's excess power counts toward that energy: ``"hz"``, times the row's width in Hz
#: (specview's front ends' mel filters average the power over their bins, so a row holds a
#: power density and a wide high band more energy than its value says: the truth boxes' 95 %
#: band is one of energy over linear frequency); ``"row"``, each row's value as it is
#: (before: high bands under-weighted; a burst whose power falls as 1/f from 100 Hz to
#: 10 kHz, its truth band 97-8839 Hz, was given 94-5664 Hz, now 94-9090 Hz:
#: tests/test_event_regions.py). Measured: ``bench/bench_regions.py --band-weights row hz``.
BAND_WEIGHTS = "hz"


def event_regions(
    regions: Sequence[FlaggedRegion], excess_power: np.ndarray | None, times, freqs, *,
    gap_s: float = MERGE_GAP_S, band_energy: float = BAND_ENERGY, min_excess: float = MIN_EXCESS,
    normal_power: np.ndarray | None = None, band_weights: str | None = None,
) -> list[FlaggedRegion]:
    """Flagged regions as events: merged in time, each with the band its sound occupies.

    Regions whose time spans overlap or lie within ``gap_s`` of each other become one region
    (the union of their boxes, the highest score, the cells summed). Then, with
    ``excess_power`` (mel power above each row's normal ceiling, per cell of the map's grid), the
    region's band is narrowed, inside its box, to the rows holding the central ``band_energy``
    of the energy added during its frames (the rule an annotator's box of an event's energy
    follows). A network's map spreads over every cell whose receptive field holds the event (a
    tone at 8 kHz lights 5-22 kHz on a quiet engine); the added energy says which band the
    sound is in. A row's power counts times its width in Hz (``band_weights`` ``"hz"``, the
    default :data:`BAND_WEIGHTS`: mel rows hold power densities) or as it is (``"row"``). A
    region adding almost no energy (below ``min_excess`` of the box's normal energy when
    ``normal_power``, the rows' normal ceilings, is given; no energy at all otherwise), such
    as a missing component, keeps its band.
    """
    weights = BAND_WEIGHTS if band_weights is None else band_weights
    if weights not in ("hz", "row"):
        raise ParameterError(f"band_weights {weights!r}: use 'hz' or 'row'")
    t = _axis(times, "times")
    f = _axis(freqs, "freqs")
    if not regions:
        return []
    order = sorted(regions, key=lambda r: r.box.t0)
    groups: list[list[FlaggedRegion]] = [[order[0]]]
    end = order[0].box.t1
    for r in order[1:]:
        if r.box.t0 <= end + gap_s:
            groups[-1].append(r)
            end = max(end, r.box.t1)
        else:
            groups.append([r])
            end = r.box.t1
    f_lo, f_hi = _edges(f)
    width = (np.maximum(f_hi, 0.0) - np.maximum(f_lo, 0.0) if weights == "hz"
             else np.ones(f.size))
    tail = (1.0 - band_energy) / 2.0
    out = []
    for g in groups:
        box = Box(min(r.box.t0 for r in g), max(r.box.t1 for r in g),
                  min(r.box.f0 for r in g), max(r.box.f1 for r in g))
        score = max(r.score for r in g)
        cells = sum(r.n_cells for r in g)
        if excess_power is not None and np.shape(excess_power) == (f.size, t.size) and f.size > 1:
            cols = (t >= box.t0) & (t <= box.t1)
            rows = np.nonzero((f_hi > box.f0) & (f_lo < box.f1))[0]
            if cols.any() and rows.size:
                e = (np.asarray(excess_power, dtype=np.float64)[rows][:, cols].sum(axis=1)
                     * width[rows])
                total = float(e.sum())
                enough = total > 0
                if normal_power is not None and enough:
                    base = float((np.asarray(normal_power, dtype=np.float64)[rows]
                                  * width[rows]).sum()) * cols.sum()
                    enough = total >= min_excess * base
                if enough:
                    cum = np.cumsum(e) / total
                    lo = rows[int(np.searchsorted(cum, tail, side="right"))]
                    hi = rows[min(int(np.searchsorted(cum, 1.0 - tail, side="left")), rows.size - 1)]
                    box = Box(box.t0, box.t1, float(max(0.0, f_lo[lo], box.f0)),
                              float(min(f_hi[hi], box.f1)))
        out.append(FlaggedRegion(box, score, cells))
    out.sort(key=lambda r: -r.score)
    return out


def row_position(f: np.ndarray, freqs: np.ndarray) -> np.ndarray:
    """Hz to fractional row position (row i spans [i, i+1)); linear between row edges, so on a
    mel grid this is the mel scale the spectrogram is drawn on."""
    lo, hi = _edges(freqs)
    if freqs.size == 1:
        lo, hi = freqs * 0.5, freqs * 1.5
    edges = np.r_[lo, hi[-1]]
    return np.interp(f, edges, np.arange(edges.size, dtype=np.float64),
                     left=0.0, right=float(edges.size - 1))


def _one_row_at_least(r: np.ndarray, n_rows: int) -> np.ndarray:
    """A row span ``[lo, hi]`` widened about its centre to one row when narrower, kept inside
    ``[0, n_rows]``."""
    lo, hi = float(r[0]), float(r[1])
    if hi - lo >= 1.0 or n_rows < 1:
        return r
    c = min(max(0.5 * (lo + hi), 0.5), n_rows - 0.5)
    return np.array([c - 0.5, c + 0.5])


def box_iou(a: Box, b: Box, freqs) -> float:
    """Intersection over union of two boxes in seconds x row position on the grid ``freqs``
    (the axis the spectrogram is drawn in: mel-spaced for a mel grid).

    A box less than one row tall counts as one row tall, centred where it is: nothing on the
    grid is narrower, and a tone's band (a few Hz, as a box of its 95 % energy band is) would
    otherwise overlap any region found on the grid by a fraction of a row and match none."""
    f = _axis(freqs, "freqs")
    fa = _one_row_at_least(row_position(np.array([a.f0, a.f1]), f), f.size)
    fb = _one_row_at_least(row_position(np.array([b.f0, b.f1]), f), f.size)
    dt = min(a.t1, b.t1) - max(a.t0, b.t0)
    df = min(fa[1], fb[1]) - max(fa[0], fb[0])
    if dt <= 0 or df <= 0:
        return 0.0
    inter = dt * df
    union = (a.t1 - a.t0) * (fa[1] - fa[0]) + (b.t1 - b.t0) * (fb[1] - fb[0]) - inter
    return float(inter / union) if union > 0 else 0.0


def match_boxes(predicted: Sequence[Box], truth: Sequence[Box], freqs,
                *, min_iou: float = 0.3) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(pred index, truth index, iou)`` with IoU >= ``min_iou``.

    Greedy in order of decreasing IoU, so each box is matched at most once.
    """
    if not 0.0 < float(min_iou) <= 1.0:
        raise ParameterError(f"min_iou={min_iou!r}; expected 0 < min_iou <= 1")
    pairs = [
        (box_iou(p, g, freqs), i, j)
        for i, p in enumerate(predicted) for j, g in enumerate(truth)
    ]
    pairs.sort(key=lambda x: -x[0])
    used_p, used_g, out = set(), set(), []
    for iou, i, j in pairs:
        if iou < min_iou:
            break
        if i in used_p or j in used_g:
            continue
        used_p.add(i)
        used_g.add(j)
        out.append((i, j, iou))
    return out


def box_metrics(counts: Sequence[tuple[int, int, int]]) -> dict[str, float | None]:
    """Precision, recall and F1 from per-clip ``(matched, n_predicted, n_truth)`` counts,
    pooled over clips. Undefined values (no predictions, no truth) are None."""
    tp = sum(c[0] for c in counts)
    n_pred = sum(c[1] for c in counts)
    n_true = sum(c[2] for c in counts)
    precision = tp / n_pred if n_pred else None
    recall = tp / n_true if n_true else None
    if precision is None or recall is None:
        f1 = None
    else:
        f1 = 0.0 if tp == 0 else 2 * precision * recall / (precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1,
            "matched": tp, "n_predicted": n_pred, "n_truth": n_true}


def box_truth_metrics(
    items: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, Sequence[Box], Sequence[Box]]],
    *,
    min_iou: float = 0.3,
) -> dict[str, float | None]:
    """Localisation scores against expert boxes, for one clip or pooled over several.

    ``items`` holds ``(map, times, freqs, truth boxes, flagged boxes)`` per clip (a clip with
    no truth box counts as all-negative). Returns ``spectrogram_auroc``, ``aupro``,
    ``temporal_auroc`` (None where the cells or frames hold one class only) and the flagged
    regions' ``box_precision`` / ``box_recall`` / ``box_f1`` at IoU >= ``min_iou``.
    """
    maps, masks, counts = [], [], []
    for amap, times, freqs, truth, flagged in items:
        maps.append(np.asarray(amap))
        masks.append(boxes_to_mask(list(truth), times, freqs))
        matched = len(match_boxes(list(flagged), list(truth), freqs, min_iou=min_iou))
        counts.append((matched, len(flagged), len(truth)))

    def safe(fn, *a):
        try:
            return fn(*a)
        except ParameterError:
            return None

    spec = safe(spectrogram_metrics, maps, masks)
    tmp = safe(temporal_metrics, maps, masks)
    boxes = box_metrics(counts)
    return {
        "spectrogram_auroc": None if spec is None else spec["auroc"],
        "aupro": safe(aupro, maps, masks),
        "temporal_auroc": None if tmp is None else tmp["auroc"],
        "box_precision": boxes["precision"],
        "box_recall": boxes["recall"],
        "box_f1": boxes["f1"],
        "n_clips": len(items),
        "n_truth_boxes": boxes["n_truth"],
    }
