"""The expert's display spectrogram and box measurements (issue 15), with known answers.

Two tones 50 Hz apart at 1 kHz are two ridges at FFT 4096 (linear) and one on the encoder's
grid; a tone sits on its own frequency row on the linear, log and mel scales; a full-scale sine
reads 0 dB whatever the window; a tone burst of known amplitude, frequency and duration is
measured exactly to the STFT's resolution.
"""

from __future__ import annotations

import numpy as np
import pytest

from specview.display import DisplaySettings, level_range, spectrogram
from specview.errors import ParameterError
from specview.measure import COLUMNS, measure, raven_cells
from specview.types import AnomalyResult, Box

SR = 44100


def _tones(freqs, seconds=2.0, amp=0.3):
    t = np.arange(int(seconds * SR)) / SR
    return sum(amp * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


def _ridges(profile_db, freqs, lo, hi, depth=20.0):
    """Local maxima of a level profile between lo and hi Hz, within ``depth`` dB of its top."""
    sel = (freqs >= lo) & (freqs <= hi)
    p, f = profile_db[sel], freqs[sel]
    top = p.max()
    return [float(f[i]) for i in range(1, p.size - 1)
            if p[i] > p[i - 1] and p[i] >= p[i + 1] and p[i] > top - depth]


def test_two_tones_50_hz_apart_are_two_ridges_at_fft_4096_and_one_on_the_encoder_grid():
    x = _tones([1000.0, 1050.0])
    fine = spectrogram(x, SR, DisplaySettings(n_fft=4096))
    profile = fine.values[:, 5:-5].mean(axis=1)
    peaks = _ridges(profile, fine.freqs, 900, 1150)
    assert len(peaks) == 2
    assert abs(peaks[0] - 1000) < 11 and abs(peaks[1] - 1050) < 11  # one bin: 10.8 Hz
    # the dip between them is deep
    between = profile[(fine.freqs > 1015) & (fine.freqs < 1035)].min()
    assert profile.max() - between > 20
    # the encoder's grid: aisfx's 96 mel bands
    from specview.encoders.aisfx import aisfx_front_end
    from specview.spectrogram import mel_power, to_db
    from specview.types import Audio

    fe = aisfx_front_end(1024)
    coarse = to_db(mel_power(Audio(x, SR), fe))
    assert len(_ridges(coarse.values.mean(axis=1), coarse.freqs, 800, 1300)) == 1


@pytest.mark.parametrize("scale", ["linear", "log", "mel"])
def test_a_tone_lies_on_its_frequency_row_on_every_scale(scale):
    x = _tones([3000.0], seconds=1.0)
    s = spectrogram(x, SR, DisplaySettings(n_fft=2048, scale=scale, n_rows=400,
                                           fmin=100.0, fmax=10000.0))
    assert s.freqs[0] >= 100.0 - 1e-6 and s.freqs[-1] <= 10000.0 + 1e-6
    row = int(np.argmax(s.values[:, 5:-5].mean(axis=1)))
    spacing = np.diff(s.freqs)[max(0, row - 1)]
    assert abs(s.freqs[row] - 3000.0) <= max(spacing, SR / 2048)
    # frames are centred on k * hop from the start given
    s2 = spectrogram(x, SR, DisplaySettings(n_fft=2048, scale=scale), start=12.5)
    assert s2.times[0] == pytest.approx(12.5) and s2.times[1] - s2.times[0] == pytest.approx(
        512 / SR)


@pytest.mark.parametrize("window", ["hann", "blackmanharris", "boxcar"])
def test_a_full_scale_sine_on_a_bin_reads_0_db(window):
    f = 100 * SR / 4096  # on a bin
    x = _tones([f], seconds=1.0, amp=1.0)
    s = spectrogram(x, SR, DisplaySettings(n_fft=4096, window=window, zero_padding=2))
    assert s.values[:, 10:-10].max(axis=0).mean() == pytest.approx(0.0, abs=0.01)
    lo, hi = level_range(s, DisplaySettings(db_range=60.0))
    assert hi - lo == 60.0 and hi == pytest.approx(0.0, abs=0.05)


def test_measurements_of_a_tone_burst_are_exact_to_the_resolution():
    f0 = 186 * SR / 4096  # 2002.6 Hz, on a bin of the measuring FFT
    amp, t0, dur = 0.5, 1.0, 0.3
    x = np.zeros(int(2.5 * SR), dtype=np.float32)
    t = np.arange(int(dur * SR)) / SR
    x[int(t0 * SR):int(t0 * SR) + t.size] = amp * np.sin(2 * np.pi * f0 * t)
    box = Box(0.8, 1.5, 1500.0, 2500.0)
    m = measure(x, SR, box)
    assert m["duration"] == pytest.approx(0.7) and m["bandwidth"] == pytest.approx(1000.0)
    assert abs(m["peak_freq"] - f0) < 1e-6
    assert abs(m["center_freq"] - f0) <= SR / 4096
    assert t0 <= m["peak_time"] <= t0 + dur
    assert m["peak_power"] == pytest.approx(20 * np.log10(amp), abs=0.05)
    assert m["energy"] == pytest.approx(10 * np.log10(amp ** 2 / 2 * dur), abs=0.05)
    # off a bin, zero padding keeps the peak level (Hann's scalloping is 1.4 dB without it)
    f1 = 2017.0
    x2 = _tones([f1], seconds=1.0, amp=amp)
    m2 = measure(x2, SR, Box(0.2, 0.8, 1500, 2500),
                 settings=DisplaySettings(n_fft=4096, overlap=0.9, zero_padding=8))
    assert m2["peak_power"] == pytest.approx(20 * np.log10(amp), abs=0.05)
    assert abs(m2["peak_freq"] - f1) <= SR / (4096 * 8)
    # a span with context: the same numbers when samples start later in the recording
    m3 = measure(x[int(0.5 * SR):], SR, box, start=0.5)
    assert m3["peak_power"] == pytest.approx(m["peak_power"], abs=1e-3)
    assert m3["energy"] == pytest.approx(m["energy"], abs=1e-3)


def test_map_peak_and_clip_score_inside_the_box():
    times = np.arange(100) * 0.02
    freqs = np.linspace(100, 8000, 20)
    amap = np.zeros((20, 100), dtype=np.float32)
    amap[10, 50] = 7.0  # at 1.0 s, freqs[10]
    r = AnomalyResult(amap, times, freqs, 7.0, amap.max(axis=0))

    class Cal:
        def calibrated(self, v):
            return (np.asarray(v) - 1.0) / 2.0

    x = _tones([1000.0], seconds=2.0)
    inside = measure(x, SR, Box(0.9, 1.1, freqs[9], freqs[11]), result=r, calibration=Cal())
    assert inside["map_peak"] == pytest.approx(3.0) and inside["clip_score"] == 7.0
    outside = measure(x, SR, Box(0.1, 0.3, freqs[9], freqs[11]), result=r)
    assert outside["map_peak"] == 0.0
    cells = raven_cells(inside)
    assert cells[COLUMNS["peak_freq"]] == f"{inside['peak_freq']:.1f}"
    assert COLUMNS["begin"] not in cells and COLUMNS["map_peak"] in cells


def test_bad_settings_and_boxes_are_refused():
    for bad in ({"n_fft": 100}, {"n_fft": 32768}, {"window": "triangle?"}, {"overlap": 1.0},
                {"zero_padding": 3}, {"scale": "bark"}, {"fmin": 500.0, "fmax": 100.0},
                {"db_range": 0.0}, {"colormap": "jet"}):
        with pytest.raises(ParameterError):
            DisplaySettings(**bad)
    assert DisplaySettings.from_dict({"n_fft": 4096, "unknown": 1}).n_fft == 4096
    x = _tones([1000.0], seconds=1.0)
    with pytest.raises(ParameterError, match="outside"):
        measure(x, SR, Box(5.0, 6.0, 100, 200))
