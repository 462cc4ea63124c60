"""The overview of a long recording without a model, and the cache of long-recording stores.

:func:`write_overview` streams a recording (:func:`specview.audiostream.iter_power`) into a
store of :mod:`specview.longstore` that holds only the coarse spectrogram
(``overview/power_db``): what the window's overview strip shows before a model scores the
recording. Memory: one block of audio and its frames.

:func:`store_folder` names the cached store of a recording under a model (or under none): a
hash of the recording's absolute path, size and modification time and of the model file's
identity, so that a store already complete for the same key can be shown again at once.
:func:`read_columns` reads the part of a store's overview written so far (while it is being
written, too: every chunk and the attributes are replaced atomically by zarr).

Core module: numpy, zarr (through :mod:`specview.longstore`), soundfile and soxr.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specview import audiostream
from specview.audio import audio_info
from specview.longstore import LongStore, StoreError, StoreWriter
from specview.spectrogram import MelFrontEnd

#: ``attrs["kind"]`` of a store holding only the overview's spectrogram (no map, no events).
OVERVIEW_KIND = "overview"


def identity(path: str | Path) -> str:
    """``absolute path|size|mtime (ns)`` of a file: it changes when the file does."""
    p = Path(path).resolve()
    st = p.stat()
    return f"{p}|{st.st_size}|{st.st_mtime_ns}"


def store_folder(root: str | Path, recording: str | Path, model_key: str) -> Path:
    """The store folder of ``recording`` scored by the model ``model_key`` (see
    :func:`model_key`) under ``root``: ``<stem>-<16 hex digits>.zarr``."""
    digest = hashlib.sha256(f"{identity(recording)}\n{model_key}".encode()).hexdigest()[:16]
    return Path(root) / f"{Path(recording).stem}-{digest}.zarr"


def model_key(model_path: str | Path | None, fe: MelFrontEnd, *, scored: bool,
              session: str = "") -> str:
    """What identifies a store's scores: the model file (path, size, mtime) when there is one,
    ``session`` (e.g. the id of an unsaved model) when there is not, and the front end; for an
    overview-only store, the front end alone."""
    if not scored:
        return f"{OVERVIEW_KIND}|{fe!r}"
    if model_path is not None:
        return f"model|{identity(model_path)}|{fe!r}"
    return f"unsaved|{session}|{fe!r}"


def is_scored(attrs: dict) -> bool:
    """Whether a store's attributes are those of a scored store (``specview score`` or
    :func:`specview.longscore.score_long`), not an overview-only one."""
    return attrs.get("kind") != OVERVIEW_KIND and "threshold" in attrs


def open_complete(folder: str | Path, recording: str | Path) -> LongStore | None:
    """The store at ``folder`` when it is complete and was made from ``recording`` as it is now
    (same size; None otherwise, or when there is none)."""
    try:
        store = LongStore(folder)
    except StoreError:
        return None
    a = store.attrs
    try:
        size = Path(recording).stat().st_size
    except OSError:
        return None
    if not store.complete or int(a.get("recording_bytes", -1)) != size:
        return None
    return store


def write_overview(
    path: str | Path,
    fe: MelFrontEnd,
    folder: str | Path,
    *,
    channel: int | None = None,
    band_sr: int | None = None,
    block_seconds: float = 30.0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LongStore:
    """Stream ``path`` into an overview-only store at ``folder`` (created, replacing any).

    Parameters
    ----------
    progress : callable, optional
        ``progress(frames_done, n_frames)`` after each block read.
    should_stop : callable, optional
        Polled after each block; True stops with :class:`InterruptedError` (the store is left
        incomplete).

    Returns
    -------
    LongStore
        The finished store (``attrs["kind"] == "overview"``, complete).

    Raises
    ------
    AudioError, ParameterError
        As :func:`specview.audiostream.iter_power`.
    """
    path = Path(path)
    n_time = audiostream.expected_frames(path, fe, band_sr=band_sr)
    mel = fe.mel_centres()
    st = path.stat()
    duration = audio_info(path)[2]
    writer = StoreWriter(folder, n_time=n_time, freqs=mel, mel_freqs=mel,
                         seconds_per_frame=fe.seconds_per_frame, attrs={
                             "kind": OVERVIEW_KIND, "recording": str(path),
                             "recording_bytes": st.st_size, "recording_mtime": st.st_mtime,
                             "duration": duration, "front_end": repr(fe)})
    for first, power in audiostream.iter_power(path, fe, channel=channel, band_sr=band_sr,
                                               block_seconds=block_seconds):
        writer.add_power(first, power)
        if progress is not None:
            progress(first + power.shape[1], n_time)
        if should_stop is not None and should_stop():
            raise InterruptedError(f"{path}: overview stopped at "
                                   f"{(first + power.shape[1]) * fe.seconds_per_frame:.1f} s")
    writer.finish([], {})
    return LongStore(folder)


#: Excerpts read for the sketch of a recording's overview.
SKETCH_COLUMNS = 512


def sketch(path: str | Path, fe: MelFrontEnd, n_cols: int, *, channel: int | None = None,
           columns: int = SKETCH_COLUMNS) -> np.ndarray:
    """A first, coarse picture of the overview, in a second or two whatever the length: the
    mean mel power of ``columns`` short excerpts (a few STFT frames each) read at evenly spaced
    times, each spread over the overview columns nearest to it. ``(n_mels, n_cols)`` dB, the
    same grid as ``overview/power_db``; the streamed overview replaces it as it comes.
    Memory: one excerpt."""
    import soundfile as sf

    from specview.audio import check_samples, resample
    from specview.spectrogram import _window, mel_filters

    path = Path(path)
    sr, n_channels, _ = audio_info(path)
    k = max(1, min(int(columns), int(n_cols)))
    n_frames = 3
    length = fe.n_fft + (n_frames - 1) * fe.hop_length  # samples at fe.sr
    need = int(np.ceil(length * sr / fe.sr)) + 64
    excerpts = np.zeros((k, length), dtype=np.float32)
    with sf.SoundFile(str(path)) as f:
        frames = f.frames
        for i in range(k):
            first = int(np.clip((i + 0.5) * frames / k - need / 2, 0, max(0, frames - need)))
            f.seek(first)
            data = f.read(min(need, frames - first), dtype="float32", always_2d=True)
            if data.shape[0] == 0:
                continue
            check_samples(data, path)
            x = data.mean(axis=1) if channel is None else data[:, min(channel, n_channels - 1)]
            if sr != fe.sr:
                x = resample(x, sr, fe.sr)
            excerpts[i, :min(length, x.size)] = x[:length]
    if fe.gain_db:
        excerpts *= np.float32(10.0 ** (fe.gain_db / 20.0))
    # all excerpts' frames in one FFT: (k, n_frames, n_fft)
    idx = np.arange(n_frames)[:, None] * fe.hop_length + np.arange(fe.n_fft)[None, :]
    spec = np.fft.rfft(excerpts[:, idx] * _window(fe), axis=2)
    power = (spec.real ** 2 + spec.imag ** 2).astype(np.float32).mean(axis=1)  # (k, n_bins)
    mel = (mel_filters(fe) @ power.T).astype(np.float64)  # (n_mels, k)
    out = (10.0 * np.log10(np.maximum(mel, 1e-10))).astype(np.float32)
    spread = np.minimum(((np.arange(n_cols) + 0.5) * k / n_cols).astype(np.int64), k - 1)
    return out[:, spread]


@dataclass(frozen=True)
class Columns:
    """Overview columns ``c0 : c0 + n`` of a store as far as it was written.

    Attributes
    ----------
    c0 : int
    power_db : np.ndarray, (n_mels, n) float32
    score_max : np.ndarray, (n,) float32
        NaN where not scored (yet).
    frames_done : int
        Frames of the full-resolution map written (``attrs["frames_done"]``).
    """

    c0: int
    power_db: np.ndarray
    score_max: np.ndarray
    frames_done: int


def read_columns(folder: str | Path, c0: int, c1: int) -> Columns:
    """Columns ``c0 : c1`` of the overview of the store at ``folder`` (clipped to the store)."""
    store = LongStore(folder)
    power = store.root["overview/power_db"]
    n_cols = power.shape[1]
    c0, c1 = max(0, min(int(c0), n_cols)), max(0, min(int(c1), n_cols))
    c1 = max(c0, c1)
    return Columns(c0, np.asarray(power[:, c0:c1], dtype=np.float32),
                   np.asarray(store.root["overview/score_max"][c0:c1], dtype=np.float32),
                   store.frames_done)
