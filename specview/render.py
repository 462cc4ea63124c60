"""Figures of the window's view for reports and papers: ``specview render`` (issue 15).

One figure: the display spectrogram (:mod:`specview.display`, its own FFT, scale and dB
range), the anomaly heatmap over it in physical coordinates (seconds x Hz, whatever the display
scale) with its colour bar in multiples of the flag threshold, the truth boxes (white, dashed)
and the flagged regions (green, with their peak), axes in s and Hz. PNG, PDF or SVG, chosen by
the file's suffix, written atomically.

Core ring plus matplotlib (drawn off-screen).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from specview.display import (
    DisplaySettings,
    cell_edges,
    hz_to_mel,
    level_range,
    mel_to_hz,
    spectrogram,
)
from specview.errors import ParameterError
from specview.types import Box, FlaggedRegion

#: Suffixes a figure can be written as.
FORMATS = (".png", ".pdf", ".svg")
#: Colour range of the heatmap, in multiples of the flag threshold.
HEAT_MAX = 2.0
TRUTH = {"edgecolor": "white", "linestyle": "--", "linewidth": 1.3, "fill": False}
FLAGGED = {"edgecolor": "#9dff00", "linestyle": "-", "linewidth": 1.3, "fill": False}
_HZ_TICKS = (20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)


def _heat_cmap():
    """Inferno whose low end is transparent: normal cells leave the spectrogram visible, cells
    at the threshold and above cover it."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    base = colormaps["inferno"](np.linspace(0.2, 0.85, 256))
    level = np.linspace(0.0, HEAT_MAX, 256)
    base[:, 3] = np.clip((level - 0.35) / 0.65, 0.0, 1.0) * 0.5
    return ListedColormap(base, name="specview_heat")


def view_figure(
    samples: np.ndarray, sr: int, *, start: float = 0.0,
    settings: DisplaySettings | None = None, heat: np.ndarray | None = None,
    heat_times: np.ndarray | None = None, heat_freqs: np.ndarray | None = None,
    heat_label: str = "anomaly score (x flag threshold)",
    boxes: Sequence[Box] = (), flagged: Sequence[FlaggedRegion] = (),
    span: tuple[float, float] | None = None, size_px: tuple[int, int] = (1600, 900),
    dpi: int = 100, title: str | None = None,
):
    """The view as a matplotlib Figure.

    Parameters
    ----------
    samples, sr, start
        Mono audio of the span (``samples[0]`` at ``start`` s of the recording).
    settings : DisplaySettings
        The display spectrogram's settings (frequency range and scale included).
    heat, heat_times, heat_freqs
        The anomaly map to draw over it, ``(n_freq, n_time)`` in multiples of the flag
        threshold (0 = normal, 1 = threshold), on its own grid (s, Hz).
    span : (float, float), optional
        The time range shown (default: the samples').
    size_px : (int, int)
        Width and height of the figure in pixels at ``dpi``.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    s = settings or DisplaySettings()
    w, h = int(size_px[0]), int(size_px[1])
    if not (200 <= w <= 20000 and 150 <= h <= 20000):
        raise ParameterError(f"figure size {w}x{h} px: use 200-20000 x 150-20000")
    spec = spectrogram(samples, sr, s, start=start)
    lo_db, hi_db = level_range(spec, s)
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    t_e, f_e = cell_edges(spec.times), cell_edges(spec.freqs)
    f_lo, f_hi = s.band(sr)
    f_e = np.clip(f_e, f_lo, f_hi)
    img = ax.pcolormesh(t_e, f_e, spec.values, cmap=s.colormap, vmin=lo_db, vmax=hi_db,
                        shading="flat", rasterized=True)
    cb = fig.colorbar(img, ax=ax, pad=0.01, fraction=0.04)
    cb.set_label("level (dB re full-scale sine)")
    if heat is not None:
        if heat_times is None or heat_freqs is None:
            raise ParameterError("heat needs its times and freqs")
        ht, hf = np.asarray(heat_times), np.asarray(heat_freqs)
        keep = (hf >= f_lo * 0.5) & (hf <= f_hi * 1.5) if s.scale == "log" else np.ones(
            hf.size, bool)
        he = np.clip(cell_edges(hf), max(f_lo, 1e-3 if s.scale == "log" else 0.0), f_hi)
        rows = np.nonzero(keep)[0]
        if rows.size:
            hm = ax.pcolormesh(cell_edges(ht), he[rows[0]:rows[-1] + 2],
                               np.asarray(heat)[rows[0]:rows[-1] + 1], cmap=_heat_cmap(),
                               vmin=0.0, vmax=HEAT_MAX, shading="flat", rasterized=True)
            cb2 = fig.colorbar(hm, ax=ax, pad=0.01, fraction=0.04)
            cb2.set_label(heat_label)
            cb2.ax.axhline(1.0, color="#9dff00", linewidth=1.5)
    for b in boxes:
        ax.add_patch(Rectangle((b.t0, b.f0), b.t1 - b.t0, b.f1 - b.f0, **TRUTH))
    for r in flagged:
        b = r.box
        ax.add_patch(Rectangle((b.t0, b.f0), b.t1 - b.t0, b.f1 - b.f0, **FLAGGED))
        if np.isfinite(getattr(r, "score", np.nan)):
            ax.annotate(f"{r.score:.1f}x", (b.t0, b.f1), color="#9dff00", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
    if s.scale == "log":
        ax.set_yscale("log")
    elif s.scale == "mel":
        ax.set_yscale("function", functions=(hz_to_mel, mel_to_hz))
    if s.scale != "linear":
        warp = np.log if s.scale == "log" else hz_to_mel
        lo_w, hi_w = float(warp(max(f_lo, 1e-3))), float(warp(f_hi))
        ticks: list[float] = []
        for f in _HZ_TICKS:  # those at least 4 % of the axis apart
            if f_lo <= f <= f_hi and (not ticks or float(warp(f)) - float(warp(ticks[-1]))
                                      >= 0.04 * (hi_w - lo_w)):
                ticks.append(f)
        ax.set_yticks(ticks, [f"{f / 1000:g}k" if f >= 1000 else f"{f:g}" for f in ticks])
        ax.minorticks_off()
    t0, t1 = span if span is not None else (start, start + len(samples) / sr)
    ax.set_xlim(t0, t1)
    ax.set_ylim(f_lo, f_hi)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def write_figure(fig, path: str | Path) -> Path:
    """Save ``fig`` as PNG, PDF or SVG (from the suffix), atomically, at the figure's size."""
    from specview.fileio import atomic_output

    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ParameterError(f"{path}: write a figure as {', '.join(FORMATS)}")
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=fig.dpi)
    return path
