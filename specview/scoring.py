"""Batch scoring: ``scores.csv`` and ``maps/<stem>.npz`` for a model and a set of recordings."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from specview.audio import audio_info
from specview.datasets import input_files
from specview.errors import Cancelled, ParameterError, SpecviewError
from specview.fileio import (
    OutputSet,
    OutputWriteError,
    atomic_folder,
    atomic_output,
    check_output_folder,
    staged,
)
from specview.longscore import LongSummary, score_long
from specview.longstore import LongEvent
from specview.pipeline import Model
from specview.results import write_rows
from specview.types import DEFAULT_CHANNEL, AnomalyResult, Box, Channel, Progress


def write_map(folder: Path, stem: str, r: AnomalyResult, used: set[str]) -> str:
    """Save ``r`` as ``folder/<stem>.npz`` (map, times, freqs, frame_scores); a stem already in
    ``used`` gets a ``-2``, ``-3``... suffix. Returns the stem written."""
    stem = _unique(stem, used)  # same stem from two folders: -2, -3...
    with atomic_output(folder / f"{stem}.npz") as tmp:  # tmp ends in .npz: savez keeps its name
        np.savez_compressed(
            tmp,
            map=r.map.astype(np.float32),
            times=r.times.astype(np.float64),
            freqs=r.freqs.astype(np.float64),
            frame_scores=r.frame_scores.astype(np.float32),
        )
    return stem


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Rows as CSV (floats to 6 significant digits); none: no file.

    :func:`specview.results.write_rows`: the rows written here all have the same keys, so its
    header (every key in order of first appearance) is the first row's. UTF-8 with the csv
    module's ``\\r\\n`` line ends, written atomically
    (:func:`specview.fileio.atomic_write_text`).
    """
    write_rows(path, rows)


def map_stem(path: Path) -> str:
    """Name of a clip's map file: its stem, prefixed with its folder when the folder is a label
    folder (MIMII keeps ``normal/00000000.wav`` and ``abnormal/00000000.wav``)."""
    parent = path.parent.name
    return f"{parent}_{path.stem}" if parent.lower() in ("normal", "abnormal") else path.stem


#: Columns of a long recording's ``<stem>.events.csv``.
EVENT_COLUMNS = ("start_s", "end_s", "duration_s", "f_low_hz", "f_high_hz", "peak_x_threshold",
                 "score", "n_cells")


def event_rows(events: Iterable[LongEvent]) -> list[dict[str, Any]]:
    """A long recording's flagged events as rows of :data:`EVENT_COLUMNS`."""
    return [dict(zip(EVENT_COLUMNS, (f"{e.box.t0:.3f}", f"{e.box.t1:.3f}", f"{e.duration:.3f}",
                                     f"{e.box.f0:.1f}", f"{e.box.f1:.1f}", e.peak, e.score,
                                     e.n_cells), strict=True)) for e in events]


def event_boxes(events: Iterable[LongEvent]) -> list[Box]:
    """The events as boxes labelled ``flagged``, with their peak (in multiples of the flag
    threshold) and duration as extra Raven columns."""
    return [Box(e.box.t0, e.box.t1, e.box.f0, e.box.f1, "flagged",
                extra={"Peak (x threshold)": f"{e.peak:.3f}",
                       "Delta Time (s)": f"{e.duration:.4f}"}) for e in events]


def write_events(folder: Path, stem: str, events: list[LongEvent]) -> None:
    """``<stem>.events.csv`` and the Raven table ``<stem>.selections.txt`` of the events."""
    from specview.annotations import write_raven

    write_rows(folder / f"{stem}.events.csv", event_rows(events), columns=EVENT_COLUMNS)
    write_raven(folder / f"{stem}.selections.txt", event_boxes(events))


