"""What runs on a Dask worker when specview scores on a cluster (issue 17).

The model reaches each worker once: :class:`ModelPlugin` (a ``distributed.WorkerPlugin``)
carries the model file's bytes, is registered once per run with the client, and is set up once
on every worker (and on every worker that joins later, e.g. one restarted after a crash): it
writes the bytes to a private temporary file, loads them with the safe loader
(:func:`specview.pipeline.load_model`: no unpickling) and keeps the :class:`Model` with its
encoder for the worker's life. Tasks name the model by the hash of its bytes and find it in
the worker's plugins, so no task carries the model.

The tasks return plain dicts of numpy arrays (what the client writes), or ``{"error": ...}``
for a specview error on bad input (a damaged file): such an error is the file's, so it is
reported, not retried. Anything else raises and is retried by Dask (``retries=``).

Imports ``distributed`` at import time: import this module only when dask is installed
(:mod:`specview.cluster` does).
"""

from __future__ import annotations

import contextvars
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from distributed import WorkerPlugin, get_worker

from specview.errors import SpecviewError

#: Prefix of the plugin names (``specview-model-<hash of the model file>``).
PLUGIN_PREFIX = "specview-model-"
#: Seconds of audio at the front end's rate read beyond a long shard's frames on each side,
#: so the resampler's start and end transients fall outside them (soxr HQ reaches a few ms).
MARGIN_SECONDS = 1.0


