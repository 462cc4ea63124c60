"""The clip list beside the view: a dataset's train/ and test/ clips, or a folder's files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from specview.gui.state import AppState

PATH_ROLE = Qt.ItemDataRole.UserRole
SCORE_ROLE = Qt.ItemDataRole.UserRole + 1
LABELS = {1: ("anomaly", "#ff6b6b"), 0: ("normal", "#7bd88f"), None: ("", "")}
COL_NAME, COL_LABEL, COL_SCORE = 0, 1, 2


class ClipItem(QTreeWidgetItem):
    """Sorts the score column as numbers (unscored last) and group rows by name."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        col = self.treeWidget().sortColumn() if self.treeWidget() else COL_NAME
        if col == COL_SCORE and self.parent() is not None:
            a, b = self.data(COL_SCORE, SCORE_ROLE), other.data(COL_SCORE, SCORE_ROLE)
            a = float("-inf") if a is None else a
            b = float("-inf") if b is None else b
            return a < b
        if self.parent() is None:  # groups by name ("test" before "train") whatever the column
            return self.text(COL_NAME) < other.text(COL_NAME)
        return self.text(col) < other.text(col)


class FilePanel(QWidget):
    """Lists the open dataset; selecting a clip asks for it to be shown.

    Signals
    -------
    clip_requested(Path)
    score_all_requested()
    """

    clip_requested = Signal(object)
    score_all_requested = Signal()

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.title = QLabel("No folder open.\nFile ▸ Open folder/dataset… or drop a folder here.")
        self.title.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Clip", "Label", "Score"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # keep the telling suffix
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(COL_NAME, Qt.SortOrder.AscendingOrder)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_LABEL, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_SCORE, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.setToolTip("Test clips are labelled from their names (DCASE convention); the "
                             "score appears once a clip has been scored with the loaded model.")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.title)
        lay.addWidget(self.tree)
        self.score_button = QPushButton("Score all test clips")
        self.score_button.setToolTip("Score every clip with the loaded model, in the background; "
                                     "click the Score header to rank them")
        self.score_button.setEnabled(False)
        self.score_button.clicked.connect(self.score_all_requested)
        lay.addWidget(self.score_button)
        self._items: dict[Path, QTreeWidgetItem] = {}

        self.tree.currentItemChanged.connect(self._on_current_changed)
        state.dataset_opened.connect(self._rebuild)
        state.clip_loaded.connect(self._select)
        state.scores_changed.connect(self._show_scores)
        state.model_changed.connect(self._update_button)

    def _rebuild(self) -> None:
        self.tree.blockSignals(True)
        self.tree.clear()
        self._items.clear()
        ds = self.state.dataset
        if ds is None:
            self.tree.blockSignals(False)
            return
        self.title.setText(f"<b>{ds.root.name}</b><br><small>{ds.root}</small>")
        self.title.setToolTip(str(ds.root))
        plain = not ds.train and all(c.label is None for c in ds.test)
        if ds.train:
            group = self._group(f"train ({len(ds.train)}, normal only)")
            for p in ds.train:
                self._add(group, p, "train", "#9aa0a6")
            group.setExpanded(False)  # test clips are what one inspects; train is for reference
        if ds.test:
            group = self._group(ds.root.name if plain else f"test ({len(ds.test)})")
            for clip in ds.test:
                text, colour = LABELS.get(clip.label, ("", ""))
                item = self._add(group, clip.path, text, colour)
                if clip.boxes_path is not None:
                    item.setToolTip(COL_LABEL, "ground-truth box(es) drawn on the spectrogram")
            group.setExpanded(True)
        self.tree.blockSignals(False)
        self._show_scores()
        self._update_button()
        if self.state.clip_path is not None:
            self._select(self.state.clip_path)

    def _group(self, text: str) -> QTreeWidgetItem:
        item = ClipItem(self.tree, [text])
        item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
        f = item.font(0)
        f.setBold(True)
        item.setFont(0, f)
        item.setFirstColumnSpanned(True)
        return item

    def _add(self, group: QTreeWidgetItem, path: Path, label: str, colour: str) -> ClipItem:
        item = ClipItem(group, [path.name, label, ""])
        item.setData(COL_NAME, PATH_ROLE, path)
        item.setToolTip(COL_NAME, str(path))
        if colour:
            item.setForeground(COL_LABEL, QBrush(QColor(colour)))
        item.setTextAlignment(COL_SCORE, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._items[path] = item
        return item

    def _on_current_changed(self, item: QTreeWidgetItem | None, _prev=None) -> None:
        path = item.data(COL_NAME, PATH_ROLE) if item is not None else None
        if path is not None:
            self.clip_requested.emit(path)

    def _select(self, path) -> None:
        """Mark the clip on screen, or nothing when it is not in the list (opened alone)."""
        item = self._items.get(Path(path)) if path is not None else None
        if self.tree.currentItem() is item:
            return
        self.tree.blockSignals(True)
        self.tree.setCurrentItem(item)
        if item is None:
            self.tree.clearSelection()
        else:
            self.tree.scrollToItem(item)
        self.tree.blockSignals(False)

    def _show_scores(self) -> None:
        for path, item in self._items.items():
            sc = self.state.scores.get(path)
            text = ""
            if sc is not None:
                text = sc.text() + (" ⚑" if sc.n_flagged else "")
            item.setText(COL_SCORE, text)
            item.setData(COL_SCORE, SCORE_ROLE, sc.sort_key if sc else None)
            item.setToolTip(COL_SCORE, "" if sc is None else (
                f"peak {sc.peak:.2f}× flag threshold, {sc.verdict}; raw clip score "
                f"{sc.clip_score:#.3g}" if sc.peak is not None else
                f"raw clip score {sc.clip_score:#.3g} (the model has no calibration)"))

    def _update_button(self) -> None:
        ds = self.state.dataset
        self.score_button.setEnabled(self.state.model is not None and ds is not None
                                     and bool(ds.test))

    def select_path(self, path: Path) -> bool:
        """Make ``path`` the current item (which requests it); False if it is not listed."""
        item = self._items.get(Path(path))
        if item is None:
            return False
        self.tree.setCurrentItem(item)
        return True

    def paths(self) -> list[Path]:
        return list(self._items)
