"""Scored clips and what is measured over them: the one results layer.

A :class:`ClipResult` is one scored recording with everything known about it: the map on its
axes, the clip and frame scores, the flagged regions, the truth (expert boxes and/or the
isolated source's energy) and, derived from those, its per-clip metrics. Plain functions over
lists of them give the dataset's numbers:

* :func:`score_clips` scores recordings into results (skipping and reporting bad files);
* :func:`localisation` pools the localisation scores against expert boxes (the window's
  evaluation panel and comparison window show these);
* :func:`summarise` builds the report dict (``metrics.json`` of :func:`specview.evaluation.evaluate`);
* :func:`per_clip_rows` the rows of ``per_clip.csv``; :func:`write_rows` writes any such table.

The window, the CLI, the reports and the benchmarks read the same results; none of them
computes a metric of its own.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from specview import metrics as M
from specview.datasets import TestClip
from specview.errors import ParameterError, SpecviewError
from specview.fileio import atomic_write_text
from specview.types import AnomalyResult, Box, FlaggedRegion, Progress, Spectrogram

if TYPE_CHECKING:
    from specview.calibration import Calibration
    from specview.pipeline import Model, SpecCache

#: Deleted shares of the map's cells for the faithfulness curve.
DELETION_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass(frozen=True, eq=False)
class ClipResult:
    """One scored test clip with its ground truth (immutable).

    Attributes
    ----------
    clip : TestClip
        The recording, its label, level (``meta["level_db"]``) and sources.
    result : AnomalyResult
        Map ``(n_freq, n_time)`` on its axes (``times`` in s, ``freqs`` in Hz), clip score and
        frame scores.
    display : Spectrogram or None
        The power spectrogram in dB on the map's grid, for figures.
    score_seconds : float, s
        Time spent scoring.
    boxes : tuple of Box
        Expert boxes (from the sidecar, or given).
    box_mask : bool array ``(n_freq, n_time)`` or None
        Cells inside ``boxes``; all False for a normal clip; None when the clip has no box truth.
    energy_mask, energy_target : array ``(n_freq, n_time)`` or None
        Cells where the isolated anomaly source dominates, and its min-max log-mel.
    flagged : tuple of FlaggedRegion
        Regions above the model's calibrated threshold.
    matched : int
        Truth boxes matched by a flagged region at IoU >= the evaluation's ``min_iou``.
    faith : dict or None
        Deletion test of :func:`specview.evaluation.faithfulness_clip`.
    """

    clip: TestClip
    result: AnomalyResult
    display: Spectrogram | None = None
    score_seconds: float = 0.0
    boxes: tuple[Box, ...] = ()
    box_mask: np.ndarray | None = None  # None: no box truth for this clip
    energy_mask: np.ndarray | None = None
    energy_target: np.ndarray | None = None
    flagged: tuple[FlaggedRegion, ...] = field(default=())
    matched: int = 0
    faith: dict[str, Any] | None = None

    @property
    def path(self) -> Path:
        return self.clip.path

    @property
    def label(self) -> int | None:
        return self.clip.label

    @property
    def level(self) -> float | None:
        """The clip's event-to-background level (SNR) in dB, rounded to whole dB so that
        measured levels group with their nominal ones (a "0 dB" dropout measures -0.1 dB)."""
        v = self.clip.meta.get("level_db") if self.clip.meta else None
        try:
            return None if v in (None, "") else float(round(float(v))) + 0.0
        except (TypeError, ValueError):
            return None

    @property
    def truth(self) -> np.ndarray | None:
        """The cells of the primary truth: the boxes' when there are, else the source's energy."""
        return self.box_mask if self.box_mask is not None else self.energy_mask

    @cached_property
    def peak(self) -> tuple[int, int]:
        """``(row, column)`` of the map's highest cell."""
        r = self.result.map
        row, col = np.unravel_index(int(np.argmax(r)), r.shape)
        return int(row), int(col)

    @cached_property
    def metrics(self) -> dict[str, Any]:
        """Per-clip numbers: where the map peaks (s, Hz) and whether inside the truth, the
        cells' AUROC against the truth (None when it holds one class only) and the counts of
        truth boxes, flagged regions and matches (None without box truth)."""
        r, truth = self.result, self.truth
        row, col = self.peak
        has = truth is not None and bool(truth.any())
        return {
            "peak_time_s": float(r.times[col]),
            "peak_freq_hz": float(r.freqs[row]),
            "peak_in_truth": bool(truth[row, col]) if has else None,
            "cell_auroc": (M.roc_auc(r.map.ravel(), truth.ravel())
                           if has and not truth.all() else None),
            "n_truth_boxes": len(self.boxes),
            "n_flagged": len(self.flagged),
            "n_matched": self.matched if self.box_mask is not None else None,
        }

    @cached_property
    def localisation(self) -> dict[str, Any]:
        """This clip's localisation scores against its boxes (see :func:`localisation`)."""
        return localisation([self])


