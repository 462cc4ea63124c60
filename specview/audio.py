"""Reading recordings: any format libsndfile reads (WAV, FLAC, OGG, MP3), to mono float32."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from specview.errors import AudioError, ParameterError
from specview.types import Audio

#: File suffixes treated as audio when a folder is listed.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """Return ``(sample_rate, channels, duration_seconds)`` without reading samples."""
    path = Path(path)
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types
        raise AudioError(f"{path}: cannot read audio ({exc})") from None
    return int(info.samplerate), int(info.channels), float(info.duration)


def load_audio(
    path: str | Path,
    *,
    sr: int | None = None,
    channel: int | None = None,
    start: float = 0.0,
    end: float | None = None,
) -> Audio:
    """Read a recording as mono float32, optionally resampled.

    Parameters
    ----------
    path : str or Path
    sr : int, Hz, optional
        Target sample rate; the file's own rate when omitted.
    channel : int, optional
        Channel to keep (0-based). By default all channels are averaged.
    start, end : float, seconds
        Part of the file to read.

    Raises
    ------
    AudioError
        Unreadable, empty, zero-length or non-finite audio, or a channel that does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file")
    try:
        with sf.SoundFile(str(path)) as f:
            native_sr = int(f.samplerate)
            n_channels = int(f.channels)
            first = max(0, int(round(start * native_sr)))
            last = f.frames if end is None else min(f.frames, int(round(end * native_sr)))
            if f.frames == 0:
                raise AudioError(f"{path}: the file holds no samples (empty recording)")
            if last <= first:
                raise AudioError(
                    f"{path}: the requested span {start:g}-{end} s holds no samples "
                    f"(file is {f.frames / native_sr:.3f} s long)"
                )
            f.seek(first)
            data = f.read(last - first, dtype="float32", always_2d=True)
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{path}: cannot read audio ({exc})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples (empty recording)")
    if channel is None:
        mono = data.mean(axis=1) if n_channels > 1 else data[:, 0]
    else:
        if not 0 <= channel < n_channels:
            raise AudioError(
                f"{path}: channel {channel} requested but the file has {n_channels} channel(s) "
                f"(valid: 0-{n_channels - 1})"
            )
        mono = data[:, channel]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if not np.all(np.isfinite(mono)):
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioError(f"{path}: {bad} sample(s) are NaN or infinite; the recording is damaged")
    if sr is not None and sr != native_sr:
        mono = resample(mono, native_sr, sr)
    return Audio(samples=mono, sr=int(sr or native_sr), path=path)


def resample(samples: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Band-limited resampling (soxr, high quality) to float32."""
    if sr_in <= 0 or sr_out <= 0:
        raise ParameterError(f"sample rates must be positive, got {sr_in} -> {sr_out}")
    if sr_in == sr_out:
        return samples.astype(np.float32, copy=False)
    import librosa  # deferred: librosa imports numba, slow to load

    out = librosa.resample(samples, orig_sr=sr_in, target_sr=sr_out, res_type="soxr_hq")
    return np.ascontiguousarray(out, dtype=np.float32)


def write_audio(path: str | Path, samples: np.ndarray, sr: int) -> None:
    """Write float samples (mono or ``(n, channels)``) as 16-bit PCM (WAV/FLAC) or float WAV."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    subtype = "PCM_16" if path.suffix.lower() in (".wav", ".flac") else None
    sf.write(str(path), np.asarray(samples, dtype=np.float32), int(sr), subtype=subtype)