def score_files(
    model: Model,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    channel: Channel = DEFAULT_CHANNEL,
    progress: Progress | None = None,
    subset: str | None = None,
    per_hour: float | None = None,
    long_seconds: float | None = None,
    on_file: Callable[[Path, float, float], None] | None = None,
    client: Any = None,
    on_shard: Callable[[dict[str, Any]], None] | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict[str, Any]]:
    """Score recordings; write ``scores.csv`` and ``maps/<stem>.npz`` under ``out_dir``.

    Recordings longer than ``long_seconds`` (default :data:`specview.longscore.LONG_SECONDS`,
    5 minutes) are scored in a stream
    (:func:`specview.longscore.score_long`, memory independent of their length) into
    ``long/<stem>.zarr`` (:mod:`specview.longstore`: the map, frame scores and an overview,
    read span by span), with their flagged events in ``long/<stem>.events.csv`` and the Raven
    table ``long/<stem>.selections.txt``; their flag threshold allows ``per_hour`` false flags
    per hour of normal audio (default: the calibration's own rate per hour).

    ``progress(done, total)`` counts seconds of audio; ``on_file(path, seconds of audio, seconds
    taken)`` is called after each recording.

    ``client``: a ``distributed.Client`` (:func:`specview.cluster.connect`): the recordings
    are scored on its workers in shards (clips, and groups of windows of long ones), with
    the same outputs; ``on_shard(info)`` after each shard (:func:`specview.cluster.
    score_on_client`). A shard failing on bad input lets the others finish, then raises
    :class:`specview.cluster.ShardErrors` naming every failed file, and nothing is written.

    ``should_stop()`` is polled before each recording and after each window of a long one;
    when it returns True the run stops with :class:`InterruptedError`. Each long recording is
    scored into a work folder beside its place (:func:`work_folder`,
    ``long/.<stem>.zarr.partial``) and moved into place with the other outputs when the run
    succeeds. A run stopped (``should_stop``, Ctrl+C, a progress callback raising
    :class:`~specview.errors.Cancelled`) keeps the work folders: the store being written with
    its checkpoint (:mod:`specview.longresume`), and the completed ones with a record of their
    summary; any other error keeps only the work folder of the recording it stopped in.
    ``resume=True`` goes on from there: a completed store made under the same key
    (:func:`specview.longscore.resume_key`: recording, model, threshold, windows) is used as it
    is, a stopped one continues from its last window (:func:`score_long` ``resume``), anything
    else is scored afresh; the outputs are those of an uninterrupted run. Without ``resume`` a
    work folder left by an earlier run is removed. Short clips are always scored again.

    Returns the rows of ``scores.csv``. The outputs are staged (:func:`specview.fileio.staged`):
    they replace the previous ones only once every clip is scored and written, so a run that
    fails (an unreadable file stops it with its error, a full disk, Ctrl+C) leaves the previous
    ``scores.csv``, maps and stores byte-identical and no partial file among them (only the
    hidden work folders above).

    Raises
    ------
    ParameterError
        ``out_dir`` is an input, a file, or lies under a file (checked before any scoring);
        ``resume`` or ``should_stop`` with ``client`` (resuming is single-process only).
    specview.fileio.OutputWriteError
        ``out_dir`` cannot be written in, or a write failed.
    """
    if client is not None and (resume or should_stop is not None):
        raise ParameterError("--resume (resume, should_stop) is supported in a single-process "
                             "run only, not on a Dask cluster (client)")
    inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    files = input_files(inputs, subset=subset)
    out = Path(out_dir)
    check_output_folder(out, inputs=inputs)
    if long_seconds is None:
        from specview import longscore

        long_seconds = longscore.LONG_SECONDS
    durations = []
    for p in files:  # every file's header, length and band before any scoring
        model.check_recording(p)
        durations.append(audio_info(p)[2])
    if per_hour is not None or any(d > long_seconds for d in durations):
        model.threshold_per_hour(per_hour)  # a bad rate, or no calibration, before any work
    if client is not None:  # issue 17: the same outputs, from a Dask cluster's workers
        import sys

        from specview.cluster import score_on_client

        taken: set[str] = set()
        return score_on_client(client, model, files, durations, out, channel=channel,
                               per_hour=per_hour, long_seconds=long_seconds,
                               progress=progress, on_file=on_file, on_shard=on_shard,
                               stems=[_unique(map_stem(p), taken) for p in files],
                               writers=sys.modules[__name__])
    total = float(sum(durations))
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    done = 0.0
    finished: list[tuple[str, Path]] = []  # long recordings scored: (stem, work folder)
    made = [d for d in (out, out / "long") if not d.exists()]
    try:
        with staged(protect=files):
            moved: list[tuple[Path, Path]] = []
            try:
                for p, duration in zip(files, durations, strict=True):
                    if should_stop is not None and should_stop():
                        raise InterruptedError(f"scoring stopped before {p}")
                    t0 = time.perf_counter()
                    if duration > long_seconds:
                        stem = _unique(map_stem(p), used)
                        base = done
                        work = work_folder(out, stem)
                        summary = _score_long_work(
                            model, p, work, channel=channel, per_hour=per_hour, resume=resume,
                            should_stop=should_stop,
                            progress=None if progress is None else (
                                lambda a, b, base=base, d=duration: progress(
                                    min(total, base + d * a / b), total)))
                        finished.append((stem, work))
                        write_events(out / "long", stem, summary.events)
                        rows.append({
                            "file": str(p), "score": summary.clip_score,
                            "duration_s": summary.duration,
                            "peak_time_s": f"{summary.peak_time:.3f}",
                            "peak_freq_hz": summary.peak_freq, "map": f"long/{stem}.zarr",
                            "score_seconds": time.perf_counter() - t0,
                            "events": len(summary.events), "events_per_hour": 3600.0 * len(
                                summary.events) / summary.duration,
                        })
                    else:
                        scored = model.score_file(p, channel=channel)
                        r = scored.result
                        stem = write_map(out / "maps", map_stem(p), r, used)
                        peak = np.unravel_index(int(np.argmax(r.map)), r.map.shape)
                        rows.append({
                            "file": str(p),
                            "score": r.clip_score,
                            "duration_s": scored.display.duration,
                            "peak_time_s": float(r.times[peak[1]]),
                            "peak_freq_hz": float(r.freqs[peak[0]]),
                            "map": f"maps/{stem}.npz",
                            "score_seconds": time.perf_counter() - t0,
                        })
                    done += duration
                    if progress is not None:
                        progress(done, total)
                    if on_file is not None:
                        on_file(p, duration, time.perf_counter() - t0)
                write_csv(out / "scores.csv", rows)
                for stem, work in finished:  # the stores join the staged outputs (renames)
                    with atomic_folder(out / "long" / f"{stem}.zarr") as tmp:
                        os.rmdir(tmp)
                        os.rename(work / WORK_STORE, tmp)
                        moved.append((tmp, work / WORK_STORE))
            except BaseException:
                for tmp, back in moved:  # a completed store goes back to its work folder
                    with contextlib.suppress(OSError):
                        os.rename(tmp, back)
                raise
    except BaseException as exc:
        if not isinstance(exc, STOPPED):  # a failed run: the outputs as they were (issue 14)
            for _stem, work in finished:
                shutil.rmtree(work, ignore_errors=True)
            for d in reversed(made):
                with contextlib.suppress(OSError):
                    d.rmdir()
        raise
    for _stem, work in finished:
        shutil.rmtree(work, ignore_errors=True)
    return rows


