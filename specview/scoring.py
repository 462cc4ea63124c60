"""Batch scoring: ``scores.csv`` and ``maps/<stem>.npz`` for a model and a set of recordings."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from specview.datasets import input_files
from specview.fileio import atomic_output, check_output_folder, staged
from specview.pipeline import Model
from specview.results import write_rows
from specview.types import DEFAULT_CHANNEL, AnomalyResult, Channel, Progress


def write_map(folder: Path, stem: str, r: AnomalyResult, used: set[str]) -> str:
    """Save ``r`` as ``folder/<stem>.npz`` (map, times, freqs, frame_scores); a stem already in
    ``used`` gets a ``-2``, ``-3``... suffix. Returns the stem written."""
    base, k = stem, 1
    while stem in used:  # same stem from two folders
        k += 1
        stem = f"{base}-{k}"
    used.add(stem)
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


def score_files(
    model: Model,
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    *,
    channel: Channel = DEFAULT_CHANNEL,
    progress: Progress | None = None,
    subset: str | None = None,
) -> list[dict[str, Any]]:
    """Score recordings; write ``scores.csv`` and ``maps/<stem>.npz`` under ``out_dir``.

    Returns the rows of ``scores.csv``. The outputs are staged (:func:`specview.fileio.staged`):
    they replace the previous ones only once every clip is scored and written, so a run that
    fails (an unreadable file stops it with its error, a full disk, Ctrl+C) leaves the previous
    ``scores.csv`` and maps byte-identical and no partial file.

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
    for p in files:  # every file's header, length and band before any scoring
        model.check_recording(p)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    with staged(protect=files):
        for i, p in enumerate(files):
            t0 = time.perf_counter()
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
            if progress is not None:
                progress(i + 1, len(files))
        write_csv(out / "scores.csv", rows)
    return rows
