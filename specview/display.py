"""The spectrogram an expert looks at, independent of the encoder (issue 15).

The encoder's grid (aisfx: 96 mel bands at a 23 ms hop) is what the detectors see; it cannot
tell two harmonics 50 Hz apart. The display spectrogram has its own settings, as Raven's and
Audacity's do: FFT size, window, overlap, zero padding, frequency scale (linear, log, mel),
frequency range, gain and dB range. Its axes are physical (frame centres in seconds from the
start of the recording, row centres in Hz), so the anomaly map, boxes and flagged regions,
all in seconds and Hz, are drawn over it whatever the settings.

Levels are in dB re a full-scale sine: a sine of amplitude 1 reads 0 dB at its peak bin,
whatever the window, FFT size or zero padding (the window's coherent gain is divided out).

Core module: numpy and scipy.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache

import numpy as np

from specview.errors import ParameterError
from specview.types import Spectrogram

#: Window functions offered (scipy.signal.get_window names).
WINDOWS = ("hann", "hamming", "blackman", "blackmanharris", "bartlett", "boxcar")
#: Frequency scales.
SCALES = ("linear", "log", "mel")
#: Colormaps offered (perceptually uniform first).
COLORMAPS = ("viridis", "magma", "inferno", "cividis", "plasma", "gray", "gray_r")
MIN_FFT, MAX_FFT = 256, 16384
#: Frames computed per block (bounded memory for long spans).
_BLOCK = 1024


@dataclass(frozen=True)
class DisplaySettings:
    """How the display spectrogram is computed and drawn (all units physical)."""

    n_fft: int = field(default=2048, metadata={"help": "window length (samples), 256-16384"})
    window: str = field(default="hann", metadata={"help": "window function: " + ", ".join(WINDOWS)})
    overlap: float = field(default=0.75, metadata={"help": "share of a window the next overlaps"})
    zero_padding: int = field(default=1, metadata={"help": "FFT length = n_fft x this (1, 2, 4, 8)"})
    scale: str = field(default="linear", metadata={"help": "frequency scale: linear, log, mel"})
    n_rows: int = field(default=512, metadata={"help": "rows of a log or mel scale"})
    fmin: float = field(default=0.0, metadata={"help": "lowest frequency shown (Hz)"})
    fmax: float | None = field(default=None, metadata={"help": "highest (Hz); None: Nyquist"})
    gain_db: float = field(default=0.0, metadata={"help": "gain added to every level (dB)"})
    db_range: float = field(default=80.0, metadata={"help": "dB shown below the ceiling"})
    db_ceiling: float | None = field(default=None,
                                     metadata={"help": "top of the colour range (dB); None: auto"})
    colormap: str = field(default="viridis", metadata={"help": "colour map"})

    def __post_init__(self) -> None:
        if not (MIN_FFT <= int(self.n_fft) <= MAX_FFT) or int(self.n_fft) != self.n_fft:
            raise ParameterError(f"FFT size {self.n_fft}: use {MIN_FFT}-{MAX_FFT} samples")
        if self.window not in WINDOWS:
            raise ParameterError(f"window {self.window!r}: use {', '.join(WINDOWS)}")
        if not (0.0 <= self.overlap <= 0.95):
            raise ParameterError(f"overlap {self.overlap}: use 0-0.95")
        if self.zero_padding not in (1, 2, 4, 8):
            raise ParameterError(f"zero padding {self.zero_padding}: use 1, 2, 4 or 8")
        if self.scale not in SCALES:
            raise ParameterError(f"frequency scale {self.scale!r}: use {', '.join(SCALES)}")
        if not (16 <= self.n_rows <= 4096):
            raise ParameterError(f"n_rows {self.n_rows}: use 16-4096")
        if not (math.isfinite(self.fmin) and self.fmin >= 0):
            raise ParameterError(f"fmin {self.fmin}: a frequency >= 0 Hz")
        if self.fmax is not None and not (math.isfinite(self.fmax) and self.fmax > self.fmin):
            raise ParameterError(f"frequency range {self.fmin}-{self.fmax} Hz is empty")
        if not (math.isfinite(self.db_range) and self.db_range > 0):
            raise ParameterError(f"dB range {self.db_range}: a number > 0")
        if self.colormap not in COLORMAPS:
            raise ParameterError(f"colormap {self.colormap!r}: use {', '.join(COLORMAPS)}")

    @property
    def hop(self) -> int:
        """Samples between frames."""
        return max(1, int(round(self.n_fft * (1.0 - self.overlap))))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DisplaySettings:
        """Settings from a dict (unknown keys ignored, bad values refused)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        try:
            return replace(cls(), **known)
        except TypeError as exc:
            raise ParameterError(f"display settings: {exc}") from None

    def band(self, sr: int) -> tuple[float, float]:
        """The frequency range shown for a recording at ``sr``."""
        nyq = sr / 2.0
        hi = nyq if self.fmax is None else min(float(self.fmax), nyq)
        lo = min(float(self.fmin), hi * 0.999)
        if self.scale == "log":
            lo = max(lo, sr / (self.n_fft * self.zero_padding))  # the first bin above DC
        return lo, hi


@lru_cache(maxsize=32)
def _window(name: str, n: int) -> np.ndarray:
    from scipy.signal import get_window

    w = get_window(name, n, fftbins=True).astype(np.float64)
    w.setflags(write=False)
    return w


