"""Flagged regions' level on the real-recordings benchmark: each method fitted once per
machine, its test clips scored once, then the regions cut at each share of their peak.

    python bench/bench_regions.py [--cache DIR] [--machines engine mining power]
                                  [--methods patchcore padim cfa stfpm zscore]
                                  [--levels 0 0.3 0.5] [--floors none 0.99]
                                  [--band-weights hz row]
                                  [--set method.key=value ...] [--models DIR] [--threads 2]

A region is a connected area of the profiled map above the model's threshold, cut at
``median + level * (peak - median)`` (:func:`specview.metrics.regions.flagged_regions`; 0 is
plain thresholding; with a floor, grown first down to that quantile of normal cells from
its cells above the threshold), then merged into events and given the band of the energy it adds, as
:meth:`Model.flagged <specview.pipeline.Model.flagged>` does (``--band-weights``: each mel
row's added power counted times its width in Hz, ``hz``, the default, or as it is, ``row``;
:data:`specview.metrics.regions.BAND_WEIGHTS`). Per method x machine x level: box
precision / recall / F1 at IoU >= 0.3 against the truth boxes, then the mean F1 over
machines, the milliseconds per clip of finding the events and matching them, and how many normal test
clips got a flagged region.
The fitted model does not depend on the level, the floor or the weights (``none``: no growth), so one
fit serves every pair; ``--models DIR``
keeps the fitted models there (``MACHINE-METHOD.safetensors``) and reuses them.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from bench_focus import run_sweeps, sweep_args

from specview.metrics import regions
from specview.metrics.regions import box_metrics, match_boxes

METHODS = ("patchcore", "padim", "cfa", "stfpm", "zscore")


def sweep(model, ds, levels: list[float], floors: list[float | None],
          weights: list[str]) -> dict:
    """``(level, floor, weights) -> (box precision, recall, F1, ...)`` of one model on
    ``ds.test``: its own :meth:`Model.flagged <specview.pipeline.Model.flagged>` with the
    calibration's level and floor quantile set, the event bands weighted so."""
    cal = model.calibration
    scored = [(model.score_file(c.path).result, c.boxes() if c.label == 1 else [])
              for c in ds.test]
    out = {}
    default = regions.BAND_WEIGHTS
    try:
        for level, floor, w in [(lv, fl, w) for lv in levels for fl in floors for w in weights]:
            regions.BAND_WEIGHTS = w
            model.calibration = dataclasses.replace(cal, region_level=level, floor_quantile=floor)
            counts = []
            t0 = time.perf_counter()
            for r, truth in scored:
                events = model.flagged(r)
                matched = match_boxes([e.box for e in events], list(truth), r.freqs, min_iou=0.3)
                counts.append((len(matched), len(events), len(truth)))
            ms = (time.perf_counter() - t0) * 1000 / max(len(scored), 1)  # matching included
            b = box_metrics(counts)
            normal = [n for (_, n, t), c in zip(counts, ds.test, strict=True) if c.label == 0]
            out[level, floor, w] = (*(float(b[k] or 0.0) for k in ("precision", "recall", "f1")), ms,
                                    sum(n > 0 for n in normal), len(normal))
    finally:  # the module's default back, whatever happened
        model.calibration = cal
        regions.BAND_WEIGHTS = default
    return out


def main() -> None:
    def more(ap) -> None:
        ap.add_argument("--floors", nargs="+", default=["none", "0.99"],
                        help="normal-cell quantiles regions grow down to; none: no growth")
        ap.add_argument("--band-weights", nargs="+", default=[regions.BAND_WEIGHTS],
                        choices=["hz", "row"], help="how a mel row's added power counts")

    args = sweep_args(__doc__, METHODS, "levels", [0.0, 0.3, 0.5], more)
    floors = [None if f == "none" else float(f) for f in args.floors]
    cache, machines, overrides, results, minutes = run_sweeps(
        args, args.levels, lambda model, ds, levels: sweep(model, ds, levels, floors, args.band_weights))
    print(f"Flagged regions' level on `{cache}`, overrides {overrides or 'none'}; "
          f"{minutes:.1f} min.\n")
    print(f"| method | level | floor | band weights | box P / R / F1 ({' ; '.join(machines)}) | mean F1 "
          "| regions ms/clip | normal clips flagged |")
    print("|---|---|---|---|---|---|---|---|")
    for method, per in results.items():
        for key in per[machines[0]]:  # the sweep's keys, in its order
            cells = " ; ".join(" / ".join(f"{x:.3f}" for x in per[m][key][:3]) for m in machines)
            mean = np.mean([per[m][key][2] for m in machines])
            ms = np.mean([per[m][key][3] for m in machines])
            floor = "none" if key[1] is None else f"{key[1]:g}"
            flagged = " ; ".join(f"{per[m][key][4]}/{per[m][key][5]}" for m in machines)
            print(f"| {method} | {key[0]:g} | {floor} | {key[2]} | {cells} | {mean:.3f} | {ms:.2f} "
                  f"| {flagged} |")


if __name__ == "__main__":
    main()
