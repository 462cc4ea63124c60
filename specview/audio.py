"""Reading recordings: any format libsndfile reads (WAV, FLAC, OGG, MP3), to mono float32."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from specview.errors import AudioError, ParameterError
from specview.types import Audio

#: File suffixes treated as audio when a folder is listed.
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")

#: Sample rates accepted in a file's header (Hz): anything outside is a damaged header.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 1_000_000

#: Largest sample magnitude accepted (full scale = 1.0): +60 dBFS. Float recordings may go
#: beyond full scale (32-bit float recorders keep headroom above 0 dBFS), but not by a factor
#: of a thousand; samples such as 3e38 are damage or a wrong sample type, and their squares
#: overflow to infinite power.
MAX_ABS_SAMPLE = 1_000.0

#: Peak-to-peak range at or below which a recording counts as constant (silent or DC only):
#: far below the 16-bit step (3e-5).
CONSTANT_PTP = 1e-7


def is_audio_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES


def _riff_data_claim(path: Path) -> tuple[int, int, int] | None:
    """``(sample_rate, frames claimed by the header, frames present)`` of a RIFF/WAVE file, or
    None when the file is not a RIFF/WAVE file or its header does not state a data size.

    libsndfile quietly shortens a ``data`` chunk to what the file holds, so a truncated copy
    reads as a shorter recording; the header's own claim is read here to notice it. A data size
    of 0xFFFFFFFF (writers that stream without seeking back) states nothing; a size of 0 is
    returned as claimed (an unfinished recording, when data follows it).
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[8:12] != b"WAVE" or head[:4] not in (b"RIFF", b"RIFX"):
                return None
            order = "<" if head[:4] == b"RIFF" else ">"
            sr = block = None
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, (clen,) = chunk[:4], struct.unpack(order + "I", chunk[4:])
                if cid == b"fmt " and clen >= 16:
                    fmt = f.read(16)
                    if len(fmt) < 16:
                        return None
                    _, _, sr, _, block = struct.unpack(order + "HHIIH", fmt[:14])
                elif cid == b"data":
                    if sr is None or not block or clen == 0xFFFFFFFF:
                        return None
                    present = max(0, size - pos - 8) // block
                    return int(sr), clen // block, int(present)
                pos += 8 + clen + (clen & 1)
    except OSError:
        return None
    return None


def audio_info(path: str | Path) -> tuple[int, int, float]:
    """Return ``(sample_rate, channels, duration_seconds)`` without reading samples.

    The header is checked as :func:`load_audio` checks it (see there): a missing, empty or
    unreadable file, a truncated WAV, a sample rate outside 1 kHz-1 MHz or a recording without
    samples raise :class:`AudioError`.
    """
    path = Path(path)
    sr, channels, frames = _checked_header(path)
    return sr, channels, frames / sr


def _checked_header(path: Path) -> tuple[int, int, int]:
    """``(sample_rate, channels, frames)`` of a file whose header passed every check."""
    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a folder, expected an audio file")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"{path}: cannot read audio ({exc.strerror or exc})") from None
    if size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes), not a recording")
    claim = _riff_data_claim(path)
    if claim is not None:
        _check_rate(path, claim[0])
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile raises several types
        raise AudioError(f"{path}: cannot read audio ({_one_line(exc)})") from None
    sr, channels, frames = int(info.samplerate), int(info.channels), int(info.frames)
    _check_rate(path, sr)
    if claim is not None and claim[1] > claim[2]:
        raise AudioError(
            f"{path}: truncated: the header says {claim[1] / sr:.3f} s but the file holds "
            f"{claim[2] / sr:.3f} s of audio ({claim[2]} of {claim[1]} frames); copy or "
            "export it again"
        )
    if frames <= 0 and claim is not None and claim[1] == 0 and claim[2] > 0:
        raise AudioError(
            f"{path}: the header says the recording is empty but {claim[2] / sr:.3f} s of audio "
            "follow it: an unfinished recording (its writer stopped before updating the "
            "header); re-save it with an audio editor to repair the header"
        )
    if frames <= 0:
        raise AudioError(f"{path}: the file holds no samples (empty recording)")
    return sr, channels, frames


