"""One observable application state; views subscribe to its past-tense signals.

Only the controller calls the setters. Views read the attributes when a signal fires and never
change the core objects they point to.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoGroup, QUndoStack

from specview.annotations import SidecarState
from specview.datasets import Dataset
from specview.pipeline import Model
from specview.types import AnomalyResult, Box, FlaggedRegion, Spectrogram


@dataclass(frozen=True)
class ClipScore:
    """A scored clip's summary.

    Attributes
    ----------
    clip_score : float
        The method's raw clip score (not comparable across methods).
    map_max : float
        The highest cell of its map (raw).
    peak : float or None
        That cell in multiples of the model's flag threshold (the calibrated unit: 0 a typical
        normal cell, 1 the threshold); None for a model without a calibration.
    n_flagged : int
        Flagged regions on the clip.
    """

    clip_score: float
    map_max: float
    peak: float | None = None
    n_flagged: int = 0

    @property
    def verdict(self) -> str:
        """``"flagged (2 regions)"``, ``"normal"``, or ``""`` without a calibration."""
        if self.peak is None:
            return ""
        if self.n_flagged:
            return f"flagged ({self.n_flagged} region{'s' if self.n_flagged > 1 else ''})"
        return "normal"

    def text(self) -> str:
        """The clip's number in the window: the peak in × threshold, else the raw score."""
        return f"{self.peak:.2f}×" if self.peak is not None else f"{self.clip_score:#.3g}"

    @property
    def sort_key(self) -> float:
        return self.peak if self.peak is not None else self.clip_score


