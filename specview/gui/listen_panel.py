"""Listening: play the clip, a box or flagged region, or the visible range, with a playhead.

The signal is rendered by :func:`specview.playback.render` (segment, band limit, anomaly mask
resynthesis, speed) off the GUI thread, then handed to a :class:`~specview.playback.Player`,
whose PortAudio callback does the output; the window only polls the position for the playhead.
Where PortAudio or an output device is missing, the controls are disabled with the reason.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from specview.errors import SpecviewError
from specview.gui.screen_audio import ScreenAudio
from specview.gui.state import AppState
from specview.gui.workers import Job
from specview.types import AnomalyResult

SOURCES = {"as recorded": None, "anomaly only (model)": "anomaly",
           "without the anomaly (model)": "without"}
SPEEDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


class ListenPanel(QWidget):
    """Playback controls."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.play_clip = QPushButton("Play clip")
        self.play_clip.setToolTip("Play from the clicked time (or the start) to the end (Space)")
        self.play_selection = QPushButton("Play box")
        self.play_selection.setToolTip("Play the selected box or flagged region")
        self.play_visible = QPushButton("Play visible")
        self.play_visible.setToolTip("Play the time range shown in the view")
        self.stop = QPushButton("Stop")
        self.loop = QCheckBox("Loop")
        self.band = QCheckBox("Only the box's band")
        self.band.setToolTip("Play only the selected box's frequency band (band-pass filter)")
        self.source = QComboBox()
        self.source.addItems(list(SOURCES))
        self.source.setToolTip("anomaly only: the anomaly map as a soft time-frequency mask, "
                               "resynthesised;\nwithout the anomaly: the complement")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed; pitch moves with it (slow down to hear high "
                              "frequencies lower)")
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        #: what the player is doing: shown at once on a click, before the sound starts
        self.status = QLabel("")
        self.status.setWordWrap(True)
        grid = QGridLayout()
        grid.addWidget(self.play_clip, 0, 0)
        grid.addWidget(self.play_selection, 0, 1)
        grid.addWidget(self.play_visible, 1, 0)
        grid.addWidget(self.stop, 1, 1)
        form = QFormLayout()
        form.addRow(self.loop, self.band)
        form.addRow("Sound", self.source)
        form.addRow("Speed", self.speed)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.addLayout(grid)
        lay.addLayout(form)
        lay.addWidget(self.status)
        lay.addWidget(self.reason)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addWidget(box)

    def set_available(self, ok: bool, reason: str) -> None:
        for w in (self.play_clip, self.play_selection, self.play_visible, self.stop):
            w.setEnabled(ok)
        self.reason.setText("" if ok else f"Playback unavailable: {reason}")


