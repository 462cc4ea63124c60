"""Anomaly detectors fitted on normal recordings only."""

from __future__ import annotations

from specview.detectors.base import Detector
from specview.detectors.cfa import CFA
from specview.detectors.padim import PaDiM
from specview.detectors.patchcore import PatchCore
from specview.detectors.stfpm import STFPM
from specview.detectors.zscore import ZScore

DETECTORS: dict[str, type[Detector]] = {
    "patchcore": PatchCore,
    "padim": PaDiM,
    "cfa": CFA,
    "stfpm": STFPM,
    "zscore": ZScore,  # the transparent baseline the four methods must beat
}

DEFAULT_DETECTOR = "patchcore"

__all__ = ["DETECTORS", "DEFAULT_DETECTOR", "Detector"]
