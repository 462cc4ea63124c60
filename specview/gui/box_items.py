"""Graphics for time-frequency boxes on the spectrogram: drawing, editing, flagged regions.

Items only *report* edits (drawn, moved, resized, clicked) in seconds and Hz; the annotation
controller applies the rules (:func:`specview.annotations.clamp_box`) and the undo stack.
View coordinates are those of :mod:`specview.gui.spectrogram_view`: x in seconds, y in band
rows, converted to Hz with the view's :class:`~specview.gui.freq_scale.BandScale`.
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsRectItem

from specview.gui.freq_scale import BandScale, format_hz
from specview.types import Box, FlaggedRegion

BOX_COLOUR = "#00e5ff"
SELECTED_COLOUR = "#ffffff"
FLAG_COLOUR = "#9dff00"
DRAW_COLOUR = "#ffd400"


def describe_box(b: Box) -> str:
    return (f"{b.t0:.3f}–{b.t1:.3f} s ({b.t1 - b.t0:.3f} s), "
            f"{format_hz(b.f0)}–{format_hz(b.f1)}")


class DrawViewBox(pg.ViewBox):
    """A ViewBox that, in draw mode, turns a left-button drag into a rectangle.

    Signals
    -------
    drawing(QPointF, QPointF)
        The two corners (view coordinates) while dragging, for a live readout.
    drawn(QPointF, QPointF)
        The corners when the drag ends.
    clicked(QPointF)
        A left click (no drag) at this view position.
    """

    drawing = Signal(object, object)
    drawn = Signal(object, object)
    clicked = Signal(object)

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.draw_mode = False
        self._rubber: QGraphicsRectItem | None = None

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - Qt API
        if not self.draw_mode or ev.button() != Qt.MouseButton.LeftButton:
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        p0 = self.mapSceneToView(ev.buttonDownScenePos())
        p1 = self.mapSceneToView(ev.scenePos())
        if ev.isStart() or self._rubber is None:
            self._rubber = QGraphicsRectItem()
            self._rubber.setPen(pg.mkPen(DRAW_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
            self._rubber.setZValue(30)
            self.addItem(self._rubber, ignoreBounds=True)
        self._rubber.setRect(QRectF(p0, p1).normalized())
        self.drawing.emit(p0, p1)
        if ev.isFinish():
            self.removeItem(self._rubber)
            self._rubber = None
            self.drawn.emit(p0, p1)

    def mouseClickEvent(self, ev):  # noqa: N802 - Qt API
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.clicked.emit(self.mapSceneToView(ev.scenePos()))
            return
        super().mouseClickEvent(ev)


class BoxLayer(QObject):
    """The boxes and flagged regions of the clip on one plot.

    Signals
    -------
    box_clicked(int)
    box_changed(int, object)
        A box was moved or resized to this :class:`Box` (not yet clamped).
    box_changing(int, object)
        The same while the drag goes on (for a readout).
    flagged_clicked(int)
    """

    box_clicked = Signal(int)
    box_changed = Signal(int, object)
    box_changing = Signal(int, object)
    flagged_clicked = Signal(int)

    def __init__(self, plot: pg.PlotItem, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.plot = plot
        self.scale: BandScale | None = None
        self.visible = True
        self.rois: list[pg.ROI] = []
        self.flag_items: list[QGraphicsRectItem] = []
        self._extra: list[pg.GraphicsObject] = []
        self._drawn: tuple | None = None  # what the items on the plot show (None: redraw)

    # -- coordinates ------------------------------------------------------------------------
    def box_of(self, p0: QPointF, p1: QPointF, label: str = "") -> Box:
        assert self.scale is not None
        t0, t1 = sorted((float(p0.x()), float(p1.x())))
        f0, f1 = sorted(float(self.scale.hz_of_y(y)) for y in (p0.y(), p1.y()))
        return Box(t0, t1, f0, f1, label)

    def rect_of(self, b: Box) -> QRectF:
        assert self.scale is not None
        y0, y1 = (float(self.scale.y_of_hz(f)) for f in (b.f0, b.f1))
        return QRectF(b.t0, y0, b.t1 - b.t0, y1 - y0)

    # -- drawing ----------------------------------------------------------------------------
    def clear(self) -> None:
        for item in [*self.rois, *self.flag_items, *self._extra]:
            self.plot.removeItem(item)
        self.rois, self.flag_items, self._extra = [], [], []
        self._drawn = None

    def show(self, boxes: list[Box], flagged: list[FlaggedRegion], *, selected: int | None,
             editable: bool, calibrate: Callable[[float], float] | None = None,
             passive: bool = False) -> None:
        """Draw ``boxes`` (handles when ``editable``) and ``flagged`` regions; ``passive`` items
        take no mouse input, so that a drag over them draws a new box.

        The items are made again only when what they show changed (a new span shows the same
        boxes three times over: the clip, its results and the selection each ask)."""
        drawn = None if self.scale is None else (
            tuple(boxes), tuple(flagged), selected, editable, passive,
            tuple(self.rect_of(b).getRect() for b in boxes),
            tuple(self.rect_of(r.box).getRect() for r in flagged),
            tuple(calibrate(r.score) for r in flagged) if calibrate is not None else None)
        if drawn is not None and drawn == self._drawn:
            return
        self.clear()
        if self.scale is None:
            return
        self._drawn = drawn
        for i, b in enumerate(boxes):
            self._add_roi(i, b, i == selected, editable and not passive)
            if passive:
                self.rois[-1].setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        pen = pg.mkPen(FLAG_COLOUR, width=1.5)
        for reg in flagged:
            b = reg.box
            # a flagged region takes no mouse press of its own: a press it grabbed would stop
            # pyqtgraph's drags, so boxes over it could not be moved and the view not panned.
            # A click on it reaches the view, which selects it (flagged_at).
            rect = QGraphicsRectItem(self.rect_of(b))
            rect.setPen(pen)
            rect.setZValue(19)
            rect.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            z = calibrate(reg.score) if calibrate is not None else None
            peak = f"peak {z:.2f}× flag threshold" if z is not None else f"peak {reg.score:#.3g}"
            rect.setToolTip(f"flagged region (click to select; A accepts, X dismisses): "
                            f"{describe_box(b)}, {peak} (raw {reg.score:#.3g})")
            self.plot.addItem(rect)
            text = pg.TextItem(f"{z:.1f}×" if z is not None else f"{reg.score:#.3g}",
                               color=FLAG_COLOUR, anchor=(1, 0))
            text.setPos(b.t1, self.rect_of(b).top())  # under the box; labels sit above boxes
            text.setZValue(19)
            self.plot.addItem(text)
            self.flag_items.append(rect)
            self._extra.append(text)
        self.set_visible(self.visible)

    def flagged_at(self, p: QPointF) -> int | None:
        """The flagged region under view position ``p`` (the smallest, when they nest)."""
        hits = [(r.rect().width() * r.rect().height(), k)
                for k, r in enumerate(self.flag_items) if r.isVisible() and r.rect().contains(p)]
        return min(hits)[1] if hits else None

    def _add_roi(self, i: int, b: Box, selected: bool, editable: bool) -> None:
        r = self.rect_of(b)
        colour = SELECTED_COLOUR if selected else BOX_COLOUR
        pen = pg.mkPen(colour, width=2.5 if selected else 1.5, style=Qt.PenStyle.DashLine)
        roi = pg.ROI((r.left(), r.top()), (r.width(), max(r.height(), 1e-3)), pen=pen,
                     movable=editable, rotatable=False, resizable=editable,
                     removable=False, invertible=True)
        roi.setZValue(20)
        roi.hoverPen = pg.mkPen(SELECTED_COLOUR, width=2.5)
        if editable:
            for pos, centre in (([0, 0], [1, 1]), ([1, 1], [0, 0]), ([0, 1], [1, 0]),
                                ([1, 0], [0, 1]), ([0.5, 0], [0.5, 1]), ([0.5, 1], [0.5, 0]),
                                ([0, 0.5], [1, 0.5]), ([1, 0.5], [0, 0.5])):
                roi.addScaleHandle(pos, centre)
        roi.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        roi.sigClicked.connect(lambda _r, _ev, i=i: self.box_clicked.emit(i))
        label = b.label
        roi.sigRegionChanged.connect(self._moved)  # no longer where the box is: redraw it
        roi.sigRegionChanged.connect(lambda rr, i=i: self.box_changing.emit(i, self._roi_box(rr, label)))
        roi.sigRegionChangeFinished.connect(
            lambda rr, i=i: self.box_changed.emit(i, self._roi_box(rr, label)))
        roi.setToolTip(f"{b.label or 'box'}: {describe_box(b)}")
        self.plot.addItem(roi)
        self.rois.append(roi)
        if b.label:
            text = pg.TextItem(b.label, color=colour, anchor=(0, 1))
            text.setPos(b.t0, r.bottom())
            text.setZValue(20)
            self.plot.addItem(text)
            self._extra.append(text)

    def _moved(self, *_a) -> None:
        self._drawn = None

    def _roi_box(self, roi: pg.ROI, label: str) -> Box:
        pos, size = roi.pos(), roi.size()
        return self.box_of(QPointF(pos.x(), pos.y()),
                           QPointF(pos.x() + size.x(), pos.y() + size.y()), label)

    def set_visible(self, on: bool) -> None:
        self.visible = on
        for item in [*self.rois, *self.flag_items, *self._extra]:
            item.setVisible(on)
