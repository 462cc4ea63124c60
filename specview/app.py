"""Start the desktop window: ``run_gui`` for the command line, ``make_main_window`` for tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from specview.gui.main_window import MainWindow


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
        app.setOrganizationName("specview")
        app.setApplicationName("specview")
    return app


def make_main_window(
    paths: Sequence[str] | None = None,
    *,
    model: str | None = None,
    demo: bool = False,
    settings: QSettings | None = None,
    device: str = "cpu",
    label_column: str | None = None,
) -> MainWindow:
    """Create (a QApplication if needed and) the window, and start opening what was asked.

    ``model`` is loaded first so that a recording in ``paths`` is shown scored. Each path may be
    a recording, a folder/dataset or a ``.safetensors`` model. With ``demo`` the window prepares
    the built-in demo in the background (generated and fitted on first use, then cached), then
    opens it with the first anomalous test clip selected. Nothing here blocks: loading and
    scoring run in worker threads; the window is not shown.
    """
    _application()
    from specview.gui.main_window import MainWindow

    win = MainWindow(settings=settings, device=device)
    if label_column is not None:
        win.state.label_column = label_column or None
    if model:
        win.controller.load_model(model)
    if demo:
        win.controller.start_demo()
    for p in paths or []:
        win.open_path(p)
    return win


def make_compare_window(paths: Sequence[str] | None = None, models: Sequence[str] = (), *,
                        settings: QSettings | None = None, device: str = "cpu", player=None):
    """The comparison window with ``models`` (2-4 model files, loaded in the background) on
    ``paths`` (a recording or a folder/dataset). Not shown."""
    _application()
    from specview.gui.compare_window import CompareWindow

    win = CompareWindow(settings=settings, device=device, player=player)
    job = win.load_models(list(models)) if models else None
    targets = list(paths or [])

    def open_targets():
        for p in targets:
            win.open_path(p)

    if job is not None:
        job.finished.connect(open_targets)
    else:
        open_targets()
    return win


def run_gui(paths: list[str] | None = None, *, model: str | None = None,
            demo: bool = False, compare: Sequence[str] | None = None,
            label_column: str | None = None) -> int:
    """Open the window (see :func:`make_main_window`), or straight into the comparison of
    ``compare`` models, and run the event loop; the exit code."""
    app = _application()
    if compare:
        win = make_compare_window(paths, compare)
    else:
        win = make_main_window(paths, model=model, demo=demo, label_column=label_column)
    win.show()
    return int(app.exec())

