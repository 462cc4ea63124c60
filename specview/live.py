"""Live scoring: audio blocks in, map columns, frame scores and events out (issue 16).

The pieces are those of files (:mod:`specview.longscore`): the model's channel choice, the
band-limiting of :func:`specview.pipeline.load_for` (:attr:`Model.band_sr
<specview.pipeline.Model.band_sr>`), :class:`~specview.audiostream.Resampler` to the encoder's
rate, mel frames as in :class:`~specview.audiostream.MelStream`, windows scored with context
(``detector.score(encoder, spec, valid=...)``), :meth:`RowProfile.apply
<specview.calibration.RowProfile.apply>` with the frame offset, the energy focus in pieces
(:class:`~specview.longscore.StreamFocus`), flagged regions and events as
:meth:`Model.flagged <specview.pipeline.Model.flagged>` finds them, at the threshold of
:meth:`Model.threshold_per_hour <specview.pipeline.Model.threshold_per_hour>`.

What differs from files is the windowing. Whole-file scoring uses 60-s windows with 16 feature
cells (3 s) of context each side; live, a window's core is short (:data:`CORE_SECONDS`) and it
is scored as soon as :data:`RIGHT_CELLS` cells of audio beyond the core have arrived, with
:data:`LEFT_CELLS` cells of context before it. So an event is seen within about a core plus the
right margin of its onset. The live map equals the offline map computed with the same windows
(:func:`live_spans`, :func:`score_offline`) away from the input's end (up to float32 rounding:
mel frames computed a few at a time round differently from frames computed 2048 at a time,
see :class:`LiveMelStream`); how far it departs from the whole-file map near a window's right
edge, as a function of the margins, is measured by ``bench/measure_live_margins.py`` and the
margins are chosen from that (README, *Live monitoring*).

:class:`LiveScorer` turns blocks into :class:`Window` (the profiled map of each scored core,
for events) and :class:`Columns` (the focused map, its frame scores and the mel power, for a
view); :class:`~specview.liveevents.EventTracker` opens, updates and closes :class:`~specview.liveevents.LiveEvent` s on the windows.
Neither imports Qt: a view subscribes through :class:`specview.monitor.Monitor`'s callbacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from specview.audiostream import MelStream, Resampler
from specview.checks import check_result
from specview.detectors.components import frame_scores
from specview.errors import AudioError, ParameterError
from specview.longscore import StreamFocus
from specview.longstore import calibrated
from specview.pipeline import Model
from specview.spectrogram import MelFrontEnd, compress, expand, mel_power
from specview.types import DEFAULT_CHANNEL, AnomalyResult, Audio, Channel, Spectrogram
from specview.windows import Span

#: Seconds of a live window's core (rounded down to whole feature cells of the encoder).
CORE_SECONDS = 0.4
#: Feature cells of context scored before a core (aisfx: 8 frames, 186 ms a cell). Measured
#: (``bench/measure_live_margins.py``: the demo fan with bursts, 0.37-s cores, the largest
#: departure of the live profiled map from the whole-file map, in multiples of the flag
#: threshold's height above normal): 12.7 with no context, 2.0 / 0.52 / 0.034 / 1.1e-3 with
#: 1 / 2 / 3 / 4 cells, and from 5 cells on 1.6e-5, the level of float32 rounding. Context
#: before a core costs only computation.
LEFT_CELLS = 5
#: Feature cells of audio scored after a core before the core is given out (the latency the map
#: costs beyond the core). Measured as :data:`LEFT_CELLS`, at the core's right edge: 14.0 with
#: none, 3.5 / 0.47 / 0.036 / 9.6e-4 with 1 / 2 / 3 / 4 cells, 1.6e-5 (rounding) from 5 cells
#: on: the smallest margin that keeps the map equal is 5 cells (0.93 s for aisfx). With 5 cells
#: each side (the defaults): 3.0e-5.
RIGHT_CELLS = 5
#: ``total`` given to :meth:`RowProfile.apply` while the input's length is unknown: the profile's
#: edge factors then reach only the input's first frames.
_OPEN_END = 1 << 62


@dataclass(frozen=True)
class LivePlan:
    """Frames of a live window: ``core`` scored and kept, ``left`` and ``right`` of context."""

    core: int
    left: int
    right: int

    def seconds(self, fe: MelFrontEnd) -> tuple[float, float, float]:
        spf = fe.seconds_per_frame
        return self.core * spf, self.left * spf, self.right * spf


def live_plan(model: Model, *, core_seconds: float = CORE_SECONDS,
              left_cells: int = LEFT_CELLS, right_cells: int = RIGHT_CELLS) -> LivePlan:
    """The live windows of ``model``'s encoder: whole feature cells (``encoder.time_multiple``
    frames), a core of at least one cell."""
    for name, v in (("left_cells", left_cells), ("right_cells", right_cells)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ParameterError(f"{name} must be a whole number >= 0, got {v!r}")
    if not (isinstance(core_seconds, int | float) and math.isfinite(core_seconds)
            and core_seconds > 0):
        raise ParameterError(f"core_seconds must be a positive number, got {core_seconds!r}")
    m = model.encoder.time_multiple
    spf = model.encoder.front_end.seconds_per_frame
    core = max(m, int(core_seconds / spf) // m * m)
    return LivePlan(core, left_cells * m, right_cells * m)


def live_spans(n_time: int, plan: LivePlan) -> list[Span]:
    """The windows live scoring uses on an input of ``n_time`` frames, as if it were a file
    (the offline reference of :func:`score_offline`)."""
    spans, a = [], 0
    while a < n_time:
        b = min(a + plan.core, n_time)
        spans.append(Span(max(0, a - plan.left), min(n_time, b + plan.right), a, b))
        a = b
    return spans


class LiveMelStream(MelStream):
    """:class:`~specview.audiostream.MelStream` that returns each frame as soon as its samples
    have arrived, instead of in mel_power's blocks of 2048 frames (47 s at the default hop).

    Frame ``k`` is the same window of the same samples, transformed the same way; only the mel
    filter bank's matrix product runs on fewer columns at once, and OpenBLAS's ``sgemm`` rounds
    a column according to how many columns the call has, so frames agree with mel_power to
    float32 rounding (measured in MelStream's notes: up to 5.3e-7 relative), not bit for bit.
    The input's length is never known in advance (no ``n_samples``).
    """

    def __init__(self, fe: MelFrontEnd) -> None:
        super().__init__(fe)

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self._finished:
            raise ParameterError("LiveMelStream.push after finish(): make a new one")
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise ParameterError(f"LiveMelStream.push takes mono samples (1-D), got {x.shape}")
        if not len(x):
            return self._empty()
        if self._gain is not None:
            x = x * self._gain
        self._buf = np.concatenate([self._buf, x]) if len(self._buf) else x.copy()
        self.received += len(x)
        fe = self.fe
        if self.received < fe.n_fft:
            return self._empty()
        ready = (self.received - fe.n_fft + self._pad) // fe.hop_length + 1
        if ready <= self.emitted:
            return self._empty()
        k = np.arange(self.emitted, ready, dtype=np.int64)
        out = self._frames(self._buf, np.maximum(k * fe.hop_length - self._pad, 0)
                           - self._buf_start)
        self.emitted = ready
        keep = max(0, min(self.emitted * fe.hop_length - self._pad, self.received - fe.n_fft))
        if keep > self._buf_start:
            self._buf = self._buf[keep - self._buf_start:].copy()
            self._buf_start = keep
        return out


@dataclass(frozen=True)
class Window:
    """One scored core: the profiled map (the map regions and events are found on) and the mel
    power above normal, frames ``first .. first + n`` of the segment."""

    first: int
    region_map: np.ndarray
    excess: np.ndarray | None


@dataclass(frozen=True)
class Columns:
    """Map columns ready for a view: frames ``first .. first + n`` of the segment that began at
    ``t0`` seconds of input time (frame ``k`` is centred at ``t0 + k * seconds_per_frame``).

    ``map`` is the focused, profiled map (what the window draws and ranks), ``frame_scores`` its
    per-frame score, ``region_map`` the profiled map before the focus (what regions are found
    on), ``power`` the mel power (``to_db`` for display). :meth:`calibrated` puts values in
    multiples of the flag threshold (0 typical normal, 1 the threshold).
    """

    first: int
    t0: float
    seconds_per_frame: float
    freqs: np.ndarray
    map: np.ndarray
    frame_scores: np.ndarray
    region_map: np.ndarray
    power: np.ndarray
    threshold: float
    median: float

    @property
    def times(self) -> np.ndarray:
        n = self.map.shape[1]
        return self.t0 + np.arange(self.first, self.first + n) * self.seconds_per_frame

    def calibrated(self, values: np.ndarray) -> np.ndarray:
        return calibrated(values, self.median, self.threshold)


def _stages(sr_in: int, fe: MelFrontEnd, band_sr: int | None) -> list[tuple[int, int]]:
    """Resampling stages from ``sr_in`` to the front end, through ``band_sr`` when it is below
    the front end's rate (what :func:`specview.pipeline.load_for` does in one shot)."""
    rates = [sr_in, fe.sr] if band_sr is None or band_sr >= fe.sr else [sr_in, int(band_sr),
                                                                          fe.sr]
    return [(a, b) for a, b in zip(rates, rates[1:], strict=False) if a != b]


def check_input_rate(model: Model, sr: int, what: str = "input") -> None:
    """Refuse an input rate whose band lies below the model's training band, as
    :meth:`Model.check_recording <specview.pipeline.Model.check_recording>` refuses a file."""
    band = model.band_hz
    if band is not None and sr / 2 < band:
        raise AudioError(
            f"{what}: {sr} Hz (sound up to {sr / 2:g} Hz) but the model was fitted on audio up "
            f"to {band:g} Hz; the missing band would score as an anomaly. Use an input of at "
            f"least {int(math.ceil(2 * band))} Hz")


def mono(block: np.ndarray, channel: int | None) -> np.ndarray:
    """The model's channel of a block ``(n,)`` or ``(n, channels)``: one channel, or the mean
    of all (float32, as :func:`specview.audiostream.iter_blocks` mixes them)."""
    x = np.asarray(block, dtype=np.float32)
    if x.ndim == 1:
        if channel not in (None, 0):
            raise AudioError(f"channel {channel} requested but the input has 1 channel")
        return x
    if channel is None:
        return x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    if not 0 <= channel < x.shape[1]:
        raise AudioError(f"channel {channel} requested but the input has {x.shape[1]} "
                         f"channel(s) (valid: 0-{x.shape[1] - 1})")
    return np.ascontiguousarray(x[:, channel])


class LiveScorer:
    """Score audio as it arrives, in live windows (:func:`live_plan`).

    Parameters
    ----------
    model : Model
        A fitted model with a calibration (the threshold comes from it).
    sr : int
        Sample rate of the blocks pushed.
    channel : int, None or "default"
        Which channel of multi-channel blocks (default: the model's own, as files).
    per_hour : float, optional
        False flags per hour of normal audio the threshold allows (default: the calibration's
        own rate, :meth:`Model.threshold_per_hour`).
    plan : LivePlan, optional
        The windows (default :func:`live_plan` of the model).
    t0 : float
        Input time (s) of the first sample pushed (a segment after a gap starts later).

    Each :meth:`push` returns ``(windows, columns)``: the cores scored by this push
    (:class:`Window`) and the columns the focus has finished (:class:`Columns`); :meth:`finish`
    scores the rest (the last windows' right context cut at the end, as a file's).
    """

    def __init__(self, model: Model, sr: int, *, channel: Channel = DEFAULT_CHANNEL,
                 per_hour: float | None = None, plan: LivePlan | None = None,
                 t0: float = 0.0) -> None:
        if model.calibration is None:
            raise ParameterError("this model file has no calibration (refit it): no threshold "
                                 "to flag live audio with")
        if isinstance(sr, bool) or not isinstance(sr, int | np.integer) or sr < 1:
            raise ParameterError(f"sample rate must be a positive whole number, got {sr!r}")
        check_input_rate(model, int(sr))
        self.model = model
        self.sr = int(sr)
        self.channel = model.info.get("channel") if channel == DEFAULT_CHANNEL else channel
        self.plan = plan or live_plan(model)
        self.t0 = float(t0)
        enc = model.encoder
        self.fe = fe = enc.front_end
        self.spf = fe.seconds_per_frame
        self.freqs = fe.mel_centres()
        cal = model.calibration
        self.rows = cal.rows
        self.threshold = float(model.threshold_per_hour(per_hour))
        self.per_hour = float(per_hour if per_hour is not None
                              else cal.flags_per_hour(model.block_seconds))
        self.median = float(cal.median)
        self.region_level = float(cal.region_level)
        self.region_floor = cal.region_floor
        self.normal_power = cal.normal_power
        self._resamplers = [Resampler(a, b) for a, b in _stages(self.sr, fe, model.band_sr)]
        self._mel = LiveMelStream(fe)
        self._focus = (StreamFocus(self.rows) if self.rows is not None
                       and self.rows.power_ceiling and self.rows.focus_gain else None)
        self._buf = np.zeros((fe.n_mels, 0), np.float32)
        self._buf0 = 0      # frame of self._buf's column 0
        self._next = 0      # first frame of the next core
        self.samples_in = 0
        self.frames = 0     # mel frames received
        self.windows_scored = 0
        self._finished = False

    @property
    def seconds_in(self) -> float:
        """Seconds of input pushed."""
        return self.samples_in / self.sr

    def push(self, block: np.ndarray) -> tuple[list[Window], list[Columns]]:
        """Add input samples ``(n,)`` or ``(n, channels)`` at :attr:`sr`."""
        if self._finished:
            raise ParameterError("LiveScorer.push after finish()")
        x = mono(block, self.channel)
        self.samples_in += len(x)
        for r in self._resamplers:
            x = r.push(x)
        power = self._mel.push(x)
        return self._take(power, final=False)

    def finish(self) -> tuple[list[Window], list[Columns]]:
        """Score what is left: the end of the input (or of a segment, at a gap)."""
        if self._finished:
            return [], []
        self._finished = True
        if self.samples_in == 0:
            return [], []
        y = np.zeros(0, np.float32)
        for r in self._resamplers:
            y = np.concatenate([r.push(y), r.flush()])
        power = self._mel.push(y)
        power = np.concatenate([power, self._mel.finish()], axis=1)
        return self._take(power, final=True)

    def ahead(self) -> tuple[int, np.ndarray] | None:
        """``(first frame, excess power)`` of the frames received but not yet scored (the
        right context of the next window): where the sound adds energy before the map is
        final there. None without the row profile's power statistics."""
        if self.rows is None or not self.rows.power_ceiling:
            return None
        a = self._next - self._buf0
        return self._next, self.rows.excess_power(self._buf[:, a:])

    def _take(self, power: np.ndarray, *, final: bool) -> tuple[list[Window], list[Columns]]:
        if power.shape[1]:
            self._buf = np.concatenate([self._buf, power], axis=1)
            self.frames += power.shape[1]
        windows: list[Window] = []
        columns: list[Columns] = []
        p = self.plan
        n = self.frames
        while self._next < n and (final or self._next + p.core + p.right <= n):
            a = self._next
            b = min(a + p.core, n)
            span = Span(max(0, a - p.left), min(n, b + p.right), a, b)
            last = final and b == n
            w, cols = self._score(span, total=n if final else _OPEN_END, last=last)
            windows.append(w)
            columns += cols
            self._next = b
            drop = max(0, self._next - p.left) - self._buf0
            if drop > 0:
                self._buf = self._buf[:, drop:]
                self._buf0 += drop
        return windows, columns

    def _score(self, s: Span, *, total: int, last: bool) -> tuple[Window, list[Columns]]:
        enc, det, fe = self.model.encoder, self.model.detector, self.fe
        lo, hi = s.start - self._buf0, s.stop - self._buf0
        sub = Spectrogram(self._buf[:, lo:hi], np.arange(s.start, s.stop) * self.spf,
                          self.freqs.copy(), "power", (s.stop - s.start) * self.spf)
        spec = compress(sub, fe)
        r = det.score(enc, spec, valid=s.valid)
        check_result(AnomalyResult(r.map, spec.times, spec.freqs, r.clip_score,
                                   r.frame_scores), "live input")
        v0, v1 = s.valid
        prof, exc = r.map[:, v0:v1], None
        if self.rows is not None:  # model files from before the row profile: the raw map
            prof = self.rows.apply(prof, offset=s.valid_start, total=total)
            exc = self.rows.excess_power(expand(spec.values[:, v0:v1], fe))
        self.windows_scored += 1
        window = Window(s.valid_start, prof, exc)
        if self._focus is not None and exc is not None:
            first, focused, region, _ = self._focus.push(prof, exc, final=last)
        else:
            first, focused, region = s.valid_start, prof, prof
        cols = []
        if focused.shape[1]:
            a = first - self._buf0
            cols.append(Columns(first, self.t0, self.spf, self.freqs, focused,
                                frame_scores(focused), region,
                                self._buf[:, a:a + focused.shape[1]].copy(), self.threshold,
                                self.median))
        return window, cols


def score_offline(model: Model, audio: Audio, plan: LivePlan) -> tuple[np.ndarray, np.ndarray]:
    """The reference for live scoring: ``audio`` (at the encoder's rate) scored in one shot with
    the live windows of ``plan`` (:func:`live_spans`). Returns ``(profiled map, focused map)``
    of the whole input, as :class:`LiveScorer` gives them in pieces."""
    fe = model.encoder.front_end
    power = mel_power(audio, fe)
    n = power.values.shape[1]
    rows = model.calibration.rows
    prof, exc = [], []
    for s in live_spans(n, plan):
        sub = Spectrogram(power.values[:, s.start:s.stop], power.times[s.start:s.stop],
                          power.freqs, "power", (s.stop - s.start) * fe.seconds_per_frame)
        spec = compress(sub, fe)
        r = model.detector.score(model.encoder, spec, valid=s.valid)
        v0, v1 = s.valid
        if rows is None:
            prof.append(r.map[:, v0:v1])
            continue
        prof.append(rows.apply(r.map[:, v0:v1], offset=s.valid_start, total=n))
        exc.append(rows.excess_power(expand(spec.values[:, v0:v1], fe)))
    region = np.concatenate(prof, axis=1)
    if rows is not None and rows.power_ceiling and rows.focus_gain:
        return region, rows.focus(region, np.concatenate(exc, axis=1))
    return region, region
