"""Long recordings (issue 14): peak memory, wall time and real-time factor of ``specview score``
on 1-hour, 6-hour and 24-hour recordings, and false flags per hour on normal audio.

The recordings are made on the fly (never committed) from the demo fan, the machine the demo
model was fitted on: the same unit rendered in 30-s segments, each with its own speed, load
and gain as the training clips have, joined by 0.5-s equal-power crossfades, written as 16-bit
WAV (RF64 beyond 4 GB). For 6 and 24 hours, a pool of 120 segments (an hour) is replayed in a
shuffled order, so generation stays fast; the 1-hour file holds 120 segments of its own.

Each ``specview score`` runs in its own process, through a wrapper that reports the child's
peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``), with ``--threads 2``.

    python bench/bench_long.py [--hours 1 6 24] [--folder DIR] [--keep]

Prints one row per recording: hours, file size, wall time, real-time factor, peak memory, and
the flagged events per hour against the model's calibrated rate.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SR = 44100
SEGMENT_S = 30.0
FADE_S = 0.5


def _segments(n: int, seed: int):
    from specview.demo import _G_UNIT, _background, _clip_rng
    from specview.demo_cache import DEMO_MACHINE, DEMO_SEED
    from specview.demo_machines import MACHINES

    spec = MACHINES[DEMO_MACHINE]
    unit = spec.draw_unit(_clip_rng(DEMO_SEED, DEMO_MACHINE, _G_UNIT, 0))
    length = int((SEGMENT_S + FADE_S) * SR)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        yield _background(spec, unit, rng, length, SR).astype(np.float32)


def make_recording(path: Path, hours: float, *, seed: int = 7, pool: int = 120) -> float:
    """Write ``hours`` of normal fan sound to ``path``; returns the seconds taken."""
    t0 = time.perf_counter()
    n_seg = int(round(hours * 3600 / SEGMENT_S))
    fade = int(FADE_S * SR)
    ramp = np.sin(np.linspace(0, np.pi / 2, fade, dtype=np.float32)) ** 2
    rng = np.random.default_rng(seed)
    if n_seg <= pool:
        order = list(range(n_seg))
        source = list(_segments(n_seg, seed))
    else:
        source = list(_segments(pool, seed))
        order = [int(k) for k in rng.integers(0, pool, n_seg)]
    fmt = "RF64" if hours * 3600 * SR * 2 > 3.9e9 else "WAV"
    tail = None
    with sf.SoundFile(str(path), "w", samplerate=SR, channels=1, subtype="PCM_16",
                      format=fmt) as f:
        for k in order:
            x = source[k]
            body = x[: len(x) - fade].copy()
            if tail is not None:
                body[:fade] = np.sqrt(ramp) * body[:fade] + np.sqrt(1 - ramp) * tail
            f.write(body)
            tail = x[len(x) - fade:]
        f.write(tail)
    return time.perf_counter() - t0


def peak_run(cmd: list[str]) -> tuple[int, float, int, str]:
    """Run ``cmd`` in a wrapper process; ``(exit status, wall s, peak RSS bytes, stderr)``."""
    wrapper = ("import resource, subprocess, sys, json;"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               "print(json.dumps([p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN)"
               ".ru_maxrss, p.stderr[-4000:]]))")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True,
                         check=True)
    wall = time.perf_counter() - t0
    rc, kb, err = json.loads(out.stdout.strip().splitlines()[-1])
    return rc, wall, int(kb) * 1024, err


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, nargs="+", default=[1.0, 6.0, 24.0])
    ap.add_argument("--folder", type=Path, default=Path("/tmp/specview-bench-long"))
    ap.add_argument("--model", type=Path, default=None, help="default: the demo model")
    ap.add_argument("--keep", action="store_true", help="keep the recordings afterwards")
    args = ap.parse_args()
    from specview import pipeline
    from specview.demo_cache import ensure_demo

    model_path = args.model or ensure_demo()[1]
    model = pipeline.load_model(model_path)
    rate = model.calibration.flags_per_hour(model.block_seconds)
    args.folder.mkdir(parents=True, exist_ok=True)
    cli = str(Path(sys.executable).with_name("specview-cli"))
    print(f"model {model_path.name}: calibrated rate {rate:.1f} false flags per hour "
          f"(blocks of {model.block_seconds:.1f} s); two CPU threads")
    print("| recording | file | generate s | score wall s | real time | peak memory | "
          "events / h (calibrated) |")
    print("|---|---|---|---|---|---|---|")
    for hours in args.hours:
        rec = args.folder / f"fan-{hours:g}h.wav"
        gen = make_recording(rec, hours) if not rec.exists() else 0.0
        out = args.folder / f"out-{hours:g}h"
        shutil.rmtree(out, ignore_errors=True)
        rc, wall, rss, err = peak_run([cli, "score", str(model_path), str(rec), "--out", str(out),
                                       "--threads", "2"])
        if rc != 0:
            print(f"score failed ({rc}): {err}", file=sys.stderr)
            return 1
        with open(out / "scores.csv", newline="") as f:
            row = next(csv.DictReader(f))
        seconds = float(row["duration_s"])
        print(f"| {hours:g} h | {rec.stat().st_size / 1e9:.2f} GB | {gen:.0f} | {wall:.0f} | "
              f"{seconds / wall:.0f}x | {rss / 2**30:.2f} GiB | "
              f"{float(row['events_per_hour']):.1f} ({rate:.1f}) |", flush=True)
        if not args.keep:
            rec.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