def _check_rate(path: Path, sr: int) -> None:
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(
            f"{path}: the header claims a sample rate of {sr} Hz, outside "
            f"{MIN_SAMPLE_RATE // 1000} kHz-{MAX_SAMPLE_RATE // 1_000_000} MHz: the header is "
            "damaged (or the file is not a recording)"
        )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


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
        Refused, with the file named, before anything is computed from it:

        - a missing, empty (0 bytes) or unreadable file, or one without samples;
        - a truncated file: a WAV whose header claims more frames than the file holds (the
          message gives both durations), or a compressed file that stops decoding early.
          Refused rather than read in part: a partial copy scored or fitted on silently gives
          results for another recording than the one the user has;
        - a header sample rate outside :data:`MIN_SAMPLE_RATE`-:data:`MAX_SAMPLE_RATE`
          (1 kHz-1 MHz);
        - NaN or infinite samples, and samples beyond :data:`MAX_ABS_SAMPLE` (+60 dBFS):
          refused rather than clipped or rescaled, since no recording holds them and any
          repair would invent the signal; moderate overs (float files above 1.0) are kept;
        - a channel that does not exist.
    """
    path = Path(path)
    native_sr, n_channels, frames = _checked_header(path)
    first = max(0, int(round(start * native_sr)))
    last = frames if end is None else min(frames, int(round(end * native_sr)))
    if last <= first:
        raise AudioError(
            f"{path}: the requested span {start:g}-{end} s holds no samples "
            f"(file is {frames / native_sr:.3f} s long)"
        )
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(first)
            data = f.read(last - first, dtype="float32", always_2d=True)
    except Exception as exc:
        decodable = _decodable_frames(path)
        if decodable is not None and decodable < frames:
            raise AudioError(
                f"{path}: truncated or damaged: the header says {frames / native_sr:.3f} s but "
                f"only {decodable / native_sr:.3f} s decode ({_one_line(exc)})"
            ) from None
        raise AudioError(f"{path}: cannot read audio ({_one_line(exc)})") from None
    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file holds no samples (empty recording)")
    if data.shape[0] < last - first:
        raise AudioError(
            f"{path}: truncated: the header says {frames / native_sr:.3f} s but only "
            f"{(first + data.shape[0]) / native_sr:.3f} s could be read"
        )
    if channel is None:
        mono = data.mean(axis=1) if n_channels > 1 else data[:, 0]
    else:
        if not 0 <= channel < n_channels:
            raise AudioError(
                f"{path}: channel {channel} requested but the file has {n_channels} channel(s) "
                f"(valid: 0-{n_channels - 1})"
            )
        mono = data[:, channel]
    check_samples(data, path)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if sr is not None and sr != native_sr:
        mono = resample(mono, native_sr, sr)
    return Audio(samples=mono, sr=int(sr or native_sr), path=path)


def _decodable_frames(path: Path) -> int | None:
    """Frames that decode before the first error (None when even opening fails)."""
    n = 0
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(4096, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    return n
                n += block.shape[0]
    except Exception:
        return n if n else None


def check_samples(samples: np.ndarray, path: str | Path | None = None) -> None:
    """Refuse non-finite samples and samples beyond :data:`MAX_ABS_SAMPLE` (see
    :func:`load_audio`).

    Raises
    ------
    AudioError
        Naming ``path`` (or "audio") and how many samples are bad.
    """
    where = path if path is not None else "audio"
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(np.count_nonzero(~finite))
        raise AudioError(f"{where}: {bad} sample(s) are NaN or infinite; the recording is damaged")
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        n = int(np.count_nonzero(np.abs(samples) > MAX_ABS_SAMPLE))
        raise AudioError(
            f"{where}: {n} sample(s) reach {peak:.3g} times full scale (more than "
            f"{MAX_ABS_SAMPLE:g}, +60 dBFS): the file is damaged or holds another sample type"
        )


def check_not_constant(audio: Audio) -> None:
    """Refuse a recording whose samples are all equal (silent, or DC only): nothing to learn
    from as a normal sound. Used on training clips only: scoring a silent clip is legitimate
    (a stopped machine is an anomaly worth flagging).

    Raises
    ------
    AudioError
        Naming the clip and the constant value.
    """
    x = audio.samples
    where = audio.path if audio.path is not None else "audio"
    if x.size == 0:
        raise AudioError(f"{where}: the recording holds no samples")
    lo, hi = float(np.min(x)), float(np.max(x))
    if hi - lo <= CONSTANT_PTP:
        what = "silent (every sample is 0)" if max(abs(lo), abs(hi)) <= CONSTANT_PTP else (
            f"constant (every sample is {lo:.6g}, no sound)")
        raise AudioError(f"{where}: the training clip is {what}; remove it from the training set")


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
    """Write float samples (mono or ``(n, channels)``) as 16-bit PCM (WAV/FLAC) or float WAV,
    atomically (:func:`specview.fileio.atomic_output`: the old file or the new one, never a
    part; a write into a name that is itself a temporary file of a staged run goes directly)."""
    from specview import fileio

    path = Path(path)
    subtype = "PCM_16" if path.suffix.lower() in (".wav", ".flac") else None
    data = np.asarray(samples, dtype=np.float32)
    if fileio.is_temp_name(path.name):  # already the temporary file of an atomic write
        sf.write(str(path), data, int(sr), subtype=subtype)
        return
    with fileio.atomic_output(path) as tmp:
        sf.write(str(tmp), data, int(sr), subtype=subtype, format=_sf_format(path))


def _sf_format(path: Path) -> str | None:
    """libsndfile's format for a file name (the temporary name keeps the suffix anyway)."""
    return {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}.get(path.suffix.lower())
