import numpy as np
import pytest
import soundfile as sf

from specview.audio import load_audio, write_audio
from specview.errors import AudioError


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats_read_as_mono_float(tmp_path, ext):
    sr = 16000
    t = np.arange(sr) / sr
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    p = tmp_path / f"a.{ext}"
    sf.write(p, x, sr)
    a = load_audio(p)
    assert a.sr == sr and a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert abs(a.duration - 1.0) < 0.06  # lossy codecs pad a little
    spec = np.abs(np.fft.rfft(a.samples[:sr // 2]))
    assert abs(np.argmax(spec) * 2 - 440) <= 4


def test_channels_averaged_or_picked(tmp_path):
    sr = 8000
    data = np.stack([np.full(sr, 0.1), np.full(sr, 0.3), np.full(sr, -0.2)], axis=1)
    p = tmp_path / "multi.wav"
    sf.write(p, data, sr, subtype="FLOAT")
    assert np.allclose(load_audio(p).samples, (0.1 + 0.3 - 0.2) / 3, atol=1e-6)
    assert np.allclose(load_audio(p, channel=1).samples, 0.3, atol=1e-6)
    with pytest.raises(AudioError, match="channel 3 .* 3 channel"):
        load_audio(p, channel=3)


def test_resampling_keeps_frequency_and_length(tmp_path):
    sr = 16000
    t = np.arange(2 * sr) / sr
    write_audio(tmp_path / "a.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), sr)
    a = load_audio(tmp_path / "a.wav", sr=44100)
    assert a.sr == 44100 and abs(len(a.samples) - 2 * 44100) <= 1
    spec = np.abs(np.fft.rfft(a.samples))
    assert abs(np.argmax(spec) * 44100 / len(a.samples) - 1000) < 1


def test_span_reading(tmp_path):
    sr = 1000
    write_audio(tmp_path / "a.wav", np.linspace(-0.5, 0.5, 3 * sr), sr)
    a = load_audio(tmp_path / "a.wav", start=1.0, end=2.0)
    assert len(a.samples) == sr


def test_bad_inputs_name_the_file(tmp_path):
    missing = tmp_path / "nope.wav"
    with pytest.raises(AudioError, match="nope.wav: no such file"):
        load_audio(missing)
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio")
    with pytest.raises(AudioError, match="notes.wav: cannot read audio"):
        load_audio(text)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match="empty.wav: the file holds no samples"):
        load_audio(empty)
    nan = tmp_path / "nan.wav"
    x = np.zeros(100, dtype=np.float32)
    x[10] = np.nan
    sf.write(nan, x, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav: 1 sample"):
        load_audio(nan)
    with pytest.raises(AudioError, match="is a folder"):
        load_audio(tmp_path)
