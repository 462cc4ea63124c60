"""Every method on the real-recordings benchmark (one dataset per machine): one table.

    python bench/bench_real.py [--cache DIR] [--machines engine mining ...]
                               [--methods patchcore padim cfa stfpm zscore] [--encoder aisfx]
                               [--threads 2] [--json OUT.json] [--set method.key=value ...]
                               [--models DIR]

``--cache`` (default ``<specview cache>/realdata``) holds one dataset per machine in specview's
envmix layout (``train/``, ``test/`` with Raven sidecar boxes, ``test/sources/``,
``test/meta.csv`` with ``level_db``); by default every folder there with ``train/`` and
``test/`` is used. Each machine x method is fitted on ``train/`` with default settings (plus
``--set`` overrides: ``METHOD.key=value`` for one detector, ``encoder.key=value`` for all) and
evaluated on ``test/`` with :func:`specview.evaluation.evaluate` (no faithfulness, no figures,
nothing written; models stay in memory unless ``--models DIR`` saves them there, as
``MACHINE-METHOD.safetensors``, for ``bench_focus.py --models DIR``).

Columns (``–``: undefined, e.g. no anomalous clips at that level):

* clip AUROC +6 / 0 / −6 dB: anomalous clips at that event-to-background level against the
  normal clips (``report["by_level"]``), then over all anomalous clips;
* spec. AUROC, AU-PRO (FPR <= 0.3), AUPIMO: the map against the truth boxes, cells pooled over
  all test clips, normal clips' all-negative masks included (``report["spectrogram"]``);
* peak in event: share of anomalous clips whose map maximum lies inside a truth box;
* box P / R / F1: regions above the normal-calibrated threshold matched to truth boxes at
  IoU >= 0.3 (``report["boxes"]``);
* border max / cells: share of NORMAL test clips whose map maximum lies on the feature grid's
  border (one cell of the encoder's coarsest selected layer from an edge, as in
  ``bench_borders.py``), and the share of the map's cells on that border (no border effect:
  the two are equal);
* fit s: wall time of :func:`specview.pipeline.fit` (fit and calibration); score ms/clip: the
  detector's mean scoring time per test clip (``report["score_seconds_per_clip"]``).

A per-method block of means over machines follows (means over the machines where the value
is defined). ``--json`` writes every number, the code's git commit, dataset sizes and torch
threads, rewritten (atomically) after each machine x method so a long run leaves partial
results.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch
from bench_borders import border_mask

import specview
from specview import demo_cache, pipeline
from specview.datasets import load_dataset
from specview.detectors import DETECTORS
from specview.encoders import DEFAULT_ENCODER, ENCODERS
from specview.evaluation import evaluate

METHODS = ("patchcore", "padim", "cfa", "stfpm", "zscore")
LEVELS = (6.0, 0.0, -6.0)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def git_commit(folder: Path) -> str | None:
    """Short commit of the repository holding ``folder``, with ``+dirty`` when the tracked
    files under it differ from that commit; None outside a repository."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=folder, check=True,
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "."], cwd=folder, check=True, capture_output=True,
                               text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


def find_machines(cache: Path) -> list[str]:
    if not cache.is_dir():
        return []
    return sorted(p.name for p in cache.iterdir()
                  if (p / "train").is_dir() and (p / "test").is_dir())


def parse_overrides(items: list[str], methods: list[str]) -> dict[str, dict[str, str]]:
    """``{method: {"detector.key" | "encoder.key": value}}`` from ``--set`` items."""
    out: dict[str, dict[str, str]] = {m: {} for m in methods}
    for item in items:
        key, eq, value = item.partition("=")
        who, dot, name = key.partition(".")
        if not eq or not dot or not name:
            sys.exit(f"--set {item}: expected METHOD.key=value or encoder.key=value")
        if who == "encoder":
            for m in methods:
                out[m][f"encoder.{name}"] = value
        elif who in DETECTORS:
            out.setdefault(who, {})[f"detector.{name}"] = value
        else:
            sys.exit(f"--set {item}: {who!r} is neither a method ({', '.join(DETECTORS)}) "
                     f"nor 'encoder'")
    return out


