"""Listening to a clip: the signals to play (pure functions) and a callback-driven player.

Everything that shapes the sound is a pure function of float32 mono samples and an explicit
sample rate, so the GUI, the CLI (``specview play``) and the tests hear exactly the same thing:

* :func:`segment` cuts a time span (sample-accurate), :func:`fade_edges` removes clicks at its
  ends, :func:`band_limit` keeps one frequency band (zero-phase FIR, >= 80 dB designed
  stopband one transition width outside the band), :func:`change_speed` resamples so that the
  sound lasts ``duration / factor`` and its pitch moves by ``factor`` (slowing down brings high
  content into the audible range);
* :func:`map_mask` and :func:`mask_resynthesis` turn a detector's anomaly map into a soft
  time-frequency mask and resynthesise "the anomaly only" or "the clip without the anomaly"
  (the two add up to the clip);
* :func:`render` chains them in a fixed order and returns the exact signal that is played.

:class:`Player` plays a preloaded array through PortAudio (``sounddevice``): a callback copies
blocks from the array and advances a position counter, the caller only polls. ``sounddevice``
is imported inside functions because PortAudio may be missing on a headless machine.

Core module: numpy, scipy and the specview core only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import scipy.signal as ss

from specview.calibration import Calibration
from specview.errors import AudioError, ParameterError
from specview.types import AnomalyResult

__all__ = [
    "MAX_SPEED",
    "MIN_SPEED",
    "STOPBAND_DB",
    "Player",
    "band_limit",
    "band_filter",
    "change_speed",
    "fade_edges",
    "map_mask",
    "mask_resynthesis",
    "render",
    "segment",
    "transition_width",
]

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
#: Frames of the STFT processed at once by :func:`mask_resynthesis` (bounds memory).
_FRAMES_PER_BLOCK = 512


# ---------------------------------------------------------------------------------------------
# signals


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


# ---------------------------------------------------------------------------------------------
# anomaly masks


def _axis(values: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ParameterError(f"{name} must be a non-empty 1-D array of finite values")
    if v.size > 1 and np.any(np.diff(v) <= 0):
        raise ParameterError(f"{name} must be strictly increasing")
    return v


def _interp_weights(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ``j`` and weight ``t`` so that ``f(dst) = (1-t) f(src[j]) + t f(src[j+1])``,
    linear in between and held beyond the ends (``j+1`` is clipped to the last index)."""
    if src.size == 1:
        return np.zeros(dst.size, dtype=np.intp), np.zeros(dst.size)
    j = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, src.size - 2)
    t = np.clip((dst - src[j]) / (src[j + 1] - src[j]), 0.0, 1.0)
    return j, t


def map_mask(
    result_map: np.ndarray,
    map_times: np.ndarray,
    map_freqs: np.ndarray,
    stft_times: np.ndarray,
    stft_freqs: np.ndarray,
    *,
    calibration: Calibration | None = None,
) -> np.ndarray:
    """A soft mask in ``[0, 1]`` on a linear STFT grid from an anomaly map on mel rows.

    Parameters
    ----------
    result_map : np.ndarray, shape (n_mels, n_frames)
        Anomaly map (higher = more anomalous).
    map_times : np.ndarray, shape (n_frames,), seconds
    map_freqs : np.ndarray, shape (n_mels,), Hz
        The map's frame and row centres (mel-spaced rows).
    stft_times : np.ndarray, shape (n_stft_frames,), seconds
    stft_freqs : np.ndarray, shape (n_bins,), Hz
        The STFT grid.
    calibration : Calibration, optional
        When given, the mask is ``clip(calibration.calibrated(map), 0, 1)``: 0 for a typical
        normal cell and below, 1 from the flag threshold up. Otherwise the map is min-max
        normalised over the clip (a flat map gives an all-zero mask).

    Returns
    -------
    np.ndarray, float32, shape (n_bins, n_stft_frames)
        The map interpolated linearly in seconds along time and linearly in Hz between the
        mel centres along frequency (edge values held), then scaled and clipped.
    """
    m = np.asarray(result_map, dtype=np.float64)
    mt = _axis(map_times, "map times")
    mf = _axis(map_freqs, "map frequencies")
    st = _axis(stft_times, "STFT times")
    sf_ = _axis(stft_freqs, "STFT frequencies")
    if m.ndim != 2 or m.shape != (mf.size, mt.size):
        raise ParameterError(
            f"anomaly map shape {m.shape} does not match its axes "
            f"({mf.size} frequencies, {mt.size} times)"
        )
    if not np.all(np.isfinite(m)):
        raise ParameterError("the anomaly map holds NaN or infinite values")
    if calibration is not None:
        scaled = calibration.calibrated(m).astype(np.float64)
    else:
        lo, hi = float(m.min()), float(m.max())
        scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    j, t = _interp_weights(mt, st)
    jn = np.minimum(j + 1, mt.size - 1)
    along_time = scaled[:, j] * (1.0 - t) + scaled[:, jn] * t  # (n_mels, n_stft_frames)
    i, u = _interp_weights(mf, sf_)
    inn = np.minimum(i + 1, mf.size - 1)
    grid = along_time[i, :] * (1.0 - u)[:, None] + along_time[inn, :] * u[:, None]
    return np.clip(grid, 0.0, 1.0).astype(np.float32)


