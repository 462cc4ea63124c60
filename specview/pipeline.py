"""Fit and score over files: the functions the CLI and the GUI both call."""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specview import __version__
from specview.audio import audio_info, load_audio, resample
from specview.calibration import (
    BLOCK_SECONDS,
    Calibration,
    RowProfile,
    block_maxima,
    calibrate,
    fit_row_profile,
    power_ceiling,
)
from specview.checks import check_length, check_result, check_training_files, split_calibration
from specview.datasets import training_files
from specview.detectors import DEFAULT_DETECTOR, DETECTORS, Detector
from specview.detectors.base import EpochReport
from specview.detectors.components import context_frames, frame_scores
from specview.encoders import DEFAULT_ENCODER, ENCODERS, Encoder
from specview.errors import (
    AudioError,
    ModelFileError,
    ParameterError,
    SpecviewError,
    SpecviewWarning,
)
from specview.methods import encoder_params
from specview.metrics import RELATIVE_LEVEL, event_regions, flagged_regions
from specview.modelfile import load_tensors, save_tensors
from specview.params import from_dict, to_dict, with_overrides
from specview.savedparams import saved_params
from specview.spectrogram import compress, expand, mel_power, to_db
from specview.types import (
    DEFAULT_CHANNEL,
    AnomalyResult,
    Audio,
    Channel,
    FlaggedRegion,
    Progress,
    Spectrogram,
    check_channel,
)
from specview.windows import Span, plan_windows, stitch

#: Longest stretch scored at once; longer recordings are scored in windows and stitched.
WINDOW_SECONDS = 60.0
#: How far from a recording's ends the row profile measures and corrects edge effects.
EDGE_SECONDS = 0.5
#: Gain of the energy focus of new models' maps (see :meth:`RowProfile.focus
#: <specview.calibration.RowProfile.focus>`).
FOCUS_GAIN = 1.0
#: Share of a flagged region's peak height its cells must reach, by method (others: 0.5, see
#: :func:`~specview.metrics.regions.flagged_regions`, which cuts off the skirt a network's
#: receptive field spreads around an event). STFPM's map is a product of three layers'
#: discrepancies, sharp-peaked, and half its height cut its regions into pieces of 0.1-0.6 s
#: inside 2-s events (real benchmark mean box F1 0.364 at 0.5, 0.488 at 0.3, 0.577 at 0, but
#: 0.138 at 0 on the demo valve, 0.690 at 0.5 and 0.759 at 0.3); the z-score's map has no
#: receptive field to spread (0.256 at 0.5, 0.328 at 0; demo valve 0.800 at either):
#: ``bench/bench_regions.py``.
REGION_LEVELS = {"stfpm": 0.3, "zscore": 0.0}
#: Normal-cell quantile new models' flagged regions grow down to from their cells above the
#: threshold (:attr:`Calibration.floor_quantile <specview.calibration.Calibration>`).
FLOOR_QUANTILE = 0.99


@dataclass(frozen=True)
class ScoredClip:
    """A scored recording: the result plus the display spectrogram on the same grid."""

    path: Path | None
    result: AnomalyResult
    display: Spectrogram


