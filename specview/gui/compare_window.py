"""Compare methods side by side: the same clip under 2-4 models, linked, calibrated, ranked.

Scoring runs in worker threads; results are cached per clip (least recently used dropped), so
stepping through a dataset of hundreds of clips stays responsive. The clip list can be sorted by
any model's score or by the disagreement between models (the spread of their calibrated peaks:
one model flags the clip, another finds it normal).
"""

from __future__ import annotations

import csv
import io
from collections import OrderedDict
from dataclasses import dataclass
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
from specview.annotations import load_sidecar
from specview.errors import SpecviewError
from specview.evaluation import score_clip
from specview.fileio import atomic_write_text
from specview.gui.compare_view import CompareView, same_rows
from specview.gui.controller import folder_as_dataset
from specview.gui.listen_panel import Listener, ListenPanel
from specview.gui.screen_fit import fit_to_screen
from specview.gui.state import AppState
from specview.gui.workers import Job, Runner
from specview.types import AnomalyResult, Spectrogram

MAX_PANES = 4
MAX_CACHED_CLIPS = 300
PEAK_CAP = 3.0  # calibrated peaks above this all mean "clearly flagged"
#: The window's size where the screen has room for it (else the screen's usable area).
DEFAULT_SIZE = (1500, 950)
DOCK_WIDTH = 330  # the clip list's and the models' columns, where there is room


@dataclass
class Entry:
    """One model in the comparison."""

    name: str
    model: pipeline.Model
    path: Path | None = None


def peak(model: pipeline.Model, result: AnomalyResult) -> float:
    """The map's highest cell in multiples of the model's flag threshold (calibrated units);
    the raw maximum for a model without calibration."""
    top = float(result.map.max())
    cal = model.calibration
    return float(cal.calibrated([[top]])[0, 0]) if cal is not None else top


