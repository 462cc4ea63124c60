"""Cell-level metrics pooled over many clips without pooling their cells (issue 14).

Cell-level AUROC, AP, best F1, AU-PRO and AUPIMO depend on the cells only through how many
truth and other cells hold each score (and, for AU-PRO, how much of its region each truth cell
stands for). :func:`clip_cells` reduces one clip's map and mask to that table, a
:class:`ClipCells`: each distinct score with its counts. The pooled metrics merge the tables, so
an evaluation holds one small table per clip instead of every cell of every clip several times
over (the cells pooled, sorted and weighted in float64: about 1 GB per hour of test audio).

A clip of up to :data:`EXACT_CELLS` cells keeps its scores exactly, and the metrics equal those
of the pooled cells. A larger one (a long test clip) is reduced a block of columns at a time with
its scores rounded to :data:`KEPT_BITS` significant bits (a relative step of 2^-12, 0.024 %), so
its table stays small however long it is; only cells whose scores differ by less than that step
then tie. The continuous-truth MSE keeps running sums (:attr:`ClipCells.moments`).

Core module: numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from specview.errors import ParameterError
from specview.metrics.ranking import (
    _labels,
    _scores_1d,
    area_up_to,
    check_classes,
    ranked_metrics,
)

__all__ = ["EXACT_CELLS", "KEPT_BITS", "ClipCells", "CellTable", "clip_cells", "merge",
           "cell_metrics", "roc_points", "pro_points", "aupro_cells", "aupimo_cells",
           "mse_cells"]

#: Cells of a clip up to which its scores are kept exactly (a 5-minute clip at 44.1 kHz, hop
#: 320, 64 mel bands has 2.6 million).
EXACT_CELLS = 1 << 22
#: Significant bits of a score kept beyond :data:`EXACT_CELLS` (float32 has 24).
KEPT_BITS = 12
#: Cells reduced at a time beyond :data:`EXACT_CELLS`.
BLOCK_CELLS = 1 << 20

STRUCTURES = {4: ndimage.generate_binary_structure(2, 1), 8: np.ones((3, 3), dtype=bool)}


@dataclass(frozen=True)
class CellTable:
    """Cells as a table: ``values`` (float64, ascending, distinct) with, at each, ``pos`` truth
    cells, ``neg`` other cells and ``pro``: the sum over those truth cells of one over the size
    of the truth region each belongs to."""

    values: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    pro: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.pos.sum())

    @property
    def n_neg(self) -> int:
        return int(self.neg.sum())


@dataclass(frozen=True)
class ClipCells:
    """One clip's cells (:func:`clip_cells`): its table, how many cells and truth regions it
    has, its lowest and highest score, whether the scores were kept exactly, and with a
    continuous target ``moments`` = (Σm, Σm², Σt, Σt², Σmt) over its cells (float64)."""

    table: CellTable
    n_cells: int
    n_regions: int
    lo: float
    hi: float
    exact: bool
    moments: tuple[float, float, float, float, float] | None = None


def _round(v: np.ndarray) -> np.ndarray:
    """float32 scores rounded to :data:`KEPT_BITS` significant bits (to nearest)."""
    drop = 24 - KEPT_BITS
    u = np.ascontiguousarray(v, dtype=np.float32).view(np.uint32)
    u = (u + np.uint32(1 << (drop - 1))) & np.uint32(~((1 << drop) - 1) & 0xFFFFFFFF)
    return u.view(np.float32).astype(np.float64)


def _table(values: np.ndarray, truth: np.ndarray, weight: np.ndarray) -> CellTable:
    vals, inv = np.unique(values, return_inverse=True)
    n = vals.size
    pos = np.bincount(inv, weights=truth, minlength=n).astype(np.int64)
    return CellTable(vals, pos, np.bincount(inv, minlength=n).astype(np.int64) - pos,
                     np.bincount(inv, weights=weight, minlength=n))


def merge(tables: Sequence[CellTable]) -> CellTable:
    """The table of all cells of ``tables`` together."""
    if len(tables) == 1:
        return tables[0]
    vals, inv = np.unique(np.concatenate([t.values for t in tables]), return_inverse=True)
    n = vals.size

    def total(attr: str) -> np.ndarray:
        return np.bincount(inv, weights=np.concatenate([getattr(t, attr) for t in tables]),
                           minlength=n)
    return CellTable(vals, np.rint(total("pos")).astype(np.int64),
                     np.rint(total("neg")).astype(np.int64), total("pro"))


def _regions(mask: np.ndarray, connectivity: int) -> tuple[list, int]:
    """The truth regions, as runs of columns ``(a, b, labels, 1 / sizes)`` and their number.
    A region cannot cross a column without truth cells, so each run of columns holding some is
    labelled on its own (memory follows the events, not the clip)."""
    cols = mask.any(axis=0)
    edges = np.flatnonzero(np.diff(np.r_[0, cols.astype(np.int8), 0]))
    runs, n_regions = [], 0
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        lab, n = ndimage.label(mask[:, a:b], structure=STRUCTURES[connectivity])
        sizes = np.bincount(lab.ravel(), minlength=n + 1).astype(np.float64)
        inv = np.zeros(n + 1)
        inv[1:] = 1.0 / sizes[1:]
        runs.append((int(a), int(b), lab, inv))
        n_regions += n
    return runs, n_regions


def _weights(runs: list, c0: int, c1: int, n_rows: int) -> np.ndarray:
    """Each cell's 1 / (size of its truth region) in columns ``c0 .. c1`` (0 outside truth)."""
    w = np.zeros((n_rows, c1 - c0))
    for a, b, lab, inv in runs:
        lo, hi = max(a, c0), min(b, c1)
        if lo < hi:
            w[:, lo - c0:hi - c0] = inv[lab[:, lo - a:hi - a]]
    return w


