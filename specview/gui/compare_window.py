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
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from specview import metrics as M
from specview import pipeline
from specview import sidebyside as S
from specview.annotations import load_sidecar
from specview.errors import SpecviewError
from specview.gui.compare_view import CompareView, same_rows
from specview.gui.controller import folder_as_dataset
from specview.gui.listen_panel import Listener, ListenPanel
from specview.gui.screen_fit import fit_to_screen
from specview.gui.state import AppState
from specview.gui.workers import Job, Runner
from specview.results import ClipResult, write_rows
from specview.sidebyside import Entry, peak
from specview.types import AnomalyResult, Spectrogram

MAX_PANES = 4
MAX_CACHED_CLIPS = 300
#: The window's size where the screen has room for it (else the screen's usable area).
DEFAULT_SIZE = (1500, 950)
DOCK_WIDTH = 330  # the clip list's and the models' columns, where there is room


class _Num(QTableWidgetItem):
    """A table cell that sorts by number."""

    def __init__(self, v: float | None, digits: int = 3) -> None:
        super().__init__("–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}")
        self.v = -np.inf if v is None or not np.isfinite(v) else float(v)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other):  # noqa: D105
        return self.v < getattr(other, "v", -np.inf)


class CompareWindow(QMainWindow):
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
        self.clips = QTableWidget(0, 2)
        self.clips.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.clips.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.clips.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.clips.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.clips.verticalHeader().setVisible(False)
        self.clips.setSortingEnabled(True)
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
        self.metrics = QTableWidget(0, 0)
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.add_button = QPushButton("Add model…")
        self.add_button.clicked.connect(self.add_model_dialog)
        self.remove_button = QPushButton("Remove last")
        self.remove_button.clicked.connect(self.remove_last)
        self.fit_button = QPushButton("Fit model…")
        self.fit_button.setToolTip("Fit another method or encoder on the dataset's training "
                                   "clips (in the background) and add it as a pane")
        self.fit_button.clicked.connect(self.fit_dialog)
        self.png_button = QPushButton("Export figure…")
        self.png_button.clicked.connect(self.export_png_dialog)
        self.csv_button = QPushButton("Export numbers…")
        self.csv_button.clicked.connect(self.export_csv_dialog)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.fit_button)
        row.addWidget(self.remove_button)
        lay.addLayout(row)
        lay.addWidget(self.metrics)
        row = QHBoxLayout()
        row.addWidget(self.png_button)
        row.addWidget(self.csv_button)
        lay.addLayout(row)
        lay.addWidget(self.note)
        self._dock("Models and scores", w, Qt.DockWidgetArea.RightDockWidgetArea)

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

    # -- models ------------------------------------------------------------------------------
    def add_model(self, model: pipeline.Model, name: str | None = None,
                  path: Path | None = None) -> bool:
        if len(self.entries) >= MAX_PANES:
            self.error.emit("Too many models", f"At most {MAX_PANES} panes; remove one first.")
            return False
        name = name or f"{model.method} / {model.encoder.name}"
        self.entries.append(Entry(name, model, path))
        self._models_changed()
        return True

    def load_models(self, paths: list[str | Path]) -> Job:
        """Load model files in the background, then add them in order."""
        paths = [Path(p) for p in paths]

        def work(_p):
            return [(p, pipeline.load_model(p, device=self.device)) for p in paths]

        def done(loaded):
            for p, m in loaded:
                self.add_model(m, f"{m.method} / {m.encoder.name} ({p.stem})", p)

        job = Job(work, name="loading models", cancellable=False, parent=self)
        job.succeeded.connect(done)
        job.failed.connect(lambda exc: self.error.emit("Cannot load model", str(exc)))
        self.runner.start(job)
        return job

    def add_model_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(self, "Add models", "",
                                                "specview models (*.safetensors)")
        if files:
            self.load_models(files)

    def fit(self, folder: str | Path, method: str, encoder: str = "aisfx",
            overrides: dict[str, str] | None = None) -> Job:
        """Fit ``method`` on ``folder``'s normal clips in the background, then add it."""
        folder = Path(folder)
        self.statusBar().showMessage(f"Fitting {method} on {encoder}…")

        def work(progress):
            return pipeline.fit(folder, method=method, encoder=encoder,
                                overrides=overrides or None, device=self.device,
                                progress=progress)

        job = Job(work, name=f"fitting {method}", parent=self)
        job.progressed.connect(lambda d, t: self.statusBar().showMessage(
            f"Fitting {method} on {encoder}: {d}/{t}"))
        job.succeeded.connect(lambda m: (self.add_model(m), self.statusBar().showMessage(
            f"Fitted {method} on {m.info.get('n_train_clips', '?')} clips", 8000)))
        job.failed.connect(lambda exc: self.error.emit(f"Fitting {method} failed", str(exc)))
        self.runner.start(job)
        return job

    def fit_dialog(self) -> None:
        from PySide6.QtWidgets import QDialog

        from specview.gui.fit_dialog import FitDialog

        start = str(self.state.dataset.root) if self.state.dataset else ""
        dlg = FitDialog(start, self)
        if dlg.exec() == QDialog.DialogCode.Accepted:
            folder, method, encoder, overrides = dlg.choice()
            self.fit(folder, method, encoder, overrides)

    def remove_last(self) -> None:
        if self.entries:
            self.entries.pop()
            self._models_changed()

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
        rows = getattr(self, "_rows", [])
        names = [e.name.split(" (")[0] for e in self.entries]
        heads = ["Clip", "Label"] + [f"{n} ×thr" for n in names] + (
            ["Disagreement"] if len(self.entries) > 1 else [])
        self.clips.setSortingEnabled(False)
        self.clips.clear()
        self.clips.setColumnCount(len(heads))
        self.clips.setHorizontalHeaderLabels(heads)
        self.clips.setRowCount(len(rows))
        for i, (p, label) in enumerate(rows):
            item = QTableWidgetItem(p.name)
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.clips.setItem(i, 0, item)
            self.clips.setItem(i, 1, QTableWidgetItem({1: "anomaly", 0: "normal"}.get(label, "")))
            s = self.summaries.get(p)
            for k in range(len(self.entries)):
                self.clips.setItem(i, 2 + k, _Num(s[k][1] if s else None, 2))
            if len(self.entries) > 1:
                self.clips.setItem(i, 2 + len(self.entries),
                                   _Num(S.disagreement([x[1] for x in s]) if s else None, 2))
        self.clips.setSortingEnabled(True)
        header = self.clips.horizontalHeader()
        if header.sortIndicatorSection() >= self.clips.columnCount():
            header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.clips.sortItems(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.clips.resizeColumnsToContents()

    def clip_paths(self) -> list[Path]:
        """Clips in the list's current (sorted) order."""
        return [Path(self.clips.item(i, 0).data(Qt.ItemDataRole.UserRole))
                for i in range(self.clips.rowCount())]

    def sort_by(self, column: str) -> None:
        """Sort the list, highest first: "disagreement" or a model's index as a string."""
        col = 2 + len(self.entries) if column == "disagreement" else 2 + int(column)
        self.clips.sortItems(col, Qt.SortOrder.DescendingOrder)

    def select_clip(self, path: Path) -> None:
        for i, p in enumerate(self.clip_paths()):
            if p == path:
                self.clips.selectRow(i)
                return
        self.show_clip(path)

    def step(self, direction: int) -> None:
        paths = self.clip_paths()
        if not paths:
            return
        cur = self.state.clip_path
        i = paths.index(cur) if cur in paths else -1
        self.select_clip(paths[(i + direction) % len(paths)])

    def _on_clip_selected(self) -> None:
        rows = self.clips.selectionModel().selectedRows()
        if rows:
            self.show_clip(Path(self.clips.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)))

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
        self.shown = S.clip_results(path, entries, out, boxes)
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
        rows = self.rows()
        heads = ["model"] + [c for c, _ in self.COLUMNS] + (
            [c for c, _ in self.DATA_COLUMNS] if self.dataset_metrics is not None else [])
        self.metrics.clear()
        self.metrics.setColumnCount(len(heads))
        self.metrics.setHorizontalHeaderLabels(heads)
        self.metrics.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self.metrics.setItem(i, 0, QTableWidgetItem(r["model"]))
            for j, h in enumerate(heads[1:], 1):
                v = r.get(h)
                self.metrics.setItem(i, j, QTableWidgetItem("–") if v is None else (
                    _Num(v, 0) if h == "flagged" else _Num(v, 3)))
        self.note.setText("Heatmaps share one scale: each model's scores calibrated on its own "
                          "held-out normal clips (0 = typical normal, 1 = flag threshold).")

    def export_csv(self, file: str | Path) -> Path:
        write_rows(file, self.rows())  # atomic: the previous file kept on failure
        return Path(file)

    def export_png(self, file: str | Path, *, dpi: int = 200) -> Path:
        """The clip under every model as a figure (matplotlib; seconds and Hz on the axes)."""
        from specview import report

        path = self.state.clip_path
        if path is None or path not in self.cache:
            raise SpecviewError("nothing to export: no clip is shown")
        evals = S.clip_results(path, self.entries, self.cache[path], load_sidecar(path).boxes)
        report.panes_figure(Path(file), evals, [e.name for e in self.entries],
                            [e.model for e in self.entries], dpi=dpi)
        return Path(file)

    def export_png_dialog(self) -> None:
        file, _ = QFileDialog.getSaveFileName(self, "Export figure", "comparison.png", "PNG (*.png)")
        if file:
            try:
                self.export_png(file)
            except (SpecviewError, OSError) as exc:
                QMessageBox.warning(self, "Cannot export", str(exc))

    def export_csv_dialog(self) -> None:
        file, _ = QFileDialog.getSaveFileName(self, "Export numbers", "comparison.csv", "CSV (*.csv)")
        if file:
            try:
                self.export_csv(file)
            except (SpecviewError, OSError) as exc:
                QMessageBox.warning(self, "Cannot export", str(exc))

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.listener.shutdown()
        self.runner.shutdown()
        super().closeEvent(event)
