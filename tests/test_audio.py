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


# -- bad input: refused with the file named, before anything is computed ------------------------

def _wav(path, seconds=0.5, sr=16000, subtype="PCM_16", x=None):
    if x is None:
        t = np.arange(int(seconds * sr)) / sr
        x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(path, x, sr, subtype=subtype)
    return path


def _set_rate(path, sr):
    import struct

    b = bytearray(path.read_bytes())
    b[24:28] = struct.pack("<I", sr)
    b[28:32] = struct.pack("<I", min(2 * sr, 2**32 - 1))
    path.write_bytes(bytes(b))


def test_truncated_wav_is_reported_with_both_durations(tmp_path):
    from specview.audio import audio_info

    p = _wav(tmp_path / "cut.wav", seconds=1.0)
    p.write_bytes(p.read_bytes()[: 44 + 2 * 4000])  # header: 16000 frames; data: 4000
    # libsndfile quietly shortens the data chunk to what is there: the reason for the check
    assert sf.info(str(p)).frames == 4000
    for read in (load_audio, audio_info):
        with pytest.raises(AudioError, match=r"cut.wav: truncated: the header says 1\.000 s but "
                                             r"the file holds 0\.250 s .*4000 of 16000 frames"):
            read(p)


def test_streamed_and_unfinished_wav_headers(tmp_path):
    import struct

    p = _wav(tmp_path / "a.wav", seconds=1.0)
    b = bytearray(p.read_bytes())
    b[40:44] = struct.pack("<I", 0xFFFFFFFF)  # "unknown size": the data runs to the end
    p.write_bytes(bytes(b))
    assert load_audio(p).duration == 1.0
    b[40:44] = struct.pack("<I", 0)  # a writer that never came back to fill the size in
    p.write_bytes(bytes(b))
    with pytest.raises(AudioError, match=r"says the recording is empty but 1\.000 s of audio "
                                         r"follow it: an unfinished recording"):
        load_audio(p)


def test_empty_file_is_refused(tmp_path):
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"e.wav: the file is empty \(0 bytes\)"):
        load_audio(tmp_path / "e.wav")


@pytest.mark.parametrize("sr,ok", [(1, False), (999, False), (1000, True), (1_000_000, True),
                                   (1_000_001, False), (4_000_000_000, False)])
def test_header_sample_rates_outside_1khz_1mhz_are_refused(tmp_path, sr, ok):
    from specview.audio import audio_info

    p = _wav(tmp_path / "r.wav")
    _set_rate(p, sr)
    if ok:
        assert audio_info(p)[0] == sr and load_audio(p).sr == sr
    else:
        with pytest.raises(AudioError, match=rf"sample rate of {sr} Hz, outside 1 kHz-1 MHz"):
            load_audio(p)


def test_samples_beyond_full_scale(tmp_path):
    x = np.zeros(1000, dtype=np.float32)
    x[10] = 1.5  # a float recording above full scale: kept as it is
    assert load_audio(_wav(tmp_path / "over.wav", x=x, subtype="FLOAT")).samples[10] == 1.5
    x[10] = 1001.0  # beyond +60 dBFS: refused
    with pytest.raises(AudioError, match=r"1 sample\(s\) reach 1e\+03 times full scale"):
        load_audio(_wav(tmp_path / "far.wav", x=x, subtype="FLOAT"))
    x[10] = 3e38  # its square would be infinite
    with pytest.raises(AudioError, match=r"reach 3e\+38 times full scale"):
        load_audio(_wav(tmp_path / "huge.wav", x=x, subtype="FLOAT"))


def test_constant_clips_are_told_apart_from_quiet_ones():
    from specview.audio import check_not_constant
    from specview.types import Audio

    with pytest.raises(AudioError, match=r"a.wav: the training clip is silent"):
        check_not_constant(Audio(np.zeros(100, np.float32), 8000, path="a.wav"))
    with pytest.raises(AudioError, match=r"constant \(every sample is -0\.5"):
        check_not_constant(Audio(np.full(100, -0.5, np.float32), 8000, path="a.wav"))
    quiet = np.random.default_rng(0).standard_normal(100).astype(np.float32) * 1e-4
    check_not_constant(Audio(quiet, 8000))  # -80 dBFS noise is sound


def test_truncated_flac_stops_with_what_decodes(tmp_path):
    t = np.arange(32000) / 16000
    p = tmp_path / "a.flac"
    sf.write(p, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(AudioError, match=r"a.flac: truncated or damaged: the header says 2\.000 s "
                                         r"but only [01]\.\d+ s decode"):
        load_audio(p)
