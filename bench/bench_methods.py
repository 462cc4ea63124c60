"""Every method x encoder on a demo dataset: detection, localization, time (prints a table).

    python bench/bench_methods.py [--root DIR] [--machine fan] [--methods ...] [--encoders ...]
                                  [--set method.key=value | encoder.key=value ...]

Columns: clip ROC-AUC (anomalous vs normal test clips), the share of anomalous clips whose map
peak lies in the ground-truth box, spectrogram-level ROC-AUC of the map against the boxes
(normal clips' all-negative masks included), fit seconds, median score seconds per clip.
An encoder whose weights are not available (CNN14 without a checkpoint in models/) is reported
and skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from _common import auroc, box_mask, peak_in_box, pixel_auroc

from specview import demo_cache, pipeline
from specview.datasets import load_dataset
from specview.detectors import DETECTORS
from specview.encoders import ENCODERS
from specview.errors import WeightsError


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=None, help="demo root (default: the cache)")
    ap.add_argument("--machine", default="fan")
    ap.add_argument("--methods", nargs="+", default=list(DETECTORS))
    ap.add_argument("--encoders", nargs="+", default=list(ENCODERS))
    ap.add_argument("--set", nargs="*", default=[],
                    help="METHOD.key=value overrides, e.g. stfpm.epochs=20")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    root = args.root or demo_cache.demo_paths()[0].parent
    data = root / args.machine
    if not (data / "train").is_dir():
        from specview.demo import make_demo_dataset

        make_demo_dataset(data, machine=args.machine, seed=0)
    ds = load_dataset(data)
    per_method: dict[str, dict[str, str]] = {}
    for item in args.set:
        key, value = item.split("=", 1)
        method, _, name = key.partition(".")
        per_method.setdefault(method, {})[name] = value
    print(f"{data}: {len(ds.train)} train, {len(ds.test)} test clips; torch threads "
          f"{torch.get_num_threads()}; overrides {per_method or 'none'}\n")
    print("| method | encoder | clip AUROC | peak in box | spectrogram AUROC | fit s | score s/clip |")
    print("|---|---|---|---|---|---|---|")
    for enc in args.encoders:
        for method in args.methods:
            try:
                t0 = time.perf_counter()
                over = {f"detector.{k}": v for k, v in per_method.get(method, {}).items()}
                over.update({f"encoder.{k}": v for k, v in per_method.get("encoder", {}).items()})
                model = pipeline.fit(ds.root, method=method, encoder=enc, overrides=over)
                fit_s = time.perf_counter() - t0
            except WeightsError as exc:
                print(f"| {method} | {enc} | skipped: {str(exc).splitlines()[0][:90]} | | | | |")
                break
            scores, labels, hits, maps, masks, times = [], [], [], [], [], []
            model.score_file(ds.test[0].path)  # warm-up
            for clip in ds.test:
                t1 = time.perf_counter()
                res = model.score_file(clip.path).result
                times.append(time.perf_counter() - t1)
                boxes = clip.boxes()
                scores.append(res.clip_score)
                labels.append(clip.label)
                if clip.label == 1:
                    hits.append(peak_in_box(res, boxes))
                maps.append(res.map)
                masks.append(box_mask(res, boxes) if clip.label == 1
                             else np.zeros(res.map.shape, bool))
            print(f"| {method} | {enc} | {auroc(np.array(scores), np.array(labels)):.3f} | "
                  f"{np.mean(hits):.2f} | {pixel_auroc(maps, masks):.3f} | {fit_s:.1f} | "
                  f"{np.median(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
