"""Scoring on a Dask cluster (issue 17): the same files and numbers as one process, on many.

``scoring.score_files(model, inputs, out, client=client)`` with a ``distributed.Client`` (a
:func:`connect`: a running scheduler, or a ``LocalCluster`` started here) splits the work into
**shards**: one per clip, and for a recording longer than ``long_seconds`` one per group of
:data:`WINDOWS_PER_SHARD` windows of its window plan (:func:`specview.pipeline.window_plan`),
so one long recording spreads over the workers. What travels:

- the model, once per worker: :class:`specview.cluster_worker.ModelPlugin` carries the model
  file's bytes (safetensors), and each worker loads them with the safe loader and keeps the
  model (its encoder built once); tasks name it by the hash of the bytes;
- to a worker per shard: the file's path and the shard's frame span (a few hundred bytes; the
  workers read the recordings themselves, so the paths must be the same on every machine);
- back per shard: the clip's map, times, freqs and frame scores (float32), or for a long
  shard the profiled valid columns of each window's map, their excess power and mel power
  (float32, ``3 x n_mels x frames``).

The client writes everything, through the same staged writers as the single-process run
(:func:`specview.fileio.staged`): clip maps as their shards arrive, a long recording's store
(:class:`~specview.longstore.StoreWriter`, fed through
:class:`~specview.longscore.StreamFocus` and :class:`~specview.longscore.StreamEvents` window by
window in order, as :func:`~specview.longscore.score_long` feeds them) as its shards become
contiguous, and ``scores.csv`` (rows in input order) at the end.

**Failures.** A shard failing on bad input (a damaged file: any specview error) is reported
with its file and is not retried; every other shard still runs. Since the outputs are staged
(all or nothing), a run with any failed shard writes nothing: the previous ``scores.csv``, maps
and stores stay byte-identical, and :class:`ShardErrors` lists every failed file. Any other
exception in a task (and a worker that dies) is retried by Dask (``retries``; a lost worker's
tasks are rescheduled by the scheduler); results are keyed by shard, so one arriving twice is
ignored and none is written twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from specview.errors import SpecviewError
from specview.types import Progress

#: Windows of a long recording's plan per shard (60-s windows: about two minutes of audio).
WINDOWS_PER_SHARD = 2
#: Seconds of audio at most in one shard of clips (consecutive clips grouped: a task's
#: overhead on the worker, the scheduler and the client shared by several clips; 0: one clip
#: per shard). Measured with 10-s clips on two workers: 4 clips a task took 12 % less CPU in
#: all processes together than 1 clip a task.
CLIP_SHARD_SECONDS = 60.0
#: Dask retries of a task that raised something other than a specview error.
RETRIES = 3
#: The one line said when dask is missing.
INSTALL_HINT = "scoring on a cluster needs dask: pip install specview[cluster]"

ShardReport = Callable[[dict[str, Any]], None]


class ShardErrors(SpecviewError):
    """Shards that failed on their input; nothing was written. ``failed``: (file, message)."""

    def __init__(self, failed: list[tuple[str, str]]) -> None:
        self.failed = failed
        lines = "\n".join(f"  {f}: {m}" for f, m in failed)
        super().__init__(f"{len(failed)} file(s) failed, nothing was written (the previous "
                         f"results are as they were):\n{lines}")


def require_dask() -> None:
    """:data:`INSTALL_HINT` as a SpecviewError when ``distributed`` cannot be imported."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SpecviewError(INSTALL_HINT) from None


