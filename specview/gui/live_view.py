"""The live view (issue 16): the last seconds of input as a scrolling spectrogram with the
calibrated heatmap over it, the frame-score trace with the flag threshold, and the events as
boxes on both.

Everything scrolls through fixed-length rings (:class:`LiveRing`): the view holds
``seconds`` of columns whatever the input's length, and an event's marks go when they scroll
off, so memory stays flat over days. Times on the x axis are input times (seconds from the
start of the input), frequencies on the y axis the model's mel bands (labelled in Hz), values
as the monitor gives them (:class:`specview.live.Columns`): the focused map in multiples of
the flag threshold (0 a typical normal cell, 1 the threshold), its frame scores likewise.

The first pixel of each column is timed: the heatmap's paint stamps every column piece drawn
since the previous paint, and :attr:`LiveView.latencies` keeps ``paint time - scored time``
(the time the monitor gave the piece out, right after scoring the window that holds it).
"""

from __future__ import annotations

import collections
import math
import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

from specview.gui.freq_scale import BandScale
from specview.gui.view_items import (
    AXIS_WIDTH,
    BACKGROUND,
    CAL_MAX,
    HzAxis,
    heat_colormap,
    spec_colormap,
)

#: Seconds of input the view shows (and holds).
VIEW_SECONDS = 30.0
#: Spectrogram levels: this many dB below the loudest cell held.
DB_RANGE = 80.0
EVENT_OPEN_COLOUR = (255, 64, 64)
EVENT_CLOSED_COLOUR = (80, 200, 255)
THRESHOLD_COLOUR = "#ff4040"


