"""Annotation: turns drags, table edits and keys into undoable edits, saved after each one.

Rules live in the core (:func:`specview.annotations.clamp_box`); saving goes through
:func:`specview.annotations.save_sidecar`, which writes atomically and never overwrites a
sidecar it could not read. A clip whose sidecar is unreadable opens read-only until the user
chooses to keep that file aside and start a new one.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

from specview import annotations as A
from specview.errors import SpecviewError, SpecviewWarning
from specview.gui import commands as C
from specview.gui.box_panel import BoxPanel
from specview.gui.measurements import with_cells
from specview.gui.spectrogram_view import SpectrogramView
from specview.gui.state import AppState
from specview.types import Box

MAX_RECENT = 12
EXPORT_FILTERS = {
    "Raven selection table (*.txt)": "raven",
    "Audacity labels (*.txt)": "audacity",
    "JSON (*.json)": "json",
}


class Annotator(QObject):
    """Edits of the clip's ground-truth boxes.

    Signals
    -------
    saved(Path)
        The sidecar was written after an edit.
    save_failed(str)
        It could not be; the message says why (the edit stays in the window and the undo
        history, and the next edit tries again).
    message(str)
        A short status message.
    """

    saved = Signal(object)
    save_failed = Signal(str)
    message = Signal(str)

    def __init__(self, state: AppState, view: SpectrogramView, panel: BoxPanel,
                 settings: QSettings, parent: QWidget) -> None:
        super().__init__(parent)
        self.state, self.view, self.panel, self.settings = state, view, panel, settings
        self.window = parent
        self.ask_on_unreadable = True  # tests switch the dialog off and call the choices
        self.actions: dict[str, QAction] = {}
        #: N / P while a long recording is open: steps through its events across the whole
        #: file instead of the span's own boxes and regions (the window sets it)
        self.step_override = None
        view.box_drawn.connect(self.draw)
        view.box_changed.connect(self.edit)
        view.box_clicked.connect(state.select)
        view.flagged_clicked.connect(panel.select_flagged)
        panel.box_selected.connect(state.select)
        panel.box_edited.connect(lambda i, b: self.edit(i, b, "Edit box in table"))
        panel.label_chosen.connect(self._remember_label)
        panel.delete_requested.connect(self.delete_selected)
        panel.accept_requested.connect(self.accept)
        panel.dismiss_requested.connect(self.dismiss)
        panel.tool_toggled.connect(self._tool_toggled)
        panel.import_requested.connect(self.import_dialog)
        panel.label_column_chosen.connect(self.choose_label_column)
        panel.export_requested.connect(self.export_dialog)
        panel.flagged_selected.connect(self._zoom_flagged)
        state.boxes_changed.connect(self.save)
        self.saved.connect(lambda p: panel.save_label.setText(f"Saved to {p.name}"))
        self.save_failed.connect(lambda m: panel.save_label.setText(f"Not saved: {m}"))
        state.clip_loaded.connect(lambda _p: panel.save_label.setText(
            "" if state.boxes_editable else "The sidecar could not be read; boxes are read-only"))
        panel.set_recent_labels(self.recent_labels())

    # -- helpers ----------------------------------------------------------------------------
    def _limits(self) -> tuple[float, float] | None:
        """Recording length and the recording's own Nyquist frequency (never the display grid's
        top: a box above the analysed band is the user's and stays as drawn). A long
        recording's length is the whole file's, not the span's: boxes are in its seconds."""
        d = self.state.display
        if d is None:
            return None
        duration = self.state.duration
        if self.state.sample_rate:
            nyq = self.state.sample_rate / 2
        else:
            nyq = float(d.freqs[-1] + (d.freqs[-1] - d.freqs[-2])) if len(d.freqs) > 1 else 1e9
        return float(duration), float(nyq)

    def _clamp(self, box: Box) -> Box | None:
        lim = self._limits()
        if lim is None:
            return None
        try:
            return A.clamp_box(box, duration=lim[0], nyquist=lim[1])
        except SpecviewError as exc:
            self.message.emit(str(exc))
            return None

    def _can_edit(self) -> bool:
        if self.state.display is None:
            return False
        if not self.state.boxes_editable:
            self.message.emit("Boxes are read-only: the clip's sidecar could not be read")
            return False
        return True

    def recent_labels(self) -> list[str]:
        v = self.settings.value("annotate/recent_labels", [])
        labels = [v] if isinstance(v, str) else list(v or [])
        return [str(x) for x in labels if str(x)]

    def _remember_label(self, label: str) -> None:
        if not label:
            return
        labels = [label] + [x for x in self.recent_labels() if x != label]
        self.settings.setValue("annotate/recent_labels", labels[:MAX_RECENT])
        self.panel.set_recent_labels(labels[:MAX_RECENT])

    def _push(self, cmd: C.EditCommand) -> None:
        self.state.undo_stack.push(cmd)

    # -- edits --------------------------------------------------------------------------------
    def draw(self, box: Box) -> None:
        if not self._can_edit():
            return
        label = self.panel.current_label()  # what the field shows; empty: an unlabelled box
        clamped = self._clamp(Box(box.t0, box.t1, box.f0, box.f1, label))
        if clamped is not None:
            self._remember_label(label)
            self._push(C.add_box(self.state, clamped))
            if not label:
                self.message.emit("New box has no label: type one in “Label for new boxes”, "
                                  "or edit the box's Label cell")

    def edit(self, index: int, box: Box, text: str = "Move/resize box") -> None:
        if not self._can_edit() or not 0 <= index < len(self.state.boxes):
            return
        old = self.state.boxes[index]  # the edited box keeps its row(s) of the user's table
        box = replace(old, t0=box.t0, t1=box.t1, f0=box.f0, f1=box.f1, label=box.label,
                      extra=box.extra if box.extra or box.source is not None else old.extra)
        clamped = self._clamp(box)
        if clamped is None or (clamped == old and clamped.extra == old.extra):
            self.view.refresh_boxes()  # snap the item back to the stored box
            return
        self._push(C.replace_box(self.state, index, clamped, text))

    def delete_selected(self) -> None:
        i = self.state.selected
        if i is not None and self._can_edit():
            self._push(C.delete_box(self.state, i))

    def accept(self, k: int | None = None) -> None:
        if k is None:
            k = self.panel.selected_flagged()
        if k is None or not 0 <= k < len(self.state.flagged) or not self._can_edit():
            return
        r = self.state.flagged[k].box
        label = self.panel.current_label()
        clamped = self._clamp(Box(r.t0, r.t1, r.f0, r.f1, label))
        if clamped is not None:
            self._push(C.accept_flagged(self.state, k, clamped))

    def dismiss(self, k: int | None = None) -> None:
        if k is None:
            k = self.panel.selected_flagged()
        if k is not None and 0 <= k < len(self.state.flagged):
            self._push(C.dismiss_flagged(self.state, k))

    def step(self, direction: int) -> None:
        """Select the next (+1) or previous (-1) box or flagged region in time; zoom to it."""
        if self.step_override is not None and self.state.long is not None:
            self.step_override(direction)
            return
        items = [(b.t0, "box", i, b) for i, b in enumerate(self.state.boxes)]
        items += [(r.box.t0, "flag", k, r.box) for k, r in enumerate(self.state.flagged)]
        if not items:
            return
        items.sort(key=lambda x: (x[0], x[1]))
        cur = getattr(self, "_cursor", None)
        pos = next((n for n, it in enumerate(items) if (it[1], it[2]) == cur), None)
        pos = 0 if pos is None and direction > 0 else (
            len(items) - 1 if pos is None else (pos + direction) % len(items))
        _, kind, idx, box = items[pos]
        self._cursor = (kind, idx)
        if kind == "box":
            self.state.select(idx)
        else:
            self.panel.select_flagged(idx)
        self.view.zoom_to(box)

    def _zoom_flagged(self, k: int) -> None:
        if 0 <= k < len(self.state.flagged):
            self._cursor = ("flag", k)

    def _tool_toggled(self, on: bool) -> None:
        self.view.set_draw_mode(on)
        act = self.actions.get("box_tool")
        if act is not None and act.isChecked() != on:
            act.setChecked(on)

    # -- saving -------------------------------------------------------------------------------
    def save(self) -> None:
        path = self.state.clip_path
        if path is None or not self.state.boxes_editable:
            return
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", SpecviewWarning)
                out = A.save_sidecar(path, self.state.boxes, label_column=self._label_column())
        except (SpecviewError, OSError) as exc:
            self.save_failed.emit(str(exc))
            return
        self.saved.emit(out)
        for w in caught:  # e.g. a Windows-1252 table switched to UTF-8 for a new label
            self.message.emit(str(w.message))

    def _label_column(self) -> str | None:
        side = self.state.sidecar
        return side.label_column if side is not None and side.label_column else None

    def sidecar_unreadable(self, path: Path, message: str) -> None:
        """The clip's sidecar could not be read: it stays untouched and the boxes read-only
        unless the user keeps it aside and starts a new one."""
        side = A.sidecar_path(path)
        self.panel.save_label.setText(f"{side.name} could not be read; boxes are read-only")
        if not self.ask_on_unreadable:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Ground-truth boxes cannot be read",
                          f"{message}\n\nThe file is kept untouched; boxes of this clip are "
                          "read-only. Keep the file aside (renamed) and start a new one?",
                          QMessageBox.StandardButton.NoButton, self.window)
        aside = box.addButton("Keep it aside, start new", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("View read-only", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is aside:
            self.keep_aside_and_start()

    def keep_aside_and_start(self) -> Path | None:
        path = self.state.clip_path
        if path is None:
            return None
        side = A.sidecar_path(path)
        try:
            moved = A.keep_aside(side) if side.exists() else None
        except (SpecviewError, OSError) as exc:
            self.save_failed.emit(str(exc))
            return None
        self.state.boxes_editable = True
        self.state.set_annotations([], None, None)  # saves the empty table
        if moved is not None:
            self.message.emit(f"The unreadable file was kept as {moved.name}")
        return moved

    # -- import / export ----------------------------------------------------------------------
    def import_file(self, file: str | Path) -> bool:
        if not self._can_edit():
            return False
        lim = self._limits()
        try:
            imp = A.import_table(file, audio=self.state.clip_path,
                                 nyquist=lim[1] if lim else None,
                                 label_column=self.state.label_column)
        except (SpecviewError, OSError) as exc:
            self.save_failed.emit(f"cannot import {Path(file).name}: {exc}")
            return False
        clamped = [b for b in (self._clamp(b) for b in imp.boxes) if b is not None]
        self._push(C.replace_all(self.state, clamped, f"Import {Path(file).name}"))
        msg = f"Imported {len(clamped)} box(es) from {Path(file).name}"
        if imp.other_files:
            n = sum(imp.other_files.values())
            msg += (f"; {n} more belong to {len(imp.other_files)} other recording(s) "
                    f"({', '.join(sorted(imp.other_files)[:3])}) and were not imported — "
                    "File ▸ Import boxes into dataset… distributes them")
        self.message.emit(msg)
        return True

    def import_into_dataset(self, file: str | Path) -> dict[Path, int] | None:
        """Distribute a table of several recordings over the open dataset's clips.

        Each clip with rows in the table gets them added to its sidecar (boxes it already has
        are kept; a box already there is not added twice); the clip on screen is updated
        through the undo stack. Returns the count of boxes added per clip.
        """
        ds = self.state.dataset
        if ds is None:
            self.message.emit("Open a dataset or folder first")
            return None
        clips = [c.path for c in ds.test]
        try:
            found, unmatched = A.distribute(file, clips, label_column=self.state.label_column)
        except (SpecviewError, OSError) as exc:
            self.save_failed.emit(f"cannot import {Path(file).name}: {exc}")
            return None
        added: dict[Path, int] = {}
        failed: list[str] = []
        for clip, boxes in found.items():
            if clip == self.state.clip_path:
                new = [b for b in boxes if b not in self.state.boxes]
                if new and self.state.boxes_editable:
                    self._push(C.replace_all(self.state, self.state.boxes + new,
                                             f"Import {Path(file).name}"))
                added[clip] = len(new)
                continue
            try:
                side = A.load_sidecar(clip)
                if side.error is not None:
                    raise SpecviewError(side.error)
                new = [b for b in boxes if b not in side.boxes]
                if new:
                    A.save_sidecar(clip, side.boxes + new)
                added[clip] = len(new)
            except (SpecviewError, OSError) as exc:
                failed.append(f"{clip.name} ({exc})")
        msg = (f"Imported {sum(added.values())} box(es) from {Path(file).name} into "
               f"{len(added)} clip(s)")
        if unmatched:
            msg += (f"; {sum(unmatched.values())} belong to recordings not in the dataset "
                    f"({', '.join(sorted(unmatched)[:3])})")
        if failed:
            msg += f"; not written: {', '.join(failed)}"
        self.message.emit(msg)
        self.state.scores_changed.emit()
        return added

    def _with_measurements(self, boxes: list[Box]) -> list[Box]:
        """Boxes with the measurement columns shown in the box table as Raven cells (see
        :func:`~specview.gui.measurements.with_cells`: a user's cells are never replaced)."""
        measurer, keys = self.panel.measurer, self.panel.measure_keys
        if measurer is None or not keys or not boxes:
            return boxes
        try:
            vals = measurer.measure_now(boxes)
        except (SpecviewError, OSError) as exc:
            self.message.emit(f"Exported without measurements: {exc}")
            return boxes
        keys = [k for k in keys if any(v is not None and k in v for v in vals)]
        return [with_cells(b, v, keys) for b, v in zip(boxes, vals, strict=True)]

    def export_file(self, file: str | Path, fmt: str) -> bool:
        """Write the boxes as ``fmt``; a Raven table gets the measurement columns shown."""
        boxes = list(self.state.boxes)
        if fmt == "raven":
            boxes = self._with_measurements(boxes)
        try:
            A.export_boxes(file, boxes, fmt=fmt)
        except (SpecviewError, OSError) as exc:
            self.save_failed.emit(f"cannot export: {exc}")
            return False
        self.message.emit(f"Exported {len(self.state.boxes)} boxes to {file}")
        return True

    def choose_label_column(self, column: str) -> None:
        """Read the clip's labels from another column of its Raven table (and keep that choice
        for the next clips); the table is re-read, so the undo history starts afresh."""
        path = self.state.clip_path
        self.state.label_column = column or None
        if path is None:
            return
        side = A.load_sidecar(path, label_column=self.state.label_column)
        if side.error is not None:
            self.save_failed.emit(side.error)
            return
        self.state.sidecar = side
        self.state.undo_stack.clear()
        self.state.set_annotations(side.boxes, self.state.flagged)
        self.message.emit(f"Labels now come from the column “{side.label_column or '(none)'}”")

    def import_dataset_dialog(self) -> None:
        start = str(self.state.dataset.root) if self.state.dataset else ""
        file, _ = QFileDialog.getOpenFileName(
            self.window, "Import a table of several recordings into the dataset", start,
            "Raven tables (*.txt);;All files (*)")
        if file:
            self.import_into_dataset(file)

    def import_dialog(self) -> None:
        start = str(self.state.clip_path.parent) if self.state.clip_path else ""
        file, _ = QFileDialog.getOpenFileName(
            self.window, "Import boxes", start,
            "Boxes (*.txt *.json);;All files (*)")
        if file:
            self.import_file(file)

    def export_dialog(self) -> None:
        if self.state.clip_path is None:
            return
        start = str(self.state.clip_path.with_suffix(".boxes.json"))
        file, chosen = QFileDialog.getSaveFileName(self.window, "Export boxes", start,
                                                   ";;".join(EXPORT_FILTERS))
        if file:
            self.export_file(file, EXPORT_FILTERS.get(chosen, "json"))

    # -- menus ------------------------------------------------------------------------------
    def build_menu(self, menu) -> dict[str, QAction]:
        """Fill the Edit menu: undo/redo and the annotation keys."""
        group = self.state.undo_group  # follows the clip on screen: one history per clip
        undo = group.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = group.createRedoAction(self, "&Redo")
        # one entry per key: Redo's standard keys on X11 already hold Ctrl+Shift+Z, and a key
        # listed twice is an "ambiguous shortcut" that Qt then ignores
        keys = [QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y"),
                *QKeySequence.keyBindings(QKeySequence.StandardKey.Redo)]
        redo.setShortcuts(list({k.toString(): k for k in keys if not k.isEmpty()}.values()))
        menu.addAction(undo)
        menu.addAction(redo)
        menu.addSeparator()
        acts = {"undo": undo, "redo": redo}

        def add(name, text, key, slot, checkable=False):
            act = QAction(text, self.window)
            act.setShortcut(QKeySequence(key))
            act.setCheckable(checkable)
            (act.toggled if checkable else act.triggered).connect(slot)
            menu.addAction(act)
            acts[name] = act

        add("box_tool", "&Box tool", "B", self.panel.tool_button.setChecked, checkable=True)
        add("delete_box", "&Delete box", QKeySequence.StandardKey.Delete, self.delete_selected)
        add("accept_flagged", "&Accept flagged region", "A", lambda: self.accept())
        add("dismiss_flagged", "Dis&miss flagged region", "X", lambda: self.dismiss())
        add("next_item", "&Next box or flagged region", "N", lambda: self.step(+1))
        add("previous_item", "&Previous box or flagged region", "P", lambda: self.step(-1))
        for a in acts.values():
            self.window.addAction(a)  # keys work wherever the focus is
        self.actions = acts
        return acts
