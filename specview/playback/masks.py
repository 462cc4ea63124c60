"""Anomaly masks: a detector's anomaly map as a soft time-frequency mask on a linear STFT grid,
and the clip resynthesised through it ("the anomaly only" / "the clip without the anomaly").
"""

from __future__ import annotations

import numpy as np

from specview.calibration import Calibration
from specview.errors import ParameterError
from specview.playback.signals import _check_sr, _mono
from specview.types import AnomalyResult

#: Frames of the STFT processed at once by :func:`mask_resynthesis` (bounds memory).
_FRAMES_PER_BLOCK = 512


def _axis(values: np.ndarray, name: str) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise ParameterError(f"{name} must be a non-empty 1-D array of finite values")
    if v.size > 1 and np.any(np.diff(v) <= 0):
        raise ParameterError(f"{name} must be strictly increasing")
    return v


def _interp_weights(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index ``j`` and weight ``t`` so that ``f(dst) = (1-t) f(src[j]) + t f(src[j+1])``,
    linear in between and held beyond the ends (``j+1`` is clipped to the last index)."""
    if src.size == 1:
        return np.zeros(dst.size, dtype=np.intp), np.zeros(dst.size)
    j = np.clip(np.searchsorted(src, dst, side="right") - 1, 0, src.size - 2)
    t = np.clip((dst - src[j]) / (src[j + 1] - src[j]), 0.0, 1.0)
    return j, t


def map_mask(
    result_map: np.ndarray,
    map_times: np.ndarray,
    map_freqs: np.ndarray,
    stft_times: np.ndarray,
    stft_freqs: np.ndarray,
    *,
    calibration: Calibration | None = None,
) -> np.ndarray:
    """A soft mask in ``[0, 1]`` on a linear STFT grid from an anomaly map on mel rows.

    Parameters
    ----------
    result_map : np.ndarray, shape (n_mels, n_frames)
        Anomaly map (higher = more anomalous).
    map_times : np.ndarray, shape (n_frames,), seconds
    map_freqs : np.ndarray, shape (n_mels,), Hz
        The map's frame and row centres (mel-spaced rows).
    stft_times : np.ndarray, shape (n_stft_frames,), seconds
    stft_freqs : np.ndarray, shape (n_bins,), Hz
        The STFT grid.
    calibration : Calibration, optional
        When given, the mask is ``clip(calibration.calibrated(map), 0, 1)``: 0 for a typical
        normal cell and below, 1 from the flag threshold up. Otherwise the map is min-max
        normalised over the clip (a flat map gives an all-zero mask).

    Returns
    -------
    np.ndarray, float32, shape (n_bins, n_stft_frames)
        The map interpolated linearly in seconds along time and linearly in Hz between the
        mel centres along frequency (edge values held), then scaled and clipped.
    """
    m = np.asarray(result_map, dtype=np.float64)
    mt = _axis(map_times, "map times")
    mf = _axis(map_freqs, "map frequencies")
    st = _axis(stft_times, "STFT times")
    sf_ = _axis(stft_freqs, "STFT frequencies")
    if m.ndim != 2 or m.shape != (mf.size, mt.size):
        raise ParameterError(
            f"anomaly map shape {m.shape} does not match its axes "
            f"({mf.size} frequencies, {mt.size} times)"
        )
    if not np.all(np.isfinite(m)):
        raise ParameterError("the anomaly map holds NaN or infinite values")
    if calibration is not None:
        scaled = calibration.calibrated(m).astype(np.float64)
    else:
        lo, hi = float(m.min()), float(m.max())
        scaled = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    j, t = _interp_weights(mt, st)
    jn = np.minimum(j + 1, mt.size - 1)
    along_time = scaled[:, j] * (1.0 - t) + scaled[:, jn] * t  # (n_mels, n_stft_frames)
    i, u = _interp_weights(mf, sf_)
    inn = np.minimum(i + 1, mf.size - 1)
    grid = along_time[i, :] * (1.0 - u)[:, None] + along_time[inn, :] * u[:, None]
    return np.clip(grid, 0.0, 1.0).astype(np.float32)


def mask_resynthesis(
    samples: np.ndarray,
    sr: int,
    result: AnomalyResult,
    *,
    calibration: Calibration | None = None,
    invert: bool = False,
    n_fft: int = 2048,
    hop: int = 512,
) -> np.ndarray:
    """The clip filtered by its anomaly mask: "the anomaly only", or "without the anomaly".

    STFT (periodic Hann window, centred frames, zero-padded ends), multiplication by
    :func:`map_mask` (or ``1 - mask`` with ``invert``), inverse STFT by weighted overlap-add.
    The STFT is linear and reconstructs perfectly, so ``anomaly + without == samples`` to float
    precision. Frames are processed in blocks, so memory does not grow with the clip's length
    beyond the output.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
    sr : int, Hz
    result : AnomalyResult
        Its ``map`` (n_mels, n_frames), ``times`` (seconds) and ``freqs`` (Hz).
    calibration : Calibration, optional
        See :func:`map_mask`. With it, the mask is made from the profiled map the threshold
        was calibrated on (``result.extras["region_map"]``, from which flagged regions are cut,
        where there is one), not the focused map that is shown.
    invert : bool
        Multiply by ``1 - mask``: the clip without the anomaly.
    n_fft : int, samples
        STFT window length.
    hop : int, samples
        STFT hop, at most ``n_fft // 2``.

    Returns
    -------
    np.ndarray, float32, shape (n_samples,)
    """
    x = _mono(samples).astype(np.float64)
    sr = _check_sr(sr)
    # calibrated: the map the threshold was calibrated on (before the energy focus, which
    # lifts cells near the event up to twice their neighbourhood's top and so past the
    # threshold: on the demo whine it took 0.6 dB more background out with the sound)
    amap = result.extras.get("region_map", result.map) if calibration is not None else result.map
    if int(n_fft) != n_fft or n_fft < 16:
        raise ParameterError(f"n_fft {n_fft!r}: expected a whole number of samples >= 16")
    if int(hop) != hop or not 0 < hop <= n_fft // 2:
        raise ParameterError(f"hop {hop!r}: expected 1 to n_fft // 2 = {n_fft // 2} samples")
    n_fft, hop = int(n_fft), int(hop)
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    pad = n_fft // 2
    n_frames = 1 + n // hop
    total = (n_frames - 1) * hop + n_fft
    xp = np.pad(x, (pad, total - n - pad))
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
    frames = np.lib.stride_tricks.sliding_window_view(xp, n_fft)[::hop][:n_frames]
    out = np.zeros(total)
    envelope = np.zeros(total)
    w2 = window**2
    for a in range(0, n_frames, _FRAMES_PER_BLOCK):
        b = min(a + _FRAMES_PER_BLOCK, n_frames)
        spec = np.fft.rfft(frames[a:b] * window, axis=1)
        mask = map_mask(amap, result.times, result.freqs, np.arange(a, b) * hop / sr,
                        freqs, calibration=calibration).T.astype(np.float64)
        if invert:
            mask = 1.0 - mask
        y = np.fft.irfft(spec * mask, n=n_fft, axis=1) * window
        for k in range(b - a):
            s = (a + k) * hop
            out[s : s + n_fft] += y[k]
            envelope[s : s + n_fft] += w2
    return (out[pad : pad + n] / envelope[pad : pad + n]).astype(np.float32)
