"""Pictures placed on the view's axes: seconds across, a :class:`FreqScale` of Hz up.

A picture is a :class:`~specview.types.Spectrogram`-like grid (values, frame centres in s, row
centres in Hz) of any origin: the display spectrogram at any FFT size and scale, the encoder's
mel grid, the anomaly map on that grid. :func:`place` makes the image an ``ImageItem`` draws in
one rectangle: rows already evenly spaced on the view's scale are used as they are (a linear
FFT on a linear scale, the display's own log or mel rows on that scale); other rows are looked
up, each image row taking the picture's row whose band holds its frequency, at a resolution
finer than the picture's narrowest band, so every cell keeps its edges in Hz.

No Qt here (numpy only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specview.display import cell_edges, hz_to_mel
from specview.gui.freq_scale import FreqScale
from specview.types import Spectrogram

#: Rows of a looked-up image, at the most (a picture on another scale than its own is a
#: stand-in until the one computed for that scale arrives; the map is looked up finer).
MAX_ROWS = 1024
#: Rows and cells of a picture handed to the view, at the most (finer ones are max-pooled).
POOL_ROWS, MAX_CELLS = 4096, 24_000_000


@dataclass(frozen=True)
class Placed:
    """An image and the rectangle it fills: ``x0 .. x1`` seconds, ``y0 .. y1`` on the scale;
    row 0 lies at ``y0``. Rows outside the picture are NaN (drawn transparent)."""

    image: np.ndarray
    x0: float
    x1: float
    y0: float
    y1: float


def time_extent(times: np.ndarray, duration: float = 0.0) -> tuple[float, float]:
    """``(x0, x1)``: from half a frame before the first centre to half after the last."""
    t = np.asarray(times, dtype=np.float64)
    dt = float(np.median(np.diff(t))) if t.size > 1 else max(float(duration), 1e-3)
    return float(t[0]) - dt / 2, float(t[0]) - dt / 2 + dt * t.size


def _uniform(y: np.ndarray) -> bool:
    if y.size < 2:
        return False
    d = np.diff(y)
    return bool(np.all(d > 0) and np.ptp(d) <= 1e-3 * abs(float(d.mean())))


def place(values: np.ndarray, times: np.ndarray, freqs: np.ndarray, scale: FreqScale,
          lo: float, hi: float, *, duration: float = 0.0, max_rows: int = MAX_ROWS
          ) -> Placed | None:
    """``values`` (rows at ``freqs`` Hz, columns at ``times`` s) as an image of the band
    ``lo .. hi`` Hz on ``scale``; None when no row lies in the band."""
    v = np.asarray(values)
    f = np.asarray(freqs, dtype=np.float64)
    x0, x1 = time_extent(times, duration)
    Y0, Y1 = float(scale.y_of_hz(lo)), float(scale.y_of_hz(hi))
    if v.ndim != 2 or v.shape[0] != f.size or f.size == 0 or Y1 <= Y0:
        return None
    yc = np.asarray(scale.y_of_hz(f), dtype=np.float64)
    if _uniform(yc):
        keep = np.nonzero((f >= lo - 1e-9) & (f <= hi + 1e-9))[0]
        if keep.size == 0:
            return None
        dy = float(yc[1] - yc[0])
        a, b = int(keep[0]), int(keep[-1])
        return Placed(np.ascontiguousarray(v[a:b + 1]), x0, x1,
                      float(yc[a]) - dy / 2, float(yc[b]) + dy / 2)
    edges = cell_edges(yc)
    inside = (edges[1:] > Y0) & (edges[:-1] < Y1)
    if not inside.any():
        return None
    height = float(np.min(np.diff(edges)[inside]))
    n = int(np.clip(math.ceil(2.0 * (Y1 - Y0) / max(height, 1e-12)), 64, max_rows))
    yt = Y0 + (np.arange(n) + 0.5) * (Y1 - Y0) / n
    idx = np.searchsorted(edges, yt, side="right") - 1
    out = (idx < 0) | (idx >= f.size)
    img = np.take(np.asarray(v, dtype=np.float32), np.clip(idx, 0, f.size - 1), axis=0)
    if out.any():
        img[out] = np.nan
    return Placed(img, x0, x1, Y0, Y1)


def _pool(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """Max over groups of ``k`` along ``axis`` (the last group padded with its edge)."""
    n = a.shape[axis]
    m = -(-n // k)
    pad = [(0, 0)] * a.ndim
    pad[axis] = (0, m * k - n)
    a = np.pad(a, pad, mode="edge")
    shape = list(a.shape)
    shape[axis:axis + 1] = [m, k]
    return a.reshape(shape).max(axis=axis + 1)


def _pool_axis(c: np.ndarray, k: int) -> np.ndarray:
    n = c.size
    m = -(-n // k)
    step = float(c[1] - c[0]) if n > 1 else 1.0
    full = np.concatenate([c, c[-1] + step * np.arange(1, m * k - n + 1)])
    return full.reshape(m, k).mean(axis=1)


def pool(spec: Spectrogram, *, max_rows: int = POOL_ROWS, max_cells: int = MAX_CELLS
         ) -> Spectrogram:
    """``spec`` with at most ``max_rows`` rows and ``max_cells`` cells: neighbouring rows and
    then frames max-pooled (a ridge or a click stays as loud), their centres averaged."""
    v, f, t = spec.values, np.asarray(spec.freqs), np.asarray(spec.times)
    r = -(-v.shape[0] // max_rows)
    if r > 1:
        v, f = _pool(v, r, 0), _pool_axis(f, r)
    c = -(-v.size // max_cells)
    if c > 1:
        v, t = _pool(v, c, 1), _pool_axis(t, c)
    if r == 1 and c == 1:
        return spec
    return Spectrogram(np.ascontiguousarray(v, dtype=np.float32), t, f, spec.unit,
                       spec.duration)


def nearest(axis: np.ndarray, value: float, *, mel: bool = False) -> int | None:
    """Index of the entry of increasing ``axis`` nearest ``value`` (in mel with ``mel``), or
    None when ``value`` lies more than half a step beyond either end."""
    a = np.asarray(axis, dtype=np.float64)
    if a.size == 0:
        return None
    if mel:
        a, value = hz_to_mel(np.maximum(a, 0.0)), float(hz_to_mel(max(value, 0.0)))
    e = cell_edges(a)
    if not e[0] <= value <= e[-1]:
        return None
    return int(np.clip(np.searchsorted(e, value, side="right") - 1, 0, a.size - 1))
