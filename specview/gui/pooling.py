"""Max-pooling for what the window draws: many columns shown in few pixels, peaks kept.

A day-long overview has 116k columns and a 60-s detail span thousands of STFT frames, drawn in
a thousand pixels or so. Drawing them all (or letting pyqtgraph average them on every zoom)
stalled the GUI thread; averaging also dims a click or an event's peak. Here columns are
max-pooled (NaN-aware: a group is NaN only when all of it is), so the loudest cell and the
highest score of every group survive, and the work is done once per image and factor
(:class:`PooledImageItem`) or once per column that changed (:class:`PooledColumns`).

"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

#: Columns the overview strip holds for the whole recording at the most (a few per pixel).
TARGET_COLUMNS = 4096


def _halve(x: np.ndarray, axis: int) -> np.ndarray:
    """Neighbouring pairs along ``axis`` (0 or 1) max-pooled; an odd last entry kept."""
    n = x.shape[axis]
    h = n // 2
    shape = list(x.shape)
    shape[axis] = n - h
    out = np.empty(shape, dtype=x.dtype)
    if axis == 0:
        np.fmax(x[0:2 * h:2], x[1:2 * h:2], out=out[:h])
        if n % 2:
            out[h] = x[n - 1]
    else:
        np.fmax(x[:, 0:2 * h:2], x[:, 1:2 * h:2], out=out[:, :h])
        if n % 2:
            out[:, h] = x[:, n - 1]
    return out


def pool_axis(a: np.ndarray, k: int, axis: int = -1) -> np.ndarray:
    """``a`` max-pooled along ``axis`` in groups of ``k`` (the last group may be shorter):
    ``ceil(n / k)`` entries; NaN only where a whole group is NaN.

    A power-of-two ``k`` is pooled pair by pair (each halving one pass over what is left: a
    few ms for a 512 x 5000 picture, where ``np.fmax.reduceat`` over many short groups took
    60 times longer)."""
    a = np.asarray(a)
    k = int(k)
    n = a.shape[axis]
    if k <= 1 or n == 0:
        return a
    ax = axis % a.ndim
    if a.ndim <= 2 and k & (k - 1) == 0:
        x = a if a.ndim == 2 else a[None, :]
        ax2 = ax if a.ndim == 2 else 1
        while k > 1 and x.shape[ax2] > 1:
            x = _halve(x, ax2)
            k //= 2
        return x if a.ndim == 2 else x[0]
    return np.fmax.reduceat(a, np.arange(0, n, k), axis=axis)


def pow2_ceil(k: int) -> int:
    """The smallest power of two not below ``k`` (1 for ``k <= 1``)."""
    k = int(k)
    return 1 if k <= 1 else 1 << (k - 1).bit_length()


def pow2_floor(k: int) -> int:
    """The largest power of two not above ``k`` (1 for ``k <= 1``)."""
    k = int(k)
    return 1 if k <= 1 else 1 << (k.bit_length() - 1)


class PooledColumns:
    """The overview's columns max-pooled by a fixed factor, kept up to date column by column.

    Parameters
    ----------
    n_rows, n_cols : int
        The full overview's shape (``power_db``: ``(n_rows, n_cols)``; ``score``: ``(n_cols,)``).
    target : int
        At most this many pooled columns: the factor is ``ceil(n_cols / target)``.

    Attributes
    ----------
    factor : int
        Full columns per pooled column (a power of two: pooled pair by pair).
    power : np.ndarray, (n_rows, ceil(n_cols / factor)) float32
    score : np.ndarray, (ceil(n_cols / factor),) float32
    """

    def __init__(self, n_rows: int, n_cols: int, *, target: int = TARGET_COLUMNS) -> None:
        self.n_cols = int(n_cols)
        self.factor = pow2_ceil(math.ceil(self.n_cols / max(1, int(target))))
        m = -(-self.n_cols // self.factor)
        self.power = np.full((int(n_rows), m), np.nan, dtype=np.float32)
        self.score = np.full(m, np.nan, dtype=np.float32)

    @property
    def n_pooled(self) -> int:
        return int(self.score.size)

    def update(self, power_db: np.ndarray, score_max: np.ndarray, c0: int = 0,
               c1: int | None = None) -> None:
        """Columns ``c0 : c1`` of the full arrays changed: pool the groups that hold them."""
        c1 = self.n_cols if c1 is None else min(int(c1), self.n_cols)
        c0 = max(0, int(c0))
        if c1 <= c0:
            return
        f = self.factor
        g0, g1 = c0 // f, -(-c1 // f)
        a, b = g0 * f, min(self.n_cols, g1 * f)
        self.power[:, g0:g1] = pool_axis(power_db[:, a:b], f, axis=1)
        self.score[g0:g1] = pool_axis(score_max[a:b], f)

    def centres(self, column_seconds: float) -> np.ndarray:
        """Centre of each pooled column (s)."""
        f = self.factor
        starts = np.arange(self.n_pooled) * f
        widths = np.minimum(f, self.n_cols - starts)
        return (starts + widths / 2.0) * float(column_seconds)


def pooled_window(power_db: np.ndarray, score_max: np.ndarray, c0: int, c1: int, *,
                  target: int = TARGET_COLUMNS) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Columns ``c0 : c1`` pooled to at most ``target`` columns: ``(start, factor, power,
    score)``, ``start`` being ``c0`` rounded down to a multiple of ``factor`` (a power of
    two)."""
    n = power_db.shape[1]
    c0, c1 = max(0, int(c0)), min(n, int(c1))
    f = pow2_ceil(math.ceil(max(1, c1 - c0) / max(1, int(target))))
    a = c0 // f * f
    return (a, f, pool_axis(power_db[:, a:c1], f, axis=1), pool_axis(score_max[a:c1], f))


