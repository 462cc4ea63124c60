"""Several models on the same clips, side by side: the comparison window's numbers, headless.

The window only shows what this module computes: each model's result for a clip
(:func:`score_with_all`), the calibrated peaks and their disagreement, the per-model rows of
numbers for a clip and the dataset (:func:`table_rows`), and the whole dataset scored by every
model (:func:`score_dataset`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specview.datasets import TestClip
from specview.results import ClipResult, as_clip, localisation, make_result, score_clip
from specview.types import AnomalyResult, Box, Progress, Spectrogram

if TYPE_CHECKING:
    from specview.pipeline import Model

PEAK_CAP = 3.0  # calibrated peaks above this all mean "clearly flagged"

#: Columns for the clip on screen: (shown name, key of the clip's localisation scores or None
#: for the values every row carries). The peak in x flag threshold first: the same unit for
#: every model; the raw clip score (each method's own scale) last.
COLUMNS = (("peak ×thr", None), ("flagged", None),
           ("spec. AUROC", "spectrogram_auroc"), ("AU-PRO", "aupro"),
           ("flag P", "box_precision"), ("flag R", "box_recall"), ("raw clip score", None))
#: Columns for the whole dataset: (shown name, key of :func:`specview.results.localisation`).
DATA_COLUMNS = (("data clip AUROC", "clip_auroc"), ("data spec. AUROC", "spectrogram_auroc"),
                ("data AU-PRO", "aupro"), ("data flag P", "box_precision"),
                ("data flag R", "box_recall"))


@dataclass
class Entry:
    """One model in the comparison."""

    name: str
    model: Model
    path: Path | None = None


def peak(model: Model, result: AnomalyResult) -> float:
    """The map's highest cell in multiples of the model's flag threshold (calibrated units);
    the raw maximum for a model without calibration."""
    top = float(result.map.max())
    cal = model.calibration
    return float(cal.calibrated([[top]])[0, 0]) if cal is not None else top


def disagreement(peaks: Sequence[float]) -> float:
    """Spread of the models' calibrated peaks (capped): 0 when they agree."""
    p = np.minimum(np.asarray(peaks, dtype=float), PEAK_CAP)
    return float(p.max() - p.min()) if p.size > 1 else 0.0


def score_with_all(path: Path, entries: Sequence[Entry]) -> list[tuple[Spectrogram, AnomalyResult]]:
    """``(display spectrogram, result)`` of ``path`` under every model; models on the same
    front end share the spectrogram."""
    cache: dict = {}
    out = []
    for e in entries:
        r, _power, display, _dt = score_clip(e.model, path, channel=e.model.info.get("channel"),
                                             cache=cache)
        out.append((display, r))
    return out


def clip_results(clip: TestClip | Path, entries: Sequence[Entry],
                 scored: Sequence[tuple[Spectrogram, AnomalyResult]], *,
                 boxes: Sequence[Box] | None = None) -> list[ClipResult]:
    """Every model's :class:`~specview.results.ClipResult` for one clip (its sidecar's boxes
    unless ``boxes`` are given, read once)."""
    clip = as_clip(clip)
    truth = list(clip.boxes() if boxes is None else boxes)
    return [make_result(e.model, clip, r, display=d, boxes=truth)
            for e, (d, r) in zip(entries, scored, strict=True)]


def summaries(entries: Sequence[Entry], results: Sequence[ClipResult]) -> list[tuple[float, float]]:
    """``(raw clip score, calibrated peak)`` per model."""
    return [(r.result.clip_score, peak(e.model, r.result))
            for e, r in zip(entries, results, strict=True)]


def score_dataset(
    paths: Sequence[Path], labels: Mapping[Path, int | None], entries: Sequence[Entry], *,
    known: Mapping[Path, list[tuple[Spectrogram, AnomalyResult]]] | None = None,
    progress: Progress | None = None,
) -> tuple[dict[Path, list[tuple[float, float]]], list[dict[str, Any]]]:
    """Every clip under every model: ``(summaries by path, each model's localisation scores
    pooled over the clips)``; ``known`` results are reused."""
    per_model: list[list[ClipResult]] = [[] for _ in entries]
    summ: dict[Path, list[tuple[float, float]]] = {}
    for i, p in enumerate(paths):
        scored = (known or {}).get(p) or score_with_all(p, entries)
        res = clip_results(dataclasses.replace(as_clip(p), label=labels.get(p)), entries, scored)
        summ[p] = summaries(entries, res)
        for k, r in enumerate(res):
            per_model[k].append(r)
        if progress is not None:
            progress(i + 1, len(paths))
    return summ, [localisation(rs) for rs in per_model]


def table_rows(entries: Sequence[Entry], clip: Path | None,
               clip_summary: Sequence[tuple[float, float]] | None,
               shown: Sequence[ClipResult], dataset: Sequence[Mapping[str, Any]] | None,
               ) -> list[dict[str, Any]]:
    """The numbers for the clip on screen (and the dataset), one dict per model."""
    out = []
    for k, e in enumerate(entries):
        row: dict[str, Any] = {"model": e.name, "method": e.model.method,
                               "encoder": e.model.encoder.name, "file": str(e.path or ""),
                               "clip": str(clip or "")}
        if clip_summary:
            row["raw clip score"], row["peak ×thr"] = clip_summary[k]
        if k < len(shown):
            cm = shown[k].localisation
            row["flagged"] = len(shown[k].flagged)
            for name, key in COLUMNS:
                if key is not None:
                    row[name] = cm.get(key)
        if dataset is not None:
            for name, key in DATA_COLUMNS:
                row[name] = dataset[k].get(key)
        out.append(row)
    return out
