"""Measurements of a box or selection, as Raven users know them (issue 15).

Every measurement is taken on the display STFT (:func:`specview.display.stft_power`, levels
re a full-scale sine) of the recording under the box: the frames whose centres lie in the
box's time span and the FFT bins whose centres lie in its band (at least the nearest one
each way). So they are exact to the STFT's resolution: ``hop / sr`` seconds and
``sr / (n_fft * zero_padding)`` Hz.

========================  =====================================================================
key (Raven column)        what
========================  =====================================================================
``begin``, ``end``        the box's time span (s); ``duration`` = end - begin
``low``, ``high``         its band (Hz); ``bandwidth`` = high - low
``peak_time``             time of the loudest cell (s)
``peak_freq``             frequency of the loudest cell (Hz)
``center_freq``           the frequency below which half of the box's energy lies (Hz)
``peak_power``            level of the loudest cell, dB re a full-scale sine (a sine of
                          amplitude A reads 20 log10 A)
``energy``                energy of the sound in the box, dB re 1 FS^2 s: the band's mean
                          square (Parseval, one-sided) summed over its frames times the hop
                          (a sine of amplitude A lasting D s: 10 log10(A^2 / 2 * D))
``clip_score``            the recording's clip score (with a scored result)
``map_peak``              the anomaly map's highest cell inside the box, in multiples of the
                          flag threshold with a calibration (else the map's own units)
========================  =====================================================================

Core module: numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from specview.display import DisplaySettings, _window, stft_power
from specview.errors import ParameterError
from specview.types import AnomalyResult, Box

#: Measurement keys and their Raven column names, in Raven's order.
COLUMNS: dict[str, str] = {
    "begin": "Begin Time (s)",
    "end": "End Time (s)",
    "low": "Low Freq (Hz)",
    "high": "High Freq (Hz)",
    "duration": "Delta Time (s)",
    "bandwidth": "Delta Freq (Hz)",
    "peak_time": "Peak Time (s)",
    "peak_freq": "Peak Freq (Hz)",
    "center_freq": "Center Freq (Hz)",
    "peak_power": "Peak Power (dB FS)",
    "energy": "Energy (dB FS)",
    "clip_score": "Clip Score",
    "map_peak": "Map Peak (x threshold)",
}
#: What the box table shows by default.
DEFAULT_SHOWN = ("duration", "bandwidth", "peak_freq", "peak_power", "map_peak")
#: Measurements of the sound (the rest are the box's own corners, or the model's).
SOUND = ("peak_time", "peak_freq", "center_freq", "peak_power", "energy")
#: The FFT of measurements unless the caller gives settings: fine in frequency (10.8 Hz at
#: 44.1 kHz) and in time (a 5.8 ms hop).
MEASURE_SETTINGS = DisplaySettings(n_fft=4096, overlap=0.9375)


def _inside(axis: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indices of ``axis`` (increasing) within ``[lo, hi]``; the nearest one when none."""
    idx = np.nonzero((axis >= lo) & (axis <= hi))[0]
    if idx.size:
        return idx
    return np.array([int(np.argmin(np.abs(axis - (lo + hi) / 2)))])


def measure(samples: np.ndarray, sr: int, box: Box, *, start: float = 0.0,
            settings: DisplaySettings | None = None, result: AnomalyResult | None = None,
            calibration=None) -> dict[str, float]:
    """Measure ``box`` on ``samples`` (mono at ``sr``; ``samples[0]`` lies at ``start`` s of
    the recording, so a span with some context around the box will do).

    Returns
    -------
    dict
        The keys of :data:`COLUMNS` (``clip_score`` and ``map_peak`` only with ``result``).

    Raises
    ------
    ParameterError
        The box lies outside the samples, or is empty.
    """
    s = settings or MEASURE_SETTINGS
    if not (box.t1 > box.t0 and box.f1 > box.f0):
        raise ParameterError(f"box {box}: empty in time or frequency")
    end = start + len(samples) / sr
    if box.t1 <= start or box.t0 >= end:
        raise ParameterError(f"box {box.t0:g}-{box.t1:g} s lies outside the samples "
                             f"({start:g}-{end:g} s)")
    power, times, freqs = stft_power(samples, sr, s, start=start)
    cols = _inside(times, box.t0, box.t1)
    rows = _inside(freqs, box.f0, box.f1)
    cell = power[np.ix_(rows, cols)].astype(np.float64)
    r, c = np.unravel_index(int(np.argmax(cell)), cell.shape)
    # energy: Parseval on the one-sided spectrum, the window's power divided out
    w = _window(s.window, s.n_fft)
    nfft = s.n_fft * s.zero_padding
    raw = cell * (w.sum() / 2.0) ** 2  # back to |X|^2
    one_sided = np.where((freqs[rows] > 0) & (freqs[rows] < sr / 2), 2.0, 1.0)[:, None]
    mean_square = (raw * one_sided).sum(axis=0) / (nfft * float((w ** 2).sum()))
    energy = float(mean_square.sum() * s.hop / sr)
    per_row = (raw * one_sided).sum(axis=1)
    cum = np.cumsum(per_row)
    centre = float(freqs[rows][int(np.searchsorted(cum, cum[-1] / 2.0))]) if cum[-1] > 0 else (
        float(freqs[rows][r]))
    out = {
        "begin": float(box.t0), "end": float(box.t1), "low": float(box.f0),
        "high": float(box.f1), "duration": float(box.t1 - box.t0),
        "bandwidth": float(box.f1 - box.f0),
        "peak_time": float(times[cols][c]), "peak_freq": float(freqs[rows][r]),
        "center_freq": centre,
        "peak_power": float(10.0 * np.log10(max(cell[r, c], 1e-20))),
        "energy": float(10.0 * np.log10(max(energy, 1e-20))),
    }
    if result is not None:
        out["clip_score"] = float(result.clip_score)
        tc = _inside(np.asarray(result.times), box.t0, box.t1)
        fr = _inside(np.asarray(result.freqs), box.f0, box.f1)
        top = float(np.max(np.asarray(result.map)[np.ix_(fr, tc)]))
        out["map_peak"] = (float(calibration.calibrated(np.array([[top]]))[0, 0])
                           if calibration is not None else top)
    return out


def raven_cells(values: dict[str, float], keys: Sequence[str] | None = None) -> dict[str, str]:
    """Measurements as Raven columns and cell text (for a box's ``extra``), times to 0.1 ms,
    frequencies to 0.1 Hz, levels and scores to 0.01."""
    out = {}
    for k in keys or values:
        if k not in values or k in ("begin", "end", "low", "high"):
            continue  # the box's own corners are its coordinate columns
        v = values[k]
        fmt = "{:.4f}" if k in ("duration", "peak_time") else (
            "{:.1f}" if k in ("bandwidth", "peak_freq", "center_freq") else "{:.2f}")
        out[COLUMNS[k]] = fmt.format(v)
    return out