def mask_resynthesis(
    samples: np.ndarray,
    sr: int,
    result: AnomalyResult,
    *,
    calibration: Calibration | None = None,
    invert: bool = False,
    n_fft: int = 2048,
    hop: int = 512,
) -> np.ndarray:
    """The clip filtered by its anomaly mask: "the anomaly only", or "without the anomaly".

    STFT (periodic Hann window, centred frames, zero-padded ends), multiplication by
    :func:`map_mask` (or ``1 - mask`` with ``invert``), inverse STFT by weighted overlap-add.
    The STFT is linear and reconstructs perfectly, so ``anomaly + without == samples`` to float
    precision. Frames are processed in blocks, so memory does not grow with the clip's length
    beyond the output.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
    sr : int, Hz
    result : AnomalyResult
        Its ``map`` (n_mels, n_frames), ``times`` (seconds) and ``freqs`` (Hz).
    calibration : Calibration, optional
        See :func:`map_mask`.
    invert : bool
        Multiply by ``1 - mask``: the clip without the anomaly.
    n_fft : int, samples
        STFT window length.
    hop : int, samples
        STFT hop, at most ``n_fft // 2``.

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
    """
    x = _mono(samples).astype(np.float64)
    sr = _check_sr(sr)
    if int(n_fft) != n_fft or n_fft < 16:
        raise ParameterError(f"n_fft {n_fft!r}: expected a whole number of samples >= 16")
    if int(hop) != hop or not 0 < hop <= n_fft // 2:
        raise ParameterError(f"hop {hop!r}: expected 1 to n_fft // 2 = {n_fft // 2} samples")
    n_fft, hop = int(n_fft), int(hop)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    pad = n_fft // 2
    n_frames = 1 + n // hop
    total = (n_frames - 1) * hop + n_fft
    xp = np.pad(x, (pad, total - n - pad))
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    out = np.zeros(total)
    envelope = np.zeros(total)
    w2 = window**2
    for a in range(0, n_frames, _FRAMES_PER_BLOCK):
        b = min(a + _FRAMES_PER_BLOCK, n_frames)
        spec = np.fft.rfft(frames[a:b] * window, axis=1)
        mask = map_mask(result.map, result.times, result.freqs, np.arange(a, b) * hop / sr,
                        freqs, calibration=calibration).T.astype(np.float64)
        if invert:
            mask = 1.0 - mask
        y = np.fft.irfft(spec * mask, n=n_fft, axis=1) * window
        for k in range(b - a):
            s = (a + k) * hop
            out[s : s + n_fft] += y[k]
            envelope[s : s + n_fft] += w2
    return (out[pad : pad + n] / envelope[pad : pad + n]).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# the signal that is played


def render(
    samples: np.ndarray,
    sr: int,
    *,
    start: float | None = None,
    end: float | None = None,
    band: tuple[float, float] | None = None,
    mask: str | None = None,
    result: AnomalyResult | None = None,
    calibration: Calibration | None = None,
    speed: float = 1.0,
    fade_ms: float = 5.0,
) -> np.ndarray:
    """The exact signal that is played for a set of listening options.

    In this order: the anomaly mask on the whole clip (so the STFT has context), the segment,
    the band limit (filtered with the clip's real context around the segment, so the segment
    sounds as it does inside the band-limited clip), the speed change, the fades.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
    sr : int, Hz
    start, end : float or None, seconds
        Span to play (see :func:`segment`); the whole clip by default.
    band : (f0, f1) or None, Hz
        Band to keep (see :func:`band_limit`).
    mask : None, "anomaly" or "without"
        Play only the anomaly or the clip without it (:func:`mask_resynthesis`); needs
        ``result``.
    result : AnomalyResult, optional
        The clip's scored map.
    calibration : Calibration, optional
        The model's normal-score calibration for the mask (see :func:`map_mask`).
    speed : float
        Playback speed 0.25-2.0 (see :func:`change_speed`).
    fade_ms : float, milliseconds
        Fade at both ends (see :func:`fade_edges`).

    Returns
    -------
    np.ndarray, float32, shape (round((i1 - i0) / speed),)
        To be played at ``sr``.
    """
    x = _mono(samples)
    sr = _check_sr(sr)
    _speed_ratio(speed)  # fail before the slow steps
    if mask not in (None, "anomaly", "without"):
        raise ParameterError(f"mask {mask!r}: use None, 'anomaly' or 'without'")
    if mask is not None:
        if result is None:
            raise ParameterError(
                f"mask {mask!r} needs the clip's anomaly result: score the clip with a model first"
            )
        x = mask_resynthesis(x, sr, result, calibration=calibration, invert=mask == "without")
    i0, i1 = _span(len(x), sr, start, end)
    if band is not None:
        try:
            f0, f1 = (float(v) for v in band)
        except (TypeError, ValueError):
            raise ParameterError(f"band {band!r}: expected two frequencies (f0, f1) in Hz") from None
        h = band_filter(f0, f1, sr)
        margin = 0 if h is None else len(h) // 2
        a, b = max(0, i0 - margin), min(len(x), i1 + margin)
        y = band_limit(x[a:b], sr, f0, f1)[i0 - a : i1 - a]
    else:
        y = np.asarray(x[i0:i1], dtype=np.float32)
    y = change_speed(y, speed)
    return fade_edges(y, sr, fade_ms)


