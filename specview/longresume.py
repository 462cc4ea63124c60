"""Resuming :func:`specview.longscore.score_long` where it was stopped (issue 14).

When scoring a long recording is stopped between two windows (``should_stop``, or its
``progress`` callback raising :class:`~specview.errors.Cancelled`), everything the stream
holds is saved beside the store, in ``<store>/resume.npz``: how many windows are done, the
writer's pending columns (:meth:`StoreWriter.state <specview.longstore.StoreWriter.state>`),
the columns :class:`~specview.longscore.StreamFocus` and
:class:`~specview.longscore.StreamEvents` still hold, the events found so far and the running
clip maxima. ``score_long(..., resume=True)`` reads the recording's audio again from the start
(decoding and resampling are cheap next to the encoder; the stream then yields the very same
frames), skips the windows already scored and goes on writing the store: the result equals an
uninterrupted run's. The checkpoint is only used by a run with the same ``key`` (recording
identity, model, threshold, windows); a finished store has none.

Core module: numpy.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from specview.types import Box

NAME = "resume.npz"


def _events_rows(events: list[tuple[Box, float, int]]) -> np.ndarray:
    return np.array([[b.t0, b.t1, b.f0, b.f1, s, n] for b, s, n in events],
                    dtype=np.float64).reshape(-1, 6)


def _arr(a: np.ndarray | None) -> np.ndarray:
    return np.zeros((0, 0), np.float32) if a is None else np.asarray(a)


def save(folder: str | Path, key: dict[str, Any], *, windows_done: int, buf0: int,
         writer_state: dict[str, np.ndarray], focus, events, scalars: dict[str, Any]) -> Path:
    """Write the checkpoint (atomically: a reader sees the old one or the new one)."""
    folder = Path(folder)
    arrays: dict[str, np.ndarray] = {f"w_{k}": np.asarray(v) for k, v in writer_state.items()}
    meta = {"key": key, "windows_done": int(windows_done), "buf0": int(buf0),
            "scalars": scalars, "focus": focus is not None and focus.map is not None,
            "events_exc": events.exc is not None}
    if focus is not None and focus.map is not None:
        meta["focus_first"], meta["focus_done"] = int(focus.first), int(focus.done)
        arrays["f_map"], arrays["f_exc"] = focus.map, _arr(focus.exc)
    meta["events_first"] = int(events.first)
    arrays["e_map"], arrays["e_exc"] = events.map, _arr(events.exc)
    arrays["e_found"] = _events_rows(events.events)
    arrays["meta"] = np.array(json.dumps(meta))
    tmp = folder / (NAME + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, folder / NAME)
    return folder / NAME


def load(folder: str | Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint in ``folder`` when there is one made under the same ``key``."""
    p = Path(folder) / NAME
    try:
        with np.load(p, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        meta = json.loads(str(data.pop("meta")))
    except (OSError, ValueError, KeyError):
        return None
    if meta.get("key") != json.loads(json.dumps(key)):
        return None
    meta["arrays"] = data
    return meta


def restore(meta: dict[str, Any], focus, events) -> dict[str, np.ndarray]:
    """Put the saved columns back into ``focus`` and ``events``; return the writer's state."""
    a = meta["arrays"]
    if focus is not None and meta["focus"]:
        focus.first, focus.done = meta["focus_first"], meta["focus_done"]
        focus.map, focus.exc = a["f_map"], a["f_exc"]
    events.first = meta["events_first"]
    events.map = a["e_map"]
    events.exc = a["e_exc"] if meta["events_exc"] else None
    events.events = [(Box(float(r[0]), float(r[1]), float(r[2]), float(r[3])), float(r[4]),
                      int(r[5])) for r in a["e_found"]]
    return {k[2:]: v for k, v in a.items() if k.startswith("w_")}


def clear(folder: str | Path) -> None:
    for name in (NAME, NAME + ".tmp"):
        try:
            (Path(folder) / name).unlink()
        except FileNotFoundError:
            pass
