"""Evaluate a fitted model on a dataset's test clips, and compare methods x encoders.

What is measured (all without using test labels to choose anything):

* **clip**: ROC-AUC, standardised pAUC (FPR <= 0.1), AP, best F1 of the clip scores;
* **spectrogram**: cell-level AUROC, AP, best F1 and AU-PRO (FPR <= 0.3) pooled over test clips,
  normal clips' all-negative masks included, against expert boxes (Raven sidecars) and/or the
  energy mask of the isolated anomaly source (``test/sources/<stem>.anomaly.wav``, tau = 0.4);
  MSE against the min-max normalised anomaly log-mel after a set-wide min-max of the maps;
* **temporal**: frames scored by the mean of their 5 highest cells against frames in the truth;
* **boxes**: regions above the model's normal-calibrated threshold matched to truth boxes at
  IoU >= 0.3;
* **faithfulness**: the most anomalous cells replaced by the clean background, re-scored.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specview import metrics as M
from specview.audio import load_audio
from specview.datasets import Dataset, TestClip, dataset_subsets, load_dataset
from specview.errors import DatasetError, ParameterError
from specview.fileio import atomic_write_text, check_output_folder, staged
from specview.pipeline import (
    Model,
    SpecCache,
    check_result,
    front_end_power,
    load_for,
    map_stem,
    write_csv,
    write_map,
)
from specview.spectrogram import compress, mel_power, to_db
from specview.types import AnomalyResult, Box, FlaggedRegion, Progress, Spectrogram

#: Deleted shares of the map's cells for the faithfulness curve.
DELETION_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5)


@dataclass
class ClipEval:
    """One scored test clip with its ground truth."""

    clip: TestClip
    result: AnomalyResult
    display: Spectrogram
    score_seconds: float
    boxes: list[Box] = field(default_factory=list)
    box_mask: np.ndarray | None = None  # None: no box truth for this clip
    energy_mask: np.ndarray | None = None
    energy_target: np.ndarray | None = None
    flagged: list[FlaggedRegion] = field(default_factory=list)
    matched: int = 0
    faith: dict[str, Any] | None = None

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


def _anomaly_logmel(path: Path, model: Model, n_time: int) -> np.ndarray:
    fe = model.encoder.front_end
    power = mel_power(load_audio(path, sr=fe.sr), fe)
    if power.values.shape[1] != n_time:
        raise DatasetError(
            f"{path}: the isolated source gives {power.values.shape[1]} frames but its mix "
            f"{n_time}; sources must have the mix's length and sample rate"
        )
    return to_db(power).values


def score_clip(model: Model, path: Path, *, channel: int | None,
               cache: SpecCache | None = None) -> tuple[AnomalyResult, Spectrogram, Spectrogram, float]:
    """``(result, power spectrogram, display dB spectrogram, seconds spent scoring)``.

    The recording is heard as :meth:`Model.load <specview.pipeline.Model.load>` hears it
    (band-limited to the training band); a NaN or infinite result is refused with the clip
    named (:func:`specview.pipeline.check_result`)."""
    power = front_end_power(path, model.encoder, channel, cache, band_sr=model.band_sr)
    spec = compress(power, model.encoder.front_end)
    t0 = time.perf_counter()
    result = check_result(model.score_spectrogram(spec), path)
    return result, power, to_db(power), time.perf_counter() - t0


def _rescore(model: Model, power: Spectrogram, values: np.ndarray) -> float:
    spec = compress(Spectrogram(values, power.times, power.freqs, power.unit, power.duration),
                    model.encoder.front_end)
    return model.score_spectrogram(spec).clip_score


def faithfulness_clip(model: Model, power: Spectrogram, result: AnomalyResult, background: Path,
                      *, fractions: Sequence[float] = DELETION_FRACTIONS, seed: int = 0) -> dict:
    """Deletion test on one anomalous clip whose clean background is known.

    Cells are replaced, in the mel power domain, by the background's cells, most anomalous
    first (and, as a baseline, in a seeded random order), and the clip is re-scored. A drop is
    reported raw and normalised by the full drop ``score(mix) - score(background alone)``.
    """
    fe = model.encoder.front_end
    bg = mel_power(load_for(background, model.encoder, None, band_sr=model.band_sr), fe).values
    mix = power.values
    if bg.shape != mix.shape:
        raise DatasetError(f"{background}: background gives {bg.shape} cells, the mix {mix.shape}")
    s0 = result.clip_score
    s_bg = _rescore(model, power, bg)
    n = mix.size
    order = np.argsort(-result.map.ravel(), kind="stable")
    rand = np.random.default_rng(seed).permutation(n)
    out: dict[str, Any] = {"score": s0, "background_score": s_bg, "map": [], "random": []}
    for f in fractions:
        k = max(1, int(math.ceil(f * n)))
        for key, idx in (("map", order[:k]), ("random", rand[:k])):
            v = mix.copy().ravel()
            v[idx] = bg.ravel()[idx]
            out[key].append(_rescore(model, power, v.reshape(mix.shape)))
    if model.calibration is not None:
        sel = result.map.ravel() >= model.calibration.threshold
        v = mix.copy().ravel()
        v[sel] = bg.ravel()[sel]
        out["threshold"] = _rescore(model, power, v.reshape(mix.shape)) if sel.any() else s0
        out["threshold_fraction"] = float(sel.mean())
    return out


def _norm_drop(s0: float, s_bg: float, s: float) -> float:
    full = s0 - s_bg
    return float((s0 - s) / full) if full > 0 else float("nan")


def _faithfulness_summary(evals: list[ClipEval], fractions: Sequence[float]) -> dict | None:
    items = [e.faith for e in evals if e.faith is not None]
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


def _safe(fn, *args, **kw):
    """A metric, or None when the data cannot define it (e.g. one class only)."""
    try:
        return fn(*args, **kw)
    except ParameterError:
        return None


def _clip_block(evals: list[ClipEval]) -> dict | None:
    lab = [e for e in evals if e.label is not None]
    return _safe(M.clip_metrics, [e.result.clip_score for e in lab], [e.label for e in lab])


def _map_block(evals: list[ClipEval], kind: str) -> dict | None:
    """Spectrogram metrics against ``kind`` truth ("boxes" or "energy") over clips that have it."""
    attr = "box_mask" if kind == "boxes" else "energy_mask"
    use = [e for e in evals if getattr(e, attr) is not None]
    if not any(getattr(e, attr).any() for e in use):
        return None
    maps = [e.result.map for e in use]
    masks = [getattr(e, attr) for e in use]
    block = {"gt": kind, "n_clips": len(use)}
    block.update(_safe(M.spectrogram_metrics, maps, masks) or {})
    block["aupro"] = _safe(M.aupro, maps, masks)
    # per-clip overlap, its false positives counted on the normal clips only (anomalib's)
    pimo = _safe(M.aupimo, maps, masks, normal=[e.clip.label == 0 for e in use])
    block["aupimo"] = pimo["aupimo"] if pimo else None
    if kind == "energy":
        lo, hi = M.set_normalise(maps)
        block["mse"] = M.map_mse([(m - lo) / (hi - lo) for m in maps],
                                 [e.energy_target for e in use])
    return block


def _temporal_block(evals: list[ClipEval], kind: str) -> dict | None:
    attr = "box_mask" if kind == "boxes" else "energy_mask"
    use = [e for e in evals if getattr(e, attr) is not None]
    if not use:
        return None
    out = _safe(M.temporal_metrics, [e.result.map for e in use], [getattr(e, attr) for e in use])
    return None if out is None else {"gt": kind, **out}


def _level_key(v: float) -> str:
    return f"{v:+g}"


def summarise(evals: list[ClipEval], model: Model, *, min_iou: float,
              fractions: Sequence[float] = DELETION_FRACTIONS) -> dict:
    """The ``metrics.json`` content for scored clips."""
    has_boxes = any(e.box_mask is not None and e.box_mask.any() for e in evals)
    has_energy = any(e.energy_mask is not None and e.energy_mask.any() for e in evals)
    primary = "boxes" if has_boxes else ("energy" if has_energy else None)
    empty_spec = {"gt": None, "auroc": None, "ap": None, "f1_max": None, "aupro": None,
                  "aupimo": None}
    empty_tmp = {"gt": None, "auroc": None, "ap": None, "f1_max": None}
    spec = _map_block(evals, primary) if primary else None
    out: dict[str, Any] = {
        "clip": _clip_block(evals) or {"auroc": None, "pauc": None, "ap": None, "f1_max": None},
        "spectrogram": spec or empty_spec,
        "temporal": (_temporal_block(evals, primary) if primary else None) or empty_tmp,
    }
    if has_boxes and has_energy:
        out["spectrogram_energy"] = _map_block(evals, "energy")
        out["temporal_energy"] = _temporal_block(evals, "energy")
    elif has_energy:
        out["spectrogram_energy"] = spec
    box_evals = [e for e in evals if e.box_mask is not None]
    if model.calibration is not None and has_boxes:
        counts = [(e.matched, len(e.flagged), len(e.boxes)) for e in box_evals]
        out["boxes"] = {**M.box_metrics(counts), "min_iou": min_iou}
    else:
        out["boxes"] = {"precision": None, "recall": None, "f1": None, "min_iou": min_iou}
    if model.calibration is not None:
        cal = model.calibration
        out["boxes"].update(threshold=cal.threshold, flag_rate=cal.flag_rate,
                            calibration_clips=cal.n_clips, calibration_held_out=cal.held_out)
        normals = [e for e in evals if e.label == 0]
        if normals:
            out["boxes"]["normal_clips_flagged"] = float(np.mean([bool(e.flagged) for e in normals]))
    faith = _faithfulness_summary(evals, fractions)
    if faith is not None:
        out["faithfulness"] = faith
    levels = sorted({e.level for e in evals if e.level is not None and e.label == 1}, reverse=True)
    if levels:
        by: dict[str, Any] = {}
        for lv in levels:
            # anomalous clips at this level, with the normal clips of the same level (or all
            # normal clips when normal clips carry no level, as in the demo)
            sub = [e for e in evals if (e.level == lv) or (e.label == 0 and e.level is None)]
            entry: dict[str, Any] = {"n_anomalous": sum(e.label == 1 for e in sub),
                                     "clip": _clip_block(sub)}
            if primary:
                entry["spectrogram"] = _map_block(sub, primary)
            by[_level_key(lv)] = entry
        out["by_level"] = by
    out["n_clips"] = {
        "test": len(evals),
        "normal": sum(e.label == 0 for e in evals),
        "anomalous": sum(e.label == 1 for e in evals),
        "unlabelled": sum(e.label is None for e in evals),
        "with_boxes": sum(bool(e.boxes) for e in evals),
        "with_sources": sum(e.energy_mask is not None and e.label == 1 for e in evals),
    }
    out["normalisation"] = (
        "metrics use raw map values pooled over the set (AUROC, AP, F1 and AU-PRO do not depend "
        "on a monotonic normalisation); MSE uses a set-wide min-max of the maps; flagged regions "
        "use the threshold calibrated on held-out normal training clips"
    )
    out["score_seconds_per_clip"] = float(np.mean([e.score_seconds for e in evals]))
    return out


def evaluate(
    model: Model,
    dataset: Dataset | str | Path,
    out_dir: str | Path | None = None,
    *,
    min_iou: float = 0.3,
    tau: float = 0.4,
    flag_rate: float | None = None,
    faithfulness: bool = True,
    figures: bool = True,
    cache: SpecCache | None = None,
    progress: Progress | None = None,
) -> tuple[dict, list[ClipEval]]:
    """Score every test clip and measure; write the report when ``out_dir`` is given.

    Writes ``metrics.json``, ``per_clip.csv``, ``maps/<stem>.npz`` (as ``specview score``
    does) and figures ``roc.png``, ``pro.png`` and ``clips.png``, all staged
    (:func:`specview.fileio.staged`): a run that fails leaves an earlier report unchanged.
    ``out_dir`` is checked before any clip is scored: it may not be the dataset folder, a
    file, or lie under a file.
    """
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    if not ds.test:
        raise DatasetError(f"{ds.root}: no test clips to evaluate (expected test/*.wav)")
    for clip in ds.test:  # every clip's header, length and band before any scoring
        model.check_recording(clip.path)
    if out_dir is not None:
        check_output_folder(out_dir, inputs=[ds.root])
    if flag_rate is not None and model.calibration is not None:
        model.calibration = model.calibration.with_flag_rate(flag_rate)
    evals: list[ClipEval] = []
    n = len(ds.test)
    for i, clip in enumerate(ds.test):
        result, power, display, dt = score_clip(model, clip.path, channel=ds.channel, cache=cache)
        e = ClipEval(clip, result, display, dt)
        e.boxes = clip.boxes()
        if e.boxes or clip.label == 0:
            e.box_mask = M.boxes_to_mask(e.boxes, result.times, result.freqs)
        if clip.anomaly_source is not None:
            logmel = _anomaly_logmel(clip.anomaly_source, model, result.map.shape[1])
            e.energy_mask = M.energy_mask(logmel, tau)
            e.energy_target = M.minmax01(logmel)
        elif clip.label == 0 and any(c.anomaly_source for c in ds.test):
            e.energy_mask = np.zeros(result.map.shape, dtype=bool)
            e.energy_target = np.zeros(result.map.shape)
        e.flagged = model.flagged(result)
        if e.box_mask is not None:
            e.matched = len(M.match_boxes([r.box for r in e.flagged], e.boxes, result.freqs,
                                          min_iou=min_iou))
        if faithfulness and clip.label == 1 and clip.background_source is not None:
            e.faith = faithfulness_clip(model, power, result, clip.background_source)
        evals.append(e)
        if progress is not None:
            progress(i + 1, n)
    report = summarise(evals, model, min_iou=min_iou)
    report["model"] = {"method": model.method, "encoder": model.encoder.name,
                       "training": {k: v for k, v in model.info.items() if not k.endswith("files")}}
    report["dataset"] = {"root": str(ds.root), "subset": ds.name, "channel": ds.channel}
    if out_dir is not None:
        write_report(out_dir, report, evals, model, figures=figures)
    return report, evals


def _per_clip_rows(evals: list[ClipEval]) -> list[dict]:
    rows = []
    for e in evals:
        r = e.result
        peak = np.unravel_index(int(np.argmax(r.map)), r.map.shape)
        truth = e.box_mask if e.box_mask is not None else e.energy_mask
        peak_in = "" if truth is None or not truth.any() else int(bool(truth[peak]))
        clip_auc = ""
        if truth is not None and truth.any() and not truth.all():
            clip_auc = M.roc_auc(r.map.ravel(), truth.ravel())
        rows.append({
            "file": str(e.clip.path),
            "label": "" if e.label is None else e.label,
            "level_db": (e.clip.meta or {}).get("level_db", ""),
            "kind": e.clip.meta.get("kind", "") if e.clip.meta else "",
            "score": r.clip_score,
            "peak_time_s": float(r.times[peak[1]]),
            "peak_freq_hz": float(r.freqs[peak[0]]),
            "peak_in_truth": peak_in,
            "cell_auroc": clip_auc,
            "n_truth_boxes": len(e.boxes),
            "n_flagged": len(e.flagged),
            "n_matched": e.matched if e.box_mask is not None else "",
            "faith_threshold_drop": (
                _norm_drop(e.faith["score"], e.faith["background_score"], e.faith["threshold"])
                if e.faith and "threshold" in e.faith else ""
            ),
            "score_seconds": e.score_seconds,
        })
    return rows


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def _clean(o):
    """NaN/inf to None so the JSON is standard."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)) and not math.isfinite(float(o)):
        return None
    return o


