"""The controller's part for long recordings: opening one, its background task, the spans.

See :mod:`specview.gui.long_recording` for what is shown and held. :class:`LongController`
belongs to the window's :class:`~specview.gui.controller.Controller` (``controller.long``), which
routes a recording longer than :data:`specview.longscore.LONG_SECONDS` to it; it writes the
state's ``long`` and, span by span, the clip on screen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from specview import audiostream, longscore, overview
from specview.audio import audio_info
from specview.errors import Cancelled, SpecviewError
from specview.gui import long_recording as lr
from specview.gui.long_recording import (
    LongRecording,
    SessionOut,
    SpanData,
    SpanRequest,
    StoreCalibration,
    cache_root,
    final_store,
    hms,
    read_span,
)
from specview.gui.workers import Job
from specview.longstore import LongStore
from specview.spectrogram import MelFrontEnd
from specview.types import Box, FlaggedRegion


class _Relay(QObject):
    """Hands a worker's partial results to the GUI thread (the signal is queued there)."""

    partial = Signal(object)


class LongController(QObject):
    """Opens long recordings, runs their background task and loads the detail spans.

    Signals
    -------
    span_loaded()
        A span is on screen (after the state's ``clip_loaded``).
    """

    span_loaded = Signal()

    def __init__(self, controller, default_front_end: Callable[[], MelFrontEnd]) -> None:
        super().__init__(controller)
        self.c = controller
        self.state = controller.state
        self._default_fe = default_front_end
        self._relay = _Relay(self)
        self._relay.partial.connect(self._on_partial)
        self._sid = 0
        self._job: Job | None = None
        self._writers: dict[Path, Job] = {}  # store folder -> the job writing it
        self._span_job: Job | None = None
        self._span_pending: tuple[int, SpanRequest, Any] | None = None
        self._span_seq = 0
        self._step_key: tuple | None = None
        self._reload_asked = False
        #: the detail view's visible range (the main window sets the view's)
        self.visible_range: Callable[[], tuple[float, float] | None] = lambda: self.state.span
        controller.task_ended.connect(lambda *_a: self._maybe_resume())
        self.state.selected_changed.connect(self._follow_selection)

    # -- opening ------------------------------------------------------------------------------
    @property
    def rec(self) -> LongRecording | None:
        return self.state.long

    def open(self, path: Path, info: tuple[int, int, float], *, store: Path | None = None,
             attrs: dict | None = None) -> None:
        """Show the long recording ``path`` (``info``: its header's rate, channels, duration);
        with ``store`` (and its ``attrs``), the results already in that store, never written
        to (one of ``specview score``), instead of the cache's."""
        sr, _channels, duration = info
        st = self.state
        model = st.model
        fe = model.encoder.front_end if model is not None else self._default_fe()
        band_sr = model.band_sr if model is not None else None
        channel = model.info.get("channel") if model is not None else None
        scored = model is not None
        try:
            if store is not None:
                fe = self._grid_of(attrs or {}, model)
                if model is None or fe is not model.encoder.front_end:
                    band_sr = channel = None
                scored = overview.is_scored(attrs or {})
                folder = Path(store)
            else:
                key = overview.model_key(st.model_path, fe, scored=scored,
                                         session=str(id(model)))
                folder = overview.store_folder(cache_root(), path, key)
            n_time = audiostream.expected_frames(path, fe, band_sr=band_sr)
        except (SpecviewError, OSError) as exc:
            self.c.error.emit(f"Cannot open {path.name}", str(exc))
            return
        old = self.rec
        if old is not None and old.path == path and old.store == folder \
                and self._job is not None and not self._job.done.is_set():
            # the same recording under the same model, still being worked on: keep it
            self.request_span(*(st.span or (0.0, min(lr.DEFAULT_SPAN, duration))))
            return
        rec = LongRecording(path, duration=duration, sample_rate=sr, fe=fe, n_time=n_time,
                            scored=scored, store=folder, channel=channel, band_sr=band_sr)
        rec.external = store is not None
        if rec.external:
            thr = float((attrs or {}).get("threshold", math.inf))
            if scored and math.isfinite(thr):
                rec.calibration = StoreCalibration(float(attrs.get("median", 0.0)), thr)
        elif model is not None and model.calibration is not None:
            try:  # the threshold score_long flags at
                thr = float(model.threshold_per_hour())
            except SpecviewError:
                thr = float(model.calibration.threshold)
            rec.calibration = StoreCalibration(float(model.calibration.median), thr)
        if old is not None and old.path == path and old.power_db.shape == rec.power_db.shape:
            # another model on the same grid: the spectrogram already read stays on screen
            rec.power_db[:] = old.power_db
            rec.power_cols = old.power_cols
        keep_span = st.span if (old is not None and old.path == path) else None
        self._stop()
        self._sid += 1
        self._step_key = None
        self._reload_asked = False
        st.set_long(rec)
        what = "scoring it" if rec.scored else "reading its overview (load a model to score it)"
        self.c.status.emit(f"{path.name}: {hms(duration)} at {sr} Hz, a long recording shown a "
                           f"span at a time; {what}…")
        span = keep_span or (0.0, min(lr.DEFAULT_SPAN, duration))
        self.request_span(*span)
        sid = self._sid
        QTimer.singleShot(0, lambda: self._start_session(sid))

    def open_store(self, folder: Path) -> None:
        """Open a store written by ``specview score`` (its ``long/<stem>.zarr``): the recording
        it names, shown with those results (read off the GUI thread first)."""
        folder = Path(folder)
        job = Job(lambda _p: LongStore(folder).attrs, name=f"reading {folder.name}",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda attrs: self._store_read(folder, attrs))
        job.failed.connect(lambda exc: self.c.error.emit(f"Cannot open {folder.name}",
                                                         str(exc)))
        self.c.runner.start(job)

    def _store_read(self, folder: Path, attrs: dict) -> None:
        named = Path(str(attrs.get("recording", "")))
        # as written (absolute, or relative to where it was scored), else beside the results
        found = next((p for p in (named, folder.parent.parent / named,
                                  folder.parent.parent / named.name) if p.is_file()), None)
        if found is None:
            self.c.error.emit(f"Cannot open {folder.name}",
                              f"{folder}: the recording it holds the results of, {named}, "
                              "is not there any more")
            return
        try:
            size = found.stat().st_size
            info = audio_info(found)
        except (SpecviewError, OSError) as exc:
            self.c.error.emit(f"Cannot open {found.name}", str(exc))
            return
        if int(attrs.get("recording_bytes", size)) != size:
            self.c.error.emit(f"Cannot open {folder.name}",
                              f"{found} changed since {folder.name} was written (its size "
                              "differs): score it again")
            return
        self.c._clip_seq += 1  # supersedes a clip being read
        self.c._clip_pending = None
        self.open(found, info, store=folder, attrs=attrs)

    def _grid_of(self, attrs: dict, model) -> MelFrontEnd:
        """The front end a store's frames were made with: the model's or the default one,
        whichever has its frame step and mel bands."""
        spf = float(attrs.get("seconds_per_frame", 0.0))
        mel = np.asarray(attrs.get("mel_freqs", []), dtype=np.float64)
        candidates = ([model.encoder.front_end] if model is not None else []) + [
            self._default_fe()]
        for fe in candidates:
            if abs(fe.seconds_per_frame - spf) < 1e-9 and len(mel) == fe.n_mels \
                    and np.allclose(fe.mel_centres(), mel, rtol=1e-6):
                return fe
        raise SpecviewError("the store was made with a front end the window does not know "
                            f"({len(mel)} mel bands, {spf * 1000:.2f} ms frames): load the "
                            "model that scored it first")

    def close(self) -> None:
        """Stop the open recording's work (a short clip replaces it)."""
        self._stop(silent=False)
        self._sid += 1
        if self.state.long is not None:
            self.state.set_long(None)

    def _stop(self, *, silent: bool = True) -> None:
        """Drop pending spans and cancel the background task: ``silent``ly when another
        recording's task follows at once (it takes the status bar)."""
        self._span_pending = None
        self._span_seq += 1
        job = self._job
        if job is not None and not job.done.is_set():
            job.preempted = silent
            job.cancel()
        self._job = None

    def shutdown(self) -> None:
        self._span_pending = None

    # -- the background task ------------------------------------------------------------------
    def _start_session(self, sid: int) -> None:
        rec = self.rec
        if sid != self._sid or rec is None or self.c.runner.closed:
            return
        busy = self.c.task
        if busy is not None and not getattr(busy, "preemptible", False):
            rec.status = "paused"  # after the running task (task_ended resumes it)
            self.state.set_long(rec)
            return
        model = self.state.model if rec.scored else None
        relay = self._relay
        previous, writing = self._writers.get(rec.store), list(self._writers)
        holder: list[Job] = []

        def stop() -> bool:
            return bool(holder) and holder[0].is_cancelled

        def work(progress):
            if rec.external:  # another tool's results: read, never written
                return final_store(LongStore(rec.store), True)
            if previous is not None:
                previous.done.wait()  # never two writers on one folder
            lr.prepare_cache(rec.store, keep=writing)  # marked used; the oldest ones evicted
            store = overview.open_complete(rec.store, rec.path)
            if store is not None and overview.is_scored(store.attrs) == rec.scored:
                return final_store(store, True)
            # a sketch of the whole recording at once; the streamed overview then replaces it
            relay.partial.emit((sid, -1, overview.sketch(rec.path, rec.fe, rec.n_cols)))
            seen = [0]

            def step(done: int, total: int) -> None:
                progress(done, total)  # raises Cancelled once cancelled
                c1 = rec.n_cols if done >= total else done // rec.group
                c0 = max(0, seen[0] - lr.REREAD_COLUMNS)
                if c1 > c0:
                    relay.partial.emit((sid, done, overview.read_columns(rec.store, c0, c1)))
                seen[0] = max(seen[0], c1)

            try:
                if model is not None:
                    longscore.score_long(model, rec.path, rec.store, progress=step,
                                         should_stop=stop, resume=True)
                else:
                    overview.write_overview(rec.path, rec.fe, rec.store, progress=step,
                                            should_stop=stop)
            except InterruptedError as exc:
                raise Cancelled(str(exc)) from None
            return final_store(LongStore(rec.store), False)

        what = (f"Reading the results of {rec.path.name}" if rec.external else
                f"Scoring {rec.path.name} ({hms(rec.duration)})" if rec.scored
                else f"Overview of {rec.path.name} ({hms(rec.duration)})")
        job = self.c.start_task(work, what, lambda out: self._session_done(sid, out),
                                preemptible=True,
                                on_stopped=lambda how: self._session_stopped(sid, how))
        if job is None:
            return
        holder.append(job)
        self._job = job
        self._writers[rec.store] = job
        job.finished.connect(lambda: self._writers.get(rec.store) is job
                             and self._writers.pop(rec.store, None))
        rec.status = "scoring" if rec.scored else "reading"
        self.state.set_long(rec)

    def _maybe_resume(self) -> None:
        """Start again the task that gave way to another, once that one is over (scoring
        goes on from the windows already in the store: score_long(resume=True))."""
        rec = self.rec
        if rec is not None and rec.status == "paused" and self.c.task is None \
                and (self._job is None or self._job.done.is_set()):
            sid = self._sid
            QTimer.singleShot(0, lambda: self._start_session(sid))

    def _on_partial(self, item) -> None:
        sid, done, cols = item
        rec = self.rec
        if sid != self._sid or rec is None:
            return
        if done < 0:  # the sketch: shown where nothing was read yet
            if cols.shape == rec.power_db.shape:
                rec.power_db[:, rec.power_cols:], rec.sketched = cols[:, rec.power_cols:], True
                self.state.long_updated(rec.power_cols, rec.n_cols)
            return
        c0, n = cols.c0, cols.power_db.shape[1]
        rec.power_db[:, c0:c0 + n] = cols.power_db
        rec.score_max[c0:c0 + n] = cols.score_max
        rec.power_cols = max(rec.power_cols, c0 + n)
        if rec.scored:
            rec.frames_scored = max(rec.frames_scored, int(done))
            rec.frames_stored = max(rec.frames_stored, int(cols.frames_done))
        self.state.long_updated(c0, c0 + n)
        self._reload_if_scored()

    def _reload_if_scored(self) -> None:
        """The span on screen has no map yet and scoring has now stored it: load it again."""
        rec, st = self.rec, self.state
        if rec is None or not rec.scored or st.result is not None or st.display is None \
                or st.clip_path != rec.path or st.span is None or self._reload_asked:
            return
        last = int(round(float(st.display.times[-1]) / rec.seconds_per_frame)) + 1
        if rec.complete or rec.frames_stored >= last:
            self._reload_asked = True
            self.request_span(*st.span)

    def _session_done(self, sid: int, out: SessionOut) -> None:
        rec = self.rec
        if sid != self._sid or rec is None:
            return
        if out.power_db.shape == rec.power_db.shape:  # read for it alone: taken, not copied
            rec.power_db, rec.score_max, rec.pooled = out.power_db, out.score_max, out.pooled
        rec.power_cols = rec.n_cols
        rec.events = list(out.events)
        rec.complete, rec.reused, rec.status = out.complete, out.reused, "done"
        if not out.complete:  # an unfinished store of another tool: what it holds
            rec.status = "cancelled"
            done = int(out.attrs.get("frames_done", 0))
            rec.frames_scored = rec.frames_stored = done
            cols = -(-done // rec.group)
            rec.power_cols = int(np.isfinite(rec.power_db).all(axis=0).argmin()) \
                if not np.isfinite(rec.power_db).all() else rec.n_cols
            rec.score_max[cols:] = np.nan
            rec.pooled = None  # pooled before that cut
            self.state.set_long(rec)
            self.c.task_ended.emit("done", f"{rec.path.name}: its results stop at "
                                   f"{hms(done * rec.seconds_per_frame)} (unfinished store)")
            self._refresh_span()
            return
        a = out.attrs
        if rec.scored:
            rec.frames_scored = rec.frames_stored = rec.n_time
            rec.clip_score = float(a["clip_score"]) if "clip_score" in a else None
            thr, med = float(a.get("threshold", math.inf)), float(a.get("median", 0.0))
            rec.calibration = StoreCalibration(med, thr) if math.isfinite(thr) else None
        self.state.set_long(rec)
        score = rec.clip_summary()
        if score is not None:
            self.state.add_scores({rec.path: score})
        name = rec.path.name
        if rec.scored:
            msg = (f"{name}: {len(rec.events)} flagged event(s) in {hms(rec.duration)}"
                   + (" (from the cache)" if out.reused else "")
                   + ("; N / P go from one to the next" if rec.events else ""))
        else:
            msg = f"{name}: overview ready" + (" (from the cache)" if out.reused else "")
        self.c.task_ended.emit("done", msg)
        self._refresh_span()

    def _session_stopped(self, sid: int, how: str) -> None:
        rec = self.rec
        if sid != self._sid or rec is None:
            return
        self._job = None
        rec.status = {"preempted": "paused"}.get(how, how)
        self.state.set_long(rec)
        if how == "preempted":
            self._maybe_resume()  # the task that took its place may be over already
        if how == "cancelled":
            self.c.status.emit(f"{rec.path.name}: stopped at {hms(rec.progress_seconds())} of "
                               f"{hms(rec.duration)}; the part done stays on screen (open the "
                               "recording again to go on from there)")

    def _refresh_span(self) -> None:
        """After scoring ended: the span on screen gets its map and its events."""
        rec, st = self.rec, self.state
        if rec is None or st.span is None or st.display is None or st.clip_path != rec.path:
            return
        if rec.scored and st.result is None:
            self.request_span(*st.span)
            return
        d0, d1 = float(st.display.times[0]), float(st.display.times[-1])
        flagged = self._flagged(rec, d0, d1, st.boxes)
        if flagged != st.flagged:
            st.set_clip(rec.path, st.display, st.result, st.boxes, editable=st.boxes_editable,
                        span=st.span, flagged=flagged)
            self.span_loaded.emit()

    # -- the detail span ----------------------------------------------------------------------
    def request_span(self, t0: float, t1: float, *, select: tuple[str, Box] | None = None
                     ) -> None:
        """Show seconds ``t0 .. t1`` (moved and resized to fit the recording and the limits);
        ``select``: ``("flag" | "box", box)`` to select once it is on screen."""
        rec = self.rec
        if rec is None:
            return
        w = float(np.clip(float(t1) - float(t0), lr.MIN_SPAN, lr.MAX_SPAN))
        w = min(w, rec.duration)
        t0 = float(np.clip(float(t0), 0.0, max(0.0, rec.duration - w)))
        req = SpanRequest(rec, t0, t0 + w, self.state.label_column)
        self._span_seq += 1
        self._span_pending = (self._span_seq, req, select)
        if self._span_job is None:
            self._start_span()

    def _start_span(self) -> None:
        if self._span_pending is None:
            self.c.clip_busy.emit(False)
            return
        seq, req, select = self._span_pending
        self._span_pending = None
        job = Job(lambda _p: read_span(req), name=f"reading {req.rec.path.name}",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda data: self._span_done(seq, data, select))
        job.failed.connect(lambda exc: self._span_failed(seq, req, exc))
        job.finished.connect(self._span_finished)
        self._span_job = job
        self.c.clip_busy.emit(True)
        self.c.runner.start(job)

    def _span_finished(self) -> None:
        self._span_job = None
        self._start_span()

    def _span_failed(self, seq: int, req: SpanRequest, exc: BaseException) -> None:
        if seq != self._span_seq or req.rec is not self.rec:
            return
        msg = str(exc) if isinstance(exc, SpecviewError) else (
            f"Unexpected error ({type(exc).__name__}): {exc}\n\n"
            f"{getattr(exc, '__traceback_text__', '')}".strip())
        self.c.error.emit(f"Cannot show {req.rec.path.name} at {hms(req.t0)}", msg)

    @staticmethod
    def _flagged(rec: LongRecording, d0: float, d1: float, boxes: list[Box]
                 ) -> list[FlaggedRegion]:
        """The recording's events inside the loaded span, less those accepted as boxes."""
        def accepted(b: Box) -> bool:
            return any(abs(x.t0 - b.t0) < 1e-3 and abs(x.t1 - b.t1) < 1e-3
                       and abs(x.f0 - b.f0) < 0.5 and abs(x.f1 - b.f1) < 0.5 for x in boxes)
        return [FlaggedRegion(e.box, e.score, e.n_cells) for e in rec.events_in(d0, d1)
                if not accepted(e.box)]

    def _span_done(self, seq: int, data: SpanData, select) -> None:
        req, st = data.request, self.state
        rec = req.rec
        if seq != self._span_seq or rec is not self.rec:
            return  # superseded, or another recording opened meanwhile
        self._reload_asked = False
        first = st.clip_path != rec.path
        if first:
            side = data.sidecar
            st.sample_rate = rec.sample_rate
            st.sidecar = side
            boxes, editable = list(side.boxes), not side.error
        else:
            boxes, editable = list(st.boxes), st.boxes_editable
        d = data.display
        flagged = self._flagged(rec, float(d.times[0]), float(d.times[-1]), boxes)
        st.set_clip(rec.path, d, data.result, boxes, editable=editable, span=(req.t0, req.t1),
                    flagged=flagged)
        if first and data.sidecar.error:
            self.c.sidecar_unreadable.emit(rec.path, data.sidecar.error)
        if select is not None:
            kind, box = select
            if kind == "flag":
                k = next((i for i, r in enumerate(st.flagged) if r.box == box), None)
                st.select_region(k)
            else:
                i = next((i for i, b in enumerate(st.boxes) if b == box), None)
                st.select(i)
        self.c.status.emit(lr.span_text(rec, req, data.result, flagged))
        self.span_loaded.emit()

    # -- paging and stepping ------------------------------------------------------------------
    def page(self, direction: int) -> None:
        """PageDown (+1) / PageUp (-1): the next / previous span of the same width."""
        rec = self.rec
        vis = self._shown()
        if rec is None or vis is None:
            return
        v0, v1 = vis
        w = max(lr.MIN_SPAN, v1 - v0)
        t0 = v0 + direction * w
        if direction > 0 and v1 >= rec.duration - 1e-6:
            self.c.status.emit(f"{rec.path.name}: this is the end of the recording")
            return
        if direction < 0 and v0 <= 1e-6:
            self.c.status.emit(f"{rec.path.name}: this is the start of the recording")
            return
        self._step_key = None
        self.request_span(t0, t0 + w)

    def _shown(self) -> tuple[float, float] | None:
        """What the detail shows: the span asked for, unless the user zoomed in (then the
        visible range). The visible range of a span at the recording's end stops half a frame
        short of it, so the span's own edges keep paging exact."""
        span, vis = self.state.span, self.visible_range()
        if span is None or vis is None:
            return span or vis
        if vis[1] - vis[0] >= 0.95 * (span[1] - span[0]):
            return span
        return vis

    def centre_on(self, t: float, *, select: tuple[str, Box] | None = None) -> None:
        """Centre a span of the present width on ``t`` seconds."""
        vis = self._shown() or (0.0, lr.DEFAULT_SPAN)
        w = max(lr.MIN_SPAN, vis[1] - vis[0])
        self.request_span(t - w / 2, t + w / 2, select=select)

    def step(self, direction: int) -> None:
        """N (+1) / P (-1): the next / previous flagged event across the whole recording (its
        boxes when it has no events); centres the span on it and selects it."""
        rec = self.rec
        if rec is None:
            return
        if rec.events:
            items = [("flag", e.box) for e in rec.events]
        else:
            items = [("box", b) for b in self.state.boxes]
        if not items:
            self.c.status.emit(lr.no_events_text(rec))
            return

        def key(item):
            b = item[1]
            return (b.t0, b.f0, b.t1, b.f1)

        items.sort(key=key)
        ref = self._step_key
        if ref is None:
            vis = self._shown() or (0.0, 0.0)
            ref = (vis[0] - 1e-9,) if direction > 0 else (vis[0],)
        if direction > 0:
            nxt = next((it for it in items if key(it) > ref), None)
        else:
            nxt = next((it for it in reversed(items) if key(it) < ref), None)
        if nxt is None:
            what = "event" if rec.events else "box"
            self.c.status.emit(f"{rec.path.name}: no {what} "
                               f"{'after' if direction > 0 else 'before'} this one")
            return
        self._step_key = key(nxt)
        kind, box = nxt
        n = items.index(nxt) + 1
        self.centre_on((box.t0 + box.t1) / 2, select=(kind, box))
        self.c.status.emit(f"{rec.path.name}: {'event' if kind == 'flag' else 'box'} {n} of "
                           f"{len(items)} at {hms(box.t0)}")

    def show_event(self, index: int) -> None:
        """Centre the span on event ``index`` of the recording and select it."""
        rec = self.rec
        if rec is None or not 0 <= index < len(rec.events):
            return
        b = rec.events[index].box
        self._step_key = (b.t0, b.f0, b.t1, b.f1)
        self.centre_on((b.t0 + b.t1) / 2, select=("flag", b))

    def _follow_selection(self) -> None:
        """A box selected in the table outside the loaded span: show it."""
        rec, st = self.rec, self.state
        if rec is None or st.selected is None or st.display is None or st.clip_path != rec.path:
            return
        if not 0 <= st.selected < len(st.boxes):
            return
        b = st.boxes[st.selected]
        d0, d1 = float(st.display.times[0]), float(st.display.times[-1])
        if b.t1 < d0 or b.t0 > d1:
            self.centre_on((b.t0 + b.t1) / 2, select=("box", b))
