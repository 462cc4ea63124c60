"""Window sizes that fit the screen they open on.

A window asks for the size it would like (:func:`fit_to_screen`); it gets that size or the
screen's usable area, whichever is smaller, less room for the window manager's frame and title
bar. A geometry restored from the settings of another, larger screen is brought back inside
the current one (:func:`clamp_to_screen`).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QScrollArea, QWidget

#: Room left for a window manager's borders (width) and title bar (height) before a window is
#: shown: its real frame is only known once it is mapped.
FRAME_ALLOWANCE = QSize(16, 48)
#: Usable area assumed when no screen is known (a small laptop's).
FALLBACK_AREA = QRect(0, 0, 1280, 720)


def available_area(widget: QWidget | None = None) -> QRect:
    """The usable area of the screen ``widget`` is on (taskbars and panels excluded).

    Parameters
    ----------
    widget : QWidget, optional
        A window or a widget in it; without one, or before it has a screen, the primary screen.

    Returns
    -------
    QRect
        The screen's available geometry in device-independent pixels, or
        :data:`FALLBACK_AREA` when there is no screen at all.
    """
    screen = widget.screen() if widget is not None else None
    if screen is None:
        screen = QGuiApplication.primaryScreen()
    return screen.availableGeometry() if screen is not None else QRect(FALLBACK_AREA)


def fitted_size(desired: QSize, area: QRect, frame: QSize = FRAME_ALLOWANCE) -> QSize:
    """The largest size not above ``desired`` whose framed window fits in ``area``.

    Parameters
    ----------
    desired : QSize
        The size of the window's client area one would like.
    area : QRect
        The room there is (a screen's available geometry).
    frame : QSize
        What the window manager adds around the client area.

    Returns
    -------
    QSize
        At least 1×1.
    """
    return QSize(max(1, min(desired.width(), area.width() - frame.width())),
                 max(1, min(desired.height(), area.height() - frame.height())))


def fit_to_screen(window: QWidget, desired: QSize) -> QSize:
    """Resize ``window`` (not yet shown) to ``desired`` or its screen's usable area, less a frame.

    The window's minimum size still applies; keep it below a small screen's.

    Parameters
    ----------
    window : QWidget
        A top-level window.
    desired : QSize
        The client size it would like.

    Returns
    -------
    QSize
        The size asked for (before the minimum size applies).
    """
    size = fitted_size(desired, available_area(window))
    window.resize(size)
    return size


def clamp_to_screen(window: QWidget) -> None:
    """Keep a window whose geometry was restored from settings whole on its current screen.

    A maximised or full-screen window is left as it is (the window manager fits it). Otherwise
    the window is shrunk to the screen's usable area (less :data:`FRAME_ALLOWANCE`) and moved
    so that its frame lies inside it.

    Parameters
    ----------
    window : QWidget
        A top-level window.
    """
    if window.isMaximized() or window.isFullScreen():
        return
    area = available_area(window)
    size = fitted_size(window.size(), area)
    if size != window.size():
        window.resize(size)
    # the frame (or, before it is known, the allowance) must fit too
    margin_w = max(window.frameGeometry().width() - window.width(), FRAME_ALLOWANCE.width())
    margin_h = max(window.frameGeometry().height() - window.height(), FRAME_ALLOWANCE.height())
    pos = window.pos()  # the frame's top-left corner
    x = min(max(pos.x(), area.left()), area.left() + area.width() - size.width() - margin_w)
    y = min(max(pos.y(), area.top()), area.top() + area.height() - size.height() - margin_h)
    x, y = max(x, area.left()), max(y, area.top())
    if (x, y) != (pos.x(), pos.y()):
        window.move(x, y)


def scrolling(panel: QWidget) -> QScrollArea:
    """``panel`` in a frameless scroll area that lets it grow with the room it is given and
    scrolls it (rather than imposing its height on the window) when there is less.

    Parameters
    ----------
    panel : QWidget
        A dock's panel.

    Returns
    -------
    QScrollArea
        Owns ``panel``; its object name is ``scroll_`` + the panel's class name.
    """
    area = QScrollArea()
    area.setObjectName(f"scroll_{panel.__class__.__name__}")
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setWidget(panel)
    return area
