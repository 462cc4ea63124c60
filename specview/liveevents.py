"""Events of live input (issue 16): :class:`EventTracker` opens an event when a calibrated
flagged region appears and closes it after a hold time (hysteresis, minimum duration, rate
limit); :class:`LiveEvent` is one event in input time and Hz. Split from :mod:`specview.live`,
which re-exports both."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from specview.errors import ParameterError
from specview.live import Window
from specview.longstore import calibrated
from specview.metrics import RELATIVE_LEVEL, event_regions, flagged_regions
from specview.types import Box

# -- events ---------------------------------------------------------------------------------------

#: Seconds without a cell above the release level that close an event.
HOLD_SECONDS = 1.0
#: Release level of an open event, in multiples of the flag threshold (calibrated: 0 a typical
#: normal cell, 1 the threshold): it stays open while a cell is at least this high.
RELEASE = 0.8
#: An event open this long is closed, and a new one opens if the sound goes on (seconds).
MAX_EVENT_SECONDS = 60.0
#: Events opened per hour at most (sliding hour); the others are counted, not kept or alerted.
MAX_EVENTS_PER_HOUR = 60.0


@dataclass
class LiveEvent:
    """An event of live input, in input time (s from the start of the input) and Hz.

    ``state`` is ``"open"`` (``end``, ``f_low``, ``f_high`` and ``peak`` provisional: what the
    regions found so far give) or ``"closed"`` (final). ``peak`` is in multiples of the flag
    threshold; ``boxes`` are the event's flagged regions merged as :meth:`Model.flagged
    <specview.pipeline.Model.flagged>` merges them (one, unless the hold time is longer than the
    merge gap). ``suppressed``: over the rate limit (neither saved nor alerted). ``cut``: closed
    at :data:`MAX_EVENT_SECONDS` while still sounding.
    """

    id: int
    start: float
    end: float
    f_low: float
    f_high: float
    peak: float
    score: float
    n_cells: int
    state: str = "open"
    boxes: list[Box] = field(default_factory=list)
    suppressed: bool = False
    cut: bool = False
    detected_at: float = 0.0   # input time when it opened (the end of the audio scored)

    @property
    def duration(self) -> float:
        return self.end - self.start


class EventTracker:
    """Events of a live map with hysteresis: an event opens as soon as a flagged region (cells
    above the threshold, at least ``min_cells`` connected, lasting ``min_seconds``) appears,
    stays open while some cell is above ``release`` times the threshold, and closes ``hold``
    seconds after the last such cell; ``max_seconds`` cuts an endless one; at most
    ``max_per_hour`` events open per hour of input (the rest are ``suppressed``).

    :meth:`push` takes the :class:`Window` s of one segment in order and returns the changes:
    ``("open", event)``, ``("update", event)`` (provisional values moved), ``("close",
    event)``. Event times are input times: ``t0`` plus frames times ``seconds_per_frame``.
    Memory: the columns of the open event (at most ``max_seconds``) and a few before it.
    With ``floor``, the event's regions grow down to it (:func:`flagged_regions`) within the
    event's columns, from the frame it opened on.
    """

    def __init__(self, threshold: float, median: float, freqs: np.ndarray,
                 seconds_per_frame: float, normal_power: np.ndarray | None, *,
                 t0: float = 0.0, hold: float = HOLD_SECONDS, release: float = RELEASE,
                 min_seconds: float = 0.0, min_cells: int = 2,
                 max_seconds: float = MAX_EVENT_SECONDS,
                 max_per_hour: float = MAX_EVENTS_PER_HOUR,
                 first_id: int = 1, opened: Iterable[float] = (),
                 relative: float = RELATIVE_LEVEL, floor: float | None = None) -> None:
        if not (0 < release <= 1):
            raise ParameterError(f"release must be above 0 and at most 1 (the threshold), got "
                                 f"{release!r}")
        for name, v in (("hold", hold), ("min_seconds", min_seconds),
                        ("max_seconds", max_seconds), ("max_per_hour", max_per_hour)):
            if not (math.isfinite(v) and v >= 0) or (name != "min_seconds" and v <= 0):
                raise ParameterError(f"{name} must be a positive number, got {v!r}")
        self.threshold, self.median = float(threshold), float(median)
        self.freqs, self.spf, self.t0 = freqs, float(seconds_per_frame), float(t0)
        self.normal_power, self.min_cells = normal_power, int(min_cells)
        self.relative = float(relative)
        self.floor = None if floor is None else float(floor)
        span = self.threshold - self.median if self.threshold > self.median else 1.0
        self.release_level = self.median + float(release) * span
        self.hold_frames = max(1, int(math.ceil(hold / self.spf)))
        self._idle_keep = max(self.hold_frames, int(math.ceil(max(min_seconds, 1.0) / self.spf)))
        self.min_seconds = float(min_seconds)
        self.max_frames = max(1, int(max_seconds / self.spf))
        self.max_per_hour = float(max_per_hour)
        self.next_id = int(first_id)
        #: input times of the events opened in the last hour (the rate limit's window)
        self.opened: list[float] = list(opened)
        self.suppressed = 0
        self.first = 0          # frame of self.map's column 0
        self.map = np.zeros((len(freqs), 0), np.float32)
        self.exc: np.ndarray | None = None
        self.event: LiveEvent | None = None
        self.ev_first = 0       # first frame of the open event's columns
        self.last_loud = -1     # last frame with a cell above the release level
        self.frames = 0
        self._ahead: tuple[int, np.ndarray] | None = None

    def _times(self, a: int, b: int) -> np.ndarray:
        return self.t0 + np.arange(a, b) * self.spf

    def push(self, windows: Iterable[Window], ahead: tuple[int, np.ndarray] | None = None
             ) -> list[tuple[str, LiveEvent]]:
        """Take the next windows; ``ahead`` (:meth:`LiveScorer.ahead`) is the excess power of
        the frames received after them, which places an open event's provisional start, end
        and band on the sound before the map there is scored."""
        out: list[tuple[str, LiveEvent]] = []
        windows = list(windows)
        self._ahead = ahead
        for i, w in enumerate(windows):
            if i < len(windows) - 1:
                self._ahead = None  # only the last window's frames are followed by ``ahead``
            else:
                self._ahead = ahead
            if w.first != self.frames:
                raise ParameterError(f"EventTracker: window at frame {w.first}, expected "
                                     f"{self.frames}")
            self.map = np.concatenate([self.map, w.region_map], axis=1)
            if w.excess is not None:
                self.exc = (w.excess if self.exc is None
                            else np.concatenate([self.exc, w.excess], axis=1))
            self.frames += w.region_map.shape[1]
            out += self._step()
        return out

    def finish(self) -> list[tuple[str, LiveEvent]]:
        """Close the open event at the end of the input (or segment)."""
        if self.event is None:
            return []
        return [self._close(self.frames)]

    def _step(self) -> list[tuple[str, LiveEvent]]:
        out = []
        loud = np.nonzero((self.map >= self.release_level).any(axis=0))[0]
        if loud.size:
            self.last_loud = max(self.last_loud, self.first + int(loud[-1]))
        if self.event is not None:
            if self.frames - 1 - self.last_loud >= self.hold_frames:
                # closed: the columns after it hold no cell above the release level, so none
                # above the threshold either; look on for the next event below
                out.append(self._close(self.last_loud + 1))
            elif self.frames - self.ev_first >= self.max_frames:
                # cut at the longest event; what follows may open the next one at once
                out.append(self._close(self.ev_first + self.max_frames, cut=True))
            else:
                ev = self._provisional(self._measure(self.event, self.ev_first, self.frames))
                if (ev.end, ev.f_low, ev.f_high, ev.peak) != (
                        self.event.end, self.event.f_low, self.event.f_high, self.event.peak):
                    self.event = ev
                    out.append(("update", ev))
                return out
        # idle: look for a flagged region to open on
        hot = (self.map >= self.threshold).any(axis=0)
        if not hot.any():
            self._trim(self.frames - 1)
            return out
        a = self.first + int(np.argmax(hot))
        regions = self._regions(a, self.frames)
        t_start = min((r.box.t0 for r in regions), default=0.0)
        t_end = max((r.box.t1 for r in regions), default=0.0)
        if not regions or t_end - t_start < self.min_seconds:
            # specks, or too short yet: keep them a while, in case they grow into a region
            self._trim(max(a, self.frames - self._idle_keep))
            return out
        self.ev_first = a
        ev = LiveEvent(self.next_id, t_start, t_end, 0.0, 0.0, 0.0, 0.0, 0,
                       detected_at=self.t0 + self.frames * self.spf)
        self.next_id += 1
        self.opened = [t for t in self.opened if t > t_start - 3600.0]
        if len(self.opened) >= self.max_per_hour:
            ev.suppressed = True
            self.suppressed += 1
        else:
            self.opened.append(t_start)
        self.event = self._provisional(self._measure(ev, a, self.frames))
        self.last_loud = max(self.last_loud, a)
        out.append(("open", self.event))
        return out

    def _regions(self, a: int, b: int):
        i, j = a - self.first, b - self.first
        return flagged_regions(self.map[:, i:j], self._times(a, b), self.freqs, self.threshold,
                               min_cells=self.min_cells, base=self.median,
                               relative=self.relative, floor=self.floor)

    def _measure(self, ev: LiveEvent, a: int, b: int) -> LiveEvent:
        """``ev`` with its box, peak and cells from the columns ``a:b``."""
        regions = self._regions(a, b)
        if not regions:
            return ev
        i, j = a - self.first, b - self.first
        exc = None if self.exc is None else self.exc[:, i:j]
        merged = event_regions(regions, exc, self._times(a, b), self.freqs,
                               normal_power=self.normal_power)
        merged.sort(key=lambda r: r.box.t0)
        score = max(r.score for r in merged)
        return replace(
            ev, start=min(r.box.t0 for r in merged), end=max(r.box.t1 for r in merged),
            f_low=min(r.box.f0 for r in merged), f_high=max(r.box.f1 for r in merged),
            score=float(score), peak=float(calibrated([score], self.median, self.threshold)[0]),
            n_cells=int(sum(r.n_cells for r in merged)), boxes=[r.box for r in merged])

    def _provisional(self, ev: LiveEvent) -> LiveEvent:
        """An open event placed on the energy its sound adds, as far as the audio has arrived.

        The map at a frame reflects audio up to the live windows' right margin ahead of it, so
        the first cells above the threshold come before the sound itself (the features' reach),
        and while the event is young its region holds them. The mel power is known up to the
        newest frame: the frames from the region's start on whose power above normal, summed
        over the region's band, is at least :data:`~specview.metrics.regions.MIN_EXCESS` of the
        band's normal power give the provisional start and end, and the band is narrowed to the
        rows holding the central 95 % of that energy (:func:`event_regions`); where the region's
        band holds no such energy, every band is searched. An anomaly that adds no energy keeps
        its region's box."""
        if self.exc is None or self.normal_power is None:
            return ev
        from specview.metrics.regions import MIN_EXCESS
        from specview.types import FlaggedRegion

        a = self.ev_first
        ex = self.exc[:, a - self.first:]
        if self._ahead is not None and self._ahead[0] == self.frames and self._ahead[1].size:
            ex = np.concatenate([ex, self._ahead[1]], axis=1)
        times = self._times(a, a + ex.shape[1])
        lo_edges = np.r_[0.0, (self.freqs[1:] + self.freqs[:-1]) / 2]
        hi_edges = np.r_[lo_edges[1:], self.freqs[-1] * 2 - lo_edges[-1]]
        normal = np.asarray(self.normal_power, dtype=np.float64)
        for f0, f1 in ((ev.f_low, ev.f_high), (0.0, float(hi_edges[-1]))):
            # the region's band; failing that, every band (the features' reach spreads the
            # region over bands beside the sound's, not always over it)
            rows = np.nonzero((hi_edges > f0) & (lo_edges < f1))[0]
            if rows.size:
                enough = ex[rows].sum(axis=0) >= MIN_EXCESS * float(normal[rows].sum())
                if enough.any():
                    band = (float(max(0.0, lo_edges[rows[0]])), float(hi_edges[rows[-1]]))
                    break
        else:
            return ev
        k0 = int(np.argmax(enough))
        k1 = len(enough) - 1 - int(np.argmax(enough[::-1]))
        start = float(times[k0] - self.spf / 2)
        end = max(ev.end, float(times[k1] + self.spf / 2))
        region = FlaggedRegion(Box(start, end, *band), ev.score, ev.n_cells)
        [placed] = event_regions([region], ex, times, self.freqs,
                                 normal_power=self.normal_power)
        b = placed.box
        return replace(ev, start=b.t0, end=b.t1, f_low=b.f0, f_high=b.f1)

    def _close(self, stop: int, *, cut: bool = False) -> tuple[str, LiveEvent]:
        assert self.event is not None
        ev = self._measure(self.event, self.ev_first, max(stop, self.ev_first + 1))
        ev = replace(ev, state="closed", cut=cut)
        self.event = None
        self._trim(stop)
        return "close", ev

    def _trim(self, keep_from: int) -> None:
        """Drop the columns before frame ``keep_from``."""
        k = max(0, min(keep_from, self.frames) - self.first)
        if k:
            self.map = self.map[:, k:]
            if self.exc is not None:
                self.exc = self.exc[:, k:]
            self.first += k