@contextlib.contextmanager
def connect(address: str | None = None, workers: int | None = None, *, profile: bool = False,
            **worker_options: Any) -> Iterator[Any]:
    """A ``distributed.Client``: of the scheduler at ``address``, or of a ``LocalCluster`` of
    ``workers`` single-threaded worker processes started now and stopped at the end (with
    Dask's statistical profiler and its default callback intervals on the workers only when
    ``profile``: the cluster as it was before the per-core fixes)."""
    require_dask()
    from distributed import Client, LocalCluster

    if (address is None) == (workers is None):
        raise SpecviewError("give a scheduler address or a number of workers (not both)")
    if address is not None:
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    if workers < 1:
        raise SpecviewError(f"--workers {workers}: at least one worker")
    import dask

    # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off glibc's
    # dynamic mmap threshold: every large array is then a fresh mmap and its page faults
    # (measured: 0.238 s against 0.144 s per 10-s clip, PatchCore on aisfx, one thread)
    env = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ").items()
           if k != "MALLOC_TRIM_THRESHOLD_"}
    # and without the worker's statistical profiler (a stack sample every 10 ms, with the GIL):
    # measured, 2 workers on 2 cores used 13 % less CPU per 10-s clip, all processes together
    # and with the periodic callbacks that wake every process's event loop (each wake-up takes
    # the GIL from the scoring thread) at coarser intervals: the event-loop tick 20 ms -> 1 s
    # (it only measures blocking), work stealing 100 ms -> 1 s, the memory monitor 100 -> 500 ms.
    # Measured, 24 clips of 10 s on 2 workers, 2 cores: 10 ms less CPU per clip, all processes.
    quiet = {} if profile else {"distributed.admin.tick.interval": "1s",
                                "distributed.scheduler.work-stealing-interval": "1s",
                                "distributed.worker.memory.monitor-interval": "500ms"}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": env,
                          "distributed.worker.profile.enabled": bool(profile), **quiet}), \
            LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                         dashboard_address=":0", **worker_options) as cluster, \
            Client(cluster) as client:
        yield client


def dashboard(client: Any) -> str | None:
    """The dashboard's address, if the scheduler serves one."""
    try:
        info = client.scheduler_info()
        port = info.get("services", {}).get("dashboard")
        return client.dashboard_link if port else None
    except Exception:
        return None


def model_bytes(model: Any) -> bytes:
    """The model file of ``model`` (what :func:`specview.pipeline.save_model` writes)."""
    from specview.cluster_worker import model_bytes as to_bytes

    return to_bytes(model)


def send_model(client: Any, model: Any) -> str:
    """Register the model with every worker, present and future, once (a model already
    registered with this scheduler is not sent again); returns its key."""
    from specview.cluster_worker import ModelPlugin

    data = model_bytes(model)
    key = hashlib.sha256(data).hexdigest()[:16]
    plugin = ModelPlugin(key, data)
    if not client.run_on_scheduler(_has_plugin, name=plugin.name):  # once per cluster
        client.register_plugin(plugin, name=plugin.name)
    return key


def forget_model(client: Any, key: str) -> None:
    """Unregister the model of ``key`` (:func:`send_model`) from the workers, which drop it
    (a comparison sends one model per pair and keeps none of them)."""
    from specview.cluster_worker import PLUGIN_PREFIX

    with contextlib.suppress(Exception):  # already gone (or the scheduler with it)
        client.unregister_worker_plugin(PLUGIN_PREFIX + key)


def _has_plugin(name: str, dask_scheduler: Any = None) -> bool:
    return name in getattr(dask_scheduler, "worker_plugins", {})


class ShardBar:
    """tqdm over completed shards with the cluster's real-time factor (seconds of audio per
    second); ``print`` the dashboard's address first."""

    def __init__(self, desc: str = "scoring") -> None:
        from tqdm import tqdm

        self._bar = tqdm(desc=desc, unit="shard", leave=False, file=sys.stderr,
                         disable=not sys.stderr.isatty())
        self._t0 = time.perf_counter()
        self.audio = 0.0

    def __call__(self, info: dict[str, Any]) -> None:
        if self._bar.total != info["n_shards"]:
            self._bar.total = info["n_shards"]
        self.audio += info["audio_seconds"]
        took = time.perf_counter() - self._t0
        self._bar.set_postfix_str(f"{self.audio / max(took, 1e-9):.0f}x real time",
                                  refresh=False)
        self._bar.update(1)

    @property
    def seconds(self) -> float:
        """Seconds since the bar was made."""
        return time.perf_counter() - self._t0

    def close(self) -> None:
        self._bar.close()