def disagreement(peaks: list[float]) -> float:
    """Spread of the models' calibrated peaks (capped): 0 when they agree."""
    p = np.minimum(np.asarray(peaks, dtype=float), PEAK_CAP)
    return float(p.max() - p.min()) if p.size > 1 else 0.0


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
        self.clip_metrics: list[dict] = []
        self.clip_flagged: list[int] = []
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
                                   _Num(disagreement([x[1] for x in s]) if s else None, 2))
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
        job = Job(lambda _p: self._score(path, entries), name=f"scoring {path.name}",
                  cancellable=False, parent=self)
        job.succeeded.connect(lambda out: self._show(seq, path, entries, out))
        job.failed.connect(lambda exc: self.error.emit(f"Cannot show {path.name}", str(exc)))
        self.runner.start(job)
        return job

    @staticmethod
    def _score(path: Path, entries: list[Entry]) -> list[tuple[Spectrogram, AnomalyResult]]:
        cache: dict = {}  # models on the same front end share the spectrogram
        out = []
        for e in entries:
            r, _power, display, _dt = score_clip(e.model, path, channel=e.model.info.get("channel"),
                                                 cache=cache)
            out.append((display, r))
        return out

    def _remember(self, path: Path, out) -> None:
        self.cache[path] = out
        self.cache.move_to_end(path)
        while len(self.cache) > MAX_CACHED_CLIPS:
            self.cache.popitem(last=False)

    def _show(self, seq: int, path: Path, entries: list[Entry], out) -> None:
        if seq != self._seq or entries != self.entries:
            return
        self._remember(path, out)
        self.summaries[path] = [(r.clip_score, peak(e.model, r)) for e, (_d, r) in zip(entries, out, strict=True)]
        side = load_sidecar(path)
        boxes = side.boxes
        self.view.link_frequency(same_rows([d.freqs for d, _r in out]))
        self.clip_metrics, self.clip_flagged = [], []
        for pane, e, (display, r) in zip(self.view.panes, entries, out, strict=True):
            cal = e.model.calibration
            heat = cal.calibrated(r.map) if cal is not None else M.minmax01(r.map).astype(np.float32)
            flagged = e.model.flagged(r)
            verdict = (f"flagged ({len(flagged)} region{'s' if len(flagged) > 1 else ''})"
                       if flagged else "normal")
            title = (f"<b>{e.name}</b> &nbsp; peak {peak(e.model, r):.2f}× threshold: {verdict}"
                     f" &nbsp; <span style='color:#909090'>(raw clip score "
                     f"{r.clip_score:#.3g})</span>")
            pane.show(display, heat, title, boxes, flagged,
                      calibrate=(lambda v, c=cal: float(c.calibrated([[v]])[0, 0])) if cal else None)
            self.clip_flagged.append(len(flagged))
            self.clip_metrics.append(M.box_truth_metrics(
                [(r.map, r.times, r.freqs, boxes, [f.box for f in flagged])]))
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
            summ, items, scores = {}, [[] for _ in entries], [[] for _ in entries]
            for i, p in enumerate(paths):
                out = cached.get(p) or self._score(p, entries)
                truth = load_sidecar(p).boxes
                summ[p] = [(r.clip_score, peak(e.model, r)) for e, (_d, r) in zip(entries, out, strict=True)]
                for k, (e, (_d, r)) in enumerate(zip(entries, out, strict=True)):
                    items[k].append((r.map, r.times, r.freqs, truth, [f.box for f in e.model.flagged(r)]))
                    scores[k].append(r.clip_score)
                progress(i + 1, len(paths))
            known = [j for j, p in enumerate(paths) if labels.get(p) is not None]
            ds = []
            for k in range(len(entries)):
                d = M.box_truth_metrics(items[k])
                try:
                    d["clip_auroc"] = M.roc_auc([scores[k][j] for j in known],
                                                [labels[paths[j]] for j in known])
                except SpecviewError:
                    d["clip_auroc"] = None
                ds.append(d)
            return summ, ds

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
    # the peak in × flag threshold first: the same unit for every model; the raw clip score
    # (each method's own scale, not comparable across methods) last
    COLUMNS = (("peak ×thr", None), ("flagged", None),
               ("spec. AUROC", "spectrogram_auroc"), ("AU-PRO", "aupro"),
               ("flag P", "box_precision"), ("flag R", "box_recall"), ("raw clip score", None))
    DATA_COLUMNS = (("data clip AUROC", "clip_auroc"), ("data spec. AUROC", "spectrogram_auroc"),
                    ("data AU-PRO", "aupro"), ("data flag P", "box_precision"),
                    ("data flag R", "box_recall"))

    def rows(self) -> list[dict]:
        """The numbers shown for the clip on screen (and the dataset), one dict per model."""
        out = []
        path = self.state.clip_path
        summ = self.summaries.get(path) if path is not None else None
        for k, e in enumerate(self.entries):
            row = {"model": e.name, "method": e.model.method, "encoder": e.model.encoder.name,
                   "file": str(e.path or ""), "clip": str(path or "")}
            if summ:
                row["raw clip score"], row["peak ×thr"] = summ[k]
            if k < len(self.clip_metrics):
                cm = self.clip_metrics[k]
                row["flagged"] = self.clip_flagged[k]
                for name, key in self.COLUMNS:
                    if key is not None:
                        row[name] = cm.get(key)
            if self.dataset_metrics is not None:
                for name, key in self.DATA_COLUMNS:
                    row[name] = self.dataset_metrics[k].get(key)
            out.append(row)
        return out

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
        rows = self.rows()
        keys: list[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        file = Path(file)
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=keys)
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else ("" if v is None else v))
                        for k, v in r.items()})
        atomic_write_text(file, buf.getvalue(), newline="")  # the previous file kept on failure
        return file

    def export_png(self, file: str | Path, *, dpi: int = 200) -> Path:
        """The clip under every model as a figure (matplotlib; seconds and Hz on the axes)."""
        from specview import report
        from specview.datasets import TestClip
        from specview.evaluation import ClipEval

        path = self.state.clip_path
        if path is None or path not in self.cache:
            raise SpecviewError("nothing to export: no clip is shown")
        boxes = load_sidecar(path).boxes
        evals, models = [], []
        for e, (display, r) in zip(self.entries, self.cache[path], strict=True):
            ce = ClipEval(TestClip(path, None), r, display, 0.0, boxes=boxes,
                          flagged=e.model.flagged(r))
            evals.append(ce)
            models.append(e)
        report.panes_figure(Path(file), evals, [e.name for e in models],
                            [e.model for e in models], dpi=dpi)
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
