"""The encoder's parameters for a method: each detector may give its own defaults for an
encoder (:attr:`specview.detectors.base.Detector.encoder_defaults`, e.g. PaDiM reads aisfx's
blocks 2-4 where the other methods read blocks 2-3), and the user's overrides apply on top.
Every place that builds an encoder for a method (``pipeline.build``, comparisons, cluster
fits, the Fit dialog's form) asks here, so a method's model is the same however it is made."""

from __future__ import annotations

from typing import Any

from specview.detectors import DETECTORS
from specview.encoders import ENCODERS
from specview.errors import ParameterError
from specview.params import with_overrides


def encoder_defaults(method: str, encoder: str) -> dict[str, str]:
    """The method's own defaults for ``encoder``'s parameters (``--set`` text), or none."""
    if method not in DETECTORS:
        raise ParameterError(f"unknown method {method!r}; available: {', '.join(DETECTORS)}")
    return dict(DETECTORS[method].encoder_defaults.get(encoder, {}))


def encoder_params(method: str, encoder: str, overrides: dict[str, Any] | None = None) -> Any:
    """``encoder``'s parameters for ``method``: its defaults, the method's defaults for it,
    then ``overrides`` (``key: value``, without the ``encoder.`` prefix)."""
    if encoder not in ENCODERS:
        raise ParameterError(f"unknown encoder {encoder!r}; available: {', '.join(ENCODERS)}")
    merged = {**encoder_defaults(method, encoder), **(overrides or {})}
    return with_overrides(ENCODERS[encoder].Params(), merged)
