"""Mel spectrograms with physical axes: the display spectrogram and encoder front ends.

Everything here is numpy. The STFT runs in blocks of frames so that a long recording never
holds its full complex STFT in memory: only the ``(n_mels, n_time)`` result is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache

import numpy as np

from specview.errors import ParameterError
from specview.types import Audio, Spectrogram

_FRAMES_PER_BLOCK = 2048


@dataclass(frozen=True)
class MelFrontEnd:
    """How a recording becomes the mel spectrogram an encoder sees (all units physical)."""

    sr: int = field(default=44100, metadata={"help": "sample rate the audio is resampled to (Hz)"})
    n_fft: int = field(default=2048, metadata={"help": "STFT window length (samples)"})
    hop_length: int = field(default=1024, metadata={"help": "STFT hop (samples)"})
    n_mels: int = field(default=96, metadata={"help": "number of mel bands"})
    fmin: float = field(default=0.0, metadata={"help": "lowest mel band edge (Hz)"})
    fmax: float = field(default=22050.0, metadata={"help": "highest mel band edge (Hz)"})
    htk: bool = field(default=True, metadata={"help": "HTK mel formula (else Slaney)"})
    mel_norm: str = field(
        default="unit_sum",
        metadata={"help": "mel filter normalisation: unit_sum (each band sums to 1), slaney, none"},
    )
    window_norm: bool = field(
        default=False,
        metadata={"help": "scale the Hann window to area 2 (Essentia's convention) before the FFT"},
    )
    compression: str = field(
        default="log1p",
        metadata={"help": "log1p: scale*log10(1 + 1e4*S) (aisfx); db: 10*log10(max(S, amin))"},
    )
    scale: float = field(default=1.0 / 9.457798957824707, metadata={"help": "factor after log1p"})
    gain_db: float = field(
        default=0.0, metadata={"help": "fixed input gain (dB) applied to every clip alike"}
    )

    def __post_init__(self) -> None:
        if self.sr <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ParameterError(f"front end sizes must be positive: {self}")
        if not 0 <= self.fmin < self.fmax <= self.sr / 2:
            raise ParameterError(
                f"mel range {self.fmin}-{self.fmax} Hz must lie within 0-{self.sr / 2} Hz"
            )
        if self.mel_norm not in ("unit_sum", "slaney", "none"):
            raise ParameterError(f"mel_norm {self.mel_norm!r}: use unit_sum, slaney or none")
        if self.compression not in ("log1p", "db"):
            raise ParameterError(f"compression {self.compression!r}: use log1p or db")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def seconds_per_frame(self) -> float:
        return self.hop_length / self.sr

    def n_frames(self, n_samples: int) -> int:
        """Frames of a centred STFT of ``n_samples`` samples."""
        return 1 + n_samples // self.hop_length

    def mel_centres(self) -> np.ndarray:
        """Band centre frequencies, Hz, shape (n_mels,)."""
        return _mel_centres(self.n_mels, self.fmin, self.fmax, self.htk)


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    """librosa's mel scales: HTK, or Slaney's (linear to 1 kHz, logarithmic above)."""
    f = np.asarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    lin = f / (200.0 / 3)
    step = np.log(6.4) / 27.0
    return np.where(f >= 1000.0, 15.0 + np.log(np.maximum(f, 1e-12) / 1000.0) / step, lin)


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    step = np.log(6.4) / 27.0
    return np.where(m >= 15.0, 1000.0 * np.exp(step * (m - 15.0)), m * (200.0 / 3))


@lru_cache(maxsize=16)
def _mel_centres(n_mels: int, fmin: float, fmax: float, htk: bool) -> np.ndarray:
    # librosa.mel_frequencies' formula without importing librosa (its import takes most of a
    # second, and the window asks for the centres on its GUI thread)
    lo, hi = _hz_to_mel(np.array([fmin, fmax]), htk)
    f = _mel_to_hz(np.linspace(lo, hi, n_mels + 2), htk)[1:-1]
    f.setflags(write=False)
    return f


@lru_cache(maxsize=16)
def mel_filters(fe: MelFrontEnd) -> np.ndarray:
    """Mel filter bank, shape (n_mels, n_fft // 2 + 1), float32."""
    import librosa

    norm = {"unit_sum": 1.0, "slaney": "slaney", "none": None}[fe.mel_norm]
    fb = librosa.filters.mel(
        sr=fe.sr, n_fft=fe.n_fft, n_mels=fe.n_mels, fmin=fe.fmin, fmax=fe.fmax, htk=fe.htk, norm=norm
    ).astype(np.float32)
    fb.setflags(write=False)
    return fb


@lru_cache(maxsize=1)
def _blas_controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _window(fe: MelFrontEnd) -> np.ndarray:
    n = np.arange(fe.n_fft)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * n / fe.n_fft)  # periodic Hann
    if fe.window_norm:
        w = 2.0 * w / w.sum()
    return w.astype(np.float32)


