"""CPU time of scoring with aisfx blocks 2-3 against blocks 2-4 (or any other settings), per
method, on a machine of the real-recordings benchmark (prints figures; asserts nothing).

    python bench/bench_layers.py [--machine engine] [--methods patchcore padim cfa stfpm]
                                 [--variant "detector.freq_context=false" --variant ""]
                                 [--repeats 1]

Each ``--variant`` is a set of overrides (``KEY=VALUE`` joined by ``;``, as ``--set`` takes
them; an empty one is the defaults); without any, the two aisfx layer choices are timed.
With ``--repeats N`` the variants are timed N times in turn and each one's least CPU is kept.

Each method is fitted on 30 of the machine's training clips (CFA and STFPM for 3 epochs: the
scoring cost does not depend on them) with each layer choice, then scores 20 test clips of
5 s with one torch thread; the CPU time of the process (``time.process_time``) per clip is
printed, which a shared machine moves far less than wall time.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

LAYERS = ("block2,block3", "block2,block3,block4")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None, help="default <specview cache>/realdata")
    ap.add_argument("--machine", default="engine")
    ap.add_argument("--methods", nargs="+", default=["patchcore", "padim", "cfa", "stfpm"])
    ap.add_argument("--variant", action="append", default=None, metavar="KEY=VALUE[;...]",
                    help="overrides to time (repeatable; default: aisfx blocks 2-3 and 2-4)")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    variants = args.variant if args.variant is not None else [
        f"encoder.layers={layers}" for layers in LAYERS]

    import torch

    from specview import pipeline
    from specview.demo_cache import cache_dir

    torch.set_num_threads(1)
    root = (args.cache or cache_dir() / "realdata") / args.machine
    train = sorted((root / "train").glob("*.wav"))[:30]
    test = sorted((root / "test").glob("*.wav"))[:20]
    if not train or not test:
        raise SystemExit(f"{root}: no dataset; run python bench/realdata.py first")
    for method in args.methods:
        models = {}
        for variant in variants:
            over = dict(kv.split("=", 1) for kv in variant.split(";") if kv.strip())
            if method in ("cfa", "stfpm"):
                over["detector.epochs"] = "3"
            models[variant] = pipeline.fit(train, method=method, overrides=over)
            models[variant].score_file(test[0])  # warm-up
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(args.repeats):
            for variant, model in models.items():
                c = time.process_time()
                for t in test:
                    model.score_file(t)
                best[variant] = min(best[variant], time.process_time() - c)
        for variant in variants:
            print(f"{method:10s} {variant or '(defaults)':34s} "
                  f"{1000 * best[variant] / len(test):6.1f} ms CPU per 5-s clip (one thread)",
                  flush=True)


if __name__ == "__main__":
    main()
