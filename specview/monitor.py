"""The live monitor (issue 16): a source of audio in, scored live, events saved as a dataset and
alerted.

:class:`Monitor` takes the chunks of a source (:mod:`specview.livesources`: a replayed file or a
PortAudio device), scores them with :class:`~specview.live.LiveScorer`, follows events with
:class:`~specview.liveevents.EventTracker`, and for each event

- sends an **alert** the moment it opens (``state: "open"``: start, provisional end and band,
  peak so far, and the path its clip will be saved at) to every sink (:mod:`specview.alerts`);
- once it has closed and its post-roll has arrived, saves its **clip** (the input, every
  channel, from ``pre_roll`` s before its start to ``post_roll`` s after its end, 32-bit float
  WAV) as ``test/<name>.wav`` with a Raven sidecar ``test/<name>.Table.1.selections.txt``
  holding its flagged box(es) in the clip's own time, appends its final record to
  ``events.jsonl``, and sends that record to the sinks (``state: "closed"``).

So the output folder is a dataset of test clips (``specview gui OUT`` opens it for review;
events are unlabelled, names hold neither ``normal`` nor ``anomaly``), every event is alerted
once on opening and recorded once on closing, and every file is written atomically
(:mod:`specview.fileio`). Audio is held in a ring buffer of ``pre_roll + max_event + hold +
post_roll`` plus a few seconds; nothing else grows with the input's length but the event log.

A gap in the input (an overflow, a device reopened) ends a *segment*: the open event is closed
and saved, the scorer finishes as at the end of a file, and a new segment starts after the gap
(its times still count from the start of the input). A view subscribes with
:meth:`Monitor.subscribe`: ``fn(kind, item)`` with ``("columns", Columns)`` for the map as it
scrolls, ``("event", (change, LiveEvent))`` for ``open``, ``update``, ``close`` and ``saved``,
and ``("status", dict)`` for gaps and the periodic status; all calls come from the thread
running :meth:`Monitor.run` (:meth:`Monitor.feed` gives them through a queue instead).
"""

from __future__ import annotations

import json
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from specview.errors import ParameterError
from specview.fileio import atomic_output, atomic_write_text
from specview.live import Columns, LivePlan, LiveScorer
from specview.liveevents import (
    HOLD_SECONDS,
    MAX_EVENT_SECONDS,
    MAX_EVENTS_PER_HOUR,
    RELEASE,
    EventTracker,
    LiveEvent,
)
from specview.livesources import Chunk
from specview.pipeline import Model
from specview.types import DEFAULT_CHANNEL, Box, Channel

Log = Callable[[str], None]
Subscriber = Callable[[str, Any], None]

#: The event log in the output folder: one JSON object per closed event.
EVENTS_FILE = "events.jsonl"
#: Seconds the ring buffer holds beyond pre-roll, longest event, hold and post-roll (the live
#: windows' latency and a margin).
RING_SLACK_SECONDS = 5.0