@dataclass
class Model:
    """A fitted detector with the encoder it was fitted on."""

    encoder: Encoder
    detector: Detector
    info: dict[str, Any] = field(default_factory=dict)
    #: Normal-score statistics from held-out training clips (None for files from before them).
    calibration: Calibration | None = None

    @property
    def method(self) -> str:
        return self.detector.name

    @property
    def band_hz(self) -> float | None:
        """Highest frequency the model knows normal sound at: the lowest Nyquist frequency of
        its training audio (``info["train_nyquist_hz"]``), capped at the front end's top mel
        edge; None for model files from before specview recorded it."""
        nyq = self.info.get("train_nyquist_hz")
        if nyq is None:
            return None
        return min(float(nyq), float(self.encoder.front_end.fmax))

    @property
    def band_sr(self) -> int | None:
        """The sample rate recordings are band-limited to before the front end, as the training
        clips were (None when the training band is the front end's whole band)."""
        nyq = self.info.get("train_nyquist_hz")
        if nyq is None or 2 * float(nyq) >= self.encoder.front_end.sr:
            return None
        return int(round(2 * float(nyq)))

    def check_recording(self, path: str | Path) -> int:
        """Refuse a file this model cannot score meaningfully; return its sample rate.

        Checked from the header (nothing is decoded): the audio checks of
        :func:`specview.audio.audio_info`, a length of at least one feature cell
        (:attr:`Encoder.min_seconds <specview.encoders.base.Encoder.min_seconds>`), and the
        band: a recording whose Nyquist frequency lies below the model's training band
        (:attr:`band_hz`) is **refused**, not flagged. Its missing top band reads as an anomaly
        everywhere (issue 10 measured a normal clip resampled from 44.1 to 8 kHz at 13.2
        against 3.6, 2.5x the flag threshold), so any score written for it would be wrong, and
        a flag beside a number in ``scores.csv`` is easily lost downstream. Fit a model on audio of that rate
        instead (``fit --resample`` brings mixed training clips to the lowest rate).

        Raises
        ------
        AudioError
            Naming the file, its rate and band, and the model's band.
        """
        sr, _, duration = audio_info(path)
        check_length(path, duration, self.encoder)
        band = self.band_hz
        if band is not None and sr / 2 < band:
            raise AudioError(
                f"{path}: recorded at {sr} Hz (sound up to {sr / 2:g} Hz) but the model was "
                f"fitted on audio up to {band:g} Hz; the missing band would score as an "
                f"anomaly. Score recordings of at least {int(math.ceil(2 * band))} Hz, or fit a "
                f"model on {sr} Hz audio"
            )
        return sr

    def load(self, path: str | Path, *, channel: Channel = DEFAULT_CHANNEL) -> Audio:
        """Read a file as the model hears it; ``channel="default"`` (:data:`DEFAULT_CHANNEL
        <specview.types.DEFAULT_CHANNEL>`) uses the channel the model was fitted on (None =
        mean of channels). The file is checked first
        (:meth:`check_recording`), and a recording of a wider band than the training audio is
        band-limited to it (:attr:`band_sr`), as the training clips were."""
        check_channel(channel)
        if channel == DEFAULT_CHANNEL:
            channel = self.info.get("channel")
        self.check_recording(path)
        return load_for(path, self.encoder, channel, band_sr=self.band_sr)

    def score_audio(self, audio: Audio) -> ScoredClip:
        check_length(audio.path or "audio", audio.duration, self.encoder)
        power = mel_power(audio, self.encoder.front_end)
        result = self.score_spectrogram(compress(power, self.encoder.front_end))
        check_result(result, audio.path)
        return ScoredClip(audio.path, result, to_db(power))

    def score_spectrogram(self, spec: Spectrogram) -> AnomalyResult:
        """Score a front-end spectrogram, with the calibration's row profile applied."""
        rows = self.calibration.rows if self.calibration is not None else None
        result = score_spectrogram(self.detector, self.encoder, spec, rows=rows)
        if rows is not None and rows.power_ceiling:
            power = expand(spec.values, self.encoder.front_end)
            excess = rows.excess_power(power)
            if excess is not None and excess.shape == result.map.shape:
                result.extras["excess_power"] = excess
                if rows.focus_gain:
                    # the focused map is shown and ranked; regions are those of the detector's
                    # own (profiled) map, which the threshold was calibrated on
                    amap = rows.focus(result.map, excess)
                    result = AnomalyResult(amap, result.times, result.freqs, float(amap.max()),
                                           frame_scores(amap),
                                           extras={**result.extras, "region_map": result.map})
        return result

    def score_file(self, path: str | Path, *, channel: Channel = DEFAULT_CHANNEL) -> ScoredClip:
        """Score a recording as the model hears it (:meth:`load`).

        Returns
        -------
        ScoredClip
            ``result``: the map ``(n_freq, n_time)`` with ``times`` (s) and ``freqs`` (Hz),
            the clip score and frame scores; ``display``: the dB spectrogram on the same grid.

        Examples
        --------
        >>> model = load_model("fan.safetensors")                      # doctest: +SKIP
        >>> clip = model.score_file("fan/test/anomaly_003.wav")         # doctest: +SKIP
        >>> clip.result.map.shape, clip.result.clip_score               # doctest: +SKIP
        ((96, 216), 7.42)
        >>> [r.box for r in model.flagged(clip.result)]                 # doctest: +SKIP
        [Box(t0=2.21, t1=2.60, f0=1187.0, f1=4422.0, label='', ...)]
        """
        return self.score_audio(self.load(path, channel=channel))

    def save(self, path: str | Path) -> None:
        save_model(self, path)

    @property
    def block_seconds(self) -> float:
        """Length of the calibration's blocks of normal audio (its clips' mean duration; for
        model files from before it was stored, the training clips' mean duration)."""
        cal = self.calibration
        if cal is not None and cal.extras.get("clip_seconds"):
            return float(cal.extras["clip_seconds"])
        n = self.info.get("n_train_clips") or 0
        total = self.info.get("train_seconds") or 0.0
        return float(total) / n if n and total else 10.0

    def threshold_per_hour(self, per_hour: float | None = None) -> float:
        """The flag threshold for ``per_hour`` false flags per hour of normal audio
        (:meth:`Calibration.threshold_per_hour`; ParameterError without a calibration or for
        a rate out of range); None: the calibration's own rate per hour."""
        cal = self.calibration
        if cal is None:
            raise ParameterError("this model file has no calibration (refit it): no threshold "
                                 "to flag long recordings with")
        block = self.block_seconds
        if per_hour is None:
            per_hour = cal.flags_per_hour(block)
        return cal.threshold_per_hour(per_hour, block_seconds=block)

    def flagged(self, result: AnomalyResult, *, flag_rate: float | None = None,
                min_cells: int = 2) -> list[FlaggedRegion]:
        """Regions of ``result.map`` above the normal-calibrated threshold (none without a
        calibration). ``flag_rate`` overrides the calibration's share of normal clips flagged."""
        if self.calibration is None:
            return []
        cal = (self.calibration if flag_rate is None
               else self.calibration.with_flag_rate(flag_rate))
        amap = result.extras.get("region_map", result.map)
        regions = flagged_regions(amap, result.times, result.freqs, cal.threshold,
                                  min_cells=min_cells, base=cal.median, relative=cal.region_level,
                                  floor=cal.region_floor)
        return event_regions(regions, result.extras.get("excess_power"), result.times,
                             result.freqs, normal_power=cal.normal_power)


