"""Metrics of anomaly maps against ground-truth masks: cell-level scores, AU-PRO, AUPIMO,
frame-level (temporal) scores and continuous ground truth."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from specview.errors import ParameterError
from specview.metrics.ranking import (
    _check_max_fpr,
    _labels,
    _scores_1d,
    _trapezoid,
    average_precision,
    best_f1,
    roc_auc,
)

__all__ = [
    "spectrogram_metrics",
    "aupro",
    "aupimo",
    "temporal_scores",
    "temporal_metrics",
    "pro_curve",
    "map_mse",
    "set_normalise",
    "minmax01",
]


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
    *,
    max_fpr: float = 0.3,
    n_thresholds: int | None = None,
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


def temporal_scores(amap, *, top: int = 5) -> np.ndarray:
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
    s = np.concatenate([temporal_scores(m, top=top).astype(np.float64) for m in ms])
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