def clip_cells(amap, mask, *, target=None, connectivity: int = 8,
               exact_cells: int = EXACT_CELLS, name: str = "map") -> ClipCells:
    """One clip's map ``(n_freq, n_time)`` and truth mask reduced to a :class:`ClipCells`
    (``target``: a continuous truth of the same shape, for :func:`mse_cells`)."""
    m = np.asarray(amap)
    if m.ndim != 2:
        raise ParameterError(f"{name} has shape {m.shape}; expected (n_freq, n_time)")
    k = _labels(np.asarray(mask), f"the mask of {name}")
    if k.shape != m.shape:
        raise ParameterError(f"the mask of {name} has shape {k.shape} but {name} has "
                             f"{m.shape}; they must match")
    if connectivity not in STRUCTURES:
        raise ParameterError(f"connectivity={connectivity!r}; expected 4 or 8")
    t = None if target is None else np.asarray(target)
    if t is not None and t.shape != m.shape:
        raise ParameterError(f"the target of {name} has shape {t.shape} but {name} has {m.shape}")
    runs, n_regions = _regions(k, connectivity)
    exact = m.size <= exact_cells
    step = m.shape[1] if exact else max(1, BLOCK_CELLS // max(m.shape[0], 1))
    acc: CellTable | None = None
    lo, hi = math.inf, -math.inf
    sums = np.zeros(5)
    for c in range(0, m.shape[1], step):
        v = _scores_1d(m[:, c:c + step].ravel(), name)  # float64, checked finite
        lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
        if t is not None:
            tv = np.asarray(t[:, c:c + step], dtype=np.float64).ravel()
            sums += (v.sum(), v @ v, tv.sum(), tv @ tv, v @ tv)
        c1 = min(c + step, m.shape[1])
        part = _table(v if exact else _round(v), k[:, c:c1].ravel().astype(np.float64),
                      _weights(runs, c, c1, m.shape[0]).ravel())
        acc = part if acc is None else merge([acc, part])
    if acc is None:
        raise ParameterError(f"{name} is empty; expected at least one cell")
    return ClipCells(acc, int(m.size), n_regions, lo, hi, exact,
                     None if t is None else tuple(float(x) for x in sums))


def _ranked(table: CellTable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Highest first: thresholds, and the truth cells, other cells and PRO weight with a
    score at or above each."""
    return (table.values[::-1], np.cumsum(table.pos[::-1]), np.cumsum(table.neg[::-1]),
            np.cumsum(table.pro[::-1]))


def cell_metrics(clips: Sequence[ClipCells]) -> dict[str, float]:
    """Cell-level ``auroc``, ``ap`` and ``f1_max`` of all clips' cells together."""
    thr, tps, fps, _ = _ranked(merge([c.table for c in clips]))
    return ranked_metrics(thr, tps, fps)


def roc_points(clips: Sequence[ClipCells]) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` of all clips' cells at every distinct score, from (0, 0) to (1, 1)."""
    _, tps, fps, _ = _ranked(merge([c.table for c in clips]))
    check_classes(int(tps[-1]), int(fps[-1]))
    return np.r_[0.0, fps / fps[-1]], np.r_[0.0, tps / tps[-1]]


def area_to(x: np.ndarray, y: np.ndarray, max_x: float) -> float:
    """The area under the curve ``(x, y)`` (x ascending from 0) up to ``max_x``, interpolated
    there, divided by ``max_x`` (the trapezoid rule)."""
    return area_up_to(x, y, max_x) / max_x


def aupro_cells(clips: Sequence[ClipCells], *, max_fpr: float = 0.3,
                n_thresholds: int | None = None) -> float:
    """AU-PRO up to ``max_fpr`` over all clips (see :func:`specview.metrics.aupro`)."""
    fpr, pro = pro_points(clips, n_thresholds)
    return area_to(fpr, pro, max_fpr)


def pro_points(clips: Sequence[ClipCells], n_thresholds: int | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, pro)`` of the per-region-overlap curve over all clips (see
    :func:`specview.metrics.aupro`), from (0, 0) to (1, 1)."""
    n_regions = sum(c.n_regions for c in clips)
    thr, _, fps, pro = _ranked(merge([c.table for c in clips]))
    n_neg = int(fps[-1]) if fps.size else 0
    if n_regions == 0:
        raise ParameterError("masks hold no anomalous cell: AU-PRO needs at least one region")
    if n_neg == 0:
        raise ParameterError("masks hold no normal cell: AU-PRO needs negatives to measure FPR")
    cum_fpr, cum_pro = fps / n_neg, pro / n_regions
    if n_thresholds is not None:  # evenly spaced thresholds, highest first
        t = np.linspace(thr[0], thr[-1], int(n_thresholds))
        at = np.searchsorted(-thr, -t, side="right") - 1  # last row with value >= t
        cum_fpr = np.where(at >= 0, cum_fpr[np.maximum(at, 0)], 0.0)
        cum_pro = np.where(at >= 0, cum_pro[np.maximum(at, 0)], 0.0)
    # the lowest threshold predicts every cell: pin that end to (1, 1) against rounding
    fpr = np.clip(np.r_[0.0, cum_fpr], 0.0, 1.0)
    pro = np.clip(np.r_[0.0, cum_pro], 0.0, 1.0)
    fpr[-1] = pro[-1] = 1.0
    return fpr, pro


def aupimo_cells(clips: Sequence[ClipCells], is_normal: Sequence[bool],
                 lo: float, hi: float) -> tuple[list[float | None], int]:
    """Each clip's AUPIMO (None for normal clips and clips without truth) with the normal
    clips' mean FPR integrated over ``[lo, hi]`` (see :func:`specview.metrics.aupimo`), and
    the number of anomalous clips measured."""
    normal = [c for c, n in zip(clips, is_normal, strict=True) if n]
    n_normal = len(normal)
    if n_normal == 0:
        raise ParameterError("no normal clip: AUPIMO measures false positives on normal clips")
    # the shared FPR as a step function of the threshold: a normal cell weighs
    # 1 / (its clip's cells x number of normal clips)
    tabs = [CellTable(c.table.values, np.zeros_like(c.table.neg), c.table.neg,
                      c.table.neg / (c.n_cells * n_normal)) for c in normal]
    shared = merge(tabs)
    neg = shared.values[::-1]
    cum_fpr = np.cumsum(shared.pro[::-1])
    lightest = 1.0 / (max(c.n_cells for c in normal) * n_normal)
    if lightest > lo * (1 + 1e-9):
        raise ParameterError(
            f"the normal clips hold too few cells to measure a false-positive rate of {lo:g} "
            f"(one cell is {lightest:.3g}); use more normal clips or a higher fpr_bounds[0]")

    def fpr_at(t: np.ndarray) -> np.ndarray:
        n = np.searchsorted(-neg, -t, side="right")  # rows of normal cells with score >= t
        return np.where(n > 0, cum_fpr[np.maximum(n - 1, 0)], 0.0)

    per_clip: list[float | None] = []
    log_lo, log_hi = math.log10(lo), math.log10(hi)
    for c, n in zip(clips, is_normal, strict=True):
        tab = c.table
        if n or c.table.n_pos == 0:
            per_clip.append(None)
            continue
        has = tab.pos > 0
        pv, pc = tab.values[has][::-1], np.cumsum(tab.pos[has][::-1])
        # every threshold where either curve steps: the normal and this clip's truth cells
        thr = np.unique(np.concatenate([neg, pv]))[::-1]
        fpr = fpr_at(thr)
        k = np.searchsorted(-pv, -thr, side="right")
        tpr = np.where(k > 0, pc[np.maximum(k - 1, 0)], 0) / pc[-1]
        keep = fpr > 0
        per_clip.append(_clipped_area(np.log10(fpr[keep]), tpr[keep], log_lo, log_hi)
                        / (log_hi - log_lo))
    return per_clip, sum(v is not None for v in per_clip)


def aupimo_summary(clips: Sequence[ClipCells], is_normal: Sequence[bool],
                   fpr_bounds: tuple[float, float] = (1e-5, 1e-4)) -> dict:
    """:func:`specview.metrics.aupimo`'s result from the clips' tables."""
    lo, hi = (float(v) for v in fpr_bounds)
    if not (0 < lo < hi <= 1) or not (math.isfinite(lo) and math.isfinite(hi)):
        raise ParameterError(f"fpr_bounds={fpr_bounds!r}; expected 0 < lo < hi <= 1")
    if len(is_normal) != len(clips):
        raise ParameterError(f"{len(is_normal)} normal flags for {len(clips)} maps")
    bad = [i for i, (n, c) in enumerate(zip(is_normal, clips, strict=True))
           if n and c.table.n_pos]
    if bad:
        raise ParameterError(f"clips {bad} are marked normal but their masks hold cells")
    per_clip, n_anomalous = aupimo_cells(clips, is_normal, lo, hi)
    if n_anomalous == 0:
        raise ParameterError("masks hold no anomalous cell: AUPIMO needs anomalous clips")
    values = [v for v in per_clip if v is not None]
    return {"aupimo": float(np.mean(values)), "per_clip": per_clip,
            "n_anomalous": n_anomalous, "n_normal": int(sum(bool(n) for n in is_normal))}


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


def mse_cells(clips: Sequence[ClipCells]) -> float:
    """Mean squared error between the maps, min-max normalised over the set
    (:func:`specview.metrics.set_normalise`), and their targets, over all cells."""
    if any(c.moments is None for c in clips):
        raise ParameterError("a clip has no continuous target: reduce it with target=")
    lo = min(c.lo for c in clips)
    hi = max(c.hi for c in clips)
    h = hi - lo if hi > lo else 1.0
    sm, smm, st, stt, smt = (sum(c.moments[i] for c in clips) for i in range(5))
    n = sum(c.n_cells for c in clips)
    # sum(((m - lo) / h - t)^2), expanded
    sq = (smm - 2 * lo * sm + n * lo * lo) / (h * h) - 2 * (smt - lo * st) / h + stt
    return max(0.0, sq) / n
