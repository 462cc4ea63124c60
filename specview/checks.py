"""Checks on training clips, recordings and scores before anything is fitted or written.

Used by :mod:`specview.pipeline` (and importable from it); this module does not import it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specview.audio import check_not_constant, load_audio
from specview.errors import AudioError, ParameterError, SpecviewError, SpecviewWarning
from specview.types import AnomalyResult

if TYPE_CHECKING:
    from specview.encoders import Encoder


def check_length(path: str | Path, duration: float, encoder: Encoder) -> None:
    """Refuse a recording shorter than one feature cell of ``encoder``
    (:attr:`~specview.encoders.base.Encoder.min_seconds`).

    Raises
    ------
    AudioError
        Naming the file, its length and the minimum.
    """
    need = encoder.min_seconds
    if duration < need:
        raise AudioError(
            f"{path}: {duration:.4g} s long, shorter than one feature cell of the "
            f"{encoder.name} encoder: give clips of at least {need:.3f} s"
        )


def check_training_files(files: Sequence[Path], encoder: Encoder, channel: int | None,
                         *, resample: bool = False) -> dict[str, Any]:
    """Check every training clip before any fitting; return what the model records of them.

    Each clip is read once at its own rate and must pass :func:`specview.audio.load_audio`'s
    checks, be at least one feature cell long (:func:`check_length`) and not be constant
    (:func:`specview.audio.check_not_constant`: silent or DC-only clips are refused). All clips
    must share one sample rate: a model fitted on a mix of 8 and 96 kHz clips learns both an
    empty and a full top band as normal. With ``resample`` they are instead all brought to the
    lowest rate among them (a :class:`~specview.errors.SpecviewWarning` says so).

    Returns
    -------
    dict
        ``train_nyquist_hz`` (half the lowest rate), ``train_sample_rates`` (sorted) and
        ``band_sr`` (the rate clips pass through before the front end, or None).

    Raises
    ------
    AudioError
        Naming the first bad clip, or listing the sample rates found.
    """
    rates: dict[int, list[Path]] = {}
    for p in files:
        a = load_audio(p, channel=channel)
        check_length(p, a.duration, encoder)
        check_not_constant(a)
        rates.setdefault(a.sr, []).append(Path(p))
    lowest = min(rates)
    if len(rates) > 1:
        found = "; ".join(f"{sr} Hz: {len(ps)} ({ps[0].name}{', ...' if len(ps) > 1 else ''})"
                          for sr, ps in sorted(rates.items()))
        if not resample:
            raise AudioError(
                f"training clips have different sample rates ({found}): a model must hear one "
                f"band; pass --resample (resample=True) to bring them all to {lowest} Hz"
            )
        n = sum(len(ps) for sr, ps in rates.items() if sr != lowest)
        warnings.warn(
            f"resampled {n} training clip(s) to {lowest} Hz, the lowest rate among them "
            f"({found}): every clip now covers 0-{lowest / 2:g} Hz", SpecviewWarning,
            stacklevel=3)
    band_sr = lowest if lowest < encoder.front_end.sr else None
    return {"train_nyquist_hz": lowest / 2, "train_sample_rates": sorted(rates),
            "band_sr": band_sr}


def check_result(result: AnomalyResult, path: str | Path | None) -> AnomalyResult:
    """Refuse a score or map holding NaN or infinite values, so none reaches a results file.

    Raises
    ------
    SpecviewError
        Naming the clip.
    """
    bad = [what for what, v in (("clip score", np.asarray(result.clip_score)),
                                ("map", result.map), ("frame scores", result.frame_scores))
           if not np.all(np.isfinite(v))]
    if bad:
        raise SpecviewError(
            f"{path or 'audio'}: scoring gave NaN or infinite values ({', '.join(bad)}); "
            "nothing is written for it: the model file or the recording is damaged"
        )
    return result


def split_calibration(files: Sequence[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """``(fit files, calibration files)``: every k-th file (evenly spread, deterministic) is
    kept out of the fit to calibrate scores on; none when fewer than 8 files are given."""
    if not 0.0 <= fraction < 1.0:
        raise ParameterError(f"calibration fraction {fraction!r}; expected 0 <= f < 1")
    n = len(files)
    k = int(round(n * fraction)) if n >= 8 else 0
    if fraction > 0 and n >= 8:
        k = max(k, 2)
    if k == 0:
        return list(files), []
    idx = set(np.linspace(0, n - 1, k + 2)[1:-1].round().astype(int).tolist())
    return [p for i, p in enumerate(files) if i not in idx], [files[i] for i in sorted(idx)]
