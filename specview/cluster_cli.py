"""``specview score ... --cluster ADDRESS`` / ``--workers N`` (issue 17): the score command on a
Dask cluster (:mod:`specview.cluster`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def cmd_score_cluster(args: argparse.Namespace, channel: Any) -> int:
    """Score ``args.inputs`` on the scheduler ``args.cluster`` or on a ``LocalCluster`` of
    ``args.workers`` single-threaded worker processes; progress over completed shards with the
    cluster's real-time factor; the dashboard's address printed when there is one."""
    from specview import cluster, pipeline, scoring

    cluster.require_dask()  # before anything is loaded: the one line saying how to install it
    if args.cluster is not None and args.workers is not None:
        from specview.errors import SpecviewError

        raise SpecviewError("--cluster and --workers: give one of them")
    model = pipeline.load_model(args.model, device=args.device)
    with cluster.connect(args.cluster, args.workers) as client:
        where = args.cluster or f"a local cluster of {args.workers} worker(s)"
        link = cluster.dashboard(client)
        n = len(client.scheduler_info().get("workers", {}))
        print(f"scoring on {where} ({n} worker(s) now)"
              + (f"; dashboard: {link}" if link else ""), file=sys.stderr)
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
