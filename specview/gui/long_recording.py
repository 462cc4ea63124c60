"""Recordings of any length in the window: an overview of the whole file, a span in detail.

A recording longer than :data:`specview.longscore.LONG_SECONDS` is never read whole. Opening it
reads its header only (the title and the status bar show its name and length at once); then

- one background task (the status bar's progress, **Cancel** stops it) writes its store
  (:mod:`specview.longstore`) into the cache, ``cache_dir() / "long"``, in a folder named from
  the recording's and the model's identity (:func:`specview.overview.store_folder`): scored by
  :func:`specview.longscore.score_long` with a model, the overview's spectrogram alone
  (:func:`specview.overview.write_overview`) without one. A store already complete for the same
  key is read back instead. The overview strip fills in as the task goes (the task reads the
  columns just written and hands them over); the flagged events come when scoring ends.
- the detail view shows one span (:data:`DEFAULT_SPAN` seconds by default, plus
  :data:`MARGIN` either side), read off the GUI thread: its spectrogram from the audio of the
  span only, its map and frame scores from the store (once scoring has passed the span), and
  the recording's events inside it as the flagged regions. Times are the recording's own
  seconds throughout, so boxes drawn are saved in seconds of the recording. Newer span requests
  supersede a pending one.

Memory held: the overview (``n_mels`` x one column per ``overview_frames`` frames, 0.74 s with
aisfx) and one span; never the whole recording's audio or map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from specview import longscore, overview
from specview.annotations import SidecarState, load_sidecar
from specview.audio import audio_info, load_audio, resample
from specview.errors import SpecviewError
from specview.gui.pooling import PooledColumns
from specview.gui.state import ClipScore
from specview.longstore import OVERVIEW_FRAMES, LongEvent, LongStore, StoreError, calibrated
from specview.spectrogram import MelFrontEnd, mel_power, to_db
from specview.types import AnomalyResult, Audio, Spectrogram

#: Seconds shown in the detail view when a long recording opens.
DEFAULT_SPAN = 60.0
#: Narrowest and widest span the detail view loads (s): the widest bounds the audio held.
MIN_SPAN, MAX_SPAN = 1.0, 300.0
#: Seconds loaded either side of the span (context for panning and the spectrogram's edges).
MARGIN = 1.0
#: Overview columns read again at each progress step (the newest ones may still change).
REREAD_COLUMNS = 16


def cache_root() -> Path:
    """Where the window keeps the stores of long recordings."""
    from specview.demo_cache import cache_dir

    return cache_dir() / "long"


def is_long(duration: float) -> bool:
    """Whether a recording of ``duration`` seconds is paged through instead of read whole."""
    return float(duration) > float(longscore.LONG_SECONDS)


def long_info(path: Path) -> tuple[int, int, float] | None:
    """``(rate, channels, duration)`` from the header of a recording longer than
    ``longscore.LONG_SECONDS``; None for a shorter one, or a file whose header cannot be read
    (the clip job then says why). Reads the header only."""
    try:
        info = audio_info(path)
    except (SpecviewError, OSError):
        return None
    return info if is_long(info[2]) else None


def hms(t: float, *, hours: bool | None = None) -> str:
    """``1:02:03.4`` (with hours) or ``2:03.4``."""
    t = round(max(0.0, float(t)), 1)  # 59.96 s is 1:00.0, not 0:60.0
    h, rem = divmod(t, 3600.0)
    m, s = divmod(rem, 60.0)
    if hours or (hours is None and h >= 1):
        return f"{int(h)}:{int(m):02d}:{s:04.1f}"
    return f"{int(m + 60 * h)}:{s:04.1f}"


@dataclass(frozen=True)
class StoreCalibration:
    """A store's flag threshold: map values in multiples of it (as
    :meth:`Calibration.calibrated <specview.calibration.Calibration.calibrated>`)."""

    median: float
    threshold: float

    def calibrated(self, amap: np.ndarray) -> np.ndarray:
        return calibrated(amap, self.median, self.threshold)


class LongRecording:
    """A long recording open in the window (read by the views, written by
    :class:`LongController` only).

    Attributes
    ----------
    path : Path
    duration : float, s
    sample_rate : int, Hz
        The file's own rate.
    fe : MelFrontEnd
        The grid of the overview, the map and the detail's spectrogram.
    n_time : int
        Frames of the whole recording on that grid.
    scored : bool
        A model scores it (else only the overview's spectrogram is computed).
    store : Path
        Its store's folder.
    power_db : np.ndarray, (n_mels, n_cols) float32
        The overview's spectrogram; NaN where not read yet (``power_cols`` are filled).
    score_max : np.ndarray, (n_cols,) float32
        Highest map cell of each overview column (raw), NaN where not scored.
    frames_scored, frames_stored : int
        Frames scored so far, and frames whose map is in the store.
    events : list of LongEvent
        Flagged events (when scoring finished).
    calibration : StoreCalibration or None
        The store's threshold (None: not scored, or a model without calibration).
    status : str
        ``"reading"``, ``"scoring"``, ``"done"``, ``"cancelled"``, ``"paused"`` (another task
        runs first) or ``"failed"``.
    """

    def __init__(self, path: Path, *, duration: float, sample_rate: int, fe: MelFrontEnd,
                 n_time: int, scored: bool, store: Path, channel: int | None = None,
                 band_sr: int | None = None, group: int = OVERVIEW_FRAMES) -> None:
        self.path = Path(path)
        self.duration = float(duration)
        self.sample_rate = int(sample_rate)
        self.fe = fe
        self.n_time = int(n_time)
        self.scored = bool(scored)
        self.store = Path(store)
        self.channel = channel
        self.band_sr = band_sr
        self.group = int(group)
        n_cols = -(-self.n_time // self.group)
        self.power_db = np.full((fe.n_mels, n_cols), np.nan, dtype=np.float32)
        self.score_max = np.full(n_cols, np.nan, dtype=np.float32)
        self.power_cols = 0
        #: whether ``power_db`` beyond ``power_cols`` holds the sketch (overview.sketch)
        self.sketched = False
        self.frames_scored = 0
        self.frames_stored = 0
        self.events: list[LongEvent] = []
        self.calibration: StoreCalibration | None = None
        self.complete = False
        self.reused = False
        #: its store was written by another tool (``specview score``): never written here
        self.external = False
        self.status = "reading"
        self.clip_score: float | None = None
        #: ``power_db`` and ``score_max`` max-pooled for the overview strip off the GUI thread
        #: (when they were read whole), else None: the strip pools them itself
        self.pooled: PooledColumns | None = None

    @property
    def seconds_per_frame(self) -> float:
        return float(self.fe.seconds_per_frame)

    @property
    def column_seconds(self) -> float:
        return self.group * self.seconds_per_frame

    @property
    def n_cols(self) -> int:
        return int(self.power_db.shape[1])

    @property
    def mel_freqs(self) -> np.ndarray:
        return self.fe.mel_centres()

    def column_times(self) -> np.ndarray:
        """Start of each overview column (s): its first frame's centre."""
        return np.arange(self.n_cols) * self.column_seconds

    def progress_seconds(self) -> float:
        """How far the background task got (s of the recording)."""
        if self.complete:
            return self.duration
        if self.scored:
            return self.frames_scored * self.seconds_per_frame
        return self.power_cols * self.column_seconds

    def calibrated_score(self) -> np.ndarray:
        """``score_max`` in multiples of the flag threshold (raw without a calibration)."""
        cal = self.calibration
        return cal.calibrated(self.score_max) if cal is not None else self.score_max

    def clip_summary(self) -> ClipScore | None:
        """Its line in the clip list, once scored."""
        if not (self.scored and self.complete):
            return None
        finite = self.score_max[np.isfinite(self.score_max)]
        top = float(finite.max()) if finite.size else 0.0
        clip = self.clip_score if self.clip_score is not None else top
        if self.calibration is None:
            return ClipScore(float(clip), top)
        peak = float(self.calibration.calibrated(np.array([top]))[0])
        return ClipScore(float(clip), top, peak, len(self.events))

    def events_in(self, t0: float, t1: float) -> list[LongEvent]:
        return [e for e in self.events if e.box.t1 > t0 and e.box.t0 < t1]


# -- the status bar's lines ---------------------------------------------------------------

def span_text(rec: LongRecording, req: SpanRequest, result, flagged) -> str:
    hours = rec.duration >= 3600
    msg = (f"{rec.path.name}: {hms(req.t0, hours=hours)}–{hms(req.t1, hours=hours)} of "
           f"{hms(rec.duration)}")
    if not rec.scored:
        return msg + " (load a model to score it; PageDown / PageUp page through it)"
    if result is None:
        return msg + (f"; not scored here yet (scoring is at "
                      f"{hms(rec.progress_seconds(), hours=hours)})"
                      if rec.status in ("scoring", "paused") else
                      "; not scored here (scoring was stopped before this span)")
    if rec.complete:
        msg += f"; {len(flagged)} flagged event(s) here, {len(rec.events)} in all"
    return msg


def no_events_text(rec: LongRecording) -> str:
    if not rec.scored:
        return f"{rec.path.name}: no flagged event and no box (load a model to score it)"
    if not rec.complete:
        return (f"{rec.path.name}: the flagged events are listed when scoring ends "
                f"({hms(rec.progress_seconds())} of {hms(rec.duration)} so far)")
    return f"{rec.path.name}: no flagged event and no box"


# -- work done off the GUI thread -------------------------------------------------------------

@dataclass(frozen=True)
class SpanRequest:
    rec: LongRecording
    t0: float
    t1: float
    label_column: str | None = None


@dataclass(frozen=True)
class SpanData:
    """What a span job returns: the span's spectrogram (and map) in the recording's seconds."""

    request: SpanRequest
    display: Spectrogram
    result: AnomalyResult | None
    sidecar: SidecarState


def span_audio(rec: LongRecording, a0: float, a1: float, *, sr: int | None = None) -> Audio:
    """Seconds ``a0 .. a1`` of the recording: at the front end's rate (band-limited as the
    model hears it) by default, else at ``sr`` (the file's own rate for listening)."""
    if sr is not None:
        return load_audio(rec.path, sr=sr, channel=rec.channel, start=a0, end=a1)
    fe = rec.fe
    if rec.band_sr is not None and rec.band_sr < fe.sr:
        a = load_audio(rec.path, sr=rec.band_sr, channel=rec.channel, start=a0, end=a1)
        return Audio(resample(a.samples, rec.band_sr, fe.sr), fe.sr, a.path)
    return load_audio(rec.path, sr=fe.sr, channel=rec.channel, start=a0, end=a1)


def read_span(req: SpanRequest) -> SpanData:
    """The span's spectrogram from its audio alone, and its map from the store when scoring
    has passed it; runs in a worker thread."""
    rec = req.rec
    spf = rec.seconds_per_frame
    k0 = int(math.floor(max(0.0, req.t0 - MARGIN) / spf + 1e-9))
    a0 = k0 * spf  # on the store's frame grid, so the span's frames are the store's
    a1 = min(rec.duration, req.t1 + MARGIN)
    audio = span_audio(rec, a0, a1)
    disp = to_db(mel_power(audio, rec.fe))
    n = disp.values.shape[1]
    n = max(1, min(n, rec.n_time - k0))
    times = (k0 + np.arange(n)) * spf
    values = disp.values[:, :n]
    result = None
    if rec.scored:
        try:
            store = LongStore(rec.store)
            ok = overview.is_scored(store.attrs) and (store.complete
                                                      or store.frames_done >= k0 + n)
            if ok:
                amap, mt = store.map(float(times[0]), float(times[-1]))
                fs, _ = store.frame_scores(float(times[0]), float(times[-1]))
                m = min(n, amap.shape[1])
                if m and np.isfinite(amap[:, :m]).all():
                    n, times, values = m, times[:m], values[:, :m]
                    top = float(np.max(amap[:, :m]))
                    result = AnomalyResult(amap[:, :m], times, disp.freqs.copy(), top,
                                           fs[:m].astype(np.float32))
        except (StoreError, KeyError):  # not written yet, or rewritten meanwhile
            result = None
    display = Spectrogram(np.ascontiguousarray(values), times, disp.freqs, disp.unit,
                          n * spf)
    side = load_sidecar(rec.path, label_column=req.label_column)
    return SpanData(req, display, result, side)


@dataclass(frozen=True)
class SessionOut:
    power_db: np.ndarray
    score_max: np.ndarray
    events: list[LongEvent]
    attrs: dict
    reused: bool
    complete: bool = True
    pooled: PooledColumns | None = None


def final_store(store: LongStore, reused: bool) -> SessionOut:
    """The store's overview and events; the overview pooled for the strip here too (a day's
    11M cells: tens of ms that the GUI thread would spend when the session ends)."""
    power, score, _times, _mel = store.overview()
    scored = overview.is_scored(store.attrs)
    pooled = PooledColumns(power.shape[0], power.shape[1])
    pooled.update(power, score)
    return SessionOut(power, score, store.events() if scored else [], store.attrs, reused,
                      store.complete, pooled)


def prepare_cache(store: Path, *, keep: list[Path]) -> list[Path]:
    """Before a store of the cache is used: its folder's parent made, the store marked used,
    and the stores used longest ago removed while the cache is over its cap
    (:func:`specview.longcache.evict`), never ``store`` or those in ``keep`` (being written).
    Runs in a worker thread; returns the folders removed."""
    from specview import longcache

    store.parent.mkdir(parents=True, exist_ok=True)
    longcache.mark_used(store)
    try:
        limit = longcache.limit_bytes()
    except SpecviewError:
        limit = int(longcache.DEFAULT_LIMIT_GB * 1e9)  # a bad setting does not stop scoring
    return longcache.evict(store.parent, limit=limit, keep=[store, *keep])