def split_overrides(
    method: str, encoder: str, overrides: dict[str, str] | None
) -> tuple[dict[str, str], dict[str, str]]:
    """Route ``key=value`` overrides to the encoder or the detector.

    ``encoder.key`` / ``detector.key`` (or ``method.key``) address one side explicitly; a bare
    key goes wherever the name exists, and must exist on one side only.
    """
    enc_fields = set(ENCODERS[encoder].Params.__dataclass_fields__)
    det_fields = set(DETECTORS[method].Params.__dataclass_fields__)
    enc, det = {}, {}
    for k, v in (overrides or {}).items():
        side, _, name = k.rpartition(".")
        if side in ("encoder",):
            enc[name] = v
        elif side in ("detector", "method"):
            det[name] = v
        elif side:
            raise ParameterError(f"--set {k}: prefix must be encoder. or detector.")
        elif name in enc_fields and name in det_fields:
            raise ParameterError(f"--set {k}: ambiguous, write encoder.{k} or detector.{k}")
        elif name in enc_fields:
            enc[name] = v
        elif name in det_fields:
            det[name] = v
        else:
            raise ParameterError(
                f"--set {k}: unknown parameter; {encoder} takes {', '.join(sorted(enc_fields))}; "
                f"{method} takes {', '.join(sorted(det_fields))}"
            )
    return enc, det