class PooledImageItem(pg.ImageItem):
    """An ``ImageItem`` whose automatic downsampling max-pools (a click or a ridge stays as
    loud when zoomed out) in power-of-two factors, each computed once per image (from the
    finest one already pooled) and kept: zooming re-renders only when the factor changes,
    from a small image, instead of averaging the whole image again on every step. The picture
    rendered for each factor (levels and colours applied) is kept too, while the image, its
    levels and its lookup table stay the same: zooming back out (or in) to a factor seen
    before draws the kept picture instead of colouring the cells again (20-30 ms a step for a
    span's 512-row picture)."""

    #: Rendered pictures kept per image (one per downsampling factor).
    KEEP_RENDERED = 6
    #: ... each at most this large (a 300-s span drawn unpooled is 50 MB: rendered each time)
    KEEP_BYTES = 16 << 20

    def __init__(self, *a, **kw) -> None:
        self._pooled: dict[tuple[int, int], np.ndarray] = {}
        self._rendered: dict[tuple[int, int], tuple] = {}
        super().__init__(*a, **kw)

    def setImage(self, image=None, autoLevels=None, **kw):  # noqa: N802 - Qt API
        if image is not None:
            self._pooled = {}
        self._rendered = {}
        return super().setImage(image, autoLevels=autoLevels, **kw)

    def clear(self):
        self._pooled = {}
        self._rendered = {}
        super().clear()

    def _kept(self, xds: int, yds: int):
        """The picture rendered before for this factor, if the levels and the lookup table
        are still those it was rendered with; else None."""
        got = self._rendered.get((xds, yds))
        if got is None:
            return None
        levels, lut, qimage = got
        now = None if self.levels is None else np.asarray(self.levels).tolist()
        return qimage if lut is self.lut and levels == now else None

    def _computeDownsampleFactors(self):  # noqa: N802 - pyqtgraph API
        xds, yds = super()._computeDownsampleFactors()
        if xds is None:
            return xds, yds
        return pow2_floor(xds), pow2_floor(yds)

    def pooled(self, xds: int, yds: int) -> np.ndarray:
        """The image max-pooled by ``xds`` columns and ``yds`` rows (row-major)."""
        img = self.image
        if (xds, yds) == (1, 1):
            return img
        got = self._pooled.get((xds, yds))
        if got is not None:
            return got
        # from the most pooled image whose factors divide these
        base, bx, by = img, 1, 1
        for (px, py), arr in self._pooled.items():
            if xds % px == 0 and yds % py == 0 and px * py > bx * by:
                base, bx, by = arr, px, py
        out = pool_axis(pool_axis(base, xds // bx, axis=1), yds // by, axis=0)
        self._pooled[(xds, yds)] = out
        return out

    def render(self):
        img = self.image
        if not self.autoDownsample or img is None or img.ndim != 2 or img.size == 0 \
                or self.axisOrder != "row-major":
            return super().render()
        xds, yds = self._computeDownsampleFactors()
        if xds is None:
            return super().render()
        kept = self._kept(xds, yds)
        if kept is not None:
            self.qimage, self._renderRequired, self._unrenderable = kept, False, False
            self._lastDownsample = (xds, yds)
            return
        if self._imageHasNans is None:
            self._imageHasNans = img.dtype.kind == "f" and bool(np.isnan(img.min()))
        small = self.pooled(xds, yds)
        self.image, self.autoDownsample = small, False
        self._imageNanLocations = None
        try:
            super().render()
        finally:
            self.image, self.autoDownsample = img, True
            self._imageNanLocations = None
        self._lastDownsample = (xds, yds)
        if self.qimage is not None and not self._unrenderable \
                and self.qimage.sizeInBytes() <= self.KEEP_BYTES:
            # makeARGB's path draws into buffers the next render reuses: keep a copy then
            qimage = self.qimage if self._displayBuffer is None else self.qimage.copy()
            levels = None if self.levels is None else np.asarray(self.levels).tolist()
            if len(self._rendered) >= self.KEEP_RENDERED:
                self._rendered.pop(next(iter(self._rendered)))
            self._rendered[(xds, yds)] = (levels, self.lut, qimage)