#: What stops a run with its work kept for ``resume``: ``should_stop`` (InterruptedError),
#: Ctrl+C, a progress callback raising Cancelled. Any other error keeps only the work folder
#: of the long recording it stopped (its checkpoint, when it has one).
STOPPED = (InterruptedError, KeyboardInterrupt, Cancelled)
#: In a long recording's work folder (:func:`work_folder`): the store being written, and the
#: record of a completed one (:func:`_score_long_work`).
WORK_STORE, WORK_DONE = "store.zarr", "done.json"


def work_folder(out: str | Path, stem: str) -> Path:
    """Where ``score_files`` scores the long recording of ``stem`` before it is put in place:
    ``out/long/.<stem>.zarr.partial`` (a name :mod:`specview.fileio`'s removal of temporary
    files never matches: those end in ``.tmp`` or ``.tmp<suffix>``)."""
    return Path(out) / "long" / f".{stem}.zarr.partial"


def _score_long_work(model: Model, path: Path, work: Path, *, channel: Channel,
                     per_hour: float | None, resume: bool, should_stop, progress):
    """Score a long recording into ``work/store.zarr``; the summary of it.

    With ``resume``: a completed store of the same key (:func:`specview.longscore.resume_key`)
    is taken as it is, a stopped one goes on from its checkpoint (:func:`score_long` starts
    afresh when the checkpoint is another run's). Without: any earlier work is removed."""
    from specview.longscore import resume_key

    key = resume_key(model, path, channel=channel, per_hour=per_hour)
    store, record = work / WORK_STORE, work / WORK_DONE
    if resume:
        summary = _read_done(record, key, path, store)
        if summary is not None:
            return summary
    elif work.exists():
        shutil.rmtree(work)
    with contextlib.suppress(FileNotFoundError):
        record.unlink()  # (a store being rewritten is not a completed one)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputWriteError(f"{work}: cannot be made: {exc.strerror or exc}", path=work,
                               errno=exc.errno, cause=exc.strerror) from exc
    last = [0, 1]

    def step(a: int, b: int) -> None:
        last[:] = [a, b]
        if progress is not None:
            progress(a, b)

    def stop() -> bool:  # after the last window the recording is done: it is not stopped
        return should_stop is not None and last[0] < last[1] and should_stop()

    summary = score_long(model, path, store, channel=channel, per_hour=per_hour, progress=step,
                         should_stop=stop, resume=resume)
    _write_now(record, json.dumps({"key": key, "summary": _summary_record(summary)}))
    return summary


