"""The overview's first picture (issue 14): short excerpts read at evenly spaced times give the
coarse spectrogram of the whole recording at once, on the streamed overview's grid."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from machine_sounds import SR, machine_tone

from specview import overview
from specview.encoders.aisfx import aisfx_front_end
from specview.longstore import LongStore


def test_sketch_matches_the_streamed_overview(tmp_path):
    fe = aisfx_front_end(1024)
    x = machine_tone(120.0, seed=4)
    t = np.arange(60 * SR) / SR
    x[60 * SR:] += (0.2 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)  # a tone from 60 s
    path = tmp_path / "rec.wav"
    sf.write(path, x, SR)
    store = overview.write_overview(path, fe, tmp_path / "o.zarr")
    full, _, times, mel = store.overview()
    sk = overview.sketch(path, fe, full.shape[1], columns=64)
    assert sk.shape == full.shape and np.isfinite(sk).all()
    row = int(np.argmin(np.abs(mel - 6000)))
    first, second = times < 55, times > 65
    # the tone's band is loud in the second half only, in both pictures
    assert sk[row, second].mean() - sk[row, first].mean() > 20
    assert abs(sk[row, second].mean() - full[row, second].mean()) < 3
    # elsewhere the sketch follows the overview's spectrum within a few dB
    assert np.abs(sk[:, first].mean(axis=1) - full[:, first].mean(axis=1)).max() < 3
    assert isinstance(store, LongStore)