def mel_power(audio: Audio, fe: MelFrontEnd) -> Spectrogram:
    """Mel power spectrogram of a recording already at ``fe.sr``.

    Frames are centred, so frame ``k`` is centred at ``k * hop / sr`` seconds, except near the
    ends: a frame whose window would reach beyond the recording is moved inside it (it starts
    at the first sample, or ends at the last). Padding would make those frames unlike every
    other: zeros give them half a window of silence (a drop of level at every clip edge), and a
    mirror makes the windowed frame symmetric, so its spectrum is real and each bin's power
    fluctuates twice as much (measured on the real engine benchmark: the lowest bands' first
    frame then held the maximum of a third of the normal clips' z-score maps). A moved frame is
    an ordinary frame of the recording, at most ``n_fft / 2`` samples from its nominal centre.
    Recordings shorter than one window are zero-padded.

    Returns
    -------
    Spectrogram
        ``values`` float32, shape (n_mels, 1 + n_samples // hop), unit ``"power"``.
    """
    if audio.sr != fe.sr:
        raise ParameterError(
            f"audio is at {audio.sr} Hz but the front end expects {fe.sr} Hz; "
            "load it with load_audio(path, sr=...)"
        )
    x = np.asarray(audio.samples, dtype=np.float32)
    if fe.gain_db:
        x = x * np.float32(10.0 ** (fe.gain_db / 20.0))
    pad = fe.n_fft // 2
    n_frames = fe.n_frames(len(x))
    if len(x) < fe.n_fft:
        x = np.pad(x, (pad, max(0, fe.n_fft - len(x) - pad)))
    view = np.lib.stride_tricks.sliding_window_view(x, fe.n_fft)
    last = view.shape[0] - 1
    win = _window(fe)
    fb = mel_filters(fe)
    out = np.empty((fe.n_mels, n_frames), dtype=np.float32)
    # one BLAS thread: the product is small, and OpenBLAS's idle threads keep spinning after a
    # threaded call, slowing the encoder that runs next (measured: 40 -> 80-130 ms on 2 cores)
    with _blas_controller().limit(limits=1, user_api="blas"):
        for a in range(0, n_frames, _FRAMES_PER_BLOCK):
            k = np.arange(a, min(n_frames, a + _FRAMES_PER_BLOCK), dtype=np.int64)
            starts = np.clip(k * fe.hop_length - pad, 0, last)
            block = view[starts] * win
            spec = np.fft.rfft(block, axis=1)
            power = (spec.real**2 + spec.imag**2).astype(np.float32)
            out[:, a : a + len(block)] = fb @ power.T
    times = np.arange(n_frames) * fe.seconds_per_frame
    return Spectrogram(out, times, fe.mel_centres().copy(), "power", audio.duration)


def compress(power: Spectrogram, fe: MelFrontEnd, *, amin: float = 1e-10) -> Spectrogram:
    """Apply the front end's compression to a mel power spectrogram."""
    p = power.values
    if fe.compression == "log1p":
        v = (np.log10(1.0 + 1e4 * p) * fe.scale).astype(np.float32)
        unit = "log-mel"
    else:
        v = (10.0 * np.log10(np.maximum(p, amin))).astype(np.float32)
        unit = "dB"
    return Spectrogram(v, power.times, power.freqs, unit, power.duration)


def expand(values: np.ndarray, fe: MelFrontEnd) -> np.ndarray:
    """The inverse of :func:`compress`: mel power from the front end's compressed values."""
    v = np.asarray(values, dtype=np.float64)
    if fe.compression == "log1p":
        return (np.power(10.0, v / fe.scale) - 1.0) / 1e4
    return np.power(10.0, v / 10.0)


def to_db(power: Spectrogram, *, amin: float = 1e-10) -> Spectrogram:
    """Power to decibels (re 1.0), for display and level readouts."""
    v = (10.0 * np.log10(np.maximum(power.values, amin))).astype(np.float32)
    return Spectrogram(v, power.times, power.freqs, "dB", power.duration)


def front_end_features(audio: Audio, fe: MelFrontEnd) -> Spectrogram:
    """The spectrogram an encoder consumes."""
    return compress(mel_power(audio, fe), fe)


def display_spectrogram(audio: Audio, fe: MelFrontEnd) -> Spectrogram:
    """The dB mel spectrogram shown under the heatmap: same grid as the encoder's front end."""
    return to_db(mel_power(audio, fe))
