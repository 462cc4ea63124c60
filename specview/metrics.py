"""Evaluation metrics for clip-level scores and anomaly maps on spectrogram grids.

Core module: numpy and scipy only.

Conventions
-----------
* Higher score = more anomalous; a threshold ``t`` predicts "anomalous" for ``score >= t``.
* Ranking metrics are computed exactly over the sorted unique score values, so tied scores move
  together (a tie between a positive and a negative gives a diagonal ROC segment).
* Labels are booleans or the numbers 0 and 1.
* Every function raises :class:`specview.errors.ParameterError` for bad shapes or values
  (non-finite scores, a missing class, mismatched arrays), echoing what it received.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from specview.errors import ParameterError
from specview.types import Box, FlaggedRegion

__all__ = [
    "roc_auc",
    "partial_auc",
    "average_precision",
    "best_f1",
    "clip_metrics",
    "boxes_to_mask",
    "energy_mask",
    "spectrogram_metrics",
    "aupro",
    "aupimo",
    "temporal_scores",
    "temporal_metrics",
    "roc_curve",
    "pro_curve",
    "map_mse",
    "set_normalise",
    "minmax01",
    "flagged_regions",
    "box_iou",
    "match_boxes",
    "box_metrics",
    "box_truth_metrics",
]


# --------------------------------------------------------------------------- validation


def _scores_1d(scores, name: str = "scores") -> np.ndarray:
    arr = np.asarray(scores)
    if arr.ndim != 1:
        raise ParameterError(f"{name} has shape {arr.shape}; expected a 1-D array")
    if arr.size == 0:
        raise ParameterError(f"{name} is empty; expected at least one score per class")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ParameterError(f"{name} has dtype {arr.dtype}; expected numbers")
    arr = arr.astype(np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = np.flatnonzero(bad)
        raise ParameterError(
            f"{name} holds {idx.size} non-finite value(s), e.g. {arr[idx[0]]} at index "
            f"{idx[0]}; replace NaN/inf scores before evaluating"
        )
    return arr


def _labels(labels, name: str = "labels") -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ParameterError(f"{name} has dtype {arr.dtype}; expected booleans or 0/1")
    bad = (arr != 0) & (arr != 1)
    if bad.any():
        vals = np.unique(arr[bad])[:5]
        raise ParameterError(f"{name} holds values other than 0 and 1: {vals.tolist()}")
    return arr == 1


def _pair(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = _scores_1d(scores)
    y = _labels(labels)
    if y.ndim != 1:
        raise ParameterError(f"labels has shape {y.shape}; expected a 1-D array")
    if y.shape != s.shape:
        raise ParameterError(
            f"scores has {s.size} entries but labels has {y.size}; they must match one to one"
        )
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        missing = "positive (1)" if n_pos == 0 else "negative (0)"
        raise ParameterError(
            f"labels hold only one class ({n_pos} positives, {n_neg} negatives): no {missing} "
            f"examples; the metric needs both classes"
        )
    return s, y


def _ranked(scores: np.ndarray, labels: np.ndarray):
    """Cumulative counts at each unique threshold, highest first.

    Returns ``thresholds, tps, fps, n_pos, n_neg`` where ``tps[k]``/``fps[k]`` count the
    positives/negatives with ``score >= thresholds[k]``.
    """
    order = np.argsort(-scores, kind="mergesort")
    s = scores[order]
    y = labels[order]
    ends = np.r_[np.flatnonzero(np.diff(s) != 0), s.size - 1]
    tps = np.cumsum(y, dtype=np.int64)[ends]
    fps = ends + 1 - tps
    n_pos = int(tps[-1])
    return s[ends], tps, fps, n_pos, int(s.size - n_pos)


def _trapezoid(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) * 0.5))


def _roc(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s, y = _pair(scores, labels)
    _, tps, fps, n_pos, n_neg = _ranked(s, y)
    return np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos]


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` at every unique threshold, from (0, 0) to (1, 1)."""
    return _roc(scores, labels)


def _check_max_fpr(max_fpr, name: str = "max_fpr") -> float:
    try:
        v = float(max_fpr)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name}={max_fpr!r} is not a number; expected 0 < {name} <= 1"
        ) from None
    if not (0.0 < v <= 1.0):
        raise ParameterError(f"{name}={max_fpr!r} is out of range; expected 0 < {name} <= 1")
    return v


