"""File ▸ Export view…: the view as a PNG, PDF or SVG figure, as ``specview render`` draws it.

What is on screen is taken in the GUI thread (the visible seconds and Hz, the display settings,
the heatmap in the colour bar's unit, the boxes and flagged regions shown); the figure is drawn
and written by :func:`specview.render.view_figure` and :func:`~specview.render.write_figure`
off the GUI thread.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from specview.errors import ParameterError, SpecviewError
from specview.gui.workers import Job
from specview.types import FlaggedRegion

FIGURE_FILTER = "PNG image (*.png);;PDF (*.pdf);;SVG (*.svg)"


def snapshot(window, size_px: tuple[int, int], dpi: int) -> tuple:
    """``(audio request, view_figure keyword arguments)`` of what the window shows."""
    st, view = window.state, window.view
    req = window.audio.request()
    if req is None:
        raise SpecviewError("nothing on screen to export: open a recording first")
    _t0, _t1, f0, f1 = view.visible_region()
    t0, t1 = view.visible_time_range()
    s = window.fine.settings
    if f0 is not None:
        s = replace(s, fmin=max(0.0, f0), fmax=f1)
    kw = {"settings": s, "span": (t0, t1), "size_px": size_px, "dpi": dpi,
          "title": st.clip_path.name + (f" - {st.model.method}" if st.model else "")}
    r, cal = st.result, view._calibration() if view.calibrated_shown() else None
    if r is not None and view.heat_item.isVisible() and view.heat_grid is not None:
        heat = np.asarray(view.heat_grid, dtype=np.float32)
        if cal is None:  # raw scores: drawn on the colour bar's range
            from specview.render import HEAT_MAX

            hi = float(view.colorbar.levels()[1]) or 1.0
            heat = heat / hi * HEAT_MAX
            kw["heat_label"] = f"anomaly score (0 - {hi:#.3g})"
        kw.update(heat=heat, heat_times=np.asarray(r.times), heat_freqs=np.asarray(r.freqs))
    if view.boxes_visible:
        kw["boxes"] = list(st.boxes)
        z = (lambda v: float(cal.calibrated([[v]])[0, 0])) if cal is not None else float
        kw["flagged"] = [FlaggedRegion(g.box, z(g.score), g.n_cells) for g in st.flagged]
    return req, kw


def write_view(audio, req, kw: dict, path: Path) -> Path:
    """Draw and write the figure (in a worker): the samples of the span and a window's
    length either side."""
    from specview.render import view_figure, write_figure

    samples, sr, a0 = audio.get(req)
    t0, t1 = kw["span"]
    pad = kw["settings"].n_fft / sr
    i0 = max(0, int((t0 - pad - a0) * sr))
    i1 = min(len(samples), int((t1 + pad - a0) * sr) + 1)
    if i1 - i0 < 2:
        raise ParameterError("the view holds no samples")
    fig = view_figure(samples[i0:i1], sr, start=a0 + i0 / sr, **kw)
    return write_figure(fig, path)


class ExportDialog(QDialog):
    """The figure's file and size."""

    def __init__(self, path: str, size: tuple[int, int], dpi: int,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export view")
        self.path = QLineEdit(path)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(browse)
        self.width_spin, self.height_spin, self.dpi_spin = QSpinBox(), QSpinBox(), QSpinBox()
        for spin, lo, hi, v in ((self.width_spin, 200, 20000, size[0]),
                                (self.height_spin, 150, 20000, size[1]),
                                (self.dpi_spin, 50, 1200, dpi)):
            spin.setRange(lo, hi)
            spin.setValue(int(v))
        self.width_spin.setSuffix(" px")
        self.height_spin.setSuffix(" px")
        self.dpi_spin.setSuffix(" dpi")
        form = QFormLayout(self)
        form.addRow("File (.png, .pdf, .svg)", row)
        form.addRow("Width", self.width_spin)
        form.addRow("Height", self.height_spin)
        form.addRow("Resolution", self.dpi_spin)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export view", self.path.text(),
                                              FIGURE_FILTER)
        if path:
            self.path.setText(path)

    def choice(self) -> tuple[Path, tuple[int, int], int]:
        return (Path(self.path.text()), (self.width_spin.value(), self.height_spin.value()),
                self.dpi_spin.value())


class ViewExporter(QObject):
    """Exports the window's view.

    Signals
    -------
    written(Path), failed(str)
    """

    written = Signal(object)
    failed = Signal(str)

    def __init__(self, window) -> None:
        super().__init__(window)
        self.window = window
        self.size, self.dpi = (1600, 900), 100

    def export(self, path: str | Path, size_px: tuple[int, int] | None = None,
               dpi: int | None = None) -> Job | None:
        """Write the view to ``path`` (its suffix: .png, .pdf or .svg) in the background."""
        from specview.render import FORMATS

        path = Path(path)
        size_px, dpi = size_px or self.size, dpi or self.dpi
        if path.suffix.lower() not in FORMATS:
            self.failed.emit(f"{path.name}: write the figure as {', '.join(FORMATS)}")
            return None
        try:
            req, kw = snapshot(self.window, (int(size_px[0]), int(size_px[1])), int(dpi))
        except SpecviewError as exc:
            self.failed.emit(str(exc))
            return None
        self.size, self.dpi = kw["size_px"], kw["dpi"]
        audio = self.window.audio
        job = Job(lambda _p: write_view(audio, req, kw, path), name="exporting the view",
                  cancellable=False, parent=self)
        job.succeeded.connect(self.written)
        job.failed.connect(lambda exc: self.failed.emit(f"cannot export the view: {exc}"))
        self.window.controller.runner.start(job)
        return job

    def dialog(self) -> None:
        st = self.window.state
        if st.clip_path is None:
            self.failed.emit("nothing on screen to export: open a recording first")
            return
        start = Path(self.window._last_dir("figure")) / f"{st.clip_path.stem}-view.png"
        dlg = ExportDialog(str(start), self.size, self.dpi, self.window)
        if dlg.exec() != QDialog.DialogCode.Accepted:
            return
        path, size, dpi = dlg.choice()
        self.window._remember_dir("figure", path)
        self.export(path, size, dpi)
