"""Panes of the same clip, one per model, stacked with linked axes and one playhead.

Each pane is the clip's spectrogram under its model's heatmap, drawn on the model's calibrated
scale (0 = a typical normal cell, 1 = its flag threshold), so one colour bar serves all panes.
Time axes are always linked; frequency axes too when the panes share a front end (rows are then
the same bands), otherwise each pane keeps its own rows, still labelled in Hz.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSizeF, Qt, Signal
from PySide6.QtWidgets import QGraphicsItem, QVBoxLayout, QWidget

from specview.gui.box_items import BoxLayer, DrawViewBox
from specview.gui.freq_scale import BandScale
from specview.gui.spectrogram_view import (
    AXIS_WIDTH,
    BACKGROUND,
    CAL_MAX,
    PLAYHEAD_COLOUR,
    HzAxis,
    heat_colormap,
)
from specview.types import Box, FlaggedRegion, Spectrogram

PANE_PREFERRED_HEIGHT = 4000.0  # pixels


class PaneTitle(pg.LabelItem):
    """A pane's title that never makes the pane wider than the window has room for: what does
    not fit is clipped (the whole title is the tooltip), so the colour bar beside the panes
    stays on screen however long a model's name is."""

    def __init__(self, parent: pg.PlotItem) -> None:
        super().__init__("", size="9pt", justify="left", parent=parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)

    def setText(self, text: str, **args) -> None:  # noqa: N802 - pyqtgraph API
        super().setText(text, **args)
        self.setToolTip(text)

    def updateMin(self) -> None:  # noqa: N802 - pyqtgraph API
        super().updateMin()
        self.setMinimumWidth(0)  # the height stays that of the text

    def sizeHint(self, which, constraint=None):  # noqa: N802 - Qt API
        hint = super().sizeHint(which, constraint)
        return QSizeF(0.0, hint.height()) if which == Qt.SizeHint.MinimumSize else hint


def _install_title(plot: pg.PlotItem) -> None:
    """Replace ``plot``'s title label by a :class:`PaneTitle` in the same place."""
    old = plot.titleLabel
    plot.layout.removeItem(old)
    if old.scene() is not None:
        old.scene().removeItem(old)
    plot.titleLabel = PaneTitle(plot)
    plot.layout.addItem(plot.titleLabel, 0, 1)
    plot.setTitle(None)  # no title row until one is set


class Pane:
    """One model's view of the clip."""

    def __init__(self, glw: pg.GraphicsLayoutWidget, row: int, cmap: pg.ColorMap) -> None:
        self.axis = HzAxis()
        self.axis.setWidth(AXIS_WIDTH)
        self.vb = DrawViewBox()
        self.plot: pg.PlotItem = glw.addPlot(row=row, col=0, axisItems={"left": self.axis},
                                             viewBox=self.vb)
        _install_title(self.plot)
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("left", "Hz")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.vb.setDefaultPadding(0.0)
        # a preferred height above any screen's: the layout shrinks every pane alike, so the
        # spectrograms stay the same height though the last pane also holds the time axis
        self.vb.setPreferredHeight(PANE_PREFERRED_HEIGHT)
        self.spec = pg.ImageItem(axisOrder="row-major")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat.setZValue(10)
        self.heat.setOpacity(0.7)
        self.heat.setColorMap(cmap)
        self.spec.setColorMap(pg.colormap.get("CET-L1"))
        self.plot.addItem(self.spec)
        self.plot.addItem(self.heat)
        self.boxes = BoxLayer(self.plot)
        self.playhead = pg.InfiniteLine(angle=90, movable=False,
                                        pen=pg.mkPen(PLAYHEAD_COLOUR, width=1.5))
        self.playhead.setZValue(40)
        self.playhead.setVisible(False)
        self.plot.addItem(self.playhead, ignoreBounds=True)
        self.rect = QRectF()
        self.scale: BandScale | None = None
        self.levels = (0.0, CAL_MAX)

    def show(self, display: Spectrogram, heat: np.ndarray | None, title: str,
             boxes: list[Box], flagged: list[FlaggedRegion], *, calibrate=None,
             dynamic_range_db: float = 80.0) -> None:
        t = np.asarray(display.times, dtype=float)
        dt = float(np.median(np.diff(t))) if len(t) > 1 else max(display.duration, 1e-3)
        n = display.values.shape[0]
        self.rect = QRectF(float(t[0]) - dt / 2, 0.0, dt * len(t), float(n))
        self.scale = BandScale(display.freqs)
        self.axis.set_band_scale(self.scale)
        self.spec.setImage(display.values, autoLevels=False)
        top = float(np.nanmax(display.values))
        self.spec.setLevels((top - dynamic_range_db, top))
        self.spec.setRect(self.rect)
        if heat is None:
            self.heat.clear()
        else:
            self.heat.setImage(heat, autoLevels=False)
            self.heat.setLevels(self.levels)
            self.heat.setRect(self.rect)
        self.plot.setTitle(title, size="9pt", justify="left")
        self.vb.setLimits(xMin=self.rect.left(), xMax=self.rect.right(), yMin=0.0, yMax=float(n))
        self.boxes.scale = self.scale
        self.boxes.show(boxes, flagged, selected=None, editable=False, calibrate=calibrate)


