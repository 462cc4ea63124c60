import numpy as np
import pytest

from specview import spectrogram as S
from specview.encoders.aisfx import aisfx_front_end
from specview.errors import ParameterError
from specview.types import Audio


def _tone(f, dur=1.0, sr=44100, amp=0.5):
    t = np.arange(int(dur * sr)) / sr
    return Audio((amp * np.sin(2 * np.pi * f * t)).astype(np.float32), sr)


def test_axes_are_physical_and_layout_freq_by_time():
    fe = aisfx_front_end(1024)
    spec = S.front_end_features(_tone(1000.0, 2.0), fe)
    assert spec.values.shape == (96, 1 + 2 * 44100 // 1024)
    assert spec.times[1] - spec.times[0] == pytest.approx(1024 / 44100)
    assert np.all(np.diff(spec.freqs) > 0) and spec.freqs[-1] < 22050


@pytest.mark.parametrize("f", [300.0, 1000.0, 5000.0, 12000.0])
def test_tone_lands_in_its_mel_band(f):
    fe = aisfx_front_end(1024)
    spec = S.mel_power(_tone(f), fe)
    row = int(np.argmax(spec.values[:, 20]))
    nearest = int(np.argmin(np.abs(spec.freqs - f)))
    assert abs(row - nearest) <= 1


def test_click_lands_in_its_frame():
    sr = 44100
    x = np.zeros(3 * sr, dtype=np.float32)
    x[int(1.7 * sr)] = 1.0
    spec = S.mel_power(Audio(x, sr), aisfx_front_end(512))
    assert abs(spec.times[int(np.argmax(spec.values.sum(0)))] - 1.7) <= 512 / sr


def test_frames_that_would_pass_an_end_are_moved_inside_the_recording():
    # n_fft 2048, hop 512: frames 0 and 1 (centred 0 and 512 samples in) would need samples
    # before the first, so they are the window starting at sample 0, which is frame 2's; at
    # the end likewise the window ending at the last sample
    sr, hop = 44100, 512
    fe = aisfx_front_end(hop)
    x = np.random.default_rng(4).standard_normal(sr).astype(np.float32) * 0.1
    v = S.mel_power(Audio(x, sr), fe).values
    assert v.shape[1] == 1 + sr // hop
    np.testing.assert_array_equal(v[:, 0], v[:, 2])
    np.testing.assert_array_equal(v[:, 1], v[:, 2])
    assert not np.array_equal(v[:, 2], v[:, 3])
    last_start = sr - fe.n_fft  # frames k with k * hop - n_fft / 2 >= last_start: that window
    moved = [k for k in range(v.shape[1]) if k * hop - fe.n_fft // 2 >= last_start]
    first = moved[0]
    assert len(moved) >= 2
    for k in moved:
        np.testing.assert_array_equal(v[:, k], v[:, first])
    assert not np.array_equal(v[:, first - 1], v[:, first])
    # a steady tone keeps its level in the first and last frames (zeros would halve it)
    t = S.mel_power(_tone(1000.0), fe).values
    band = int(np.argmax(t[:, 20]))
    for k in (0, -1):
        assert 10 * np.log10(t[band, k] / t[band, 20]) == pytest.approx(0.0, abs=0.2)


def test_blockwise_stft_equals_one_block(monkeypatch):
    fe = aisfx_front_end(256)
    a = Audio(np.random.default_rng(0).standard_normal(44100).astype(np.float32) * 0.1, 44100)
    whole = S.mel_power(a, fe).values
    monkeypatch.setattr(S, "_FRAMES_PER_BLOCK", 7)
    blocks = S.mel_power(a, fe).values
    np.testing.assert_allclose(blocks, whole, rtol=1e-5, atol=1e-9)


def test_compression_matches_aisfx_formula_and_gain_is_fixed():
    fe = aisfx_front_end(1024)
    a = _tone(2000.0)
    p = S.mel_power(a, fe)
    c = S.compress(p, fe)
    np.testing.assert_allclose(c.values, np.log10(1 + 1e4 * p.values) / 9.457798957824707,
                               rtol=1e-5)
    loud = S.mel_power(a, aisfx_front_end(1024, gain_db=20.0))
    np.testing.assert_allclose(loud.values, 100 * p.values, rtol=1e-3, atol=1e-6 * loud.values.max())


def test_wrong_sample_rate_is_refused():
    with pytest.raises(ParameterError, match="22050 Hz but the front end expects 44100"):
        S.mel_power(Audio(np.zeros(22050, dtype=np.float32), 22050), aisfx_front_end())


def test_unit_sum_filters_and_window_normalisation():
    fe = aisfx_front_end()
    fb = S.mel_filters(fe)
    sums = fb.sum(axis=1)
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-4)
    # Essentia's Windowing(normalized=False), as aisfx's extractor sets it: a plain Hann
    assert S._window(fe).sum() == pytest.approx(fe.n_fft / 2, rel=1e-5)
    from dataclasses import replace

    assert S._window(replace(fe, window_norm=True)).sum() == pytest.approx(2.0, rel=1e-5)


@pytest.mark.parametrize("n_mels, fmin, fmax, htk", [(96, 0.0, 22050.0, True),
                                                     (64, 50.0, 14000.0, False),
                                                     (128, 0.0, 8000.0, False)])
def test_mel_centres_equal_librosas_without_importing_it(n_mels, fmin, fmax, htk):
    import librosa

    from specview.spectrogram import _mel_centres

    want = librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)[1:-1]
    np.testing.assert_allclose(_mel_centres(n_mels, fmin, fmax, htk), want, rtol=1e-12, atol=1e-9)
