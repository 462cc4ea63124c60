"""The main window: wiring of state, controller, view and panels; menus, status bar, drops."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from specview import __version__
from specview.audio import AUDIO_SUFFIXES
from specview.gui import prefs, session
from specview.gui.annotator import Annotator
from specview.gui.box_panel import BoxPanel
from specview.gui.controller import MODEL_SUFFIX, Controller
from specview.gui.eval_panel import EvalPanel
from specview.gui.export_view import ViewExporter
from specview.gui.file_panel import FilePanel
from specview.gui.fine_view import FinePictures
from specview.gui.fit_dialog import FitDialog
from specview.gui.listen_panel import Listener, ListenPanel
from specview.gui.long_recording import hms
from specview.gui.measurements import Measurer
from specview.gui.overlay_panel import OverlayPanel
from specview.gui.overview_strip import OverviewStrip
from specview.gui.screen_audio import ScreenAudio
from specview.gui.screen_fit import clamp_to_screen, fit_to_screen, scrolling
from specview.gui.spectrogram_view import SpectrogramView
from specview.gui.state import AppState
from specview.gui.workers import PROGRESS_STEPS, progress_step

AUDIO_FILTER = "Audio (" + " ".join(f"*{s}" for s in AUDIO_SUFFIXES) + ");;All files (*)"
MODEL_FILTER = f"specview models (*{MODEL_SUFFIX});;All files (*)"
ABOUT = f"""<h3>specview {__version__}</h3>
<p>Explainable audio anomaly detection: an anomaly heatmap over the spectrogram shows
<i>when</i> and <i>at which frequencies</i> a recording departs from the normal ones it was
fitted on.</p>
<p>aisfx weights by A. B. Ma and A. Lerch (ISMIR 2022), CC BY 4.0.</p>"""
#: The main window's size where the screen has room for it (else the screen's usable area).
DEFAULT_SIZE = (1400, 850)
#: Width of the left dock column (the clip list and the tab group below it), at most, and as a
#: share of the window's width.
LEFT_WIDTH, LEFT_SHARE = 380, 0.24
DOCK_MIN_WIDTH = 220
#: A dock's title bar and borders, and a tab group's tab bar, around its panel.
DOCK_CHROME = QSize(8, 28)
TAB_BAR_HEIGHT = 28
SHORTCUTS = [
    ("B", "box tool: drag on the spectrogram to draw a box"),
    ("Del", "delete the selected box"),
    ("Ctrl+Z / Ctrl+Shift+Z", "undo / redo any box edit"),
    ("N / P", "next / previous box or flagged region (selects and zooms to it); in a long "
              "recording, the next / previous flagged event of the whole file"),
    ("PageDown / PageUp", "long recording: the next / previous span"),
    ("A / X", "accept / dismiss the selected flagged region"),
    ("Space", "play / stop"),
    ("H", "show or hide the heatmap"),
    ("Ctrl+0", "reset zoom"),
    ("Ctrl+O / Ctrl+Shift+O", "open a recording / a folder or dataset"),
    ("Ctrl+E", "export the view as a PNG, PDF or SVG figure"),
    ("Ctrl+L", "load a model"),
    ("Esc", "cancel the running task"),
]


class MainWindow(QMainWindow):
    """specview's window.

    Attributes
    ----------
    state : AppState
        What is shown; subscribe to its signals.
    controller : Controller
        Carries out commands (``open_path``, ``open_clip``, ``open_folder``, ``load_model``,
        ``fit``, ``save_model``, ``start_demo``) and reports ``error``/``task_*`` signals.
    view : SpectrogramView
    file_panel : FilePanel
    overlay_panel : OverlayPanel
    menu_actions : dict[str, QAction]
        Menu actions by name (``open_recording``, ``open_folder``, ``load_model``, ``fit``,
        ``save_model``, ``quit``, ``toggle_heatmap``, ``reset_zoom``, ``about``).
    last_error : tuple[str, str] or None
        ``(title, message)`` of the last error shown.
    """

    def __init__(self, *, settings: QSettings | None = None, device: str = "cpu",
                 player=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings("specview", "specview")
        self.state = AppState(self)
        self.controller = Controller(self.state, self, device=device)
        # the samples on screen, read once for the display spectrogram, measurements,
        # listening and figures; the display spectrogram before the view (it is drawn from it)
        self.audio = ScreenAudio(self.state)
        self.fine = FinePictures(self.state, self.audio, self.controller.runner,
                                 settings=prefs.load_display(self.settings), parent=self)
        self.view = SpectrogramView(self.state, fine=self.fine)
        self.file_panel = FilePanel(self.state)
        self.overlay_panel = OverlayPanel(self.state)
        self.box_panel = BoxPanel(self.state)
        self.annotator = Annotator(self.state, self.view, self.box_panel, self.settings, self)
        self.eval_panel = EvalPanel(self.state, self.controller)
        self.listen_panel = ListenPanel()
        self.listener = Listener(self.state, self.view, self.listen_panel, self.controller.runner,
                                 player=player, audio=self.audio, parent=self)
        self.measurer = Measurer(self.state, self.audio, self.fine, self.controller.runner, self)
        self.box_panel.set_measurer(self.measurer)
        self.box_panel.set_measure_keys(prefs.load_measure_keys(self.settings))
        self.exporter = ViewExporter(self)
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None

        # a long recording's overview strip sits above the detail view (hidden otherwise)
        self.overview = OverviewStrip(self.state)
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.overview)
        column.addWidget(self.view, 1)
        self.setCentralWidget(central)
        # Left: the clip list over one tab group (display, scores, listening); right: the boxes
        # and flagged regions, alone, so their tables get the column's whole height.
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.docks: dict[str, QDockWidget] = {}
        self._dock("Clips", self.file_panel, left)
        display = self._dock("Display", self.overlay_panel, left)
        self.tabifyDockWidget(display, self._dock("Scores", self.eval_panel, left))
        self.tabifyDockWidget(display, self._dock("Listen", self.listen_panel, left))
        display.raise_()
        self._dock("Boxes", self.box_panel, right)
        self._docks_fitted = self._refit_on_resize = False
        self._build_status_bar()
        self.menu_actions: dict[str, QAction] = {}
        self._build_menus()
        self._connect()
        fit_to_screen(self, QSize(*DEFAULT_SIZE))
        self._restore_settings()
        QTimer.singleShot(0, self.listener.check)  # probe the audio output once shown
        self.setAcceptDrops(True)
        self._update_title()
        self._update_long_actions()

    # -- construction -----------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{widget.__class__.__name__}")
        area_widget = scrolling(widget)  # a short screen scrolls the panel, not the window
        dock.setWidget(area_widget)
        # never narrower than the panel: it scrolls up and down, not sideways
        dock.setMinimumWidth(max(DOCK_MIN_WIDTH, widget.minimumSizeHint().width()
                                 + area_widget.verticalScrollBar().sizeHint().width()
                                 + DOCK_CHROME.width()))
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(area, dock)
        self.docks[title] = dock
        return dock

    def fit_docks(self) -> None:
        """Share the window between the docks for its present size.

        The right column gets the width the boxes' columns need (at most 30 % of the window),
        the left one :data:`LEFT_SHARE` of it, at most :data:`LEFT_WIDTH`; in the left column
        the tab group gets the height of its tallest panel, at most 55 % of the column, the
        clip list the rest. Done when the window is first shown and when it is maximised or
        restored; the user's own adjustments stand otherwise.
        """
        w = self.width()
        left = min(LEFT_WIDTH, int(w * LEFT_SHARE))
        right = min(self.box_panel.preferred_width() + DOCK_CHROME.width(), int(w * 0.3))
        self.resizeDocks([self.docks["Clips"], self.docks["Boxes"]], [left, right],
                         Qt.Orientation.Horizontal)
        column = self.height() - self.menuBar().sizeHint().height() \
            - self.statusBar().sizeHint().height()
        tallest = max(self.docks[t].widget().widget().sizeHint().height()
                      for t in ("Display", "Scores", "Listen"))
        tabs = min(tallest + DOCK_CHROME.height() + TAB_BAR_HEIGHT, int(column * 0.55))
        self.resizeDocks([self.docks["Clips"], self.docks["Display"]],
                         [max(column - tabs, 1), tabs], Qt.Orientation.Vertical)
        self._docks_fitted = True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._docks_fitted:
            self.fit_docks()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange and self._docks_fitted:
            # maximised or restored: the new size may come before or after this event
            self.fit_docks()
            self._refit_on_resize = True

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if self._refit_on_resize:
            self._refit_on_resize = False
            self.fit_docks()

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.readout = QLabel("")
        self.readout.setMinimumWidth(430)
        self.task_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running task (Esc)")
        self.cancel_button.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        sb.addPermanentWidget(self.readout)
        sb.addPermanentWidget(self.task_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self._show_task(False)

    def _action(self, name: str, text: str, slot, shortcut=None, *, checkable: bool = False,
                tip: str = "") -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        act.setStatusTip(tip)
        (act.toggled if checkable else act.triggered).connect(slot)
        self.menu_actions[name] = act
        return act

    def _build_menus(self) -> None:
        S = QKeySequence.StandardKey
        m = self.menuBar().addMenu("&File")
        m.addAction(self._action("open_recording", "&Open recording…", self.open_recording_dialog,
                                 S.Open, tip="Show one recording"))
        m.addAction(self._action("open_folder", "Open &folder/dataset…", self.open_folder_dialog,
                                 "Ctrl+Shift+O", tip="List a dataset's train/ and test/ clips"))
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(lambda: prefs.fill_recent_menu(
            self.recent_menu, self.settings, self.open_path))
        m.addAction(self._action("open_session", "Open sessio&n…",
                                 lambda: session.open_dialog(self),
                                 tip="Reopen a saved session: recording, model, view, settings"))
        m.addAction(self._action("save_session", "Sa&ve session…",
                                 lambda: session.save_dialog(self),
                                 tip="Save the recording, model, view and settings as a file"))
        m.addAction(self._action("export_view", "&Export view…", self.exporter.dialog, "Ctrl+E",
                                 tip="The view as a PNG, PDF or SVG figure"))
        m.addSeparator()
        m.addAction(self._action("load_model", "&Load model…", self.load_model_dialog, "Ctrl+L"))
        m.addAction(self._action("fit", "F&it on folder…", self.fit_dialog, "Ctrl+Shift+F",
                                 tip="Fit a model on normal recordings, in the background"))
        m.addAction(self._action("score_all", "Score &all test clips", self.controller.score_all,
                                 "Ctrl+Shift+A", tip="Score every clip in the list (background)"))
        m.addAction(self._action("save_model", "&Save model as…", self.save_model_dialog, S.SaveAs))
        m.addAction(self._action("import_dataset", "&Import boxes into dataset…",
                                 self.annotator.import_dataset_dialog,
                                 tip="Distribute a Raven table of several recordings over the "
                                     "open dataset's clips (Begin File / Begin Path)"))
        m.addSeparator()
        m.addAction(self._action("demo", "Open the &demo", self.controller.start_demo))
        m.addSeparator()
        m.addAction(self._action("quit", "&Quit", self.close, S.Quit))
        self.menu_actions.update(self.annotator.build_menu(self.menuBar().addMenu("&Edit")))
        v = self.menuBar().addMenu("&View")
        toggle = self._action("toggle_heatmap", "Show &heatmap", self.overlay_panel.heat_check.setChecked,
                              "H", checkable=True)
        toggle.setChecked(True)
        v.addAction(toggle)
        v.addAction(self._action("reset_zoom", "&Reset zoom", self.view.reset_zoom, "Ctrl+0"))
        v.addAction(self._action("next_page", "Next span (long recording)",
                                 lambda: self.controller.long.page(+1), "PgDown",
                                 tip="Show the next span of a long recording"))
        v.addAction(self._action("previous_page", "Previous span (long recording)",
                                 lambda: self.controller.long.page(-1), "PgUp",
                                 tip="Show the previous span of a long recording"))
        v.addSeparator()
        v.addAction(self._action("compare", "&Compare methods…", self.open_compare, "Ctrl+M",
                                 tip="The clip under 2-4 models side by side"))
        panels = v.addMenu("&Panels")  # a closed dock comes back from here
        for dock in self.docks.values():
            panels.addAction(dock.toggleViewAction())
        p = self.menuBar().addMenu("&Play")
        p.addAction(self._action("play_toggle", "&Play / stop", self.listener.toggle, "Space"))
        p.addAction(self._action("play_clip", "Play &clip", lambda: self.listener.play("clip")))
        p.addAction(self._action("play_box", "Play &box or flagged region",
                                 lambda: self.listener.play("selection")))
        p.addAction(self._action("play_visible", "Play &visible range",
                                 lambda: self.listener.play("visible")))
        p.addAction(self._action("stop", "&Stop", self.listener.stop))
        self.addActions(p.actions())
        live = self.menuBar().addMenu("&Live")
        live.addAction(self._action("live_monitor", "&Monitor…", self.open_live, tip=(
            "Listen to an input device or replay a recording, scored live (specview monitor)")))
        h = self.menuBar().addMenu("&Help")
        h.addAction(self._action("shortcuts", "&Keyboard shortcuts", self.show_shortcuts, "F1"))
        h.addAction(self._action("about", "&About specview", self.show_about))
        self.menu_actions["save_model"].setEnabled(False)

    def _connect(self) -> None:
        c, s, v, o = self.controller, self.state, self.view, self.overlay_panel
        c.error.connect(self.show_error)
        c.sidecar_unreadable.connect(self.annotator.sidecar_unreadable)
        self.annotator.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        self.listener.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        c.status.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        c.task_started.connect(self._on_task_started)
        c.task_progress.connect(self._on_task_progress)
        c.task_ended.connect(self._on_task_ended)
        self.cancel_button.clicked.connect(c.cancel_task)
        self.file_panel.clip_requested.connect(c.open_clip)
        self.file_panel.score_all_requested.connect(c.score_all)
        v.hovered.connect(self.readout.setText)
        lc, ov = c.long, self.overview
        lc.visible_range = lambda: v.visible_time_range() if s.display is not None else s.span
        ov.span_requested.connect(lc.request_span)
        ov.jump_requested.connect(lambda t: lc.centre_on(t))
        ov.event_requested.connect(lc.show_event)
        v.vb.sigXRangeChanged.connect(lambda *_a: self._follow_detail())
        self.annotator.step_override = lambda d: lc.step(d) if s.long is not None else None
        s.long_changed.connect(self._update_title)
        s.long_changed.connect(self._update_long_actions)
        o.heat_visible_changed.connect(v.set_heat_visible)
        o.heat_visible_changed.connect(self.menu_actions["toggle_heatmap"].setChecked)
        o.opacity_changed.connect(v.set_heat_opacity)
        o.heat_colormap_changed.connect(v.set_heat_colormap)
        o.scale_mode_changed.connect(v.set_scale_mode)
        fine, box = self.fine, self.box_panel
        o.display.settings_changed.connect(fine.set_settings)
        fine.settings_changed.connect(o.display.set_settings)
        fine.settings_changed.connect(lambda st_: ov.set_spec_colormap(st_.colormap))
        ov.set_spec_colormap(fine.settings.colormap)
        o.display.set_settings(fine.settings)
        fine.status.connect(o.display.set_status)
        o.display.current_top = v.level_top
        s.clip_loaded.connect(lambda _p: o.display.set_sample_rate(s.sample_rate))
        box.measurements_chosen.connect(lambda k: prefs.save_measure_keys(self.settings, k))
        self.exporter.written.connect(
            lambda p: self.statusBar().showMessage(f"View written to {p}", 10000))
        self.exporter.failed.connect(lambda m: self.show_error("Cannot export the view", m))
        prefs.track_recent(s, self.settings)
        o.boxes_visible_changed.connect(v.set_boxes_visible)
        s.clip_loaded.connect(self._update_title)
        s.model_changed.connect(self._update_title)
        s.model_saved.connect(self._update_title)
        s.model_changed.connect(lambda: self.menu_actions["save_model"].setEnabled(s.model is not None))

    # -- settings -----------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        st = self.settings
        geo = st.value("window/geometry")
        if geo is not None:
            self.restoreGeometry(geo)
            clamp_to_screen(self)  # saved on a larger screen: keep it whole on this one
            # the docks as they were, when the window gets the size it had (else fitted anew)
            layout = st.value("window/state")
            if layout is not None and st.value("window/state_size") == [
                    self.width(), self.height()] and self.restoreState(layout):
                self._docks_fitted = True
        o = self.overlay_panel
        o.heat_cmap.setCurrentText(str(st.value("view/heat_colormap", "inferno")))
        o.opacity_slider.setValue(int(st.value("view/opacity", 70)))
        i = o.scale_combo.findData(str(st.value("view/heat_scale", "calibrated")))
        o.scale_combo.setCurrentIndex(max(i, 0))

    def _save_settings(self) -> None:
        st = self.settings
        st.setValue("window/geometry", self.saveGeometry())
        st.setValue("window/state", self.saveState())
        st.setValue("window/state_size", [self.width(), self.height()])
        o = self.overlay_panel
        st.setValue("view/heat_colormap", o.heat_cmap.currentText())
        st.setValue("view/opacity", o.opacity_slider.value())
        st.setValue("view/heat_scale", o.scale_combo.currentData())
        o.display.apply_now()
        prefs.save_display(st, self.fine.settings)
        st.sync()

    def _last_dir(self, key: str) -> str:
        return str(self.settings.value(f"paths/{key}", str(Path.home())))

    def _remember_dir(self, key: str, path: str | Path) -> None:
        p = Path(path)
        self.settings.setValue(f"paths/{key}", str(p if p.is_dir() else p.parent))

    # -- commands -----------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> None:
        """Open a recording, a folder/dataset, a model or a session file, whichever ``path``
        is."""
        if Path(path).suffix.lower() == ".json":
            self.open_session(path)
            return
        self.controller.open_path(path)

    # -- sessions (specview.gui.session) ---------------------------------------------------------
    def save_session(self, path: str | Path) -> Path | None:
        """Write the session (recording, model, view, settings) to ``path``."""
        return session.save(self, path)

    def open_session(self, path: str | Path):
        """Reopen a session file: the window goes back to where it was saved."""
        return session.open_file(self, path)

    def open_recording_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open recording", self._last_dir("audio"),
                                              AUDIO_FILTER)
        if path:
            self._remember_dir("audio", path)
            self.controller.open_clip(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open folder or dataset",
                                                self._last_dir("folder"))
        if path:
            self._remember_dir("folder", Path(path).parent)
            self.controller.open_folder(path)

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", self._last_dir("model"),
                                              MODEL_FILTER)
        if path:
            self._remember_dir("model", path)
            self.controller.load_model(path)

    def fit_dialog(self) -> None:
        start = str(self.state.dataset.root) if self.state.dataset else ""
        dlg = FitDialog(start, self)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        folder, method, encoder, overrides = dlg.choice()
        self._remember_dir("folder", folder.parent)
        self.controller.fit(folder, method=method, encoder=encoder, overrides=overrides)

    def save_model_dialog(self) -> None:
        start = self.state.model_path or Path(self._last_dir("model")) / f"model{MODEL_SUFFIX}"
        path, _ = QFileDialog.getSaveFileName(self, "Save model as", str(start), MODEL_FILTER)
        if path and self.controller.save_model(path):
            self._remember_dir("model", path)

    def _follow_detail(self) -> None:
        """The overview's region shows what the detail view shows."""
        if self.state.long is not None and self.state.display is not None \
                and self.state.clip_path == self.state.long.path:
            self.overview.set_region(*self.view.visible_time_range())

    def _update_long_actions(self) -> None:
        on = self.state.long is not None
        for name in ("next_page", "previous_page"):
            self.menu_actions[name].setEnabled(on)
        self.menu_actions["compare"].setEnabled(not on)
        self.menu_actions["compare"].setStatusTip(
            "Not for long recordings: they are scored in a stream, one model at a time" if on
            else "The clip under 2-4 models side by side")

    def open_compare(self):
        """A comparison window on the open dataset (or clip), starting with the current model;
        add more models there."""
        from specview.gui.compare_window import CompareWindow

        if self.state.long is not None:
            self.show_error("Not for long recordings",
                            "The comparison window scores whole clips; a recording longer than "
                            "a few minutes is scored in a stream with one model at a time.")
            return None

        win = CompareWindow(settings=self.settings, device=self.controller.device, parent=self)
        win.setWindowFlag(Qt.WindowType.Window)
        if self.state.model is not None:
            name = self.state.model_path.stem if self.state.model_path else "current"
            win.add_model(self.state.model, f"{self.state.model.method} / "
                          f"{self.state.model.encoder.name} ({name})", self.state.model_path)
        target = self.state.dataset.root if self.state.dataset else self.state.clip_path
        if target is not None:
            win.open_path(target)
            if self.state.clip_path is not None:
                win.select_clip(self.state.clip_path)
        win.show()
        self.compare_window = win
        return win

    def open_live(self):
        """*Live ▸ Monitor…*: the Live window (:mod:`specview.gui.live_window`)."""
        from specview.gui.live_dialog import open_live

        return open_live(self)

    def show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in SHORTCUTS)
        QMessageBox.information(self, "Keyboard shortcuts", f"<table>{rows}</table>")

    def show_about(self) -> None:
        QMessageBox.about(self, "About specview", ABOUT)

    def show_error(self, title: str, message: str) -> None:
        """Tell the user without blocking: a status message and a window-modal message box."""
        self.last_error = (title, message)
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0] if message else ''}", 15000)
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                          self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    # -- feedback ---------------------------------------------------------------------------
    def _show_task(self, on: bool, cancellable: bool = False) -> None:
        self.task_label.setVisible(on)
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on and cancellable)
        for name in ("fit", "load_model", "demo", "score_all"):
            if name in getattr(self, "menu_actions", {}):
                self.menu_actions[name].setEnabled(not on)

    def _on_task_started(self, description: str, cancellable: bool) -> None:
        self.task_label.setText(description)
        self.progress.setRange(0, 0)  # busy until the first progress report
        self._show_task(True, cancellable)
        task = self.controller.task
        if task is not None and getattr(task, "preemptible", False):
            # a long recording's background work gives way to these: keep them available
            for name in ("fit", "load_model", "demo", "score_all"):
                self.menu_actions[name].setEnabled(True)

    def _on_task_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setValue(progress_step(done, total))

    def _on_task_ended(self, _outcome: str, message: str) -> None:
        self._show_task(False)
        self.statusBar().showMessage(message, 10000)

    def _update_title(self, *_args) -> None:
        parts = ["specview"]
        lr = self.state.long
        if lr is not None:
            parts.append(f"{lr.path.name} ({hms(lr.duration)})")
        elif self.state.clip_path is not None:
            parts.append(self.state.clip_path.name)
        if self.state.model is not None:
            parts.append(f"model: {self.state.model_path.name if self.state.model_path else 'unsaved'}")
        self.setWindowTitle(" — ".join(parts))

    # -- drag and drop ------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        # models first, then folders, then a recording: the clip is scored with the new model
        for p in sorted(paths, key=lambda p: (p.suffix.lower() != MODEL_SUFFIX, not p.is_dir())):
            self.open_path(p)
        event.acceptProposedAction()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self._save_settings()
        compare = getattr(self, "compare_window", None)
        if compare is not None:
            compare.close()  # its jobs and sound stop with it, before this window's go
        if getattr(self, "live_window", None) is not None:
            self.live_window.close()  # its monitor thread stops, its open event is saved
        self.listener.shutdown()
        self.controller.shutdown()
        super().closeEvent(event)
