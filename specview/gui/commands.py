"""Undoable edits of the clip's boxes: each command swaps whole before/after snapshots.

Snapshots keep undo exact whatever the edit (draw, move, resize, relabel, delete, accept or
dismiss a flagged region); a clip holds tens of boxes, so copying the list costs nothing.
"""

from __future__ import annotations

from PySide6.QtGui import QUndoCommand

from specview.gui.state import AppState
from specview.types import Box, FlaggedRegion


class Snapshot:
    """The annotation part of the state at one moment."""

    def __init__(self, boxes: list[Box], flagged: list[FlaggedRegion], selected: int | None):
        self.boxes = list(boxes)
        self.flagged = list(flagged)
        self.selected = selected

    @classmethod
    def of(cls, state: AppState) -> Snapshot:
        return cls(state.boxes, state.flagged, state.selected)


class EditCommand(QUndoCommand):
    """Replace the boxes (and pending flagged regions) by ``after``; undo restores ``before``."""

    def __init__(self, state: AppState, text: str, after: Snapshot,
                 before: Snapshot | None = None) -> None:
        super().__init__(text)
        self.state = state
        self.before = before or Snapshot.of(state)
        self.after = after

    def redo(self) -> None:
        self.state.set_annotations(self.after.boxes, self.after.flagged, self.after.selected)

    def undo(self) -> None:
        self.state.set_annotations(self.before.boxes, self.before.flagged, self.before.selected)


def add_box(state: AppState, box: Box) -> EditCommand:
    boxes = [*state.boxes, box]
    return EditCommand(state, f"Draw box {box.label or ''}".strip(),
                       Snapshot(boxes, state.flagged, len(boxes) - 1))


def replace_box(state: AppState, index: int, box: Box, text: str = "Edit box") -> EditCommand:
    boxes = list(state.boxes)
    boxes[index] = box
    return EditCommand(state, text, Snapshot(boxes, state.flagged, index))


def delete_box(state: AppState, index: int) -> EditCommand:
    boxes = [b for i, b in enumerate(state.boxes) if i != index]
    sel = min(index, len(boxes) - 1) if boxes else None
    return EditCommand(state, "Delete box", Snapshot(boxes, state.flagged, sel))


def accept_flagged(state: AppState, index: int, box: Box) -> EditCommand:
    """The flagged region ``index`` becomes the ordinary box ``box`` (already labelled and
    clamped); it leaves the pending list."""
    flagged = [r for i, r in enumerate(state.flagged) if i != index]
    boxes = [*state.boxes, box]
    return EditCommand(state, "Accept flagged region", Snapshot(boxes, flagged, len(boxes) - 1))


def dismiss_flagged(state: AppState, index: int) -> EditCommand:
    flagged = [r for i, r in enumerate(state.flagged) if i != index]
    return EditCommand(state, "Dismiss flagged region",
                       Snapshot(state.boxes, flagged, state.selected))


def replace_all(state: AppState, boxes: list[Box], text: str) -> EditCommand:
    """E.g. an import: the whole list at once, one undo step."""
    return EditCommand(state, text, Snapshot(boxes, state.flagged, None))
