"""The windows fit a laptop's screen: small minimum sizes, nothing cut off at 1280×720 or
1366×768, tables that grow and show their columns, sizes restored within the screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, QSize
from PySide6.QtWidgets import QApplication, QTableWidget, QWidget

from specview import pipeline
from specview.gui import screen_fit
from specview.gui.box_panel import COLUMNS as BOX_COLUMNS
from specview.gui.main_window import MainWindow

TIMEOUT = 90000
#: The largest minimum a 1280×720 screen can show with a window manager's frame around it.
SMALL_SCREEN_ROOM = QSize(1260, 680)


# -- helpers -------------------------------------------------------------------------------------
@pytest.fixture
def screen(monkeypatch):
    """``screen(w, h)`` makes the windows believe the screen's usable area is ``w``×``h``."""
    def set_area(w: int, h: int) -> QRect:
        area = QRect(0, 0, w, h)
        monkeypatch.setattr(screen_fit, "available_area", lambda _widget=None: QRect(area))
        return area
    return set_area


def settle(qtbot, ms: int = 50) -> None:
    QApplication.processEvents()
    qtbot.wait(ms)
    QApplication.processEvents()


def rect_in(widget: QWidget, window: QWidget) -> QRect:
    """``widget``'s rectangle in ``window``'s coordinates."""
    return QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())


def whole(widget: QWidget, window: QWidget) -> bool:
    """Shown, not clipped by any ancestor (a scroll area's viewport, a dock, the window), and
    inside the window."""
    if not widget.isVisible():
        return False
    own = rect_in(widget, window)
    shown = own & window.rect()
    parent = widget.parentWidget()
    while parent is not None and parent is not window:
        shown &= rect_in(parent, window)
        parent = parent.parentWidget()
    return shown == own


def graphics_whole(glw, item) -> bool:
    """A pyqtgraph item lies inside its GraphicsLayoutWidget's viewport (and is not empty)."""
    r = glw.mapFromScene(item.sceneBoundingRect()).boundingRect()
    return r.width() > 0 and r.height() > 0 and glw.viewport().rect().contains(r)


def columns_shown(table: QTableWidget, n: int | None = None) -> bool:
    """Every column of ``table`` (its first ``n``) lies whole inside its viewport, no narrower
    than its header."""
    header = table.horizontalHeader()
    return all(header.sectionViewportPosition(c) >= 0
               and header.sectionViewportPosition(c) + header.sectionSize(c)
               <= table.viewport().width()
               and header.sectionSize(c) >= header.sectionSizeHint(c)
               for c in range(table.columnCount() if n is None else n))


def columns_reachable(table: QTableWidget) -> bool:
    """Every column is shown, or the horizontal scroll bar reaches the ones that are not."""
    overflow = table.horizontalHeader().length() - table.viewport().width()
    bar = table.horizontalScrollBar()
    return overflow <= 0 or (bar.isVisible() and bar.maximum() >= overflow)


def rows_shown(table: QTableWidget) -> float:
    return table.viewport().height() / table.verticalHeader().defaultSectionSize()


def open_scored(qtbot, win: MainWindow, model: Path, clip: Path) -> None:
    with qtbot.waitSignal(win.state.model_changed, timeout=TIMEOUT):
        win.controller.load_model(model)
    win.controller.open_clip(clip)
    qtbot.waitUntil(lambda: win.state.clip_path == clip and win.state.result is not None,
                    timeout=TIMEOUT)


def main_window(qtbot, settings) -> MainWindow:
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def assert_all_on_screen(win: MainWindow) -> None:
    view = win.view
    assert whole(view, win)
    for axis in ("bottom", "left"):
        assert graphics_whole(view.glw, view.plot.getAxis(axis)), axis
    assert graphics_whole(view.glw, view.colorbar)
    for w in (win.box_panel.accept_button, win.box_panel.dismiss_button,
              win.box_panel.tool_button, win.box_panel.table, win.box_panel.flag_table,
              win.statusBar(), win.file_panel.tree):
        assert whole(w, win), w.objectName() or type(w).__name__
    bp = win.box_panel
    # the box's own columns are shown; its measurements (and a Raven table's other columns)
    # scroll into view
    assert columns_shown(bp.table, len(BOX_COLUMNS)), [
        bp.table.horizontalHeader().sectionSize(c) for c in range(bp.table.columnCount())]
    assert columns_reachable(bp.table)
    assert columns_shown(bp.flag_table)
    assert rows_shown(bp.table) > 3
    assert rows_shown(bp.flag_table) > 2


