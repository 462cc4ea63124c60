"""Localisation scores beside the boxes: the current method against the expert's boxes.

For the clip on screen the scores are recomputed at once after every edit (one map, cheap).
For the open dataset they are computed off the GUI thread from every test clip's map (cached
by the controller) and sidecar, and again, debounced, after edits once asked for.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QFormLayout, QGroupBox, QLabel, QPushButton, QVBoxLayout, QWidget

from specview.datasets import TestClip
from specview.gui.long_recording import long_info
from specview.gui.state import AppState
from specview.metrics import match_boxes
from specview.results import ClipResult, localisation, make_result, score_clips
from specview.types import Box

ROWS = (("spectrogram_auroc", "Spectrogram AUROC"), ("aupro", "AU-PRO (FPR ≤ 0.3)"),
        ("temporal_auroc", "Temporal AUROC"), ("box_precision", "Flag precision"),
        ("box_recall", "Flag recall"))


def _fmt(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def span_result(state: AppState) -> tuple[ClipResult, list[Box]]:
    """The result of the span of a long recording on screen against the boxes inside it: the
    span's map, and the recording's events in the span as its flagged regions (they were
    found on the whole map, at the store's threshold)."""
    r, d = state.result, state.display
    d0, d1 = float(d.times[0]), float(d.times[-1])
    boxes = [b for b in state.boxes if b.t1 > d0 and b.t0 < d1]
    res = make_result(state.model, TestClip(state.clip_path or Path("clip"), None), r,
                      boxes=boxes)
    flagged = tuple(state.flagged)
    matched = (len(match_boxes([f.box for f in flagged], boxes, r.freqs, min_iou=0.3))
               if res.box_mask is not None else 0)
    return replace(res, flagged=flagged, matched=matched), boxes


class EvalPanel(QWidget):
    """Scores of the current model against the boxes, for this clip and the open dataset."""

    def __init__(self, state: AppState, controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state, self.controller = state, controller
        self.dataset_scores: dict | None = None
        self.clip_scores: dict | None = None
        self._wanted = False  # the user asked for dataset scores: keep them up to date
        self.clip_labels: dict[str, QLabel] = {}
        self.data_labels: dict[str, QLabel] = {}
        clip_box = QGroupBox("This clip")
        f1 = QFormLayout(clip_box)
        data_box = QGroupBox("Open dataset")
        f2 = QFormLayout(data_box)
        for key, text in ROWS:
            self.clip_labels[key] = QLabel("–")
            self.data_labels[key] = QLabel("–")
            f1.addRow(text, self.clip_labels[key])
            f2.addRow(text, self.data_labels[key])
        self.clip_note = QLabel("")
        self.clip_note.setWordWrap(True)
        f1.addRow(self.clip_note)
        self.data_note = QLabel("")
        self.data_note.setWordWrap(True)
        self.evaluate_button = QPushButton("Evaluate dataset")
        self.evaluate_button.setToolTip("Score every test clip (in the background) and measure "
                                        "the model against all sidecar boxes")
        f2.addRow(self.evaluate_button)
        f2.addRow(self.data_note)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(clip_box)
        lay.addWidget(data_box)
        lay.addStretch(1)
        for lab in [*self.clip_labels.values(), *self.data_labels.values()]:
            lab.setAlignment(Qt.AlignmentFlag.AlignRight)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(600)
        self._debounce.timeout.connect(self.evaluate_dataset)
        self.evaluate_button.clicked.connect(self._ask)
        state.results_changed.connect(self.update_clip)
        state.boxes_changed.connect(self.update_clip)
        state.boxes_changed.connect(self._boxes_edited)
        state.model_changed.connect(self._reset_dataset)
        state.dataset_opened.connect(self._reset_dataset)
        self.update_clip()

    # -- this clip ----------------------------------------------------------------------------
    def update_clip(self) -> None:
        r, model = self.state.result, self.state.model
        if r is None or model is None:
            self.clip_scores = None
            self.clip_note.setText("Load or fit a model to score this clip.")
        elif self.state.long is not None and self.state.display is not None:
            res, boxes = span_result(self.state)
            self.clip_scores = res.localisation
            d = self.state.display
            where = f"span {float(d.times[0]):.1f}–{float(d.times[-1]):.1f} s"
            self.clip_note.setText(
                f"{where}: no box in it; ranking scores need one." if not boxes
                else f"{where}: {len(boxes)} box(es), {len(res.flagged)} flagged event(s)")
        else:
            # the boxes on screen are the truth: no sidecar is looked for
            res = make_result(model, TestClip(self.state.clip_path or Path("clip"), None), r,
                              boxes=self.state.boxes)
            self.clip_scores = res.localisation
            self.clip_note.setText(
                "No box on this clip: ranking scores need one." if not self.state.boxes
                else f"{len(self.state.boxes)} box(es), {len(res.flagged)} flagged region(s)")
        for key, _ in ROWS:
            self.clip_labels[key].setText(_fmt((self.clip_scores or {}).get(key)))

    # -- the dataset --------------------------------------------------------------------------
    def _ask(self) -> None:
        self._wanted = True
        self.evaluate_dataset()

    def _reset_dataset(self) -> None:
        self._wanted = False
        self.dataset_scores = None
        for lab in self.data_labels.values():
            lab.setText("–")
        self.data_note.setText("")

    def _boxes_edited(self) -> None:
        if self._wanted:
            self._debounce.start()

    def evaluate_dataset(self):
        """Start the dataset evaluation job (None when nothing to do or busy)."""
        ds, model = self.state.dataset, self.state.model
        if ds is None or model is None or not ds.test:
            self.data_note.setText("Open a dataset and load or fit a model.")
            return None
        if self.controller.busy:
            self._debounce.start()  # try again when the running task is over
            return None
        clips = list(ds.test)
        current, current_boxes = self.state.clip_path, list(self.state.boxes)
        cache = dict(self.controller.results)

        def work(progress):
            # long recordings are scored in a stream when opened, never whole here
            short = [c for c in clips if long_info(c.path) is None]
            results, failed = score_clips(model, short, known=cache, progress=progress,
                                          truth=lambda p: current_boxes if p == current
                                          else None)
            failed += [f"{c.path.name}: a long recording, left out" for c in clips
                       if c not in short]
            return results, failed

        def done(out):
            results, failed = out
            if model is not self.state.model:
                return
            for r in results:
                self.controller.remember(r.path, r.result)
            self.dataset_scores = localisation(results)
            for key, _ in ROWS:
                self.data_labels[key].setText(_fmt(self.dataset_scores.get(key)))
            n_boxes = self.dataset_scores["n_truth_boxes"]
            self.data_note.setText(f"{len(results)} clips, {n_boxes} box(es)"
                                   + (f"; {len(failed)} problem(s): {failed[0]}" if failed else ""))
            self.controller.task_ended.emit("done", f"Evaluated {len(results)} clips")

        return self.controller.start_task(work, f"Evaluating {len(clips)} clips", done)

    def scores_for(self, path: Path) -> dict | None:  # for tests and the comparison view
        return self.clip_scores if path == self.state.clip_path else None