class LiveRing:
    """The last ``capacity`` columns: display power (dB), calibrated map and frame scores, in
    fixed arrays written in a circle; ``t_end`` is the time the next column will have.

    A piece that starts later than ``t_end`` (a gap in the input, a new segment) is preceded by
    blank columns for the gap (NaN in the spectrogram and the trace, 0 in the map), so every
    column of the ring sits ``seconds_per_frame`` after the one before it.
    """

    def __init__(self, n_rows: int, capacity: int, seconds_per_frame: float) -> None:
        self.n_rows, self.cap, self.spf = int(n_rows), int(capacity), float(seconds_per_frame)
        self.spec = np.full((self.n_rows, self.cap), np.nan, np.float32)
        self.heat = np.zeros((self.n_rows, self.cap), np.float32)
        self.score = np.full(self.cap, np.nan, np.float32)
        self.count = 0               # columns written since the start
        self.t_end: float | None = None
        self.gaps = 0

    def _write(self, spec: np.ndarray, heat: np.ndarray, score: np.ndarray) -> None:
        n = spec.shape[1]
        if n > self.cap:
            spec, heat, score = spec[:, -self.cap:], heat[:, -self.cap:], score[-self.cap:]
            self.count += n - self.cap
            n = self.cap
        i = self.count % self.cap
        k = min(n, self.cap - i)
        self.spec[:, i:i + k], self.heat[:, i:i + k], self.score[i:i + k] = (
            spec[:, :k], heat[:, :k], score[:k])
        if n > k:
            self.spec[:, :n - k], self.heat[:, :n - k], self.score[:n - k] = (
                spec[:, k:], heat[:, k:], score[k:])
        self.count += n

    def push(self, t_first: float, spec: np.ndarray, heat: np.ndarray,
             score: np.ndarray) -> None:
        """Add columns ``(n_rows, n)``, the first centred at ``t_first`` seconds."""
        if self.t_end is None:
            self.t_end = float(t_first)
        gap = int(round((t_first - self.t_end) / self.spf))
        if gap > 0:
            self.gaps += 1
            blank = min(gap, self.cap)
            self._write(np.full((self.n_rows, blank), np.nan, np.float32),
                        np.zeros((self.n_rows, blank), np.float32),
                        np.full(blank, np.nan, np.float32))
            self.count += gap - blank
            self.t_end += gap * self.spf
        elif gap < 0:  # overlaps what is held (never from the monitor): keep the new part
            spec, heat, score = spec[:, -gap:], heat[:, -gap:], score[-gap:]
        n = spec.shape[1]
        if n:
            self._write(spec, heat, score)
            self.t_end += n * self.spf

    @property
    def t_start(self) -> float:
        """Centre time of the ring's oldest column slot (slots before the first column are
        blank)."""
        return (self.t_end or 0.0) - self.cap * self.spf

    def _ordered(self, a: np.ndarray) -> np.ndarray:
        i = self.count % self.cap
        return np.concatenate([a[..., i:], a[..., :i]], axis=-1)

    def ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(spec, heat, score)`` oldest column first (``capacity`` columns)."""
        return self._ordered(self.spec), self._ordered(self.heat), self._ordered(self.score)

    def times(self) -> np.ndarray:
        return self.t_start + np.arange(self.cap) * self.spf


class _StampedImage(pg.ImageItem):
    """An image item that reports each paint (when its pixels reach the screen)."""

    def __init__(self, on_paint, **kw) -> None:
        super().__init__(**kw)
        self._on_paint = on_paint

    def paint(self, p, *args) -> None:
        super().paint(p, *args)
        self._on_paint()


class _EventBox(QGraphicsRectItem):
    """An event's box on the spectrogram; a click on it reports the event's id."""

    def __init__(self, event_id: int, clicked) -> None:
        super().__init__()
        self.event_id, self._clicked = event_id, clicked
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        event.accept()
        self._clicked(self.event_id)


class LiveView(QWidget):
    """Scrolling spectrogram + calibrated heatmap + frame-score trace + event marks.

    Signals
    -------
    event_clicked(int)
        The id of an event whose box was clicked.
    """

    event_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None, *, seconds: float = VIEW_SECONDS) -> None:
        super().__init__(parent)
        self.seconds = float(seconds)
        self.ring: LiveRing | None = None
        self.band_scale: BandScale | None = None
        self.latencies: collections.deque[float] = collections.deque(maxlen=100_000)
        # bounded: a hidden or minimised window paints nothing for as long as it stays so
        self._unpainted: collections.deque[float] = collections.deque(maxlen=1000)
        self._events: dict[int, tuple] = {}
        self._spec_top: float | None = None
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw)

        self.score_plot: pg.PlotItem = self.glw.addPlot(row=0, col=0)
        self.score_plot.setLabel("left", "frame score (× thr)")
        self.score_plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.score_plot.getAxis("bottom").setStyle(showValues=False)
        self.score_plot.hideButtons()
        self.score_plot.setMenuEnabled(False)
        self.score_plot.setMouseEnabled(x=False, y=False)
        self.score_plot.setYRange(-0.5, CAL_MAX + 0.5, padding=0)
        self.score_curve = self.score_plot.plot(pen=pg.mkPen("#ffb000", width=1.5),
                                                connect="finite")
        self.threshold_line = pg.InfiniteLine(
            pos=1.0, angle=0, movable=False, label="flag threshold",
            labelOpts={"position": 0.03, "color": THRESHOLD_COLOUR, "anchors": [(0, 1), (0, 1)]},
            pen=pg.mkPen(THRESHOLD_COLOUR, width=1.2, style=Qt.PenStyle.DashLine))
        self.score_plot.addItem(self.threshold_line, ignoreBounds=True)

        self.freq_axis = HzAxis()
        self.freq_axis.setWidth(AXIS_WIDTH)
        self.plot: pg.PlotItem = self.glw.addPlot(row=1, col=0, axisItems={"left": self.freq_axis})
        self.plot.setLabel("left", "Frequency (Hz)")
        self.plot.setLabel("bottom", "Input time (s)")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.score_plot.setXLink(self.plot)
        self.vb: pg.ViewBox = self.plot.getViewBox()
        self.vb.setDefaultPadding(0.0)
        self.spec_item = pg.ImageItem(axisOrder="row-major")
        self.spec_item.setColorMap(spec_colormap("gray"))
        self.spec_item.setAutoDownsample(True)
        self.heat_item = _StampedImage(self._painted, axisOrder="row-major")
        self.heat_item.setAutoDownsample(True)
        self.heat_item.setZValue(10)
        self.heat_item.setOpacity(0.8)
        self.plot.addItem(self.spec_item)
        self.plot.addItem(self.heat_item)
        self.colorbar = pg.ColorBarItem(values=(0.0, CAL_MAX), colorMap=heat_colormap("inferno"),
                                        width=14, label="anomaly (× flag threshold)",
                                        interactive=False, colorMapMenu=False)
        self.colorbar.setImageItem(self.heat_item)
        self.glw.addItem(self.colorbar, row=1, col=1)
        layout = self.glw.ci.layout
        layout.setRowStretchFactor(0, 1)
        layout.setRowStretchFactor(1, 4)

    # -- columns ---------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the columns and the event marks (a new run starts from its own time 0)."""
        for i in list(self._events):
            span, box, label = self._events.pop(i)
            self.score_plot.removeItem(span)
            self.plot.removeItem(box)
            self.plot.removeItem(label)
        self.ring, self._spec_top = None, None
        self._unpainted.clear()
        self.spec_item.clear()
        self.heat_item.clear()
        self.score_curve.setData([], [])

    def _start(self, cols) -> None:
        spf = float(cols.seconds_per_frame)
        self.ring = LiveRing(len(cols.freqs), int(math.ceil(self.seconds / spf)), spf)
        self.band_scale = BandScale(np.asarray(cols.freqs))
        self.freq_axis.set_band_scale(self.band_scale)
        self.vb.setYRange(0, len(cols.freqs), padding=0)

    def add_columns(self, pieces) -> None:
        """Add ``[(Columns, scored perf_counter), ...]`` and redraw once."""
        if not pieces:
            return
        for cols, stamp in pieces:
            if self.ring is None or len(cols.freqs) != self.ring.n_rows:
                self._start(cols)
            power = np.asarray(cols.power, np.float32)
            spec = 10.0 * np.log10(np.maximum(power, 1e-10))
            heat = cols.calibrated(cols.map)
            score = cols.calibrated(cols.frame_scores)
            self.ring.push(float(cols.times[0]), spec, heat, score)
            if spec.size:
                top = float(np.max(spec))
                self._spec_top = top if self._spec_top is None else max(
                    top, self._spec_top - 0.02 * spec.shape[1])  # falls slowly after a loud part
            self._unpainted.append(stamp)
        self.redraw()

    def redraw(self) -> None:
        r = self.ring
        if r is None:
            return
        spec, heat, score = r.ordered()
        rect = QRectF(r.t_start - r.spf / 2, 0.0, r.cap * r.spf, float(r.n_rows))
        top = self._spec_top if self._spec_top is not None else 0.0
        # NaN (before the input began, in a gap) is drawn see-through: the background shows
        self.spec_item.setImage(spec, autoLevels=False, levels=(top - DB_RANGE, top), rect=rect)
        self.heat_item.setImage(heat, autoLevels=False, levels=(0.0, CAL_MAX), rect=rect)
        self.score_curve.setData(r.times(), score)
        self.plot.setXRange(r.t_end - r.cap * r.spf, r.t_end, padding=0)
        self._prune_events()

    def _painted(self) -> None:
        if self._unpainted:
            now = time.perf_counter()
            self.latencies.extend(now - s for s in self._unpainted)
            self._unpainted.clear()

    # -- geometry (for tests and the event boxes) --------------------------------------------------
    def column_time(self, column: float) -> float:
        """Input time (s) of the view's x coordinate under heatmap column ``column``'s centre,
        read from the drawn image's own geometry."""
        return float(self.heat_item.mapToView(pg.Point(column + 0.5, 0.0)).x())

    def row_hz(self, row: float) -> float:
        return float(self.band_scale.hz_of_y(row + 0.5))

    # -- events ----------------------------------------------------------------------------------
    def show_event(self, ev) -> None:
        """Mark event ``ev`` (a :class:`~specview.liveevents.LiveEvent`): a shaded span on the
        trace and its band on the spectrogram, red while open."""
        if self.band_scale is None:
            return
        colour = EVENT_OPEN_COLOUR if ev.state == "open" else EVENT_CLOSED_COLOUR
        items = self._events.get(ev.id)
        if items is None:
            span = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(*colour, 50),
                                       pen=pg.mkPen(*colour, 120))
            span.setZValue(-5)
            self.score_plot.addItem(span, ignoreBounds=True)
            box = _EventBox(ev.id, self.event_clicked.emit)
            box.setZValue(20)
            self.plot.addItem(box, ignoreBounds=True)
            label = pg.TextItem(f"#{ev.id}", color=colour, anchor=(0, 1))
            label.setZValue(21)
            self.plot.addItem(label, ignoreBounds=True)
            items = (span, box, label)
            self._events[ev.id] = items
        span, box, label = items
        y0 = float(self.band_scale.y_of_hz(ev.f_low)) - 0.5
        y1 = float(self.band_scale.y_of_hz(ev.f_high)) + 0.5
        span.setRegion((ev.start, ev.end))
        span.setBrush(pg.mkBrush(*colour, 50))
        box.setRect(QRectF(ev.start, y0, max(ev.end - ev.start, 0.05), y1 - y0))
        pen = pg.mkPen(*colour, width=2)
        pen.setCosmetic(True)
        box.setPen(pen)
        label.setColor(colour)
        top = float(self.band_scale.n_bands)
        if y1 > top - 3:  # a box up to the top of the band: its label inside, under the edge
            label.setAnchor((0, 0))
            label.setPos(ev.start, top)
        else:
            label.setAnchor((0, 1))
            label.setPos(ev.start, y1)
        box.setData(0, ev.end)

    def _prune_events(self) -> None:
        r = self.ring
        gone = [i for i, (_s, box, _l) in self._events.items()
                if box.data(0) is not None and box.data(0) < r.t_start]
        for i in gone:
            span, box, label = self._events.pop(i)
            self.score_plot.removeItem(span)
            self.plot.removeItem(box)
            self.plot.removeItem(label)

    def event_point(self, event_id: int):
        """Where event ``event_id``'s box's centre lies in :attr:`glw`'s viewport (pixels)."""
        box = self._events[event_id][1]
        return self.glw.mapFromScene(box.mapToScene(box.rect().center()))

    @property
    def marked_events(self) -> list[int]:
        return sorted(self._events)
