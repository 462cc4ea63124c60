"""The overview strip of a long recording: the whole file at a glance, and where the detail is.

Above the detail view: the recording's coarse spectrogram and its score timeline (the highest
map cell of each overview column, in multiples of the flag threshold, with the threshold's line
at 1), the flagged events as marks, and a movable region that shows the span in the detail
view and chooses another (drag it or its edges). A click elsewhere centres the detail on that
time; a click on an event's mark shows and selects it. Both fill in as the background task
reads and scores the recording.

What is drawn is max-pooled to a few thousand columns (:mod:`specview.gui.pooling`), kept up to
date for the columns that arrive only, so that a day-long recording's 116k columns cost the GUI
thread no more than an hour's; zoomed in, the strip pools the columns it shows.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from specview.gui.box_items import FLAG_COLOUR
from specview.gui.long_recording import LongRecording, hms
from specview.gui.pooling import TARGET_COLUMNS, PooledColumns, PooledImageItem, pooled_window
from specview.gui.state import AppState
from specview.gui.view_items import AXIS_WIDTH, BACKGROUND, spec_colormap

#: Height of the strip (px): header, spectrogram and score rows.
STRIP_HEIGHT = 190
REGION_BRUSH = (255, 255, 255, 45)
REGION_PEN = "#ffffff"
PROGRESS_COLOUR = "#4da6ff"
#: Top of the score timeline at least (× threshold) and at most, beyond which peaks are cut.
SCORE_TOP_MIN, SCORE_TOP_MAX = 2.0, 6.0


#: Tick steps of the time axis (s): round units of a clock.
TICK_STEPS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200,
              10800, 21600, 43200, 86400)


class TimeAxis(pg.AxisItem):
    """A time axis labelled ``h:mm:ss`` / ``m:ss``, with ticks at round clock times."""

    def __init__(self, **kw) -> None:
        super().__init__("bottom", **kw)
        self.enableAutoSIPrefix(False)

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803 - Qt API
        span = float(maxVal - minVal)
        if span <= 0 or size <= 0:
            return super().tickSpacing(minVal, maxVal, size)
        want = span / max(2.0, size / 90.0)  # a label every ~90 px
        major = next((s for s in TICK_STEPS if s >= want), TICK_STEPS[-1])
        minor = next((s for s in reversed(TICK_STEPS) if s <= major / 4), major / 5)
        return [(major, 0.0), (minor, 0.0)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt API
        hours = bool(values) and max(values) >= 3600
        out = []
        for v in values:
            v = max(0.0, float(v))
            h, rem = divmod(int(round(v)), 3600)
            m, s = divmod(rem, 60)
            if spacing < 1.0:
                out.append(f"{int(v // 60)}:{v % 60:04.1f}")
            elif hours:
                out.append(f"{h}:{m:02d}:{s:02d}")
            else:
                out.append(f"{m + 60 * h}:{s:02d}")
        return out


class _ClickViewBox(pg.ViewBox):
    """Reports a left click's time; drags and the wheel pan and zoom in time only."""

    clicked = Signal(float)

    def mouseClickEvent(self, ev):  # noqa: N802 - Qt API
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(float(self.mapSceneToView(ev.scenePos()).x()))
            return
        super().mouseClickEvent(ev)