def write_report(out_dir: str | Path, report: dict, evals: list[ClipEval], model: Model,
                 *, figures: bool = True) -> None:
    """Write the report files of :func:`evaluate` into ``out_dir``, staged: all or nothing."""
    out = Path(out_dir)
    used: set[str] = set()
    with staged(protect=[e.clip.path for e in evals]):
        for e in evals:
            write_map(out / "maps", map_stem(e.clip.path), e.result, used)
        write_csv(out / "per_clip.csv", _per_clip_rows(evals))
        atomic_write_text(out / "metrics.json",
                          json.dumps(_clean(report), indent=2, default=_json_default) + "\n")
        if figures:
            from specview import report as R

            R.curves_figure(out, evals)
            R.clips_figure(out / "clips.png", evals, model)


# -- comparison ---------------------------------------------------------------------------------

def _route_overrides(overrides: dict[str, str] | None, methods, encoders):
    """``{name: {key: value}}`` from ``method.key=value`` / ``encoder.key=value`` overrides."""
    out: dict[str, dict[str, str]] = {}
    for k, v in (overrides or {}).items():
        who, _, key = k.partition(".")
        if not key or who not in (*methods, *encoders):
            raise ParameterError(
                f"--set {k}: in compare, prefix each key with a method or encoder name, e.g. "
                f"{methods[0]}.{k.rpartition('.')[2]}={v}"
            )
        out.setdefault(who, {})[key] = v
    return out


