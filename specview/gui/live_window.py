"""The Live window (issue 16, menu *Live ▸ Monitor…*): a machine listened to through an input
device, or a recording replayed, scored live by the same monitor as ``specview monitor``
(:class:`~specview.gui.live_session.LiveSession`), shown as it scrolls
(:class:`~specview.gui.live_view.LiveView`), with the events in a list as they open and close.

Each event opening raises a visible notice (the banner, the window's alert, the status bar) and,
when *Beep on each event* is ticked (off by default), a short beep through
:class:`specview.playback.Player`. Clicking a saved event opens its clip (with its Raven
sidecar) in the main window with its flagged box selected, where it is listened to,
band-limited or anomaly-only, and annotated as any recording; the events folder is opened as
the dataset so the other events are a click away in the clip list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from specview.gui.freq_scale import format_hz
from specview.gui.live_session import LiveInput, LiveSession
from specview.gui.live_view import LiveView

COLUMNS = ("#", "start (s)", "end (s)", "band", "peak (× thr)", "state")
#: Rows the event list keeps (the oldest go; every event stays in the folder's events.jsonl).
MAX_ROWS = 1000
BEEP_HZ, BEEP_SECONDS, BEEP_SR = 1000.0, 0.15, 44100
NOTICE_STYLE = ("QLabel { background: #b00020; color: white; font-weight: bold; "
                "padding: 6px; border-radius: 3px; }")
QUIET_STYLE = "QLabel { background: #2a2a2a; color: #c8c8c8; padding: 6px; border-radius: 3px; }"
QUIET_TEXT = "No event yet"
CLOSED_STYLE = ("QLabel { background: #1c4a66; color: white; padding: 6px; "
                "border-radius: 3px; }")


def beep_signal(sr: int = BEEP_SR) -> np.ndarray:
    """A short 1 kHz beep with faded edges (float32 mono)."""
    from specview.playback import fade_edges

    t = np.arange(int(BEEP_SECONDS * sr)) / sr
    return fade_edges((0.3 * np.sin(2 * np.pi * BEEP_HZ * t)).astype(np.float32), sr, ms=10.0)


class LiveWindow(QMainWindow):
    """The live view of one monitor run at a time.

    Parameters
    ----------
    main : MainWindow, optional
        Where a clicked event opens.
    player : object, optional
        A :class:`specview.playback.Player` (or anything with ``play(samples, sr)``) for the
        beep; made on first use otherwise.
    seconds : float
        Seconds of input the view holds.
    """

    def __init__(self, main=None, *, player=None, seconds: float = 30.0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("specview — Live")
        self.main = main
        self._player = player
        self.session = LiveSession(self)
        self.view = LiveView(seconds=seconds)
        self.model_path: Path | None = None
        self.out: Path | None = None
        self.events: dict[int, dict] = {}
        self._rows: dict[int, int] = {}
        self.beeps = 0

        self.source_label = QLabel("Not monitoring")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop listening: the open event is closed and saved")
        self.beep_check = QCheckBox("Beep on each event")
        self.beep_check.setToolTip("A short beep through the audio output when an event opens")
        # always shown (its text changes): a banner that appears would re-lay the view out
        self.notice = QLabel(QUIET_TEXT)
        self.notice.setStyleSheet(QUIET_STYLE)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)  # the band
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.table.setToolTip("Click a saved event to open its clip in the main window")

        bar = QHBoxLayout()
        bar.addWidget(self.source_label, 1)
        bar.addWidget(self.beep_check)
        bar.addWidget(self.stop_button)
        side = QWidget()
        side_lay = QVBoxLayout(side)
        side_lay.setContentsMargins(0, 0, 0, 0)
        side_lay.addWidget(QLabel("Events (click a saved one to inspect it)"))
        side_lay.addWidget(self.table)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        central = QWidget()
        col = QVBoxLayout(central)
        col.addLayout(bar)
        col.addWidget(self.notice)
        col.addWidget(split, 1)
        self.setCentralWidget(central)
        self.resize(1280, 720)
        split.setSizes([860, 420])

        s = self.session
        s.columns_ready.connect(lambda: self.view.add_columns(s.drain()))
        s.event_changed.connect(self._on_event)
        s.started.connect(self._on_started)
        s.ended.connect(self._on_ended)
        s.status.connect(self._on_status)
        self.stop_button.clicked.connect(self.stop)
        self.table.cellClicked.connect(lambda row, _c: self.inspect_row(row))
        self.view.event_clicked.connect(self.inspect)
        self.beep_check.toggled.connect(self._beep_toggled)
        self._inspecting: Path | None = None
        if main is not None:
            main.state.clip_loaded.connect(self._on_main_clip)

    # -- control ---------------------------------------------------------------------------------
    def start(self, inp: LiveInput, out: str | Path, *, model_path: str | Path | None = None,
              model=None, settings=None, sinks=()) -> None:
        """Monitor ``inp`` with the model file ``model_path`` (or a loaded ``model``), events
        into ``out``."""
        self.model_path = Path(model_path) if model_path is not None else None
        self.out = Path(out)
        self.view.reset()
        self.events.clear()
        self._rows.clear()
        self.table.setRowCount(0)
        self.notice.setStyleSheet(QUIET_STYLE)
        self.notice.setText(QUIET_TEXT)
        self.source_label.setText(f"Starting {inp.describe()}…")
        self.stop_button.setEnabled(True)
        self.session.start(inp, out, model=model, model_path=model_path, settings=settings,
                           sinks=sinks)

    def stop(self) -> None:
        """Stop listening (the open event is closed and saved); the thread ends by itself."""
        if self.session.running:
            self.source_label.setText(self.source_label.text() + " — stopping…")
        self.session.stop()
        self.stop_button.setEnabled(False)

    def _on_started(self, info: dict) -> None:
        self.source_label.setText(
            f"● LIVE  {info['name']} ({info['sr']} Hz, {info['channels']} channel(s)); "
            f"events in {info['out']}")

    def _on_ended(self, result) -> None:
        self.stop_button.setEnabled(False)
        if isinstance(result, BaseException):
            text = f"Live monitoring failed: {result}"
            self.source_label.setText(text)
            if self.main is not None:
                self.main.show_error("Live monitoring failed", str(result))
            return
        if result is None:
            self.source_label.setText("Stopped before the input opened")
            return
        how = "stopped" if result.stopped else "input ended"
        self.source_label.setText(
            f"{how}: {result.audio_seconds:.1f} s of audio, {result.events} event(s) saved in "
            f"{self.out}, {result.gaps} gap(s)")

    def _on_status(self, info: dict) -> None:
        if "gap" in info:
            self.statusBar().showMessage(
                f"gap of {info['gap']:.3f} s in the input at {info['at']:.2f} s "
                f"({info.get('why') or 'input lost'})", 10000)

    # -- events ----------------------------------------------------------------------------------
    def _on_event(self, change: str, ev, clip: str) -> None:
        if ev.suppressed:
            return
        rec = self.events.setdefault(ev.id, {})
        rec.update(event=ev, clip=Path(clip), saved=rec.get("saved", False) or change == "saved")
        self._set_row(ev, rec["saved"])
        self.view.show_event(ev)
        text = (f"Event {ev.id}: {ev.start:.2f}–{ev.end:.2f} s, {format_hz(ev.f_low)}–"
                f"{format_hz(ev.f_high)}, peak {ev.peak:.1f}× threshold")
        if change in ("open", "update") and ev.id == max(self.events):
            self.notice.setStyleSheet(NOTICE_STYLE)
            self.notice.setText(f"⚠ {text} (open)")
        if change == "open":
            self.statusBar().showMessage(f"{text} — opened", 10000)
            QApplication.alert(self, 3000)
            if self.beep_check.isChecked():
                self.beep()
        elif change in ("close", "saved") and ev.id == max(self.events):
            self.notice.setStyleSheet(CLOSED_STYLE)
            tail = ("saved: click it in the list to inspect" if change == "saved"
                    else "closed; its clip is saved once the post-roll has arrived")
            self.notice.setText(f"{text} — {tail}")

    def _set_row(self, ev, saved: bool) -> None:
        row = self._rows.get(ev.id)
        if row is None:
            if self.table.rowCount() >= MAX_ROWS:  # the oldest event goes (memory stays flat)
                oldest = self.table.item(0, 0).data(Qt.ItemDataRole.UserRole)
                self.events.pop(oldest, None)
                self.table.removeRow(0)
                self._rows = {i: r - 1 for i, r in self._rows.items() if r > 0}
            row = self.table.rowCount()
            self.table.insertRow(row)
            self._rows[ev.id] = row
        state = "saved" if saved else ev.state
        values = (str(ev.id), f"{ev.start:.2f}", f"{ev.end:.2f}",
                  f"{format_hz(ev.f_low)} – {format_hz(ev.f_high)}",
                  f"{ev.peak:.2f}", state)
        for c, v in enumerate(values):
            item = QTableWidgetItem(v)
            item.setData(Qt.ItemDataRole.UserRole, ev.id)
            if c in (1, 2, 4):
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.table.setItem(row, c, item)

    def event_ids(self) -> list[int]:
        """The events listed, in list order."""
        return [self.table.item(r, 0).data(Qt.ItemDataRole.UserRole)
                for r in range(self.table.rowCount())]

    def inspect_row(self, row: int) -> None:
        item = self.table.item(row, 0)
        if item is not None:
            self.inspect(int(item.data(Qt.ItemDataRole.UserRole)))

    def inspect(self, event_id: int) -> Path | None:
        """Open event ``event_id``'s saved clip in the main window (the events folder as the
        dataset, the model of the run loaded there); None while its clip is not saved yet."""
        rec = self.events.get(event_id)
        if rec is None or not rec["saved"]:
            self.statusBar().showMessage(
                f"Event {event_id}'s clip is saved once it has closed and its post-roll has "
                f"arrived", 8000)
            return None
        path = rec["clip"]
        main = self.main
        if main is None:
            return path
        self._inspecting = path
        c, st = main.controller, main.state
        if self.out is not None and (st.dataset is None or Path(st.dataset.root) != self.out):
            c.open_folder(self.out)
        c.open_clip(path)
        if self.model_path is not None and st.model_path != self.model_path and not c.busy:
            c.load_model(self.model_path)  # the clip is scored again once it is loaded
        main.raise_()
        main.activateWindow()
        return path

    def _on_main_clip(self, path) -> None:
        """The inspected event's clip is on screen (again, once scored): its flagged box is
        selected, ready for *Play box* (band-limited with *Only the box's band*)."""
        st = self.main.state
        if self._inspecting is not None and path is not None and Path(path) == self._inspecting \
                and st.boxes and st.selected is None:
            st.select(0)

    # -- the beep --------------------------------------------------------------------------------
    def _beep_toggled(self, on: bool) -> None:
        if not on or self._player is not None:
            return
        from specview.playback import Player

        ok, why = Player.available()
        if not ok:
            self.beep_check.setChecked(False)
            self.beep_check.setToolTip(f"No beep: {why}")
            self.statusBar().showMessage(f"No beep: {why}", 10000)

    def beep(self) -> None:
        try:
            if self._player is None:
                from specview.playback import Player

                self._player = Player()
            self._player.play(beep_signal(), BEEP_SR)
            self.beeps += 1
        except Exception as exc:  # noqa: BLE001 - a missing output must not stop the view
            self.statusBar().showMessage(f"No beep: {exc}", 8000)

    # -- closing ---------------------------------------------------------------------------------
    def shutdown(self, timeout: float = 20.0) -> bool:
        """Stop the run and wait for its thread; True when it has ended."""
        self.session.stop()
        ok = self.session.wait(timeout)
        if self._player is not None and hasattr(self._player, "close"):
            self._player.close()
        return ok

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)
