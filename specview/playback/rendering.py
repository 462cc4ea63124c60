"""The exact signal that is played: the mask, segment, band limit, speed and fades in order."""

from __future__ import annotations

import numpy as np

from specview.calibration import Calibration
from specview.errors import ParameterError
from specview.playback.masks import mask_resynthesis
from specview.playback.signals import (
    _check_sr,
    _mono,
    _span,
    _speed_ratio,
    band_filter,
    band_limit,
    change_speed,
    fade_edges,
)
from specview.types import AnomalyResult


def render(
    samples: np.ndarray,
    sr: int,
    *,
    start: float | None = None,
    end: float | None = None,
    band: tuple[float, float] | None = None,
    mask: str | None = None,
    result: AnomalyResult | None = None,
    calibration: Calibration | None = None,
    speed: float = 1.0,
    fade_ms: float = 5.0,
) -> np.ndarray:
    """The exact signal that is played for a set of listening options.

    In this order: the anomaly mask on the whole clip (so the STFT has context), the segment,
    the band limit (filtered with the clip's real context around the segment, so the segment
    sounds as it does inside the band-limited clip), the speed change, the fades.

    Parameters
    ----------
    samples : np.ndarray, shape (n_samples,)
    sr : int, Hz
    start, end : float or None, seconds
        Span to play (see :func:`segment`); the whole clip by default.
    band : (f0, f1) or None, Hz
        Band to keep (see :func:`band_limit`).
    mask : None, "anomaly" or "without"
        Play only the anomaly or the clip without it (:func:`mask_resynthesis`); needs
        ``result``.
    result : AnomalyResult, optional
        The clip's scored map.
    calibration : Calibration, optional
        The model's normal-score calibration for the mask (see :func:`map_mask`).
    speed : float
        Playback speed 0.25-2.0 (see :func:`change_speed`).
    fade_ms : float, milliseconds
        Fade at both ends (see :func:`fade_edges`).

    Returns
    -------
    np.ndarray, float32, shape (round((i1 - i0) / speed),)
        To be played at ``sr``.
    """
    x = _mono(samples)
    sr = _check_sr(sr)
    _speed_ratio(speed)  # fail before the slow steps
    if mask not in (None, "anomaly", "without"):
        raise ParameterError(f"mask {mask!r}: use None, 'anomaly' or 'without'")
    if mask is not None:
        if result is None:
            raise ParameterError(
                f"mask {mask!r} needs the clip's anomaly result: score the clip with a model first"
            )
        x = mask_resynthesis(x, sr, result, calibration=calibration, invert=mask == "without")
    i0, i1 = _span(len(x), sr, start, end)
    if band is not None:
        try:
            f0, f1 = (float(v) for v in band)
        except (TypeError, ValueError):
            raise ParameterError(f"band {band!r}: expected two frequencies (f0, f1) in Hz") from None
        h = band_filter(f0, f1, sr)
        margin = 0 if h is None else len(h) // 2
        a, b = max(0, i0 - margin), min(len(x), i1 + margin)
        y = band_limit(x[a:b], sr, f0, f1)[i0 - a : i1 - a]
    else:
        y = np.asarray(x[i0:i1], dtype=np.float32)
    y = change_speed(y, speed)
    return fade_edges(y, sr, fade_ms)
