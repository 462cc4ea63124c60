"""``specview score|evaluate|compare ... --cluster ADDRESS`` / ``--workers N`` (issue 17): the
commands on a Dask cluster (:mod:`specview.cluster`, :mod:`specview.cluster_eval`)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def _client(args: argparse.Namespace, what: str) -> Iterator[Any]:
    """The cluster of ``--cluster`` / ``--workers``, its address and dashboard said on stderr."""
    from specview import cluster
    from specview.errors import SpecviewError

    cluster.require_dask()  # before anything is loaded: the one line saying how to install it
    if args.cluster is not None and args.workers is not None:
        raise SpecviewError("--cluster and --workers: give one of them")
    with cluster.connect(args.cluster, args.workers) as client:
        where = args.cluster or f"a local cluster of {args.workers} worker(s)"
        link = cluster.dashboard(client)
        n = len(client.scheduler_info().get("workers", {}))
        print(f"{what} on {where} ({n} worker(s) now)"
              + (f"; dashboard: {link}" if link else ""), file=sys.stderr)
        yield client


def cmd_evaluate_cluster(args: argparse.Namespace, channel: Any,
                         summary: Callable[[dict], None]) -> int:
    """``specview evaluate`` with the test clips scored on the cluster, one shard per clip."""
    from specview import cluster, pipeline
    from specview.datasets import load_dataset
    from specview.evaluation import evaluate

    cluster.require_dask()
    model = pipeline.load_model(args.model, device=args.device)
    ds = load_dataset(args.dataset, subset=args.subset, channel=channel)
    with _client(args, "evaluating") as client:
        bar = cluster.ShardBar("evaluating")
        try:
            report, _ = evaluate(model, ds, args.out, min_iou=args.iou, flag_rate=args.flag_rate,
                                 faithfulness=not args.no_faithfulness,
                                 figures=not args.no_figures, client=client, on_shard=bar)
        finally:
            bar.close()
    summary(report)
    took = max(bar.seconds, 1e-9)
    print(f"{Path(args.out) / 'metrics.json'}: {report['n_clips']['test']} clips evaluated on "
          f"the cluster ({bar.audio:.0f} s of audio in {took:.1f} s)")
    return 0


def cmd_compare_cluster(args: argparse.Namespace) -> int:
    """``specview compare`` with every pair fitted by a task and evaluated clip by clip on the
    cluster."""
    from specview import cluster
    from specview.comparison import compare
    from specview.params import parse_overrides

    cluster.require_dask()
    with _client(args, "comparing") as client:
        bar = cluster.ShardBar("evaluating")
        try:
            rows = compare(args.dataset, args.out, methods=args.methods, encoders=args.encoders,
                           subset=args.subset, overrides=parse_overrides(args.set),
                           device=args.device, faithfulness=not args.no_faithfulness,
                           figures=not args.no_figures, log=lambda line: print(line, flush=True),
                           client=client, on_shard=bar)
        finally:
            bar.close()
    print((Path(args.out) / "comparison.md").read_text(encoding="utf-8"))
    print(f"{Path(args.out) / 'comparison.csv'}: {len(rows)} row(s)")
    return 0


def cmd_score_cluster(args: argparse.Namespace, channel: Any) -> int:
    """Score ``args.inputs`` on the scheduler ``args.cluster`` or on a ``LocalCluster`` of
    ``args.workers`` single-threaded worker processes; progress over completed shards with the
    cluster's real-time factor; the dashboard's address printed when there is one."""
    from specview import cluster, pipeline, scoring

    cluster.require_dask()  # before anything is loaded: the one line saying how to install it
    model = pipeline.load_model(args.model, device=args.device)
    with _client(args, "scoring") as client:
        bar = cluster.ShardBar("scoring")
        try:
            rows = scoring.score_files(model, args.inputs, args.out, channel=channel,
                                       subset=args.subset, per_hour=args.false_flags_per_hour,
                                       client=client, on_shard=bar)
        finally:
            bar.close()
        took = max(bar.seconds, 1e-9)
    print(f"{Path(args.out) / 'scores.csv'}: {len(rows)} clip(s) scored on the cluster "
          f"({bar.audio:.0f} s of audio in {took:.1f} s, {bar.audio / took:.0f}x real time)")
    for r in rows:
        if "events" in r:
            print(f"{r['file']}: {r['events']} flagged event(s) "
                  f"({r['events_per_hour']:.1f} per hour), {Path(args.out) / r['map']}")
    return 0
