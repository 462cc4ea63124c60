"""Model files saved by earlier versions of specview: their detector parameters completed so
that they score exactly as they did when saved (a parameter added since then takes the value
that reproduces the old behaviour, not today's default)."""

from __future__ import annotations

from specview.encoders.base import Encoder

#: Parameters added after model files were first written, with the value that gives the
#: behaviour of the files saved without them.
ADDED = {"patchcore": {"freq_context": False}}


def saved_params(method: str, saved: dict, encoder: Encoder) -> dict:
    """A model file's saved ``method_params``, completed for today's parameter classes."""
    params = _smoothing_in_cells(dict(saved), encoder)
    for key, value in ADDED.get(method, {}).items():
        params.setdefault(key, value)
    return params


def _smoothing_in_cells(params: dict, encoder: Encoder) -> dict:
    """Model files from before the maps were smoothed in physical units saved ``sigma`` in
    spectrogram cells: the same Gaussian as ``smooth_s`` (s) and ``smooth_mel`` (mel)."""
    if "sigma" not in params:
        return params
    from specview.detectors.components import smoothing_cells

    sigma = float(params.pop("sigma"))
    fe = encoder.front_end
    per_row, per_frame = smoothing_cells([0.0, fe.seconds_per_frame], fe.mel_centres(), 1.0, 1.0)
    params.setdefault("smooth_s", sigma / per_frame if per_frame else 0.0)
    params.setdefault("smooth_mel", sigma / per_row if per_row else 0.0)
    return params
