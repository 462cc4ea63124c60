"""What the comparison window's buttons do: add, load, fit and remove models; export the
figure and the numbers. A mixin of :class:`~specview.gui.compare_window.CompareWindow`, which
provides ``entries``, ``state``, ``runner``, ``device``, ``cache``, ``error``, ``rows()`` and
``_models_changed()``; the work itself is :mod:`specview.pipeline`'s, :mod:`specview.report`'s
and :func:`specview.results.write_rows`'.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from specview import pipeline
from specview import sidebyside as S
from specview.annotations import load_sidecar
from specview.errors import SpecviewError
from specview.gui.workers import Job
from specview.results import write_rows
from specview.sidebyside import Entry

MAX_PANES = 4


class CompareActions:
    """Model and export actions of the comparison window (see the module notes)."""

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

    # -- exports ------------------------------------------------------------------------
    def export_csv(self, file: str | Path) -> Path:
        write_rows(file, self.rows())  # atomic: the previous file kept on failure
        return Path(file)

    def export_png(self, file: str | Path, *, dpi: int = 200) -> Path:
        """The clip under every model as a figure (matplotlib; seconds and Hz on the axes)."""
        from specview import report

        path = self.state.clip_path
        if path is None or path not in self.cache:
            raise SpecviewError("nothing to export: no clip is shown")
        evals = S.clip_results(path, self.entries, self.cache[path],
                                boxes=load_sidecar(path).boxes)
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
