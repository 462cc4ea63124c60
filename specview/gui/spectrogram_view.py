"""The spectrogram with the anomaly heatmap on top, in seconds and Hz.

Coordinates: x is time in seconds (columns are frame centres, spaced hop/sr); y is the band
index, band ``i`` spanning ``[i, i + 1]``, so mel-spaced rows are drawn evenly and the left
axis labels round frequencies in Hz at their mel positions (:class:`BandScale`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedLayout, QWidget

from specview.gui.box_items import (
    BOX_COLOUR,
    FLAG_COLOUR,
    SELECTED_COLOUR,
    BoxLayer,
    DrawViewBox,
    describe_box,
)
from specview.gui.freq_scale import BandScale, format_hz
from specview.gui.state import AppState
from specview.types import Box, Spectrogram

HEAT_COLORMAPS = ("inferno", "viridis", "turbo", "plasma", "magma")
#: How the colour bar's range is chosen for each clip.
SCALE_MODES = {
    "calibrated": "calibrated on normal clips",
    "shared": "shared by scored clips",
    "clip": "this clip's maximum",
    "fixed": "fixed (drag the bar)",
}
SPEC_COLORMAPS = {"grey": "CET-L1", "viridis": "viridis", "magma": "magma", "blue": "CET-L6"}
PLAYHEAD_COLOUR = "#ff4040"
#: Top of the colour bar on the calibrated scale (0 = typical normal cell, 1 = flag threshold).
CAL_MAX = 2.0
BACKGROUND = "#1e1e1e"
PLACEHOLDER = ("Open a recording (Ctrl+O) or a folder/dataset (Ctrl+Shift+O),\n"
               "or drop audio files, folders or a .safetensors model here.")
AXIS_WIDTH = 62  # both plots' left axes share this width so their time axes line up


def heat_colormap(name: str) -> pg.ColorMap:
    """``name`` made see-through at the low end: alpha rises smoothly from 0 (scores below 5 %
    of the range) to 1 (above 55 %), so the spectrogram stays readable under ordinary scores.
    The darkest 15 % of the colours is skipped: near-black would only dim the spectrogram."""
    base = pg.colormap.get(name)
    x = np.linspace(0.0, 1.0, 256)
    rgba = np.array(base.map(0.15 + 0.85 * x, mode=pg.ColorMap.BYTE), dtype=np.ubyte)
    a = np.clip((x - 0.05) / 0.5, 0.0, 1.0)
    rgba[:, 3] = np.round(255 * a * a * (3 - 2 * a)).astype(np.ubyte)
    return pg.ColorMap(x, rgba, name=f"{name}-fade")


class HzAxis(pg.AxisItem):
    """Left axis of a band-per-row image: ticks at round frequencies, labelled in Hz."""

    def __init__(self, **kw) -> None:
        super().__init__("left", **kw)
        self.band_scale: BandScale | None = None
        self.enableAutoSIPrefix(False)

    def set_band_scale(self, scale: BandScale | None) -> None:
        self.band_scale = scale
        self.picture = None  # drop pyqtgraph's cached drawing
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 - Qt API
        if self.band_scale is None:
            return super().tickValues(minVal, maxVal, size)
        return [(1.0, self.band_scale.ticks(minVal, maxVal, size))]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt API
        if self.band_scale is None:
            return super().tickStrings(values, scale, spacing)
        return [format_hz(float(self.band_scale.hz_of_y(v)), tick=True) for v in values]


@dataclass(frozen=True)
class Readout:
    """What lies under the cursor."""

    time_s: float
    freq_hz: float
    level_db: float
    score: float | None
    unit: str = "dB"
    #: ``score`` in multiples of the flag threshold (the colour bar's unit), when calibrated.
    calibrated: float | None = None

    def text(self) -> str:
        s = f"t {self.time_s:.3f} s   f {format_hz(self.freq_hz)}   {self.level_db:.1f} {self.unit}"
        if self.calibrated is not None:
            s += f"   anomaly {self.calibrated:.2f}× threshold (raw {self.score:#.3g})"
        elif self.score is not None:
            s += f"   score {self.score:#.3g}"
        return s


class SpectrogramView(QWidget):
    """Spectrogram, heatmap, colour bar, ground-truth boxes and a frame-score strip.

    Signals
    -------
    hovered(str)
        Readout text under the cursor ('' when it leaves the spectrogram).
    """

    hovered = Signal(str)
    box_drawn = Signal(object)
    box_changed = Signal(int, object)
    box_clicked = Signal(int)
    flagged_clicked = Signal(int)
    clicked_at = Signal(float)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.band_scale: BandScale | None = None
        self.dynamic_range_db = 80.0
        self.scale_mode = "calibrated"
        self.boxes_visible = True
        self._rect = QRectF()
        self._shown_key = None

        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        # until a clip arrives, a hint instead of empty axes with meaningless numbers
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # no minimum width of its own on a small screen (the text is short enough anyway)
        self.placeholder.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.placeholder.setStyleSheet(f"background: {BACKGROUND}; color: #b0b0b0; font-size: 15px;")
        self.stack = QStackedLayout(self)
        self.stack.setContentsMargins(0, 0, 0, 0)
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.glw)

        self.freq_axis = HzAxis()
        self.draw_vb = DrawViewBox()
        self.plot: pg.PlotItem = self.glw.addPlot(row=1, col=0, axisItems={"left": self.freq_axis},
                                                  viewBox=self.draw_vb)
        self.plot.setLabel("left", "Frequency (Hz)")
        self.plot.setLabel("bottom", "Time (s)")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.freq_axis.setWidth(AXIS_WIDTH)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.vb: pg.ViewBox = self.plot.getViewBox()
        self.vb.setDefaultPadding(0.0)

        self.spec_item = pg.ImageItem(axisOrder="row-major")
        self.spec_item.setAutoDownsample(True)
        self.heat_item = pg.ImageItem(axisOrder="row-major")
        self.heat_item.setAutoDownsample(True)
        self.heat_item.setZValue(10)
        self.heat_item.setOpacity(0.7)
        self.plot.addItem(self.spec_item)
        self.plot.addItem(self.heat_item)
        self.set_spec_colormap("grey")

        self.colorbar = pg.ColorBarItem(values=(0.0, 1.0), colorMap=heat_colormap("inferno"),
                                        width=14, rounding=0.001, label="anomaly score",
                                        colorMapMenu=False)
        self.colorbar.setImageItem(self.heat_item)
        self.glw.addItem(self.colorbar, row=1, col=1)
        self.heat_cmap_name = "inferno"

        # the frame-score track sits above the spectrogram, sharing its time axis
        self.score_plot: pg.PlotItem = self.glw.addPlot(row=0, col=0)
        self.score_plot.setXLink(self.plot)
        self.score_plot.setLabel("left", "frame score")
        self.score_plot.getAxis("left").enableAutoSIPrefix(False)
        self.score_plot.getAxis("left").setWidth(AXIS_WIDTH)
        self.score_plot.hideButtons()
        self.score_plot.setMenuEnabled(False)
        self.score_plot.setMouseEnabled(x=True, y=False)
        self.score_plot.getAxis("bottom").setStyle(showValues=False)
        self.score_curve = self.score_plot.plot(
            pen=pg.mkPen("#ffb000", width=1.5), fillLevel=0.0, brush=pg.mkBrush(255, 176, 0, 60))
        layout = self.glw.ci.layout
        layout.setRowStretchFactor(0, 1)
        layout.setRowStretchFactor(1, 5)
        layout.setColumnStretchFactor(0, 1)
        self._set_result_widgets_visible(False)

        self.box_layer = BoxLayer(self.plot, self)
        self.box_layer.box_clicked.connect(self.box_clicked)
        self.box_layer.box_changed.connect(self.box_changed)
        self.box_layer.flagged_clicked.connect(self.flagged_clicked)
        self.box_layer.box_changing.connect(
            lambda _i, b: self.hovered.emit(f"box {describe_box(b)}"))
        self.draw_vb.drawing.connect(
            lambda p0, p1: self.hovered.emit(f"drawing {describe_box(self.box_layer.box_of(p0, p1))}")
            if self.band_scale is not None else None)
        self.draw_vb.drawn.connect(self._on_drawn)
        self.draw_vb.clicked.connect(self._on_clicked)
        self.playheads = []
        for plot in (self.plot, self.score_plot):
            line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(PLAYHEAD_COLOUR, width=1.5))
            line.setZValue(40)
            line.setVisible(False)
            plot.addItem(line, ignoreBounds=True)
            self.playheads.append(line)

        self.glw.scene().sigMouseMoved.connect(self._on_mouse_moved)
        state.clip_loaded.connect(self._on_clip_loaded)
        state.results_changed.connect(self._on_results_changed)
        state.scores_changed.connect(self._apply_heat_levels)
        state.boxes_changed.connect(self.refresh_boxes)
        state.selected_changed.connect(self.refresh_boxes)
        self.legend = self._make_legend()
        self.threshold_line: pg.InfiniteLine | None = None

    def _make_legend(self) -> pg.LegendItem:
        """What the outlines mean, in the spectrogram's top-right corner."""
        legend = pg.LegendItem(offset=(-8, 8), brush=pg.mkBrush(20, 20, 20, 190),
                               pen=pg.mkPen("#606060"), labelTextColor="#e0e0e0",
                               labelTextSize="8pt", verSpacing=-4)
        legend.setParentItem(self.plot.getViewBox())
        dash = Qt.PenStyle.DashLine
        for colour, width, style, name in (
                (BOX_COLOUR, 1.5, dash, "ground-truth box"),
                (SELECTED_COLOUR, 2.5, dash, "selected box"),
                (FLAG_COLOUR, 1.5, Qt.PenStyle.SolidLine, "flagged region (× threshold)")):
            legend.addItem(pg.PlotDataItem(pen=pg.mkPen(colour, width=width, style=style)), name)
        legend.setZValue(50)
        return legend
    # -- state -> view -----------------------------------------------------------------------
    def _on_clip_loaded(self, path) -> None:
        disp = self.state.display
        if disp is None:
            return
        self.stack.setCurrentWidget(self.glw)
        self.set_spectrogram(disp)
        self.set_playhead(None)
        self.refresh_boxes()
        # a new clip (or a new span of a long recording) starts fully zoomed out; a rescore
        # keeps the zoom
        key = (path, self.state.span)
        if key != self._shown_key:
            self._shown_key = key
            self.reset_zoom()

    def _calibration(self):
        return self.state.calibration

    def calibrated_shown(self) -> bool:
        """Whether the heatmap shows calibrated scores (mode and model allow it)."""
        return self.scale_mode == "calibrated" and self._calibration() is not None

    def _on_results_changed(self) -> None:
        r = self.state.result
        if r is None:
            self.heat_item.clear()
            self.score_curve.setData([], [])
            self._set_result_widgets_visible(False)
            self.refresh_boxes()
            return
        self._set_heat_image()
        self.refresh_boxes()
        # the strip in the colour bar's unit (× flag threshold) when the model is calibrated
        cal = self._calibration() if self.calibrated_shown() else None
        frames = r.frame_scores.astype(float)
        if cal is not None:
            frames = cal.calibrated(frames[None, :])[0].astype(float)
        self.score_curve.setData(np.asarray(r.times, dtype=float), frames)
        self.score_plot.setLabel("left", "frame, × thr" if cal is not None else "frame score")
        if cal is not None and self.threshold_line is None:
            self.threshold_line = pg.InfiniteLine(
                pos=1.0, angle=0, movable=False,
                pen=pg.mkPen(FLAG_COLOUR, width=1, style=Qt.PenStyle.DashLine))
            self.threshold_line.setToolTip("flag threshold")
            self.score_plot.addItem(self.threshold_line, ignoreBounds=False)
        if self.threshold_line is not None:
            self.threshold_line.setVisible(cal is not None)
        self.score_plot.enableAutoRange(axis="y")
        self._set_result_widgets_visible(True)

    def _set_heat_image(self) -> None:
        r = self.state.result
        if r is None:
            return
        cal = self._calibration()
        values = cal.calibrated(r.map) if self.calibrated_shown() else r.map
        self.heat_item.setImage(values, autoLevels=False)
        self.heat_item.setRect(self._rect)
        self._apply_heat_levels()

    def _apply_heat_levels(self) -> None:
        """Colour range 0..max, the max per :attr:`scale_mode` (kept as is when fixed)."""
        r = self.state.result
        if r is None:
            return
        if self.calibrated_shown():
            self.colorbar.setLevels((0.0, CAL_MAX))
            self.colorbar.getAxis("left").setLabel("anomaly, × flag threshold")
            return
        self.colorbar.getAxis("left").setLabel("anomaly score")
        if self.scale_mode == "fixed":
            self.heat_item.setLevels(self.colorbar.levels())
            return
        hi = float(np.max(r.map)) if r.map.size else 0.0
        if self.scale_mode == "shared":
            hi = max(hi, self.state.shared_map_max or 0.0)
        self.colorbar.setLevels((0.0, hi if hi > 0 else 1.0))

    def _set_result_widgets_visible(self, on: bool) -> None:
        # collapse the strip's row and the bar's column: hidden graphics items keep their space
        layout = self.glw.ci.layout
        self.score_plot.setVisible(on)
        self.colorbar.setVisible(on)
        layout.setRowMaximumHeight(0, 160 if on else 0)
        layout.setColumnMaximumWidth(1, 90 if on else 0)

    def set_spectrogram(self, spec: Spectrogram) -> None:
        times = np.asarray(spec.times, dtype=float)
        dt = float(np.median(np.diff(times))) if len(times) > 1 else max(spec.duration, 1e-3)
        n_freq = spec.values.shape[0]
        self._rect = QRectF(float(times[0]) - dt / 2, 0.0, dt * len(times), float(n_freq))
        self.band_scale = BandScale(spec.freqs)
        self.freq_axis.set_band_scale(self.band_scale)
        self.spec_item.setImage(spec.values, autoLevels=False)
        self.spec_item.setRect(self._rect)
        self._apply_spec_levels()
        self.vb.setLimits(xMin=self._rect.left(), xMax=self._rect.right(), yMin=0.0,
                          yMax=float(n_freq), minXRange=4 * dt, minYRange=2.0)

    def _apply_spec_levels(self) -> None:
        disp = self.state.display
        if disp is None or self.spec_item.image is None:
            return
        finite = disp.values[np.isfinite(disp.values)]
        top = float(finite.max()) if finite.size else 0.0
        self.spec_item.setLevels((top - self.dynamic_range_db, top))

    @property
    def flagged(self):
        return self.state.flagged

    def refresh_boxes(self) -> None:
        """Redraw the clip's boxes (editable, the selected one highlighted) and its pending
        flagged regions (solid, with their peak in multiples of the threshold)."""
        self.box_layer.scale = self.band_scale
        cal = self._calibration()
        self.box_layer.show(
            self.state.boxes, self.state.flagged, selected=self.state.selected,
            editable=self.state.boxes_editable, passive=self.draw_vb.draw_mode,
            calibrate=(lambda v: float(cal.calibrated([[v]])[0, 0])) if cal is not None else None)

    def set_draw_mode(self, on: bool) -> None:
        """Box tool: a left drag draws a box instead of panning."""
        self.draw_vb.draw_mode = bool(on)
        self.plot.getViewBox().setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)
        self.refresh_boxes()  # boxes ignore the mouse while drawing, so drags over them draw

    def _on_drawn(self, p0, p1) -> None:
        if self.band_scale is None or self.state.display is None:
            return
        self.box_drawn.emit(self.box_layer.box_of(p0, p1))

    def _on_clicked(self, p) -> None:
        """A click (not on a box: boxes take their own) sets the play cursor and, on a flagged
        region, selects it."""
        if self.state.display is None or not self._rect.contains(p):
            return
        k = self.box_layer.flagged_at(p)
        if k is not None:
            self.flagged_clicked.emit(k)
        self.clicked_at.emit(float(p.x()))

    def set_playhead(self, t: float | None) -> None:
        for line in self.playheads:
            line.setVisible(t is not None)
            if t is not None:
                line.setValue(float(t))

    def visible_time_range(self) -> tuple[float, float]:
        (x0, x1), _ = self.vb.viewRange()
        return max(x0, self._rect.left()), min(x1, self._rect.right())

    def zoom_to(self, box: Box, margin: float = 0.5) -> None:
        """Show ``box`` with ``margin`` of its size around it (frequency kept in view)."""
        if self.band_scale is None:
            return
        r = self.box_layer.rect_of(box)
        dx = max(r.width(), 0.05) * margin
        dy = max(r.height(), 1.0) * margin
        self.vb.setRange(xRange=(r.left() - dx, r.right() + dx),
                         yRange=(max(0.0, r.top() - dy), min(self._rect.bottom(), r.bottom() + dy)),
                         padding=0.0)

    # -- controls ----------------------------------------------------------------------------
    def set_heat_visible(self, on: bool) -> None:
        self.heat_item.setVisible(on)

    def set_heat_opacity(self, opacity: float) -> None:
        self.heat_item.setOpacity(float(np.clip(opacity, 0.0, 1.0)))

    def set_heat_colormap(self, name: str) -> None:
        self.heat_cmap_name = name
        self.colorbar.setColorMap(heat_colormap(name))

    def set_scale_mode(self, mode: str) -> None:
        """``"calibrated"``: 0 (typical normal cell) to 2x the flag threshold learnt on held-out
        normal clips, the same meaning on every clip and for every method (falls back to
        ``"shared"`` for a model without calibration); ``"shared"``: 0 to the highest score of
        any clip scored with this model, so clips compare; ``"clip"``: 0 to this clip's highest; ``"fixed"``: keep the bar's range."""
        if mode not in SCALE_MODES:
            raise ValueError(f"scale mode {mode!r}: use one of {', '.join(SCALE_MODES)}")
        self.scale_mode = mode
        self._on_results_changed()  # heatmap, strip and readouts change unit together

    def set_spec_colormap(self, name: str) -> None:
        self.spec_item.setColorMap(pg.colormap.get(SPEC_COLORMAPS.get(name, name)))

    def set_dynamic_range(self, db: float) -> None:
        self.dynamic_range_db = float(db)
        self._apply_spec_levels()

    def set_boxes_visible(self, on: bool) -> None:
        self.boxes_visible = on
        self.box_layer.set_visible(on)

    def reset_zoom(self) -> None:
        """Show the whole clip; of a long recording, the span asked for (its margins stay
        reachable by panning)."""
        if self._rect.isEmpty():
            return
        x0, x1 = self._rect.left(), self._rect.right()
        span = self.state.span
        if span is not None and span[1] > x0 and span[0] < x1:
            x0, x1 = max(x0, span[0]), min(x1, span[1])
        self.vb.setRange(xRange=(x0, x1), yRange=(0.0, self._rect.bottom()), padding=0.0)

    # -- hover -------------------------------------------------------------------------------
    def readout_at(self, x: float, y: float) -> Readout | None:
        """Time, frequency, level and score at view coordinates (None outside the image)."""
        disp = self.state.display
        if disp is None or self.band_scale is None or not self._rect.contains(QPointF(x, y)):
            return None
        n_freq, n_time = disp.values.shape
        col = int(np.clip((x - self._rect.left()) / self._rect.width() * n_time, 0, n_time - 1))
        row = int(np.clip(np.floor(y), 0, n_freq - 1))
        r = self.state.result
        score = float(r.map[row, col]) if r is not None and r.map.shape == disp.values.shape else None
        cal = self._calibration() if self.calibrated_shown() else None  # the colour bar's unit
        z = float(cal.calibrated(np.array([[score]]))[0, 0]) if (
            cal is not None and score is not None) else None
        return Readout(float(x), float(self.band_scale.hz_of_y(y)), float(disp.values[row, col]),
                       score, disp.unit, z)

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.vb.sceneBoundingRect().contains(scene_pos):
            p = self.vb.mapSceneToView(scene_pos)
            r = self.readout_at(p.x(), p.y())
            self.hovered.emit(r.text() if r else "")
        elif self.score_plot.isVisible() and self.score_plot.vb.sceneBoundingRect().contains(scene_pos):
            self.hovered.emit(self._frame_readout(self.score_plot.vb.mapSceneToView(scene_pos).x()))
        else:
            self.hovered.emit("")

    def _frame_readout(self, x: float) -> str:
        r = self.state.result
        if r is None or not len(r.times) or not self._rect.left() <= x <= self._rect.right():
            return ""
        col = int(np.clip(np.searchsorted(r.times, x), 0, len(r.times) - 1))
        if col > 0 and abs(r.times[col - 1] - x) < abs(r.times[col] - x):
            col -= 1
        v = float(r.frame_scores[col])
        cal = self._calibration() if self.calibrated_shown() else None
        if cal is not None:
            z = float(cal.calibrated(np.array([[v]]))[0, 0])
            return f"t {x:.3f} s   frame {z:.2f}× threshold (raw {v:#.3g})"
        return f"t {x:.3f} s   frame score {v:#.3g}"

    def scene_pos_of(self, time_s: float, freq_hz: float) -> QPointF:
        """Scene position of a time and frequency (for tests and later tools)."""
        assert self.band_scale is not None
        return self.vb.mapViewToScene(QPointF(time_s, float(self.band_scale.y_of_hz(freq_hz))))