# -- the main window -----------------------------------------------------------------------------
def test_main_window_minimum_size_fits_a_1280x720_screen(qtbot, window, tiny_dataset,
                                                         model_path) -> None:
    open_scored(qtbot, window, model_path, tiny_dataset / "test" / "anomaly_000.wav")
    settle(qtbot)
    for size in (window.minimumSizeHint(), window.minimumSize()):
        assert size.width() <= SMALL_SCREEN_ROOM.width(), size
        assert size.height() <= SMALL_SCREEN_ROOM.height(), size
    # no dock demands a column taller than a small screen's
    for dock in window.docks.values():
        assert dock.minimumSizeHint().height() <= 300, dock.windowTitle()


def test_resized_to_1280x720_nothing_is_cut_off(qtbot, settings, tiny_dataset,
                                                model_path) -> None:
    win = MainWindow(settings=settings)
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    qtbot.waitExposed(win)
    open_scored(qtbot, win, model_path, tiny_dataset / "test" / "anomaly_000.wav")
    assert win.state.boxes and win.state.flagged  # both tables have rows
    settle(qtbot)
    assert win.size() == QSize(1280, 720)  # the minimum size did not hold it bigger
    assert_all_on_screen(win)


def test_narrow_docks_scroll_up_and_down_never_sideways(qtbot, window) -> None:
    """However the window is sized, a dock is at least as wide as its panel needs."""
    window.resize(window.minimumSize())
    settle(qtbot)
    for dock in window.docks.values():
        area = dock.widget()
        if dock.isVisible():
            assert area.widget().width() >= area.widget().minimumSizeHint().width()
            assert not area.horizontalScrollBar().isVisible(), dock.windowTitle()


@pytest.mark.parametrize("w, h", [(1280, 720), (1366, 768)])
def test_opened_on_a_laptop_screen_the_window_fits_and_shows_everything(
        qtbot, screen, settings, tiny_dataset, model_path, w, h) -> None:
    area = screen(w, h)
    win = main_window(qtbot, settings)
    frame = screen_fit.FRAME_ALLOWANCE
    assert win.width() + frame.width() <= area.width()
    assert win.height() + frame.height() <= area.height()
    open_scored(qtbot, win, model_path, tiny_dataset / "test" / "anomaly_000.wav")
    settle(qtbot)
    assert_all_on_screen(win)
    # the boxes get the right column to themselves; the other panels share one tab group
    tabbed = win.tabifiedDockWidgets(win.docks["Display"])
    assert {d.windowTitle() for d in tabbed} == {"Scores", "Listen"}


def test_extra_annotation_columns_scroll_into_view(qtbot, screen, settings, tiny_dataset,
                                                   model_path, tmp_path) -> None:
    """A Raven table with more annotation columns than the dock is wide: a scroll bar reaches
    them; the label column never collapses."""
    clip = tmp_path / "many.wav"
    clip.write_bytes((tiny_dataset / "test" / "anomaly_000.wav").read_bytes())
    (tmp_path / "many.Table.1.selections.txt").write_text(
        "Selection\tView\tChannel\tBegin Time (s)\tEnd Time (s)\tLow Freq (Hz)\t"
        "High Freq (Hz)\tAnnotation\tSpecies\tCall type\tObserver\n"
        "1\tSpectrogram 1\t1\t0.8\t1.4\t3500\t4500\ttone\tPipistrellus pipistrellus\t"
        "social call, long\tA. N. Annotator\n")
    screen(1280, 720)
    win = main_window(qtbot, settings)
    open_scored(qtbot, win, model_path, clip)
    settle(qtbot)
    table = win.box_panel.table
    assert table.columnCount() > 5
    assert columns_reachable(table)
    assert table.horizontalHeader().sectionSize(0) >= table.horizontalHeader().sectionSizeHint(0)
    assert whole(win.box_panel.accept_button, win)


