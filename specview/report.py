"""Figures for evaluation reports (matplotlib, drawn off-screen).

Every panel is drawn on the spectrogram's own grid: time in seconds along x, mel rows along y
labelled in Hz, boxes placed with the same row mapping the metrics use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from specview import metrics as M
from specview.errors import ParameterError
from specview.fileio import atomic_output

if TYPE_CHECKING:
    from specview.pipeline import Model
    from specview.results import ClipResult as ClipEval

_HZ_TICKS = (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
TRUTH_STYLE = {"edgecolor": "white", "linestyle": "--", "linewidth": 1.2, "fill": False}
FLAG_STYLE = {"edgecolor": "#9dff00", "linestyle": "-", "linewidth": 1.2, "fill": False}
CAL_MAX = 2.0  # colour range of calibrated maps: 0 typical normal .. 1 threshold .. 2


def _savefig(fig, path: Path, dpi: int) -> None:
    """Save ``fig`` to ``path`` atomically (format from the suffix, which the temporary keeps)."""
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, dpi=dpi, format=Path(path).suffix.lstrip(".").lower() or None)
    except BaseException:
        _plt().close(fig)
        raise


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _axes_setup(ax, times: np.ndarray, freqs: np.ndarray, *, ylabel: bool = True) -> None:
    pos = M.row_position(np.array(_HZ_TICKS, dtype=float), np.asarray(freqs, dtype=float))
    lo_hz, hi_hz = freqs[0], freqs[-1]
    ticks = [(p, h) for p, h in zip(pos, _HZ_TICKS, strict=True) if lo_hz <= h <= hi_hz * 1.05]
    ax.set_yticks([p for p, _ in ticks])
    ax.set_yticklabels([f"{h / 1000:g}k" if h >= 1000 else f"{h}" for _, h in ticks])
    if ylabel:
        ax.set_ylabel("frequency (Hz)")
    ax.set_xlabel("time (s)")


def _extent(times: np.ndarray, freqs: np.ndarray) -> list[float]:
    dt = float(times[1] - times[0]) if len(times) > 1 else 1.0
    return [float(times[0] - dt / 2), float(times[-1] + dt / 2), 0.0, float(len(freqs))]


def _draw_box(ax, box, freqs, style) -> None:
    from matplotlib.patches import Rectangle

    r0, r1 = M.row_position(np.array([box.f0, box.f1]), np.asarray(freqs, dtype=float))
    ax.add_patch(Rectangle((box.t0, r0), box.t1 - box.t0, max(r1 - r0, 0.5), **style))


def display_map(amap: np.ndarray, model: Model | None, lohi: tuple[float, float] | None = None):
    """The map as drawn: calibrated (0 normal median, 1 flag threshold) when the model has a
    calibration, else min-max over ``lohi``. Returns ``(values, vmin, vmax, label)``."""
    if model is not None and model.calibration is not None:
        return (model.calibration.calibrated(amap), 0.0, CAL_MAX,
                "calibrated score (0 = normal median, 1 = flag threshold)")
    lo, hi = lohi if lohi is not None else (float(amap.min()), float(amap.max()))
    return (amap - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0, "score (set-wide min-max)"


def draw_clip(ax, e: ClipEval, model: Model | None, *, heat: bool, lohi=None, ylabel=True,
              colorbar_to=None):
    """Spectrogram of one clip, optionally with its heatmap, truth boxes and flagged regions."""
    d = e.display
    ext = _extent(d.times, d.freqs)
    vmax = float(np.percentile(d.values, 99.5))
    ax.imshow(d.values, origin="lower", aspect="auto", extent=ext, cmap="gray",
              vmin=vmax - 80, vmax=vmax, interpolation="nearest")
    im = None
    if heat:
        vals, vmin, vmx, _ = display_map(e.result.map, model, lohi)
        im = ax.imshow(vals, origin="lower", aspect="auto", extent=ext, cmap="inferno",
                       vmin=vmin, vmax=vmx, alpha=0.6, interpolation="bilinear")
        for r in e.flagged:
            _draw_box(ax, r.box, d.freqs, FLAG_STYLE)
    for b in e.boxes:
        _draw_box(ax, b, d.freqs, TRUTH_STYLE)
    _axes_setup(ax, d.times, d.freqs, ylabel=ylabel)
    return im


def _title(e: ClipEval, *, score: bool = True) -> str:
    lab = {0: "normal", 1: "anomalous", None: "unlabelled"}[e.label]
    lv = f", {e.level:+g} dB" if e.level is not None else ""
    sc = f" score {e.result.clip_score:.3g}" if score else ""
    return f"{e.clip.path.name} ({lab}{lv}){sc}"


def curves_figure(out: Path, evals: Sequence[ClipEval]) -> None:
    """``roc.png`` (clip and cell ROC) and ``pro.png`` (per-region overlap curve)."""
    plt = _plt()
    lab = [e for e in evals if e.label is not None]
    kinds = [k for k, a in (("boxes", "box_mask"), ("energy", "energy_mask"))
             if any(getattr(e, a) is not None and getattr(e, a).any() for e in evals)]
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2), constrained_layout=True)
    ax = axes[0]
    try:
        fpr, tpr = M.roc_curve([e.result.clip_score for e in lab], [e.label for e in lab])
        auc = M.roc_auc([e.result.clip_score for e in lab], [e.label for e in lab])
        ax.plot(fpr, tpr, lw=2, label=f"clips (AUROC {auc:.3f})")
    except ParameterError:
        ax.text(0.5, 0.5, "needs normal and anomalous clips", ha="center")
    ax.axvspan(0, 0.1, color="0.9", zorder=0, label="pAUC range (FPR ≤ 0.1)")
    ax.set(title="clip-level ROC", xlabel="false positive rate", ylabel="true positive rate")
    ax.legend(loc="lower right", fontsize=8)
    ax = axes[1]
    pro_data = []
    for kind in kinds:
        attr = "box_mask" if kind == "boxes" else "energy_mask"
        use = [e for e in evals if getattr(e, attr) is not None]
        cells = [M.clip_cells(e.result.map, getattr(e, attr)) for e in use]
        fpr, tpr = M.roc_points(cells)
        step = max(1, len(fpr) // 4000)
        ax.plot(fpr[::step], tpr[::step], lw=2,
                label=f"cells vs {kind} (AUROC {M.cell_metrics(cells)['auroc']:.3f})")
        pro_data.append((kind, *M.pro_points(cells), M.aupro_cells(cells)))
    if not kinds:
        ax.text(0.5, 0.5, "no ground truth", ha="center")
    ax.set(title="spectrogram-level ROC", xlabel="false positive rate (cells)",
           ylabel="true positive rate (cells)")
    ax.legend(loc="lower right", fontsize=8)
    for a in axes:
        a.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":")
        a.set_xlim(0, 1)
        a.set_ylim(0, 1.01)
    _savefig(fig, out / "roc.png", 130)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 4.2), constrained_layout=True)
    for kind, fpr, pro, au in pro_data:
        step = max(1, len(fpr) // 4000)
        ax.plot(fpr[::step], pro[::step], lw=2, label=f"{kind} (AU-PRO@0.3 {au:.3f})")
    if not pro_data:
        ax.text(0.5, 0.5, "no ground truth", ha="center")
    ax.axvline(0.3, color="0.5", ls="--", lw=1)
    ax.set(title="per-region overlap", xlabel="false positive rate (cells)",
           ylabel="per-region overlap", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize=8)
    _savefig(fig, out / "pro.png", 130)
    plt.close(fig)


def pick_clips(evals: Sequence[ClipEval], n_each: int = 3) -> list[tuple[str, ClipEval]]:
    """Best and worst anomalous clips by clip score, and the normal clips scoring highest."""
    anom = sorted((e for e in evals if e.label == 1), key=lambda e: -e.result.clip_score)
    norm = sorted((e for e in evals if e.label == 0), key=lambda e: -e.result.clip_score)
    if not anom and not norm:
        return [("highest score", e) for e in
                sorted(evals, key=lambda e: -e.result.clip_score)[: 2 * n_each]]
    rows = [("best anomalous", e) for e in anom[:n_each]]
    rows += [("worst anomalous", e) for e in anom[n_each:][-n_each:]]
    rows += [("highest normal", e) for e in norm[: max(1, n_each - 1)]]
    return rows


def clips_figure(path: Path, evals: Sequence[ClipEval], model: Model | None) -> None:
    plt = _plt()
    rows = pick_clips(evals)
    lohi = M.set_normalise([e.result.map for e in evals])
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 2.3 * len(rows) + 0.8),
                             squeeze=False, constrained_layout=True)
    im = None
    for i, (why, e) in enumerate(rows):
        draw_clip(axes[i, 0], e, model, heat=False)
        axes[i, 0].set_title(f"{why}: {_title(e)}", fontsize=8, loc="left")
        im = draw_clip(axes[i, 1], e, model, heat=True, lohi=lohi, ylabel=False)
        axes[i, 1].set_title(f"{len(e.flagged)} flagged (green), truth dashed", fontsize=8,
                             loc="left")
    if im is not None:
        label = display_map(evals[0].result.map, model, lohi)[3]
        fig.colorbar(im, ax=axes[:, 1], shrink=0.6, label=label)
    name = f"{model.method} / {model.encoder.name}" if model is not None else ""
    fig.suptitle(f"{name}: best and worst clips", fontsize=10)
    _savefig(fig, path, 110)
    plt.close(fig)


def compare_clips(pair_evals, n: int = 4) -> list[int]:
    """Indices of test clips to show side by side: one anomalous clip per level (loudest level
    first, then the rest in order), chosen by position only, never by a method's score."""
    evals = pair_evals[0][2]
    anom = [i for i, e in enumerate(evals) if e.label == 1]
    chosen: list[int] = []
    levels = sorted({evals[i].level for i in anom if evals[i].level is not None}, reverse=True)
    for lv in levels:
        for i in anom:
            if evals[i].level == lv and i not in chosen:
                chosen.append(i)
                break
    for i in anom + [i for i, e in enumerate(evals) if e.label != 1]:
        if len(chosen) >= n:
            break
        if i not in chosen:
            chosen.append(i)
    return chosen[:n]


