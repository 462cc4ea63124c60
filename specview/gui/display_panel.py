"""The display spectrogram's settings, as Raven's and Audacity's spectrogram preferences have
them: FFT size, window, overlap, zero padding, frequency scale and range, levels, colours."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QWidget,
)

from specview.display import COLORMAPS, MAX_FFT, MIN_FFT, SCALES, WINDOWS, DisplaySettings
from specview.errors import ParameterError
from specview.gui.fine_view import GUI_DEFAULT

FFT_SIZES = tuple(2 ** k for k in range(MIN_FFT.bit_length() - 1, MAX_FFT.bit_length()))
OVERLAPS = (0.0, 0.5, 0.75, 0.875, 0.9375)
PADDINGS = (1, 2, 4, 8)
#: Settings changes are applied this long after the last one (ms): a spin box's steps while a
#: key is held ask for one picture, not for each step.
SETTLE_MS = 150


def _spin(lo: float, hi: float, step: float, suffix: str, tip: str, decimals: int = 0
          ) -> QDoubleSpinBox:
    w = QDoubleSpinBox()
    w.setRange(lo, hi)
    w.setSingleStep(step)
    w.setDecimals(decimals)
    w.setSuffix(suffix)
    w.setToolTip(tip)
    w.setKeyboardTracking(False)
    return w


def _row(*parts: QWidget | str) -> QHBoxLayout:
    """One line of the form: the fields share its width, labels (text) and check boxes keep
    theirs."""
    row = QHBoxLayout()
    for w in parts:
        if isinstance(w, str):
            row.addWidget(QLabel(w))
        else:
            row.addWidget(w, 1 if isinstance(w, (QComboBox, QDoubleSpinBox)) else 0)
    return row


class DisplaySettingsBox(QGroupBox):
    """Edits a :class:`~specview.display.DisplaySettings`.

    Signals
    -------
    settings_changed(DisplaySettings)
        Valid settings the user set (a moment after the last change).
    """

    settings_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Spectrogram", parent)
        self.sample_rate = 0
        self.fft = QComboBox()
        for n in FFT_SIZES:
            self.fft.addItem(str(n), n)
        self.fft.setToolTip("Window length in samples: longer resolves close frequencies, "
                            "shorter resolves quick events")
        self.window = QComboBox()
        self.window.addItems(list(WINDOWS))
        self.window.setToolTip("Window function of each FFT frame")
        self.overlap = QComboBox()
        for o in OVERLAPS:
            self.overlap.addItem(f"{o * 100:g} %", o)
        self.overlap.setToolTip("How much of a window the next one overlaps")
        self.padding = QComboBox()
        for z in PADDINGS:
            self.padding.addItem(f"{z}×", z)
        self.padding.setToolTip("Zero padding: FFT length = window × this (smoother in "
                                "frequency; the resolution stays the window's)")
        self.scale = QComboBox()
        self.scale.addItems(list(SCALES))
        self.scale.setToolTip("Frequency axis: linear (Hz), log, or mel (the encoder's)")
        self.fmin = _spin(0.0, 500000.0, 100.0, " Hz", "Lowest frequency shown")
        self.fmax = _spin(0.0, 500000.0, 1000.0, " Hz", "Highest frequency shown")
        self.fmax.setSpecialValueText("Nyquist")
        self.auto = QCheckBox("Automatic")
        self.auto.setToolTip("Top of the colour range at the recording's loud steady sound "
                             "(the 99th percentile of each frame's loudest cell)")
        self.ceiling = _spin(-200.0, 100.0, 5.0, " dB", "Top of the colour range (dB re a "
                             "full-scale sine)")
        self.range = _spin(10.0, 200.0, 10.0, " dB", "Levels shown below the top")
        self.gain = _spin(-60.0, 60.0, 3.0, " dB", "Gain added to every level", 1)
        self.colormap = QComboBox()
        self.colormap.addItems(list(COLORMAPS))
        self.colormap.setToolTip("Colour map (perceptually uniform ones first)")
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.boxes_check = QCheckBox("Show ground-truth boxes")
        self.boxes_check.setChecked(True)

        form = QFormLayout(self)
        form.addRow("FFT", _row(self.fft, self.window))
        form.addRow("Overlap", _row(self.overlap, "pad", self.padding))
        form.addRow("Scale", self.scale)
        form.addRow("Range", _row(self.fmin, "–", self.fmax))
        form.addRow("Top", _row(self.auto, self.ceiling))
        form.addRow("Levels", _row(self.range, "gain", self.gain))
        form.addRow("Colours", self.colormap)
        form.addRow(self.info)
        form.addRow(self.boxes_check)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(SETTLE_MS)
        self._timer.timeout.connect(self._emit)
        for combo in (self.fft, self.window, self.overlap, self.padding, self.scale,
                      self.colormap):
            combo.currentIndexChanged.connect(self._changed)
        for spin in (self.fmin, self.fmax, self.ceiling, self.range, self.gain):
            spin.valueChanged.connect(self._changed)
        self.auto.toggled.connect(self._auto_toggled)
        #: the top the automatic levels give now (dB), for the ceiling's start when the user
        #: switches them off (the window sets it)
        self.current_top = lambda: None
        self._shown = GUI_DEFAULT
        self.set_settings(GUI_DEFAULT)

    def settings(self) -> DisplaySettings:
        """What the controls say; raises ParameterError for an impossible combination."""
        fmax = self.fmax.value()
        return DisplaySettings(
            n_fft=int(self.fft.currentData()), window=self.window.currentText(),
            overlap=float(self.overlap.currentData()),
            zero_padding=int(self.padding.currentData()), scale=self.scale.currentText(),
            n_rows=self._shown.n_rows, fmin=self.fmin.value(), fmax=fmax if fmax > 0 else None,
            gain_db=self.gain.value(), db_range=self.range.value(),
            db_ceiling=None if self.auto.isChecked() else self.ceiling.value(),
            colormap=self.colormap.currentText())

    def set_settings(self, s: DisplaySettings) -> None:
        """Show ``s`` (emits nothing)."""
        self._shown = s
        widgets = (self.fft, self.window, self.overlap, self.padding, self.scale, self.fmin,
                   self.fmax, self.auto, self.ceiling, self.range, self.gain, self.colormap)
        blockers = [QSignalBlocker(w) for w in widgets]
        try:
            self.fft.setCurrentIndex(max(0, self.fft.findData(int(s.n_fft))))
            if self.fft.currentData() != s.n_fft:
                self.fft.addItem(str(s.n_fft), int(s.n_fft))
                self.fft.setCurrentIndex(self.fft.count() - 1)
            self.window.setCurrentText(s.window)
            i = self.overlap.findData(float(s.overlap))
            if i < 0:
                self.overlap.addItem(f"{s.overlap * 100:g} %", float(s.overlap))
                i = self.overlap.count() - 1
            self.overlap.setCurrentIndex(i)
            self.padding.setCurrentIndex(max(0, self.padding.findData(int(s.zero_padding))))
            self.scale.setCurrentText(s.scale)
            self.fmin.setValue(float(s.fmin))
            self.fmax.setValue(float(s.fmax) if s.fmax is not None else 0.0)
            self.auto.setChecked(s.db_ceiling is None)
            self.ceiling.setValue(float(s.db_ceiling) if s.db_ceiling is not None else 0.0)
            self.ceiling.setEnabled(s.db_ceiling is not None)
            self.range.setValue(float(s.db_range))
            self.gain.setValue(float(s.gain_db))
            self.colormap.setCurrentText(s.colormap)
        finally:
            del blockers
        self._show_info(s)

    def set_sample_rate(self, sr: int) -> None:
        """The recording's rate, for the resolution shown below the settings."""
        self.sample_rate = int(sr or 0)
        self._show_info(self._shown)

    def set_status(self, text: str) -> None:
        """What the display spectrogram is doing (computing, or how long it took)."""
        self._status = text
        self._show_info(self._shown)

    def _show_info(self, s: DisplaySettings, error: str = "") -> None:
        if error:
            self.info.setText(f"<span style='color:#d04000'>{error}</span>")
            return
        lines = []
        if self.sample_rate:
            sr = self.sample_rate
            lines.append(f"{sr / s.n_fft:.1f} Hz per bin (window), a frame every "
                         f"{s.hop / sr * 1000:.1f} ms; {sr / 2000:g} kHz Nyquist")
        if getattr(self, "_status", ""):
            lines.append(self._status)
        self.info.setText("<br>".join(lines))

    def _auto_toggled(self, on: bool) -> None:
        top = None if on else self.current_top()
        if top is not None:
            with QSignalBlocker(self.ceiling):
                self.ceiling.setValue(round(float(top)))
        self._changed()

    def _changed(self, *_args) -> None:
        self.ceiling.setEnabled(not self.auto.isChecked())
        self._timer.start()

    def _emit(self) -> None:
        try:
            s = self.settings()
        except ParameterError as exc:
            self._show_info(self._shown, str(exc))
            return
        self._shown = s
        self._show_info(s)
        self.settings_changed.emit(s)

    def apply_now(self) -> None:
        """Apply a pending change at once (tests, and before the window closes)."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit()
