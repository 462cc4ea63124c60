"""The Hz <-> mel-row mapping behind the frequency axis (no Qt needed)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from specview.encoders.aisfx import aisfx_front_end
from specview.gui.freq_scale import BandScale, format_hz


@pytest.fixture
def scale() -> BandScale:
    return BandScale(aisfx_front_end(512).mel_centres())


def test_band_centres_sit_mid_row(scale: BandScale) -> None:
    freqs = scale.freqs
    assert np.allclose(scale.y_of_hz(freqs), np.arange(len(freqs)) + 0.5)
    assert scale.hz_of_y(10.5) == pytest.approx(freqs[10])


def test_round_trip_and_edges(scale: BandScale) -> None:
    hz = np.array([50.0, 440.0, 1000.0, 4000.0, 15000.0, 22000.0])
    assert np.allclose(scale.hz_of_y(scale.y_of_hz(hz)), hz, rtol=1e-9)
    # 0 Hz and Nyquist lie half a band beyond the outer centres (mel filters with fmin=0)
    assert scale.y_of_hz(0.0) == pytest.approx(-0.5, abs=1e-6)
    assert scale.y_of_hz(22050.0) == pytest.approx(96.5, abs=1e-3)
    assert scale.hz_of_y(-5.0) == 0.0


def test_ticks_are_round_frequencies_spaced_apart(scale: BandScale) -> None:
    ticks = scale.ticks(0.0, 96.0, 600.0, min_px=24.0)
    labels = [format_hz(scale.hz_of_y(y), tick=True) for y in ticks]
    for want in ("100", "500", "1k", "2k", "5k", "10k", "20k"):
        assert want in labels
    px = np.diff(ticks) * 600.0 / 96.0
    assert px.min() >= 24.0 - 1e-9
    # zoomed in on 3-5 kHz: finer round values appear
    y0, y1 = scale.y_of_hz(3000.0), scale.y_of_hz(5000.0)
    fine = [format_hz(scale.hz_of_y(y), tick=True) for y in scale.ticks(y0, y1, 600.0)]
    assert {"3k", "4k", "5k"} <= set(fine) and len(fine) >= 5


def test_format_hz() -> None:
    assert format_hz(523.2) == "523 Hz"
    assert format_hz(4020.0) == "4.02 kHz"
    assert format_hz(1500.0, tick=True) == "1.5k"
    assert format_hz(499.99999, tick=True) == "500"


def test_freq_scale_is_qt_free() -> None:
    code = "import sys, specview.gui.freq_scale; print('PySide6' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