def compare_figure(path: Path, pair_evals: list[tuple[str, Model, list[ClipEval]]]) -> None:
    """The same clips (rows) under every method x encoder (columns)."""
    plt = _plt()
    idx = compare_clips(pair_evals)
    ncol = 1 + len(pair_evals)
    fig, axes = plt.subplots(len(idx), ncol, figsize=(3.3 * ncol, 2.4 * len(idx) + 1.0),
                             squeeze=False, constrained_layout=True)
    im = None
    for r, i in enumerate(idx):
        e0 = pair_evals[0][2][i]
        draw_clip(axes[r, 0], e0, None, heat=False)
        axes[r, 0].set_title(_title(e0, score=False), fontsize=7, loc="left")
        for c, (name, model, evals) in enumerate(pair_evals, start=1):
            e = evals[i]
            lohi = M.set_normalise([x.result.map for x in evals])
            im = draw_clip(axes[r, c], e, model, heat=True, lohi=lohi, ylabel=False)
            axes[r, c].set_title(f"{name}: {e.result.clip_score:.3g}", fontsize=8, loc="left")
    if im is not None:
        label = display_map(pair_evals[0][2][0].result.map, pair_evals[0][1])[3]
        fig.colorbar(im, ax=axes[:, 1:], shrink=0.5, label=label)
    fig.suptitle("Same clips, every method: heatmaps, flagged regions (green) and "
                 "ground truth (dashed)", fontsize=10)
    _savefig(fig, path, 110)
    plt.close(fig)


def panes_figure(path: Path, evals: Sequence[ClipEval], names: Sequence[str],
                 models: Sequence[Model | None], *, dpi: int = 200) -> None:
    """One clip under several models, stacked with a shared time axis and colour bar."""
    plt = _plt()
    n = len(evals)
    fig, axes = plt.subplots(n, 1, figsize=(8, 2.3 * n + 0.7), squeeze=False, sharex=True,
                             constrained_layout=True)
    im = None
    for ax, e, name, model in zip(axes[:, 0], evals, names, models, strict=True):
        im = draw_clip(ax, e, model, heat=True)
        ax.set_title(f"{name}: clip score {e.result.clip_score:.3g}, {len(e.flagged)} flagged",
                     fontsize=9, loc="left")
        if ax is not axes[-1, 0]:
            ax.set_xlabel("")
    if im is not None:
        fig.colorbar(im, ax=axes[:, 0], shrink=0.7,
                     label=display_map(evals[0].result.map, models[0])[3])
    fig.suptitle(f"{evals[0].clip.path.name}: heatmaps, flagged regions (green), ground truth "
                 "(dashed)", fontsize=10)
    _savefig(fig, path, dpi)
    plt.close(fig)