def compare(
    dataset_root: str | Path,
    out_dir: str | Path,
    *,
    methods: Sequence[str],
    encoders: Sequence[str],
    subset: str | None = None,
    overrides: dict[str, str] | None = None,
    device: str | None = "cpu",
    faithfulness: bool = True,
    figures: bool = True,
    feature_cache_bytes: int = 1 << 30,
    log=print,
    progress: Progress | None = None,
) -> list[dict]:
    """Fit every method x encoder on the dataset's training clips (features shared per
    encoder), evaluate each, and write ``comparison.csv``, ``comparison.md`` and
    ``compare.png``; each pair's report goes to ``OUT/<subset>/<method>-<encoder>/``.

    Every output of the run (models, reports, tables, figures) is staged
    (:func:`specview.fileio.staged`) and put in place only when the last pair is done: a
    comparison that fails part-way leaves the previous one unchanged. ``out_dir`` (not the
    dataset, not a file) is checked before the first fit."""
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS

    for m in methods:
        if m not in DETECTORS:
            raise ParameterError(f"unknown method {m!r}; available: {', '.join(DETECTORS)}")
    for e in encoders:
        if e not in ENCODERS:
            raise ParameterError(f"unknown encoder {e!r}; available: {', '.join(ENCODERS)}")
    routed = _route_overrides(overrides, list(methods), list(encoders))
    from specview.params import with_overrides

    for name in (*methods, *encoders):  # every parameter checked before the first fit
        cls = DETECTORS[name] if name in DETECTORS else ENCODERS[name]
        with_overrides(cls.Params(), routed.get(name, {}))
    root = Path(dataset_root)
    subsets = [subset] if subset is not None else dataset_subsets(root)
    out = Path(out_dir)
    check_output_folder(out, inputs=[root])
    with staged(protect=[root]):
        return _compare_run(root, out, subsets, methods, encoders, routed, device, faithfulness,
                            figures, feature_cache_bytes, log, progress)


