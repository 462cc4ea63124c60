"""Metrics of anomaly maps against ground-truth masks: cell-level scores, AU-PRO, AUPIMO,
frame-level (temporal) scores and continuous ground truth."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specview.errors import ParameterError
from specview.metrics.cells import (
    STRUCTURES,
    area_to,
    aupimo_summary,
    cell_metrics,
    clip_cells,
    pro_points,
)
from specview.metrics.ranking import (
    _check_max_fpr,
    _labels,
    _scores_1d,
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
    return cell_metrics(_cells(maps, masks))


def _cells(maps, masks, connectivity: int = 8) -> list:
    ms, ks = _map_pairs(maps, masks)
    return [clip_cells(m, k, connectivity=connectivity, name=f"maps[{i}]")
            for i, (m, k) in enumerate(zip(ms, ks, strict=True))]


def _pro_points(maps, masks, n_thresholds, connectivity) -> tuple[np.ndarray, np.ndarray]:
    return pro_points(_cells(maps, masks, connectivity), n_thresholds)


def pro_curve(maps, masks, *, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, pro)``: the exact per-region-overlap curve behind :func:`aupro`, from (0, 0) to
    (1, 1), one point per unique score."""
    if connectivity not in STRUCTURES:
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
    if connectivity not in STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    if n_thresholds is not None and (
        isinstance(n_thresholds, bool)
        or not isinstance(n_thresholds, (int, np.integer))
        or n_thresholds < 2
    ):
        raise ParameterError(f"n_thresholds={n_thresholds!r}; expected None or an integer >= 2")
    fpr, pro = _pro_points(maps, masks, n_thresholds, connectivity)
    return area_to(fpr, pro, max_fpr)


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
    is_normal = [not k.any() for k in ks] if normal is None else [bool(v) for v in normal]
    return aupimo_summary(_cells(ms, ks), is_normal, fpr_bounds)


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
