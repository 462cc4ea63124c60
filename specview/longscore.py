"""Scoring recordings of any length in bounded memory: audio, spectrogram, map and events in a
stream (issue 14).

Whole-file scoring (:meth:`Model.score_file <specview.pipeline.Model.score_file>`) holds the
recording, its spectrogram and its map; an hour at 44.1 kHz is 1.4 GB. Here the recording is
read in blocks, resampled and turned into spectrogram frames in a stream
(:mod:`specview.audiostream`), scored in the same windows with context margins as whole-file
scoring (:func:`specview.pipeline.window_plan`), profiled and focused frame by frame
(:class:`~specview.calibration.RowProfile`), cut into flagged events as soon as a quiet stretch
ends them, and written to a store (:mod:`specview.longstore`) as it goes. What is held: one
window of spectrogram (60 s plus context), one chunk of map, and the frames of an event still
open. The map, frame scores and events equal those of whole-file scoring (tests compare them on
a 3-minute recording).

The flag threshold of a long recording is a rate of false flags per hour of normal audio
(:meth:`Model.threshold_per_hour <specview.pipeline.Model.threshold_per_hour>`), by default the
calibration's own rate per hour.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specview import audiostream, longresume
from specview.audio import audio_info
from specview.calibration import RowProfile
from specview.checks import check_result
from specview.detectors.components import frame_scores
from specview.errors import AudioError
from specview.longstore import LongEvent, StoreWriter, calibrated
from specview.metrics import RELATIVE_LEVEL, event_regions, flagged_regions
from specview.metrics.regions import MERGE_GAP_S
from specview.pipeline import WINDOW_SECONDS, Model, window_plan
from specview.spectrogram import compress, expand
from specview.types import DEFAULT_CHANNEL, AnomalyResult, Box, Channel, Spectrogram, check_channel

#: Recordings longer than this are scored in a stream by ``specview score`` (seconds).
LONG_SECONDS = 300.0
#: An event still open after this long is closed and a new one begins (seconds), so that the
#: frames held for an open event stay bounded.
MAX_EVENT_SECONDS = 600.0

#: ``progress(frames_done, n_frames)`` after each window.
LongProgress = Callable[[int, int], None]
#: ``on_map(first, map, region_map, excess_power or None)``: a final piece of the map.
MapSink = Callable[[int, np.ndarray, np.ndarray, "np.ndarray | None"], None]


@dataclass
class LongSummary:
    """What scoring a long recording gave (the full results are in its store)."""

    path: Path
    store: Path
    duration: float
    n_frames: int
    clip_score: float
    peak_time: float
    peak_freq: float
    threshold: float
    median: float
    per_hour: float
    events: list[LongEvent] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def realtime_factor(self) -> float:
        return self.duration / self.seconds if self.seconds > 0 else float("inf")


class StreamFocus:
    """:meth:`RowProfile.focus` over a map that arrives in pieces: a column is focused once
    the columns its neighbourhood reaches have arrived, so the pieces equal the whole."""

    def __init__(self, rows: RowProfile) -> None:
        self.rows = rows
        self.hw = rows.focus_size[1] // 2
        self.map: np.ndarray | None = None
        self.exc: np.ndarray | None = None
        self.first = 0  # global frame of self.map's column 0
        self.done = 0   # next global frame to emit

    def push(self, amap: np.ndarray, excess: np.ndarray, *, final: bool
             ) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """Add columns; return ``(first, focused, profiled, excess)`` of the columns now final."""
        if self.map is None:
            self.map, self.exc = amap, excess
        else:
            self.map = np.concatenate([self.map, amap], axis=1)
            self.exc = np.concatenate([self.exc, excess], axis=1)
        end = self.first + self.map.shape[1]
        stop = end if final else max(self.done, end - self.hw)
        focused = self.rows.focus(self.map, self.exc)
        a, b = self.done - self.first, stop - self.first
        out = (self.done, focused[:, a:b], self.map[:, a:b], self.exc[:, a:b])
        self.done = stop
        keep = max(self.first, self.done - self.hw) - self.first
        self.map, self.exc = self.map[:, keep:], self.exc[:, keep:]
        self.first += keep
        return out


class StreamEvents:
    """Flagged events of a map that arrives in pieces, as :meth:`Model.flagged
    <specview.pipeline.Model.flagged>` finds them on the whole map.

    Regions are connected areas above the threshold (above the ``floor`` they grow down to,
    when there is one), and events merge regions less than ``gap_s`` apart; neither reaches
    across a stretch of more than ``gap_s`` with no cell above that level. Columns are held
    until such a stretch follows them, then cut there and turned into events; an event open
    longer than :data:`MAX_EVENT_SECONDS` is cut anyway.
    """

    def __init__(self, threshold: float, median: float, freqs: np.ndarray,
                 seconds_per_frame: float, normal_power: np.ndarray | None,
                 min_cells: int = 2, relative: float = RELATIVE_LEVEL,
                 floor: float | None = None) -> None:
        self.threshold, self.median = float(threshold), float(median)
        self.relative = float(relative)
        self.floor = None if floor is None else float(floor)
        self.low = self.threshold if floor is None else min(self.threshold, self.floor)
        self.freqs, self.spf = freqs, float(seconds_per_frame)
        self.normal_power, self.min_cells = normal_power, min_cells
        self.quiet = int(MERGE_GAP_S / self.spf) + 2  # frames of a stretch that ends an event
        self.max_frames = int(MAX_EVENT_SECONDS / self.spf)
        self.first = 0
        self.map = np.zeros((len(freqs), 0), dtype=np.float32)
        self.exc: np.ndarray | None = None
        self.events: list[tuple[Box, float, int]] = []

    @classmethod
    def of(cls, cal, threshold: float, freqs: np.ndarray,
           seconds_per_frame: float) -> StreamEvents:
        """The events a model with calibration ``cal`` (None: none) flags at ``threshold``."""
        if cal is None:
            return cls(threshold, 0.0, freqs, seconds_per_frame, None)
        return cls(threshold, cal.median, freqs, seconds_per_frame, cal.normal_power,
                   relative=cal.region_level, floor=cal.region_floor)

    def push(self, region_map: np.ndarray, excess: np.ndarray | None, *, final: bool) -> None:
        self.map = np.concatenate([self.map, region_map], axis=1)
        if excess is not None:
            self.exc = excess if self.exc is None else np.concatenate([self.exc, excess], axis=1)
        hot = (self.map >= self.low).any(axis=0)
        n = hot.size
        if final or n >= self.max_frames:
            cut = n
        else:
            # the end of the last run of `quiet` cold frames
            cold = np.concatenate([[0], np.cumsum(~hot)])
            ends = np.nonzero(cold[self.quiet:] - cold[:-self.quiet] == self.quiet)[0]
            cut = int(ends[-1]) + self.quiet if ends.size else 0
        if cut == 0:
            return
        if (self.map[:, :cut] >= self.threshold).any():
            self._regions(self.map[:, :cut], None if self.exc is None else self.exc[:, :cut])
        self.map = self.map[:, cut:]
        if self.exc is not None:
            self.exc = self.exc[:, cut:]
        self.first += cut

    def _regions(self, amap: np.ndarray, exc: np.ndarray | None) -> None:
        times = np.arange(self.first, self.first + amap.shape[1]) * self.spf
        regions = flagged_regions(amap, times, self.freqs, self.threshold,
                                  min_cells=self.min_cells, base=self.median,
                                  relative=self.relative, floor=self.floor)
        for r in event_regions(regions, exc, times, self.freqs, normal_power=self.normal_power):
            self.events.append((r.box, r.score, r.n_cells))


def score_long(
    model: Model,
    path: str | Path,
    store: str | Path,
    *,
    channel: Channel = DEFAULT_CHANNEL,
    per_hour: float | None = None,
    window_seconds: float = WINDOW_SECONDS,
    block_seconds: float = 30.0,
    progress: LongProgress | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_map: MapSink | None = None,
    resume: bool = False,
) -> LongSummary:
    """Score a recording of any length into the store folder ``store`` (created; see
    :mod:`specview.longstore`).

    Parameters
    ----------
    per_hour : float, optional
        False flags per hour of normal audio the threshold allows (default: the calibration's
        own rate, see :meth:`Model.threshold_per_hour`).
    progress : callable, optional
        ``progress(frames_done, n_frames)`` after each window.
    should_stop : callable, optional
        Polled after each window; when it returns True scoring stops with
        :class:`InterruptedError` (the store is left incomplete: ``attrs["complete"]`` False).
    resume : bool
        Go on from where a run stopped in the same ``store`` stopped (its checkpoint,
        :mod:`specview.longresume`), when it was made with the same recording, model,
        threshold and windows; otherwise start afresh. Either way the result is that of an
        uninterrupted run. A run stopped by ``should_stop`` or by ``progress`` raising
        leaves such a checkpoint.
    on_map : callable, optional
        ``on_map(first, map, region_map, excess_power or None)`` for each piece of the map as it
        is final (float32, frames ``first : first + n``), in order: what
        :func:`score_long_result` keeps.

    Raises
    ------
    AudioError, ParameterError
        As whole-file scoring: the recording is checked from its header first
        (:meth:`Model.check_recording`), and damaged samples stop the run with their time.
    """
    t_start = time.perf_counter()
    path = Path(path)
    check_channel(channel)
    if channel == DEFAULT_CHANNEL:
        channel = model.info.get("channel")
    model.check_recording(path)
    enc, det, fe = model.encoder, model.detector, model.encoder.front_end
    band_sr = model.band_sr
    cal = model.calibration
    rows = cal.rows if cal is not None else None
    threshold = model.threshold_per_hour(per_hour) if cal is not None else float("inf")
    if per_hour is None and cal is not None:
        per_hour = cal.flags_per_hour(model.block_seconds)
    median = cal.median if cal is not None else 0.0
    n_time = audiostream.expected_frames(path, fe, band_sr=band_sr)
    spans = window_plan(enc, n_time, window_seconds)
    spf = fe.seconds_per_frame
    mel_freqs = fe.mel_centres()
    duration = audio_info(path)[2]
    focus = None
    if rows is not None and rows.power_ceiling and rows.focus_gain:
        focus = StreamFocus(rows)
    st = path.stat()
    key = _key(model, path, n_time, len(spans), window_seconds, threshold, median, channel)
    events = StreamEvents.of(cal, threshold, mel_freqs, spf)
    best_peak, raw_clip = -np.inf, -np.inf
    clip, peak_at = -np.inf, (0, 0)
    saved = longresume.load(store, key) if resume else None
    if saved is not None:
        writer = StoreWriter.reopen(store, longresume.restore(saved, focus, events))
        sc = saved["scalars"]
        best_peak, raw_clip, clip = sc["best_peak"], sc["raw_clip"], sc["clip"]
        peak_at = tuple(sc["peak_at"])
    else:
        longresume.clear(store)
        writer = StoreWriter(store, n_time=n_time, freqs=mel_freqs, mel_freqs=mel_freqs,
                             seconds_per_frame=spf, attrs={
                                 "recording": str(path), "recording_bytes": st.st_size,
                                 "recording_mtime": st.st_mtime, "duration": duration,
                                 "method": model.method, "encoder": enc.name,
                                 "threshold": threshold, "median": median,
                                 "per_hour": per_hour})

    def emit(first: int, amap: np.ndarray, region: np.ndarray, exc: np.ndarray | None,
             final: bool) -> None:
        nonlocal clip, peak_at
        if amap.shape[1]:
            fs = frame_scores(amap)
            writer.add_map(first, amap, fs, region.max(axis=0))
            if on_map is not None:
                on_map(first, amap, region, exc)
            k = int(np.argmax(amap))
            r, c = divmod(k, amap.shape[1])
            if amap[r, c] > clip:
                clip, peak_at = float(amap[r, c]), (r, first + c)
        before = len(events.events)
        events.push(region, exc, final=final)
        writer.add_events(sorted(events.events[before:], key=lambda e: e[0].t0))

    buf = np.zeros((fe.n_mels, 0), dtype=np.float32)
    done = saved["windows_done"] if saved is not None else 0
    buf0 = saved["buf0"] if saved is not None else 0
    queue = list(spans[done:])

    def checkpoint() -> None:
        longresume.save(store, key, windows_done=len(spans) - len(queue), buf0=buf0,
                        writer_state=writer.state(), focus=focus, events=events,
                        scalars={"best_peak": float(best_peak), "raw_clip": float(raw_clip),
                                 "clip": float(clip), "peak_at": [int(v) for v in peak_at]})

    for first, power in audiostream.iter_power(path, fe, channel=channel, band_sr=band_sr,
                                               block_seconds=block_seconds):
        end = first + power.shape[1]
        if end > writer.power_done:  # (resumed: the overview's frames not yet written)
            k = max(0, writer.power_done - first)
            writer.add_power(first + k, power[:, k:])
        have = buf0 + buf.shape[1]
        if end <= have:
            continue  # (resumed: frames before the next window's)
        buf = np.concatenate([buf, power[:, max(0, have - first):]], axis=1)
        while queue and buf0 + buf.shape[1] >= queue[0].stop:
            s = queue.pop(0)
            lo, hi = s.start - buf0, s.stop - buf0
            sub = Spectrogram(buf[:, lo:hi], np.arange(s.start, s.stop) * spf, mel_freqs.copy(),
                              "power", (s.stop - s.start) * spf if len(spans) > 1 else duration)
            spec = compress(sub, fe)
            r = det.score(enc, spec) if len(spans) == 1 else det.score(enc, spec, valid=s.valid)
            check_result(AnomalyResult(r.map, spec.times, spec.freqs, r.clip_score,
                                       r.frame_scores), path)
            peak = r.extras.get("peak_score", r.clip_score)
            if peak > best_peak:
                best_peak, raw_clip = peak, r.clip_score
            v0, v1 = s.valid
            raw = r.map[:, v0:v1]
            final = not queue
            if rows is None:
                emit(s.valid_start, raw, raw, None, final)
            else:
                prof = rows.apply(raw, offset=s.valid_start, total=n_time)
                exc = None
                if rows.power_ceiling:
                    exc = rows.excess_power(expand(spec.values[:, v0:v1], fe))
                if focus is not None and exc is not None:
                    emit(*focus.push(prof, exc, final=final), final=final)
                else:
                    emit(s.valid_start, prof, prof, exc, final)
            if queue:
                drop = queue[0].start - buf0
                buf = buf[:, drop:]
                buf0 = queue[0].start
            try:
                if progress is not None:
                    progress(s.valid_stop, n_time)
                if should_stop is not None and should_stop():
                    raise InterruptedError(f"{path}: scoring stopped at "
                                           f"{s.valid_stop * spf:.1f} s")
            except BaseException:
                if queue:  # between two windows: all the stream holds is saved
                    checkpoint()
                raise
    if queue:
        raise AudioError(f"{path}: the recording ended before its header's length "
                         f"({buf0 + buf.shape[1]} of {n_time} frames)")
    if rows is None:
        clip = float(raw_clip)
    found = [LongEvent(b, s, float(calibrated([s], median, threshold)[0]), n)
             for b, s, n in events.events]
    found.sort(key=lambda e: e.box.t0)
    summary = LongSummary(path, Path(store), duration, n_time, float(clip),
                          float(peak_at[1] * spf), float(mel_freqs[peak_at[0]]), threshold,
                          median, float(per_hour) if per_hour is not None else float("nan"),
                          found, time.perf_counter() - t_start)
    writer.finish([(e.box, e.score, e.n_cells) for e in found], {
        "clip_score": summary.clip_score, "peak_time": summary.peak_time,
        "peak_freq": summary.peak_freq, "score_seconds": summary.seconds})
    longresume.clear(store)
    return summary


def resume_key(model: Model, path: str | Path, *, channel: Channel = DEFAULT_CHANNEL,
               per_hour: float | None = None, window_seconds: float = WINDOW_SECONDS
               ) -> dict[str, Any]:
    """The identity :func:`score_long` gives its checkpoint (:mod:`specview.longresume`) for
    these arguments: the recording (path, bytes, modification time), the model (method,
    encoder, detector parameters, front end, band, a digest of its calibration), threshold and
    windows. Only the header of
    the recording is read. Runs with equal keys give equal results."""
    path = Path(path)
    check_channel(channel)
    if channel == DEFAULT_CHANNEL:
        channel = model.info.get("channel")
    n_time = audiostream.expected_frames(path, model.encoder.front_end, band_sr=model.band_sr)
    cal = model.calibration
    threshold = model.threshold_per_hour(per_hour) if cal is not None else float("inf")
    median = cal.median if cal is not None else 0.0
    n_windows = len(window_plan(model.encoder, n_time, window_seconds))
    return _key(model, path, n_time, n_windows, window_seconds, threshold, median, channel)


def _key(model: Model, path: Path, n_time: int, n_windows: int, window_seconds: float,
         threshold: float, median: float, channel) -> dict[str, Any]:
    st = path.stat()
    enc = model.encoder
    return {"recording": str(path.resolve()), "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
            "n_time": n_time, "windows": n_windows, "window_seconds": float(window_seconds),
            "method": model.method, "encoder": enc.name, "threshold": float(threshold),
            "median": float(median), "channel": repr(channel), "band_sr": model.band_sr,
            "detector": repr(getattr(model.detector, "params", "")),
            "front_end": repr(enc.front_end), "calibration": _calibration_digest(model)}


def _calibration_digest(model: Model) -> str | None:
    """A digest of the model's calibration (row profile, focus, region settings): a model
    whose maps or regions come out differently is not the checkpoint's."""
    cal = model.calibration
    if cal is None:
        return None
    text = json.dumps(cal.to_dict(), sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def score_long_result(model: Model, path: str | Path, *, channel: Channel = DEFAULT_CHANNEL,
                      progress: LongProgress | None = None
                      ) -> tuple[AnomalyResult, LongSummary]:
    """A long recording's :class:`AnomalyResult` as :meth:`Model.score_file
    <specview.pipeline.Model.score_file>` gives it (the same map, frame scores, clip score and
    ``extras`` ``region_map`` / ``excess_power``, within float tolerance), scored in a stream
    (:func:`score_long`, into a temporary store removed after): what is held is the map and its
    companions (float32, 4 bytes a cell: 96 bands x 155k frames an hour with aisfx, 60 MB
    each), never the audio (1.4 GB an hour at 44.1 kHz) or its whole spectrogram.
    ``extras["long"]`` holds the :class:`LongSummary` (events at the per-hour threshold)."""
    import tempfile

    fe = model.encoder.front_end
    n_time = audiostream.expected_frames(path, fe, band_sr=model.band_sr)
    n_freq = fe.n_mels
    held: dict[str, np.ndarray] = {}

    def keep(first: int, amap: np.ndarray, region: np.ndarray, exc: np.ndarray | None) -> None:
        n = amap.shape[1]
        for key, a in (("map", amap), ("region_map", region), ("excess_power", exc)):
            if a is None or (key == "region_map" and a is amap):
                continue
            if key not in held:
                held[key] = np.full((n_freq, n_time), np.nan, dtype=np.float32)
            held[key][:, first:first + n] = a

    with tempfile.TemporaryDirectory(prefix="specview-long-") as tmp:
        summary = score_long(model, path, Path(tmp) / "store.zarr", channel=channel,
                             progress=progress, on_map=keep)
    amap = held.pop("map")
    times = np.arange(n_time) * fe.seconds_per_frame
    extras: dict = {k: v for k, v in held.items()}
    extras["long"] = summary
    result = AnomalyResult(amap, times, fe.mel_centres(), float(summary.clip_score),
                           frame_scores(amap), extras=extras)
    return result, summary