def score_clip(model: Model, path: str | Path, *, channel: int | None,
               cache: SpecCache | None = None
               ) -> tuple[AnomalyResult, Spectrogram, Spectrogram, float]:
    """``(result, power spectrogram, display dB spectrogram, seconds spent scoring)``.

    The recording is heard as :meth:`Model.load <specview.pipeline.Model.load>` hears it
    (band-limited to the training band); a NaN or infinite result is refused with the clip
    named (:func:`specview.pipeline.check_result`)."""
    from specview.pipeline import check_result, front_end_power
    from specview.spectrogram import compress, to_db

    power = front_end_power(Path(path), model.encoder, channel, cache, band_sr=model.band_sr)
    spec = compress(power, model.encoder.front_end)
    t0 = time.perf_counter()
    result = check_result(model.score_spectrogram(spec), Path(path))
    return result, power, to_db(power), time.perf_counter() - t0


def as_clip(clip: TestClip | str | Path) -> TestClip:
    """A path as an unlabelled test clip with its Raven sidecar, if it has one."""
    if isinstance(clip, TestClip):
        return clip
    from specview.annotations import sidecar_path

    p = Path(clip)
    side = sidecar_path(p)
    return TestClip(p, None, boxes_path=side if side.exists() else None)


def make_result(
    model: Model, clip: TestClip | str | Path, result: AnomalyResult, *,
    display: Spectrogram | None = None, score_seconds: float = 0.0,
    boxes: Sequence[Box] | None = None, flag_rate: float | None = None, min_iou: float = 0.3,
    energy: tuple[np.ndarray, np.ndarray] | None = None, faith: dict | None = None,
) -> ClipResult:
    """The :class:`ClipResult` of ``result`` for ``clip`` under ``model``.

    ``boxes`` default to the clip's sidecar (a path is read as an unlabelled clip with its
    sidecar, if any); ``flag_rate`` flags at another share of normal clips than the model's
    calibration (the model is not changed); ``energy`` is ``(mask, target)`` of the isolated
    anomaly source.
    """
    clip = as_clip(clip)
    truth = tuple(clip.boxes() if boxes is None else boxes)
    box_mask = (M.boxes_to_mask(list(truth), result.times, result.freqs)
                if truth or clip.label == 0 else None)
    flagged = tuple(model.flagged(result, flag_rate=flag_rate))
    matched = (len(M.match_boxes([r.box for r in flagged], list(truth), result.freqs,
                                 min_iou=min_iou)) if box_mask is not None else 0)
    mask, target = energy if energy is not None else (None, None)
    return ClipResult(clip, result, display, score_seconds, truth, box_mask, mask, target,
                      flagged, matched, faith)