def _long_plan(model: Any, path: Path, window_seconds: float, per_shard: int
               ) -> tuple[int, list, list[list]]:
    from specview import audiostream
    from specview.pipeline import window_plan

    fe = model.encoder.front_end
    n_time = audiostream.expected_frames(path, fe, band_sr=model.band_sr)
    spans = window_plan(model.encoder, n_time, window_seconds)
    groups = [spans[i:i + per_shard] for i in range(0, len(spans), per_shard)]
    return n_time, spans, groups


def score_on_client(client: Any, model: Any, files: list[Path], durations: list[float],
                    out: Path, *, channel: Any, per_hour: float | None, long_seconds: float,
                    progress: Progress | None = None,
                    on_file: Callable[[Path, float, float], None] | None = None,
                    on_shard: ShardReport | None = None, retries: int = RETRIES,
                    windows_per_shard: int | None = None,
                    window_seconds: float | None = None, stems: list[str],
                    writers: Any) -> list[dict[str, Any]]:
    """:func:`specview.scoring.score_files` on the workers of ``client`` (its checks done).

    ``on_shard(info)`` after each shard arrives: ``shard``, ``file``, ``n_shards``,
    ``audio_seconds``, ``seconds`` (worker time), ``pid`` and ``worker`` that scored it.
    Raises :class:`ShardErrors` (nothing written) when any shard failed on its input.
    ``stems``: the files' map names; ``writers``: :mod:`specview.scoring` (``write_map``,
    ``write_events``, ``write_csv``), passed in so that this module does not import it.
    """
    from distributed import as_completed

    from specview import cluster_worker as cw
    from specview.fileio import atomic_folder, staged
    from specview.pipeline import WINDOW_SECONDS

    window_seconds = WINDOW_SECONDS if window_seconds is None else window_seconds
    windows_per_shard = windows_per_shard or WINDOWS_PER_SHARD
    key = send_model(client, model)
    run = hashlib.sha256(f"{time.time_ns()}-{os.getpid()}".encode()).hexdigest()[:10]
    write_map, write_events, write_csv = (writers.write_map, writers.write_events,
                                          writers.write_csv)
    total = float(sum(durations))
    shards: list[dict[str, Any]] = []  # per shard: file indices, audio seconds, task
    plans: dict[int, tuple[int, list, list[list]]] = {}
    short = []
    for i, (p, d) in enumerate(zip(files, durations, strict=True)):
        if d > long_seconds:
            plans[i] = _long_plan(model, p, window_seconds, windows_per_shard)
            n_time, spans, groups = plans[i]
            for j, g in enumerate(groups):
                frames = g[-1].valid_stop - g[0].valid_start
                shards.append({"files": [i], "part": j, "audio": d * frames / n_time,
                               "args": (cw.score_windows, str(p), channel,
                                        [(s.start, s.stop, s.valid_start, s.valid_stop)
                                         for s in g], n_time, len(spans), d)})
        else:
            short.append(i)
    n_workers = len(client.scheduler_info().get("workers", {}))
    for g in clip_groups([durations[i] for i in short], CLIP_SHARD_SECONDS, n_workers):
        idx = [short[j] for j in g]
        shards.append({"files": idx, "part": 0, "audio": sum(durations[i] for i in idx),
                       "args": (cw.score_clips, [str(files[i]) for i in idx], channel)})
    futures = {}
    for k, sh in enumerate(shards):
        fn, *rest = sh["args"]
        fut = client.submit(fn, key, k, *rest, key=f"specview-{run}-{k}", retries=retries,
                            pure=False)
        futures[fut] = k
    rows: list[dict[str, Any] | None] = [None] * len(files)
    failed: dict[int, str] = {}
    got: set[int] = set()
    longs: dict[int, _LongFile] = {}
    left = {i: 0 for i in range(len(files))}
    for sh in shards:
        for i in sh["files"]:
            left[i] += 1
    took = {i: 0.0 for i in range(len(files))}
    done = 0.0
    with staged(protect=files), contextlib.ExitStack() as stack:
        for i in plans:
            tmp = stack.enter_context(atomic_folder(out / "long" / f"{stems[i]}.zarr"))
            longs[i] = _LongFile(model, files[i], tmp, channel, per_hour, durations[i],
                                 *plans[i])
        for fut in as_completed(list(futures)):
            k = futures[fut]
            sh = shards[k]
            if fut.status == "error":
                res = {"shard": k, "error": f"{type(fut.exception()).__name__}: "
                                            f"{fut.exception()}", "pid": None, "worker": ""}
            else:
                res = fut.result()
            fut.release()
            if k in got:  # a retried task's duplicate: already written
                continue
            got.add(k)
            # a clip group's clips one by one (each its own result or error)
            parts = res["clips"] if "clips" in res else [res] * len(sh["files"])
            for i, r in zip(sh["files"], parts, strict=True):
                left[i] -= 1
                if "error" in r:
                    failed.setdefault(i, r["error"])
                elif i not in failed:
                    took[i] += r["seconds"]
                    if i in longs:
                        longs[i].add(sh["part"], r["windows"])
                    else:
                        rows[i] = _clip_row(r, files[i], stems[i], out, write_map)
                if left[i] == 0 and i not in failed and i in longs:
                    summary = longs.pop(i).finish(took[i])
                    write_events(out / "long", stems[i], summary.events)
                    rows[i] = {
                        "file": str(files[i]), "score": summary.clip_score,
                        "duration_s": summary.duration,
                        "peak_time_s": f"{summary.peak_time:.3f}",
                        "peak_freq_hz": summary.peak_freq, "map": f"long/{stems[i]}.zarr",
                        "score_seconds": took[i], "events": len(summary.events),
                        "events_per_hour": 3600.0 * len(summary.events) / summary.duration}
            done += sh["audio"]
            if progress is not None:
                progress(min(done, total), total)
            if on_shard is not None:
                on_shard({"shard": k, "file": files[sh["files"][0]],
                          "files": [files[i] for i in sh["files"]], "n_shards": len(shards),
                          "audio_seconds": sh["audio"], "seconds": res.get("seconds", 0.0),
                          "pid": res.get("pid"), "worker": res.get("worker", "")})
            for i in sh["files"]:
                if left[i] == 0 and on_file is not None and i not in failed:
                    on_file(files[i], durations[i], took[i])
        if failed:
            raise ShardErrors([(str(files[i]), failed[i]) for i in sorted(failed)])
        write_csv(out / "scores.csv", [r for r in rows if r is not None])
    return [r for r in rows if r is not None]


