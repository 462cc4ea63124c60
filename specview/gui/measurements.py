"""Measurements of the boxes on screen, as Raven users know them (:mod:`specview.measure`).

Taken off the GUI thread from the samples on screen (the clip, or the long recording's loaded
span) on the display spectrogram's STFT (its FFT size, window, overlap and zero padding, as
Raven measures on the view's settings), with the clip's result for the map's peak. Only boxes
not measured yet are measured: an edit measures one box. A box outside the loaded span of a
long recording has no measurements (None).
"""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from specview import measure as M
from specview.errors import ParameterError
from specview.gui.workers import Job
from specview.types import Box

#: Measurements the box table can show (the box's corners are its own columns).
CHOICES = tuple(k for k in M.COLUMNS if k not in ("begin", "end", "low", "high"))
#: Their short names in the table's header (Raven's names are the tooltips).
SHORT = {"duration": "Δt (s)", "bandwidth": "Δf (Hz)", "peak_time": "Peak t (s)",
         "peak_freq": "Peak f (Hz)", "center_freq": "Centre f (Hz)",
         "peak_power": "Peak (dB FS)", "energy": "Energy (dB FS)", "clip_score": "Clip score",
         "map_peak": "Map peak (×thr)"}


def corners(b: Box) -> tuple[float, float, float, float]:
    return (float(b.t0), float(b.t1), float(b.f0), float(b.f1))


def stft_settings(s):
    """The part of the display settings measurements depend on."""
    return replace(s, scale="linear", fmin=0.0, fmax=None, gain_db=0.0, db_ceiling=None,
                   db_range=80.0, colormap="viridis")


def measure_boxes(samples, sr: int, t0: float, boxes, settings, result, calibration
                  ) -> dict[tuple, dict | None]:
    """Each box's measurements from the samples around it (None: outside the samples)."""
    out: dict[tuple, dict | None] = {}
    margin = settings.n_fft / sr
    for b in boxes:
        i0 = max(0, int((b.t0 - margin - t0) * sr))
        i1 = min(len(samples), int((b.t1 + margin - t0) * sr) + 1)
        try:
            if i1 - i0 < 2:
                raise ParameterError("outside")
            out[corners(b)] = M.measure(samples[i0:i1], sr, b, start=t0 + i0 / sr,
                                        settings=settings, result=result,
                                        calibration=calibration)
        except ParameterError:
            out[corners(b)] = None
    return out


class Measurer(QObject):
    """Measures the state's boxes in the background; :meth:`values` gives a box's.

    Signals
    -------
    measured()
        New measurements arrived (the box table fills them in).
    """

    measured = Signal()

    def __init__(self, state, audio, fine, runner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.audio, self.fine, self.runner = state, audio, fine, runner
        self._values: dict[tuple, dict | None] = {}
        self._context: tuple | None = None
        self._job: Job | None = None
        self._again = False
        self._epoch = 0
        state.clip_loaded.connect(lambda _p: self.refresh())
        state.results_changed.connect(self._results_changed)
        state.boxes_changed.connect(self.refresh)
        fine.settings_changed.connect(lambda _s: self.refresh())

    def _results_changed(self) -> None:
        self._epoch += 1
        self.refresh()

    def _now(self):
        """``(context, request, settings)`` of what is on screen (context None: nothing)."""
        req = self.audio.request()
        s = stft_settings(self.fine.settings)
        if req is None:
            return None, None, s
        return (req.key, s, self._epoch), req, s

    def values(self, box: Box) -> dict | None:
        """``box``'s measurements (None: not measured yet, or outside the samples)."""
        return self._values.get(corners(box))

    def refresh(self) -> None:
        """Measure the boxes not measured yet (all of them after a change of clip, span,
        settings or result)."""
        context, req, _s = self._now()
        if context != self._context:
            self._context, self._values = context, {}
        if context is None:
            return
        if self._job is not None:
            self._again = True
            return
        todo = [b for b in self.state.boxes if corners(b) not in self._values]
        if not todo:
            return
        st = self.state
        result, cal, s = st.result, st.calibration, context[1]
        audio = self.audio

        def work(_p):
            samples, sr, t0 = audio.get(req)
            return measure_boxes(samples, sr, t0, todo, s, result, cal)

        job = Job(work, name="measuring boxes", cancellable=False, parent=self)
        job.succeeded.connect(lambda out: self._done(context, out))
        job.finished.connect(self._finished)
        self._job = job
        self.runner.start(job)

    def _done(self, context: tuple, out: dict) -> None:
        if context == self._context:
            self._values.update(out)
            self.measured.emit()

    def _finished(self) -> None:
        self._job = None
        if self._again:
            self._again = False
            self.refresh()

    def measure_now(self, boxes) -> list[dict | None]:
        """Measurements of ``boxes``, those missing taken here and now (an export waits for
        them)."""
        context, req, s = self._now()
        missing = [b for b in boxes if corners(b) not in self._values]
        if missing and req is not None:
            samples, sr, t0 = self.audio.get(req)
            found = measure_boxes(samples, sr, t0, missing, s, self.state.result,
                                  self.state.calibration)
            if context == self._context:
                self._values.update(found)
            return [self._values.get(corners(b), found.get(corners(b))) for b in boxes]
        return [self._values.get(corners(b)) for b in boxes]


def with_cells(box: Box, values: dict | None, keys) -> Box:
    """``box`` with its measurements as Raven cells (:func:`specview.measure.raven_cells`) in
    ``extra``, for a Raven table specview writes. A cell the box already holds (a column of
    the user's table) is never replaced; an empty one is filled; a box without measurements
    gets empty cells, so every row has the new columns."""
    keys = [k for k in keys if k in CHOICES]
    cells = {M.COLUMNS[k]: "" for k in keys}
    if values is not None:
        cells.update(M.raven_cells(values, keys))
    extra = dict(box.extra)
    for col, text in cells.items():
        if not str(extra.get(col, "")).strip():
            extra[col] = text
    return replace(box, extra=extra)
