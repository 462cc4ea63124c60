"""Scoring on a Dask cluster (issue 17): throughput of a LocalCluster of 2 single-threaded
workers against 1 worker and against the plain single process (one torch thread) on the same
shards, and the bytes that travel per shard (prints figures; asserts nothing).

    python bench/bench_cluster.py [--clips 24] [--seconds 10] [--method patchcore]
                                  [--long-seconds 600]

The model is the default encoder's (aisfx weights) unless ``--encoder`` says otherwise. Both
clusters are warmed up first (the model is sent and loaded once per worker, not counted);
then the single process (one torch thread), 1 worker and 2 workers score all the clips in
turn, ``--repeats`` times, and the best of each is kept (the machine is shared).
A recording of ``--long-seconds`` (0: none) is then scored on the 2-worker cluster in window
shards, and the bytes of one clip shard's and one long shard's result are measured as Dask
pickles them.

Besides wall time, each run's CPU time of all processes together (this one, the scheduler in
it, the nannies and the workers: ``psutil``) per clip is printed: on a shared machine it moves
less than the wall time, and it includes the cluster's own background work (heartbeats,
monitors: roughly in proportion to the run's wall time). ``--before`` adds a third cluster of 2 workers as they were before
the per-core fixes (Dask's worker profiler on, one clip per shard); ``--pin`` times the two
plain processes side by side once more, each pinned to a core of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from machine_sounds import SR, machine_tone  # noqa: E402


def _clips(d: Path, n: int, seconds: float, seed: int) -> list[Path]:
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        out.append(d / f"c{i:03d}.wav")
        sf.write(out[-1], machine_tone(seconds, seed=seed + i), SR)
    return out


def _tree_cpu() -> float:
    """CPU seconds of this process and all its children (the LocalClusters' nannies and
    workers; the scheduler runs in this process)."""
    import psutil

    me = psutil.Process()
    total = 0.0
    for p in [me, *me.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


@contextlib.contextmanager
def _patched(obj, name: str, value):
    old = getattr(obj, name, None)
    setattr(obj, name, value)
    try:
        yield
    finally:
        if old is None:
            delattr(obj, name)
        else:
            setattr(obj, name, old)


def _half(model_path: str, clips: list[str], out: str, ready, go, done,
          core: int | None = None) -> None:
    """One of two plain processes side by side (the machine's own ceiling for 2 cores),
    pinned to CPU ``core`` when given."""
    if core is not None:
        os.sched_setaffinity(0, {core})
    import torch

    from specview import pipeline
    from specview.scoring import score_files

    torch.set_num_threads(1)
    model = pipeline.load_model(model_path)
    score_files(model, clips[:1], out + "-warm")
    ready.wait()
    go.wait()
    score_files(model, clips, out)
    done.put(time.perf_counter())


def _side_by_side(model_path: Path, clips: list[Path], out: Path, pin: bool = False) -> float:
    """Wall time of two plain single processes each scoring half of ``clips`` at once (each
    pinned to a core of its own with ``pin``)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Barrier(3), ctx.Barrier(3), ctx.Queue()
    halves = [[str(c) for c in clips[i::2]] for i in range(2)]
    cores = sorted(os.sched_getaffinity(0))[:2] if pin else [None, None]
    procs = [ctx.Process(target=_half, args=(str(model_path), h, str(out / f"h{i}"), ready, go,
                                             done, cores[i])) for i, h in enumerate(halves)]
    for p in procs:
        p.start()
    ready.wait()
    t0 = time.perf_counter()
    go.wait()
    end = max(done.get(), done.get())
    for p in procs:
        p.join()
    return end - t0


def _name(what) -> str:
    return {"single": "plain single process", "before": "2 workers as before"}.get(
        what, f"{what} worker(s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--method", default="patchcore")
    ap.add_argument("--encoder", default=None)
    ap.add_argument("--long-seconds", type=float, default=600.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--pin", action="store_true",
                    help="also the two plain processes pinned to one core each")
    ap.add_argument("--before", action="store_true",
                    help="also 2 workers with the profiler on and one clip per shard")
    args = ap.parse_args()

    import torch

    from specview import cluster, cluster_worker, pipeline
    from specview.scoring import score_files

    tmp = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    train = _clips(tmp / "train", 10, args.seconds, 0)
    clips = _clips(tmp / "test", args.clips, args.seconds, 100)
    kw = {"encoder": args.encoder} if args.encoder else {}
    model = pipeline.fit(train, method=args.method, **kw)
    model.save(tmp / "m.safetensors")
    model = pipeline.load_model(tmp / "m.safetensors")
    audio = args.clips * args.seconds
    print(f"{args.clips} clips x {args.seconds:g} s ({audio:.0f} s of audio), {args.method} on "
          f"{model.encoder.name}; model file {len(cluster.model_bytes(model)) / 1e6:.2f} MB "
          f"(sent once per worker)")

    torch.set_num_threads(1)
    score_files(model, clips[:2], tmp / "warm")
    runs: list = ["single", 1, 2] + (["before"] if args.before else [])
    best = {k: math.inf for k in runs}
    cpu: dict = {k: [] for k in runs}
    own: list = []
    # One configuration at a time: a cluster is started, warmed up (model sent and loaded),
    # timed --repeats times and closed before the next, so no idle cluster's background work
    # (heartbeats, monitors) takes a core from the run being timed.
    for what in runs:
        with contextlib.ExitStack() as stack:
            client = None
            if what != "single":
                client = stack.enter_context(cluster.connect(
                    workers=2 if what == "before" else what, profile=what == "before"))
                client.wait_for_workers(2 if what == "before" else what)
                score_files(model, clips[:4], tmp / f"warm{what}", client=client)
            for rep in range(args.repeats):
                c0, s0 = _tree_cpu(), time.process_time()
                t0 = time.perf_counter()
                with _patched(cluster, "CLIP_SHARD_SECONDS", 0.0 if what == "before"
                              else cluster.CLIP_SHARD_SECONDS):
                    score_files(model, clips, tmp / f"out-{what}", client=client)
                took = time.perf_counter() - t0
                cpu[what].append((_tree_cpu() - c0) / args.clips)
                if what == "single":
                    own.append((time.process_time() - s0) / took)
                best[what] = min(best[what], took)
                print(f"  {_name(what)}, run {rep + 1}: {took:6.2f} s  {audio / took:6.1f}x "
                      f"real time; CPU of all processes {1000 * cpu[what][-1]:.0f} ms per clip")
    pair = min(_side_by_side(tmp / "m.safetensors", clips, tmp / "pair")
               for _ in range(args.repeats))
    print(f"  2 plain processes side by side (no Dask), best of {args.repeats}: {pair:6.2f} s "
          f"{audio / pair:6.1f}x real time; per-core / plain single process: "
          f"{best['single'] / (2 * pair):.2f} (this machine's own ceiling)")
    if args.pin:
        pinned = min(_side_by_side(tmp / "m.safetensors", clips, tmp / "pin", pin=True)
                     for _ in range(args.repeats))
        print(f"  2 plain processes side by side, each pinned to one core, best of "
              f"{args.repeats}: {pinned:6.2f} s; per-core / plain single process: "
              f"{best['single'] / (2 * pinned):.2f}")
    for what in runs:
        print(f"median CPU of all processes per clip, {_name(what)}: "
              f"{1000 * sorted(cpu[what])[len(cpu[what]) // 2]:.0f} ms")
    print(f"cores the plain single process kept busy while scoring: "
          f"{sorted(own)[len(own) // 2]:.2f} (one torch thread; the rest is the audio reading, "
          f"resampling and writing around it)")
    if args.before:
        print(f"2 workers before the fixes: best {best['before']:6.2f} s "
              f"({audio / best['before']:.1f}x); per-core throughput / plain single process: "
              f"{best['single'] / (2 * best['before']):.2f}")
    single, results = best["single"], {1: best[1], 2: best[2]}
    print(f"best of {args.repeats}: plain single process, 1 thread: {single:6.2f} s "
          f"({audio / single:.1f}x real time); LocalCluster 1 worker: {results[1]:6.2f} s "
          f"({audio / results[1]:.1f}x); 2 workers: {results[2]:6.2f} s "
          f"({audio / results[2]:.1f}x)")
    stack = contextlib.ExitStack()
    client = stack.enter_context(cluster.connect(workers=2))
    client.wait_for_workers(2)
    key = cluster.send_model(client, model)
    fut = client.submit(cluster_worker.score_clip, key, 0, str(clips[0]), "default",
                        pure=False)
    clip_bytes = len(pickle.dumps(fut.result(), protocol=5))
    print(f"bytes back per clip shard ({args.seconds:g} s): {clip_bytes / 1e3:.0f} kB"
          f" ({clip_bytes / args.seconds / 1e3:.1f} kB per s of audio); sent: "
          f"{len(pickle.dumps((key, 0, str(clips[0]), 'default')))} B + the task")
    if args.long_seconds:
        rec = tmp / "long.wav"
        sf.write(rec, machine_tone(args.long_seconds, seed=7), SR)
        t0 = time.perf_counter()
        score_files(model, [rec], tmp / "long", long_seconds=300.0, client=client)
        lt = time.perf_counter() - t0
        _, spans, groups = cluster._long_plan(model, rec, 60.0, cluster.WINDOWS_PER_SHARD)
        g = groups[1]
        n_time = spans[-1].valid_stop
        fut = client.submit(cluster_worker.score_windows, key, 0, str(rec), "default",
                            [(s.start, s.stop, s.valid_start, s.valid_stop) for s in g],
                            n_time, len(spans), args.long_seconds, pure=False)
        res = fut.result()
        lb = len(pickle.dumps(res, protocol=5))
        secs = (g[-1].valid_stop - g[0].valid_start) * model.encoder.front_end.seconds_per_frame
        print(f"long recording {args.long_seconds:g} s in {len(groups)} shards on 2 workers: "
              f"{lt:6.2f} s ({args.long_seconds / lt:.1f}x real time); bytes back per long "
              f"shard ({secs:.0f} s): {lb / 1e6:.2f} MB ({lb / secs / 1e3:.1f} kB per s of "
              f"audio); shard worker time {res['seconds']:.2f} s")
    stack.close()
    print(f"speed-up 2 workers / 1 worker: {results[1] / results[2]:.2f}x (target >= 1.6x)")
    print(f"2 workers' per-core throughput / plain single process: "
          f"{single / (2 * results[2]):.2f} (target >= 0.90)")
    print(f"1 worker / plain single process: {single / results[1]:.2f}")
    print(f"2 workers / 2 plain processes side by side: {pair / results[2]:.2f}")
    print(f"cores on this machine: {os.cpu_count()}; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
