"""specview.audiostream: block reads, streamed resampling and mel frames equal the one-shot path."""

import os
import struct
import subprocess
import sys
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
from machine_sounds import machine_tone

from specview.audio import audio_info, load_audio, resample
from specview.audiostream import (
    MelStream,
    Resampler,
    expected_frames,
    iter_blocks,
    iter_power,
    resampled_length,
)
from specview.errors import AudioError, ParameterError
from specview.spectrogram import MelFrontEnd, mel_power
from specview.types import Audio

SMALL_FE = MelFrontEnd(sr=16000, n_fft=512, hop_length=128, n_mels=40, fmax=8000.0)


def _write(path, x, sr, **kw):
    sf.write(str(path), x, sr, **kw)
    return path


def _concat_blocks(path, **kw):
    blocks = list(iter_blocks(path, **kw))
    assert all(b.dtype == np.float32 and b.ndim == 1 and len(b) >= 1 for b in blocks)
    return blocks, np.concatenate(blocks)


def _concat_power(path, fe, **kw):
    chunks = list(iter_power(path, fe, **kw))
    k = 0
    for first, p in chunks:  # in order, without gaps
        assert first == k and p.dtype == np.float32 and p.shape[0] == fe.n_mels and p.shape[1]
        k += p.shape[1]
    return np.concatenate([p for _, p in chunks], axis=1)


