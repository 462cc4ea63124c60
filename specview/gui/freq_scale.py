"""Hz <-> view coordinates for mel-spaced spectrogram rows (no Qt here, tested headless).

The spectrogram image is placed so that band ``i`` occupies ``y`` in ``[i, i + 1]``; its centre
frequency sits at ``y = i + 0.5``. Between centres the mapping is linear in mel, which is exact
for a mel filter bank and close enough for any other monotonic band layout.
"""

from __future__ import annotations

import math

import numpy as np

#: Tick candidates per decade, most important first: 1, 5, 2 always; finer ones when zoomed in.
_TICK_MANTISSAS = (1.0, 5.0, 2.0, 3.0, 4.0, 6.0, 7.0, 8.0, 9.0, 1.5, 2.5, 3.5, 4.5, 1.2, 1.4,
                   1.6, 1.8)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """HTK mel of frequencies in Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


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
        y0, y1 = sorted((y0, y1))
        if y1 <= y0 or pixels <= 0:
            return []
        px_per_y = pixels / (y1 - y0)
        f_lo = max(float(self.hz_of_y(y0)), 1.0)
        f_hi = float(self.hz_of_y(y1))
        if f_hi <= f_lo:
            return []
        kept: list[float] = []
        decades = range(int(math.floor(math.log10(f_lo))), int(math.ceil(math.log10(f_hi))) + 1)
        for mant in _TICK_MANTISSAS:
            for dec in decades:
                hz = mant * 10.0**dec
                if not f_lo <= hz <= f_hi:
                    continue
                y = float(self.y_of_hz(hz))
                if all(abs(y - k) * px_per_y >= min_px for k in kept):
                    kept.append(y)
        return sorted(kept)


def format_hz(hz: float, *, tick: bool = False) -> str:
    """``"500"`` / ``"2k"`` / ``"12.5k"`` for ticks; ``"523 Hz"`` / ``"4.02 kHz"`` for readouts."""
    if tick:
        r = float(f"{hz:.3g}")
        return f"{r / 1000:g}k" if r >= 1000 else f"{r:g}"
    if hz >= 1000:
        return f"{hz / 1000:.2f} kHz"
    return f"{hz:.0f} Hz"
