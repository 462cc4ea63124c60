"""The energy focus's gain on the real-recordings benchmark: each method fitted once per machine,
its test clips scored once, then the profiled map re-focused at every gain.

    python bench/bench_focus.py [--cache DIR] [--machines engine mining power]
                                [--methods patchcore padim cfa stfpm zscore] [--gains 0 0.25 0.5 1]
                                [--reach local across flagged] [--set method.key=value ...]
                                [--models DIR] [--threads 2]

Per method x machine x gain: clip AUROC (the focused map's maximum), spectrogram AUROC (the
focused map against the truth boxes, normal clips' cells included), peak in event (share
of anomalous clips whose focused map's maximum lies in a truth box) and border max (share of
normal clips whose maximum lies within a feature cell of the grid's edge, as in
``bench_real.py``), then the mean over machines. The flagged regions, cut from the profiled
map before the focus, do not depend on the gain; the fitted model (its row profile,
calibration) does not either, so one fit serves every gain. ``--models DIR`` keeps the fitted
models there (``MACHINE-METHOD.safetensors``) and reuses them on the next run; overrides are
not part of the name, so use one folder per setting. Gain 0 is the profiled map alone.
``--reach`` also sweeps the focus's reach: ``local``
(a feature cell either way in frequency), ``across`` (every band of the frames,
``RowProfile.focus_across``) and ``flagged`` (local, plus across in the frames whose map
reaches the model's flag threshold, ``RowProfile.across_level``: new models' default); rows
are then ``gain @ reach``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch
from bench_borders import border_mask
from bench_real import find_machines, parse_overrides

from specview import demo_cache, pipeline
from specview.datasets import load_dataset
from specview.metrics.maps import spectrogram_metrics
from specview.metrics.ranking import roc_auc
from specview.metrics.truth import boxes_to_mask

METHODS = ("patchcore", "padim", "cfa", "stfpm", "zscore")


def model_for(root: Path, machine: str, method: str, overrides: dict | None,
              models: Path | None):
    path = models / f"{machine}-{method}.safetensors" if models else None
    if path is not None and path.is_file():
        return pipeline.load_model(path)
    model = pipeline.fit(root, method=method, overrides=overrides or None)
    if path is not None:
        model.save(path)
    return model


#: reach -> (focus_across, across_level is the flag threshold)
REACH = {"local": (False, False), "across": (True, False), "flagged": (False, True)}


def sweep(model, ds, gains: list, reaches: tuple[str, ...] = ()) -> dict:
    """``gain -> (clip AUROC, spectrogram AUROC, peak in event, border max)`` of one model on
    ``ds.test``; with ``reaches``, keyed ``(gain, reach)``."""
    rows = model.calibration.rows
    if not rows.power_ceiling:
        raise SystemExit("this model has no power ceiling to focus on (fitted before the focus)")
    base, excess, masks, labels = [], [], [], []
    for clip in ds.test:
        r = model.score_file(clip.path).result
        base.append(r.extras.get("region_map", r.map))
        excess.append(r.extras["excess_power"])
        masks.append(boxes_to_mask(clip.boxes(), r.times, r.freqs) if clip.label == 1
                     else np.zeros(r.map.shape, dtype=bool))
        labels.append(clip.label)
    grids = model.encoder.layer_grids()
    edges = [border_mask(b.shape, max(g.time_stride for g in grids),
                         max(g.freq_stride for g in grids)) for b in base]
    out = {}
    for key in [(g, r) for g in gains for r in reaches] if reaches else gains:
        g, reach = key if reaches else (key, None)
        prof = dataclasses.replace(rows, focus_gain=g)
        if reach is not None:
            across, flagged = REACH[reach]
            prof = dataclasses.replace(prof, focus_across=across, across_level=(
                model.calibration.threshold if flagged else None))
        t0 = time.perf_counter()
        maps = [prof.focus(b, e) if g else b for b, e in zip(base, excess, strict=True)]
        ms = (time.perf_counter() - t0) * 1000 / max(len(maps), 1)
        clip_auroc = roc_auc(np.array([m.max() for m in maps]), np.array(labels))
        spec = spectrogram_metrics(maps, masks)["auroc"]
        peak = np.mean([k[np.unravel_index(int(np.argmax(m)), m.shape)]
                        for m, k, y in zip(maps, masks, labels, strict=True) if y == 1])
        out[key] = (float(clip_auroc), float(spec), float(peak),
                    float(np.mean([edge[np.unravel_index(int(np.argmax(m)), m.shape)]
                                   for m, edge, y in zip(maps, edges, labels, strict=True)
                                   if y == 0])), ms)
    return out


def sweep_args(doc: str, methods: tuple[str, ...], values: str, default: list[float],
               more=None):
    """The command line both sweeps share; ``values`` names the swept setting's option,
    ``more(parser)`` adds a sweep's own options."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    if more is not None:
        more(ap)
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--machines", nargs="+", default=None)
    ap.add_argument("--methods", nargs="+", default=list(methods), choices=list(methods))
    ap.add_argument(f"--{values}", nargs="+", type=float, default=default)
    ap.add_argument("--set", nargs="*", default=[], metavar="METHOD.key=value")
    ap.add_argument("--models", type=Path, default=None, help="keep / reuse fitted models here")
    ap.add_argument("--threads", type=int, default=2)
    return ap.parse_args()


