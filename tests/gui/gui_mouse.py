"""Mouse gestures for the GUI tests, at a hand's pace."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest


def drag(win, a: QPoint, b: QPoint) -> None:
    """A left-button drag on the view's viewport from ``a`` to ``b`` (viewport pixels)."""
    vp = win.view.glw.viewport()
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for k in range(1, 9):  # at a hand's pace: pyqtgraph drops moves < a frame apart
        QTest.qWait(25)
        QTest.mouseMove(vp, a + (b - a) * (k / 8))
    QTest.qWait(25)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
