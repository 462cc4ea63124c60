"""Anomaly detectors fitted on normal recordings only."""

from __future__ import annotations

from specview.detectors.base import Detector
from specview.detectors.patchcore import PatchCore

DETECTORS: dict[str, type[Detector]] = {
    "patchcore": PatchCore,
}

DEFAULT_DETECTOR = "patchcore"

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "Detector"]