def build(method: str = DEFAULT_DETECTOR, encoder: str = DEFAULT_ENCODER,
          overrides: dict[str, str] | None = None, *, device: str | None = "cpu") -> Model:
    """An unfitted model."""
    if method not in DETECTORS:
        raise ParameterError(f"unknown method {method!r}; available: {', '.join(DETECTORS)}")
    if encoder not in ENCODERS:
        raise ParameterError(f"unknown encoder {encoder!r}; available: {', '.join(ENCODERS)}")
    enc_over, det_over = split_overrides(method, encoder, overrides)
    det_cls = DETECTORS[method]
    enc = ENCODERS[encoder](encoder_params(method, encoder, enc_over), device=device)
    return Model(enc, det_cls(with_overrides(det_cls.Params(), det_over), device=device))


#: ``{(path, channel, front end): power spectrogram}``, shared by the fits and evaluations of a
#: comparison so each file is read and transformed once per front end.
SpecCache = dict


def load_for(path: str | Path, encoder: Encoder, channel: int | None, *,
             band_sr: int | None = None) -> Audio:
    """A file at the encoder's sample rate; with ``band_sr`` (below the front end's rate) it
    passes through that rate first, so it holds no sound above ``band_sr / 2``."""
    fe = encoder.front_end
    if band_sr is None or band_sr >= fe.sr:
        return load_audio(path, sr=fe.sr, channel=channel)
    a = load_audio(path, sr=band_sr, channel=channel)
    return Audio(resample(a.samples, band_sr, fe.sr), fe.sr, a.path)


def front_end_power(path: Path, encoder: Encoder, channel: int | None,
                    cache: SpecCache | None = None, *, band_sr: int | None = None) -> Spectrogram:
    """The mel power spectrogram of a file with the encoder's front end (cached when asked);
    ``band_sr`` as in :func:`load_for`."""
    fe = encoder.front_end
    band_sr = None if band_sr is None or band_sr >= fe.sr else int(band_sr)
    key = (str(path), channel, repr(fe)) + (() if band_sr is None else (band_sr,))
    if cache is not None and key in cache:
        return cache[key]
    power = mel_power(load_for(path, encoder, channel, band_sr=band_sr), fe)
    if cache is not None:
        cache[key] = power
    return power


def _training_spectrograms(
    files: Sequence[Path], encoder: Encoder, channel: int | None, cache: SpecCache | None = None,
    band_sr: int | None = None,
) -> Iterator[Spectrogram]:
    for p in files:
        yield compress(front_end_power(p, encoder, channel, cache, band_sr=band_sr),
                       encoder.front_end)