def clip_groups(durations: list[float], seconds: float, n_workers: int = 0) -> list[list[int]]:
    """Consecutive clips grouped into shards of at most ``seconds`` of audio (a clip longer
    than that alone), and at least two shards per worker (of ``n_workers``) where the clips
    allow; ``seconds`` 0: one clip per shard. Indices into ``durations``."""
    cap = float(seconds)
    if n_workers:
        cap = min(cap, sum(durations) / (2 * n_workers))
    groups: list[list[int]] = []
    acc = 0.0
    for j, d in enumerate(durations):
        if groups and groups[-1] and acc + d <= cap:
            groups[-1].append(j)
            acc += d
        else:
            groups.append([j])
            acc = d
    return groups


def _clip_row(r: dict[str, Any], path: Path, stem: str, out: Path, write_map) -> dict[str, Any]:
    """A clip shard's map written (``maps/<stem>.npz``) and its row of ``scores.csv``."""
    from specview.types import AnomalyResult

    res = AnomalyResult(r["map"], r["times"], r["freqs"], r["clip_score"], r["frame_scores"])
    write_map(out / "maps", stem, res, set())
    peak = np.unravel_index(int(np.argmax(res.map)), res.map.shape)
    return {"file": str(path), "score": res.clip_score, "duration_s": r["duration"],
            "peak_time_s": float(res.times[peak[1]]), "peak_freq_hz": float(res.freqs[peak[0]]),
            "map": f"maps/{stem}.npz", "score_seconds": r["seconds"]}


