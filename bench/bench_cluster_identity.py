"""Identity at the issue's scale (issue 17): a 200-clip dataset evaluated, and a 2-hour recording
scored, on a LocalCluster of 2 single-threaded workers against the single process (one torch
thread); prints how the outputs compare and the wall times (asserts nothing).

    python bench/bench_cluster_identity.py [--clips 200] [--hours 2] [--no-faithfulness]
                                           [--folder DIR] [--keep]

The model is PatchCore on aisfx fitted on the demo fan's training clips (40 of 5 s, the demo
seed). The dataset is a demo fan dataset of ``--clips`` test clips of 5 s (half anomalous,
Raven boxes), evaluated as ``specview evaluate`` does (metrics.json, per_clip.csv, maps;
figures off); the recording is ``--hours`` of normal demo fan sound made as
``bench/bench_long.py`` makes it (5-s renders joined by crossfades, 44.1 kHz 16-bit), scored as
``specview score`` does (a long store, events.csv, Raven table) and split over the workers in
shards of two 60-s windows. Compared: every number of metrics.json and per_clip.csv, every
map cell, the flagged regions per clip; for the recording its scores.csv row, every map
cell, frame score and overview cell of its store, and its events (boxes, scores, counts).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

TIMINGS = {"score_seconds", "score_seconds_per_clip", "fit_seconds", "calibration_seconds",
           "fitted_at"}


def _leaves(x, path=()):
    if isinstance(x, dict):
        for k, v in x.items():
            if k not in TIMINGS:
                yield from _leaves(v, (*path, k))
    elif isinstance(x, list):
        for i, v in enumerate(x):
            yield from _leaves(v, (*path, i))
    else:
        yield path, x


def _compare_leaves(a, b) -> tuple[int, int, float, list]:
    """(leaves, leaves equal, largest relative difference of numbers, mismatches)."""
    la, lb = dict(_leaves(a)), dict(_leaves(b))
    bad = [k for k in set(la) ^ set(lb)]
    same, worst = 0, 0.0
    for k in la.keys() & lb.keys():
        u, v = la[k], lb[k]
        if u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u)
                      and math.isnan(v)):
            same += 1
        elif isinstance(u, (int, float)) and isinstance(v, (int, float)):
            worst = max(worst, abs(u - v) / max(abs(u), abs(v), 1e-12))
            if worst > 1e-6:
                bad.append(k)
        else:
            bad.append(k)
    return len(la), same, worst, bad


def _csv(path: Path) -> list[dict]:
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: v for k, v in r.items() if k not in TIMINGS} for r in csv.DictReader(f)]


def compare_reports(a: Path, b: Path) -> None:
    ja, jb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    n, same, worst, bad = _compare_leaves(ja, jb)
    print(f"  metrics.json: {same} of {n} numbers and fields identical; largest relative "
          f"difference {worst:.1e}; {len(bad)} differ beyond 1e-6 {bad[:5]}")
    ra, rb = _csv(a / "per_clip.csv"), _csv(b / "per_clip.csv")
    rows_same = sum(x == y for x, y in zip(ra, rb, strict=True))
    flag_same = sum(x["n_flagged"] == y["n_flagged"] and x.get("n_matched") == y.get("n_matched")
                    for x, y in zip(ra, rb, strict=True))
    n_flags = sum(int(x["n_flagged"]) for x in ra)
    print(f"  per_clip.csv: {rows_same} of {len(ra)} rows identical (timings aside); flagged "
          f"regions per clip the same in {flag_same} of {len(ra)} ({n_flags} regions in all)")
    names = sorted(p.name for p in (a / "maps").glob("*.npz"))
    worst_map, equal = 0.0, 0
    for name in names:
        x, y = np.load(a / "maps" / name), np.load(b / "maps" / name)
        d = max(float(np.max(np.abs(x[k].astype(np.float64) - y[k]))) for k in x.files)
        equal += d == 0.0
        worst_map = max(worst_map, d)
    print(f"  maps: {equal} of {len(names)} bit-identical; largest difference of a cell "
          f"{worst_map:.1e}")


def compare_long(a: Path, b: Path, stem: str) -> None:
    from specview.longstore import LongStore

    ra, rb = _csv(a / "scores.csv"), _csv(b / "scores.csv")
    print(f"  scores.csv row identical: {ra == rb}"
          + ("" if ra == rb else f" ({ra} vs {rb})"))
    sa, sb = LongStore(a / "long" / f"{stem}.zarr"), LongStore(b / "long" / f"{stem}.zarr")
    print(f"  store complete: {sb.complete}; frames {sa.n_time} / {sb.n_time}")
    step = 600.0
    dur = float(sa.attrs["duration"])
    worst = {"map": 0.0, "frame scores": 0.0}
    cells = equal = 0
    t = 0.0
    while t < dur:
        ma, mb = sa.map(t, min(dur, t + step))[0], sb.map(t, min(dur, t + step))[0]
        diff = np.abs(ma.astype(np.float64) - mb)
        worst["map"] = max(worst["map"], float(diff.max()))
        cells += diff.size
        equal += int((diff == 0).sum())
        fa, fb = sa.frame_scores(t, min(dur, t + step))[0], sb.frame_scores(t, min(dur,
                                                                                 t + step))[0]
        worst["frame scores"] = max(worst["frame scores"],
                                    float(np.max(np.abs(fa.astype(np.float64) - fb))))
        t += step
    oa, ob = sa.overview(), sb.overview()
    ov = max(float(np.nanmax(np.abs(np.asarray(x, np.float64) - y))) for x, y in zip(oa, ob,
                                                                                    strict=True))
    print(f"  map (float16 store): {equal} of {cells} cells identical, largest difference "
          f"{worst['map']:.1e}; frame scores largest difference {worst['frame scores']:.1e}; "
          f"overview largest difference {ov:.1e}")
    ea, eb = sa.events(), sb.events()
    boxes = sum(x.box == y.box for x, y in zip(ea, eb, strict=False))
    scores = max((abs(x.score - y.score) for x, y in zip(ea, eb, strict=False)), default=0.0)
    print(f"  events: {len(ea)} single, {len(eb)} cluster; {boxes} with identical boxes; "
          f"largest score difference {scores:.1e}")
    for name in (f"{stem}.events.csv", f"{stem}.selections.txt"):
        same = (a / "long" / name).read_bytes() == (b / "long" / name).read_bytes()
        print(f"  {name} byte-identical: {same}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--no-faithfulness", action="store_true")
    ap.add_argument("--folder", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    import os

    import torch
    from bench_long import make_recording

    from specview import cluster, pipeline
    from specview.demo import make_demo_dataset
    from specview.demo_cache import DEMO_MACHINE, DEMO_SEED
    from specview.evaluation import evaluate
    from specview.scoring import score_files

    torch.set_num_threads(1)
    tmp = args.folder or Path(tempfile.mkdtemp(prefix="bench-identity-"))
    tmp.mkdir(parents=True, exist_ok=True)
    root = make_demo_dataset(tmp / "fan", machine=DEMO_MACHINE, seed=DEMO_SEED, n_train=40,
                             n_test_normal=args.clips // 2,
                             n_test_anomalous=args.clips - args.clips // 2, duration=5.0)
    pipeline.fit(root, method="patchcore").save(tmp / "m.safetensors")
    model = pipeline.load_model(tmp / "m.safetensors")
    rec = tmp / "long.wav"
    if args.hours:
        took = make_recording(rec, args.hours)
        print(f"recording: {args.hours:g} h written in {took:.0f} s")
    faith = not args.no_faithfulness
    print(f"{args.clips} test clips of 5 s, {args.hours:g} h recording; PatchCore on aisfx; "
          f"faithfulness {'on' if faith else 'off'}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the start")
    times = {}
    t0 = time.perf_counter()
    evaluate(model, root, tmp / "eval-single", faithfulness=faith, figures=False)
    times["evaluate, single process"] = time.perf_counter() - t0
    if args.hours:
        t0 = time.perf_counter()
        score_files(model, [rec], tmp / "long-single")
        times[f"score {args.hours:g}-h, single process"] = time.perf_counter() - t0
    with cluster.connect(workers=2) as client:
        client.wait_for_workers(2)
        t0 = time.perf_counter()
        cluster.send_model(client, model)  # once per worker: the file sent, loaded there
        print(f"model sent to and loaded on both workers in {time.perf_counter() - t0:.1f} s "
              f"(not counted below)")
        t0 = time.perf_counter()
        evaluate(model, root, tmp / "eval-cluster", faithfulness=faith, figures=False,
                 client=client)
        times["evaluate, 2 workers"] = time.perf_counter() - t0
        if args.hours:
            t0 = time.perf_counter()
            score_files(model, [rec], tmp / "long-cluster", client=client)
            times[f"score {args.hours:g}-h, 2 workers"] = time.perf_counter() - t0
    print(f"evaluate on {args.clips} clips, single process vs 2 workers:")
    compare_reports(tmp / "eval-single", tmp / "eval-cluster")
    if args.hours:
        print(f"score of the {args.hours:g}-h recording, single process vs 2 workers:")
        compare_long(tmp / "long-single", tmp / "long-cluster", "long")
    audio = {"evaluate": args.clips * 5.0, "score": args.hours * 3600}
    for what, s in times.items():
        print(f"  {what}: {s:7.1f} s ({audio[what.split()[0].rstrip(',')] / s:.0f}x real time)")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared)")
    if not args.keep and args.folder is None:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
