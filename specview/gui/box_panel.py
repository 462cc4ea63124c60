"""The box table beside the view: exact times and frequencies, labels, flagged regions.

The panel shows :class:`AppState`'s boxes and pending flagged regions and reports what the user
asks for; the :class:`~specview.gui.annotator.Annotator` turns that into undoable edits.
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from specview import measure as M
from specview.gui.freq_scale import format_hz
from specview.gui.measurements import CHOICES, SHORT
from specview.gui.state import AppState

COLUMNS = ("Label", "Begin (s)", "End (s)", "Low (Hz)", "High (Hz)")
#: Rows each table shows at the least (more when there is room); the label column's least width.
BOX_ROWS_MIN, FLAG_ROWS_MIN, LABEL_WIDTH = 3, 2, 90


class _StretchWithFloor(QObject):
    """Columns as wide as their header and values; one column takes the rest of the width but
    never gets narrower than a floor: when the others leave less, it keeps the floor and the
    table scrolls sideways instead.

    Parameters
    ----------
    table : QTableWidget
        Becomes the parent.
    column : int
        The stretching column.
    floor : int or None
        Its least width in pixels; None: its header's and values' width.
    """

    def __init__(self, table: QTableWidget, column: int, floor: int | None) -> None:
        super().__init__(table)
        self.table, self.column, self.floor = table, column, floor
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(False)
        table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        table.viewport().installEventFilter(self)  # its width changes with the scroll bar
        header.sectionResized.connect(lambda c, _old, _new: c != self.column and self.update())
        table.model().columnsInserted.connect(self.update)
        table.model().columnsRemoved.connect(self.update)
        self.update()

    def least(self) -> int:
        """The stretching column's floor now (at least its header's width)."""
        hint = self.table.horizontalHeader().sectionSizeHint(self.column)
        if self.floor is None:
            return max(hint, self.table.sizeHintForColumn(self.column))
        return max(hint, self.floor)

    def update(self) -> None:
        """Stretch the column, or pin it at its floor where the room is too small."""
        header = self.table.horizontalHeader()
        if self.column >= header.count():
            return
        others = sum(header.sectionSize(c) for c in range(header.count()) if c != self.column)
        floor = self.least()
        stretch = self.table.viewport().width() - others >= floor
        mode = QHeaderView.ResizeMode.Stretch if stretch else QHeaderView.ResizeMode.Interactive
        if header.sectionResizeMode(self.column) != mode:
            header.setSectionResizeMode(self.column, mode)
        if not stretch and header.sectionSize(self.column) != floor:
            header.resizeSection(self.column, floor)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Resize:
            self.update()
        return False


def column_header(name: str) -> str:
    """A numeric column's header: the unit under the name, so that the column is about as wide
    as its numbers (a box with five measurements fits a laptop's dock)."""
    return name.replace(" (", "\n(", 1)


def _min_rows(table: QTableWidget, rows: int) -> None:
    """Never shorter than its header and ``rows`` rows."""
    height = (table.horizontalHeader().sizeHint().height()
              + rows * table.verticalHeader().defaultSectionSize() + 2 * table.frameWidth())
    table.setMinimumHeight(height)


def _table_width(table: QTableWidget, stretch_width: int, stretch: int) -> int:
    """Width showing every column of ``table`` whole, with ``stretch_width`` for the stretching
    column and room for a vertical scroll bar."""
    header = table.horizontalHeader()
    total = 0
    for c in range(table.columnCount()):
        need = max(header.sectionSizeHint(c), table.sizeHintForColumn(c))
        total += max(need, stretch_width) if c == stretch else need
    return total + table.verticalScrollBar().sizeHint().width() + 2 * table.frameWidth()


def _num(v: float, digits: int) -> QTableWidgetItem:
    item = QTableWidgetItem(f"{v:.{digits}f}")
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


class BoxPanel(QWidget):
    """Boxes of the clip on screen and the model's flagged regions.

    Signals
    -------
    box_selected(int)
    box_edited(int, object)
        A table edit: the row's new :class:`Box` (not yet clamped).
    label_chosen(str)
        The label for new boxes changed.
    label_column_chosen(str)
        The user picked the Raven column labels come from (``""``: none).
    delete_requested()
    flagged_selected(int)
    accept_requested(int), dismiss_requested(int)
    tool_toggled(bool)
    import_requested(), export_requested()
    measurements_chosen(list)
        The measurement columns shown (keys of :data:`specview.measure.COLUMNS`) changed.
    """

    box_selected = Signal(int)
    box_edited = Signal(int, object)
    label_chosen = Signal(str)
    label_column_chosen = Signal(str)
    delete_requested = Signal()
    flagged_selected = Signal(int)
    accept_requested = Signal(int)
    dismiss_requested = Signal(int)
    tool_toggled = Signal(bool)
    import_requested = Signal()
    export_requested = Signal()
    measurements_chosen = Signal(list)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self._filling = False
        #: measurement columns shown, after the table's own (right-click the header to choose)
        self.measure_keys: list[str] = list(M.DEFAULT_SHOWN)
        #: where measurements come from (:class:`~specview.gui.measurements.Measurer`)
        self.measurer = None

        self.tool_button = QPushButton("Box tool (B)")
        self.tool_button.setCheckable(True)
        self.tool_button.setToolTip("Drag on the spectrogram to draw a time-frequency box")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected box (Del)")
        self.label_combo = QComboBox()
        self.label_combo.setEditable(True)
        self.label_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.label_combo.setToolTip("The label new boxes get (drawn, or accepted from a flagged "
                                    "region); recent labels offered, type any text. Empty: new "
                                    "boxes are unlabelled. Relabel a box in its Label cell.")
        self.label_combo.lineEdit().setPlaceholderText("(none: new boxes unlabelled)")
        self.column_combo = QComboBox()
        self.column_combo.setToolTip(
            "The column of the clip's Raven table that holds the labels (Annotation, Species, "
            "Class, … by default); the table's other annotation columns are shown as columns")
        self._extra_columns: list[str] = []

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([column_header(c) for c in COLUMNS])
        # the label takes what the numbers leave, never less than LABEL_WIDTH
        self._label_column = _StretchWithFloor(self.table, 0, LABEL_WIDTH)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._measure_menu)
        header.setToolTip("Right-click to choose the measurement columns")

        self.flag_table = QTableWidget(0, 4)
        self.flag_table.setHorizontalHeaderLabels(("× threshold", "Begin (s)", "End (s)", "Band"))
        self._band_column = _StretchWithFloor(self.flag_table, 3, None)
        self.flag_table.verticalHeader().setVisible(False)
        self.flag_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.flag_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.flag_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.accept_button = QPushButton("Accept (A)")
        self.accept_button.setToolTip("Make the selected flagged region a ground-truth box")
        self.dismiss_button = QPushButton("Dismiss (X)")
        self.dismiss_button.setToolTip("Hide the selected flagged region for this clip")

        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip("Replace the boxes by those of a Raven, Audacity or JSON file")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Write the boxes as Raven, Audacity labels or JSON")
        self.save_label = QLabel("")
        self.save_label.setWordWrap(True)
        self.save_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        boxes = QGroupBox("Ground-truth boxes")
        lay = QVBoxLayout(boxes)
        row = QHBoxLayout()
        row.addWidget(self.tool_button)
        row.addWidget(self.delete_button)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Label for new boxes:"))
        row.addWidget(self.label_combo, 1)
        lay.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(QLabel("Label column:"))
        row.addWidget(self.column_combo, 1)
        lay.addLayout(row)
        lay.addWidget(self.table, 3)
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addWidget(self.export_button)
        lay.addLayout(row)
        lay.addWidget(self.save_label)
        flags = QGroupBox("Flagged regions (model)")
        lay2 = QVBoxLayout(flags)
        lay2.addWidget(self.flag_table, 2)
        row = QHBoxLayout()
        row.addWidget(self.accept_button)
        row.addWidget(self.dismiss_button)
        lay2.addLayout(row)
        # the two tables share the height (3:2, the user may move the divide); neither gets
        # shorter than a few rows, below which the dock scrolls the panel instead
        _min_rows(self.table, BOX_ROWS_MIN)
        _min_rows(self.flag_table, FLAG_ROWS_MIN)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(boxes)
        self.splitter.addWidget(flags)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(self.splitter)

        self.tool_button.toggled.connect(self.tool_toggled)
        self.delete_button.clicked.connect(self.delete_requested)
        self.import_button.clicked.connect(self.import_requested)
        self.export_button.clicked.connect(self.export_requested)
        self.label_combo.lineEdit().editingFinished.connect(
            lambda: self.label_chosen.emit(self.label_combo.currentText().strip()))
        self.label_combo.activated.connect(
            lambda _i: self.label_chosen.emit(self.label_combo.currentText().strip()))
        self.column_combo.activated.connect(
            lambda _i: self.label_column_chosen.emit(self.column_combo.currentData() or ""))
        self.table.itemSelectionChanged.connect(self._on_table_selection)
        self.table.itemChanged.connect(self._on_item_changed)
        self.flag_table.itemSelectionChanged.connect(self._on_flag_selection)
        self.accept_button.clicked.connect(
            lambda: self.selected_flagged() is not None
            and self.accept_requested.emit(self.selected_flagged()))
        self.dismiss_button.clicked.connect(
            lambda: self.selected_flagged() is not None
            and self.dismiss_requested.emit(self.selected_flagged()))
        state.clip_loaded.connect(self.refresh)
        state.results_changed.connect(self.refresh)
        state.boxes_changed.connect(self.refresh)
        state.selected_changed.connect(self._show_selection)
        state.selected_region_changed.connect(self._show_region)
        self.refresh()

    def preferred_width(self) -> int:
        """The panel's width that shows both tables' columns whole (the label column at least
        :data:`LABEL_WIDTH` wide), for the dock it sits in.

        Returns
        -------
        int
            Pixels, margins included.
        """
        tables = max(_table_width(self.table, LABEL_WIDTH, 0),
                     _table_width(self.flag_table, 0, 3))
        m = self.layout().contentsMargins()
        group = self.splitter.widget(0)
        gm = group.layout().contentsMargins()
        return tables + m.left() + m.right() + gm.left() + gm.right() + 2 * group.style().pixelMetric(
            group.style().PixelMetric.PM_DefaultFrameWidth)

    # -- state -> panel ---------------------------------------------------------------------
    def refresh(self, *_args) -> None:
        st = self.state
        self._filling = True
        try:
            self._fill_columns()
            top = float(st.display.freqs[-1]) if st.display is not None else None
            with QSignalBlocker(self.table):
                self.table.setRowCount(len(st.boxes))
                for i, b in enumerate(st.boxes):
                    self.table.setItem(i, 0, QTableWidgetItem(b.label))
                    for c, (v, d) in enumerate(((b.t0, 3), (b.t1, 3), (b.f0, 1), (b.f1, 1)), 1):
                        item = _num(v, d)
                        item.setToolTip(repr(float(v)))  # the exact value held
                        self.table.setItem(i, c, item)
                    if top is not None and b.f1 > top:
                        self.table.item(i, 4).setToolTip(
                            f"{b.f1!r} Hz: above the analysed band (up to {top:.0f} Hz); kept "
                            "as drawn")
                    for c, name in enumerate(self._extra_columns, len(COLUMNS)):
                        self.table.setItem(i, c, QTableWidgetItem(b.extra.get(name, "")))
                self._fill_measurements()
            with QSignalBlocker(self.flag_table):
                self.flag_table.setRowCount(len(st.flagged))
                cal = st.calibration
                for k, r in enumerate(st.flagged):
                    z = float(cal.calibrated([[r.score]])[0, 0]) if cal is not None else r.score
                    self.flag_table.setItem(k, 0, _num(z, 2))
                    self.flag_table.setItem(k, 1, _num(r.box.t0, 3))
                    self.flag_table.setItem(k, 2, _num(r.box.t1, 3))
                    self.flag_table.setItem(
                        k, 3, QTableWidgetItem(f"{format_hz(r.box.f0)}–{format_hz(r.box.f1)}"))
        finally:
            self._filling = False
        editable = st.boxes_editable and st.display is not None
        for w in (self.tool_button, self.delete_button, self.import_button, self.table):
            w.setEnabled(editable)
        self.export_button.setEnabled(st.display is not None)
        self.accept_button.setEnabled(editable and bool(st.flagged))
        self.dismiss_button.setEnabled(bool(st.flagged))
        self._show_selection()
        self._show_region()

    def _show_selection(self) -> None:
        sel = self.state.selected
        with QSignalBlocker(self.table):
            self.table.clearSelection()
            if sel is not None and sel < self.table.rowCount():
                self.table.selectRow(sel)
                self.table.scrollToItem(self.table.item(sel, 0))

    def set_recent_labels(self, labels: list[str]) -> None:
        text = self.label_combo.currentText()
        with QSignalBlocker(self.label_combo):
            self.label_combo.clear()
            self.label_combo.addItems(labels)
            self.label_combo.setEditText(text)

    def current_label(self) -> str:
        return self.label_combo.currentText().strip()

    def selected_flagged(self) -> int | None:
        """The flagged region the buttons act on (:meth:`AppState.region_in_focus`)."""
        return self.state.region_in_focus()

    def select_flagged(self, k: int) -> None:
        if 0 <= k < self.flag_table.rowCount():
            self.flag_table.selectRow(k)

    def _show_region(self) -> None:
        k = self.state.selected_region
        with QSignalBlocker(self.flag_table):
            self.flag_table.clearSelection()
            if k is not None and k < self.flag_table.rowCount():
                self.flag_table.selectRow(k)

    # -- panel -> annotator -----------------------------------------------------------------
    def _on_table_selection(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.box_selected.emit(rows[0].row())

    def _on_flag_selection(self) -> None:
        rows = self.flag_table.selectionModel().selectedRows()
        self.state.select_region(rows[0].row() if rows else None)
        if rows:
            self.flagged_selected.emit(rows[0].row())

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling:
            return
        i = item.row()
        if not 0 <= i < len(self.state.boxes):
            return
        old = self.state.boxes[i]
        col, text = item.column(), item.text()
        # only the edited cell changes: the others show rounded values, the box keeps exact ones
        if col == 0:
            new = replace(old, label=text.strip())
        elif 1 <= col <= 4:
            try:
                v = float(text)
            except ValueError:
                self.refresh()  # not a number: show the box as it was (rebuilds the items)
                self.save_label.setText(f"“{text}” is not a number; the box is unchanged.")
                return
            new = replace(old, **{("t0", "t1", "f0", "f1")[col - 1]: v})
        elif col - len(COLUMNS) < len(self._extra_columns):
            name = self._extra_columns[col - len(COLUMNS)]
            new = replace(old, extra={**old.extra, name: text})
        else:
            return  # a measurement: not editable
        if new != old or new.extra != old.extra:
            self.box_edited.emit(i, new)

    def _fill_columns(self) -> None:
        """The label-column chooser and the table's extra annotation columns."""
        side = self.state.sidecar
        cands = list(side.label_columns) if side is not None else []
        current = side.label_column if side is not None else None
        with QSignalBlocker(self.column_combo):
            self.column_combo.clear()
            self.column_combo.addItem("(none)", "")
            for c in cands:
                self.column_combo.addItem(c, c)
            self.column_combo.setCurrentIndex(max(0, self.column_combo.findData(current or "")))
        self.column_combo.setEnabled(bool(cands))
        extra = [c for c in cands if c != current]
        heads = [*map(column_header, COLUMNS), *extra,
                 *(column_header(SHORT[k]) for k in self.measure_keys)]
        if extra != self._extra_columns or self.table.columnCount() != len(heads) or [
                self.table.horizontalHeaderItem(c).text() for c in range(len(heads))] != heads:
            self._extra_columns = extra
            self.table.setColumnCount(len(heads))
            self.table.setHorizontalHeaderLabels(heads)
            for c, k in enumerate(self.measure_keys, len(COLUMNS) + len(extra)):
                self.table.horizontalHeaderItem(c).setToolTip(
                    f"{M.COLUMNS[k]}: measured on the display spectrogram's FFT (right-click "
                    "to choose the columns); exported with the boxes to Raven tables")

    # -- measurements -------------------------------------------------------------------------
    def set_measurer(self, measurer) -> None:
        self.measurer = measurer
        measurer.measured.connect(self._fill_measurements)

    def set_measure_keys(self, keys) -> None:
        """Show these measurement columns (keys of :data:`specview.measure.COLUMNS`)."""
        keys = [k for k in CHOICES if k in set(keys)]
        if keys != self.measure_keys:
            self.measure_keys = keys
            self.refresh()

    def measurement_column(self, key: str) -> int | None:
        """The table column of measurement ``key``, or None when it is not shown."""
        if key not in self.measure_keys:
            return None
        return len(COLUMNS) + len(self._extra_columns) + self.measure_keys.index(key)

    def _fill_measurements(self) -> None:
        first = len(COLUMNS) + len(self._extra_columns)
        if self.table.columnCount() < first + len(self.measure_keys):
            return
        flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled
        with QSignalBlocker(self.table):
            for i, b in enumerate(self.state.boxes[:self.table.rowCount()]):
                v = self.measurer.values(b) if self.measurer is not None else None
                cells = M.raven_cells(v, self.measure_keys) if v is not None else {}
                for c, k in enumerate(self.measure_keys, first):
                    text = cells.get(M.COLUMNS[k], "")
                    item = QTableWidgetItem(text if v is not None else "…")
                    item.setFlags(flags)
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                    if v is None:
                        item.setToolTip("not measured (yet): a box outside the loaded span "
                                        "of a long recording is measured when it is shown")
                    self.table.setItem(i, c, item)

    def _measure_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addSection("Measurements shown")
        for k in CHOICES:
            act = menu.addAction(f"{SHORT[k]}  —  {M.COLUMNS[k]}")
            act.setCheckable(True)
            act.setChecked(k in self.measure_keys)
            act.toggled.connect(lambda on, k=k: self._toggle_measure(k, on))
        menu.addSeparator()
        menu.addAction("Default columns").triggered.connect(
            lambda: self._choose(list(M.DEFAULT_SHOWN)))
        self._menu = menu  # kept for tests
        menu.popup(self.table.horizontalHeader().mapToGlobal(pos))

    def _toggle_measure(self, key: str, on: bool) -> None:
        keys = set(self.measure_keys)
        keys = keys | {key} if on else keys - {key}
        self._choose([k for k in CHOICES if k in keys])

    def _choose(self, keys: list[str]) -> None:
        self.set_measure_keys(keys)
        self.measurements_chosen.emit(list(self.measure_keys))