def run_sweeps(args, values: list[float], sweep_one) -> tuple[Path, list[str], dict, dict, float]:
    """Fit (or load) each method once per machine and ``sweep_one(model, dataset, values)``.

    Returns ``(cache, machines, overrides, {method: {machine: result}}, minutes)``."""
    torch.set_num_threads(args.threads)
    cache = args.cache or demo_cache.cache_dir() / "realdata"
    machines = args.machines or find_machines(cache)
    if not machines:
        sys.exit(f"{cache}: no machine folders (with train/ and test/); run bench/realdata.py")
    if args.models:
        args.models.mkdir(parents=True, exist_ok=True)
    overrides = parse_overrides(args.set, args.methods)
    t0 = time.perf_counter()
    results: dict[str, dict[str, dict]] = {}
    for machine in machines:
        ds = load_dataset(cache / machine)
        for method in args.methods:
            print(f"[{machine}] {method} ...", file=sys.stderr, flush=True)
            model = model_for(cache / machine, machine, method, overrides.get(method),
                              args.models)
            results.setdefault(method, {})[machine] = sweep_one(model, ds, values)
    return cache, machines, overrides, results, (time.perf_counter() - t0) / 60


def main() -> None:
    args = sweep_args(__doc__, METHODS, "gains", [0.0, 0.25, 0.5, 1.0], lambda ap: ap.add_argument(
        "--reach", nargs="+", default=[], choices=list(REACH), help="also sweep the reach"))
    reaches = tuple(args.reach)
    cache, machines, overrides, results, minutes = run_sweeps(
        args, args.gains, lambda model, ds, gains: sweep(model, ds, gains, reaches))
    print(f"Energy focus gain on `{cache}`, overrides {overrides or 'none'}; {minutes:.1f} min.\n")
    print(f"| method | gain | clip AUROC ({' / '.join(machines)}) | spec. AUROC | peak in event "
          "| border max | mean clip / spec. / peak / border | focus ms/clip |")
    print("|---|---|---|---|---|---|---|---|")
    for method, per in results.items():
        for key in per[machines[0]]:  # the sweep's keys, in its order
            v = np.array([per[m][key] for m in machines])
            cols = [" / ".join(f"{x:.3f}" for x in v[:, i]) for i in range(4)]
            means = " / ".join(f"{x:.3f}" for x in v.mean(axis=0)[:4])
            name = f"{key[0]:g} @ {key[1]}" if reaches else f"{key:g}"
            print(f"| {method} | {name} | {' | '.join(cols)} | {means} | {v[:, 4].mean():.2f} |")


if __name__ == "__main__":
    main()
