"""Batch scoring: ``scores.csv`` and ``maps/<stem>.npz`` for a model and a set of recordings."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from specview.audio import audio_info
from specview.datasets import input_files
from specview.fileio import atomic_folder, atomic_output, check_output_folder, staged
from specview.longscore import score_long
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

    Returns the rows of ``scores.csv``. The outputs are staged (:func:`specview.fileio.staged`):
    they replace the previous ones only once every clip is scored and written, so a run that
    fails (an unreadable file stops it with its error, a full disk, Ctrl+C) leaves the previous
    ``scores.csv``, maps and stores byte-identical and no partial file.

    Raises
    ------
    ParameterError
        ``out_dir`` is an input, a file, or lies under a file (checked before any scoring).
    specview.fileio.OutputWriteError
        ``out_dir`` cannot be written in, or a write failed.
    """
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
    with staged(protect=files):
        for p, duration in zip(files, durations, strict=True):
            t0 = time.perf_counter()
            if duration > long_seconds:
                stem = _unique(map_stem(p), used)
                base = done
                with atomic_folder(out / "long" / f"{stem}.zarr") as tmp:
                    summary = score_long(
                        model, p, tmp, channel=channel, per_hour=per_hour,
                        progress=None if progress is None else (
                            lambda a, b, base=base, d=duration: progress(
                                min(total, base + d * a / b), total)))
                write_events(out / "long", stem, summary.events)
                rows.append({
                    "file": str(p), "score": summary.clip_score, "duration_s": summary.duration,
                    "peak_time_s": f"{summary.peak_time:.3f}", "peak_freq_hz": summary.peak_freq,
                    "map": f"long/{stem}.zarr", "score_seconds": time.perf_counter() - t0,
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
    return rows


def _unique(stem: str, used: set[str]) -> str:
    base, k = stem, 1
    while stem in used:
        k += 1
        stem = f"{base}-{k}"
    used.add(stem)
    return stem