def stft_power(samples: np.ndarray, sr: int, settings: DisplaySettings, *,
               start: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Power of each FFT bin, ``(n_bins, n_frames)``, scaled so that a sine of amplitude A
    reads ``A**2`` at its peak bin; with the frame times (s, centres, from ``start``) and the
    bin frequencies (Hz). Frames are centred on ``k * hop``; the recording is zero-padded by
    half a window at each end."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ParameterError("samples must be a non-empty 1-D array")
    n, hop = settings.n_fft, settings.hop
    nfft = n * settings.zero_padding
    w = _window(settings.window, n)
    coherent = w.sum() / 2.0  # |X| of a unit sine at its bin
    x = np.pad(x, (n // 2, n // 2))
    n_frames = 1 + (x.size - n) // hop
    freqs = np.fft.rfftfreq(nfft, 1.0 / sr)
    out = np.empty((freqs.size, n_frames), dtype=np.float32)
    view = np.lib.stride_tricks.sliding_window_view(x, n)[::hop]
    for a in range(0, n_frames, _BLOCK):
        spec = np.fft.rfft(view[a:a + _BLOCK] * w, n=nfft, axis=1)
        out[:, a:a + spec.shape[0]] = ((spec.real ** 2 + spec.imag ** 2) /
                                       coherent ** 2).T.astype(np.float32)
    times = start + np.arange(n_frames) * hop / sr
    return out, times, freqs


def _rows(freqs_bins: np.ndarray, sr: int, settings: DisplaySettings) -> np.ndarray:
    lo, hi = settings.band(sr)
    if settings.scale == "linear":
        return freqs_bins[(freqs_bins >= lo) & (freqs_bins <= hi)]
    if settings.scale == "log":
        return np.geomspace(max(lo, 1e-3), hi, settings.n_rows)
    mel_lo, mel_hi = hz_to_mel(np.array([lo, hi]))
    return mel_to_hz(np.linspace(mel_lo, mel_hi, settings.n_rows))


def hz_to_mel(f):
    """HTK mel of ``f`` Hz."""
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def mel_to_hz(m):
    """Inverse of :func:`hz_to_mel`."""
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


def cell_edges(centres: np.ndarray) -> np.ndarray:
    """Edges of the cells centred on increasing ``centres`` (one more than them): halfway
    between neighbours, the outer ones as far out as the inner ones (+-0.5 for one cell)."""
    c = np.asarray(centres, dtype=np.float64)
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5])
    mid = (c[1:] + c[:-1]) / 2
    return np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])


def _to_rows(power: np.ndarray, bins: np.ndarray, rows: np.ndarray, scale: str) -> np.ndarray:
    """Bin power onto the display rows: the bins themselves (linear); on a log or mel scale,
    each row the highest bin between its edges (a peak stays a peak), or, where rows are
    finer than bins, the power interpolated between bins."""
    if scale == "linear":
        keep = np.searchsorted(bins, rows)
        return power[keep]
    warp = np.log if scale == "log" else hz_to_mel
    r = warp(np.maximum(rows, 1e-3))
    edges = cell_edges(r)
    b = warp(np.maximum(bins, 1e-3))
    lo = np.searchsorted(b, edges[:-1], side="left")
    hi = np.searchsorted(b, edges[1:], side="right")
    out = np.empty((rows.size, power.shape[1]), dtype=np.float32)
    for i in range(rows.size):
        if hi[i] > lo[i]:
            out[i] = power[lo[i]:hi[i]].max(axis=0)
        else:  # finer than the bins: interpolate between the two around the row
            j = int(np.clip(np.searchsorted(b, r[i]), 1, b.size - 1))
            t = (r[i] - b[j - 1]) / (b[j] - b[j - 1]) if b[j] > b[j - 1] else 0.0
            out[i] = (1 - t) * power[j - 1] + t * power[j]
    return out


def spectrogram(samples: np.ndarray, sr: int, settings: DisplaySettings | None = None,
                        *, start: float = 0.0) -> Spectrogram:
    """The display spectrogram of ``samples`` (mono, at ``sr``) in dB re a full-scale sine
    (plus ``gain_db``).

    Returns
    -------
    Spectrogram
        ``values`` float32 ``(n_rows, n_frames)``: linear scale, one row per FFT bin inside
        the frequency range; log and mel scales, ``n_rows`` rows evenly spaced on that scale.
        ``times``: frame centres, seconds from the recording's start (``start`` is the time of
        ``samples[0]``); ``freqs``: row centres, Hz; unit ``"dB"``.
    """
    settings = settings or DisplaySettings()
    power, times, bins = stft_power(samples, sr, settings, start=start)
    rows = _rows(bins, sr, settings)
    if rows.size == 0:
        raise ParameterError(f"no FFT bin lies in {settings.band(sr)} Hz at FFT {settings.n_fft}")
    values = _to_rows(power, bins, rows, settings.scale)
    db = 10.0 * np.log10(np.maximum(values, 1e-20)) + settings.gain_db
    return Spectrogram(db.astype(np.float32), times, rows.astype(np.float64), "dB",
                       len(samples) / sr)


def level_range(spec: Spectrogram, settings: DisplaySettings) -> tuple[float, float]:
    """The colour range ``(floor, ceiling)`` in dB: the set ceiling, or automatically the
    99th percentile of the frames' loudest cells (a steady tone's level, not one click's); the
    floor ``db_range`` below it."""
    top = settings.db_ceiling
    if top is None:
        v = np.nanmax(spec.values, axis=0) if spec.values.size else np.empty(0)
        v = v[np.isfinite(v)]
        top = float(np.percentile(v, 99.0)) if v.size else 0.0
    return float(top) - settings.db_range, float(top)