class ModelPlugin(WorkerPlugin):
    """Loads a model file's bytes once per worker and keeps the model."""

    def __init__(self, key: str, data: bytes) -> None:
        self.key, self.data = key, data
        self.model = None
        self.name = PLUGIN_PREFIX + key

    def __getstate__(self) -> dict[str, Any]:
        return {"key": self.key, "data": self.data, "name": self.name, "model": None}

    def setup(self, worker) -> None:
        import torch

        from specview.pipeline import load_model

        torch.set_num_threads(max(1, int(getattr(worker.state, "nthreads", 1) or 1)))
        fd, tmp = tempfile.mkstemp(suffix=".safetensors", prefix="specview-model-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(self.data)
            self.model = load_model(tmp, device="cpu")
        finally:
            os.unlink(tmp)


def model_bytes(model) -> bytes:
    """The model file of ``model`` (what :func:`specview.pipeline.save_model` writes)."""
    from specview.pipeline import save_model

    fd, tmp = tempfile.mkstemp(suffix=".safetensors", prefix="specview-send-")
    os.close(fd)
    try:
        # in a fresh context: inside a staged run (a comparison) the file would otherwise be
        # held back until the run ends, and read here empty
        contextvars.Context().run(save_model, model, tmp)
        return Path(tmp).read_bytes()
    finally:
        os.unlink(tmp)


def worker_model(key: str):
    """The model the plugin of ``key`` loaded on this worker."""
    plugin = get_worker().plugins.get(PLUGIN_PREFIX + key)
    if plugin is None or plugin.model is None:
        raise RuntimeError(f"no specview model {key} on this worker (plugin not set up)")
    return plugin.model


def _who() -> dict[str, Any]:
    try:
        addr = get_worker().address
    except ValueError:
        addr = ""
    return {"pid": os.getpid(), "worker": addr}


def score_clip(key: str, shard: int, path: str, channel: Any) -> dict[str, Any]:
    """One clip scored whole (:meth:`Model.score_file`): what ``maps/<stem>.npz`` and its row
    of ``scores.csv`` hold."""
    t0 = time.perf_counter()
    try:
        scored = worker_model(key).score_file(path, channel=channel)
    except SpecviewError as exc:
        return {"shard": shard, "error": str(exc), **_who()}
    r = scored.result
    return {"shard": shard, "map": r.map.astype(np.float32), "times": r.times.astype(np.float64),
            "freqs": r.freqs.astype(np.float64),
            "frame_scores": r.frame_scores.astype(np.float32), "clip_score": float(r.clip_score),
            "duration": float(scored.display.duration), "seconds": time.perf_counter() - t0,
            **_who()}


def score_clips(key: str, shard: int, paths: list[str], channel: Any) -> dict[str, Any]:
    """Consecutive clips of a shard, each scored whole (:func:`score_clip`): ``clips``, one
    result or ``{"error": ...}`` per clip, so a damaged clip is reported alone."""
    t0 = time.perf_counter()
    clips = [score_clip(key, shard, p, channel) for p in paths]
    return {"shard": shard, "clips": clips, "seconds": time.perf_counter() - t0, **_who()}


def aligned_unit(sr: int, rates: list[int], hop: int, sr_out: int) -> int:
    """The smallest step (samples of the file) at which a segment may start so that every
    resampling stage's output samples and the front end's frames (``hop`` at ``sr_out``) fall
    on the whole file's: the segment's samples are then the whole file's, shifted."""
    unit = hop * sr // math.gcd(hop * sr, sr_out)
    for r in rates:
        step = sr // math.gcd(sr, r)
        unit = unit * step // math.gcd(unit, step)
    return unit


def span_power(path: str | Path, model, channel: Any, lo: int, hi: int,
               block_seconds: float = 30.0) -> np.ndarray:
    """Mel power frames ``lo:hi`` of the whole recording, reading only that span's audio plus
    :data:`MARGIN_SECONDS` each side (from an aligned start, :func:`aligned_unit`).

    The edge rule of the frames (windows moved inside the recording) applies at the segment's
    ends; those ends are the file's own where the segment reaches them, else they lie in the
    margin. Equal to :func:`specview.audiostream.iter_power`'s frames of the whole file to
    float32 rounding (the same resampler; the mel matrix product of other column blocks)."""
    from specview import audio as _audio
    from specview.audiostream import iter_power

    fe = model.encoder.front_end
    band_sr = model.band_sr
    sr, _, frames = _audio._checked_header(Path(path))
    rates = [fe.sr] if band_sr is None or band_sr >= fe.sr else [int(band_sr), fe.sr]
    unit = aligned_unit(sr, rates, fe.hop_length, fe.sr)
    margin = int(MARGIN_SECONDS * fe.sr) + fe.n_fft
    a_out = lo * fe.hop_length - fe.n_fft // 2 - margin
    b_out = (hi - 1) * fe.hop_length - fe.n_fft // 2 + fe.n_fft + margin
    first = max(0, math.floor(a_out * sr / fe.sr / unit) * unit)
    last = math.ceil(b_out * sr / fe.sr)
    end = None if last >= frames else last / sr
    f0 = first * fe.sr // sr // fe.hop_length  # whole-file frame of the segment's frame 0
    parts = [p for _, p in iter_power(path, fe, channel=channel, band_sr=band_sr,
                                      start=first / sr, end=end, block_seconds=block_seconds)]
    power = np.concatenate(parts, axis=1)
    out = power[:, lo - f0:hi - f0]
    if out.shape[1] != hi - lo:
        raise SpecviewError(f"{path}: frames {lo}-{hi} not in the recording (got "
                            f"{out.shape[1]} of {hi - lo}); it is shorter than its header says")
    return out


def score_windows(key: str, shard: int, path: str, channel: Any,
                  spans: list[tuple[int, int, int, int]], n_time: int, n_spans: int,
                  duration: float) -> dict[str, Any]:
    """Windows of a long recording's plan (:func:`specview.pipeline.window_plan`), scored as
    :func:`specview.longscore.score_long` scores them: per window the valid columns of the
    map, profiled (``RowProfile.apply(offset=, total=)``), their excess power, and the
    detector's peak and clip score; with the valid frames' power (for the overview)."""
    from specview.checks import check_result
    from specview.spectrogram import compress, expand
    from specview.types import DEFAULT_CHANNEL, AnomalyResult, Spectrogram
    from specview.windows import Span

    t0 = time.perf_counter()
    model = worker_model(key)
    try:
        if channel == DEFAULT_CHANNEL:
            channel = model.info.get("channel")
        fe = model.encoder.front_end
        enc, det = model.encoder, model.detector
        rows = model.calibration.rows if model.calibration is not None else None
        spf = fe.seconds_per_frame
        mel_freqs = fe.mel_centres()
        lo, hi = spans[0][0], spans[-1][1]
        power = span_power(path, model, channel, lo, hi)
        out = []
        for start, stop, vs, ve in spans:
            s = Span(start, stop, vs, ve)
            sub = Spectrogram(power[:, start - lo:stop - lo], np.arange(start, stop) * spf,
                              mel_freqs.copy(), "power",
                              (stop - start) * spf if n_spans > 1 else duration)
            spec = compress(sub, fe)
            r = det.score(enc, spec) if n_spans == 1 else det.score(enc, spec, valid=s.valid)
            check_result(AnomalyResult(r.map, spec.times, spec.freqs, r.clip_score,
                                       r.frame_scores), Path(path))
            v0, v1 = s.valid
            raw = r.map[:, v0:v1]
            exc = None
            if rows is not None:
                prof = rows.apply(raw, offset=vs, total=n_time)
                if rows.power_ceiling:
                    exc = rows.excess_power(expand(spec.values[:, v0:v1], fe))
            else:
                prof = raw
            out.append({"valid_start": vs, "map": np.asarray(prof, np.float32),
                        "excess": None if exc is None else np.asarray(exc, np.float32),
                        "peak": float(r.extras.get("peak_score", r.clip_score)),
                        "clip_score": float(r.clip_score),
                        "power": power[:, vs - lo:ve - lo].copy()})
    except SpecviewError as exc:
        return {"shard": shard, "error": str(exc), **_who()}
    return {"shard": shard, "windows": out, "seconds": time.perf_counter() - t0, **_who()}


def _threads() -> None:
    """One torch thread per worker thread, as :class:`ModelPlugin` sets (tasks that run
    before any model plugin, e.g. a comparison's fits)."""
    import torch

    try:
        n = int(getattr(get_worker().state, "nthreads", 1) or 1)
    except ValueError:
        n = 1
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def evaluate_clip(run, key: str, shard: int, clip, channel: Any, flag_rate: float | None,
                  tau: float, faithfulness: bool, any_sources: bool,
                  display: bool) -> dict[str, Any]:
    """One test clip of an evaluation with the model of ``key``, its calibration at
    ``flag_rate`` when given: ``run`` is :func:`specview.evaluation.evaluate_clip` (the single
    process's code; passed in, pickled by name, so that this module does not import it)."""
    import dataclasses

    t0 = time.perf_counter()
    model = worker_model(key)
    if flag_rate is not None and model.calibration is not None:
        model = dataclasses.replace(model,
                                    calibration=model.calibration.with_flag_rate(flag_rate))
    try:
        scored = run(model, clip, channel=channel, tau=tau, faithfulness=faithfulness,
                     any_sources=any_sources, display=display)
    except SpecviewError as exc:
        return {"shard": shard, "error": str(exc), **_who()}
    return {"shard": shard, "scored": scored, "seconds": time.perf_counter() - t0, **_who()}


def fit_pair(shard: int, train: list[str], channel: Any, encoder: str,
             encoder_overrides: dict[str, str], method: str, method_overrides: dict[str, str],
             device: str | None, feature_cache_bytes: int) -> dict[str, Any]:
    """A comparison's pair fitted as :func:`specview.comparison.compare` fits it (the encoder's
    training features computed first, and timed, then the fit on them): the model file's
    bytes, the fit's ``info`` and the encoder pass's seconds."""
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS
    from specview.methods import encoder_params
    from specview.params import with_overrides
    from specview.pipeline import Model, fit, front_end_power
    from specview.spectrogram import compress

    _threads()
    t0 = time.perf_counter()
    files = [Path(p) for p in train]
    try:
        enc_cls, det_cls = ENCODERS[encoder], DETECTORS[method]
        enc = enc_cls(encoder_params(method, encoder, encoder_overrides), device=device)
        enc.cache_features(feature_cache_bytes)
        cache: dict = {}
        t1 = time.perf_counter()
        for p in files:
            enc.features(compress(front_end_power(p, enc, channel, cache), enc.front_end))
        features_seconds = time.perf_counter() - t1
        det = det_cls(with_overrides(det_cls.Params(), method_overrides), device=device)
        model = fit(files, model=Model(enc, det), channel=channel, cache=cache)
    except SpecviewError as exc:
        return {"shard": shard, "error": str(exc), **_who()}
    return {"shard": shard, "model": model_bytes(model), "info": model.info,
            "features_seconds": features_seconds, "seconds": time.perf_counter() - t0,
            **_who()}
