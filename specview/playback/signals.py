"""The listening signals: a time span, fades, a band limit and a speed change.

Pure functions of float32 mono samples and an explicit sample rate (numpy and scipy only), so
that the GUI, the CLI and the tests hear the same thing; :func:`specview.playback.render`
chains them.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import scipy.signal as ss

from specview.errors import AudioError, ParameterError

#: Playback speed range accepted by :func:`change_speed`.
MIN_SPEED, MAX_SPEED = 0.25, 2.0
#: Designed stopband attenuation of :func:`band_limit` (dB), reached one transition width
#: outside the band.
STOPBAND_DB = 80.0
#: Narrowest transition band (Hz); band edges closer than this to 0 Hz or to Nyquist are
#: treated as 0 Hz / Nyquist (a sharper edge there would need a filter seconds long).
MIN_TRANSITION_HZ = 20.0
#: Widest transition band (Hz).
MAX_TRANSITION_HZ = 500.0
#: Transition width as a share of the band's width (clipped to the two limits above).
TRANSITION_SHARE = 0.1


def _mono(samples: np.ndarray, what: str = "samples") -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ParameterError(f"{what} must be mono (1-D), got shape {x.shape}")
    if x.size and not np.all(np.isfinite(x)):
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise AudioError(f"{what}: {bad} sample(s) are NaN or infinite")
    return x


def _check_sr(sr: float) -> int:
    if not np.isfinite(sr) or sr <= 0 or int(sr) != sr:
        raise ParameterError(f"sample rate {sr!r} Hz: expected a positive whole number")
    return int(sr)


def _span(n: int, sr: int, start: float | None, end: float | None) -> tuple[int, int]:
    """Sample indices ``[i0, i1)`` of ``start..end`` seconds, clamped to ``0..n``."""
    for name, v in (("start", start), ("end", end)):
        if v is not None and not np.isfinite(v):
            raise ParameterError(f"{name} {v!r} s is not a finite time")
    if start is not None and end is not None and end <= start:
        raise ParameterError(f"end {end!r} s must come after start {start!r} s")
    i0 = 0 if start is None else min(max(int(round(start * sr)), 0), n)
    i1 = n if end is None else min(max(int(round(end * sr)), 0), n)
    if i1 <= i0:
        raise ParameterError(
            f"the span {start!r}-{end!r} s holds no samples of a {n / sr:.3f} s clip"
        )
    return i0, i1


def segment(samples: np.ndarray, sr: int, start: float | None, end: float | None) -> np.ndarray:
    """Samples ``round(start*sr)`` up to (excluding) ``round(end*sr)``, clamped to the clip.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
    sr : int, Hz
    start, end : float or None, seconds
        None means the clip's start / end. Times outside the clip are clamped to it.

    Returns
    -------
    np.ndarray, float32, shape (i1 - i0,)
        A copy.

    Raises
    ------
    ParameterError
        ``end <= start``, a non-finite time, or a span lying wholly outside the clip.
    """
    x = _mono(samples)
    sr = _check_sr(sr)
    i0, i1 = _span(len(x), sr, start, end)
    return np.array(x[i0:i1], dtype=np.float32)


def fade_edges(x: np.ndarray, sr: int, ms: float = 5.0) -> np.ndarray:
    """Raised-cosine fade-in and fade-out, so that starting and stopping do not click.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
    sr : int, Hz
    ms : float, milliseconds
        Length of each fade (at most half the signal). The first and last samples become 0.

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
    """
    y = np.array(_mono(x), dtype=np.float32)
    sr = _check_sr(sr)
    if not np.isfinite(ms) or ms < 0:
        raise ParameterError(f"fade length {ms!r} ms: expected a non-negative number")
    n = min(int(round(ms * sr / 1000.0)), len(y) // 2)
    if n > 0:
        ramp = (np.sin(0.5 * np.pi * np.arange(n) / n) ** 2).astype(np.float32)
        y[:n] *= ramp
        y[len(y) - n :] *= ramp[::-1]
    return y


def _band_edges(f0: float, f1: float, sr: int) -> tuple[float, float, float]:
    """``(low, high, width)``: the effective band (0 / Nyquist where open) and transition width."""
    nyq = sr / 2.0
    if not (np.isfinite(f0) and np.isfinite(f1)):
        raise ParameterError(f"band {f0!r}-{f1!r} Hz: edges must be finite")
    if f0 < 0 or f1 <= f0:
        raise ParameterError(f"band {f0!r}-{f1!r} Hz: expected 0 <= f0 < f1")
    if f0 >= nyq:
        raise ParameterError(
            f"band {f0!r}-{f1!r} Hz starts at or above Nyquist ({nyq:g} Hz at {sr} Hz)"
        )
    low = 0.0 if f0 < MIN_TRANSITION_HZ else float(f0)
    high = nyq if f1 > nyq - MIN_TRANSITION_HZ else float(f1)
    tw = float(np.clip(TRANSITION_SHARE * (high - low), MIN_TRANSITION_HZ, MAX_TRANSITION_HZ))
    if low > 0:
        tw = min(tw, low)
    if high < nyq:
        tw = min(tw, nyq - high)
    return low, high, tw


def transition_width(f0: float, f1: float, sr: int) -> float:
    """Width (Hz) of :func:`band_limit`'s transition bands for the band ``f0..f1``.

    ``10 %`` of the band's width, clipped to 20-500 Hz and to the room between the band and
    0 Hz / Nyquist. The band itself is passed flat; the attenuation reaches
    :data:`STOPBAND_DB` at ``f0 - width`` and ``f1 + width``.
    """
    return _band_edges(f0, f1, _check_sr(sr))[2]


def band_filter(f0: float, f1: float, sr: int) -> np.ndarray | None:
    """The zero-phase FIR (odd length, symmetric) :func:`band_limit` applies.

    Returns
    -------
    np.ndarray, float64, shape (n_taps,), or None
        None when the band is the whole spectrum (nothing to filter).
    """
    sr = _check_sr(sr)
    low, high, tw = _band_edges(f0, f1, sr)
    nyq = sr / 2.0
    if low == 0.0 and high == nyq:
        return None
    n_taps, beta = ss.kaiserord(STOPBAND_DB, tw / nyq)
    n_taps |= 1  # odd: a type-I filter, needed for a high-pass and centred on a sample
    window = ("kaiser", beta)
    # cutoffs half a transition outside the band: the band is flat, the stopband starts a
    # full transition width outside it
    if low == 0.0:
        return ss.firwin(n_taps, high + tw / 2, window=window, fs=sr)
    if high == nyq:
        return ss.firwin(n_taps, low - tw / 2, window=window, pass_zero=False, fs=sr)
    return ss.firwin(n_taps, [low - tw / 2, high + tw / 2], window=window, pass_zero=False,
                     fs=sr)


def band_limit(x: np.ndarray, sr: int, f0: float, f1: float) -> np.ndarray:
    """Keep only ``f0..f1`` Hz: a zero-phase linear-phase FIR, >= 80 dB designed stopband.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
    sr : int, Hz
    f0, f1 : float, Hz
        The band. ``f0`` below 20 Hz makes a low-pass, ``f1`` within 20 Hz of Nyquist (or
        above) a high-pass. The band is passed flat (< 0.001 dB ripple); the attenuation
        reaches :data:`STOPBAND_DB` one :func:`transition_width` outside it.

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
        Time-aligned with ``x`` (no delay). The signal is mirrored at both ends before
        filtering so that the filter does not ramp in from silence; :func:`render` also gives
        it the clip's real context around a segment and fades the ends.
    """
    y = _mono(x).astype(np.float64)
    h = band_filter(f0, f1, sr)
    if h is None or len(y) == 0:
        return y.astype(np.float32)
    half = len(h) // 2
    mode = "reflect" if len(y) > 1 else "edge"
    yp = np.pad(y, half, mode=mode)
    out = ss.oaconvolve(yp, h, mode="valid")
    return out.astype(np.float32)


def _speed_ratio(factor: float) -> Fraction:
    if not np.isfinite(factor) or not MIN_SPEED <= factor <= MAX_SPEED:
        raise ParameterError(
            f"speed {factor!r}: expected {MIN_SPEED:g} to {MAX_SPEED:g} (1 = normal speed)"
        )
    return Fraction(float(factor)).limit_denominator(1000)


def change_speed(x: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster by resampling: duration ``/ factor``, pitch ``* factor``.

    Played at the same device rate, a 1 kHz tone at ``factor=0.5`` sounds at 500 Hz and lasts
    twice as long: slowing down brings high (near-ultrasonic) content into the audible range.

    Parameters
    ----------
    x : np.ndarray, shape (n_samples,)
    factor : float
        0.25 to 2.0 (approximated by a ratio of integers up to 1000, i.e. to 1e-6 or better).

    Returns
    -------
    np.ndarray, float32, shape (round(n_samples / factor),)
        Band-limited polyphase resampling (Kaiser window), time-aligned at the start.

    Raises
    ------
    ParameterError
        ``factor`` outside 0.25-2.0.
    """
    y = _mono(x)
    ratio = _speed_ratio(factor)
    n_out = int(round(len(y) / float(factor)))
    if ratio == 1 or len(y) == 0:
        return np.array(y, dtype=np.float32)
    # new samples per old ones = 1 / factor = denominator / numerator
    out = ss.resample_poly(y.astype(np.float64), ratio.denominator, ratio.numerator,
                           window=("kaiser", 10.0))
    if len(out) >= n_out:
        out = out[:n_out]
    else:
        out = np.pad(out, (0, n_out - len(out)))
    return out.astype(np.float32)
