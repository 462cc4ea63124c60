"""Ranking metrics of clip-level scores: ROC curve, AUROC, standardised partial AUC, average
precision and best F1 (see :mod:`specview.metrics` for the conventions)."""

from __future__ import annotations

import numpy as np

from specview.errors import ParameterError

__all__ = [
    "roc_auc",
    "partial_auc",
    "average_precision",
    "best_f1",
    "clip_metrics",
    "roc_curve",
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
    check_classes(int(y.sum()), int(y.size - y.sum()))
    return s, y


def check_classes(n_pos: int, n_neg: int) -> None:
    """A ParameterError unless there are positives and negatives."""
    if n_pos == 0 or n_neg == 0:
        missing = "positive (1)" if n_pos == 0 else "negative (0)"
        raise ParameterError(
            f"labels hold only one class ({n_pos} positives, {n_neg} negatives): no {missing} "
            f"examples; the metric needs both classes"
        )


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


def area_up_to(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """The trapezoid area under the curve ``(x, y)`` (x ascending from 0) up to ``max_x``,
    the curve interpolated there."""
    stop = int(np.searchsorted(x, max_x, side="right"))
    if stop >= x.size:
        return _trapezoid(x, y)
    y_at = float(np.interp(max_x, x[stop - 1 : stop + 1], y[stop - 1 : stop + 1]))
    return _trapezoid(np.r_[x[:stop], max_x], np.r_[y[:stop], y_at])


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


def partial_auc(scores, labels, *, max_fpr: float = 0.1) -> float:
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
    part = area_up_to(fpr, tpr, max_fpr)
    lo = 0.5 * max_fpr**2
    return 0.5 * (1.0 + (part - lo) / (max_fpr - lo))


def _ap(tps: np.ndarray, fps: np.ndarray, n_pos: int) -> float:
    precision = tps / (tps + fps)
    recall = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _f1(thr: np.ndarray, tps: np.ndarray, fps: np.ndarray, n_pos: int) -> tuple[float, float]:
    f1 = 2.0 * tps / (tps + fps + n_pos)
    k = int(np.argmax(f1))
    return float(f1[k]), float(thr[k])


def average_precision(scores, labels) -> float:
    """Step-wise average precision ``sum_k (R_k - R_{k-1}) P_k`` (scikit-learn's definition)."""
    s, y = _pair(scores, labels)
    _, tps, fps, n_pos, _ = _ranked(s, y)
    return _ap(tps, fps, n_pos)


def best_f1(scores, labels) -> tuple[float, float]:
    """Highest F1 over all thresholds ``score >= t``, with that threshold.

    Thresholds are the unique score values; among equal F1 values the highest threshold wins.
    """
    s, y = _pair(scores, labels)
    thr, tps, fps, n_pos, _ = _ranked(s, y)
    return _f1(thr, tps, fps, n_pos)


def ranked_metrics(thr: np.ndarray, tps: np.ndarray, fps: np.ndarray) -> dict[str, float]:
    """``auroc``, ``ap`` and ``f1_max`` from cumulative counts at each distinct threshold,
    highest first (``tps[k]`` / ``fps[k]``: positives / negatives scoring ``>= thr[k]``)."""
    n_pos = int(tps[-1]) if tps.size else 0
    n_neg = int(fps[-1]) if fps.size else 0
    check_classes(n_pos, n_neg)
    auroc = _trapezoid(np.r_[0.0, fps / n_neg], np.r_[0.0, tps / n_pos])
    return {"auroc": auroc, "ap": _ap(tps, fps, n_pos), "f1_max": _f1(thr, tps, fps, n_pos)[0]}


def clip_metrics(scores, labels, *, max_fpr: float = 0.1) -> dict[str, float]:
    """``auroc``, ``pauc`` (standardised, FPR <= ``max_fpr``), ``ap`` and ``f1_max``."""
    return {
        "auroc": roc_auc(scores, labels),
        "pauc": partial_auc(scores, labels, max_fpr=max_fpr),
        "ap": average_precision(scores, labels),
        "f1_max": best_f1(scores, labels)[0],
    }