def score_clips(
    model: Model, clips: Iterable[TestClip | str | Path], *,
    truth: Callable[[Path], Sequence[Box] | None] | None = None,
    known: Mapping[Path, AnomalyResult] | None = None,
    progress: Progress | None = None, min_iou: float = 0.3,
) -> tuple[list[ClipResult], list[str]]:
    """Score recordings with ``model`` into results; ``(results, failures)``.

    A clip that cannot be scored (unreadable, too short, another band: a
    :class:`~specview.errors.SpecviewError`) is skipped and its message kept in ``failures``,
    so one bad file does not stop the others. ``known`` results (by path) are reused instead
    of scoring again; ``truth(path)`` gives a clip's boxes instead of its sidecar (e.g. the
    boxes being edited in the window; None: the sidecar's).
    """
    items = list(clips)
    out: list[ClipResult] = []
    failed: list[str] = []
    for i, c in enumerate(items):
        clip = as_clip(c)
        try:
            t0 = time.perf_counter()
            r = (known or {}).get(clip.path)
            if r is None:
                r = model.score_file(clip.path).result
            dt = time.perf_counter() - t0
        except SpecviewError as exc:  # one bad file must not stop the others
            failed.append(str(exc))
        else:
            try:
                given = truth(clip.path) if truth is not None else None
                boxes = list(clip.boxes() if given is None else given)
            except SpecviewError as exc:  # the score stands; the clip has no box truth
                failed.append(f"{clip.path.name}: its boxes are not used: {exc}")
                boxes = []
            out.append(make_result(model, clip, r, score_seconds=dt, boxes=boxes,
                                   min_iou=min_iou))
        if progress is not None:
            progress(i + 1, len(items))
    return out, failed


def localisation(results: Sequence[ClipResult], *, min_iou: float = 0.3) -> dict[str, Any]:
    """Localisation scores against expert boxes pooled over ``results``, and the clip AUROC.

    ``spectrogram_auroc``, ``aupro``, ``temporal_auroc``, ``box_precision`` / ``box_recall``
    / ``box_f1`` at IoU >= ``min_iou`` (:func:`specview.metrics.box_truth_metrics`; a clip
    with no box counts as all-negative) and ``clip_auroc`` over the labelled clips (None
    with one class only).
    """
    out = M.box_truth_metrics(
        [(r.result.map, r.result.times, r.result.freqs, r.boxes, [f.box for f in r.flagged])
         for r in results], min_iou=min_iou)
    lab = [r for r in results if r.label is not None]
    out["clip_auroc"] = _safe(M.roc_auc, [r.result.clip_score for r in lab],
                              [r.label for r in lab]) if lab else None
    return out


# -- the report dict -----------------------------------------------------------------------------

def _safe(fn, *args, **kw):
    """A metric, or None when the data cannot define it (e.g. one class only)."""
    try:
        return fn(*args, **kw)
    except ParameterError:
        return None


def _norm_drop(s0: float, s_bg: float, s: float) -> float:
    full = s0 - s_bg
    return float((s0 - s) / full) if full > 0 else float("nan")


def _faithfulness_summary(results: list[ClipResult], fractions: Sequence[float]) -> dict | None:
    items = [e.faith for e in results if e.faith is not None]
    if not items:
        return None

    full = sum(f["score"] - f["background_score"] for f in items)

    def curve(key):  # ratio of sums: clips whose full drop is tiny cannot dominate
        return [float(sum(f["score"] - f[key][i] for f in items) / full) if full > 0
                else float("nan") for i in range(len(fractions))]

    def raw(key):
        return [float(np.mean([f["score"] - f[key][i] for f in items]))
                for i in range(len(fractions))]

    x = np.asarray(fractions)
    m, r = curve("map"), curve("random")
    span = x[-1] - x[0]
    out = {
        "definition": (
            "cells of the mel power spectrogram replaced by the clean background's, most "
            "anomalous first (map) or in random order (random); drop = sum over anomalous clips "
            "with sources of (score - new score) / sum of (score - score of the background "
            "alone): 1 = the whole anomaly score removed"
        ),
        "n_clips": len(items),
        "fractions": list(fractions),
        "map_drop": m,
        "random_drop": r,
        "map_drop_raw": raw("map"),
        "random_drop_raw": raw("random"),
        "map_auc": float(np.trapezoid(m, x) / span),
        "random_auc": float(np.trapezoid(r, x) / span),
    }
    thr = [f for f in items if "threshold" in f]
    if thr and full > 0:
        out["threshold_drop"] = float(sum(f["score"] - f["threshold"] for f in thr) / sum(
            f["score"] - f["background_score"] for f in thr))
        out["threshold_fraction"] = float(np.mean([f["threshold_fraction"] for f in thr]))
    return out


