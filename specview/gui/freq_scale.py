"""Hz <-> view coordinates of the frequency axis (no Qt here, tested headless).

:class:`FreqScale` is the main view's: ``y`` is a function of the frequency alone (Hz on a
linear scale, log10 Hz on a log scale, HTK mel on a mel scale), whatever grid a picture was
computed on, so pictures of any FFT size and the encoder's mel grid, boxes and flagged regions
all sit at their frequencies in Hz. :class:`BandScale` maps a band-per-row image (band ``i`` in
``y`` ``[i, i + 1]``, its centre at ``i + 0.5``, linear in mel between centres), as the
comparison window draws the encoder's grid.
"""

from __future__ import annotations

import math

import numpy as np

from specview.display import hz_to_mel, mel_to_hz

#: Tick candidates per decade, most important first: 1, 5, 2 always; finer ones when zoomed in.
_TICK_MANTISSAS = (1.0, 5.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 1.5, 2.5, 3.5, 4.5, 1.2, 1.4,
                   1.6, 1.8)


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` that continues the end segments linearly instead of clamping."""
    out = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if lo.any():
        slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
        out[lo] = fp[0] + (x[lo] - xp[0]) * slope
    if hi.any():
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        out[hi] = fp[-1] + (x[hi] - xp[-1]) * slope
    return out


def _round_ticks(scale, y0: float, y1: float, pixels: float, min_px: float) -> list[float]:
    """Row coordinates of round frequencies between ``y0`` and ``y1``: candidates in order of
    roundness (1, 5, 2 x 10^k, then finer), each kept only if it lies at least ``min_px``
    pixels from every tick kept so far (an uneven scale would crowd or starve a fixed step)."""
    y0, y1 = sorted((y0, y1))
    if y1 <= y0 or pixels <= 0:
        return []
    px_per_y = pixels / (y1 - y0)
    f_lo = max(float(scale.hz_of_y(y0)), 1.0)
    f_hi = float(scale.hz_of_y(y1))
    if f_hi <= f_lo:
        return []
    kept: list[float] = []
    # high decades first: where the scale crowds the low end (mel), 100 Hz wins over 1 Hz
    decades = range(int(math.ceil(math.log10(f_hi))), int(math.floor(math.log10(f_lo))) - 1, -1)
    for mant in _TICK_MANTISSAS:
        for dec in decades:
            hz = mant * 10.0**dec
            if not f_lo <= hz <= f_hi:
                continue
            y = float(scale.y_of_hz(hz))
            if all(abs(y - k) * px_per_y >= min_px for k in kept):
                kept.append(y)
    return sorted(kept)


class FreqScale:
    """The view's frequency axis: ``y`` of a frequency on a ``"linear"`` (Hz), ``"log"``
    (log10 Hz, from :data:`LOG_FLOOR_HZ` up) or ``"mel"`` (HTK mel) scale.

    Scalar in, scalar out; arrays in, arrays out.
    """

    #: A log scale puts every frequency below this at its position.
    LOG_FLOOR_HZ = 1.0

    def __init__(self, kind: str = "linear") -> None:
        if kind not in ("linear", "log", "mel"):
            raise ValueError(f"frequency scale {kind!r}: use linear, log or mel")
        self.kind = kind

    def __eq__(self, other) -> bool:
        return isinstance(other, FreqScale) and other.kind == self.kind

    def __hash__(self) -> int:
        return hash(self.kind)

    def __repr__(self) -> str:
        return f"FreqScale({self.kind!r})"

    def y_of_hz(self, hz):
        f = np.maximum(np.asarray(hz, dtype=np.float64), 0.0)
        if self.kind == "log":
            y = np.log10(np.maximum(f, self.LOG_FLOOR_HZ))
        elif self.kind == "mel":
            y = hz_to_mel(f)
        else:
            y = f
        return float(y) if np.ndim(hz) == 0 else y

    def hz_of_y(self, y):
        v = np.asarray(y, dtype=np.float64)
        if self.kind == "log":
            hz = 10.0 ** v
        elif self.kind == "mel":
            hz = mel_to_hz(v)
        else:
            hz = v
        hz = np.maximum(hz, 0.0)
        return float(hz) if np.ndim(y) == 0 else hz

    def ticks(self, y0: float, y1: float, pixels: float, *, min_px: float = 24.0
              ) -> list[float] | None:
        """Row coordinates of round frequencies to label; None on a linear scale (evenly spaced
        ticks in Hz, the plotting library's own)."""
        if self.kind == "linear":
            return None
        return _round_ticks(self, y0, y1, pixels, min_px)


class BandScale:
    """Maps frequencies (Hz) to the row coordinate ``y`` of a band-per-row image and back.

    Parameters
    ----------
    freqs : np.ndarray, shape (n_freq,), Hz
        Band centre frequencies, increasing.
    """

    def __init__(self, freqs: np.ndarray) -> None:
        f = np.asarray(freqs, dtype=np.float64)
        if f.ndim != 1 or len(f) == 0:
            raise ValueError(f"need at least one band centre, got shape {f.shape}")
        if len(f) == 1:  # a single band: invent a neighbour so the mapping stays defined
            f = np.array([f[0], f[0] + 1.0])
        self.freqs = np.asarray(freqs, dtype=np.float64)
        self._mel = hz_to_mel(f)
        self._pos = np.arange(len(f)) + 0.5

    @property
    def n_bands(self) -> int:
        return len(self.freqs)

    def y_of_hz(self, hz: np.ndarray | float) -> np.ndarray | float:
        """Row coordinate of frequencies (scalar in, scalar out)."""
        m = np.atleast_1d(hz_to_mel(np.maximum(hz, 0.0)))
        y = _interp_extrap(m, self._mel, self._pos)
        return float(y[0]) if np.ndim(hz) == 0 else y

    def hz_of_y(self, y: np.ndarray | float) -> np.ndarray | float:
        """Frequency at row coordinates, clipped at 0 Hz (scalar in, scalar out)."""
        m = _interp_extrap(np.atleast_1d(np.asarray(y, dtype=np.float64)), self._pos, self._mel)
        hz = np.maximum(mel_to_hz(m), 0.0)
        return float(hz[0]) if np.ndim(y) == 0 else hz

    def ticks(self, y0: float, y1: float, pixels: float, *, min_px: float = 24.0) -> list[float]:
        """Row coordinates of round frequencies to label between ``y0`` and ``y1``.

        Candidates are taken in order of roundness (1, 5, 2 x 10^k, then finer), each kept only
        if it lies at least ``min_px`` pixels from every tick kept so far: mel spacing is
        uneven, so a fixed step would crowd the low end or starve the high end.
        """
        return _round_ticks(self, y0, y1, pixels, min_px)


def format_hz(hz: float, *, tick: bool = False) -> str:
    """``"500"`` / ``"2k"`` / ``"12.5k"`` for ticks; ``"523 Hz"`` / ``"4.02 kHz"`` for readouts."""
    if tick:
        r = float(f"{hz:.3g}")
        return f"{r / 1000:g}k" if r >= 1000 else f"{r:g}"
    if hz >= 1000:
        return f"{hz / 1000:.2f} kHz"
    return f"{hz:.0f} Hz"
