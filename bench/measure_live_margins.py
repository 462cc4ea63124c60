"""How far the live map departs from the whole-file map, by the live windows' context margins
(issue 16): the measurement the live monitor's margins (``specview.live.LEFT_CELLS``,
``RIGHT_CELLS``) are chosen from.

A 60-s recording of the demo fan (5-s renders joined as ``bench_long`` makes them) with tone and
noise bursts injected is scored once as a whole file (one window: its profiled map is the
reference) and then in live windows (``specview.live.score_offline``: a core of
``--core`` seconds, ``L`` cells of context before and ``R`` after). For each margin the table
gives, in multiples of the flag threshold (threshold - median = 1), the largest departure of the
live profiled map from the reference over frames 3 s or more from either end, the largest
within the last cell of each core (the right edge, where the right margin matters), and the
frames whose flag (any cell above the threshold) differs.

    python bench/measure_live_margins.py [--core 0.4] [--model M] [--configs L,R ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SR = 44100


def recording(seconds: float = 60.0) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Normal fan sound with bursts: ``(samples, [(start, end) s])``."""
    from bench_long import FADE_S, SEGMENT_S, _segments

    n_seg = int(seconds / SEGMENT_S)
    fade = int(FADE_S * SR)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    parts, tail = [], None
    for x in _segments(n_seg, 11):
        body = x[: len(x) - fade].copy()
        if tail is not None:
            body[:fade] = np.sqrt(ramp) * body[:fade] + np.sqrt(1 - ramp) * tail
        parts.append(body)
        tail = x[len(x) - fade:]
    parts.append(tail)
    x = np.concatenate(parts)[: int(seconds * SR)].astype(np.float32)
    rng = np.random.default_rng(5)
    events = []
    for k, at in enumerate(np.arange(7.3, seconds - 5, 6.1)):
        dur = 0.4 + 0.3 * (k % 3)
        t = np.arange(int(dur * SR)) / SR
        if k % 2:
            burst = 0.1 * np.sin(2 * np.pi * (2000 + 700 * k) * t)
        else:
            burst = 0.08 * rng.standard_normal(t.size)
        i = int(at * SR)
        x[i:i + t.size] += (burst * np.hanning(t.size)).astype(np.float32)
        events.append((float(at), float(at + dur)))
    return x, events


def demo_model(folder: Path = Path("/tmp/specview-bench-monitor")) -> Path:
    """PatchCore on aisfx fitted by this version of specview on the demo fan's training clips
    (the default model; fitted once into ``folder``, as ``bench_long`` does: a cached demo
    model of an older version may lack the row profile)."""
    from specview import pipeline
    from specview.demo_cache import ensure_demo

    path = folder / "fan-patchcore-aisfx.safetensors"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        pipeline.fit(ensure_demo()[0], method="patchcore").save(path)
    return path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--core", type=float, default=0.4,
                    help="core seconds (default 0.4, the monitor's: two aisfx cells)")
    ap.add_argument("--model", type=Path, default=None, help="default: the demo model")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--configs", nargs="+", metavar="L,R", default=[
        *(f"16,{r}" for r in (0, 1, 2, 3, 4, 5, 6, 8, 16)),
        *(f"{lft},16" for lft in (0, 1, 2, 3, 4, 5, 6, 8)), "8,4", "6,4", "8,5"],
                    help="left,right margins in cells to measure")
    args = ap.parse_args()
    import torch

    from specview import pipeline
    from specview.live import LivePlan, live_plan, score_offline
    from specview.types import Audio

    torch.set_num_threads(args.threads)
    model = pipeline.load_model(args.model or demo_model())
    x, _events = recording()
    audio = Audio(x, SR)
    whole = model.score_spectrogram(pipeline.compress(
        pipeline.mel_power(audio, model.encoder.front_end), model.encoder.front_end))
    ref = whole.extras.get("region_map", whole.map)
    thr = model.threshold_per_hour()
    span = thr - model.calibration.median
    base = live_plan(model, core_seconds=args.core)
    m = model.encoder.time_multiple
    spf = model.encoder.front_end.seconds_per_frame
    n = ref.shape[1]
    inner = np.zeros(n, bool)
    inner[int(3 / spf): n - int(3 / spf)] = True
    edge = np.zeros(n, bool)
    for a in range(0, n, base.core):
        edge[max(0, a + base.core - m): a + base.core] = True
    edge &= inner
    print(f"model {model.method} on {model.encoder.name}: core {base.core} frames "
          f"({base.core * spf:.3f} s), a cell {m} frames ({m * spf * 1000:.0f} ms); "
          f"threshold {thr:.3f}, median {model.calibration.median:.3f}")
    print("| left cells | right cells | max departure | at core right edges | "
          "frames flagged differently | score s per s of audio |")
    print("|---|---|---|---|---|---|")
    configs = [(int(a), int(b)) for a, b in (c.split(",") for c in args.configs)]
    for left, right in configs:
        plan = LivePlan(base.core, left * m, right * m)
        t0 = time.process_time()
        prof, _ = score_offline(model, audio, plan)
        took = (time.process_time() - t0) / (len(x) / SR)
        d = np.abs(prof - ref).max(axis=0) / span
        flag_ref = (ref >= thr).any(axis=0)
        flag_live = (prof >= thr).any(axis=0)
        print(f"| {left} | {right} | {d[inner].max():.2e} | {d[edge].max():.2e} | "
              f"{int((flag_ref != flag_live)[inner].sum())} of {int(inner.sum())} | "
              f"{took:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