def _clip_block(results: list[ClipResult]) -> dict | None:
    lab = [e for e in results if e.label is not None]
    return _safe(M.clip_metrics, [e.result.clip_score for e in lab], [e.label for e in lab])


def _clip_cells(e: ClipResult, kind: str, memo: dict | None = None) -> M.ClipCells:
    """``e``'s cells against ``kind`` truth as a table (:func:`specview.metrics.clip_cells`),
    kept in ``memo`` for the other blocks of one summary."""
    key = (id(e), kind)
    if memo is not None and key in memo:
        return memo[key]
    mask = e.box_mask if kind == "boxes" else e.energy_mask
    out = M.clip_cells(e.result.map, mask, name=f"the map of {e.clip.path.name}",
                       target=e.energy_target if kind == "energy" else None)
    if memo is not None:
        memo[key] = out
    return out


def _map_block(results: list[ClipResult], kind: str, memo: dict | None = None) -> dict | None:
    """Spectrogram metrics against ``kind`` truth ("boxes" or "energy") over clips that have it,
    from each clip's table of cells (:mod:`specview.metrics.cells`: no clip's cells pooled)."""
    attr = "box_mask" if kind == "boxes" else "energy_mask"
    use = [e for e in results if getattr(e, attr) is not None]
    if not any(getattr(e, attr).any() for e in use):
        return None
    cells = [_clip_cells(e, kind, memo) for e in use]
    block = {"gt": kind, "n_clips": len(use)}
    block.update(_safe(M.cell_metrics, cells) or {})
    block["aupro"] = _safe(M.aupro_cells, cells)
    # per-clip overlap, its false positives counted on the normal clips only (anomalib's)
    pimo = _safe(M.aupimo_summary, cells, [e.clip.label == 0 for e in use])
    block["aupimo"] = pimo["aupimo"] if pimo else None
    if kind == "energy":
        block["mse"] = M.mse_cells(cells)
    return block


def _temporal_block(results: list[ClipResult], kind: str) -> dict | None:
    attr = "box_mask" if kind == "boxes" else "energy_mask"
    use = [e for e in results if getattr(e, attr) is not None]
    if not use:
        return None
    out = _safe(M.temporal_metrics, [e.result.map for e in use], [getattr(e, attr) for e in use])
    return None if out is None else {"gt": kind, **out}


def _level_key(v: float) -> str:
    return f"{v:+g}"