def _compare_run(root, out, subsets, methods, encoders, routed, device, faithfulness, figures,
                 feature_cache_bytes, log, progress) -> list[dict]:
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS
    from specview.params import with_overrides
    from specview.pipeline import fit

    rows: list[dict] = []
    figure_sets = []
    total = len(subsets) * len(methods) * len(encoders)
    done = 0
    for sub in subsets:
        ds = load_dataset(root, subset=sub or None)
        if not ds.train or not ds.test:
            raise DatasetError(f"{root} {sub}: compare needs training and test clips")
        cache: SpecCache = {}
        pair_evals = []
        for enc_name in encoders:
            enc_cls = ENCODERS[enc_name]
            enc = enc_cls(with_overrides(enc_cls.Params(), routed.get(enc_name, {})), device=device)
            enc.cache_features(feature_cache_bytes)
            t0 = time.perf_counter()
            for p in ds.train:  # the shared encoder pass, timed once per encoder
                enc.features(compress(front_end_power(p, enc, ds.channel, cache), enc.front_end))
            features_seconds = time.perf_counter() - t0
            for method in methods:
                det_cls = DETECTORS[method]
                det = det_cls(with_overrides(det_cls.Params(), routed.get(method, {})),
                              device=device)
                log(f"[{sub or root.name}] fitting {method} on {enc_name} ({len(ds.train)} clips)")
                model = fit(ds.train, model=Model(enc, det), channel=ds.channel, cache=cache)
                pair_dir = out / (sub or "") / f"{method}-{enc_name}"
                model.save(pair_dir / "model.safetensors")
                enc._cache, saved = None, enc._cache  # score with the network, not the cache
                try:
                    report, evals = evaluate(model, ds, pair_dir, faithfulness=faithfulness,
                                             figures=figures, cache=cache)
                finally:
                    enc._cache = saved
                pair_evals.append((f"{method} / {enc_name}", model, evals))
                rows.append(_comparison_row(sub, method, enc_name, report, model,
                                            features_seconds))
                log(_row_line(rows[-1]))
                done += 1
                if progress is not None:
                    progress(done, total)
        figure_sets.append((sub, pair_evals))
    if len(subsets) > 1:
        rows.extend(_mean_rows(rows, methods, encoders))
    write_csv(out / "comparison.csv", rows)
    atomic_write_text(out / "comparison.md", comparison_markdown(rows, root))
    if figures:
        from specview import report as R

        for sub, pair_evals in figure_sets:
            name = "compare.png" if len(figure_sets) == 1 else f"compare-{_slug(sub)}.png"
            R.compare_figure(out / name, pair_evals)
    return rows


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s) or "all"