class OverviewStrip(QWidget):
    """The whole long recording, with the detail's span as a movable region.

    Signals
    -------
    span_requested(float, float)
        The region was dragged to these seconds.
    jump_requested(float)
        A click at this time: centre the detail on it.
    event_requested(int)
        A click on the mark of event ``i`` (of ``state.long.events``).
    """

    span_requested = Signal(float, float)
    jump_requested = Signal(float)
    event_requested = Signal(int)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._syncing = False
        self._ytop = SCORE_TOP_MIN
        self.header = QLabel("")
        self.header.setStyleSheet(f"background: {BACKGROUND}; color: #d0d0d0; padding: 2px 6px;")
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.header.setToolTip("The whole recording. Drag the region (or its edges) or click to "
                               "move the detail view; PageDown / PageUp page through it, N / P "
                               "go to the next / previous flagged event")
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        self.glw.ci.layout.setContentsMargins(2, 0, 8, 2)
        self.glw.ci.layout.setVerticalSpacing(0)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.glw, 1)
        self.setFixedHeight(STRIP_HEIGHT)

        self.spec_vb = _ClickViewBox()
        self.spec_plot: pg.PlotItem = self.glw.addPlot(row=0, col=0, viewBox=self.spec_vb)
        self.score_vb = _ClickViewBox()
        self.score_plot: pg.PlotItem = self.glw.addPlot(
            row=1, col=0, viewBox=self.score_vb, axisItems={"bottom": TimeAxis()})
        self.score_plot.setXLink(self.spec_plot)
        for plot in (self.spec_plot, self.score_plot):
            plot.hideButtons()
            plot.setMenuEnabled(False)
            plot.setMouseEnabled(x=True, y=False)
            plot.getViewBox().setDefaultPadding(0.0)
            plot.getAxis("left").setWidth(AXIS_WIDTH)
            plot.getAxis("left").enableAutoSIPrefix(False)
        self.spec_plot.getAxis("bottom").setStyle(showValues=False)
        self.spec_plot.getAxis("bottom").setHeight(4)
        self.spec_plot.getAxis("left").setStyle(showValues=False)
        self.spec_plot.setLabel("left", "overview")
        self.score_plot.setLabel("left", "× thr")
        self.glw.ci.layout.setRowStretchFactor(0, 3)
        self.glw.ci.layout.setRowStretchFactor(1, 2)

        self.image = PooledImageItem(axisOrder="row-major")
        self.image.setAutoDownsample(True)
        self.spec_plot.addItem(self.image)
        self.set_spec_colormap("grey")
        self.curve = self.score_plot.plot(pen=pg.mkPen("#ffb000", width=1.2), connect="finite")
        self.threshold_line = pg.InfiniteLine(
            pos=1.0, angle=0, movable=False,
            pen=pg.mkPen(FLAG_COLOUR, width=1, style=Qt.PenStyle.DashLine))
        self.threshold_line.setToolTip("flag threshold")
        self.score_plot.addItem(self.threshold_line, ignoreBounds=True)
        self.marks = pg.ScatterPlotItem(symbol="t1", size=9, pen=pg.mkPen("#1e1e1e"),
                                        brush=pg.mkBrush(FLAG_COLOUR), hoverable=True,
                                        tip=None)
        self.marks.setZValue(30)
        self.marks.sigClicked.connect(self._mark_clicked)
        self.score_plot.addItem(self.marks)
        self.progress_lines = []
        for plot in (self.spec_plot, self.score_plot):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(PROGRESS_COLOUR, width=1.5))
            line.setZValue(35)
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self.progress_lines.append(line)
        self.note = pg.TextItem("", color="#a0a0a0", anchor=(0.5, 0.5))
        self.score_plot.addItem(self.note, ignoreBounds=True)
        self.regions = []
        for plot in (self.spec_plot, self.score_plot):
            region = pg.LinearRegionItem(values=(0.0, 1.0), orientation="vertical",
                                         brush=pg.mkBrush(*REGION_BRUSH),
                                         pen=pg.mkPen(REGION_PEN, width=1.5), movable=True)
            region.setZValue(40)
            region.setToolTip("The span in the detail view: drag it, or its edges, to show "
                              "another; click elsewhere to jump there")
            region.sigRegionChanged.connect(self._region_moving)
            region.sigRegionChangeFinished.connect(self._region_moved)
            plot.addItem(region, ignoreBounds=True)
            self.regions.append(region)
        self.spec_vb.clicked.connect(self.jump_requested)
        self.score_vb.clicked.connect(self.jump_requested)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)  # redraw at most 4 times a second while it fills in
        self._timer.timeout.connect(self.refresh_data)
        state.long_changed.connect(self._on_long_changed)
        state.long_progressed.connect(self._on_progressed)
        state.clip_loaded.connect(lambda _p: self._show_span())
        self._shown: LongRecording | None = None
        self._pool: PooledColumns | None = None
        self._dirty: tuple[int, int] | None = None  # full columns changed since the last draw
        self._marks_key: tuple | None = None
        self._axis_key: tuple | None = None  # the score axis's (label, values, threshold)
        self._zoom_timer = QTimer(self)  # the strip zoomed or panned: pool what it shows
        self._zoom_timer.setSingleShot(True)
        self._zoom_timer.setInterval(80)
        self._zoom_timer.timeout.connect(self.refresh_data)
        self.spec_vb.sigXRangeChanged.connect(lambda *_a: self._zoom_timer.start())
        self.setVisible(False)

    # -- state -> strip -----------------------------------------------------------------------
    def _on_progressed(self, c0: int, c1: int) -> None:
        d = self._dirty
        self._dirty = (c0, c1) if d is None else (min(d[0], c0), max(d[1], c1))
        if not self._timer.isActive():
            self._timer.start()

    def _on_long_changed(self) -> None:
        rec = self.state.long
        self.setVisible(rec is not None)
        if rec is None:
            self._shown = self._pool = None
            return
        if rec is not self._shown:
            self._shown = rec
            self._pool = PooledColumns(rec.fe.n_mels, rec.n_cols)
            self._marks_key = self._dirty = None
            for plot in (self.spec_plot, self.score_plot):
                vb = plot.getViewBox()
                vb.setLimits(xMin=0.0, xMax=rec.duration, minXRange=1.0)
            self.spec_vb.setRange(xRange=(0.0, rec.duration), yRange=(0.0, rec.fe.n_mels),
                                  padding=0.0)
            for r in self.regions:
                r.setBounds((0.0, rec.duration))
        pooled = rec.pooled
        if pooled is not None and pooled.n_cols == rec.n_cols \
                and pooled.factor == self._pool.factor:
            self._pool, self._dirty = pooled, None  # pooled off the GUI thread for these arrays
        elif rec.power_cols or rec.sketched or rec.frames_scored:  # (else all NaN, as pooled)
            self._dirty = (0, rec.n_cols)  # its arrays may have been replaced whole
        self.refresh_data()

    def refresh_data(self) -> None:
        """Draw what the recording's overview holds now."""
        rec = self.state.long
        if rec is None or self._pool is None or rec is not self._shown:
            return
        pool = self._pool
        if self._dirty is not None:
            pool.update(rec.power_db, rec.score_max, *self._dirty)
            self._dirty = None
        n = rec.n_cols if rec.sketched else rec.power_cols
        start, f, power, score = self._shown_columns(rec, pool)
        cs = rec.column_seconds
        k = max(0, min(power.shape[1], -(-(n - start) // f)))  # pooled columns read so far
        if k:
            img = power[:, :k]
            self.image.setImage(img, autoLevels=False)
            w = (min(n, start + k * f) - start) * cs
            self.image.setRect(QRectF(start * cs, 0.0, w, float(rec.fe.n_mels)))
            top = float(np.nanmax(pool.power)) if np.isfinite(pool.power).any() else 0.0
            self.image.setLevels((top - 80.0, top))
            self.image.setVisible(True)
        else:
            self.image.setVisible(False)
        starts = start + np.arange(score.size) * f
        x = (starts + np.minimum(f, rec.n_cols - starts) / 2.0) * cs
        self._draw_scores(rec, x, score, pool.score)
        t = rec.progress_seconds()
        running = rec.status in ("reading", "scoring") and not rec.complete
        for line in self.progress_lines:
            line.setVisible(running and t > 0)
            line.setValue(t)
        self.header.setText(self._header_text(rec))
        self._show_span()

    def _shown_columns(self, rec: LongRecording, pool: PooledColumns
                       ) -> tuple[int, int, np.ndarray, np.ndarray]:
        """``(first column, factor, power, score)`` to draw: the whole recording pooled, or,
        with the strip zoomed in past that pooling, the columns in view (and as many either
        side) pooled afresh."""
        x0, x1 = self.spec_vb.viewRange()[0]
        cs = rec.column_seconds
        vis = (x1 - x0) / cs
        if pool.factor > 1 and vis * 4 < rec.n_cols and vis < TARGET_COLUMNS * pool.factor:
            a, b = int(max(0.0, x0 / cs - vis)), int(min(rec.n_cols, x1 / cs + vis + 1))
            return pooled_window(rec.power_db, rec.score_max, a, b)
        return 0, pool.factor, pool.power, pool.score

    def _draw_scores(self, rec: LongRecording, x: np.ndarray, raw: np.ndarray,
                     whole: np.ndarray) -> None:
        """The score curve at ``x`` (s) from ``raw`` (pooled column maxima); the y range from
        ``whole`` (the whole recording's)."""
        cal = rec.calibration
        self._set_axis("× thr" if cal is not None else "score", rec.scored,
                       cal is not None and rec.scored)
        if not rec.scored:
            self.curve.setData([], [])
            self.marks.setData([])
            self._marks_key = None
            self.note.setText("load a model to score this recording")
            self.note.setPos(rec.duration / 2, 0.5)
            self.score_vb.setYRange(0.0, 1.0, padding=0.0)
            return
        self.note.setText("")
        v = cal.calibrated(raw) if cal is not None else raw
        w = cal.calibrated(whole) if cal is not None else whole
        finite = w[np.isfinite(w)]
        hi = float(finite.max()) if finite.size else 0.0
        if cal is not None:
            top = float(np.clip(hi * 1.1, SCORE_TOP_MIN, SCORE_TOP_MAX))
            lo = min(0.0, float(finite.min())) if finite.size else 0.0
            lo = max(lo, -1.0)
        else:
            top = hi * 1.1 if hi > 0 else 1.0
            lo = float(finite.min()) if finite.size else 0.0
        self._ytop = top
        self.curve.setData(x, np.minimum(v, top))  # peaks above the top are cut there
        self.score_vb.setYRange(lo, top, padding=0.0)
        key = (id(rec.events), len(rec.events), top, cal is not None)
        if key == self._marks_key:
            return  # the marks are as they were
        self._marks_key = key
        spots = [{"pos": ((e.box.t0 + e.box.t1) / 2, min(e.peak if cal is not None
                                                             else e.score, top * 0.97)),
                  "data": i} for i, e in enumerate(rec.events)]
        self.marks.setData(spots)
        self.marks.setToolTip(f"{len(rec.events)} flagged event(s): click one to show it "
                              "(N / P step through them)" if rec.events else "")

    def _set_axis(self, label: str, values: bool, threshold: bool) -> None:
        """The score axis's label and whether it shows values, and the threshold line, set
        only when they change: each ``setLabel`` / ``setStyle`` lays the strip's plot out and
        draws its axis again, 4 times a second while the overview streams in."""
        key = (label, values, threshold)
        if key == self._axis_key:
            return
        self._axis_key = key
        self.score_plot.setLabel("left", label)
        self.threshold_line.setVisible(threshold)
        self.score_plot.getAxis("left").setStyle(showValues=values)

    @staticmethod
    def _header_text(rec: LongRecording) -> str:
        head = f"{rec.path.name} — {hms(rec.duration)}"
        pct = 100.0 * rec.progress_seconds() / rec.duration if rec.duration else 100.0
        if rec.complete:
            if rec.scored:
                tail = f"{len(rec.events)} flagged event(s)"
            else:
                tail = "spectrogram only: load a model to score it"
        elif rec.status == "cancelled":
            tail = f"stopped at {hms(rec.progress_seconds())} ({pct:.0f} %)"
        elif rec.status == "failed":
            tail = f"failed at {hms(rec.progress_seconds())}"
        elif rec.status == "paused":
            tail = f"waiting for the running task ({pct:.0f} % done)"
        else:
            tail = f"{'scoring' if rec.scored else 'reading'} {pct:.0f} %"
        return f"{head}   ·   {tail}"

    def _show_span(self) -> None:
        """The region follows the detail view's span."""
        st = self.state
        if st.long is None or st.span is None:
            return
        self.set_region(*st.span)

    def set_region(self, t0: float, t1: float) -> None:
        """Move the region without asking for a span."""
        self._syncing = True
        try:
            for r in self.regions:
                r.setRegion((float(t0), float(t1)))
        finally:
            self._syncing = False

    def region(self) -> tuple[float, float]:
        a, b = self.regions[0].getRegion()
        return float(a), float(b)

    def set_spec_colormap(self, name: str) -> None:
        self.image.setColorMap(spec_colormap(name))

    # -- strip -> controller ------------------------------------------------------------------
    def _region_moving(self, region) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for r in self.regions:
                if r is not region:
                    r.setRegion(region.getRegion())
        finally:
            self._syncing = False

    def _region_moved(self, region) -> None:
        if self._syncing:
            return
        a, b = region.getRegion()
        self.span_requested.emit(float(a), float(b))

    def _mark_clicked(self, _item, points, _ev=None) -> None:
        if len(points):
            self.event_requested.emit(int(points[0].data()))
