"""The comparison window's two side panels: the clip list (ranked by any model's calibrated
peak or by the models' disagreement) and the models' numbers with their buttons.

Both only show what :mod:`specview.sidebyside` computed; neither scores nor measures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from specview import sidebyside as S


class Num(QTableWidgetItem):
    """A table cell that sorts by number."""

    def __init__(self, v: float | None, digits: int = 3) -> None:
        super().__init__("–" if v is None or not np.isfinite(v) else f"{v:.{digits}f}")
        self.v = -np.inf if v is None or not np.isfinite(v) else float(v)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other):  # noqa: D105
        return self.v < getattr(other, "v", -np.inf)


class ClipTable(QTableWidget):
    """Clips with their label, each model's calibrated peak and the models' disagreement."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.horizontalHeader().setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        self.setSortingEnabled(True)

    def fill(self, rows: Sequence[tuple[Path, int | None]], names: Sequence[str],
             summaries: Mapping[Path, list[tuple[float, float]]]) -> None:
        """One row per ``(path, label)``; ``names`` of the models, ``summaries`` their
        ``(clip score, calibrated peak)`` per clip where scored. The sort order is kept."""
        n = len(names)
        heads = ["Clip", "Label"] + [f"{m} ×thr" for m in names] + (
            ["Disagreement"] if n > 1 else [])
        self.setSortingEnabled(False)
        self.clear()
        self.setColumnCount(len(heads))
        self.setHorizontalHeaderLabels(heads)
        self.setRowCount(len(rows))
        for i, (p, label) in enumerate(rows):
            item = QTableWidgetItem(p.name)
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.setItem(i, 0, item)
            self.setItem(i, 1, QTableWidgetItem({1: "anomaly", 0: "normal"}.get(label, "")))
            s = summaries.get(p)
            for k in range(n):
                self.setItem(i, 2 + k, Num(s[k][1] if s else None, 2))
            if n > 1:
                self.setItem(i, 2 + n, Num(S.disagreement([x[1] for x in s]) if s else None, 2))
        self.setSortingEnabled(True)
        header = self.horizontalHeader()
        if header.sortIndicatorSection() >= self.columnCount():
            header.setSortIndicator(0, Qt.SortOrder.AscendingOrder)
        self.sortItems(header.sortIndicatorSection(), header.sortIndicatorOrder())
        self.resizeColumnsToContents()

    def paths(self) -> list[Path]:
        """Clips in the list's current (sorted) order."""
        return [Path(self.item(i, 0).data(Qt.ItemDataRole.UserRole))
                for i in range(self.rowCount())]

    def select_path(self, path: Path) -> bool:
        """Select ``path``'s row; False when it is not listed."""
        for i, p in enumerate(self.paths()):
            if p == path:
                self.selectRow(i)
                return True
        return False

    def selected_path(self) -> Path | None:
        rows = self.selectionModel().selectedRows()
        return (Path(self.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))
                if rows else None)


class ModelsPanel(QWidget):
    """The models' numbers for the clip on screen (and the dataset), and the model buttons."""

    NOTE = ("Heatmaps share one scale: each model's scores calibrated on its own held-out "
            "normal clips (0 = typical normal, 1 = flag threshold).")

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.metrics = QTableWidget(0, 0)
        self.metrics.verticalHeader().setVisible(False)
        self.metrics.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.metrics.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.add_button = QPushButton("Add model…")
        self.remove_button = QPushButton("Remove last")
        self.fit_button = QPushButton("Fit model…")
        self.fit_button.setToolTip("Fit another method or encoder on the dataset's training "
                                   "clips (in the background) and add it as a pane")
        self.png_button = QPushButton("Export figure…")
        self.csv_button = QPushButton("Export numbers…")
        self.note = QLabel("")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
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

    def show_rows(self, rows: Sequence[Mapping], *, dataset: bool) -> None:
        """The rows of :func:`specview.sidebyside.table_rows`, in the columns of
        :data:`~specview.sidebyside.COLUMNS` (and :data:`~specview.sidebyside.DATA_COLUMNS`
        once the dataset is scored)."""
        heads = ["model"] + [c for c, _ in S.COLUMNS] + (
            [c for c, _ in S.DATA_COLUMNS] if dataset else [])
        self.metrics.clear()
        self.metrics.setColumnCount(len(heads))
        self.metrics.setHorizontalHeaderLabels(heads)
        self.metrics.setRowCount(len(rows))
        for i, r in enumerate(rows):
            self.metrics.setItem(i, 0, QTableWidgetItem(r["model"]))
            for j, h in enumerate(heads[1:], 1):
                v = r.get(h)
                self.metrics.setItem(i, j, QTableWidgetItem("–") if v is None else (
                    Num(v, 0) if h == "flagged" else Num(v, 3)))
        self.note.setText(self.NOTE)
