"""What the spectrogram views draw with: colour maps, the Hz axis, the cursor's read-out.

Shared by the main view (:mod:`specview.gui.spectrogram_view`), the comparison window's panes
and the long recording's overview strip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pyqtgraph as pg

from specview.gui.freq_scale import format_hz

HEAT_COLORMAPS = ("inferno", "viridis", "turbo", "plasma", "magma")
#: How the colour bar's range is chosen for each clip.
SCALE_MODES = {
    "calibrated": "calibrated on normal clips",
    "shared": "shared by scored clips",
    "clip": "this clip's maximum",
    "fixed": "fixed (drag the bar)",
}
#: The display spectrogram's colour maps (:data:`specview.display.COLORMAPS`) in pyqtgraph's names.
SPEC_COLORMAPS = {"viridis": "viridis", "magma": "magma", "inferno": "inferno",
                  "cividis": "cividis", "plasma": "plasma", "gray": "CET-L1", "gray_r": "CET-L1"}
CROSSHAIR_COLOUR = "#c8c8c8"
PLAYHEAD_COLOUR = "#ff4040"
#: Top of the colour bar on the calibrated scale (0 = typical normal cell, 1 = flag threshold).
CAL_MAX = 2.0
BACKGROUND = "#1e1e1e"
PLACEHOLDER = ("Open a recording (Ctrl+O) or a folder/dataset (Ctrl+Shift+O),\n"
               "or drop audio files, folders or a .safetensors model here.")
AXIS_WIDTH = 62  # both plots' left axes share this width so their time axes line up


def spec_colormap(name: str) -> pg.ColorMap:
    """A spectrogram colour map by its :data:`specview.display.COLORMAPS` name (``grey``, the
    name of older versions, is ``gray``)."""
    name = {"grey": "gray"}.get(name, name)
    cmap = pg.colormap.get(SPEC_COLORMAPS.get(name, "CET-L1"))
    if name == "gray_r":  # a copy: pyqtgraph hands out one shared object per name
        cmap = pg.ColorMap(1.0 - cmap.pos[::-1], cmap.color[::-1], name="gray_r")
    return cmap


def heat_colormap(name: str) -> pg.ColorMap:
    """``name`` made see-through at the low end: alpha rises smoothly from 0 (scores below 5 %
    of the range) to 1 (above 55 %), so the spectrogram stays readable under ordinary scores.
    The darkest 15 % of the colours is skipped: near-black would only dim the spectrogram."""
    base = pg.colormap.get(name)
    x = np.linspace(0.0, 1.0, 256)
    rgba = np.array(base.map(0.15 + 0.85 * x, mode=pg.ColorMap.BYTE), dtype=np.ubyte)
    a = np.clip((x - 0.05) / 0.5, 0.0, 1.0)
    rgba[:, 3] = np.round(255 * a * a * (3 - 2 * a)).astype(np.ubyte)
    return pg.ColorMap(x, rgba, name=f"{name}-fade")


class HzAxis(pg.AxisItem):
    """Left axis of a frequency scale (:class:`FreqScale`, or a band-per-row image's
    :class:`~specview.gui.freq_scale.BandScale`): ticks at round frequencies, labelled in Hz."""

    def __init__(self, **kw) -> None:
        super().__init__("left", **kw)
        self.band_scale = None
        self.enableAutoSIPrefix(False)

    def set_band_scale(self, scale) -> None:
        self.band_scale = scale
        self.picture = None  # drop pyqtgraph's cached drawing
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803 - Qt API
        ticks = None if self.band_scale is None else self.band_scale.ticks(minVal, maxVal, size)
        if ticks is None:
            return super().tickValues(minVal, maxVal, size)
        return [(1.0, ticks)]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - Qt API
        if self.band_scale is None:
            return super().tickStrings(values, scale, spacing)
        if getattr(self.band_scale, "kind", None) == "linear":  # evenly spaced Hz
            if spacing >= 100:
                return [f"{v / 1000:g}k" if abs(v) >= 1000 else f"{v:g}" for v in values]
            digits = max(0, -int(math.floor(math.log10(max(spacing, 1e-6)))))
            return [f"{v:.{digits}f}" for v in values]
        return [format_hz(float(self.band_scale.hz_of_y(v)), tick=True) for v in values]


@dataclass(frozen=True)
class Readout:
    """What lies under the cursor."""

    time_s: float
    freq_hz: float
    level_db: float
    score: float | None
    unit: str = "dB"
    #: ``score`` in multiples of the flag threshold (the colour bar's unit), when calibrated.
    calibrated: float | None = None

    def text(self) -> str:
        """The read-out in the status bar."""
        return self._join(long=True)

    def short(self) -> str:
        """The read-out beside the crosshair."""
        return self._join(long=False)

    def _join(self, *, long: bool) -> str:
        t, f = f"{self.time_s:.3f} s", format_hz(self.freq_hz)
        parts = [f"t {t}", f"f {f}"] if long else [t, f]
        if math.isfinite(self.level_db):
            parts.append(f"{self.level_db:.1f} {self.unit}")
        if self.calibrated is not None:
            parts.append(f"anomaly {self.calibrated:.2f}× threshold (raw {self.score:#.3g})"
                         if long else f"{self.calibrated:.2f}× thr")
        elif self.score is not None:
            parts.append(f"score {self.score:#.3g}")
        return ("   " if long else "  ").join(parts)


def top_clear_of(label: pg.GraphicsObject, legend: pg.GraphicsObject, margin: float = 4.0
                 ) -> float:
    """Where the top of a label in the view's top-left corner goes (pixels of the view box
    both sit in): the corner, or under the top-right ``legend`` when the view is too narrow
    for both side by side."""
    width = label.mapRectToParent(label.boundingRect()).width()
    box = legend.mapRectToParent(legend.boundingRect())
    if legend.isVisible() and 2 * margin + width > box.left():
        return box.bottom() + margin
    return margin
