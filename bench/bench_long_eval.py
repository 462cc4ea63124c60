"""Evaluating a long test clip (issue 14): peak memory and wall time of ``evaluate`` when the
clip is scored in a stream (``longscore.score_long_result``, the default beyond
``LONG_SECONDS``) and when it is loaded whole (``LONG_SECONDS`` raised above its length).

A dataset is made on the fly (never committed): 10 training clips and 2 normal test clips of
5 s of a synthetic machine tone, and one anomalous test clip of ``--minutes`` with a burst in
a Raven box; PatchCore is fitted once. Each evaluation runs in its own process; its peak
resident memory is the child's ``ru_maxrss``. The two reports' metrics are compared.

    python bench/bench_long_eval.py [--minutes 20] [--folder DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def make(folder: Path, minutes: float) -> Path:
    import numpy as np
    import soundfile as sf
    from machine_sounds import SR, machine_tone

    from specview import pipeline
    from specview.annotations import sidecar_path
    from specview.annotations.raven_format import write_raven
    from specview.types import Box

    root = folder / "data"
    (root / "train").mkdir(parents=True, exist_ok=True)
    (root / "test").mkdir(exist_ok=True)
    for i in range(10):
        sf.write(root / "train" / f"normal_{i:02d}.wav", machine_tone(5.0, seed=i), SR)
    for i in range(2):
        sf.write(root / "test" / f"normal_{i:02d}.wav", machine_tone(5.0, seed=50 + i), SR)
    long = root / "test" / "anomaly_long.wav"
    at = minutes * 60 * 0.6
    with sf.SoundFile(str(long), "w", samplerate=SR, channels=1, subtype="PCM_16") as f:
        for k in range(int(minutes)):  # a minute at a time
            x = machine_tone(60.0, seed=100 + k)
            if k == int(at // 60):
                t = np.arange(int(0.6 * SR)) / SR
                i0 = int((at % 60) * SR)
                x[i0:i0 + t.size] += (0.2 * np.sin(2 * np.pi * 3000 * t)
                                      * np.hanning(t.size)).astype(np.float32)
            f.write(x)
    write_raven(sidecar_path(long), [Box(at, at + 0.6, 2500.0, 3500.0)])
    model = pipeline.fit(root / "train", method="patchcore", overrides={"coreset_ratio": "0.2"})
    model.save(folder / "model.safetensors")
    return root


def child(folder: Path, whole: bool) -> dict:
    from specview import longscore
    from specview.evaluation import evaluate
    from specview.pipeline import load_model

    if whole:
        longscore.LONG_SECONDS = 1e12
    model = load_model(folder / "model.safetensors")
    t = time.perf_counter()
    report, _ = evaluate(model, folder / "data", faithfulness=False, figures=False)
    return {"seconds": time.perf_counter() - t, "clip": report["clip"],
            "spectrogram": report["spectrogram"],
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--folder", default=None)
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1] == "whole")))
        return 0
    folder = Path(args.folder or tempfile.mkdtemp(prefix="bench_long_eval"))
    if not (folder / "model.safetensors").exists():
        make(folder, args.minutes)
    print(f"| {args.minutes:g}-min test clip | evaluate wall s | peak memory | clip AUROC | "
          "cell AUROC |")
    print("|---|---|---|---|---|")
    out = {}
    for how in ("stream", "whole"):
        p = subprocess.run([sys.executable, __file__, "--child", str(folder), how],
                           capture_output=True, text=True)
        if p.returncode:
            print(p.stderr[-3000:], file=sys.stderr)
            return 1
        r = out[how] = json.loads(p.stdout.strip().splitlines()[-1])
        print(f"| {how} | {r['seconds']:.0f} | {r['peak_rss_gib']:.2f} GiB | "
              f"{r['clip']['auroc']:.4f} | {r['spectrogram']['auroc']:.4f} |", flush=True)
    same = all(abs(out["stream"][k][m] - out["whole"][k][m]) < 1e-4
               for k in ("clip", "spectrogram") for m in out["whole"][k]
               if isinstance(out["whole"][k][m], float))
    print(f"metrics equal within 1e-4: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