class CompareView(QWidget):
    """The panes, a shared colour bar and a shared playhead.

    Signals
    -------
    clicked_at(float)
        A click in any pane at this time (seconds).
    """

    clicked_at = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw)
        self.cmap = heat_colormap("inferno")
        self.panes: list[Pane] = []
        self.colorbar: pg.ColorBarItem | None = None
        self.linked_freq = True

    def set_count(self, n: int) -> None:
        """Rebuild ``n`` empty panes."""
        self.glw.clear()
        self.panes = [Pane(self.glw, r, self.cmap) for r in range(n)]
        for p in self.panes:
            p.vb.clicked.connect(lambda pt: self.clicked_at.emit(float(pt.x())))
        for p in self.panes[1:]:
            p.plot.setXLink(self.panes[0].plot)
        for p in self.panes[:-1]:
            p.plot.getAxis("bottom").setStyle(showValues=False)
        if self.panes:
            self.panes[-1].plot.setLabel("bottom", "Time (s)")
            self.colorbar = pg.ColorBarItem(values=(0.0, CAL_MAX), colorMap=self.cmap, width=14,
                                            interactive=False, colorMapMenu=False,
                                            label="anomaly, × each model's flag threshold")
            self.glw.addItem(self.colorbar, row=0, col=1, rowspan=max(1, n))

    def link_frequency(self, on: bool) -> None:
        """Link the frequency axes (only meaningful when the panes share their rows)."""
        self.linked_freq = on
        for p in self.panes[1:]:
            p.plot.setYLink(self.panes[0].plot if on else None)

    def set_playhead(self, t: float | None) -> None:
        for p in self.panes:
            p.playhead.setVisible(t is not None)
            if t is not None:
                p.playhead.setValue(float(t))

    def visible_time_range(self) -> tuple[float, float]:
        if not self.panes:
            return 0.0, 0.0
        p = self.panes[0]
        (x0, x1), _ = p.vb.viewRange()
        return max(x0, p.rect.left()), min(x1, p.rect.right())

    def reset_zoom(self) -> None:
        for p in self.panes:
            if not p.rect.isEmpty():
                p.vb.setRange(xRange=(p.rect.left(), p.rect.right()),
                              yRange=(0.0, p.rect.bottom()), padding=0.0)

    def zoom_to(self, box: Box, margin: float = 0.5) -> None:
        if not self.panes or self.panes[0].scale is None:
            return
        dx = max(box.t1 - box.t0, 0.05) * margin
        self.panes[0].vb.setXRange(box.t0 - dx, box.t1 + dx, padding=0.0)

    def x_ranges(self) -> list[tuple[float, float]]:
        return [tuple(p.vb.viewRange()[0]) for p in self.panes]

    def y_ranges(self) -> list[tuple[float, float]]:
        return [tuple(p.vb.viewRange()[1]) for p in self.panes]

    def heat_levels(self) -> list[tuple[float, float]]:
        return [tuple(p.heat.getLevels()) if p.heat.image is not None else (np.nan, np.nan)
                for p in self.panes]


def same_rows(freqs: list[np.ndarray]) -> bool:
    """Whether every pane draws the very same frequency rows."""
    return all(len(f) == len(freqs[0]) and np.allclose(f, freqs[0]) for f in freqs[1:])