def summarise(results: list[ClipResult], calibration: Calibration | None, *, min_iou: float,
              fractions: Sequence[float] = DELETION_FRACTIONS) -> dict:
    """The report dict (``metrics.json``) of scored clips: clip, spectrogram, temporal and box
    metrics, faithfulness, the same by level, counts and timing. ``calibration`` is the one the
    regions were flagged with (None: no box metrics)."""
    has_boxes = any(e.box_mask is not None and e.box_mask.any() for e in results)
    has_energy = any(e.energy_mask is not None and e.energy_mask.any() for e in results)
    primary = "boxes" if has_boxes else ("energy" if has_energy else None)
    empty_spec = {"gt": None, "auroc": None, "ap": None, "f1_max": None, "aupro": None,
                  "aupimo": None}
    empty_tmp = {"gt": None, "auroc": None, "ap": None, "f1_max": None}
    memo: dict = {}  # each clip's table of cells, for every block that pools it
    spec = _map_block(results, primary, memo) if primary else None
    out: dict[str, Any] = {
        "clip": _clip_block(results) or {"auroc": None, "pauc": None, "ap": None, "f1_max": None},
        "spectrogram": spec or empty_spec,
        "temporal": (_temporal_block(results, primary) if primary else None) or empty_tmp,
    }
    if has_boxes and has_energy:
        out["spectrogram_energy"] = _map_block(results, "energy", memo)
        out["temporal_energy"] = _temporal_block(results, "energy")
    elif has_energy:
        out["spectrogram_energy"] = spec
    box_results = [e for e in results if e.box_mask is not None]
    if calibration is not None and has_boxes:
        counts = [(e.matched, len(e.flagged), len(e.boxes)) for e in box_results]
        out["boxes"] = {**M.box_metrics(counts), "min_iou": min_iou}
    else:
        out["boxes"] = {"precision": None, "recall": None, "f1": None, "min_iou": min_iou}
    if calibration is not None:
        cal = calibration
        out["boxes"].update(threshold=cal.threshold, flag_rate=cal.flag_rate,
                            calibration_clips=cal.n_clips, calibration_held_out=cal.held_out)
        normals = [e for e in results if e.label == 0]
        if normals:
            out["boxes"]["normal_clips_flagged"] = float(np.mean([bool(e.flagged) for e in normals]))
    faith = _faithfulness_summary(results, fractions)
    if faith is not None:
        out["faithfulness"] = faith
    levels = sorted({e.level for e in results if e.level is not None and e.label == 1},
                    reverse=True)
    if levels:
        by: dict[str, Any] = {}
        for lv in levels:
            # anomalous clips at this level, with the normal clips of the same level (or all
            # normal clips when normal clips carry no level, as in the demo)
            sub = [e for e in results if (e.level == lv) or (e.label == 0 and e.level is None)]
            entry: dict[str, Any] = {"n_anomalous": sum(e.label == 1 for e in sub),
                                     "clip": _clip_block(sub)}
            if primary:
                entry["spectrogram"] = _map_block(sub, primary, memo)
            by[_level_key(lv)] = entry
        out["by_level"] = by
    out["n_clips"] = {
        "test": len(results),
        "normal": sum(e.label == 0 for e in results),
        "anomalous": sum(e.label == 1 for e in results),
        "unlabelled": sum(e.label is None for e in results),
        "with_boxes": sum(bool(e.boxes) for e in results),
        "with_sources": sum(e.energy_mask is not None and e.label == 1 for e in results),
    }
    out["normalisation"] = (
        "metrics use raw map values pooled over the set (AUROC, AP, F1 and AU-PRO do not depend "
        "on a monotonic normalisation); MSE uses a set-wide min-max of the maps; flagged regions "
        "use the threshold calibrated on held-out normal training clips"
    )
    out["score_seconds_per_clip"] = float(np.mean([e.score_seconds for e in results]))
    return out


def per_clip_rows(results: list[ClipResult]) -> list[dict]:
    """The rows of ``per_clip.csv``: one per clip, its score, peak and per-clip metrics."""
    rows = []
    for e in results:
        m = e.metrics
        rows.append({
            "file": str(e.clip.path),
            "label": "" if e.label is None else e.label,
            "level_db": (e.clip.meta or {}).get("level_db", ""),
            "kind": e.clip.meta.get("kind", "") if e.clip.meta else "",
            "score": e.result.clip_score,
            "peak_time_s": m["peak_time_s"],
            "peak_freq_hz": m["peak_freq_hz"],
            "peak_in_truth": "" if m["peak_in_truth"] is None else int(m["peak_in_truth"]),
            "cell_auroc": "" if m["cell_auroc"] is None else m["cell_auroc"],
            "n_truth_boxes": m["n_truth_boxes"],
            "n_flagged": m["n_flagged"],
            "n_matched": "" if m["n_matched"] is None else m["n_matched"],
            "faith_threshold_drop": (
                _norm_drop(e.faith["score"], e.faith["background_score"], e.faith["threshold"])
                if e.faith and "threshold" in e.faith else ""
            ),
            "score_seconds": e.score_seconds,
        })
    return rows


def write_rows(path: str | Path, rows: Sequence[Mapping[str, Any]], *,
               columns: Sequence[str] | None = None) -> None:
    """Rows as CSV, atomically; none: no file (with ``columns``: the header alone).

    The header is ``columns``, else every key in order of first appearance; a missing or None
    cell is empty; floats have 6 significant digits (pass a string for more). UTF-8 with the
    csv module's ``\\r\\n`` line ends.
    """
    if not rows and columns is None:
        return
    keys: list[str] = list(columns or [])
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v))
                    for k, v in r.items()})
    atomic_write_text(path, buf.getvalue(), newline="")


def finite(o):
    """NaN and infinities as None, through dicts and lists, so that JSON is standard."""
    if isinstance(o, dict):
        return {k: finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [finite(v) for v in o]
    if isinstance(o, (float, np.floating)) and not math.isfinite(float(o)):
        return None
    return o