_COLUMNS = (
    ("clip_auroc", ("clip", "auroc")), ("clip_pauc", ("clip", "pauc")), ("clip_ap", ("clip", "ap")),
    ("spec_gt", ("spectrogram", "gt")), ("spec_auroc", ("spectrogram", "auroc")),
    ("spec_ap", ("spectrogram", "ap")), ("aupro", ("spectrogram", "aupro")),
    ("aupimo", ("spectrogram", "aupimo")),
    ("energy_auroc", ("spectrogram_energy", "auroc")),
    ("energy_aupro", ("spectrogram_energy", "aupro")), ("energy_mse", ("spectrogram_energy", "mse")),
    ("temporal_auroc", ("temporal", "auroc")), ("box_precision", ("boxes", "precision")),
    ("box_recall", ("boxes", "recall")), ("box_f1", ("boxes", "f1")),
    ("faith_map_auc", ("faithfulness", "map_auc")),
    ("faith_random_auc", ("faithfulness", "random_auc")),
)


def _get(d: dict, path: tuple[str, ...]):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def _comparison_row(sub, method, enc, report, model, features_seconds) -> dict:
    row: dict[str, Any] = {"subset": sub or "", "method": method, "encoder": enc}
    for col, path in _COLUMNS:
        v = _get(report, path)
        row[col] = "" if v is None else v
    row["fit_seconds"] = float(model.info.get("fit_seconds", float("nan")))
    row["features_seconds"] = features_seconds
    row["score_seconds_per_clip"] = report["score_seconds_per_clip"]
    row["n_train"] = int(model.info.get("n_train_clips", 0))
    row["n_test"] = report["n_clips"]["test"]
    return row