def test_panels_can_be_closed_and_brought_back(window) -> None:
    boxes = window.docks["Boxes"]
    action = boxes.toggleViewAction()
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    panels = next(a.menu() for a in view.actions() if a.text() == "&Panels")
    assert {a.text() for a in panels.actions()} == set(window.docks)
    assert action in panels.actions()
    action.trigger()
    assert not boxes.isVisible()
    action.trigger()
    assert boxes.isVisible()


def test_fitted_size_and_clamp_rules() -> None:
    area = QRect(0, 0, 1366, 768)
    frame = screen_fit.FRAME_ALLOWANCE
    assert screen_fit.fitted_size(QSize(1500, 950), area) == QSize(1366 - frame.width(),
                                                                   768 - frame.height())
    assert screen_fit.fitted_size(QSize(800, 600), area) == QSize(800, 600)
    assert screen_fit.fitted_size(QSize(800, 600), QRect(0, 0, 10, 10)) == QSize(1, 1)


# -- the comparison window -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def padim(tiny_dataset, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("layout_models") / "padim.safetensors"
    pipeline.fit(tiny_dataset, method="padim").save(path)
    return path


def compare_window(qtbot, settings, dataset: Path, models: list[tuple[str, Path]]):
    from specview.gui.compare_window import CompareWindow

    win = CompareWindow(settings=settings)
    qtbot.addWidget(win)
    for name, path in models:
        win.add_model(pipeline.load_model(path), name, path)
    win.open_path(dataset)
    win.show()
    qtbot.waitExposed(win)
    qtbot.waitUntil(lambda: win.state.clip_path is not None and win.state.clip_path in win.cache,
                    timeout=TIMEOUT)
    settle(qtbot)
    return win


def assert_panes_whole(win) -> None:
    glw = win.view.glw
    assert whole(win.view, win)
    assert graphics_whole(glw, win.view.colorbar)
    for pane in win.view.panes:
        assert graphics_whole(glw, pane.plot)
        assert graphics_whole(glw, pane.plot.getAxis("left"))
        assert pane.vb.height() >= 40  # a readable spectrogram, not a sliver
    assert graphics_whole(glw, win.view.panes[-1].plot.getAxis("bottom"))  # the time axis


def test_comparison_window_fits_a_1366x768_screen(qtbot, screen, settings, tiny_dataset,
                                                  model_path, padim) -> None:
    area = screen(1366, 768)
    win = compare_window(qtbot, settings, tiny_dataset,
                         [("patchcore", model_path), ("padim", padim)])
    frame = screen_fit.FRAME_ALLOWANCE
    assert win.width() + frame.width() <= area.width()
    assert win.height() + frame.height() <= area.height()
    assert_panes_whole(win)


def test_four_long_named_panes_shrink_on_1280x720(qtbot, screen, settings, tiny_dataset,
                                                  model_path, padim) -> None:
    screen(1280, 720)
    long = "a model whose name is far longer than any pane is wide, fitted last week"
    win = compare_window(qtbot, settings, tiny_dataset,
                         [(f"{long} {k}", p) for k, p in
                          enumerate((model_path, padim, model_path, padim))])
    assert len(win.view.panes) == 4
    assert_panes_whole(win)
    # narrower still: the panes shrink, the colour bar and the time axis stay
    win.resize(900, 560)
    settle(qtbot)
    assert_panes_whole(win)
    vbs = [p.vb.height() for p in win.view.panes]
    assert max(vbs) - min(vbs) < 2  # every pane's spectrogram equally tall
    assert long in win.view.panes[0].plot.titleLabel.toolTip()


