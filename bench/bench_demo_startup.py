"""Time what `make run` does before the window is ready, from an empty cache.

    python bench/bench_demo_startup.py [--threads 2]

Generates the demo dataset and fits the default model into a temporary cache (what the first
`make run` does), then loads the model and scores the first anomalous clip (what the window
shows first). Prints seconds for each step; the README's startup figure comes from here.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    from specview import datasets, demo_cache, pipeline

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        steps: list[tuple[str, float]] = []
        marks = {"generate": None}

        def progress(done: int, total: int) -> None:
            if marks["generate"] is None and done >= total // 2:
                marks["generate"] = time.perf_counter()

        data, model_path = demo_cache.ensure_demo(Path(tmp) / "demo", progress=progress)
        t_fit = time.perf_counter()
        gen = (marks["generate"] or t_fit) - t0
        steps += [("generate the demo data", gen), ("fit and calibrate PatchCore", t_fit - t0 - gen)]
        model = pipeline.load_model(model_path)
        ds = datasets.load_dataset(data)
        first = next(c.path for c in ds.test if c.label == 1)
        t1 = time.perf_counter()
        model.score_file(first)
        steps += [("load the model and the dataset", t1 - t_fit),
                  ("score the first clip", time.perf_counter() - t1)]
        again0 = time.perf_counter()
        demo_cache.ensure_demo(Path(tmp) / "demo")
        steps.append(("second start (cached): check the cache", time.perf_counter() - again0))
    for name, s in steps:
        print(f"{name:42s} {s:6.1f} s")
    print(f"{'first make run, window ready':42s} {sum(s for _, s in steps[:4]):6.1f} s "
          f"({args.threads} threads)")


if __name__ == "__main__":
    main()