def _mean_rows(rows, methods, encoders) -> list[dict]:
    out = []
    for m in methods:
        for e in encoders:
            sel = [r for r in rows if r["method"] == m and r["encoder"] == e]
            row: dict[str, Any] = {"subset": "mean", "method": m, "encoder": e}
            for k in sel[0]:
                if k in row:
                    continue
                vals = [r[k] for r in sel if isinstance(r[k], (int, float))]
                row[k] = float(np.mean(vals)) if vals else sel[0][k]
            out.append(row)
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v) if v not in ("", None) else "–"


def _row_line(r: dict) -> str:
    return (f"  {r['method']}/{r['encoder']}: clip AUROC {_fmt(r['clip_auroc'])}, spectrogram "
            f"AUROC {_fmt(r['spec_auroc'])}, AU-PRO {_fmt(r['aupro'])}, AUPIMO "
            f"{_fmt(r['aupimo'])}, box F1 {_fmt(r['box_f1'])}, "
            f"fit {r['fit_seconds']:.1f} s, {1000 * r['score_seconds_per_clip']:.0f} ms/clip")


def comparison_markdown(rows: list[dict], root: Path) -> str:
    head = ["subset", "method", "encoder", "clip AUROC", "clip pAUC", "spec. AUROC", "AU-PRO",
            "AUPIMO", "temporal AUROC", "box P", "box R", "box F1", "faithfulness (map / random)",
            "fit s", "score ms/clip"]
    lines = [f"# Comparison on `{root}`", "",
             "Spectrogram metrics use the "
             + (rows[0]["spec_gt"] or "no") + " ground truth; faithfulness is the area under the "
             "deletion curve (normalised score drop when the top 1-50 % of cells are replaced by the "
             "clean background), for the map's order and for a random order.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["subset"] or "–", r["method"], r["encoder"], _fmt(r["clip_auroc"]),
                 _fmt(r["clip_pauc"]), _fmt(r["spec_auroc"]), _fmt(r["aupro"]),
                 _fmt(r["aupimo"]), _fmt(r["temporal_auroc"]), _fmt(r["box_precision"]), _fmt(r["box_recall"]),
                 _fmt(r["box_f1"]),
                 f"{_fmt(r['faith_map_auc'])} / {_fmt(r['faith_random_auc'])}",
                 f"{r['fit_seconds']:.1f}", f"{1000 * r['score_seconds_per_clip']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
