"""The detail view's box items (specview.gui.box_items.BoxLayer): made again only when what
they show changed."""

from __future__ import annotations

import pyqtgraph as pg

from specview.gui.box_items import BoxLayer
from specview.gui.freq_scale import FreqScale
from specview.types import Box, FlaggedRegion


def test_box_items_are_kept_while_what_they_show_is_the_same(qtbot):
    plot = pg.PlotItem()
    layer = BoxLayer(plot)
    layer.scale = FreqScale("linear")
    boxes = [Box(1.0, 2.0, 100.0, 400.0, "knock"), Box(3.0, 4.0, 50.0, 90.0)]
    flagged = [FlaggedRegion(Box(5.0, 6.0, 200.0, 300.0), 2.5, 4)]
    layer.show(boxes, flagged, selected=None, editable=True)
    rois, flags = list(layer.rois), list(layer.flag_items)
    assert len(rois) == 2 and len(flags) == 1
    # the same boxes asked again (a new span's clip, results and selection): the same items
    layer.show(list(boxes), list(flagged), selected=None, editable=True)
    assert layer.rois == rois and layer.flag_items == flags
    assert sum(1 for it in plot.items if it in rois) == 2  # never added twice
    # a change in any of them draws them again
    layer.show(boxes, flagged, selected=1, editable=True)
    assert layer.rois[0] is not rois[0] and len(layer.rois) == 2
    again = list(layer.rois)
    layer.show(boxes, flagged, selected=1, editable=True, calibrate=lambda v: v / 2)
    assert layer.rois[0] is not again[0]
    layer.show(boxes[:1], [], selected=None, editable=True)
    assert len(layer.rois) == 1 and layer.flag_items == []
    # another scale moves the same boxes: drawn again, where the new scale puts them
    one = layer.rois[0]
    layer.scale = FreqScale("log")
    layer.show(boxes[:1], [], selected=None, editable=True)
    assert layer.rois[0] is not one
    assert layer.rois[0].pos().y() == layer.rect_of(boxes[0]).top()
    # a box dragged on screen (not yet in the state) is drawn again where it belongs
    moved = layer.rois[0]
    moved.setPos((1.5, moved.pos().y()))
    layer.show(boxes[:1], [], selected=None, editable=True)
    assert layer.rois[0] is not moved and layer.rois[0].pos().x() == 1.0
    layer.clear()
    assert layer.rois == [] and not any(isinstance(it, pg.ROI) for it in plot.items)
    layer.show(boxes[:1], [], selected=None, editable=True)
    assert len(layer.rois) == 1
