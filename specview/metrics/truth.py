"""Ground-truth masks on a spectrogram grid: from time-frequency boxes, or from the log-mel
of the anomaly alone."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specview.errors import ParameterError
from specview.types import Box

__all__ = [
    "boxes_to_mask",
    "energy_mask",
]


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


def energy_mask(anomaly_logmel, *, tau: float = 0.4) -> np.ndarray:
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
