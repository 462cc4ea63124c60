"""Flagged regions' level on the real-recordings benchmark: each method fitted once per
machine, its test clips scored once, then the regions cut at each share of their peak.

    python bench/bench_regions.py [--cache DIR] [--machines engine mining power]
                                  [--methods patchcore padim cfa stfpm zscore]
                                  [--levels 0 0.3 0.5] [--set method.key=value ...]
                                  [--models DIR] [--threads 2]

A region is a connected area of the profiled map above the model's threshold, cut at
``median + level * (peak - median)`` (:func:`specview.metrics.regions.flagged_regions`; 0 is
plain thresholding), then merged into events and given the band of the energy it adds, as
:meth:`Model.flagged <specview.pipeline.Model.flagged>` does. Per method x machine x level: box
precision / recall / F1 at IoU >= 0.3 against the truth boxes, then the mean F1 over machines.
The fitted model does not depend on the level, so one fit serves every level; ``--models DIR``
keeps the fitted models there (``MACHINE-METHOD.safetensors``) and reuses them.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from bench_focus import run_sweeps, sweep_args

from specview.metrics.regions import box_metrics, match_boxes

METHODS = ("patchcore", "padim", "cfa", "stfpm", "zscore")


def sweep(model, ds, levels: list[float]) -> dict[float, tuple[float, float, float]]:
    """``level -> (box precision, recall, F1)`` of one model on ``ds.test``: its own
    :meth:`Model.flagged <specview.pipeline.Model.flagged>` with the calibration's level set."""
    cal = model.calibration
    scored = [(model.score_file(c.path).result, c.boxes() if c.label == 1 else [])
              for c in ds.test]
    out = {}
    for level in levels:
        model.calibration = dataclasses.replace(cal, region_level=level)
        counts = []
        for r, truth in scored:
            events = model.flagged(r)
            matched = match_boxes([e.box for e in events], list(truth), r.freqs, min_iou=0.3)
            counts.append((len(matched), len(events), len(truth)))
        b = box_metrics(counts)
        out[level] = tuple(float(b[k] or 0.0) for k in ("precision", "recall", "f1"))
    model.calibration = cal
    return out


def main() -> None:
    args = sweep_args(__doc__, METHODS, "levels", [0.0, 0.3, 0.5])
    cache, machines, overrides, results, minutes = run_sweeps(args, args.levels, sweep)
    print(f"Flagged regions' level on `{cache}`, overrides {overrides or 'none'}; "
          f"{minutes:.1f} min.\n")
    print(f"| method | level | box P / R / F1 ({' ; '.join(machines)}) | mean F1 |")
    print("|---|---|---|---|")
    for method, per in results.items():
        for level in args.levels:
            cells = " ; ".join(" / ".join(f"{x:.3f}" for x in per[m][level]) for m in machines)
            mean = np.mean([per[m][level][2] for m in machines])
            print(f"| {method} | {level:g} | {cells} | {mean:.3f} |")


if __name__ == "__main__":
    main()
