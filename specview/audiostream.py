"""Reading a recording of any length in bounded memory: blocks, streamed resampling, mel frames.

The one-shot path (:func:`specview.audio.load_audio`, :func:`~specview.audio.resample`,
:func:`~specview.spectrogram.mel_power`) holds the whole recording in memory. The functions here
give the same numbers (bit for bit, measured below) while holding only

- one block of the file (``block_frames`` frames of every channel, float32) and its mono mix;
- the resampler's state (soxr's filter history and pending output, a few thousand samples);
- in :class:`MelStream`, the samples of the STFT frames not yet returned, at most one block of
  2048 frames (``2047 * hop + n_fft`` samples, 8 MiB at 2048/1024) plus the block being pushed,
  and that block's power while it is computed (8 MiB); it would need only one STFT window, but
  frames then agree with mel_power only to float32 rounding (see :class:`MelStream`);
- the mel frames of the current block, which the caller consumes.

None of it grows with the recording's length. Imports numpy, soundfile and soxr only (core
ring; librosa is loaded when a mel filter bank is first built, as in :mod:`specview.spectrogram`).

Streaming versus one shot, measured (noise at 0.3 full scale and a machine tone; rates
16000->44100, 48000->32000, 32000->44100, 44100->16000, 8000->44100, 22050->44100,
44100->48000, 96000->44100; 1-333331 samples; blocks of 1, 997, 1000, 4096 and 262144):

- :class:`Resampler` equals :func:`specview.audio.resample` exactly: max abs difference 0.0,
  away from the ends and within 100 samples of either end, at every block size (soxr's HQ
  filter is a fixed polyphase FIR: its output does not depend on the split). Only the length
  differs: soxr stops at ``n * sr_out / sr_in`` rounded (halves up), librosa zero-pads to
  ``ceil(n * (sr_out / sr_in))`` in floating point (147 frames 44100->48000 give 161, not
  160); :meth:`Resampler.flush` pads to that length.
- :class:`MelStream` equals mel_power exactly (the same computation per block of frames), and
  :func:`iter_power` equals ``mel_power(load_for(...))`` exactly, resampled or not (max
  relative difference 0.0).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from specview import audio as _audio
from specview import spectrogram as _spec
from specview.audio import check_samples
from specview.errors import AudioError, ParameterError
from specview.spectrogram import MelFrontEnd, mel_filters

#: Frames read per block by :func:`iter_blocks` unless told (1 MiB of float32 per channel).
DEFAULT_BLOCK_FRAMES = 262_144
#: mel_power's block of frames (one ``fb @ power.T`` each), and the frames whose FFT
#: :class:`MelStream` computes at once within a block.
_MEL_BLOCK, _FFT_ROWS = _spec._FRAMES_PER_BLOCK, 128


def _is_whole(v: object, minimum: int) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | np.integer) and v >= minimum


def _check_channel(path: Path, channel: object, n_channels: int) -> None:
    if channel is None:
        return
    if not _is_whole(channel, -2**62):
        raise ParameterError(f"{path}: channel must be a whole number >= 0 or None (mean of "
                             f"channels), got {channel!r}")
    if not 0 <= channel < n_channels:
        raise AudioError(
            f"{path}: channel {channel} requested but the file has {n_channels} channel(s) "
            f"(valid: 0-{n_channels - 1})"
        )


def _span(path: Path, sr: int, frames: int, start: float, end: float | None) -> tuple[int, int]:
    """``(first, last)`` frame of the part of the file asked for, as load_audio rounds them."""
    for name, v in (("start", start), ("end", end)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float | np.number)
                              or not math.isfinite(v)):
            raise ParameterError(f"{path}: {name} must be a finite number of seconds, got {v!r}")
    first = max(0, int(round(start * sr)))
    last = frames if end is None else min(frames, int(round(end * sr)))
    if last <= first:
        raise AudioError(
            f"{path}: the requested span {start:g}-{end} s holds no samples "
            f"(file is {frames / sr:.3f} s long)"
        )
    return first, last


def iter_blocks(path: str | Path, *, channel: int | None = None, start: float = 0.0,
                end: float | None = None, block_frames: int = DEFAULT_BLOCK_FRAMES,
                ) -> Iterator[np.ndarray]:
    """Read a recording as mono float32 blocks at the file's own rate.

    Header (checked as :func:`specview.audio.load_audio` checks it), channel and span are
    checked by the call, before any sample is read; then the blocks are read one at a time.

    Parameters
    ----------
    path : str or Path
    channel : int, optional
        Channel to keep (0-based). By default all channels are averaged, as load_audio does.
    start, end : float, seconds
        Part of the file to read (rounded to frames as load_audio rounds them).
    block_frames : int
        Frames per block (the last may be shorter). Memory: one block of every channel.

    Yields
    ------
    np.ndarray
        float32, shape (n,), ``1 <= n <= block_frames``. Their concatenation equals
        ``load_audio(path, channel=channel, start=start, end=end).samples`` exactly.

    Raises
    ------
    AudioError
        As load_audio, with the file named: a missing, empty, unreadable or truncated file
        (a WAV whose header claims more than the file holds, or a file that stops decoding
        before the header's frame count: both durations are given), a sample rate outside
        1 kHz-1 MHz, a span without samples, a channel that does not exist. Raised while
        iterating: a block holding NaN, infinite or beyond +60 dBFS samples (the message gives
        the time in seconds of the first bad sample), a read that fails or stops early.
    ParameterError
        ``block_frames`` below 1, a channel that is not a whole number, a non-finite span.
    """
    path = Path(path)
    if not _is_whole(block_frames, 1):
        raise ParameterError(f"block_frames must be a whole number >= 1, got {block_frames!r}")
    sr, n_channels, frames = _audio._checked_header(path)
    _check_channel(path, channel, n_channels)
    first, last = _span(path, sr, frames, start, end)
    return _read_blocks(path, sr, n_channels, frames, first, last, channel, int(block_frames))


def _read_blocks(path: Path, sr: int, n_channels: int, frames: int, first: int, last: int,
                 channel: int | None, block_frames: int) -> Iterator[np.ndarray]:
    try:
        f = sf.SoundFile(str(path))
    except Exception as exc:  # libsndfile raises several types
        raise _decode_error(path, sr, frames, None, exc) from None
    with f:
        try:
            f.seek(first)
            f.tell()  # what SoundFile.read does before its read, as in load_audio
        except Exception as exc:
            raise _decode_error(path, sr, frames, None, exc) from None
        readf = _sequential_reader(f)
        pos = first
        while pos < last:
            want = min(block_frames, last - pos)
            try:
                if readf is None:
                    data = f.read(want, dtype="float32", always_2d=True)
                else:
                    data = np.empty((want, n_channels), np.float32)
                    data = data[:readf(data)]
            except Exception as exc:
                raise _decode_error(path, sr, frames, pos, exc) from None
            got = data.shape[0]
            if got == 0 and pos == first:
                raise AudioError(f"{path}: the file holds no samples (empty recording)")
            if got < want:
                raise AudioError(
                    f"{path}: truncated: the header says {frames / sr:.3f} s but only "
                    f"{(pos + got) / sr:.3f} s could be read"
                )
            _check_block(data, path, pos, sr)
            if channel is None:
                mono = data.mean(axis=1) if n_channels > 1 else data[:, 0]
            else:
                mono = data[:, channel]
            del data
            pos += got
            yield np.ascontiguousarray(mono, dtype=np.float32)


def _sequential_reader(f: sf.SoundFile):
    """``read(out) -> frames``: libsndfile's ``sf_readf_float`` into ``out`` (float32, (n,
    channels), C order) from where the last read stopped; None where soundfile does not expose
    it. ``SoundFile.read`` seeks to the position it reached after every read; for MP3 that is a
    real ``mpg123_seek``, decoding restarts without the bit reservoir, and a file read in blocks
    decodes to other samples than one read (libsndfile 1.2.2, a 60 s MP3: a fifth of the samples
    differ, by up to 0.04 of full scale). Reading on without the seek decodes as one read."""
    try:
        ffi, snd = sf._ffi, sf._snd
        handle = f._file
        readf, error, strerror = snd.sf_readf_float, snd.sf_error, snd.sf_error_number
    except AttributeError:
        return None

    def read(out: np.ndarray) -> int:
        n = int(readf(handle, ffi.cast("float *", ffi.from_buffer(out)), out.shape[0]))
        err = error(handle)
        if err:
            raise RuntimeError(ffi.string(strerror(err)).decode("utf-8", "replace"))
        return n

    return read


def _check_block(data: np.ndarray, path: Path, pos: int, sr: int) -> None:
    """check_samples on one block; the message adds where in the file the first bad sample is."""
    try:
        check_samples(data, path)
    except AudioError as exc:
        bad = ~np.isfinite(data) | (np.abs(np.nan_to_num(data)) > _audio.MAX_ABS_SAMPLE)
        row = int(np.argmax(bad.any(axis=1)))
        raise AudioError(
            f"{exc} (found at {(pos + row) / sr:.3f} s, the first bad sample of the block "
            f"{pos / sr:.3f}-{(pos + data.shape[0]) / sr:.3f} s)"
        ) from None


def _decode_error(path: Path, sr: int, frames: int, pos: int | None,
                  exc: BaseException) -> AudioError:
    """load_audio's message for a read that fails: truncated when fewer frames decode than the
    header says. ``pos``: the frame where the failing read began (decoding is resumed there
    rather than from the start, so a failure late in a long file costs one short read)."""
    decodable = _audio._decodable_frames(path) if pos is None else _decodable_from(path, pos)
    if decodable is not None and decodable < frames:
        return AudioError(
            f"{path}: truncated or damaged: the header says {frames / sr:.3f} s but "
            f"only {decodable / sr:.3f} s decode ({_audio._one_line(exc)})"
        )
    return AudioError(f"{path}: cannot read audio ({_audio._one_line(exc)})")


def _decodable_from(path: Path, pos: int) -> int:
    """Frames that decode before the first error, counting from ``pos`` (which decoded)."""
    n = 0
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(pos)
            while got := len(f.read(4096, dtype="float32", always_2d=True)):
                n += got
    except Exception:
        pass
    return pos + n


def resampled_length(n_in: int, sr_in: int, sr_out: int) -> int:
    """Samples :func:`specview.audio.resample` returns for ``n_in`` input samples.

    ``ceil(n_in * (sr_out / sr_in))`` computed as librosa computes it (the ratio in floating
    point, so a product a rounding error above a whole number gives one sample more), and
    ``n_in`` itself when the rates are equal.
    """
    if not _is_whole(n_in, 0):
        raise ParameterError(f"n_in must be a whole number >= 0, got {n_in!r}")
    _check_rates(sr_in, sr_out)
    if sr_in == sr_out:
        return int(n_in)
    return int(math.ceil(int(n_in) * (float(sr_out) / sr_in)))


def _check_rates(sr_in: object, sr_out: object) -> None:
    if not (_is_whole(sr_in, 1) and _is_whole(sr_out, 1)):
        raise ParameterError(f"sample rates must be positive whole numbers (Hz), got "
                             f"{sr_in!r} -> {sr_out!r}")


class Resampler:
    """Streaming band-limited resampling, equal to :func:`specview.audio.resample` of the whole.

    soxr's ``ResampleStream`` (HQ, float32, mono), the engine librosa's ``res_type="soxr_hq"``
    runs in one shot. Push blocks of any size; :meth:`flush` (the last call) returns the rest,
    zero-padded or trimmed so the total is :func:`resampled_length` of everything pushed.
    Measured: the concatenated output equals the one-shot output exactly (max abs difference
    0.0 everywhere, ends included) for blocks of 1000, 4096 and 262144 samples (and 1 and 997):
    the filter is a fixed polyphase FIR whose output does not depend on the split. Memory: the
    filter's history and pending output (a few thousand samples), independent of the length.

    Parameters
    ----------
    sr_in, sr_out : int, Hz
        Equal rates pass the samples through unchanged.

    Attributes
    ----------
    n_in, n_out : int
        Samples pushed and returned so far.
    """

    def __init__(self, sr_in: int, sr_out: int) -> None:
        _check_rates(sr_in, sr_out)
        self.sr_in, self.sr_out = int(sr_in), int(sr_out)
        self._stream = None if self.sr_in == self.sr_out else soxr.ResampleStream(
            self.sr_in, self.sr_out, 1, dtype="float32", quality="HQ")
        self.n_in = self.n_out = 0
        self._flushed = False

    def push(self, x: np.ndarray) -> np.ndarray:
        """Resample the next samples; returns those now complete (float32, 1-D, maybe empty)."""
        if self._flushed:
            raise ParameterError("Resampler.push after flush(): make a new Resampler")
        x = np.ascontiguousarray(x, dtype=np.float32)
        if x.ndim != 1:
            raise ParameterError(f"Resampler.push takes mono samples (1-D), got shape {x.shape}")
        self.n_in += len(x)
        y = x.copy() if self._stream is None or not len(x) else self._stream.resample_chunk(x)
        self.n_out += len(y)
        return y

    def flush(self) -> np.ndarray:
        """The remaining samples; the total returned is then exactly
        ``resampled_length(n_in, sr_in, sr_out)``. The last call on this object."""
        if self._flushed:
            raise ParameterError("Resampler.flush called twice")
        self._flushed = True
        if self._stream is None:
            return np.zeros(0, np.float32)
        tail = self._stream.resample_chunk(np.zeros(0, np.float32), last=True)
        want = resampled_length(self.n_in, self.sr_in, self.sr_out) - self.n_out
        if want < 0:  # soxr rounds, librosa takes the ceiling: never seen
            raise RuntimeError(f"soxr returned {-want} samples more than librosa would")
        tail = np.concatenate([tail[:want], np.zeros(max(0, want - len(tail)), np.float32)])
        self._stream = None
        self.n_out += len(tail)
        return tail


class MelStream:
    """Streaming :func:`specview.spectrogram.mel_power`: mel power frames as samples arrive.

    Frame ``k`` is mel_power's frame ``k`` of the concatenation of every pushed block: nominally
    the window starting at ``k * hop - n_fft // 2``, moved inside the recording where it would
    reach beyond it, and the whole recording zero-padded when it is shorter than one window.
    Since the moved end frames depend on the total length, a frame is complete once
    ``k * hop - n_fft // 2 + n_fft`` samples (and at least ``n_fft``) have arrived; the rest
    come from :meth:`finish` (or from the push that completes ``n_samples``).

    Frames come in mel_power's own blocks of 2048 frames, ``[0, 2048)``, ``[2048, 4096)``, ...:
    :meth:`push` returns a block once all its frames are complete, computed as mel_power does
    (same window, float32 rfft and power, one ``fb @ power.T`` per block, one BLAS thread), so
    frames are equal bit for bit. Frames returned one by one would not be: OpenBLAS's ``sgemm``
    rounds a column according to how many columns the call has (measured: up to 5.3e-7
    relative difference on a quarter of the columns).

    Memory: the samples still needed, at most ``2047 * hop + n_fft`` (8 MiB at 2048/1024) plus
    the block being pushed, and one block's power while it is computed, ``2048 x (n_fft/2 + 1)``
    float32 (8 MiB); the FFTs run 128 frames at a time. Measured peak of :func:`iter_power`, 120
    s at 44.1 kHz, default front end, 30 s blocks: 36 MB (mel_power's FFT of one block alone
    peaks at 80 MB, on top of the whole recording).

    Parameters
    ----------
    fe : MelFrontEnd
        The samples pushed are at ``fe.sr``; ``fe.gain_db`` is applied as mel_power applies it.
    n_samples : int, optional
        The recording's length when known in advance: :attr:`n_frames` is then known, pushing
        more is refused, finishing with fewer is refused, and the end frames come with the push
        that completes the recording.

    Attributes
    ----------
    received, emitted : int
        Samples pushed so far; frames returned so far (the index of the next frame).
    """

    def __init__(self, fe: MelFrontEnd, n_samples: int | None = None) -> None:
        if not isinstance(fe, MelFrontEnd):
            raise ParameterError(f"MelStream needs a MelFrontEnd, got {type(fe).__name__}")
        if n_samples is not None and not _is_whole(n_samples, 0):
            raise ParameterError(f"n_samples must be a whole number >= 0, got {n_samples!r}")
        self.fe = fe
        self.n_samples = None if n_samples is None else int(n_samples)
        self._pad = fe.n_fft // 2
        self._win = _spec._window(fe)
        self._fb = mel_filters(fe)
        self._gain = np.float32(10.0 ** (fe.gain_db / 20.0)) if fe.gain_db else None
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # index in the recording of self._buf[0]
        self.received = self.emitted = 0
        self._finished = False

    @property
    def n_frames(self) -> int | None:
        """Frames of the whole recording (``1 + n_samples // hop``) if ``n_samples`` is known."""
        return None if self.n_samples is None else self.fe.n_frames(self.n_samples)

    def _empty(self) -> np.ndarray:
        return np.zeros((self.fe.n_mels, 0), np.float32)

    def push(self, samples: np.ndarray) -> np.ndarray:
        """Add the next samples; returns the frames now complete.

        Returns
        -------
        np.ndarray
            float32, shape (n_mels, k), k >= 0: frames ``emitted .. emitted + k - 1``.
        """
        if self._finished:
            raise ParameterError("MelStream.push after finish(): make a new MelStream")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ParameterError(f"MelStream.push takes mono samples (1-D), got shape {x.shape}")
        if self.n_samples is not None and self.received + len(x) > self.n_samples:
            raise ParameterError(
                f"MelStream was told the recording has {self.n_samples} samples, got "
                f"{self.received + len(x)}")
        if len(x) == 0:
            return self._empty()
        if self._gain is not None:
            x = x * self._gain
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x.copy()
        self.received += len(x)
        if self.n_samples is not None and self.received == self.n_samples:
            return self._end()
        fe = self.fe
        if self.received < fe.n_fft:
            return self._empty()
        ready = (self.received - fe.n_fft + self._pad) // fe.hop_length + 1
        stop = self.emitted + (ready - self.emitted) // _MEL_BLOCK * _MEL_BLOCK
        if stop <= self.emitted:
            return self._empty()
        k = np.arange(self.emitted, stop, dtype=np.int64)
        out = self._frames(self._buf, np.maximum(k * fe.hop_length - self._pad, 0)
                           - self._buf_start)
        self.emitted = stop
        # keep what later frames can still need: from the next frame's start, or the last
        # window (the end frames are moved inside the recording), whichever is earlier
        keep = max(0, min(self.emitted * fe.hop_length - self._pad, self.received - fe.n_fft))
        if keep > self._buf_start:
            self._buf = self._buf[keep - self._buf_start:].copy()
            self._buf_start = keep
        return out

    def finish(self) -> np.ndarray:
        """The remaining frames, once every sample has been pushed. The last call.

        Returns
        -------
        np.ndarray
            float32, shape (n_mels, k): frames ``emitted .. 1 + received // hop - 1``.
        """
        if self._finished:
            raise ParameterError("MelStream.finish called twice")
        if self.n_samples is not None and self.received != self.n_samples:
            raise ParameterError(
                f"MelStream was told the recording has {self.n_samples} samples, got only "
                f"{self.received}")
        return self._end()

    def _end(self) -> np.ndarray:
        self._finished = True
        fe = self.fe
        n = self.received
        n_frames = fe.n_frames(n)
        if self.emitted >= n_frames:
            return self._empty()
        x = self._buf
        if n < fe.n_fft:  # mel_power's zero padding (nothing was emitted yet)
            x = np.pad(x, (self._pad, max(0, fe.n_fft - n - self._pad)))
            last, offset = len(x) - fe.n_fft, 0
        else:
            last, offset = n - fe.n_fft, self._buf_start
        k = np.arange(self.emitted, n_frames, dtype=np.int64)
        out = self._frames(x, np.clip(k * fe.hop_length - self._pad, 0, last) - offset)
        self.emitted = n_frames
        self._buf = np.zeros(0, np.float32)
        return out

    def _frames(self, x: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """Mel power of the windows of ``x`` at ``starts`` (from a block boundary), as mel_power
        computes it; the FFTs run _FFT_ROWS at a time (the same numbers: each row's FFT is its
        own) since numpy's rfft of a whole 2048 x 2048 block peaks at 80 MB."""
        fe = self.fe
        if len(starts) and (starts.min() < 0 or starts.max() + fe.n_fft > len(x)):
            raise RuntimeError("MelStream: a frame outside the kept samples (a bug)")
        view = np.lib.stride_tricks.sliding_window_view(x, fe.n_fft)
        out = np.empty((fe.n_mels, len(starts)), dtype=np.float32)
        with _spec._blas_controller().limit(limits=1, user_api="blas"):
            for a in range(0, len(starts), _MEL_BLOCK):
                s = starts[a:a + _MEL_BLOCK]
                power = np.empty((len(s), fe.n_fft // 2 + 1), dtype=np.float32)
                for b in range(0, len(s), _FFT_ROWS):
                    spec = np.fft.rfft(view[s[b:b + _FFT_ROWS]] * self._win, axis=1)
                    power[b:b + _FFT_ROWS] = (spec.real**2 + spec.imag**2).astype(np.float32)
                out[:, a:a + len(s)] = self._fb @ power.T
        return out


def _plan(path: Path, fe: MelFrontEnd, channel: object, band_sr: object, start: float,
          end: float | None) -> tuple[int, int, int, int, int, list[tuple[int, int]], int]:
    """``(sr, channels, frames, first, last, resampling stages, n at fe.sr)``, from the header."""
    if not isinstance(fe, MelFrontEnd):
        raise ParameterError(f"{path}: a MelFrontEnd is needed, got {type(fe).__name__}")
    if band_sr is not None and not _is_whole(band_sr, 1):
        raise ParameterError(f"{path}: band_sr must be a positive whole number (Hz) or None, "
                             f"got {band_sr!r}")
    sr, n_channels, frames = _audio._checked_header(path)
    _check_channel(path, channel, n_channels)
    first, last = _span(path, sr, frames, start, end)
    # specview.pipeline.load_for: through band_sr first when it is below the front end's rate
    rates = [sr, fe.sr] if band_sr is None or band_sr >= fe.sr else [sr, int(band_sr), fe.sr]
    stages = [(a, b) for a, b in zip(rates, rates[1:], strict=False) if a != b]
    n = last - first
    for a, b in stages:
        n = resampled_length(n, a, b)
    return sr, n_channels, frames, first, last, stages, n


def expected_frames(path: str | Path, fe: MelFrontEnd, *, band_sr: int | None = None,
                    start: float = 0.0, end: float | None = None) -> int:
    """Mel frames :func:`iter_power` yields for a file, from its header alone.

    Equal to ``mel_power(load_for(path, encoder, channel, band_sr=band_sr), fe)``'s frame count
    (``1 + n // hop`` where ``n`` is the span's length after resampling to ``fe.sr``, through
    ``band_sr`` when it is below ``fe.sr``), so windows can be planned before reading.

    Parameters
    ----------
    path : str or Path
    fe : MelFrontEnd
    band_sr : int, Hz, optional
    start, end : float, seconds

    Raises
    ------
    AudioError
        The header checks of :func:`specview.audio.load_audio`; a span without samples.
    ParameterError
        A ``band_sr`` that is not a positive whole number.
    """
    path = Path(path)
    n = _plan(path, fe, None, band_sr, start, end)[-1]
    return fe.n_frames(n)


def iter_power(path: str | Path, fe: MelFrontEnd, *, channel: int | None = None,
               band_sr: int | None = None, start: float = 0.0, end: float | None = None,
               block_seconds: float = 30.0) -> Iterator[tuple[int, np.ndarray]]:
    """Mel power frames of a whole file, read and transformed block by block.

    Blocks of :func:`iter_blocks` -> :class:`Resampler` to ``fe.sr`` (or to ``band_sr`` and
    then to ``fe.sr`` when ``band_sr`` is below ``fe.sr``, as
    :func:`specview.pipeline.load_for` does in one shot) -> :class:`MelStream`. The header,
    channel and span are checked when this function is called.

    Parameters
    ----------
    path : str or Path
    fe : MelFrontEnd
    channel : int, optional
        As :func:`iter_blocks`.
    band_sr : int, Hz, optional
        Band-limit through this rate first (ignored at or above ``fe.sr``).
    start, end : float, seconds
    block_seconds : float
        Seconds of the file read per block: memory is one block of every channel, its
        resampled copy and its frames.

    Yields
    ------
    (int, np.ndarray)
        ``(index of the first frame, power frames float32 (n_mels, k))``, k >= 1, in order
        and without gaps; :func:`expected_frames` in total. Concatenated they equal
        ``mel_power(load_for(path, encoder, channel, band_sr=band_sr), fe).values`` exactly.

    Raises
    ------
    AudioError, ParameterError
        As :func:`iter_blocks` (bad blocks while iterating, with their time in the file);
        ``block_seconds`` not positive, ``band_sr`` not a positive whole number.
    """
    path = Path(path)
    if (isinstance(block_seconds, bool) or not isinstance(block_seconds, int | float | np.number)
            or not math.isfinite(block_seconds) or block_seconds <= 0):
        raise ParameterError(f"block_seconds must be a positive number, got {block_seconds!r}")
    sr, n_channels, frames, first, last, stages, n = _plan(path, fe, channel, band_sr, start,
                                                           end)
    block_frames = max(1, int(round(block_seconds * sr)))
    blocks = _read_blocks(path, sr, n_channels, frames, first, last, channel, block_frames)
    return _power(blocks, [Resampler(a, b) for a, b in stages], MelStream(fe, n))


def _power(blocks: Iterator[np.ndarray], resamplers: list[Resampler],
           mel: MelStream) -> Iterator[tuple[int, np.ndarray]]:
    for block in blocks:
        y = block
        for r in resamplers:
            y = r.push(y)
        k0 = mel.emitted
        out = mel.push(y)
        if out.shape[1]:
            yield k0, out
    y = np.zeros(0, np.float32)
    for r in resamplers:
        y = np.concatenate([r.push(y), r.flush()])
    if mel._finished:  # no resampling: the last block completed n_samples
        return
    k0 = mel.emitted
    out = mel.push(y)  # completes n_samples, so returns the end frames too
    if not mel._finished:
        out = np.concatenate([out, mel.finish()], axis=1)
    if out.shape[1]:
        yield k0, out