class Listener(QObject):
    """Renders and plays what the panel asks for and moves the view's playhead.

    Signals
    -------
    message(str)
    finished()
        Emitted (in the GUI thread) when a sound ends.
    """

    message = Signal(str)
    finished = Signal()
    _ended = Signal(int)  # from PortAudio's thread

    def __init__(self, state: AppState, view, panel: ListenPanel, runner, *,
                 player=None, audio: ScreenAudio | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state, self.view, self.panel, self.runner = state, view, panel, runner
        #: the samples on screen, read once and shared with the display spectrogram
        self.audio = audio if audio is not None else ScreenAudio(state)
        self._player = player
        self._checked = player is not None
        self.available, self.reason = (True, "") if player is not None else (False, "")
        self.cursor_t: float | None = None  # where "Play clip" starts (a click sets it)
        self.last: tuple[np.ndarray, int, float, float] | None = None  # signal, sr, start, speed
        self._seq = 0
        self._timer = QTimer(self)
        self._timer.setInterval(30)
        self._timer.timeout.connect(self._tick)
        self._ended.connect(self._on_ended)
        panel.play_clip.clicked.connect(lambda: self.play("clip"))
        panel.play_selection.clicked.connect(lambda: self.play("selection"))
        panel.play_visible.clicked.connect(lambda: self.play("visible"))
        panel.stop.clicked.connect(self.stop)
        view.clicked_at.connect(self.set_cursor)
        state.clip_loaded.connect(self._clip_changed)

    # -- device -------------------------------------------------------------------------------
    @property
    def player(self):
        if not self._checked:
            from specview.playback import Player

            self._checked = True
            self.available, self.reason = Player.available()
            if self.available:
                self._player = Player()
        return self._player

    def check(self) -> bool:
        """Probe the output once; disable the controls with the reason when there is none."""
        self.player  # noqa: B018 - probes the device
        self.panel.set_available(self.available, self.reason)
        return self.available

    # -- what to play -------------------------------------------------------------------------
    def set_cursor(self, t: float) -> None:
        self.cursor_t = t
        if not self.is_playing:
            self.view.set_playhead(t)

    def _clip_changed(self, path) -> None:
        self.stop()
        self.cursor_t = None

    def request(self, kind: str) -> dict:
        """The listening options for ``kind`` ("clip", "selection", "visible")."""
        st = self.state
        opts: dict = {"speed": float(self.panel.speed.currentData()),
                      "mask": SOURCES[self.panel.source.currentText()]}
        box = None
        if kind == "selection":
            if st.selected is not None:
                box = st.boxes[st.selected]
            else:
                k = self._flag_selected()
                if k is not None:
                    box = st.flagged[k].box
            if box is None:
                raise SpecviewError("select a box or a flagged region to play")
            opts.update(start=box.t0, end=box.t1)
        elif kind == "visible":
            t0, t1 = self.view.visible_time_range()
            opts.update(start=t0, end=t1)
        else:
            opts.update(start=self.cursor_t or 0.0, end=None)
        loaded = self.audio.loaded_range()
        if loaded is not None:
            # a long recording: only the span on screen is read, so play within it
            a0, a1 = loaded
            start = float(opts["start"] or 0.0)
            if kind == "clip" and not a0 <= start < a1:
                start = max(a0, min(a1, self.view.visible_time_range()[0]))
            end = a1 if opts["end"] is None else min(a1, float(opts["end"]))
            start = min(max(a0, start), a1)
            if end <= start:
                raise SpecviewError("nothing of it lies in the span on screen")
            opts.update(start=start, end=end)
        if self.panel.band.isChecked():
            if box is None and st.selected is not None:
                box = st.boxes[st.selected]
            if box is not None:
                opts["band"] = (box.f0, box.f1)
        if opts["mask"] is not None:
            if st.result is None or st.model is None:
                raise SpecviewError("load or fit a model to hear what it flags")
            opts.update(result=st.result, calibration=st.model.calibration)
        return opts

    def _flag_selected(self) -> int | None:
        return self.state.region_in_focus()

    def _samples(self) -> tuple[np.ndarray, int, float]:
        """The samples to play from, their rate and the time of the first one: the whole clip,
        or the loaded span of a long recording (never the whole of it)."""
        req = self.audio.request()
        if req is None:
            raise SpecviewError("nothing to play")
        return self.audio.get(req)

    def render(self, kind: str) -> tuple[np.ndarray, int, float, float]:
        """``(signal, sr, start s, speed)`` exactly as it would be played (``start`` in the
        recording's seconds)."""
        from specview.playback import render

        opts = self.request(kind)
        samples, sr, offset = self._samples()
        start = float(opts.get("start") or 0.0)
        if offset:
            # the samples start at `offset` s of the recording: so do the span's map times
            opts["start"] = start - offset
            if opts.get("end") is not None:
                opts["end"] = float(opts["end"]) - offset
            r = opts.get("result")
            if r is not None:
                opts["result"] = AnomalyResult(r.map, np.asarray(r.times) - offset, r.freqs,
                                               r.clip_score, r.frame_scores, dict(r.extras))
        x = render(samples, sr, **opts)
        return x, sr, start, float(opts["speed"])

    # -- playing ------------------------------------------------------------------------------
    def play(self, kind: str = "clip") -> Job | None:
        if self.state.clip_path is None:
            return None
        if not self.check():
            self.message.emit(f"Playback unavailable: {self.reason}")
            return None
        self._seq += 1
        seq = self._seq
        # feedback now, before the sound is rendered and the output opened (can take a while
        # the first time: the recording is read at its own rate)
        try:
            start = float(self.request(kind).get("start") or 0.0)
        except SpecviewError as exc:
            self.message.emit(f"Cannot play: {exc}")
            return None
        self.view.set_playhead(start)
        self.panel.status.setText(f"Preparing the sound from {start:.2f} s…")
        self.message.emit(f"Preparing the sound from {start:.2f} s…")
        job = Job(lambda _p: self.render(kind), name="rendering sound", cancellable=False,
                  parent=self)
        job.succeeded.connect(lambda out: self._start(seq, out))
        job.failed.connect(lambda exc: self._failed(seq, exc))
        self.runner.start(job)
        return job

    def _failed(self, seq: int, exc: BaseException) -> None:
        if seq == self._seq:
            self.panel.status.setText("")
        self.message.emit(f"Cannot play: {exc}")

    def _start(self, seq: int, out) -> None:
        if seq != self._seq:
            return  # a newer request superseded this one
        x, sr, start, speed = out
        self.last = out
        try:
            self.player.play(x, sr, loop=self.panel.loop.isChecked(),
                             on_finished=lambda s=seq: self._ended.emit(s))
        except SpecviewError as exc:
            self.panel.status.setText("")
            self.message.emit(f"Cannot play: {exc}")
            return
        self._timer.start()
        self.panel.status.setText(f"Playing {len(x) / sr:.2f} s from {start:.2f} s at {speed:g}×")
        self.message.emit(f"Playing {len(x) / sr:.2f} s from {start:.2f} s at {speed:g}×")

    def stop(self) -> None:
        self._seq += 1
        if self._player is not None:
            self._player.stop()
        self._timer.stop()
        self.panel.status.setText("")
        self.view.set_playhead(self.cursor_t)

    def toggle(self) -> None:
        """Space: stop when playing, else play the selection (if any) or the clip."""
        if self.is_playing:
            self.stop()
        else:
            self.play("selection" if self.state.selected is not None else "clip")

    @property
    def is_playing(self) -> bool:
        return self._player is not None and self._player.is_playing

    def _tick(self) -> None:
        p = self._player.position() if self._player is not None else None
        if p is None or self.last is None:
            return
        _x, _sr, start, speed = self.last
        self.view.set_playhead(start + p * speed)

    def _on_ended(self, seq: int) -> None:
        if seq == self._seq:
            self._timer.stop()
            self.panel.status.setText("")
            self.view.set_playhead(self.cursor_t)
            self.finished.emit()

    def shutdown(self) -> None:
        self.stop()
        if self._player is not None:
            self._player.close()
