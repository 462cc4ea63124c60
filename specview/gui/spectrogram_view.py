"""The spectrogram with the anomaly heatmap on top, in seconds and Hz.

Coordinates are physical: x is time in seconds of the recording; y is the frequency on the
display's scale (:class:`~specview.gui.freq_scale.FreqScale`: Hz, log10 Hz or mel), whatever
grid a picture was computed on. The picture is the display spectrogram
(:mod:`specview.gui.fine_view`; the encoder's grid until it arrives); the anomaly map, on the
encoder's grid, boxes and flagged regions are placed by their seconds and Hz
(:func:`specview.gui.picture.place`), so they stay aligned whatever the FFT size, overlap, zero
padding, scale or frequency range.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedLayout, QWidget

from specview.display import DisplaySettings, level_range
from specview.gui.box_items import (
    BOX_COLOUR,
    FLAG_COLOUR,
    SELECTED_COLOUR,
    BoxLayer,
    DrawViewBox,
    describe_box,
)
from specview.gui.fine_view import GUI_DEFAULT, FinePictures
from specview.gui.freq_scale import FreqScale
from specview.gui.picture import Placed, nearest, place, time_extent
from specview.gui.pooling import PooledImageItem
from specview.gui.state import AppState
from specview.gui.view_items import (  # noqa: F401 - the view's names, also used elsewhere
    AXIS_WIDTH,
    BACKGROUND,
    CAL_MAX,
    CROSSHAIR_COLOUR,
    HEAT_COLORMAPS,
    PLACEHOLDER,
    PLAYHEAD_COLOUR,
    SCALE_MODES,
    SPEC_COLORMAPS,
    HzAxis,
    Readout,
    heat_colormap,
    spec_colormap,
    top_clear_of,
)
from specview.types import Box, Spectrogram


def _show(item: pg.ImageItem, p: Placed | None) -> bool:
    """Show the placed image in ``item`` (cleared when there is none); whether it was shown."""
    if p is None:
        item.clear()
        return False
    item.setImage(p.image, autoLevels=False)
    item.setRect(QRectF(p.x0, p.y0, p.x1 - p.x0, p.y1 - p.y0))
    return True


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

    def __init__(self, state: AppState, parent: QWidget | None = None, *,
                 fine: FinePictures | None = None) -> None:
        super().__init__(parent)
        self.state = state
        #: the display spectrogram and its settings (None: the encoder's grid only)
        self.fine = fine
        self._settings = GUI_DEFAULT
        #: the frequency axis of the display's scale
        self.band_scale: FreqScale | None = None
        #: the picture under the heatmap and what it is: ``"fine"`` (the display spectrogram)
        #: or ``"grid"`` (the encoder's, until the display spectrogram arrives)
        self.picture: Spectrogram | None = None
        self.picture_kind = ""
        #: the heatmap's values on the encoder's grid, in the colour bar's unit
        self.heat_grid: np.ndarray | None = None
        self._auto_top: float | None = None
        self._placed_for: tuple | None = None
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

        # max-pooled when zoomed out, once per factor (averaging the whole picture on every
        # zoom step stalled the GUI thread for 100-400 ms on a long recording's spans)
        self.spec_item = PooledImageItem(axisOrder="row-major")
        self.spec_item.setAutoDownsample(True)
        self.heat_item = PooledImageItem(axisOrder="row-major")
        self.heat_item.setAutoDownsample(True)
        self.heat_item.setZValue(10)
        self.heat_item.setOpacity(0.7)
        self.plot.addItem(self.spec_item)
        self.plot.addItem(self.heat_item)
        self.spec_item.setColorMap(spec_colormap(self.settings.colormap))

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

        self.crosshair = []
        for angle in (90, 0):
            line = pg.InfiniteLine(angle=angle, movable=False, pen=pg.mkPen(
                CROSSHAIR_COLOUR, width=1, style=Qt.PenStyle.DotLine))
            line.setZValue(45)
            line.setVisible(False)
            line.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            line.setAcceptHoverEvents(False)
            self.plot.addItem(line, ignoreBounds=True)
            self.crosshair.append(line)
        #: the read-out beside the crosshair, top left (under the legend in a narrow view)
        self.cursor_label = pg.TextItem("", color="#e8e8e8", fill=pg.mkBrush(20, 20, 20, 200),
                                        anchor=(0, 0))
        self.cursor_label.setParentItem(self.vb)
        self.cursor_label.setPos(4, 4)
        self.cursor_label.setZValue(60)
        self.cursor_label.setVisible(False)

        self.glw.scene().sigMouseMoved.connect(self._on_mouse_moved)
        state.clip_loaded.connect(self._on_clip_loaded)
        if fine is not None:
            fine.ready.connect(self._on_fine_ready)
            fine.settings_changed.connect(self._on_settings_changed)
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
    @property
    def settings(self) -> DisplaySettings:
        """The display settings (the fine pictures' when there are any)."""
        return self.fine.settings if self.fine is not None else self._settings

    def band(self) -> tuple[float, float]:
        """The frequency range shown (Hz): the settings' for the recording's own rate."""
        sr = int(self.state.sample_rate or 0)
        if sr <= 0:
            d = self.state.display
            sr = int(round(2 * float(d.freqs[-1]))) if d is not None and len(d.freqs) else 44100
        return self.settings.band(sr)

    def _on_clip_loaded(self, path) -> None:
        disp = self.state.display
        if disp is None:
            return
        self.stack.setCurrentWidget(self.glw)
        # a new clip (or a new span of a long recording) starts fully zoomed out; a rescore
        # keeps the zoom
        key = (path, self.state.span)
        new = key != self._shown_key
        self._layout(keep_view=not new, heat=False)  # results_changed follows
        self.set_playhead(None)
        if new:
            self._shown_key = key
            self.reset_zoom()

    def _layout(self, *, keep_view: bool = True, heat: bool = True) -> None:
        """Axes, limits, picture, heatmap and boxes for the present settings; the region shown
        stays the same seconds and Hz (``keep_view``) as far as the new range allows."""
        disp = self.state.display
        if disp is None:
            return
        shown = self.visible_region() if keep_view and self.band_scale is not None else None
        self.band_scale = FreqScale(self.settings.scale)
        self.freq_axis.set_band_scale(self.band_scale)
        lo, hi = self.band()
        x0, x1 = time_extent(disp.times, disp.duration)
        y0, y1 = float(self.band_scale.y_of_hz(lo)), float(self.band_scale.y_of_hz(hi))
        self._rect = QRectF(x0, y0, x1 - x0, y1 - y0)
        dt = (x1 - x0) / max(len(disp.times), 1)
        self.vb.setLimits(xMin=x0, xMax=x1, yMin=y0, yMax=y1, minXRange=4 * dt,
                          minYRange=(y1 - y0) / 2000.0)
        self._placed_for = (self.settings.scale, lo, hi)
        self._draw_picture()
        if heat:
            self._set_heat_image()
        self.refresh_boxes()
        if shown is not None:
            self.show_region(*shown)

    def _draw_picture(self) -> None:
        """The display spectrogram when it is there, else the encoder's grid."""
        fine = self.fine.picture if self.fine is not None else None
        spec, kind = (fine, "fine") if fine is not None else (self.state.display, "grid")
        self.picture, self.picture_kind, self._auto_top = spec, kind, None
        lo, hi = self.band()
        p = None if spec is None or self.band_scale is None else place(
            spec.values, spec.times, spec.freqs, self.band_scale, lo, hi, duration=spec.duration)
        if _show(self.spec_item, p):
            self._apply_spec_levels()

    def _on_fine_ready(self) -> None:
        if self.state.display is not None and self.band_scale is not None:
            self._draw_picture()

    def _on_settings_changed(self, s: DisplaySettings) -> None:
        self.spec_item.setColorMap(spec_colormap(s.colormap))
        if self.state.display is None:
            return
        lo, hi = self.band()
        if self._placed_for == (s.scale, lo, hi) and (
                self.fine is None or self.fine.picture is self.picture):
            self._apply_spec_levels()  # only how the picture is drawn changed
            return
        self._layout(keep_view=True)

    def set_settings(self, s: DisplaySettings) -> None:
        """The display settings, for a view without fine pictures (else set them there)."""
        if self.fine is not None:
            self.fine.set_settings(s)
        else:
            self._settings = s
            self._on_settings_changed(s)

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
        """The map (on the encoder's grid) placed by its seconds and Hz on the view's scale."""
        r = self.state.result
        if r is None or self.band_scale is None:
            return
        cal = self._calibration()
        values = cal.calibrated(r.map) if self.calibrated_shown() else r.map
        self.heat_grid = values
        lo, hi = self.band()
        p = place(values, r.times, r.freqs, self.band_scale, lo, hi, max_rows=2048)
        if _show(self.heat_item, p):
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

    def _apply_spec_levels(self) -> None:
        """Colour range of the picture: the display's (:func:`specview.display.level_range`,
        gain added) for the display spectrogram; the encoder grid's loudest cell down by the
        dB range until it arrives (its dB have another reference)."""
        spec = self.picture
        if spec is None or self.spec_item.image is None:
            return
        s = self.settings
        if self.picture_kind == "fine":
            if self._auto_top is None:
                self._auto_top = level_range(spec, replace(s, db_ceiling=None))[1]
            top = self._auto_top if s.db_ceiling is None else float(s.db_ceiling) - s.gain_db
        else:
            finite = spec.values[np.isfinite(spec.values)]
            top = float(finite.max()) if finite.size else 0.0
        self.spec_item.setLevels((top - s.db_range, top))

    def level_top(self) -> float | None:
        """The top of the display spectrogram's colour range now (dB FS, gain included)."""
        if self.picture_kind != "fine" or self._auto_top is None:
            return None
        s = self.settings
        return self._auto_top + s.gain_db if s.db_ceiling is None else float(s.db_ceiling)

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

    def visible_region(self) -> tuple[float, float, float, float]:
        """``(t0, t1, f0, f1)``: seconds and Hz shown; the frequencies are None where the view
        shows the whole frequency range (it shows the whole of a new range too)."""
        (x0, x1), (y0, y1) = self.vb.viewRange()
        r = self._rect
        tol = 1e-6 * max(r.height(), 1e-9)
        if y0 <= r.top() + tol and y1 >= r.bottom() - tol:
            return x0, x1, None, None
        return x0, x1, float(self.band_scale.hz_of_y(y0)), float(self.band_scale.hz_of_y(y1))

    def show_region(self, t0: float, t1: float, f0: float | None = None,
                    f1: float | None = None) -> None:
        """Show seconds ``t0 .. t1`` and ``f0 .. f1`` Hz (None: the whole range)."""
        if self.band_scale is None:
            return
        lo, hi = self.band()
        y0 = self._rect.top() if f0 is None else float(self.band_scale.y_of_hz(max(f0, lo)))
        y1 = self._rect.bottom() if f1 is None else float(self.band_scale.y_of_hz(min(f1, hi)))
        if y1 <= y0:
            y0, y1 = self._rect.top(), self._rect.bottom()
        self.vb.setRange(xRange=(t0, t1), yRange=(y0, y1), padding=0.0)

    def zoom_to(self, box: Box, margin: float = 0.5) -> None:
        """Show ``box`` with ``margin`` of its size around it (frequency kept in view)."""
        if self.band_scale is None:
            return
        r = self.box_layer.rect_of(box)
        dx = max(r.width(), 0.05) * margin
        dy = max(r.height(), self._rect.height() / 100.0) * margin
        self.vb.setRange(xRange=(r.left() - dx, r.right() + dx),
                         yRange=(max(self._rect.top(), r.top() - dy),
                                 min(self._rect.bottom(), r.bottom() + dy)),
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
        self.set_settings(replace(self.settings, colormap={"grey": "gray"}.get(name, name)))

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
        self.vb.setRange(xRange=(x0, x1), yRange=(self._rect.top(), self._rect.bottom()),
                         padding=0.0)

    # -- hover -------------------------------------------------------------------------------
    def readout_at(self, x: float, y: float) -> Readout | None:
        """Time, frequency, level (of the picture shown) and the anomaly score under view
        coordinates ``(x, y)``; None outside the picture."""
        spec = self.picture
        if spec is None or self.band_scale is None or not self._rect.contains(QPointF(x, y)):
            return None
        hz = float(self.band_scale.hz_of_y(y))
        col = nearest(spec.times, x)
        row = nearest(spec.freqs, hz, mel=self.picture_kind == "grid")
        level = float(spec.values[row, col]) if col is not None and row is not None else math.nan
        unit = spec.unit
        if self.picture_kind == "fine":
            level, unit = level + self.settings.gain_db, "dB FS"
        r = self.state.result
        score = None
        if r is not None:
            c, k = nearest(r.times, x), nearest(r.freqs, hz, mel=True)
            if c is not None and k is not None:
                score = float(r.map[k, c])
        cal = self._calibration() if self.calibrated_shown() else None  # the colour bar's unit
        z = float(cal.calibrated(np.array([[score]]))[0, 0]) if (
            cal is not None and score is not None) else None
        return Readout(float(x), hz, level, score, unit, z)

    def _show_crosshair(self, p: QPointF | None, r: Readout | None = None) -> None:
        on = p is not None and r is not None
        for line, v in zip(self.crosshair, (p.x(), p.y()) if on else (0.0, 0.0), strict=True):
            line.setVisible(on)
            if on:
                line.setValue(v)
        self.cursor_label.setVisible(on)
        if on:
            self.cursor_label.setText(r.short())
            self.cursor_label.setPos(4, top_clear_of(self.cursor_label, self.legend))

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        if self.vb.sceneBoundingRect().contains(scene_pos):
            p = self.vb.mapSceneToView(scene_pos)
            r = self.readout_at(p.x(), p.y())
            self._show_crosshair(p, r)
            self.hovered.emit(r.text() if r else "")
            return
        self._show_crosshair(None)
        if self.score_plot.isVisible() and self.score_plot.vb.sceneBoundingRect().contains(scene_pos):
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