def test_core_ring_imports():
    code = ("import specview.audiostream, sys; "
            "print(' '.join(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'librosa', 'PySide6', 'pyqtgraph')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


# --------------------------------------------------------------------------------------------
# blocks


@pytest.mark.parametrize("channels,channel", [(1, None), (2, None), (3, None), (2, 1), (3, 0)])
@pytest.mark.parametrize("block", [1000, 4096, 262144])
def test_blocks_equal_load_audio(tmp_path, channels, channel, block):
    sr = 8000
    rng = np.random.default_rng(channels)
    x = (0.3 * rng.standard_normal((3 * sr + 123, channels))).astype(np.float32)
    p = _write(tmp_path / "a.wav", x, sr, subtype="FLOAT")
    for span in ({}, {"start": 0.5}, {"start": 0.3, "end": 2.71}, {"end": 99.0}):
        blocks, y = _concat_blocks(p, channel=channel, block_frames=block, **span)
        assert max(len(b) for b in blocks) <= block
        np.testing.assert_array_equal(y, load_audio(p, channel=channel, **span).samples)


def test_pcm_blocks_equal_load_audio(tmp_path):
    x = machine_tone(2.0, 16000)
    p = _write(tmp_path / "a.wav", np.stack([x, -x[::-1]], axis=1), 16000, subtype="PCM_16")
    for channel in (None, 0, 1):
        np.testing.assert_array_equal(_concat_blocks(p, channel=channel, block_frames=777)[1],
                                      load_audio(p, channel=channel).samples)


def test_blocks_without_the_sequential_reader(tmp_path, monkeypatch):
    """Where soundfile does not expose sf_readf_float, SoundFile.read reads the blocks (exact
    for PCM and FLAC, whose seeks are exact; MP3 needs the sequential reader, tested below)."""
    import specview.audiostream as stream

    monkeypatch.setattr(stream, "_sequential_reader", lambda f: None)
    x = machine_tone(2.0, 16000)
    for name in ("a.wav", "a.flac"):
        p = _write(tmp_path / name, np.stack([x, x[::-1]], axis=1), 16000)
        np.testing.assert_array_equal(_concat_blocks(p, block_frames=5003, start=0.2)[1],
                                      load_audio(p, start=0.2).samples)


def test_header_span_and_channel_refused_before_reading(tmp_path):
    with pytest.raises(AudioError, match="nope.wav: no such file"):
        iter_blocks(tmp_path / "nope.wav")  # raised by the call, not the first next()
    (tmp_path / "e.wav").write_bytes(b"")
    with pytest.raises(AudioError, match=r"e.wav: the file is empty \(0 bytes\)"):
        iter_blocks(tmp_path / "e.wav")
    (tmp_path / "t.wav").write_text("not audio")
    with pytest.raises(AudioError, match="t.wav: cannot read audio"):
        iter_blocks(tmp_path / "t.wav")
    p = _write(tmp_path / "cut.wav", np.zeros(16000, np.float32), 16000, subtype="PCM_16")
    p.write_bytes(p.read_bytes()[: 44 + 2 * 4000])
    with pytest.raises(AudioError, match=r"cut.wav: truncated: the header says 1\.000 s but "
                                         r"the file holds 0\.250 s"):
        iter_blocks(p)
    p = _write(tmp_path / "s.wav", np.zeros((800, 2), np.float32), 8000)
    with pytest.raises(AudioError, match=r"s.wav: channel 2 requested but the file has 2 "
                                         r"channel\(s\) \(valid: 0-1\)"):
        iter_blocks(p, channel=2)
    with pytest.raises(AudioError, match="channel 2 requested"):
        load_audio(p, channel=2)  # the same refusal
    with pytest.raises(AudioError, match=r"s.wav: the requested span 5-None s holds no samples"):
        iter_blocks(p, start=5.0)
    with pytest.raises(ParameterError, match="block_frames must be a whole number >= 1"):
        iter_blocks(p, block_frames=0)
    with pytest.raises(ParameterError, match="s.wav: channel must be a whole number"):
        iter_blocks(p, channel=True)
    with pytest.raises(AudioError, match="s.wav: channel 2 requested"):
        iter_power(p, SMALL_FE, channel=2)


@pytest.mark.parametrize("bad,match", [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"),
                                       (2000.0, "times full scale")])
def test_bad_block_names_file_and_time(tmp_path, bad, match):
    sr = 8000
    x = np.zeros((5 * sr, 2), np.float32)
    x[3 * sr + 4000, 0] = bad  # 3.5 s, in the channel not asked for: refused all the same
    p = _write(tmp_path / "bad.wav", x, sr, subtype="FLOAT")
    blocks = iter_blocks(p, channel=1, block_frames=sr)
    for _ in range(3):
        next(blocks)  # the first three seconds are fine
    with pytest.raises(AudioError, match=rf"bad.wav: .*{match}.*found at 3\.500 s"):
        next(blocks)
    with pytest.raises(AudioError, match=match):
        list(iter_power(p, SMALL_FE, block_seconds=1.0))


def test_truncated_flac_stops_with_both_durations(tmp_path):
    t = np.arange(32000) / 16000
    p = tmp_path / "a.flac"
    sf.write(p, (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000)
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(AudioError, match=r"a.flac: truncated.* the header says 2\.000 s but "
                                         r"only [01]\.\d+ s"):
        list(iter_blocks(p, block_frames=3000))
    with pytest.raises(AudioError, match=r"a.flac: truncated.*2\.000 s"):
        load_audio(p)


# --------------------------------------------------------------------------------------------
# resampling


def test_resampled_length_is_what_resample_returns():
    rng = np.random.default_rng(0)
    for a, b in [(16000, 44100), (44100, 48000), (48000, 32000), (44100, 16000), (8000, 44100)]:
        for n in (1, 2, 3, 40, 80, 147, 441, 1001, 4410, 12345):
            assert resampled_length(n, a, b) == len(resample(
                rng.standard_normal(n).astype(np.float32), a, b)), (a, b, n)
    assert resampled_length(147, 44100, 48000) == 161  # 160 exactly, but librosa's float ceil
    assert resampled_length(10, 8000, 8000) == 10
    with pytest.raises(ParameterError):
        resampled_length(-1, 8000, 16000)
    with pytest.raises(ParameterError, match="sample rates must be positive"):
        Resampler(0, 16000)


@pytest.mark.parametrize("rates", [(16000, 44100), (48000, 32000), (32000, 44100),
                                   (44100, 16000), (44100, 48000)])
@pytest.mark.parametrize("block", [1000, 4096, 262144])
def test_streamed_resampling_equals_one_shot(rates, block):
    """Measured: identical samples (max abs difference 0.0), ends included, at every block size;
    the test asserts exactly that."""
    a, b = rates
    rng = np.random.default_rng(block)
    x = (0.3 * rng.standard_normal(2 * a + 147)).astype(np.float32)
    x[: a // 2] += machine_tone(0.5, a)
    r = Resampler(a, b)
    parts = [r.push(x[i:i + block]) for i in range(0, len(x), block)]
    parts.append(r.flush())
    y = np.concatenate(parts)
    ref = resample(x, a, b)
    assert len(y) == len(ref) == resampled_length(len(x), a, b) == r.n_out
    np.testing.assert_array_equal(y, ref)
    with pytest.raises(ParameterError, match="after flush"):
        r.push(x)


def test_resampler_short_and_uneven_pushes():
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 80, 147):
        x = rng.standard_normal(n).astype(np.float32)
        for a, b in [(44100, 48000), (16000, 44100), (44100, 16000), (8000, 8000)]:
            r = Resampler(a, b)
            parts = [r.push(x[:1]), r.push(x[1:1]), r.push(x[1:]), r.flush()]
            np.testing.assert_array_equal(np.concatenate(parts), resample(x, a, b))


# --------------------------------------------------------------------------------------------
# mel frames


FRONT_ENDS = [
    MelFrontEnd(),
    MelFrontEnd(sr=16000, n_fft=400, hop_length=160, n_mels=64, fmax=8000.0, gain_db=6.0),
    MelFrontEnd(sr=8000, n_fft=256, hop_length=300, n_mels=20, fmax=4000.0),  # hop > n_fft
    SMALL_FE,
]


@pytest.mark.parametrize("fe", FRONT_ENDS, ids=lambda fe: f"{fe.n_fft}/{fe.hop_length}")
def test_mel_stream_equals_mel_power(fe):
    rng = np.random.default_rng(fe.n_fft)
    lengths = [0, 1, 7, fe.n_fft // 2 + 3, fe.n_fft - 1, fe.n_fft, fe.n_fft + 1,
               10007, 2048 * fe.hop_length + 5 * fe.hop_length + 17]
    for n in lengths:
        x = (0.3 * rng.standard_normal(n)).astype(np.float32)
        ref = mel_power(Audio(x, fe.sr), fe).values
        for known in (False, True):
            ms = MelStream(fe, n if known else None)
            assert ms.n_frames == (fe.n_frames(n) if known else None)
            parts, i = [], 0
            while i < n:
                b = int(rng.integers(1, 40000))
                parts.append(ms.push(x[i:i + b]))
                i += b
                assert len(ms._buf) <= 2047 * fe.hop_length + fe.n_fft + b  # bounded
                if ms.emitted and not ms._finished:  # only frames whose window has arrived
                    assert (ms.emitted - 1) * fe.hop_length - fe.n_fft // 2 + fe.n_fft <= i
            if not (known and ms._finished):
                parts.append(ms.finish())
            y = np.concatenate(parts, axis=1)
            assert y.shape == ref.shape == (fe.n_mels, 1 + n // fe.hop_length)
            np.testing.assert_array_equal(y, ref)  # bit for bit


def test_mel_stream_refuses_misuse():
    ms = MelStream(SMALL_FE, n_samples=1000)
    ms.push(np.zeros(600, np.float32))
    with pytest.raises(ParameterError, match="has 1000 samples, got 1200"):
        ms.push(np.zeros(600, np.float32))
    with pytest.raises(ParameterError, match="got only 600"):
        ms.finish()
    with pytest.raises(ParameterError, match="1-D"):
        MelStream(SMALL_FE).push(np.zeros((10, 2), np.float32))
    ms = MelStream(SMALL_FE)
    ms.finish()
    with pytest.raises(ParameterError, match="after finish"):
        ms.push(np.zeros(3, np.float32))


# --------------------------------------------------------------------------------------------
# a file to mel frames


def _front_end_power(path, fe, channel=None, band_sr=None):
    from specview.pipeline import front_end_power  # imports torch: fine in a test

    return front_end_power(path, SimpleNamespace(front_end=fe), channel, band_sr=band_sr).values


@pytest.mark.parametrize("case", ["44k", "16k_to_44k", "48k_band_32k", "stereo_ch1",
                                  "not_hop_multiple", "long_small_fe"])
def test_iter_power_equals_front_end_power(tmp_path, case):
    fe, channel, band_sr, channels = MelFrontEnd(), None, None, 1
    sr, seconds = {"44k": (44100, 3.0), "16k_to_44k": (16000, 3.0), "48k_band_32k": (48000, 3.0),
                   "stereo_ch1": (44100, 2.0), "not_hop_multiple": (44100, 2.0),
                   "long_small_fe": (16000, 40.0)}[case]
    n = int(seconds * sr)
    if case == "not_hop_multiple":
        n += 517
    if case == "stereo_ch1":
        channels, channel = 2, 1
    if case == "48k_band_32k":
        band_sr = 32000
    if case == "long_small_fe":
        fe = SMALL_FE  # 2048-frame blocks: 16.4 s; 40 s gives three blocks
    rng = np.random.default_rng(n)
    x = np.stack([machine_tone(n / sr, sr, seed=c)[:n] + 0.05 * rng.standard_normal(n)
                  .astype(np.float32) for c in range(channels)], axis=1)
    p = _write(tmp_path / f"{case}.wav", x, sr, subtype="PCM_16")
    ref = _front_end_power(p, fe, channel, band_sr)
    y = _concat_power(p, fe, channel=channel, band_sr=band_sr, block_seconds=1.3)
    assert y.shape == ref.shape
    assert expected_frames(p, fe, band_sr=band_sr) == ref.shape[1]
    # measured: identical (max relative difference 0.0), resampled or not
    np.testing.assert_array_equal(y, ref)
    if case == "16k_to_44k":  # the equivalent one-shot spelling
        np.testing.assert_array_equal(
            y, mel_power(load_audio(p, sr=fe.sr, channel=channel), fe).values)


def test_iter_power_span_and_band_above_rate(tmp_path):
    sr = 22050
    p = _write(tmp_path / "a.wav", machine_tone(4.0, sr), sr, subtype="PCM_16")
    fe = MelFrontEnd()
    ref = mel_power(load_audio(p, sr=fe.sr, start=0.77, end=3.1), fe).values
    for band_sr in (None, 44100, 96000):  # at or above fe.sr: no band limit, as load_for
        y = _concat_power(p, fe, band_sr=band_sr, start=0.77, end=3.1, block_seconds=0.5)
        np.testing.assert_array_equal(y, ref)
        assert expected_frames(p, fe, band_sr=band_sr, start=0.77, end=3.1) == ref.shape[1]
    with pytest.raises(ParameterError, match="band_sr must be a positive whole number"):
        iter_power(p, fe, band_sr=-5)
    with pytest.raises(ParameterError, match="block_seconds must be a positive number"):
        iter_power(p, fe, block_seconds=0)


def test_memory_does_not_grow_with_length(tmp_path):
    sr, fe = 16000, SMALL_FE
    peaks = []
    for seconds in (20, 80):
        p = _write(tmp_path / f"{seconds}.wav", machine_tone(seconds, sr), sr, subtype="PCM_16")
        tracemalloc.start()
        frames = 0
        for _, power in iter_power(p, fe, block_seconds=2.0):
            frames += power.shape[1]
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert frames == expected_frames(p, fe)
    # measured: 5.9 MB for both (the samples of one block of 2048 frames, their power, the
    # file block); the one-shot path holds the whole recording (5 MB at 80 s) and more
    assert peaks[1] < 1.1 * peaks[0] + 2**19, peaks
    assert peaks[1] < 12 * 2**20, peaks


# --------------------------------------------------------------------------------------------
# long and large files

DATA_OFFSET = 104  # both headers libsndfile writes for 8 kHz mono PCM_16 (checked below)
BIG_DATA = 2**32 + 2 * 8000 * 10  # bytes: more than 4 GiB, 2**31 + 80000 frames


def _sparse_ok(tmp_path) -> bool:
    probe = tmp_path / "probe"
    with open(probe, "wb"):
        pass
    os.truncate(probe, 2**30)
    sparse = os.stat(probe).st_blocks * 512 < 2**20
    probe.unlink()
    return sparse


def _enlarge(p, fmt: str) -> None:
    """Make the header claim BIG_DATA bytes of samples and extend the file sparsely to match."""
    with open(p, "r+b") as f:
        head = f.read(DATA_OFFSET)
        if fmt == "RF64":
            # EBU Tech 3306: "RF64", 0xFFFFFFFF, "WAVE", "ds64" chunk (size >= 28) holding the
            # 64-bit RIFF size, data size and sample count; the data chunk's own size is -1
            assert head[:4] == b"RF64" and head[12:16] == b"ds64"
            assert head[DATA_OFFSET - 8:DATA_OFFSET] == b"data\xff\xff\xff\xff"
            f.seek(20)
            f.write(struct.pack("<QQQ", DATA_OFFSET + BIG_DATA - 8, BIG_DATA, BIG_DATA // 2))
        else:  # Sony Wave64: 16-byte GUIDs, 64-bit sizes that include the 24-byte chunk header
            assert head[:4] == b"riff" and head[24:28] == b"wave"
            assert head[DATA_OFFSET - 24:DATA_OFFSET - 20] == b"data"
            f.seek(16)
            f.write(struct.pack("<Q", DATA_OFFSET + BIG_DATA))
            f.seek(DATA_OFFSET - 8)
            f.write(struct.pack("<Q", 24 + BIG_DATA))
    os.truncate(p, DATA_OFFSET + BIG_DATA)  # the extension is a hole: reads as zeros


@pytest.mark.parametrize("fmt", ["RF64", "W64"])
def test_files_beyond_4_gib(tmp_path, fmt):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) does not write {fmt}")
    if not _sparse_ok(tmp_path):
        pytest.skip("the temporary folder's file system has no sparse files")
    sr = 8000
    x = machine_tone(3.0, sr)
    p = tmp_path / f"big.{fmt.lower()}"
    with sf.SoundFile(str(p), "w", samplerate=sr, channels=1, subtype="PCM_16", format=fmt) as f:
        f.write(x)
    small = load_audio(p).samples
    try:
        _enlarge(p, fmt)
        frames = BIG_DATA // 2
        assert frames > 2**31
        got_sr, channels, duration = audio_info(p)
        assert (got_sr, channels) == (sr, 1) and duration == frames / sr  # 268445.456 s
        assert os.stat(p).st_blocks * 512 < 2**24  # nothing was written to fill the hole
        np.testing.assert_array_equal(_concat_blocks(p, end=3.0)[1], small)
        near_end = duration - 1.5
        blocks, y = _concat_blocks(p, start=near_end, block_frames=5000)
        assert [len(b) for b in blocks] == [5000, 5000, 2000]
        assert not y.any()  # the hole
        fe = MelFrontEnd(sr=sr, n_fft=256, hop_length=128, n_mels=20, fmax=4000.0)
        power = _concat_power(p, fe, start=near_end)
        assert power.shape[1] == expected_frames(p, fe, start=near_end) == 1 + 12000 // 128
        assert not power.any()
    finally:
        p.unlink()


def _lossy_supported(fmt: str) -> str | None:
    if fmt not in sf.available_formats():
        return f"this libsndfile ({sf.__libsndfile_version__}) has no {fmt} support"
    return None


@pytest.mark.parametrize("fmt,ext,subtype", [("FLAC", "flac", "PCM_16"),
                                             ("OGG", "ogg", "VORBIS"),
                                             ("MP3", "mp3", "MPEG_LAYER_III")])
def test_compressed_minute_in_blocks_equals_load_audio(tmp_path, fmt, ext, subtype):
    reason = _lossy_supported(fmt)
    if reason:
        pytest.skip(reason)
    sr = 22050
    x = machine_tone(60.0, sr)
    x[sr * 30:sr * 31] += 0.2 * np.sin(2 * np.pi * 3000 * np.arange(sr) / sr).astype(np.float32)
    p = _write(tmp_path / f"a.{ext}", x, sr, format=fmt, subtype=subtype)
    # lossy formats: what matters is equality with load_audio's decode of the same file
    for span in ({}, {"start": 12.3, "end": 47.9}):
        np.testing.assert_array_equal(_concat_blocks(p, block_frames=30011, **span)[1],
                                      load_audio(p, **span).samples)
    fe = MelFrontEnd(sr=sr, n_fft=1024, hop_length=512, n_mels=64, fmax=sr / 2)
    np.testing.assert_array_equal(_concat_power(p, fe, block_seconds=7.0),
                                  mel_power(load_audio(p), fe).values)
