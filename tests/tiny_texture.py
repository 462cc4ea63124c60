"""Synthetic log-mel textures on the tiny test encoder's grid, shared by the detector tests."""

from __future__ import annotations

import numpy as np

from specview.encoders.tiny import TinyEncoder
from specview.types import Spectrogram


def spec_of(values: np.ndarray, enc: TinyEncoder) -> Spectrogram:
    fe = enc.front_end
    n = values.shape[1]
    return Spectrogram(values.astype(np.float32), np.arange(n) * fe.seconds_per_frame,
                       fe.mel_centres().copy(), "log-mel", n * fe.seconds_per_frame)


def machine(seed: int, n_time: int, enc: TinyEncoder, *, clip_offset: float = 0.0) -> Spectrogram:
    """A stationary log-mel texture: fixed spectral envelope, harmonic rows, frame noise, and
    (with ``clip_offset``) a random level offset per clip."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.5, 0.2, 32)[:, None]
    rows[::5] += 0.15
    values = rows + 0.03 * rng.standard_normal((32, n_time))
    if clip_offset:
        values = values + clip_offset * rng.standard_normal()
    return spec_of(values, enc)