# --------------------------------------------------------------------------- clip-level metrics


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve (exact, ties as diagonal segments; equals scikit-learn's)."""
    fpr, tpr = _roc(scores, labels)
    return _trapezoid(fpr, tpr)


def partial_auc(scores, labels, max_fpr: float = 0.1) -> float:
    """Standardised partial AUC over ``FPR in [0, max_fpr]`` (McClish correction).

    Returns ``0.5 * (1 + (pAUC - min) / (max - min))`` with ``min = max_fpr**2 / 2`` and
    ``max = max_fpr``, as ``sklearn.metrics.roc_auc_score(max_fpr=...)`` and DCASE do:
    1.0 for a perfect ranking, 0.5 for chance, ``0.5 * (1 - max_fpr / (2 - max_fpr))`` for an
    inverted one. ``max_fpr = 1`` gives the plain AUC.
    """
    max_fpr = _check_max_fpr(max_fpr)
    fpr, tpr = _roc(scores, labels)
    if max_fpr == 1.0:
        return _trapezoid(fpr, tpr)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    y_at = float(np.interp(max_fpr, fpr[stop - 1 : stop + 1], tpr[stop - 1 : stop + 1]))
    part = _trapezoid(np.r_[fpr[:stop], max_fpr], np.r_[tpr[:stop], y_at])
    lo = 0.5 * max_fpr**2
    return 0.5 * (1.0 + (part - lo) / (max_fpr - lo))


def average_precision(scores, labels) -> float:
    """Step-wise average precision ``sum_k (R_k - R_{k-1}) P_k`` (scikit-learn's definition)."""
    s, y = _pair(scores, labels)
    _, tps, fps, n_pos, _ = _ranked(s, y)
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def best_f1(scores, labels) -> tuple[float, float]:
    """Highest F1 over all thresholds ``score >= t``, with that threshold.

    Thresholds are the unique score values; among equal F1 values the highest threshold wins.
    """
    s, y = _pair(scores, labels)
    thr, tps, fps, n_pos, _ = _ranked(s, y)
    f1 = 2.0 * tps / (tps + fps + n_pos)
    k = int(np.argmax(f1))
    return float(f1[k]), float(thr[k])


def clip_metrics(scores, labels, *, max_fpr: float = 0.1) -> dict[str, float]:
    """``auroc``, ``pauc`` (standardised, FPR <= ``max_fpr``), ``ap`` and ``f1_max``."""
    return {
        "auroc": roc_auc(scores, labels),
        "pauc": partial_auc(scores, labels, max_fpr),
        "ap": average_precision(scores, labels),
        "f1_max": best_f1(scores, labels)[0],
    }


# --------------------------------------------------------------------------- ground-truth masks


def _axis(values, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise ParameterError(f"{name} has shape {arr.shape}; expected a non-empty 1-D array")
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"{name} holds non-finite values: {arr[~np.isfinite(arr)][:3]}")
    if arr.size > 1 and np.any(np.diff(arr) <= 0):
        k = int(np.flatnonzero(np.diff(arr) <= 0)[0])
        raise ParameterError(
            f"{name} must be strictly increasing; {name}[{k}]={arr[k]} is followed by {arr[k + 1]}"
        )
    return arr


def _edges(centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower/upper cell edges: midpoints between neighbours, half a spacing outside the ends.

    A single cell extends infinitely both ways.
    """
    if centres.size == 1:
        return np.array([-np.inf]), np.array([np.inf])
    mid = 0.5 * (centres[:-1] + centres[1:])
    lo = np.r_[centres[0] - 0.5 * (centres[1] - centres[0]), mid]
    hi = np.r_[mid, centres[-1] + 0.5 * (centres[-1] - centres[-2])]
    return lo, hi


def _nearest_cell(x: float, lo: np.ndarray, hi: np.ndarray) -> int | None:
    """Index of the cell whose [lo, hi) contains x (the last cell includes hi); None outside.

    A point exactly on the edge between two cells goes to the later cell.
    """
    if x < lo[0] or x > hi[-1]:
        return None
    return int(min(np.searchsorted(lo, x, side="right") - 1, lo.size - 1))


def boxes_to_mask(boxes: Sequence[Box], times, freqs) -> np.ndarray:
    """Rasterise time-frequency boxes onto a grid: a boolean ``(n_freq, n_time)`` mask.

    A cell is inside a box when its time centre lies in ``[t0, t1]`` and its row's frequency
    band overlaps ``[f0, f1]`` by a positive amount. Row bands run between the midpoints of
    neighbouring row centres (the first and last rows extend half a spacing outward), which
    suits non-uniform mel centres. A box containing no frame centre covers the frame nearest its
    time centre, and a zero-width box covers the row whose band holds it, provided those
    centres fall on the grid (a box wholly off the grid covers nothing).
    """
    t = _axis(times, "times")
    f = _axis(freqs, "freqs")
    t_lo, t_hi = _edges(t)
    f_lo, f_hi = _edges(f)
    mask = np.zeros((f.size, t.size), dtype=bool)
    for i, b in enumerate(boxes):
        try:
            t0, t1, f0, f1 = (float(b.t0), float(b.t1), float(b.f0), float(b.f1))
        except (AttributeError, TypeError, ValueError):
            raise ParameterError(
                f"boxes[{i}]={b!r} is not a Box with numeric t0, t1, f0, f1"
            ) from None
        if not all(np.isfinite([t0, t1, f0, f1])):
            raise ParameterError(f"boxes[{i}]={b!r} has non-finite bounds")
        if t1 < t0 or f1 < f0:
            raise ParameterError(f"boxes[{i}]={b!r} is inverted; expected t0 <= t1 and f0 <= f1")
        cols = (t >= t0) & (t <= t1)
        if not cols.any():
            k = _nearest_cell(0.5 * (t0 + t1), t_lo, t_hi)
            if k is not None:
                cols[k] = True
        rows = (f_lo < f1) & (f_hi > f0)
        if not rows.any():
            k = _nearest_cell(0.5 * (f0 + f1), f_lo, f_hi)
            if k is not None:
                rows[k] = True
        mask |= rows[:, None] & cols[None, :]
    return mask


def energy_mask(anomaly_logmel, tau: float = 0.4) -> np.ndarray:
    """Ground-truth mask from the log-mel of the anomaly alone (the reference paper's rule).

    Min-max normalise to [0, 1], sort cells by value descending and keep the loudest cells
    until their cumulative normalised mass exceeds ``tau`` times the total mass (the cell that
    crosses the line is kept). Cells tied with the last kept value are all kept. A constant
    input carries no anomaly energy and gives an all-False mask. ``0 < tau < 1``.
    """
    x = np.asarray(anomaly_logmel)
    if x.ndim != 2 or x.size == 0:
        raise ParameterError(f"anomaly_logmel has shape {x.shape}; expected a non-empty 2-D array")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ParameterError(
            f"anomaly_logmel holds {int(np.sum(~np.isfinite(x)))} non-finite value(s); "
            "clip -inf dB to a floor first"
        )
    try:
        tau_f = float(tau)
    except (TypeError, ValueError):
        raise ParameterError(f"tau={tau!r} is not a number; expected 0 < tau < 1") from None
    if not (0.0 < tau_f < 1.0):
        raise ParameterError(f"tau={tau!r} is out of range; expected 0 < tau < 1")
    lo, hi = x.min(), x.max()
    if hi == lo:
        return np.zeros(x.shape, dtype=bool)
    n = (x - lo) / (hi - lo)
    v = np.sort(n.ravel())[::-1]
    cum = np.cumsum(v)
    k = min(int(np.searchsorted(cum, tau_f * cum[-1], side="right")), v.size - 1)
    return n >= v[k]


# --------------------------------------------------------------------------- map-level metrics


def _map_pairs(maps, masks) -> tuple[list[np.ndarray], list[np.ndarray]]:
    def as_list(obj, name):
        if isinstance(obj, np.ndarray):
            if obj.ndim == 2:
                return [obj]
            if obj.ndim == 3:
                return list(obj)
            raise ParameterError(
                f"{name} has shape {obj.shape}; expected a 2-D array, a 3-D stack or a list "
                "of 2-D arrays"
            )
        try:
            return [np.asarray(m) for m in obj]
        except TypeError:
            raise ParameterError(f"{name}={obj!r} is not a sequence of 2-D arrays") from None

    ms = as_list(maps, "maps")
    ks = as_list(masks, "masks")
    if len(ms) != len(ks):
        raise ParameterError(f"{len(ms)} maps but {len(ks)} masks; give one mask per map")
    if not ms:
        raise ParameterError("maps is empty; expected at least one map")
    out_m, out_k = [], []
    for i, (m, k) in enumerate(zip(ms, ks, strict=True)):
        m = np.asarray(m)
        k = np.asarray(k)
        if m.ndim != 2:
            raise ParameterError(f"maps[{i}] has shape {m.shape}; expected (n_freq, n_time)")
        if k.shape != m.shape:
            raise ParameterError(
                f"masks[{i}] has shape {k.shape} but maps[{i}] has {m.shape}; they must match"
            )
        m = _scores_1d(m.ravel(), f"maps[{i}]").reshape(m.shape)
        out_m.append(m)
        out_k.append(_labels(k, f"masks[{i}]"))
    return out_m, out_k


def spectrogram_metrics(maps, masks) -> dict[str, float]:
    """Cell-level ``auroc``, ``ap`` and ``f1_max`` pooled over all clips.

    ``maps`` and ``masks`` are lists of ``(n_freq, n_time)`` arrays (or 3-D stacks), one pair
    per clip; include normal clips with all-False masks so their cells count as negatives.
    """
    ms, ks = _map_pairs(maps, masks)
    s = np.concatenate([m.ravel() for m in ms])
    y = np.concatenate([k.ravel() for k in ks])
    return {
        "auroc": roc_auc(s, y),
        "ap": average_precision(s, y),
        "f1_max": best_f1(s, y)[0],
    }


_STRUCTURES = {4: ndimage.generate_binary_structure(2, 1), 8: np.ones((3, 3), dtype=bool)}


def _pro_points(maps, masks, n_thresholds, connectivity) -> tuple[np.ndarray, np.ndarray]:
    ms, ks = _map_pairs(maps, masks)

    scores, pro_w, fpr_w = [], [], []
    n_regions = 0
    for m, k in zip(ms, ks, strict=True):
        lab, n = ndimage.label(k, structure=_STRUCTURES[connectivity])
        sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(np.float64)
        w = np.zeros(lab.shape, dtype=np.float64)
        w[k] = 1.0 / sizes[lab[k]]
        scores.append(m.ravel())
        pro_w.append(w.ravel())
        fpr_w.append((~k).ravel().astype(np.float64))
        n_regions += n
    n_neg = int(sum(w.sum() for w in fpr_w))
    if n_regions == 0:
        raise ParameterError("masks hold no anomalous cell: AU-PRO needs at least one region")
    if n_neg == 0:
        raise ParameterError("masks hold no normal cell: AU-PRO needs negatives to measure FPR")
    s = np.concatenate(scores)
    order = np.argsort(-s, kind="mergesort")
    s = s[order]
    cum_pro = np.r_[0.0, np.cumsum(np.concatenate(pro_w)[order]) / n_regions]
    cum_fpr = np.r_[0.0, np.cumsum(np.concatenate(fpr_w)[order]) / n_neg]
    if n_thresholds is None:
        counts = np.r_[np.flatnonzero(np.diff(s) != 0) + 1, s.size]
    else:
        thr = np.linspace(s[0], s[-1], int(n_thresholds))  # highest first
        counts = np.searchsorted(-s, -thr, side="right")  # number of cells with score >= thr
    # the lowest threshold predicts every cell: pin that end to (1, 1) against rounding
    fpr = np.clip(np.r_[0.0, cum_fpr[counts]], 0.0, 1.0)
    pro = np.clip(np.r_[0.0, cum_pro[counts]], 0.0, 1.0)
    fpr[-1] = pro[-1] = 1.0
    return fpr, pro


def pro_curve(maps, masks, *, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, pro)``: the exact per-region-overlap curve behind :func:`aupro`, from (0, 0) to
    (1, 1), one point per unique score."""
    if connectivity not in _STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    return _pro_points(maps, masks, None, connectivity)


def aupro(
    maps,
    masks,
    max_fpr: float = 0.3,
    n_thresholds: int | None = None,
    *,
    connectivity: int = 8,
) -> float:
    """Normalised area under the per-region-overlap curve up to ``max_fpr`` (MVTec AD).

    Each ground-truth region is a connected component of a clip's mask (8-connectivity by
    default, as in Bergmann et al.'s reference code; ``connectivity=4`` is available). At a
    threshold ``t`` (cells with ``score >= t`` predicted anomalous) the PRO is the mean over all
    regions of all clips of the fraction of the region predicted, and the FPR is the fraction of
    all negative cells (normal clips included) predicted. The curve runs from (0, 0) to (1, 1);
    it is integrated with the trapezoid rule over ``FPR in [0, max_fpr]`` (interpolating at
    ``max_fpr``) and divided by ``max_fpr``, so a perfect map scores 1.

    ``n_thresholds=None`` evaluates every unique score (the exact curve); an integer ``n >= 2``
    uses ``n`` evenly spaced thresholds between the lowest and highest score instead.
    """
    max_fpr = _check_max_fpr(max_fpr)
    if connectivity not in _STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    if n_thresholds is not None and (
        isinstance(n_thresholds, bool)
        or not isinstance(n_thresholds, (int, np.integer))
        or n_thresholds < 2
    ):
        raise ParameterError(f"n_thresholds={n_thresholds!r}; expected None or an integer >= 2")
    fpr, pro = _pro_points(maps, masks, n_thresholds, connectivity)
    stop = int(np.searchsorted(fpr, max_fpr, side="right"))
    if stop >= fpr.size:  # max_fpr == 1
        return _trapezoid(fpr, pro) / max_fpr
    y_at = float(np.interp(max_fpr, fpr[stop - 1 : stop + 1], pro[stop - 1 : stop + 1]))
    area = _trapezoid(np.r_[fpr[:stop], max_fpr], np.r_[pro[:stop], y_at])
    return area / max_fpr


def aupimo(
    maps,
    masks,
    *,
    normal: Sequence[bool] | None = None,
    fpr_bounds: tuple[float, float] = (1e-5, 1e-4),
) -> dict:
    """AUPIMO: the area under each anomalous clip's per-image overlap curve (Bertoldo et al.,
    BMVC 2024, as added to anomalib), its false positives measured on normal clips only.

    At a threshold ``t`` (cells with ``score >= t`` predicted anomalous), the shared x-axis is
    the mean over *normal* clips of the share of their cells predicted (their FPR), and each
    anomalous clip's y-value is the share of its own anomalous cells predicted (its TPR). A
    clip's AUPIMO is the area under TPR against ``log10(FPR)`` for FPR in ``fpr_bounds``, with
    the trapezoid rule over the exact step curve (every unique score), divided by the width
    of the bounds in ``log10``: 1 finds every anomalous cell before a normal clip shows one
    false positive in ``10**5`` cells, 0 none.

    Parameters
    ----------
    maps, masks : lists of (n_freq, n_time) arrays
        As for :func:`aupro`, one pair per clip.
    normal : sequence of bool, optional
        Which clips are normal (their masks must be empty). Default: clips with empty masks.
        Anomalous clips with an empty mask get no AUPIMO (``None``).
    fpr_bounds : (float, float)
        The integration range of the normal clips' mean FPR, ``0 < lo < hi <= 1``.

    Returns
    -------
    dict
        ``aupimo``: the mean over anomalous clips with a mask; ``per_clip``: each clip's
        value (None for normal clips and empty masks); ``n_anomalous``, ``n_normal``.

    Raises
    ------
    ParameterError
        No normal clip or no anomalous cell; bounds outside ``(0, 1]``; normal clips too small
        to reach the lower bound (fewer than ``1 / lo`` cells in all).
    """
    ms, ks = _map_pairs(maps, masks)
    lo, hi = (float(v) for v in fpr_bounds)
    if not (0 < lo < hi <= 1) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(f"fpr_bounds={fpr_bounds!r}; expected 0 < lo < hi <= 1")
    if normal is None:
        is_normal = [not k.any() for k in ks]
    else:
        is_normal = [bool(v) for v in normal]
        if len(is_normal) != len(ms):
            raise ParameterError(f"{len(is_normal)} normal flags for {len(ms)} maps")
        bad = [i for i, (n, k) in enumerate(zip(is_normal, ks, strict=True)) if n and k.any()]
        if bad:
            raise ParameterError(f"clips {bad} are marked normal but their masks hold cells")
    n_normal = sum(is_normal)
    if n_normal == 0:
        raise ParameterError("no normal clip: AUPIMO measures false positives on normal clips")
    # the shared FPR as a step function of the threshold: normal cells, highest first, each
    # weighing 1 / (its clip's cells x number of normal clips)
    scores = np.concatenate([m.ravel() for m, n in zip(ms, is_normal, strict=True) if n])
    weights = np.concatenate([np.full(m.size, 1.0 / (m.size * n_normal))
                              for m, n in zip(ms, is_normal, strict=True) if n])
    order = np.argsort(-scores, kind="mergesort")
    neg = scores[order]
    cum_fpr = np.cumsum(weights[order])
    first = cum_fpr[0] if neg.size else 1.0
    if first > lo * (1 + 1e-9):
        raise ParameterError(
            f"the normal clips hold too few cells to measure a false-positive rate of {lo:g} "
            f"(one cell is {first:.3g}); use more normal clips or a higher fpr_bounds[0]")

    def fpr_at(t: np.ndarray) -> np.ndarray:
        n = np.searchsorted(-neg, -t, side="right")  # normal cells with score >= t
        return np.where(n > 0, cum_fpr[np.maximum(n - 1, 0)], 0.0)

    per_clip: list[float | None] = []
    values = []
    log_lo, log_hi = math.log10(lo), math.log10(hi)
    for m, k, n in zip(ms, ks, is_normal, strict=True):
        if n or not k.any():
            per_clip.append(None)
            continue
        pos = np.sort(m[k])[::-1]
        # every threshold where either curve steps: the normal and this clip's anomalous cells
        thr = np.unique(np.concatenate([neg, pos]))[::-1]
        fpr = fpr_at(thr)
        tpr = np.searchsorted(-pos, -thr, side="right") / pos.size
        keep = fpr > 0
        x, y = np.log10(fpr[keep]), tpr[keep]
        values.append(_clipped_area(x, y, log_lo, log_hi) / (log_hi - log_lo))
        per_clip.append(values[-1])
    if not values:
        raise ParameterError("masks hold no anomalous cell: AUPIMO needs anomalous clips")
    return {"aupimo": float(np.mean(values)), "per_clip": per_clip,
            "n_anomalous": len(values), "n_normal": n_normal}


def _clipped_area(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    """Trapezoid area under the polyline ``(x, y)`` (x ascending) between ``lo`` and ``hi``;
    the curve is held at its last value beyond its end (the lowest threshold)."""
    if x[-1] < hi:
        x, y = np.r_[x, hi], np.r_[y, y[-1]]
    x0, x1, y0, y1 = x[:-1], x[1:], y[:-1], y[1:]
    a, b = np.maximum(x0, lo), np.minimum(x1, hi)
    use = (b > a) & (x1 > x0)
    x0, x1, y0, y1, a, b = x0[use], x1[use], y0[use], y1[use], a[use], b[use]
    slope = (y1 - y0) / (x1 - x0)
    ya, yb = y0 + slope * (a - x0), y0 + slope * (b - x0)
    return float(np.sum((b - a) * (ya + yb) / 2))


# --------------------------------------------------------------------------- temporal metrics


def temporal_scores(amap, top: int = 5) -> np.ndarray:
    """Per-frame score: mean of the ``top`` highest cells in each frame, float32 ``(n_time,)``.

    Same definition as :attr:`specview.types.AnomalyResult.frame_scores`.
    """
    a = np.asarray(amap)
    if a.ndim != 2 or a.size == 0:
        raise ParameterError(
            f"amap has shape {a.shape}; expected a non-empty (n_freq, n_time) array"
        )
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ParameterError(f"top={top!r}; expected an integer >= 1")
    top = min(int(top), a.shape[0])
    part = np.partition(a, a.shape[0] - top, axis=0)[-top:]
    return part.mean(axis=0).astype(np.float32)


def temporal_metrics(maps, masks, *, top: int = 5) -> dict[str, float]:
    """Frame-level ``auroc``, ``ap`` and ``f1_max`` pooled over all clips.

    Frame scores come from :func:`temporal_scores`; a frame is positive when any cell of the
    mask in that frame is.
    """
    ms, ks = _map_pairs(maps, masks)
    s = np.concatenate([temporal_scores(m, top).astype(np.float64) for m in ms])
    y = np.concatenate([k.any(axis=0) for k in ks])
    return {
        "auroc": roc_auc(s, y),
        "ap": average_precision(s, y),
        "f1_max": best_f1(s, y)[0],
    }


# --------------------------------------------------------------------------- continuous ground truth


def map_mse(maps, targets) -> float:
    """Mean squared error between maps and continuous ground truth, pooled over all cells.

    Both are expected in [0, 1]: normalise the maps set-wide first (see
    :func:`set_normalise`), and the targets as the paper does (min-max of the anomaly's log-mel).
    """
    ms, _ = _map_pairs(maps, [np.zeros(np.shape(m), dtype=bool) for m in maps])
    ts, _ = _map_pairs(targets, [np.zeros(np.shape(t), dtype=bool) for t in targets])
    if len(ms) != len(ts):
        raise ParameterError(f"{len(ms)} maps but {len(ts)} targets; give one target per map")
    sq, n = 0.0, 0
    for i, (m, t) in enumerate(zip(ms, ts, strict=True)):
        if m.shape != t.shape:
            raise ParameterError(f"targets[{i}] has shape {t.shape} but maps[{i}] has {m.shape}")
        sq += float(np.sum((m - t) ** 2))
        n += m.size
    return sq / n


def set_normalise(maps) -> tuple[float, float]:
    """``(lo, hi)`` for a set-wide min-max normalisation ``(m - lo) / (hi - lo)`` (the paper's
    normalisation for metrics): the lowest and highest value over all maps of the set."""
    ms, _ = _map_pairs(maps, [np.zeros(np.shape(m), dtype=bool) for m in maps])
    lo = min(float(m.min()) for m in ms)
    hi = max(float(m.max()) for m in ms)
    return lo, (hi if hi > lo else lo + 1.0)


def minmax01(x) -> np.ndarray:
    """``x`` min-max normalised to [0, 1] (all zeros when constant)."""
    a = np.asarray(x, dtype=np.float64)
    lo, hi = float(a.min()), float(a.max())
    return np.zeros_like(a) if hi == lo else (a - lo) / (hi - lo)


# --------------------------------------------------------------------------- flagged regions


#: Default share of a region's peak height (above the normal level) its cells must reach.
RELATIVE_LEVEL = 0.5


def flagged_regions(
    amap, times, freqs, threshold: float, *, min_cells: int = 2, connectivity: int = 8,
    relative: float = RELATIVE_LEVEL, base: float = 0.0,
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

    A region's box spans the outer edges of its cells (cell edges are midpoints between
    neighbouring centres, as in :func:`boxes_to_mask`); regions with fewer than ``min_cells``
    cells are dropped as specks.
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
    if connectivity not in _STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    if not np.isfinite(threshold):
        raise ParameterError(f"threshold={threshold!r} must be finite")
    t_lo, t_hi = _edges(t)
    f_lo, f_hi = _edges(f)
    if t.size == 1:
        t_lo, t_hi = t - 0.5, t + 0.5
    if f.size == 1:
        f_lo, f_hi = f * 0.5, f * 1.5
    structure = _STRUCTURES[connectivity]
    lab, n = ndimage.label(a >= threshold, structure=structure)
    out = []
    for k, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        inside = lab[sl] == k
        vals = a[sl]
        peak = float(vals[inside].max())
        level = max(float(threshold), base + relative * (peak - base))
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
            box = Box(float(t_lo[c0]), float(t_hi[c1 - 1]),
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


def event_regions(
    regions: Sequence[FlaggedRegion], excess_power: np.ndarray | None, times, freqs, *,
    gap_s: float = MERGE_GAP_S, band_energy: float = BAND_ENERGY, min_excess: float = MIN_EXCESS,
    normal_power: np.ndarray | None = None,
) -> list[FlaggedRegion]:
    """Flagged regions as events: merged in time, each with the band its sound occupies.

    Regions whose time spans overlap or lie within ``gap_s`` of each other become one region
    (the union of their boxes, the highest score, the cells summed). Then, with
    ``excess_power`` (mel power above each row's normal ceiling, per cell of the map's grid), the
    region's band is narrowed, inside its box, to the rows holding the central ``band_energy``
    of the energy added during its frames (the rule an annotator's box of an event's energy
    follows). A network's map spreads over every cell whose receptive field holds the event (a
    tone at 8 kHz lights 5-22 kHz on a quiet engine); the added energy says which band the
    sound is in. A region adding almost no energy (below ``min_excess`` of the box's normal
    energy when ``normal_power``, the rows' normal ceilings, is given; no energy at all
    otherwise), such as a missing component, keeps its band.
    """
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
                e = np.asarray(excess_power, dtype=np.float64)[rows][:, cols].sum(axis=1)
                total = float(e.sum())
                enough = total > 0
                if normal_power is not None and enough:
                    base = float(np.asarray(normal_power, dtype=np.float64)[rows].sum()) * cols.sum()
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
