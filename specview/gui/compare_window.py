"""Compare methods side by side: the same clip under 2-4 models, linked, calibrated, ranked.

Scoring runs in worker threads; results are cached per clip (least recently used dropped), so
stepping through a dataset of hundreds of clips stays responsive. The clip list can be sorted by
any model's score or by the disagreement between models (the spread of their calibrated peaks:
one model flags the clip, another finds it normal).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QMainWindow, QPushButton, QVBoxLayout, QWidget

from specview import metrics as M
from specview import sidebyside as S
from specview.annotations import load_sidecar
from specview.errors import SpecviewError
from specview.gui.compare_actions import CompareActions
from specview.gui.compare_panels import ClipTable, ModelsPanel
from specview.gui.compare_view import CompareView, same_rows
from specview.gui.controller import folder_as_dataset
from specview.gui.listen_panel import Listener, ListenPanel
from specview.gui.screen_fit import fit_to_screen
from specview.gui.state import AppState
from specview.gui.workers import Job, Runner
from specview.results import ClipResult
from specview.sidebyside import Entry, peak
from specview.types import AnomalyResult, Spectrogram

MAX_CACHED_CLIPS = 300
#: The window's size where the screen has room for it (else the screen's usable area).
DEFAULT_SIZE = (1500, 950)
DOCK_WIDTH = 330  # the clip list's and the models' columns, where there is room


class CompareWindow(CompareActions, QMainWindow):
    """The comparison window.

    Signals
    -------
    clip_shown(Path)
        Every pane shows this clip.
    scored_all()
        The whole dataset was scored by every model.
    """

    clip_shown = Signal(object)
    scored_all = Signal()
    error = Signal(str, str)

    def __init__(self, *, settings: QSettings | None = None, player=None,
                 device: str = "cpu", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings("specview", "specview")
        self.device = device
        self.entries: list[Entry] = []
        self.state = AppState(self)
        self.runner = Runner(self)
        self.cache: OrderedDict[Path, list[tuple[Spectrogram, AnomalyResult]]] = OrderedDict()
        self.summaries: dict[Path, list[tuple[float, float]]] = {}  # (clip score, peak) per model
        self.dataset_metrics: list[dict] | None = None
        self.shown: list[ClipResult] = []  # the clip on screen under every model
        self._seq = 0
        self.view = CompareView()
        self.setCentralWidget(self.view)
        self._side_docks: list[QDockWidget] = []  # resized to the window
        self._build_clip_list()
        self._build_side()
        self.listen_panel = ListenPanel()
        self.listener = Listener(self.state, self.view, self.listen_panel, self.runner,
                                 player=player, parent=self)
        self._dock("Listen", self.listen_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._build_actions()
        self.error.connect(self._show_error)
        self.listener.message.connect(lambda m: self.statusBar().showMessage(m, 8000))
        size = fit_to_screen(self, QSize(*DEFAULT_SIZE))  # a laptop's: smaller, panes shrink
        side = min(DOCK_WIDTH, int(size.width() * 0.22))  # leave the panes most of the width
        self.resizeDocks(self._side_docks, [side] * len(self._side_docks),
                         Qt.Orientation.Horizontal)
        self.setWindowTitle("specview — compare methods")
        QTimer.singleShot(0, self.listener.check)

    # -- construction -----------------------------------------------------------------------
    def _dock(self, title: str, w: QWidget, area) -> None:
        d = QDockWidget(title, self)
        d.setObjectName(f"compare_{title}")
        d.setWidget(w)
        d.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, d)
        if title != "Listen":  # the Listen dock shares the models' column
            self._side_docks.append(d)

    def _build_clip_list(self) -> None:
        self.clips = ClipTable()
        self.clips.itemSelectionChanged.connect(self._on_clip_selected)
        self.score_all_button = QPushButton("Score all clips (rank by disagreement)")
        self.score_all_button.clicked.connect(self.score_all)
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.clips)
        lay.addWidget(self.score_all_button)
        self._dock("Clips", w, Qt.DockWidgetArea.LeftDockWidgetArea)

    def _build_side(self) -> None:
        self.side = ModelsPanel()
        self.side.add_button.clicked.connect(self.add_model_dialog)
        self.side.remove_button.clicked.connect(self.remove_last)
        self.side.fit_button.clicked.connect(self.fit_dialog)
        self.side.png_button.clicked.connect(self.export_png_dialog)
        self.side.csv_button.clicked.connect(self.export_csv_dialog)
        self._dock("Models and scores", self.side, Qt.DockWidgetArea.RightDockWidgetArea)

    def _build_actions(self) -> None:
        def add(text, key, slot):
            a = QAction(text, self)
            a.setShortcut(QKeySequence(key))
            a.triggered.connect(slot)
            self.addAction(a)
            return a

        self.actions_ = {
            "next": add("Next clip", "N", lambda: self.step(+1)),
            "previous": add("Previous clip", "P", lambda: self.step(-1)),
            "play": add("Play / stop", "Space", self.listener.toggle),
            "reset_zoom": add("Reset zoom", "Ctrl+0", self.view.reset_zoom),
        }

    def _show_error(self, title: str, msg: str) -> None:
        self.statusBar().showMessage(f"{title}: {msg.splitlines()[0] if msg else ''}", 15000)
        self.last_error = (title, msg)

    def _models_changed(self) -> None:
        self.cache.clear()
        self.summaries.clear()
        self.shown = []
        self.dataset_metrics = None
        self.view.set_count(len(self.entries))
        self.state.model = self.entries[0].model if self.entries else None
        self._fill_clip_columns()
        if self.state.clip_path is not None:
            self.show_clip(self.state.clip_path)

    # -- clips -------------------------------------------------------------------------------
    def open_path(self, path: str | Path) -> bool:
        p = Path(path)
        if p.is_dir():
            try:
                ds = folder_as_dataset(p)
            except SpecviewError as exc:
                self.error.emit("Cannot open folder", str(exc))
                return False
            self.state.set_dataset(ds)
            self._fill_clip_list([(c.path, c.label) for c in ds.test])
            first = next((c.path for c in ds.test if c.label == 1), ds.test[0].path if ds.test else None)
        else:
            self._fill_clip_list([(p, None)])
            first = p
        if first is not None:
            self.select_clip(first)
        return True

    def _fill_clip_list(self, rows: list[tuple[Path, int | None]]) -> None:
        self._rows = rows
        self._fill_clip_columns()

    def _fill_clip_columns(self) -> None:
        self.clips.fill(getattr(self, "_rows", []), [e.name.split(" (")[0] for e in self.entries],
                        self.summaries)

    def clip_paths(self) -> list[Path]:
        """Clips in the list's current (sorted) order."""
        return self.clips.paths()

    def sort_by(self, column: str) -> None:
        """Sort the list, highest first: "disagreement" or a model's index as a string."""
        col = 2 + len(self.entries) if column == "disagreement" else 2 + int(column)
        self.clips.sortItems(col, Qt.SortOrder.DescendingOrder)

    def select_clip(self, path: Path) -> None:
        if not self.clips.select_path(path):
            self.show_clip(path)

    def step(self, direction: int) -> None:
        paths = self.clip_paths()
        if not paths:
            return
        cur = self.state.clip_path
        i = paths.index(cur) if cur in paths else -1
        self.select_clip(paths[(i + direction) % len(paths)])

    def _on_clip_selected(self) -> None:
        path = self.clips.selected_path()
        if path is not None:
            self.show_clip(path)

    def show_clip(self, path: Path) -> Job | None:
        """Score ``path`` with every model (cached) and show it in every pane."""
        path = Path(path)
        self._seq += 1
        seq = self._seq
        entries = list(self.entries)
        if not entries:
            return None
        if path in self.cache:
            self._show(seq, path, entries, self.cache[path])
            return None
        job = Job(lambda _p: S.score_with_all(path, entries), name=f"scoring {path.name}",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda out: self._show(seq, path, entries, out))
        job.failed.connect(lambda exc: self.error.emit(f"Cannot show {path.name}", str(exc)))
        self.runner.start(job)
        return job

    def _remember(self, path: Path, out) -> None:
        self.cache[path] = out
        self.cache.move_to_end(path)
        while len(self.cache) > MAX_CACHED_CLIPS:
            self.cache.popitem(last=False)

    def _show(self, seq: int, path: Path, entries: list[Entry], out) -> None:
        if seq != self._seq or entries != self.entries:
            return
        self._remember(path, out)
        boxes = load_sidecar(path).boxes
        self.shown = S.clip_results(path, entries, out, boxes=boxes)
        self.summaries[path] = S.summaries(entries, self.shown)
        self.view.link_frequency(same_rows([d.freqs for d, _r in out]))
        for pane, e, res in zip(self.view.panes, entries, self.shown, strict=True):
            cal, r = e.model.calibration, res.result
            heat = cal.calibrated(r.map) if cal is not None else M.minmax01(r.map).astype(np.float32)
            n = len(res.flagged)
            verdict = f"flagged ({n} region{'s' if n > 1 else ''})" if n else "normal"
            title = (f"<b>{e.name}</b> &nbsp; peak {peak(e.model, r):.2f}× threshold: {verdict}"
                     f" &nbsp; <span style='color:#909090'>(raw clip score "
                     f"{r.clip_score:#.3g})</span>")
            pane.show(res.display, heat, title, boxes, list(res.flagged),
                      calibrate=(lambda v, c=cal: float(c.calibrated([[v]])[0, 0])) if cal else None)
        first_display, first = out[0]
        self.state.model = entries[0].model
        self.state.set_clip(path, first_display, first, boxes, editable=False)
        self.view.reset_zoom()
        self._fill_metrics()
        self.clip_shown.emit(path)

    # -- dataset -----------------------------------------------------------------------------
    def score_all(self) -> Job | None:
        """Score every listed clip with every model (background); fill the ranking columns and
        the dataset scores against the sidecar boxes."""
        paths, entries = [p for p, _l in getattr(self, "_rows", [])], list(self.entries)
        if not paths or not entries:
            return None
        labels = dict(getattr(self, "_rows", []))
        cached = dict(self.cache)  # the worker reads a copy; the GUI thread owns the cache

        def work(progress):
            return S.score_dataset(paths, labels, entries, known=cached, progress=progress)

        def done(out):
            if entries != self.entries:
                return
            summ, ds = out
            self.summaries.update(summ)
            self.dataset_metrics = ds
            self._fill_clip_columns()
            self._fill_metrics()
            self.statusBar().showMessage(f"Scored {len(summ)} clips with {len(entries)} models", 8000)
            self.scored_all.emit()

        job = Job(work, name="scoring all clips", parent=self)
        job.failed.connect(lambda exc: self.error.emit("Scoring failed", str(exc)))
        job.succeeded.connect(done)
        self.runner.start(job)
        return job

    # -- numbers -----------------------------------------------------------------------------
    COLUMNS, DATA_COLUMNS = S.COLUMNS, S.DATA_COLUMNS

    def rows(self) -> list[dict]:
        """The numbers shown for the clip on screen (and the dataset), one dict per model."""
        path = self.state.clip_path
        return S.table_rows(self.entries, path,
                            self.summaries.get(path) if path is not None else None,
                            self.shown, self.dataset_metrics)

    def _fill_metrics(self) -> None:
        self.side.show_rows(self.rows(), dataset=self.dataset_metrics is not None)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.listener.shutdown()
        self.runner.shutdown()
        super().closeEvent(event)
