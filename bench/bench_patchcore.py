"""PatchCore speed and memory on the demo dataset (prints figures; asserts nothing).

    python bench/bench_patchcore.py [--root DIR] [--threads 2]

Reports, at the default settings (the trained hop, 1024) and at hop 512: fit time (features and coreset
separately), score time per clip, the real-time factor, and peak resident memory; then the
coreset selection alone on a 52,000 x 384 bank at ratio 0.1 (the size anomalib's KCenterGreedy
was measured on), and the memory of scoring a 10-minute recording.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch

from specview import demo_cache, pipeline
from specview.datasets import load_dataset
from specview.detectors.components import greedy_coreset
from specview.spectrogram import front_end_features
from specview.types import Audio


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_setting(ds, label: str, overrides: dict) -> None:
    phases = {"features": 0.0}
    t0 = time.perf_counter()
    mark = {"t": t0, "in_coreset": False}
    n = len(ds.train)

    def progress(done: int, total: int) -> None:
        if done == n and not mark["in_coreset"]:
            phases["features"] = time.perf_counter() - t0
            mark["in_coreset"] = True

    model = pipeline.fit(ds.root, overrides=overrides, progress=progress)
    fit_s = time.perf_counter() - t0
    bank = model.detector.memory_bank
    model.score_audio(model.load(ds.test[0].path))  # warm-up: first-call set-up is not per clip
    times, audio_s = [], 0.0
    for clip in ds.test:
        audio = model.load(clip.path)
        t1 = time.perf_counter()
        model.score_audio(audio)
        times.append(time.perf_counter() - t1)
        audio_s += audio.duration
    per_clip = float(np.median(times))
    rtf = audio_s / sum(times)
    print(f"{label}: fit {fit_s:.1f} s on {n} clips ({phases['features']:.1f} s features, "
          f"{fit_s - phases['features']:.1f} s coreset -> bank {tuple(bank.shape)}); "
          f"score {per_clip * 1000:.0f} ms (median) per {audio_s / len(times):.1f} s clip "
          f"(decoded audio in hand) = {rtf:.0f}x real time; peak RSS so far {rss_mb():.0f} MB",
          flush=True)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=Path, default=None, help="demo root (default: the cache)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data, _ = demo_cache.demo_paths(args.root)
    if not (data / "train").is_dir():
        from specview.demo import make_demo_dataset

        make_demo_dataset(data, machine=demo_cache.DEMO_MACHINE, seed=demo_cache.DEMO_SEED)
    ds = load_dataset(data)
    print(f"demo dataset {data}: {len(ds.train)} train, {len(ds.test)} test clips; "
          f"torch threads {torch.get_num_threads()}")
    model = bench_setting(ds, "defaults (trained hop 1024)", {})
    bench_setting(ds, "finer hop 512", {"hop_length": "512"})

    g = torch.Generator().manual_seed(0)
    x = torch.randn(52_000, 384, generator=g)
    t0 = time.perf_counter()
    greedy_coreset(x, 5_200, projection_dim=128, seed=0)
    cs = time.perf_counter() - t0
    print(f"coreset alone: 52,000 x 384 -> 5,200 in {cs:.1f} s "
          f"(anomalib 2.7 KCenterGreedy measured at ~140 s: {140 / cs:.0f}x faster)")

    clip = model.load(ds.test[0].path).samples
    long = Audio(np.tile(clip, int(np.ceil(600 / (len(clip) / 44100))))[: 600 * 44100], 44100)
    before = rss_mb()
    t0 = time.perf_counter()
    spec = front_end_features(long, model.encoder.front_end)
    pipeline.score_spectrogram(model.detector, model.encoder, spec)
    dt = time.perf_counter() - t0
    print(f"10-minute recording: scored in {dt:.1f} s ({600 / dt:.0f}x real time); "
          f"peak RSS {before:.0f} -> {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