def _num(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _get(d, *path):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def measure(model, report: dict, evals) -> dict:
    """The table's numbers from one evaluation."""
    by_level = {float(k): v for k, v in (report.get("by_level") or {}).items()}
    row: dict = {
        "clip_auroc_by_level": {f"{lv:+g}": _num(_get(v, "clip", "auroc"))
                                for lv, v in sorted(by_level.items(), reverse=True)},
        "n_anomalous_by_level": {f"{lv:+g}": v.get("n_anomalous")
                                 for lv, v in sorted(by_level.items(), reverse=True)},
        "clip_auroc": _num(_get(report, "clip", "auroc")),
        "clip_pauc": _num(_get(report, "clip", "pauc")),
        "spec_gt": _get(report, "spectrogram", "gt"),
        "spec_auroc": _num(_get(report, "spectrogram", "auroc")),
        "aupro": _num(_get(report, "spectrogram", "aupro")),
        "aupimo": _num(_get(report, "spectrogram", "aupimo")),
        "box_precision": _num(_get(report, "boxes", "precision")),
        "box_recall": _num(_get(report, "boxes", "recall")),
        "box_f1": _num(_get(report, "boxes", "f1")),
        "box_min_iou": _get(report, "boxes", "min_iou"),
        "normal_clips_flagged": _num(_get(report, "boxes", "normal_clips_flagged")),
        "score_seconds_per_clip": _num(report.get("score_seconds_per_clip")),
        "n_clips": report.get("n_clips"),
    }
    for lv in LEVELS:
        row["clip_auroc_by_level"].setdefault(f"{lv:+g}", None)
    hits = []
    for e in evals:
        if e.label != 1 or e.box_mask is None or not e.box_mask.any():
            continue
        peak = np.unravel_index(int(np.argmax(e.result.map)), e.result.map.shape)
        hits.append(bool(e.box_mask[peak]))
    row["peak_in_event"] = float(np.mean(hits)) if hits else None
    row["peak_in_event_clips"] = len(hits)
    grids = model.encoder.layer_grids()
    tc = max(g.time_stride for g in grids)
    fc = max(g.freq_stride for g in grids)
    on, share = [], []
    for e in evals:
        if e.label != 0:
            continue
        b = border_mask(e.result.map.shape, tc, fc)
        on.append(bool(b[np.unravel_index(int(np.argmax(e.result.map)), e.result.map.shape)]))
        share.append(float(b.mean()))
    row["border_max"] = float(np.mean(on)) if on else None
    row["border_cells"] = float(np.mean(share)) if share else None
    row["border_cell_stride"] = {"time": tc, "freq": fc}
    return row


def dataset_info(ds) -> dict:
    levels: dict[str, int] = {}
    for c in ds.test:
        if c.label == 1:
            v = (c.meta or {}).get("level_db")
            key = "unknown" if v in (None, "") else f"{float(round(float(v))) + 0.0:+g}"
            levels[key] = levels.get(key, 0) + 1
    return {"root": str(ds.root), "n_train": len(ds.train),
            "n_test_normal": sum(c.label == 0 for c in ds.test),
            "n_test_anomalous": sum(c.label == 1 for c in ds.test),
            "n_test_anomalous_by_level": levels,
            "n_with_boxes": sum(c.boxes_path is not None for c in ds.test)}


def f3(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def table_row(machine: str, method: str, r: dict) -> str:
    if "error" in r:
        return f"| {machine} | {method} | failed: {r['error'][:80]} |" + " |" * 9
    lv = r["clip_auroc_by_level"]
    clip = " / ".join(f3(lv.get(f"{x:+g}")) for x in LEVELS) + f" / {f3(r['clip_auroc'])}"
    boxes = f"{f3(r['box_precision'])} / {f3(r['box_recall'])} / {f3(r['box_f1'])}"
    border = f"{f3(r['border_max'])} / {f3(r['border_cells'])}"
    fit = "–" if r.get("fit_seconds") is None else f"{r['fit_seconds']:.1f}"
    sc = r.get("score_seconds_per_clip")
    score = "–" if sc is None else f"{1000 * sc:.1f}"
    return (f"| {machine} | {method} | {clip} | {f3(r['spec_auroc'])} | {f3(r['aupro'])} | "
            f"{f3(r['aupimo'])} | {f3(r['peak_in_event'])} | {boxes} | {border} | {fit} | "
            f"{score} |")


HEADER = ("| machine | method | clip AUROC +6 / 0 / −6 dB / all | spec. AUROC | AU-PRO | AUPIMO "
          "| peak in event | box P / R / F1 | border max / cells | fit s | score ms/clip |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")


def mean_row(rows: list[dict]) -> dict:
    ok = [r for r in rows if "error" not in r]

    def m(get):
        vals = [v for v in (get(r) for r in ok) if v is not None]
        return float(np.mean(vals)) if vals else None

    keys = ("clip_auroc", "spec_auroc", "aupro", "aupimo", "peak_in_event", "box_precision",
            "box_recall", "box_f1", "border_max", "border_cells", "fit_seconds",
            "score_seconds_per_clip")
    out = {k: m(lambda r, k=k: r.get(k)) for k in keys}
    out["clip_auroc_by_level"] = {f"{x:+g}": m(lambda r, x=x: r["clip_auroc_by_level"].get(
        f"{x:+g}")) for x in LEVELS}
    out["n_machines"] = len(ok)
    return out


def write_json(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None,
                    help="folder of machine datasets (default: <specview cache>/realdata)")
    ap.add_argument("--machines", nargs="+", default=None,
                    help="machine folders to use (default: all with train/ and test/)")
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(DETECTORS))
    ap.add_argument("--encoder", default=DEFAULT_ENCODER, choices=list(ENCODERS))
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    ap.add_argument("--models", type=Path, default=None,
                    help="also save each fitted model here as MACHINE-METHOD.safetensors "
                         "(bench_focus.py --models reuses them)")
    ap.add_argument("--set", nargs="*", default=[], metavar="METHOD.key=value",
                    help="overrides, e.g. stfpm.epochs=20 or encoder.n_mels=64")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cache = args.cache or demo_cache.cache_dir() / "realdata"
    machines = args.machines or find_machines(cache)
    if not machines:
        sys.exit(f"{cache}: no machine folders (with train/ and test/)")
    for m in machines:
        if not ((cache / m / "train").is_dir() and (cache / m / "test").is_dir()):
            sys.exit(f"{cache / m}: not a dataset folder (needs train/ and test/)")
    overrides = parse_overrides(args.set, args.methods)
    code = Path(specview.__file__).resolve().parent
    doc: dict = {
        "cache": str(cache), "specview": str(code), "specview_commit": git_commit(code),
        "bench_commit": git_commit(Path(__file__).resolve().parent),
        "torch_threads": torch.get_num_threads(), "encoder": args.encoder,
        "methods": args.methods, "overrides": {k: v for k, v in overrides.items() if v},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "datasets": {}, "results": {},
    }
    log(f"specview from {code} ({doc['specview_commit']}); torch threads "
        f"{doc['torch_threads']}; machines {', '.join(machines)}; methods "
        f"{', '.join(args.methods)}")
    # warm-up (weights, front end, resampler): the first fit's time is no one-off loading
    pipeline.fit(load_dataset(cache / machines[0]).train[:2], method="zscore",
                 encoder=args.encoder)
    t_all = time.perf_counter()
    rows: list[tuple[str, str, dict]] = []
    for machine in machines:
        ds = load_dataset(cache / machine)
        info = dataset_info(ds)
        doc["datasets"][machine] = info
        log(f"[{machine}] {info['n_train']} train, {info['n_test_normal']} normal + "
            f"{info['n_test_anomalous']} anomalous test clips (by level "
            f"{info['n_test_anomalous_by_level']})")
        for method in args.methods:
            try:
                log(f"[{machine}] fitting {method} ...")
                t0 = time.perf_counter()
                model = pipeline.fit(ds.root, method=method, encoder=args.encoder,
                                     overrides=overrides.get(method) or None)
                fit_s = time.perf_counter() - t0
                if args.models:
                    args.models.mkdir(parents=True, exist_ok=True)
                    model.save(args.models / f"{machine}-{method}.safetensors")
                log(f"[{machine}] fitted {method} in {fit_s:.1f} s; evaluating "
                    f"{len(ds.test)} clips ...")
                t1 = time.perf_counter()
                report, evals = evaluate(model, ds, faithfulness=False, figures=False)
                r = measure(model, report, evals)
                r["fit_seconds"] = fit_s
                r["detector_fit_seconds"] = _num(model.info.get("fit_seconds"))
                r["evaluate_seconds"] = time.perf_counter() - t1
                log(f"[{machine}] evaluated {method} in {r['evaluate_seconds']:.1f} s: clip "
                    f"AUROC {f3(r['clip_auroc'])}, spec. AUROC {f3(r['spec_auroc'])}, AU-PRO "
                    f"{f3(r['aupro'])}, box F1 {f3(r['box_f1'])}")
                del model, evals
            except Exception as exc:  # one failing pair must not lose a long run's others
                log(f"[{machine}] {method} FAILED:\n{traceback.format_exc()}")
                r = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
            rows.append((machine, method, r))
            doc["results"].setdefault(machine, {})[method] = r
            if args.json:
                doc["total_seconds"] = time.perf_counter() - t_all
                write_json(args.json, doc)
    doc["means"] = {m: mean_row([r for _, mm, r in rows if mm == m]) for m in args.methods}
    doc["total_seconds"] = time.perf_counter() - t_all
    doc["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    if args.json:
        write_json(args.json, doc)
    sizes = "; ".join(f"{m} {i['n_train']} train / {i['n_test_normal']} normal / "
                      f"{i['n_test_anomalous']} anomalous" for m, i in doc["datasets"].items())
    print(f"Real-recordings benchmark, `{cache}` ({sizes}); specview {doc['specview_commit']}, "
          f"encoder {args.encoder}, torch threads {doc['torch_threads']}, overrides "
          f"{doc['overrides'] or 'none'}; total {doc['total_seconds'] / 60:.1f} min.\n")
    print(HEADER)
    for machine, method, r in rows:
        print(table_row(machine, method, r))
    print("\nMean over machines:\n")
    print(HEADER)
    for method in args.methods:
        print(table_row("mean", method, doc["means"][method]))


if __name__ == "__main__":
    main()
