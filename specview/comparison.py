"""Compare methods x encoders on a dataset: fit each pair, evaluate it, one table.

Features are computed once per encoder and shared by its methods; each pair's report (as
:func:`specview.evaluation.evaluate` writes it) goes to ``OUT/<subset>/<method>-<encoder>/``,
and the run writes ``comparison.csv``, ``comparison.md`` and ``compare.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from specview.datasets import dataset_subsets, load_dataset
from specview.errors import DatasetError, ParameterError
from specview.evaluation import evaluate
from specview.fileio import atomic_write_text, check_output_folder, staged
from specview.methods import encoder_params
from specview.pipeline import Model, SpecCache, front_end_power
from specview.results import write_rows
from specview.spectrogram import compress
from specview.types import Progress


def _route_overrides(overrides: dict[str, str] | None, methods, encoders):
    """``{name: {key: value}}`` from ``method.key=value`` / ``encoder.key=value`` overrides."""
    out: dict[str, dict[str, str]] = {}
    for k, v in (overrides or {}).items():
        who, _, key = k.partition(".")
        if not key or who not in (*methods, *encoders):
            raise ParameterError(
                f"--set {k}: in compare, prefix each key with a method or encoder name, e.g. "
                f"{methods[0]}.{k.rpartition('.')[2]}={v}"
            )
        out.setdefault(who, {})[key] = v
    return out


def compare(
    dataset_root: str | Path,
    out_dir: str | Path,
    *,
    methods: Sequence[str],
    encoders: Sequence[str],
    subset: str | None = None,
    overrides: dict[str, str] | None = None,
    device: str | None = "cpu",
    faithfulness: bool = True,
    figures: bool = True,
    feature_cache_bytes: int = 1 << 30,
    log=print,
    progress: Progress | None = None,
    client: Any = None,
    on_shard: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict]:
    """Fit every method x encoder on the dataset's training clips (features shared per
    encoder), evaluate each, and write ``comparison.csv``, ``comparison.md`` and
    ``compare.png``; each pair's report goes to ``OUT/<subset>/<method>-<encoder>/``.

    Every output of the run (models, reports, tables, figures) is staged
    (:func:`specview.fileio.staged`) and put in place only when the last pair is done: a
    comparison that fails part-way leaves the previous one unchanged. ``out_dir`` (not the
    dataset, not a file) is checked before the first fit.

    ``client``: a ``distributed.Client`` (:func:`specview.cluster.connect`): every pair is
    fitted by a task of its own on the cluster's workers (:func:`specview.cluster_eval.
    submit_fits`, all submitted at once) and evaluated there clip by clip
    (:func:`specview.evaluation.evaluate` with ``client``); the same files and numbers,
    timings aside. A pair whose fit or clips fail on their input lets the others finish, then
    :class:`specview.cluster.ShardErrors` names every failed file and nothing is written."""
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS

    for m in methods:
        if m not in DETECTORS:
            raise ParameterError(f"unknown method {m!r}; available: {', '.join(DETECTORS)}")
    for e in encoders:
        if e not in ENCODERS:
            raise ParameterError(f"unknown encoder {e!r}; available: {', '.join(ENCODERS)}")
    routed = _route_overrides(overrides, list(methods), list(encoders))
    from specview.params import with_overrides

    for name in (*methods, *encoders):  # every parameter checked before the first fit
        cls = DETECTORS[name] if name in DETECTORS else ENCODERS[name]
        with_overrides(cls.Params(), routed.get(name, {}))
    root = Path(dataset_root)
    subsets = [subset] if subset is not None else dataset_subsets(root)
    out = Path(out_dir)
    check_output_folder(out, inputs=[root])
    with staged(protect=[root]):
        return _compare_run(root, out, subsets, methods, encoders, routed, device, faithfulness,
                            figures, feature_cache_bytes, log, progress, client, on_shard)


def _compare_run(root, out, subsets, methods, encoders, routed, device, faithfulness, figures,
                 feature_cache_bytes, log, progress, client=None, on_shard=None) -> list[dict]:
    from specview.detectors import DETECTORS
    from specview.encoders import ENCODERS
    from specview.params import with_overrides
    from specview.pipeline import fit

    rows: list[dict] = []
    figure_sets = []
    total = len(subsets) * len(methods) * len(encoders)
    done = 0
    sets = {}
    for sub in subsets:
        ds = sets[sub] = load_dataset(root, subset=sub or None)
        if not ds.train or not ds.test:
            raise DatasetError(f"{root} {sub}: compare needs training and test clips")
    if client is not None:  # issue 17: every pair fitted by a task of its own
        from specview.cluster import ShardErrors
        from specview.cluster_eval import fitted, submit_fits

        fits = submit_fits(client, [
            {"subset": sub, "encoder": e, "method": m, "train": sets[sub].train,
             "channel": sets[sub].channel, "encoder_overrides": routed.get(e, {}),
             "method_overrides": routed.get(m, {})}
            for sub in subsets for e in encoders for m in methods],
            device=device, feature_cache_bytes=feature_cache_bytes)
        failed: list[tuple[str, str]] = []
    for sub in subsets:
        ds = sets[sub]
        cache: SpecCache = {}
        pair_evals = []
        for enc_name in encoders:
            enc = None
            first_row, first_eval = len(rows), len(pair_evals)
            for method in _by_encoder_params(methods, enc_name, routed):
                if client is None:
                    params = encoder_params(method, enc_name, routed.get(enc_name, {}))
                    if enc is None or enc.params != params:  # one pass per set of layers
                        enc = ENCODERS[enc_name](params, device=device)
                        features_seconds = _encoder_pass(enc, ds, cache, feature_cache_bytes)
                log(f"[{sub or root.name}] fitting {method} on {enc_name} ({len(ds.train)} clips)")
                pair_dir = out / (sub or "") / f"{method}-{enc_name}"
                if client is not None:
                    try:
                        model, features_seconds = fitted(
                            fits[(sub, enc_name, method)], f"{root} {sub}".rstrip(),
                            pair_dir / "model.safetensors")
                        report, evals = evaluate(model, ds, pair_dir, faithfulness=faithfulness,
                                                 figures=figures, client=client,
                                                 on_shard=on_shard, keep_model=False)
                    except ShardErrors as exc:  # the other pairs still run; reported at the end
                        failed.extend(f for f in exc.failed if f not in failed)
                        log(f"  {method}/{enc_name}: failed ({len(exc.failed)} file(s))")
                        continue
                else:
                    det_cls = DETECTORS[method]
                    det = det_cls(with_overrides(det_cls.Params(), routed.get(method, {})),
                                  device=device)
                    model = fit(ds.train, model=Model(enc, det), channel=ds.channel, cache=cache)
                    model.save(pair_dir / "model.safetensors")
                    with enc.uncached():  # score with the network, not the cache
                        report, evals = evaluate(model, ds, pair_dir, faithfulness=faithfulness,
                                                 figures=figures, cache=cache)
                pair_evals.append((f"{method} / {enc_name}", model, evals))
                rows.append(_comparison_row(sub, method, enc_name, report, model,
                                            features_seconds))
                log(_row_line(rows[-1]))
                done += 1
                if progress is not None:
                    progress(done, total)
            # fitted grouped by the encoder's parameters; reported in the order asked for
            rows[first_row:] = sorted(rows[first_row:], key=lambda r: methods.index(r["method"]))
            pair_evals[first_eval:] = sorted(pair_evals[first_eval:],
                                             key=lambda e: methods.index(e[1].detector.name))
        figure_sets.append((sub, pair_evals))
    if client is not None and failed:
        raise ShardErrors(failed)
    if len(subsets) > 1:
        rows.extend(_mean_rows(rows, methods, encoders))
    write_rows(out / "comparison.csv", rows)
    atomic_write_text(out / "comparison.md", comparison_markdown(rows, root))
    if figures:
        from specview import report as R

        for sub, pair_evals in figure_sets:
            name = "compare.png" if len(figure_sets) == 1 else f"compare-{_slug(sub)}.png"
            R.compare_figure(out / name, pair_evals)
    return rows


def _by_encoder_params(methods: Sequence[str], encoder: str, routed: dict) -> list[str]:
    """``methods`` grouped by the encoder parameters each reads (:mod:`specview.methods`), in
    order of first appearance: the methods of a group share one encoder pass."""
    keys = [encoder_params(m, encoder, routed.get(encoder, {})) for m in methods]
    order = sorted(range(len(methods)), key=lambda i: keys.index(keys[i]))  # stable
    return [methods[i] for i in order]


def _encoder_pass(enc, ds, cache: SpecCache, feature_cache_bytes: int) -> float:
    """The training clips' features computed once into ``enc``'s feature cache (shared by the
    methods fitted next); its seconds."""
    enc.cache_features(feature_cache_bytes)
    t0 = time.perf_counter()
    for p in ds.train:
        enc.features(compress(front_end_power(p, enc, ds.channel, cache), enc.front_end))
    return time.perf_counter() - t0


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in s) or "all"


_COLUMNS = (
    ("clip_auroc", ("clip", "auroc")), ("clip_pauc", ("clip", "pauc")), ("clip_ap", ("clip", "ap")),
    ("spec_gt", ("spectrogram", "gt")), ("spec_auroc", ("spectrogram", "auroc")),
    ("spec_ap", ("spectrogram", "ap")), ("aupro", ("spectrogram", "aupro")),
    ("aupimo", ("spectrogram", "aupimo")),
    ("energy_auroc", ("spectrogram_energy", "auroc")),
    ("energy_aupro", ("spectrogram_energy", "aupro")), ("energy_mse", ("spectrogram_energy", "mse")),
    ("temporal_auroc", ("temporal", "auroc")), ("box_precision", ("boxes", "precision")),
    ("box_recall", ("boxes", "recall")), ("box_f1", ("boxes", "f1")),
    ("faith_map_auc", ("faithfulness", "map_auc")),
    ("faith_random_auc", ("faithfulness", "random_auc")),
)


def _get(d: dict, path: tuple[str, ...]):
    for k in path:
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


def _comparison_row(sub, method, enc, report, model, features_seconds) -> dict:
    row: dict[str, Any] = {"subset": sub or "", "method": method, "encoder": enc}
    for col, path in _COLUMNS:
        v = _get(report, path)
        row[col] = "" if v is None else v
    row["fit_seconds"] = float(model.info.get("fit_seconds", float("nan")))
    row["features_seconds"] = features_seconds
    row["score_seconds_per_clip"] = report["score_seconds_per_clip"]
    row["n_train"] = int(model.info.get("n_train_clips", 0))
    row["n_test"] = report["n_clips"]["test"]
    return row


def _mean_rows(rows, methods, encoders) -> list[dict]:
    out = []
    for m in methods:
        for e in encoders:
            sel = [r for r in rows if r["method"] == m and r["encoder"] == e]
            row: dict[str, Any] = {"subset": "mean", "method": m, "encoder": e}
            for k in sel[0]:
                if k in row:
                    continue
                vals = [r[k] for r in sel if isinstance(r[k], (int, float))]
                row[k] = float(np.mean(vals)) if vals else sel[0][k]
            out.append(row)
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 100 else f"{v:.0f}"
    return str(v) if v not in ("", None) else "–"


def _row_line(r: dict) -> str:
    return (f"  {r['method']}/{r['encoder']}: clip AUROC {_fmt(r['clip_auroc'])}, spectrogram "
            f"AUROC {_fmt(r['spec_auroc'])}, AU-PRO {_fmt(r['aupro'])}, AUPIMO "
            f"{_fmt(r['aupimo'])}, box F1 {_fmt(r['box_f1'])}, "
            f"fit {r['fit_seconds']:.1f} s, {1000 * r['score_seconds_per_clip']:.0f} ms/clip")


def comparison_markdown(rows: list[dict], root: Path) -> str:
    head = ["subset", "method", "encoder", "clip AUROC", "clip pAUC", "spec. AUROC", "AU-PRO",
            "AUPIMO", "temporal AUROC", "box P", "box R", "box F1", "faithfulness (map / random)",
            "fit s", "score ms/clip"]
    lines = [f"# Comparison on `{root}`", "",
             "Spectrogram metrics use the "
             + (rows[0]["spec_gt"] or "no") + " ground truth; faithfulness is the area under the "
             "deletion curve (normalised score drop when the top 1-50 % of cells are replaced by the "
             "clean background), for the map's order and for a random order.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["subset"] or "–", r["method"], r["encoder"], _fmt(r["clip_auroc"]),
                 _fmt(r["clip_pauc"]), _fmt(r["spec_auroc"]), _fmt(r["aupro"]),
                 _fmt(r["aupimo"]), _fmt(r["temporal_auroc"]), _fmt(r["box_precision"]), _fmt(r["box_recall"]),
                 _fmt(r["box_f1"]),
                 f"{_fmt(r['faith_map_auc'])} / {_fmt(r['faith_random_auc'])}",
                 f"{r['fit_seconds']:.1f}", f"{1000 * r['score_seconds_per_clip']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
