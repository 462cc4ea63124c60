"""Controls beside the view: the clip score, heatmap look, spectrogram look, model facts."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from specview.gui.display_panel import DisplaySettingsBox
from specview.gui.freq_scale import format_hz
from specview.gui.state import AppState, ClipScore, summary
from specview.gui.view_items import HEAT_COLORMAPS, SCALE_MODES


class OverlayPanel(QWidget):
    """Emits what the user sets; shows the state's clip score and model.

    Signals
    -------
    heat_visible_changed(bool), opacity_changed(float 0..1), heat_colormap_changed(str),
    scale_mode_changed(str), boxes_visible_changed(bool); the display spectrogram's
    settings come from :attr:`display` (``settings_changed``)
    """

    heat_visible_changed = Signal(bool)
    opacity_changed = Signal(float)
    heat_colormap_changed = Signal(str)
    scale_mode_changed = Signal(str)
    boxes_visible_changed = Signal(bool)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state

        # -- anomaly --------------------------------------------------------------------------
        self.score_label = QLabel("—")
        self.score_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = self.score_label.font()
        f.setPointSizeF(f.pointSizeF() * 2.0)
        f.setBold(True)
        self.score_label.setFont(f)
        self.score_caption = QLabel("clip score (higher = more anomalous)")
        self.score_caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.peak_label = QLabel("")
        self.peak_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.peak_label.setWordWrap(True)
        self.score_caption.setWordWrap(True)
        self.heat_check = QCheckBox("Show heatmap")
        self.heat_check.setChecked(True)
        self.heat_check.setToolTip("Toggle the anomaly heatmap (H)")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(70)
        self.opacity_slider.setToolTip("Heatmap opacity")
        self.opacity_value = QLabel("70 %")
        self.heat_cmap = QComboBox()
        self.heat_cmap.addItems(HEAT_COLORMAPS)
        self.scale_combo = QComboBox()
        for key, text in SCALE_MODES.items():
            self.scale_combo.addItem(text, key)
        self.scale_combo.setToolTip(
            "Colour range of the heatmap:\n"
            "calibrated: 0 = a typical normal cell, 1 = the flag threshold learnt on normal\n"
            "  clips held out of the fit; the same colour means the same on every clip\n"
            "  and for every method (models fitted before calibration use shared)\n"
            "or from 0 to:\n"
            "shared: the highest score of any clip scored with this model (clips compare;\n"
            "  File ▸ Score all test clips fills it in for the whole dataset)\n"
            "this clip: its own highest score (always uses the full colour range)\n"
            "fixed: what the colour bar shows now; drag its handles to change it")
        anomaly = QGroupBox("Anomaly")
        form = QFormLayout(anomaly)
        form.addRow(self.score_label)
        form.addRow(self.score_caption)
        form.addRow(self.peak_label)
        form.addRow(self.heat_check)
        form.addRow("Opacity", self.opacity_slider)
        form.addRow("", self.opacity_value)
        form.addRow("Colours", self.heat_cmap)
        form.addRow("Scale", self.scale_combo)

        # -- spectrogram: the display spectrogram's settings ---------------------------------
        self.display = DisplaySettingsBox()
        self.boxes_check = self.display.boxes_check

        # -- model ----------------------------------------------------------------------------
        self.model_label = QLabel("No model.\nFile ▸ Load model… or Fit on folder…")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        model = QGroupBox("Model")
        QVBoxLayout(model).addWidget(self.model_label)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(anomaly)
        lay.addWidget(self.display)
        lay.addWidget(model)
        lay.addStretch(1)

        self.heat_check.toggled.connect(self.heat_visible_changed)
        self.opacity_slider.valueChanged.connect(self._on_opacity)
        self.heat_cmap.currentTextChanged.connect(self.heat_colormap_changed)
        self.scale_combo.currentIndexChanged.connect(
            lambda _i: self.scale_mode_changed.emit(self.scale_combo.currentData()))
        self.boxes_check.toggled.connect(self.boxes_visible_changed)
        state.results_changed.connect(self._show_result)
        state.model_changed.connect(self._show_model)
        state.model_saved.connect(self._show_model)
        self._show_result()

    def _on_opacity(self, value: int) -> None:
        self.opacity_value.setText(f"{value} %")
        self.opacity_changed.emit(value / 100.0)

    @property
    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    def _show_result(self) -> None:
        r = self.state.result
        if r is None:
            self.score_label.setText("—")
            self.peak_label.setText("" if self.state.model else "load or fit a model to score")
            return
        sc = summary(r, self.state.model)
        span = ""
        if self.state.long is not None:
            # a span of a long recording: its peak on the store's threshold, and the events
            # found on the whole map (not the span's own regions)
            cal = self.state.calibration
            top = float(r.map.max()) if r.map.size else 0.0
            peak = float(cal.calibrated(np.array([[top]]))[0, 0]) if cal is not None else None
            sc = ClipScore(sc.clip_score, top, peak, len(self.state.flagged))
            span = "span "
        self.score_label.setText(sc.text())
        if sc.peak is not None:
            self.score_caption.setText(f"{span}peak, × flag threshold — {sc.verdict}")
            self.score_label.setStyleSheet("color: #d04000;" if sc.n_flagged else "")
        else:
            self.score_caption.setText("clip score (higher = more anomalous; no calibration)")
            self.score_label.setStyleSheet("")
        self.score_label.setToolTip(f"raw clip score {r.clip_score:#.3g} (scale of the method: "
                                    "not comparable across methods)")
        if r.map.size:
            i, j = np.unravel_index(int(np.argmax(r.map)), r.map.shape)
            self.peak_label.setText(
                f"peak at {float(r.times[j]):.2f} s, {format_hz(float(r.freqs[i]))}")

    def _show_model(self, *_args) -> None:
        m = self.state.model
        if m is None:
            self.model_label.setText("No model.")
            return
        info = m.info
        where = self.state.model_path.name if self.state.model_path else "not saved yet"
        lines = [
            f"<b>{m.method}</b> on <b>{m.encoder.name}</b> features",
            f"file: {where}",
        ]
        if "n_train_clips" in info:
            lines.append(f"trained on {info['n_train_clips']} clips"
                         + (f" ({info['train_seconds']:.0f} s)" if "train_seconds" in info else ""))
        if info.get("fitted_at"):
            lines.append(f"fitted {str(info['fitted_at'])[:16].replace('T', ' ')}")
        fe = m.encoder.front_end
        lines.append(f"{fe.n_mels} mel bands, hop {fe.seconds_per_frame * 1000:.1f} ms")
        self.model_label.setText("<br>".join(lines))
        self.model_label.setToolTip(str(self.state.model_path or ""))
        self._show_result()