@dataclass
class MonitorSettings:
    """How events are found, kept and cut (see :class:`~specview.liveevents.EventTracker`)."""

    per_hour: float | None = None
    pre_roll: float = 5.0
    post_roll: float = 5.0
    hold: float = HOLD_SECONDS
    release: float = RELEASE
    min_seconds: float = 0.0
    max_event: float = MAX_EVENT_SECONDS
    max_per_hour: float = MAX_EVENTS_PER_HOUR
    channel: Channel = DEFAULT_CHANNEL
    plan: LivePlan | None = None
    status_every: float = 0.0

    def check(self) -> None:
        for name in ("pre_roll", "post_roll", "min_seconds"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v >= 0):
                raise ParameterError(f"{name} must be a number >= 0 (seconds), got {v!r}")
        for name in ("hold", "max_event", "max_per_hour"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
                raise ParameterError(f"{name} must be a positive number, got {v!r}")
        if not 0 < self.release <= 1:
            raise ParameterError(f"release must be above 0 and at most 1, got {self.release!r}")


@dataclass
class MonitorSummary:
    """What a run of the monitor did."""

    seconds: float = 0.0          # input time reached (gaps included)
    audio_seconds: float = 0.0    # seconds of audio scored
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    events: int = 0               # saved
    alerts: int = 0               # opened and alerted
    suppressed: int = 0           # over the rate limit
    segments: int = 0
    gaps: int = 0
    gap_seconds: float = 0.0
    windows: int = 0
    stopped: bool = False         # ended by stop() (a signal), not by the input's end
    event_log: list[dict] = field(default_factory=list)

    @property
    def cpu_per_second(self) -> float:
        return self.cpu_seconds / self.audio_seconds if self.audio_seconds else float("nan")


class AudioRing:
    """The last ``seconds`` of input, every channel, in a fixed buffer; samples are addressed by
    their index since the segment began."""

    def __init__(self, seconds: float, sr: int, channels: int) -> None:
        self.cap = max(1, int(math.ceil(seconds * sr)))
        self.buf = np.zeros((self.cap, channels), np.float32)
        self.end = 0

    @property
    def start(self) -> int:
        """Index of the oldest sample held."""
        return max(0, self.end - self.cap)

    def push(self, x: np.ndarray) -> None:
        n = x.shape[0]
        a = self.end
        if n > self.cap:  # only the last cap samples are kept
            x, a = x[-self.cap:], self.end + n - self.cap
        i = a % self.cap
        k = min(x.shape[0], self.cap - i)
        self.buf[i:i + k] = x[:k]
        self.buf[:x.shape[0] - k] = x[k:]
        self.end += n

    def read(self, a: int, b: int) -> tuple[int, np.ndarray]:
        """Samples ``a:b`` as far as they are held: ``(first index, samples)``."""
        a, b = max(a, self.start), min(b, self.end)
        if b <= a:
            return a, np.zeros((0, self.buf.shape[1]), np.float32)
        idx = np.arange(a, b) % self.cap
        return a, self.buf[idx]


class Recorder:
    """A rolling recording of the input: WAV files (16-bit PCM, every channel) of
    ``segment_seconds`` each in ``folder``, named ``rec_<UTC start>_<input s>.wav``; the oldest
    such files are deleted so the folder's recordings stay within ``max_mb``. Each file is
    written through :func:`specview.fileio.atomic_output` (its final name appears once it is
    complete); a gap or a change of rate starts a new file."""

    def __init__(self, folder: str | Path, max_mb: float, *, segment_seconds: float = 300.0,
                 log: Log | None = None) -> None:
        if not (math.isfinite(max_mb) and max_mb > 0):
            raise ParameterError(f"--record-max-mb must be a positive number, got {max_mb!r}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_mb * 1e6)
        self.segment_seconds = float(segment_seconds)
        self.log = log or (lambda line: None)
        self._cm = self._file = None
        self._left = 0
        self._key: tuple[int, int] | None = None
        self.written = 0

    def _files(self) -> list[Path]:
        return sorted(p for p in self.folder.glob("rec_*.wav") if p.is_file())

    def _make_room(self, need: int) -> None:
        files = self._files()
        total = sum(p.stat().st_size for p in files)
        while files and total + need > self.max_bytes:
            old = files.pop(0)
            total -= old.stat().st_size
            old.unlink()

    def _start(self, sr: int, channels: int, t: float) -> None:
        import soundfile as sf

        bytes_per_s = sr * channels * 2
        seconds = min(self.segment_seconds, max(1.0, self.max_bytes / 2 / bytes_per_s))
        self._left = int(seconds * sr)
        self._make_room(self._left * channels * 2 + 1024)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = self.folder / f"rec_{stamp}_{t:011.3f}s.wav"
        self._cm = atomic_output(path)
        tmp = self._cm.__enter__()
        self._file = sf.SoundFile(str(tmp), "w", samplerate=sr, channels=channels,
                                  subtype="PCM_16", format="WAV")
        self._key = (sr, channels)

    def write(self, chunk: Chunk) -> None:
        x = chunk.samples
        key = (chunk.sr, x.shape[1])
        if self._file is not None and (chunk.gap or key != self._key):
            self.finish()
        t = chunk.t
        while x.shape[0]:
            if self._file is None:
                self._start(chunk.sr, x.shape[1], t)
            k = min(self._left, x.shape[0])
            self._file.write(np.clip(x[:k], -1.0, 1.0))
            self._left -= k
            self.written += k
            t += k / chunk.sr
            x = x[k:]
            if self._left <= 0:
                self.finish()

    def finish(self) -> None:
        if self._file is None:
            return
        f, cm = self._file, self._cm
        self._file = self._cm = None
        try:
            f.close()
        except Exception as exc:
            cm.__exit__(type(exc), exc, exc.__traceback__)
            raise
        cm.__exit__(None, None, None)


class _Segment:
    """One stretch of contiguous input: its scorer, tracker, ring and clips waiting for their
    post-roll."""

    def __init__(self, m: Monitor, sr: int, channels: int, t0: float) -> None:
        s = m.settings
        self.sr, self.channels, self.t0 = sr, channels, t0
        self.scorer = LiveScorer(m.model, sr, channel=s.channel, per_hour=s.per_hour,
                                 plan=s.plan, t0=t0)
        sc = self.scorer
        self.tracker = EventTracker(sc.threshold, sc.median, sc.freqs, sc.spf, sc.normal_power,
                                    t0=t0, hold=s.hold, release=s.release,
                                    min_seconds=s.min_seconds, max_seconds=s.max_event,
                                    max_per_hour=s.max_per_hour, first_id=m.next_id,
                                    opened=m.opened, relative=sc.region_level,
                                    floor=sc.region_floor)
        p = sc.plan
        latency = (p.core + p.right) * sc.spf
        self.ring = AudioRing(s.pre_roll + s.max_event + s.hold + s.post_roll + latency
                              + RING_SLACK_SECONDS, sr, channels)
        self.pending: list[tuple[LiveEvent, int, int]] = []

    def index(self, t: float) -> int:
        return int(round((t - self.t0) * self.sr))


class Monitor:
    """Score a live source, keep its events as a dataset, alert on them.

    Parameters
    ----------
    model : Model
        A fitted model with a calibration.
    out : str or Path
        The events folder (created): ``test/`` clips and sidecars, ``events.jsonl``.
    model_name, input_name : str
        What the alerts call the model and the input.
    settings : MonitorSettings, optional
    sinks : sequence of :class:`specview.alerts.Sink`
        Where alerts and final records go.
    recorder : Recorder, optional
        A rolling recording of the input.
    log : callable, optional
        One line per event, gap and status.
    """

    def __init__(self, model: Model, out: str | Path, *, model_name: str = "",
                 input_name: str = "", settings: MonitorSettings | None = None,
                 sinks: Sequence[Any] = (), recorder: Recorder | None = None,
                 log: Log | None = None) -> None:
        self.model = model
        self.settings = settings or MonitorSettings()
        self.settings.check()
        if model.calibration is None:
            raise ParameterError("this model file has no calibration (refit it): no threshold "
                                 "to flag live audio with")
        model.threshold_per_hour(self.settings.per_hour)  # a bad rate before any audio
        self.out = Path(out)
        self.clips = self.out / "test"
        self.clips.mkdir(parents=True, exist_ok=True)
        self.model_name = model_name or model.method
        self.input_name = input_name
        self.sinks = list(sinks)
        self.recorder = recorder
        self.log = log or (lambda line: None)
        self._subs: list[Subscriber] = []
        self._stop = threading.Event()
        self.next_id = 1
        self.opened: list[float] = []
        self.summary = MonitorSummary()
        self.run_id = self._run_id()
        log_path = self.out / EVENTS_FILE
        self._log_text = log_path.read_text(encoding="utf-8") if log_path.is_file() else ""
        if self._log_text and not self._log_text.endswith("\n"):
            self._log_text += "\n"
        self._wall_of: Callable[[float], float | None] = lambda t: None
        self._segment: _Segment | None = None

    def _run_id(self) -> str:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        run, k = stamp, 1
        while any(self.clips.glob(f"event_{run}_*")):
            k += 1
            run = f"{stamp}{k}"
        return run

    # -- subscribers --------------------------------------------------------------------------
    def subscribe(self, fn: Subscriber) -> None:
        """Call ``fn(kind, item)`` for every map column piece, event change and status."""
        self._subs.append(fn)

    def feed(self, maxsize: int = 1000) -> queue.Queue:
        """A queue receiving ``(kind, item)``; when full, the oldest item is dropped."""
        q: queue.Queue = queue.Queue(maxsize=maxsize)

        def put(kind: str, item: Any) -> None:
            while True:
                try:
                    q.put_nowait((kind, item))
                    return
                except queue.Full:
                    try:
                        q.get_nowait()
                    except queue.Empty:
                        pass

        self.subscribe(put)
        return q

    def _emit(self, kind: str, item: Any) -> None:
        for fn in self._subs:
            try:
                fn(kind, item)
            except Exception as exc:  # a broken view must not stop the monitor
                self.log(f"a subscriber failed on {kind}: {exc}")

    def stop(self) -> None:
        """End :meth:`run` after the chunk in hand (safe from a signal handler or a thread):
        the open event is closed and saved."""
        self._stop.set()

    @property
    def stopping(self) -> threading.Event:
        return self._stop

    # -- the loop -----------------------------------------------------------------------------
    def run(self, source: Iterable[Chunk]) -> MonitorSummary:
        """Take chunks until the source ends or :meth:`stop`; returns the summary."""
        cpu0, wall0 = time.process_time(), time.perf_counter()
        speed = getattr(source, "speed", 1.0)
        if speed:
            self._wall_of = lambda t: (getattr(source, "started", 0.0) + t / speed
                                       if getattr(source, "started", 0.0) else None)
        s = self.summary
        next_status = time.monotonic() + self.settings.status_every
        try:
            for chunk in source:
                self._take(chunk)
                if self.settings.status_every and time.monotonic() >= next_status:
                    next_status = time.monotonic() + self.settings.status_every
                    self._status(source, cpu0, wall0)
                if self._stop.is_set():
                    break
            # a source that shares the stop event ends by itself: still a stop, not its end
            s.stopped = self._stop.is_set()
        finally:
            self._end_segment()
            if self.recorder is not None:
                self.recorder.finish()
            s.cpu_seconds = time.process_time() - cpu0
            s.wall_seconds = time.perf_counter() - wall0
            for k in ("gaps", "gap_seconds"):
                if hasattr(source, k):
                    setattr(s, k, max(getattr(s, k), getattr(source, k)))
        return s

    def _status(self, source: Any, cpu0: float, wall0: float) -> None:
        s = self.summary
        cpu = time.process_time() - cpu0
        rss = _rss_mb()
        info = {"input_seconds": round(s.seconds, 1), "cpu_per_second": round(
            cpu / s.audio_seconds, 3) if s.audio_seconds else None, "alerts": s.alerts,
            "events": s.events, "suppressed": s.suppressed, "gaps": s.gaps,
            "gap_seconds": round(s.gap_seconds, 3),
            "overflows": getattr(source, "overflows", 0), "rss_mb": rss}
        self.log(f"status: {s.seconds:.0f} s of input, CPU {info['cpu_per_second']} s per s "
                 f"of audio, {s.alerts} alert(s), {s.events} event(s) saved, "
                 f"{s.suppressed} over the rate limit, {s.gaps} gap(s) ({s.gap_seconds:.2f} "
                 f"s), {info['overflows']} overflow(s), {rss:.0f} MB")
        self._emit("status", info)

    def _take(self, chunk: Chunk) -> None:
        x = chunk.samples
        if x.ndim == 1:
            x = x[:, None]
        seg = self._segment
        if seg is not None and (chunk.gap or chunk.sr != seg.sr or x.shape[1] != seg.channels):
            if chunk.gap:
                self.summary.gaps += 1
                self.summary.gap_seconds += chunk.gap
                self.log(f"gap of {chunk.gap:.3f} s in the input before {chunk.t:.3f} s"
                         + (f" ({chunk.why})" if chunk.why else ""))
                self._emit("status", {"gap": chunk.gap, "at": chunk.t, "why": chunk.why})
            self._end_segment()
            seg = None
        if seg is None:
            seg = self._segment = _Segment(self, chunk.sr, x.shape[1], chunk.t)
            self.summary.segments += 1
        if self.recorder is not None:
            self.recorder.write(Chunk(x, chunk.sr, chunk.t, chunk.gap, chunk.wall))
        seg.ring.push(x)
        windows, cols = seg.scorer.push(x)
        self.summary.audio_seconds += x.shape[0] / chunk.sr
        self.summary.seconds = chunk.t + x.shape[0] / chunk.sr
        self._handle(seg, windows, cols)
        self._save_ready(seg, final=False)

    def _handle(self, seg: _Segment, windows, cols: list[Columns],
                closing: bool = False) -> None:
        for c in cols:
            self._emit("columns", c)
        changes = seg.tracker.push(windows, None if closing else seg.scorer.ahead())
        if closing:
            changes += seg.tracker.finish()
        for kind, ev in changes:
            if kind == "open":
                ev.detected_at = seg.t0 + seg.scorer.seconds_in
                if ev.suppressed:
                    self.summary.suppressed += 1
                    self.log(f"event {ev.id} at {ev.start:.2f} s over the rate limit "
                             f"({self.settings.max_per_hour:g} per hour): not kept")
                else:
                    self.summary.alerts += 1
                    payload = self._payload(ev, "open")
                    for sink in self.sinks:
                        sink.send(payload)
                    self.log(f"event {ev.id} opened at {ev.start:.2f} s, {ev.f_low:.0f}-"
                             f"{ev.f_high:.0f} Hz, peak {ev.peak:.2f}x threshold")
            elif kind == "close" and not ev.suppressed:
                seg.pending.append((ev, seg.index(ev.start - self.settings.pre_roll),
                                    seg.index(ev.end + self.settings.post_roll)))
            self._emit("event", (kind, ev))

    def _end_segment(self) -> None:
        seg, self._segment = self._segment, None
        if seg is None:
            return
        windows, cols = seg.scorer.finish()
        self._handle(seg, windows, cols, closing=True)
        self._save_ready(seg, final=True)
        self.next_id = seg.tracker.next_id
        self.opened = seg.tracker.opened
        self.summary.windows += seg.scorer.windows_scored

    # -- saving ------------------------------------------------------------------------------
    def clip_name(self, ev: LiveEvent) -> str:
        return f"event_{self.run_id}_{ev.id:04d}"

    def clip_path(self, ev: LiveEvent) -> Path:
        return self.clips / f"{self.clip_name(ev)}.wav"

    def _save_ready(self, seg: _Segment, *, final: bool) -> None:
        keep = []
        for ev, a, b in seg.pending:
            if final or seg.ring.end >= b:
                self._save(seg, ev, a, b)
            else:
                keep.append((ev, a, b))
        seg.pending = keep

    def _save(self, seg: _Segment, ev: LiveEvent, a: int, b: int) -> None:
        import soundfile as sf

        from specview.annotations import clamp_box, sidecar_path, write_raven

        first, data = seg.ring.read(max(0, a), b)
        path = self.clip_path(ev)
        clip_t0 = seg.t0 + first / seg.sr
        with atomic_output(path) as tmp:
            sf.write(str(tmp), data, seg.sr, subtype="FLOAT", format="WAV")
        duration = data.shape[0] / seg.sr
        boxes = []
        for box in ev.boxes or [Box(ev.start, ev.end, ev.f_low, ev.f_high)]:
            shifted = Box(box.t0 - clip_t0, box.t1 - clip_t0, box.f0, box.f1, "flagged",
                          extra={"Peak (x threshold)": f"{ev.peak:.3f}",
                                 "Delta Time (s)": f"{box.t1 - box.t0:.4f}"})
            if duration > 0.01:
                boxes.append(clamp_box(shifted, duration=duration, nyquist=seg.sr / 2))
        write_raven(sidecar_path(path), boxes)
        record = self._payload(ev, "closed")
        record.update({"clip_start": round(clip_t0, 6), "clip_seconds": round(duration, 3),
                       "boxes": [[round(b.t0, 3), round(b.t1, 3), round(b.f0, 1),
                                  round(b.f1, 1)] for b in ev.boxes],
                       "cut": ev.cut})
        line = dict(record, clip=str(path.relative_to(self.out)),
                    sidecar=str(sidecar_path(path).relative_to(self.out)))
        self._log_text += json.dumps(line) + "\n"
        atomic_write_text(self.out / EVENTS_FILE, self._log_text)
        self.summary.events += 1
        self.summary.event_log.append(line)
        del self.summary.event_log[:-1000]
        for sink in self.sinks:
            sink.send(record)
        self.log(f"event {ev.id} closed: {ev.start:.2f}-{ev.end:.2f} s, {ev.f_low:.0f}-"
                 f"{ev.f_high:.0f} Hz, peak {ev.peak:.2f}x threshold; saved {path}")
        self._emit("event", ("saved", ev))

    def _payload(self, ev: LiveEvent, state: str) -> dict[str, Any]:
        wall = self._wall_of(ev.start)
        return {
            "event": ev.id, "run": self.run_id, "state": state,
            "start": round(ev.start, 3), "end": round(ev.end, 3),
            "duration": round(ev.end - ev.start, 3),
            "f_low": round(ev.f_low, 1), "f_high": round(ev.f_high, 1),
            "peak": round(ev.peak, 3), "clip": str(self.clip_path(ev).resolve()),
            "clip_saved": state == "closed", "model": self.model_name,
            "input": self.input_name, "threshold": round(self._threshold(), 6),
            "per_hour": self._per_hour(), "detected_at": round(ev.detected_at, 3),
            "time": _iso(wall) if wall else None, "sent": _iso(time.time()),
        }

    def _threshold(self) -> float:
        seg = self._segment
        if seg is not None:
            return seg.scorer.threshold
        return float(self.model.threshold_per_hour(self.settings.per_hour))

    def _per_hour(self) -> float:
        cal = self.model.calibration
        p = self.settings.per_hour
        return round(float(p if p is not None else cal.flags_per_hour(self.model.block_seconds)),
                     3)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def _rss_mb() -> float:
    """Resident memory of this process (MB), from /proc where there is one."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 1e6
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def summary_dict(s: MonitorSummary) -> dict:
    d = asdict(s)
    d.pop("event_log", None)
    return d