def fit(
    train: str | Path | Sequence[str | Path],
    *,
    method: str = DEFAULT_DETECTOR,
    encoder: str = DEFAULT_ENCODER,
    overrides: dict[str, str] | None = None,
    device: str | None = "cpu",
    channel: int | None = None,
    progress: Progress | None = None,
    on_epoch: EpochReport | None = None,
    model: Model | None = None,
    calibration_fraction: float = 0.15,
    cache: SpecCache | None = None,
    resample: bool = False,
) -> Model:
    """Fit ``method`` on normal recordings, then calibrate its scores on held-out ones.

    Every training clip is checked before any fitting (:func:`check_training_files`): bad
    audio, clips shorter than a feature cell, silent or constant clips and mixed sample rates
    are refused with the clip named. The model records the band its training audio covered
    (``info["train_nyquist_hz"]``, ``info["train_sample_rates"]``); recordings of a narrower
    band are refused when scored (:meth:`Model.check_recording`).

    Parameters
    ----------
    train : path or list of paths
        A dataset folder (its ``train/`` is used), a folder of audio files, a file, or a list.
    on_epoch : callable, optional
        ``on_epoch(entry)`` after each training epoch of a trained method (CFA, STFPM), ``entry``
        its ``{"epoch", "train_loss", "val_loss"}`` (:data:`specview.detectors.base.EpochReport`);
        the other methods never call it.
    model : Model, optional
        An unfitted model from :func:`build` to fit instead of building one (lets a caller watch
        ``model.detector.history``, the per-epoch losses of trained methods, while it fits).
    calibration_fraction : float
        Share of the training files (from 8 files on, at least 2) kept out of the fit and scored
        afterwards to learn what normal scores look like (see :mod:`specview.calibration`). With
        fewer files the fitted files themselves are used, and the calibration says so.
    cache : dict, optional
        Shared spectrogram cache (:data:`SpecCache`).
    resample : bool
        Accept training clips of different sample rates by bringing them all to the lowest
        one (a :class:`~specview.errors.SpecviewWarning` says how many were resampled);
        without it, mixed rates are refused.

    Examples
    --------
    >>> from specview import pipeline
    >>> model = pipeline.fit("data/fan", method="patchcore")        # doctest: +SKIP
    >>> model.info["n_train_clips"], model.info["n_calibration_clips"]  # doctest: +SKIP
    (34, 6)
    >>> model.save("fan.safetensors")                               # doctest: +SKIP
    """
    if isinstance(train, (str, Path)):
        files = training_files(train)
    else:
        files = [Path(p) for p in train]
        if not files:
            raise ParameterError("no training files given")
    if model is None:
        model = build(method, encoder, overrides, device=device)
    fit_files, cal_files = split_calibration(files, calibration_fraction)
    band = check_training_files(files, model.encoder, channel, resample=resample)
    band_sr = band.pop("band_sr")
    t0 = time.perf_counter()
    durations: list[float] = []

    def specs() -> Iterator[Spectrogram]:
        for s in _training_spectrograms(fit_files, model.encoder, channel, cache, band_sr):
            durations.append(s.duration)
            yield s

    extra = {} if on_epoch is None else {"on_epoch": on_epoch}
    model.detector.fit(model.encoder, specs(), n_clips=len(fit_files), progress=progress, **extra)
    fit_seconds = time.perf_counter() - t0
    held_out = bool(cal_files)
    raw, levels, seconds = [], [], []
    scored = cal_files or fit_files[:10]
    for p, s in zip(scored, _training_spectrograms(scored, model.encoder, channel, cache, band_sr),
                    strict=True):
        raw.append(check_result(score_spectrogram(model.detector, model.encoder, s), p).map)
        levels.append(expand(s.values, model.encoder.front_end))
        seconds.append(s.duration)
    # each frequency row measured against its own normal spread (see calibration.RowProfile),
    # then the threshold and quantiles of the profiled maps
    rows = fit_row_profile(raw, edge_frames=context_frames(model.encoder, EDGE_SECONDS))
    grid = max(model.encoder.layer_grids(), key=lambda g: g.freq_stride * g.time_stride)
    rows = dataclasses.replace(rows, power_ceiling=power_ceiling(levels), focus_gain=FOCUS_GAIN,
                               focus_size=(2 * grid.freq_stride + 1, grid.time_stride + 1))
    maps = [rows.apply(m) for m in raw]
    cal = calibrate(maps, [float(m.max()) for m in maps], held_out=held_out)
    per_block = int(round(BLOCK_SECONDS / model.encoder.front_end.seconds_per_frame))
    blocks = block_maxima(maps, frames_per_block=per_block,
                          edge_frames=context_frames(model.encoder, EDGE_SECONDS))
    # frames the detector flags also get the focus across bands (RowProfile.across_level)
    rows = dataclasses.replace(rows, across_level=cal.threshold)
    model.calibration = dataclasses.replace(cal, rows=rows, region_level=REGION_LEVELS.get(
        model.detector.name, RELATIVE_LEVEL), floor_quantile=FLOOR_QUANTILE, extras={
        **cal.extras, "clip_seconds": float(np.mean(seconds)), "block_max": blocks[:4000],
        "block_seconds": per_block * model.encoder.front_end.seconds_per_frame})
    model.info = {
        "n_train_clips": len(fit_files),
        "n_calibration_clips": len(cal_files),
        "calibration_files": [p.name for p in cal_files[:1000]],
        "train_seconds": float(sum(durations)),
        "train_files": [p.name for p in fit_files[:1000]],
        "channel": channel,
        **band,
        "fit_seconds": fit_seconds,
        "calibration_seconds": time.perf_counter() - t0 - fit_seconds,
        "fitted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    return model


def score_spectrogram(
    detector: Detector, encoder: Encoder, spec: Spectrogram, *,
    window_seconds: float = WINDOW_SECONDS, rows: RowProfile | None = None,
) -> AnomalyResult:
    """Score a front-end spectrogram; long ones in overlapping windows, stitched.

    Each window carries a margin of context on both sides that is scored and then discarded,
    so the stitched map matches a whole-clip map away from the edges while memory stays bounded.
    With a row profile (a fitted model's :attr:`Calibration.rows`), the map is profiled and the
    clip score is the profiled map's maximum, frame scores are recomputed from it.
    """
    result = _score_windows(detector, encoder, spec, window_seconds)
    if rows is None:
        return result
    amap = rows.apply(result.map)
    extras = {k: v for k, v in result.extras.items() if k != "peak_score"}
    return AnomalyResult(amap, result.times, result.freqs, float(amap.max()),
                         frame_scores(amap), extras={**extras, "raw_clip_score": result.clip_score})


def window_plan(encoder: Encoder, n_time: int,
                window_seconds: float = WINDOW_SECONDS) -> list[Span]:
    """The windows ``n_time`` frames are scored in (one up to 1.5 windows, else windows with 16
    cells of context each side): whole-file and streamed scoring (:mod:`specview.longscore`)
    share it, so their maps agree."""
    fe = encoder.front_end
    m = encoder.time_multiple
    win = max(m, int(window_seconds / fe.seconds_per_frame) // m * m)
    return plan_windows(n_time, win, margin=16 * m, multiple=m, whole_up_to=win * 3 // 2)


def _score_windows(
    detector: Detector, encoder: Encoder, spec: Spectrogram, window_seconds: float
) -> AnomalyResult:
    fe = encoder.front_end
    spans = window_plan(encoder, spec.values.shape[1], window_seconds)
    if len(spans) == 1:
        return detector.score(encoder, spec)
    maps, frames = [], []
    # the clip score is the one of the window holding the strongest patch, so that a score
    # re-weighted around its peak (PatchCore) is the same as for the whole recording
    best_peak, clip = -np.inf, -np.inf
    for s in spans:
        lo, hi = s.start, s.stop
        sub = Spectrogram(spec.values[:, lo:hi], spec.times[lo:hi], spec.freqs, spec.unit,
                          (hi - lo) * fe.seconds_per_frame)
        r = detector.score(encoder, sub, valid=s.valid)
        maps.append(r.map)
        frames.append(r.frame_scores)
        peak = r.extras.get("peak_score", r.clip_score)
        if peak > best_peak:
            best_peak, clip = peak, r.clip_score
    return AnomalyResult(stitch(maps, spans), spec.times, spec.freqs, float(clip),
                         stitch(frames, spans))


# -- model files --------------------------------------------------------------------------------

def save_model(model: Model, path: str | Path) -> None:
    meta = {
        "method": model.detector.name,
        "method_params": to_dict(model.detector.params),
        "encoder": model.encoder.config(),
        "training": model.info,
        "specview_version": __version__,
    }
    if model.calibration is not None:
        meta["calibration"] = model.calibration.to_dict()
    save_tensors(path, model.detector.state_tensors(), meta)


def load_model(path: str | Path, *, device: str | None = "cpu",
               expect_encoder: dict | None = None) -> Model:
    """Load a model file; the encoder is rebuilt from its saved configuration and must match.

    Every tensor is checked (dtype, shape, finite values) before the model is returned
    (:func:`specview.modelfile.load_tensors`, the detector's ``load_state_tensors`` and
    ``bind``). A file without the training band (``train_nyquist_hz``, from before it was
    recorded) loads with a :class:`~specview.errors.SpecviewWarning`: its band is unknown, so
    recordings are not checked against it.

    Raises
    ------
    ModelFileError
        Damaged or foreign file, unknown method/encoder, or encoder weights/front end that differ
        from those the model was fitted with (or from ``expect_encoder``).
    """
    path = Path(path)
    tensors, meta = load_tensors(path)
    method = meta["method"]
    enc_meta = meta["encoder"]
    if method not in DETECTORS:
        raise ModelFileError(f"{path}: unknown method {method!r} (known: {', '.join(DETECTORS)})")
    if not isinstance(enc_meta, dict) or enc_meta.get("name") not in ENCODERS:
        name = enc_meta.get("name") if isinstance(enc_meta, dict) else enc_meta
        raise ModelFileError(f"{path}: unknown encoder {name!r} (known: {', '.join(ENCODERS)})")
    enc_cls, det_cls = ENCODERS[enc_meta["name"]], DETECTORS[method]
    try:
        enc_params = from_dict(enc_cls.Params, enc_meta.get("params", {}))
        encoder = enc_cls(enc_params, device=device)
        det_params = from_dict(det_cls.Params, saved_params(method, meta["method_params"], encoder))
    except (SpecviewError, TypeError) as exc:
        raise ModelFileError(f"{path}: saved parameters do not fit this specview ({exc})") from None
    current = encoder.config()
    for key, what in (("front_end", "front end"), ("weights", "encoder weights")):
        if current[key] != enc_meta.get(key):
            raise ModelFileError(
                f"{path}: fitted with another {what} than this {encoder.name} encoder has "
                f"({_difference(enc_meta.get(key), current[key])}); refit the model"
            )
    if expect_encoder is not None:
        for key in ("name", "front_end", "weights"):
            if expect_encoder.get(key) != current.get(key):
                raise ModelFileError(
                    f"{path}: fitted with encoder {current['name']} ({key} differs from the "
                    f"expected {expect_encoder.get('name')}); choose a model of that encoder"
                )
    detector = det_cls(det_params, device=device)
    try:
        detector.load_state_tensors(tensors)
        bind = getattr(detector, "bind", None)  # detectors holding a network check it now
        if bind is not None:
            bind(encoder)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from None
    calibration = None
    if "calibration" in meta:
        try:
            calibration = Calibration.from_dict(meta["calibration"])
        except ModelFileError as exc:
            raise ModelFileError(f"{path}: {exc}") from None
    info = dict(meta.get("training", {}))
    if "train_nyquist_hz" not in info:
        warnings.warn(
            f"{path}: written before specview recorded the band of a model's training audio; "
            "recordings of a lower sample rate than its training clips are not refused (refit "
            "the model to have them checked)", SpecviewWarning, stacklevel=2)
    return Model(encoder, detector, info, calibration)


def _difference(saved: Any, now: Any) -> str:
    """``saved a=1, now a=2`` for the keys of two dicts that differ (whole values otherwise)."""
    if isinstance(saved, dict) and isinstance(now, dict):
        keys = [k for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)]
        return (", ".join(f"saved {k}={saved.get(k)!r}, now {k}={now.get(k)!r}"
                          for k in keys[:4]) + (", ..." if len(keys) > 4 else ""))
    return f"saved {saved!r}, now {now!r}"