class _LongFile:
    """A long recording's store, written from its shards' windows in order, as
    :func:`specview.longscore.score_long` writes it from its own windows."""

    def __init__(self, model: Any, path: Path, store: Path, channel: Any,
                 per_hour: float | None, duration: float, n_time: int, spans: list,
                 groups: list[list]) -> None:
        from specview.longscore import StreamEvents, StreamFocus
        from specview.longstore import StoreWriter

        fe, enc = model.encoder.front_end, model.encoder
        cal = model.calibration
        self.rows = rows = cal.rows if cal is not None else None
        self.threshold = model.threshold_per_hour(per_hour) if cal is not None else math.inf
        if per_hour is None and cal is not None:
            per_hour = cal.flags_per_hour(model.block_seconds)
        self.per_hour = per_hour
        self.median = cal.median if cal is not None else 0.0
        self.spf = fe.seconds_per_frame
        self.mel_freqs = fe.mel_centres()
        self.focus = (StreamFocus(rows) if rows is not None and rows.power_ceiling
                      and rows.focus_gain else None)
        st = path.stat()
        self.writer = StoreWriter(store, n_time=n_time, freqs=self.mel_freqs,
                                  mel_freqs=self.mel_freqs, seconds_per_frame=self.spf, attrs={
                                      "recording": str(path), "recording_bytes": st.st_size,
                                      "recording_mtime": st.st_mtime, "duration": duration,
                                      "method": model.method, "encoder": enc.name,
                                      "threshold": self.threshold, "median": self.median,
                                      "per_hour": per_hour})
        self.events = StreamEvents.of(cal, self.threshold, self.mel_freqs, self.spf)
        self.path, self.store, self.duration, self.n_time = path, store, duration, n_time
        self.n_windows = len(spans)
        self.windows_done = 0
        self.pending: dict[int, list] = {}
        self.next_part = 0
        self.best_peak = self.raw_clip = self.clip = -math.inf
        self.peak_at = (0, 0)

    def add(self, part: int, windows: list[dict[str, Any]]) -> None:
        self.pending[part] = windows
        while self.next_part in self.pending:
            for w in self.pending.pop(self.next_part):
                self.windows_done += 1
                self._window(w, final=self.windows_done == self.n_windows)
            self.next_part += 1

    def _emit(self, first: int, amap: np.ndarray, region: np.ndarray,
              exc: np.ndarray | None, final: bool) -> None:
        from specview.detectors.components import frame_scores

        if amap.shape[1]:
            self.writer.add_map(first, amap, frame_scores(amap), region.max(axis=0))
            k = int(np.argmax(amap))
            r, c = divmod(k, amap.shape[1])
            if amap[r, c] > self.clip:
                self.clip, self.peak_at = float(amap[r, c]), (r, first + c)
        before = len(self.events.events)
        self.events.push(region, exc, final=final)
        self.writer.add_events(sorted(self.events.events[before:], key=lambda e: e[0].t0))

    def _window(self, w: dict[str, Any], *, final: bool) -> None:
        self.writer.add_power(w["valid_start"], w["power"])
        if w["peak"] > self.best_peak:
            self.best_peak, self.raw_clip = w["peak"], w["clip_score"]
        prof, exc, vs = w["map"], w["excess"], w["valid_start"]
        if self.rows is None:
            self._emit(vs, prof, prof, None, final)
        elif self.focus is not None and exc is not None:
            self._emit(*self.focus.push(prof, exc, final=final), final=final)
        else:
            self._emit(vs, prof, prof, exc, final)

    def finish(self, seconds: float):
        from specview.longscore import LongSummary
        from specview.longstore import LongEvent, calibrated

        if self.windows_done != self.n_windows:
            raise RuntimeError(f"{self.path}: {self.windows_done} of {self.n_windows} windows")
        clip = float(self.raw_clip) if self.rows is None else self.clip
        found = [LongEvent(b, s, float(calibrated([s], self.median, self.threshold)[0]), n)
                 for b, s, n in self.events.events]
        found.sort(key=lambda e: e.box.t0)
        spf = self.spf
        summary = LongSummary(self.path, Path(self.store), self.duration, self.n_time,
                              float(clip), float(self.peak_at[1] * spf),
                              float(self.mel_freqs[self.peak_at[0]]), self.threshold,
                              self.median, float(self.per_hour) if self.per_hour is not None
                              else float("nan"), found, seconds)
        self.writer.finish([(e.box, e.score, e.n_cells) for e in found], {
            "clip_score": summary.clip_score, "peak_time": summary.peak_time,
            "peak_freq": summary.peak_freq, "score_seconds": summary.seconds})
        return summary