class AppState(QObject):
    """The clip on screen, its spectrogram and result, the model and the open dataset.

    Signals
    -------
    clip_loaded(Path)
        A clip (new, or the same one re-read) is on screen: ``clip_path``, ``display``,
        ``boxes`` are set. ``results_changed`` follows.
    results_changed()
        ``result`` was set or cleared (None).
    model_changed()
        ``model`` / ``model_path`` changed (``model_path`` is None for an unsaved fit).
    model_saved(Path)
        The same model was written to a file (``model_path`` updated); no rescoring needed.
    dataset_opened()
        ``dataset`` changed (a dataset, or a plain folder seen as test clips).
    scores_changed()
        ``scores`` (clip path -> :class:`ClipScore` under the current model) grew or was
        cleared with a model change.
    boxes_changed()
        ``boxes`` or ``flagged`` changed by an edit (undoable through ``undo_stack``).
    selected_changed()
        ``selected`` (index into ``boxes``, or None) changed.
    selected_region_changed()
        ``selected_region`` (index into ``flagged``, or None) changed.
    long_changed()
        ``long`` (the long recording open, :class:`~specview.gui.long_recording.LongRecording`)
        was set or cleared, or its scoring ended.
    long_progressed(int, int)
        Overview columns ``c0 : c1`` of ``long`` were filled in.
    """

    clip_loaded = Signal(object)
    results_changed = Signal()
    model_changed = Signal()
    model_saved = Signal(object)
    dataset_opened = Signal()
    scores_changed = Signal()
    boxes_changed = Signal()
    selected_changed = Signal()
    selected_region_changed = Signal()
    long_changed = Signal()
    long_progressed = Signal(int, int)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.clip_path: Path | None = None
        self.display: Spectrogram | None = None
        self.boxes: list[Box] = []
        self.result: AnomalyResult | None = None
        self.model: Model | None = None
        self.model_path: Path | None = None
        self.dataset: Dataset | None = None
        self.scores: dict[Path, ClipScore] = {}
        #: The model's flagged regions on this clip that are neither accepted nor dismissed.
        self.flagged: list[FlaggedRegion] = []
        self.selected_region: int | None = None  # index into ``flagged``
        self.selected: int | None = None
        #: False while the clip's sidecar could not be read and is kept untouched.
        self.boxes_editable = True
        #: Native sample rate of the clip on screen (Hz; 0 when unknown): boxes stop at its
        #: Nyquist frequency.
        self.sample_rate = 0
        #: What the clip's sidecar holds besides its boxes (label column, the table's other
        #: annotation columns, boxes of other recordings), or None.
        self.sidecar: SidecarState | None = None
        #: The label column the user chose for Raven tables (None: the documented rule).
        self.label_column: str | None = None
        #: One undo history per clip, kept while the app runs; the group's active stack is the
        #: clip on screen (the Edit menu's Undo/Redo follow it).
        self.undo_group = QUndoGroup(self)
        self._stacks: dict[Path, QUndoStack] = {}
        self.undo_stack = self._stack_for(None)
        #: The long recording open (longer than ``specview.longscore.LONG_SECONDS``), shown a
        #: span at a time; None for an ordinary clip.
        self.long = None
        #: ``(t0, t1)`` seconds of the long recording asked for in the detail view; ``display``
        #: and ``result`` hold that span plus a margin, in the recording's own seconds.
        self.span: tuple[float, float] | None = None

    @property
    def calibration(self):
        """What turns map values into multiples of the flag threshold: the long recording's
        store's threshold when one is open and scored, else the model's calibration (None
        without)."""
        lr = self.long
        if lr is not None and lr.calibration is not None:
            return lr.calibration
        return self.model.calibration if self.model is not None else None

    @property
    def duration(self) -> float | None:
        """The recording's whole length (s): the long recording's, else the clip's."""
        if self.long is not None:
            return float(self.long.duration)
        return float(self.display.duration) if self.display is not None else None

    def set_long(self, long) -> None:
        """Open (or, with None, close) a long recording."""
        self.long = long
        if long is None:
            self.span = None
        self.long_changed.emit()

    def long_updated(self, c0: int, c1: int) -> None:
        """Columns ``c0 : c1`` of the long recording's overview were filled in."""
        self.long_progressed.emit(int(c0), int(c1))

    def _flag(self) -> None:
        r, m = self.result, self.model
        self.flagged = m.flagged(r) if (r is not None and m is not None) else []
        self.select_region(None)

    def select_region(self, index: int | None) -> None:
        """Make flagged region ``index`` (of ``flagged``) the selected one, or none."""
        if index is not None and not 0 <= index < len(self.flagged):
            index = None
        if index != self.selected_region:
            self.selected_region = index
            self.selected_region_changed.emit()

    def region_in_focus(self) -> int | None:
        """The flagged region an action applies to: the selected one, else the only one."""
        if self.selected_region is not None:
            return self.selected_region
        return 0 if len(self.flagged) == 1 else None

    def set_clip(self, path: Path, display: Spectrogram, result: AnomalyResult | None,
                 boxes: list[Box] | None = None, *, editable: bool = True,
                 span: tuple[float, float] | None = None,
                 flagged: list[FlaggedRegion] | None = None) -> None:
        """Show a clip, or (``span``) a span of the long recording; ``flagged`` replaces the
        model's flagged regions of ``result`` (a long recording's events, found on its whole
        map)."""
        new = self.clip_path != Path(path)
        self.span = (float(span[0]), float(span[1])) if span is not None else None
        self.clip_path = Path(path)
        self.display = display
        self.boxes = list(boxes or [])
        self.boxes_editable = editable
        self.result = result
        self.selected = None
        if new:
            self.undo_stack = self._stack_for(self.clip_path)
        self._flag()
        if flagged is not None:
            self.flagged = list(flagged)
        self.clip_loaded.emit(self.clip_path)
        self.results_changed.emit()
        self.selected_changed.emit()

    def _stack_for(self, path: Path | None) -> QUndoStack:
        """The undo history of ``path`` (made on first use), now the active one."""
        key = Path(path) if path is not None else Path()
        stack = self._stacks.get(key)
        if stack is None:
            stack = QUndoStack(self)
            self._stacks[key] = stack
            self.undo_group.addStack(stack)
        self.undo_group.setActiveStack(stack)
        return stack

    def set_result(self, result: AnomalyResult | None) -> None:
        self.result = result
        self._flag()
        self.results_changed.emit()

    def set_annotations(self, boxes: list[Box], flagged: list[FlaggedRegion] | None = None,
                        selected: int | None = None) -> None:
        """Replace the boxes (and the pending flagged regions); called by undo commands."""
        self.boxes = list(boxes)
        if flagged is not None:
            self.flagged = list(flagged)
            self.select_region(None)
        self.boxes_changed.emit()
        self.select(selected)

    def select(self, index: int | None) -> None:
        if index is not None and not 0 <= index < len(self.boxes):
            index = None
        if index != self.selected:
            self.selected = index
            self.selected_changed.emit()

    def set_model(self, model: Model | None, path: Path | None = None) -> None:
        self.model = model
        self.model_path = Path(path) if path is not None else None
        self.scores = {}  # scores of another model do not compare
        self.scores_changed.emit()
        self.model_changed.emit()

    def set_model_path(self, path: Path) -> None:
        self.model_path = Path(path)
        self.model_saved.emit(self.model_path)

    def add_scores(self, scores: dict[Path, ClipScore]) -> None:
        self.scores.update({Path(k): v for k, v in scores.items()})
        self.scores_changed.emit()

    @property
    def shared_map_max(self) -> float | None:
        """The highest map cell over every clip scored with the current model."""
        return max((s.map_max for s in self.scores.values()), default=None)

    def set_dataset(self, dataset: Dataset | None) -> None:
        self.dataset = dataset
        self.dataset_opened.emit()


def summary(result: AnomalyResult, model: Model | None = None) -> ClipScore:
    """Clip score, map peak, and (with a calibrated model) the peak in × flag threshold and
    the number of flagged regions."""
    top = float(result.map.max()) if result.map.size else 0.0
    cal = model.calibration if model is not None else None
    if cal is None:
        return ClipScore(float(result.clip_score), top)
    peak = float(cal.calibrated(np.array([[top]]))[0, 0])
    return ClipScore(float(result.clip_score), top, peak, len(model.flagged(result)))