def _summary_record(s: LongSummary) -> dict[str, Any]:
    """What ``score_files`` writes of a long recording besides its store (JSON floats keep
    every bit)."""
    return {"duration": float(s.duration), "n_frames": int(s.n_frames),
            "clip_score": float(s.clip_score), "peak_time": float(s.peak_time),
            "peak_freq": float(s.peak_freq), "threshold": float(s.threshold),
            "median": float(s.median), "per_hour": float(s.per_hour),
            "seconds": float(s.seconds),
            "events": [[float(e.box.t0), float(e.box.t1), float(e.box.f0), float(e.box.f1),
                        float(e.score), float(e.peak), int(e.n_cells)] for e in s.events]}


def _read_done(record: Path, key: dict[str, Any], path: Path, store: Path
               ) -> LongSummary | None:
    """The summary of a completed store in a work folder, when it was made under ``key``."""
    from specview.longstore import LongStore

    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        if data["key"] != json.loads(json.dumps(key)) or not LongStore(store).complete:
            return None
        s = data["summary"]
        events = [LongEvent(Box(t0, t1, f0, f1), score, peak, int(n))
                  for t0, t1, f0, f1, score, peak, n in s["events"]]
        return LongSummary(path, store, s["duration"], s["n_frames"], s["clip_score"],
                           s["peak_time"], s["peak_freq"], s["threshold"], s["median"],
                           s["per_hour"], events, s["seconds"])
    except (OSError, ValueError, KeyError, TypeError, SpecviewError):
        return None


def _write_now(path: Path, text: str) -> None:
    """Write ``path`` atomically now, even inside a staged run (whose writes wait for its end):
    a work folder's record must outlive a stopped run."""
    now = OutputSet()
    with now.output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    now.commit()


def _unique(stem: str, used: set[str]) -> str:
    base, k = stem, 1
    while stem in used:
        k += 1
        stem = f"{base}-{k}"
    used.add(stem)
    return stem
