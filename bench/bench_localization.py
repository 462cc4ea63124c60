"""Measure PatchCore localization on demo datasets across encoder settings.

For each setting: clip ROC-AUC (anomalous vs normal test clips) and the share of anomalous
clips whose map peak lies inside the ground-truth box (with a tolerance of one feature cell).

    python bench/bench_localization.py DEMO_ROOT [--machines fan valve] [--configs ...]

DEMO_ROOT holds one dataset per machine (``specview demo-data DEMO_ROOT``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import auroc, box_mask, peak_in_box, pixel_auroc

from specview import pipeline
from specview.datasets import load_dataset

CONFIGS = {
    "hop1024-b2b3": {"hop_length": "1024", "layers": "block2,block3"},
    "hop512-b2b3": {"hop_length": "512", "layers": "block2,block3"},
    "hop256-b2b3": {"hop_length": "256", "layers": "block2,block3"},
    "hop512-b2": {"hop_length": "512", "layers": "block2"},
    "hop512-b3": {"hop_length": "512", "layers": "block3"},
    "hop512-b2b3b4": {"hop_length": "512", "layers": "block2,block3,block4"},
    "hop512-b3b4": {"hop_length": "512", "layers": "block3,block4"},
    "hop1024-b2": {"hop_length": "1024", "layers": "block2"},
    "hop1024-b3": {"hop_length": "1024", "layers": "block3"},
    "hop1024-b2b3b4": {"hop_length": "1024", "layers": "block2,block3,block4"},
}


def run(root: Path, machine: str, name: str, overrides: dict) -> dict:
    ds = load_dataset(root / machine)
    t0 = time.perf_counter()
    model = pipeline.fit(ds.root, overrides=overrides)
    fit_s = time.perf_counter() - t0
    scores, labels, hits, n_anom, maps, masks = [], [], 0, 0, [], []
    t0 = time.perf_counter()
    for clip in ds.test:
        res = model.score_file(clip.path).result
        scores.append(res.clip_score)
        labels.append(clip.label)
        if clip.label == 1:
            n_anom += 1
            hits += peak_in_box(res, clip.boxes())
        maps.append(res.map)
        masks.append(box_mask(res, clip.boxes()) if clip.label == 1 else np.zeros(res.map.shape, bool))
    score_s = (time.perf_counter() - t0) / len(ds.test)
    return {"machine": machine, "config": name, "auroc": auroc(np.array(scores), np.array(labels)),
            "peak_in_box": hits / max(n_anom, 1),
            "pixel_auroc": pixel_auroc(maps, masks), "fit_s": fit_s, "score_s_per_clip": score_s}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--machines", nargs="+", default=["fan", "pump", "valve"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], help="extra key=value for every run")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    extra = dict(s.split("=", 1) for s in args.set)
    print(f"{'machine':8} {'config':16} {'AUROC':>6} {'peak-in-box':>11} {'px-AUROC':>8} {'fit s':>7} {'score s/clip':>12}")
    for m in args.machines:
        for c in args.configs:
            r = run(args.root, m, c, {**CONFIGS[c], **extra})
            print(f"{m:8} {c:16} {r['auroc']:6.3f} {r['peak_in_box']:11.2f} {r['pixel_auroc']:8.3f} {r['fit_s']:7.1f} "
                  f"{r['score_s_per_clip']:12.3f}", flush=True)


if __name__ == "__main__":
    main()