# -- a real screen of that size ------------------------------------------------------------------
REAL_SCREEN_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication
    app = QApplication(sys.argv)
    from specview.gui.compare_window import CompareWindow
    from specview.gui.main_window import MainWindow
    from specview.types import Spectrogram
    settings = QSettings(sys.argv[1], QSettings.Format.IniFormat)

    def settle():
        for _ in range(5):
            app.processEvents()

    out = {"screen": app.primaryScreen().availableGeometry().getRect()}
    if sys.argv[2] == "save":  # a size chosen, restored next time, then a far larger one
        win = MainWindow(settings=settings)
        win.show()
        settle()
        win.setGeometry(100, 80, 1100, 640)
        settle()
        win.close()
        again = MainWindow(settings=settings)
        again.show()
        settle()
        out["restored"] = [again.width(), again.height()]
        again.setGeometry(700, 400, 1800, 1000)
        settle()
        again.close()
        print(json.dumps(out))
        sys.exit(0)
    win = MainWindow(settings=settings)
    win.show()
    settle()
    out["main"] = win.frameGeometry().getRect()
    out["main_min"] = [win.minimumSize().width(), win.minimumSize().height()]
    win.showMaximized()
    settle()
    out["maximised"] = win.frameGeometry().getRect()
    sb = win.statusBar()
    out["status_bottom"] = sb.mapTo(win, sb.rect().bottomLeft()).y()
    out["main_height"] = win.height()
    cmp = CompareWindow(settings=settings)
    cmp.view.set_count(3)
    f = np.geomspace(50.0, 20000.0, 96)
    t = np.arange(300) * 0.02
    spec = Spectrogram(np.zeros((96, 300), np.float32), t, f, "dB", 6.0)
    for p in cmp.view.panes:
        p.show(spec, np.zeros((96, 300), np.float32), "a long title " * 12, [], [])
    cmp.show()
    settle()
    out["compare"] = cmp.frameGeometry().getRect()
    glw = cmp.view.glw

    def whole(item):
        r = glw.mapFromScene(item.sceneBoundingRect()).boundingRect()
        return glw.viewport().rect().contains(r)

    out["compare_whole"] = [whole(cmp.view.colorbar),
                            whole(cmp.view.panes[-1].plot.getAxis("bottom"))]
    print(json.dumps(out))
""")


def on_screen(tmp_path: Path, w: int, h: int, *args: str) -> dict:
    """Run :data:`REAL_SCREEN_SCRIPT` on Qt's offscreen platform configured with one ``w``×``h``
    screen (its ``configfile`` option); its settings in ``tmp_path``."""
    config = tmp_path / f"screen{w}x{h}.json"
    config.write_text(json.dumps({"windowFrameMargins": True, "screens": [
        {"name": "laptop", "x": 0, "y": 0, "width": w, "height": h, "logicalDpi": 96,
         "logicalBaseDpi": 96, "dpr": 1}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={config}"}
    run = subprocess.run([sys.executable, "-c", REAL_SCREEN_SCRIPT, str(tmp_path / "s.ini"),
                          *args], env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["screen"] == [0, 0, w, h]
    return out


def assert_fits(out: dict, w: int, h: int) -> None:
    for key in ("main", "compare", "maximised"):
        x, y, fw, fh = out[key]
        assert x >= 0 and y >= 0 and x + fw <= w and y + fh <= h, (key, out[key])
    assert out["main_min"][0] <= w and out["main_min"][1] <= h
    assert out["status_bottom"] < out["main_height"]
    assert out["compare_whole"] == [True, True]


@pytest.mark.parametrize("w, h", [(1280, 720), (1366, 768)])
def test_on_a_real_screen_of_laptop_size_the_windows_fit(tmp_path, w, h) -> None:
    """The windows read the real screen, fit it, and a maximised main window shows its status
    bar; the comparison window keeps its colour bar and time axis."""
    assert_fits(on_screen(tmp_path, w, h, "check"), w, h)


def test_restored_geometry_is_kept_and_brought_onto_a_smaller_screen(tmp_path) -> None:
    saved = on_screen(tmp_path, 2560, 1440, "save")
    assert saved["restored"] == [1100, 640]  # the size the user chose, not the default
    # saved at 1800x1000 on the large screen; opened on a laptop: whole on its screen
    assert_fits(on_screen(tmp_path, 1366, 768, "check"), 1366, 768)
