"""Evaluate a fitted model on a dataset's test clips.

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

The per-clip results and the report dict come from :mod:`specview.results`; the comparison of
methods x encoders is :mod:`specview.comparison`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from specview import metrics as M
from specview.audio import load_audio
from specview.datasets import Dataset, TestClip, load_dataset
from specview.errors import DatasetError
from specview.fileio import atomic_write_text, check_output_folder, staged
from specview.pipeline import Model, SpecCache, load_for
from specview.results import (
    DELETION_FRACTIONS,
    ClipResult,
    finite,
    make_result,
    per_clip_rows,
    score_clip,
    summarise,
    write_rows,
)
from specview.scoring import map_stem, write_map
from specview.spectrogram import compress, mel_power, to_db
from specview.types import AnomalyResult, Progress, Spectrogram

__all__ = ["DELETION_FRACTIONS", "ClipEval", "evaluate", "evaluate_clip", "faithfulness_clip",
           "score_clip", "summarise", "write_report"]

#: The per-clip result of an evaluation (one name for :class:`specview.results.ClipResult`).
ClipEval = ClipResult


def _anomaly_logmel(path: Path, model: Model, n_time: int, *, stream: bool = False
                    ) -> np.ndarray:
    fe = model.encoder.front_end
    if stream:  # a long source: block by block, never the whole audio
        from specview import audiostream

        n = audiostream.expected_frames(path, fe)
        values = np.zeros((fe.n_mels, n), dtype=np.float32)
        for first, part in audiostream.iter_power(path, fe):
            values[:, first:first + part.shape[1]] = part
        power = Spectrogram(values, np.arange(n) * fe.seconds_per_frame, fe.mel_centres(),
                            "power", n * fe.seconds_per_frame)
    else:
        power = mel_power(load_audio(path, sr=fe.sr), fe)
    if power.values.shape[1] != n_time:
        raise DatasetError(
            f"{path}: the isolated source gives {power.values.shape[1]} frames but its mix "
            f"{n_time}; sources must have the mix's length and sample rate"
        )
    return to_db(power).values


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


def evaluate_clip(model: Model, clip: TestClip, *, channel: int | None, tau: float,
                  faithfulness: bool, any_sources: bool, cache: SpecCache | None = None,
                  display: bool = True) -> tuple[AnomalyResult, Spectrogram | None, float,
                                                 tuple | None, dict | None]:
    """One test clip scored and measured against its isolated sources: ``(result, display dB
    spectrogram or None, seconds scoring, energy (mask, target) or None, faithfulness dict or
    None)``, what :func:`evaluate` makes its :class:`ClipResult` of (here or on a worker).

    A clip longer than :data:`specview.longscore.LONG_SECONDS` is scored in a stream
    (:func:`specview.longscore.score_long_result`: the same result within float tolerance,
    without holding its audio); it has no display spectrogram (none in ``clips.png``) and no
    deletion test (which re-scores the whole clip a dozen times)."""
    from specview import longscore
    from specview.audio import audio_info

    long = audio_info(clip.path)[2] > longscore.LONG_SECONDS
    if long:
        t0 = time.perf_counter()
        result, _summary = longscore.score_long_result(
            model, clip.path, channel=channel)
        power = shown = None
        dt = time.perf_counter() - t0
    else:
        result, power, shown, dt = score_clip(model, clip.path, channel=channel, cache=cache)
    energy = None
    if clip.anomaly_source is not None:
        logmel = _anomaly_logmel(clip.anomaly_source, model, result.map.shape[1], stream=long)
        energy = (M.energy_mask(logmel, tau=tau), M.minmax01(logmel).astype(np.float32))
    elif clip.label == 0 and any_sources:
        energy = (np.zeros(result.map.shape, dtype=bool), np.zeros(result.map.shape))
    faith = None
    if faithfulness and clip.label == 1 and clip.background_source is not None and not long:
        faith = faithfulness_clip(model, power, result, clip.background_source)
    return result, shown if display else None, dt, energy, faith


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
    client: Any = None,
    on_shard: Callable[[dict[str, Any]], None] | None = None,
    keep_model: bool = True,
) -> tuple[dict, list[ClipEval]]:
    """Score every test clip and measure; write the report when ``out_dir`` is given.

    Writes ``metrics.json``, ``per_clip.csv``, ``maps/<stem>.npz`` (as ``specview score``
    does) and figures ``roc.png``, ``pro.png`` and ``clips.png``, all staged
    (:func:`specview.fileio.staged`): a run that fails leaves an earlier report unchanged.
    ``out_dir`` is checked before any clip is scored: it may not be the dataset folder, a
    file, or lie under a file.

    Parameters
    ----------
    model : Model
        A fitted model (:func:`specview.pipeline.fit` or :func:`specview.pipeline.load_model`);
        it is not changed (``flag_rate`` applies to this evaluation only).
    dataset : Dataset or path
        Its ``test/`` clips are scored; Raven sidecars and isolated sources are the truth.
    out_dir : path, optional
        Where the report goes; nothing is written without it.
    min_iou : float
        IoU at which a flagged region matches a truth box.
    tau : float
        Share of the isolated source's dB range above which its cells are anomalous.
    flag_rate : float, optional
        Share of normal clips allowed a flagged region, instead of the model's.
    client : distributed.Client, optional
        Score the clips on this Dask cluster's workers, one shard per clip
        (:func:`specview.cluster_eval.evaluate_on_client`: the model file sent once per worker;
        the same report as without it, timings aside). A clip failing on its input lets the
        others finish, then :class:`specview.cluster.ShardErrors` names every failed file and
        nothing is written. ``on_shard(info)`` after each shard arrives; ``keep_model=False``
        has the workers drop the model at the end (a comparison's pairs).

    Returns
    -------
    report : dict
        What ``metrics.json`` holds (:func:`specview.results.summarise`).
    results : list of ClipResult
        One per test clip, in the dataset's order.

    Examples
    --------
    >>> from specview import pipeline
    >>> from specview.evaluation import evaluate
    >>> model = pipeline.fit("data/fan")                            # doctest: +SKIP
    >>> report, results = evaluate(model, "data/fan", "report/")    # doctest: +SKIP
    >>> report["clip"]["auroc"], report["boxes"]["f1"]              # doctest: +SKIP
    (1.0, 0.62)
    >>> results[0].metrics["peak_in_truth"]                         # doctest: +SKIP
    True
    """
    ds = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    if not ds.test:
        raise DatasetError(f"{ds.root}: no test clips to evaluate (expected test/*.wav)")
    for clip in ds.test:  # every clip's header, length and band before any scoring
        model.check_recording(clip.path)
    if out_dir is not None:
        check_output_folder(out_dir, inputs=[ds.root])
    sent = model  # what a cluster's workers load (they apply flag_rate themselves)
    if flag_rate is not None and model.calibration is not None:
        # the report's own view of the model: its calibration at the asked rate; the
        # caller's model is left as it was
        model = dataclasses.replace(model, calibration=model.calibration.with_flag_rate(flag_rate))
    any_sources = any(c.anomaly_source for c in ds.test)
    evals: list[ClipEval] = []
    n = len(ds.test)
    if client is not None:  # issue 17: the clips scored on a Dask cluster's workers
        from specview.cluster_eval import evaluate_on_client

        scored = evaluate_on_client(client, sent, ds, flag_rate=flag_rate, tau=tau,
                                    faithfulness=faithfulness, any_sources=any_sources,
                                    display=figures, progress=progress, on_shard=on_shard,
                                    keep_model=keep_model, clip_fn=evaluate_clip)
    else:
        scored = (evaluate_clip(model, clip, channel=ds.channel, tau=tau,
                                faithfulness=faithfulness, any_sources=any_sources, cache=cache)
                  for clip in ds.test)
    from specview.audio import audio_info
    from specview.longscore import LONG_SECONDS

    for i, (clip, (result, display, dt, energy, faith)) in enumerate(
            zip(ds.test, scored, strict=True)):
        ev = make_result(model, clip, result, display=display, score_seconds=dt,
                         min_iou=min_iou, energy=energy, faith=faith)
        if audio_info(clip.path)[2] > LONG_SECONDS:
            ev = _lean(ev)
        evals.append(ev)
        if progress is not None and client is None:
            progress(i + 1, n)
    report = summarise(evals, model.calibration, min_iou=min_iou)
    report["model"] = {"method": model.method, "encoder": model.encoder.name,
                       "training": {k: v for k, v in model.info.items() if not k.endswith("files")}}
    report["dataset"] = {"root": str(ds.root), "subset": ds.name, "channel": ds.channel}
    if out_dir is not None:
        write_report(out_dir, report, evals, model, figures=figures)
    return report, evals


def _lean(ev: ClipEval) -> ClipEval:
    """A long clip's result without the region map and excess power its flagged regions were
    found with (two more maps of its size: about 120 MB an hour of audio with aisfx); what
    the report and its metrics use stays."""
    r = ev.result
    extras = {k: v for k, v in r.extras.items() if k not in ("region_map", "excess_power")}
    return dataclasses.replace(ev, result=dataclasses.replace(r, extras=extras))


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_report(out_dir: str | Path, report: dict, evals: list[ClipEval], model: Model,
                 *, figures: bool = True) -> None:
    """Write the report files of :func:`evaluate` into ``out_dir``, staged: all or nothing."""
    out = Path(out_dir)
    used: set[str] = set()
    with staged(protect=[e.clip.path for e in evals]):
        for e in evals:
            write_map(out / "maps", map_stem(e.clip.path), e.result, used)
        write_rows(out / "per_clip.csv", per_clip_rows(evals))
        atomic_write_text(out / "metrics.json",
                          json.dumps(finite(report), indent=2, default=_json_default) + "\n")
        if figures:
            from specview import report as R

            R.curves_figure(out, evals)
            R.clips_figure(out / "clips.png", evals, model)