# ---------------------------------------------------------------------------------------------
# output


def _sounddevice():
    """Import sounddevice (PortAudio) or raise AudioError saying why it is unavailable."""
    try:
        import sounddevice as sd
    except ImportError as exc:
        raise AudioError(
            f"audio output unavailable: the sounddevice package is missing ({exc})"
        ) from None
    except OSError as exc:  # the package is there but the PortAudio library is not
        raise AudioError(
            f"audio output unavailable: PortAudio cannot be loaded ({exc}); "
            "install it, e.g. sudo apt-get install libportaudio2"
        ) from None
    return sd


class Player:
    """Plays a preloaded signal through PortAudio; the caller polls, nothing blocks.

    A ``sounddevice.OutputStream`` callback copies blocks from the array and advances a
    sample counter under a lock; :meth:`position` and :attr:`is_playing` read it from any
    thread. Starting while playing stops the previous sound first.

    Parameters
    ----------
    device : int or str, optional
        PortAudio output device; the system default when omitted.
    """

    def __init__(self, device: int | str | None = None) -> None:
        self.device = device
        self._lock = threading.Lock()
        self._stream = None
        self._data = np.zeros(0, dtype=np.float32)
        self._rate = 0
        self._pos = 0
        self._loop = False
        self._playing = False
        self._done = threading.Event()
        self._done.set()
        self._generation = 0
        self._finishing_thread: int | None = None
        self._stale: list = []
        self._callback_stop: type[BaseException] = Exception

    # -- availability ------------------------------------------------------------------------

    @staticmethod
    def available(device: int | str | None = None) -> tuple[bool, str]:
        """Whether sound can be played here: ``(True, device name)`` or ``(False, reason)``."""
        try:
            sd = _sounddevice()
        except AudioError as exc:
            return False, str(exc)
        try:
            info = sd.query_devices(device, kind="output" if device is None else None)
        except (sd.PortAudioError, ValueError) as exc:
            return False, f"no audio output device ({exc})"
        if int(info.get("max_output_channels", 0)) < 1:
            return False, f"device {info.get('name')!r} has no output channels"
        return True, f"output device {info.get('name')!r}"

    # -- control -----------------------------------------------------------------------------

    def play(
        self,
        samples: np.ndarray,
        sr: int,
        *,
        loop: bool = False,
        offset_s: float = 0.0,
        on_finished: Callable[[], None] | None = None,
    ) -> None:
        """Start playing ``samples`` (mono) at ``sr`` Hz from ``offset_s`` seconds.

        Parameters
        ----------
        samples : np.ndarray, shape (n_samples,)
            Copied as float32; usually :func:`render`'s output.
        sr : int, Hz
            If the device refuses this rate, the signal is resampled to the device's default
            rate (positions stay in seconds of the signal).
        loop : bool
            Start again from the beginning at the end, until :meth:`stop`.
        offset_s : float, seconds
            Where to start within the signal (0 <= offset < duration).
        on_finished : callable, optional
            Called once with no arguments when this sound ends for any reason (its end,
            :meth:`stop`, or a new :meth:`play`), from PortAudio's thread: it must return
            quickly and must not touch GUI widgets directly (emit a signal instead).

        Raises
        ------
        ParameterError
            Empty signal, or ``offset_s`` outside the signal.
        AudioError
            PortAudio is missing or the output cannot be opened.
        """
        x = _mono(samples).astype(np.float32)
        sr = _check_sr(sr)
        if x.size == 0:
            raise ParameterError("nothing to play: the signal is empty")
        dur = x.size / sr
        if not np.isfinite(offset_s) or not 0 <= offset_s < dur:
            raise ParameterError(f"offset {offset_s!r} s lies outside the {dur:.3f} s signal")
        sd = _sounddevice()
        self.stop()
        self._callback_stop = sd.CallbackStop
        with self._lock:
            self._generation += 1
            generation = self._generation
        rate = sr
        try:
            stream = self._open(sd, rate, generation, on_finished)
        except sd.PortAudioError as exc:
            try:
                default = int(sd.query_devices(self.device, kind="output")["default_samplerate"])
            except (sd.PortAudioError, ValueError, KeyError):
                default = rate
            if default == rate:
                raise AudioError(f"cannot open the audio output at {sr} Hz ({exc})") from None
            from specview.audio import resample

            x, rate = resample(x, sr, default), default
            try:
                stream = self._open(sd, rate, generation, on_finished)
            except sd.PortAudioError as exc2:
                raise AudioError(
                    f"cannot open the audio output at {sr} Hz or {rate} Hz ({exc2})"
                ) from None
        with self._lock:
            self._data = np.ascontiguousarray(x)
            self._rate = rate
            self._pos = min(int(round(offset_s * rate)), x.size - 1)
            self._loop = bool(loop)
            self._playing = True
            self._stream = stream
        self._done.clear()
        try:
            stream.start()
        except sd.PortAudioError as exc:
            with self._lock:
                self._playing = False
                self._stream = None
            self._done.set()
            stream.close()
            raise AudioError(f"cannot start the audio output ({exc})") from None

    def _open(self, sd, rate: int, generation: int, on_finished: Callable[[], None] | None):
        return sd.OutputStream(
            samplerate=rate, channels=1, dtype="float32", device=self.device,
            callback=self._callback,
            finished_callback=lambda: self._finished(generation, on_finished),
        )

    def stop(self) -> None:
        """Stop now (no-op when idle). ``on_finished`` runs before this returns."""
        if threading.get_ident() == self._finishing_thread:
            # called from on_finished: PortAudio cannot close a stream from its own thread, so
            # it is closed by the next call from another thread
            if self._stream is not None:
                self._stale.append(self._stream)
                self._stream = None
            return
        while self._stale:
            self._stale.pop().close()
        stream = self._stream
        if stream is None:
            return
        self._stream = None
        try:
            stream.abort()
        except Exception:  # an already-dead stream: closing is all that is left
            pass
        finally:
            stream.close()
        with self._lock:
            self._playing = False
        self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the sound ends (never, while looping, until :meth:`stop`).

        Returns
        -------
        bool
            True when it ended, False on timeout.
        """
        return self._done.wait(timeout)

    def close(self) -> None:
        """Stop and release the output."""
        self.stop()

    def __enter__(self) -> Player:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state -------------------------------------------------------------------------------

    @property
    def is_playing(self) -> bool:
        with self._lock:
            return self._playing

    @property
    def loop(self) -> bool:
        """Whether the sound restarts at its end; may be changed while playing."""
        with self._lock:
            return self._loop

    @loop.setter
    def loop(self, value: bool) -> None:
        with self._lock:
            self._loop = bool(value)

    def position(self) -> float | None:
        """Seconds into the played signal of the next sample handed to PortAudio, or None
        when idle. The sound heard lags it by the device's output latency (a few tens of ms)."""
        with self._lock:
            if not self._playing:
                return None
            return self._pos / self._rate

    # -- PortAudio's thread ------------------------------------------------------------------

    def _callback(self, outdata, frames, time_info, status) -> None:
        out = outdata[:, 0]
        with self._lock:
            data, pos, n = self._data, self._pos, self._data.size
            written = 0
            while written < frames:
                take = min(frames - written, n - pos)
                out[written : written + take] = data[pos : pos + take]
                written += take
                pos += take
                if pos >= n:
                    if self._loop:
                        pos = 0
                    else:
                        break
            self._pos = pos
            ended = pos >= n and not self._loop
        if written < frames:
            out[written:] = 0.0
        if ended:
            raise self._callback_stop

    def _finished(self, generation: int, on_finished: Callable[[], None] | None) -> None:
        # a stream that was replaced may report its end after the next one started: it then
        # only runs its own on_finished and leaves the player's state alone
        with self._lock:
            current = generation == self._generation
            if current:
                self._playing = False
        self._finishing_thread = threading.get_ident()
        try:
            if on_finished is not None:
                on_finished()
        finally:
            self._finishing_thread = None
            if current:
                self._done.set()
