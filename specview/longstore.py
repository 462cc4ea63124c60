"""Results of a long recording, stored so that a viewer reads a slice without the rest.

A recording of hours or days has a map far larger than memory (aisfx: 96 rows x 155k frames an
hour). :mod:`specview.longscore` writes it, as it is scored, into a folder holding a Zarr
group (a chunked array store: one file per chunk of 8192 frames, about 3 minutes of aisfx
frames), which :class:`LongStore` reads span by span:

=====================  ============================  =========================================
array                  shape, type                   what
=====================  ============================  =========================================
``map``                (n_freq, n_time) float16      the anomaly map on the front end's grid
                                                     (float16: 3 significant digits, as shown)
``frame_scores``       (n_time,) float32             per-frame score (the 5 highest cells)
``region_max``         (n_time,) float32             highest cell of the map flagged regions
                                                     are cut from, per frame (vs ``threshold``)
``overview/power_db``  (n_mels, n_cols) float32      the recording's mel spectrogram in dB,
                                                     mean power over ``overview_frames`` frames
``overview/score_max`` (n_cols,) float32             highest cell of the region map over the
                                                     same frames (above ``threshold`` where a
                                                     region is flagged)
``events``             (n_events, 6) float64         flagged events: t0, t1 (s), f0, f1 (Hz),
                                                     highest cell, cells
=====================  ============================  =========================================

Frames not yet scored read as NaN; ``attrs["frames_done"]`` says how far scoring got and
``attrs["complete"]`` whether it finished. Frame ``k`` is at ``k * seconds_per_frame``. Events
are appended as scoring finds them (in time order; ``attrs["events_done"]`` counts them) and
rewritten once at the end.

Core module: numpy and zarr.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from specview.errors import ParameterError, SpecviewError
from specview.types import Box

#: ``attrs["format"]`` of a store.
FORMAT = "specview-long/1"
#: Frames per chunk of the full-resolution arrays.
CHUNK_FRAMES = 8192
#: Frames pooled into one column of the overview (aisfx: 32 x 23.2 ms = 0.74 s).
OVERVIEW_FRAMES = 32


class StoreError(SpecviewError):
    """A folder that is not a readable long-recording store."""


@dataclass(frozen=True)
class LongEvent:
    """A flagged event of a long recording.

    Attributes
    ----------
    box : Box
        Its time span (s from the start of the recording) and band (Hz).
    score : float
        Highest map cell inside it (the map's own units).
    peak : float
        The same in multiples of the flag threshold (1 = the threshold, 0 a typical normal
        cell: :meth:`LongStore.calibrated`).
    n_cells : int
        Map cells above the threshold.
    """

    box: Box
    score: float
    peak: float
    n_cells: int

    @property
    def duration(self) -> float:
        return self.box.t1 - self.box.t0


def calibrated(values: np.ndarray, median: float, threshold: float) -> np.ndarray:
    """``(v - median) / (threshold - median)``: 0 a typical normal cell, 1 the threshold."""
    span = threshold - median if threshold > median else (abs(threshold) or 1.0)
    return ((np.asarray(values, dtype=np.float64) - median) / span).astype(np.float32)


class StoreWriter:
    """Writes a long recording's results as they come (see the module's table).

    Columns arrive in order, in pieces of any size (:meth:`add_map`, :meth:`add_power`); they
    are kept until a whole chunk is filled, so every chunk file is written once. Memory: one
    chunk of each array.
    """

    def __init__(self, folder: str | Path, *, n_time: int, freqs: Sequence[float],
                 mel_freqs: Sequence[float], seconds_per_frame: float,
                 attrs: dict[str, Any] | None = None, overview_frames: int = OVERVIEW_FRAMES,
                 chunk_frames: int = CHUNK_FRAMES) -> None:
        import zarr

        if n_time < 1:
            raise ParameterError(f"n_time={n_time}: a store holds at least one frame")
        self.folder = Path(folder)
        self.n_time = int(n_time)
        self.n_freq = len(freqs)
        self.n_mels = len(mel_freqs)
        self.chunk = int(chunk_frames)
        self.group = int(overview_frames)
        self.n_cols = -(-self.n_time // self.group)
        root = zarr.open_group(str(self.folder), mode="w")
        self.root = root
        nan = float("nan")
        self.map = root.create_array("map", shape=(self.n_freq, self.n_time),
                                     chunks=(self.n_freq, self.chunk), dtype="float16",
                                     fill_value=nan)
        self.frames = root.create_array("frame_scores", shape=(self.n_time,),
                                        chunks=(self.chunk * 8,), dtype="float32", fill_value=nan)
        self.region = root.create_array("region_max", shape=(self.n_time,),
                                        chunks=(self.chunk * 8,), dtype="float32", fill_value=nan)
        ov = root.create_group("overview")
        self.ov_power = ov.create_array("power_db", shape=(self.n_mels, self.n_cols),
                                        chunks=(self.n_mels, 4096), dtype="float32",
                                        fill_value=nan)
        self.ov_score = ov.create_array("score_max", shape=(self.n_cols,), chunks=(65536,),
                                        dtype="float32", fill_value=nan)
        root.attrs.update({
            "format": FORMAT, "n_time": self.n_time, "seconds_per_frame": float(seconds_per_frame),
            "freqs": [float(f) for f in freqs], "mel_freqs": [float(f) for f in mel_freqs],
            "overview_frames": self.group, "frames_done": 0, "complete": False,
            **(attrs or {}),
        })
        # pending full-resolution columns (from frame self._m0) and overview accumulators
        self._m0 = 0
        self._maps: list[np.ndarray] = []
        self._frames: list[np.ndarray] = []
        self._regions: list[np.ndarray] = []
        self._p0 = 0  # next power frame expected
        self._psum = np.zeros((self.n_mels, 0))
        self._score_done = 0

    # -- scores ------------------------------------------------------------------------------

    def add_map(self, first: int, amap: np.ndarray, frame_scores: np.ndarray,
                region_max: np.ndarray) -> None:
        """Frames ``first : first + n`` of the map (``(n_freq, n)``), with their frame scores
        and their highest region-map cells (``(n,)`` each)."""
        n = amap.shape[1]
        if first != self._m0 + sum(m.shape[1] for m in self._maps):
            raise ParameterError(f"map frames must come in order (got {first})")
        if n == 0:
            return
        self._maps.append(np.asarray(amap, dtype=np.float32))
        self._frames.append(np.asarray(frame_scores, dtype=np.float32))
        self._regions.append(np.asarray(region_max, dtype=np.float32))
        self._flush_maps(final=first + n >= self.n_time)
        # the overview's score column: highest region-map cell of each group of frames
        colmax = np.asarray(region_max, dtype=np.float32)
        c0, c1 = first // self.group, (first + n - 1) // self.group + 1
        edges = np.clip(np.arange(c0, c1 + 1) * self.group - first, 0, n)
        top = np.maximum.reduceat(colmax, edges[:-1]) if n else colmax
        old = np.asarray(self.ov_score[c0:c1], dtype=np.float32)
        self.ov_score[c0:c1] = np.fmax(old, top.astype(np.float32))
        self._score_done = first + n

    def _flush_maps(self, *, final: bool) -> None:
        held = sum(m.shape[1] for m in self._maps)
        end = self._m0 + held
        stop = end if final else end // self.chunk * self.chunk
        if stop <= self._m0:
            return
        amap = np.concatenate(self._maps, axis=1)
        frames = np.concatenate(self._frames)
        regions = np.concatenate(self._regions)
        k = stop - self._m0
        self.map[:, self._m0:stop] = amap[:, :k].astype(np.float16)
        self.frames[self._m0:stop] = frames[:k]
        self.region[self._m0:stop] = regions[:k]
        self._maps = [amap[:, k:]] if k < held else []
        self._frames = [frames[k:]] if k < held else []
        self._regions = [regions[k:]] if k < held else []
        self._m0 = stop
        self.root.attrs["frames_done"] = int(stop)

    # -- overview ----------------------------------------------------------------------------

    def add_power(self, first: int, power: np.ndarray) -> None:
        """Frames ``first : first + n`` of the mel power spectrogram, for the overview."""
        if first != self._p0:
            raise ParameterError(f"power frames must come in order (got {first}, expected "
                                 f"{self._p0})")
        p = np.concatenate([self._psum, np.asarray(power, dtype=np.float64)], axis=1)
        start = self._p0 - self._psum.shape[1]  # frame of p's first column (a group's start)
        self._p0 += power.shape[1]
        full = p.shape[1] // self.group
        if self._p0 >= self.n_time and p.shape[1] % self.group:
            full += 1  # the last, shorter group
        if full:
            cols = [p[:, i * self.group:(i + 1) * self.group].mean(axis=1) for i in range(full)]
            db = 10.0 * np.log10(np.maximum(np.stack(cols, axis=1), 1e-10))
            c0 = start // self.group
            self.ov_power[:, c0:c0 + full] = db.astype(np.float32)
        self._psum = p[:, full * self.group:]

    # -- events ------------------------------------------------------------------------------

    def add_events(self, events: Sequence[tuple[Box, float, int]]) -> None:
        """Append events found so far (readers see them before scoring ends)."""
        if not events:
            return
        rows = np.array([[b.t0, b.t1, b.f0, b.f1, s, n] for b, s, n in events], dtype=np.float64)
        if "events" not in self.root:
            self.root.create_array("events", shape=(0, 6), chunks=(256, 6), dtype="float64")
        arr = self.root["events"]
        n = arr.shape[0]
        arr.resize((n + len(rows), 6))
        arr[n:] = rows
        self.root.attrs["events_done"] = n + len(rows)

    # -- resuming ----------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """What :meth:`reopen` needs to go on writing exactly where this writer is."""
        def cat(parts, rows):
            if not parts:
                return np.zeros((rows, 0) if rows else (0,), dtype=np.float32)
            return np.concatenate(parts, axis=1 if rows else 0)
        return {"m0": np.int64(self._m0), "maps": cat(self._maps, self.n_freq),
                "frames": cat(self._frames, 0), "regions": cat(self._regions, 0),
                "p0": np.int64(self._p0), "psum": self._psum,
                "score_done": np.int64(self._score_done)}

    @property
    def power_done(self) -> int:
        """Frames of power added so far (:meth:`add_power`)."""
        return int(self._p0)

    @classmethod
    def reopen(cls, folder: str | Path, state: dict[str, np.ndarray],
               chunk_frames: int = CHUNK_FRAMES) -> StoreWriter:
        """Go on writing the store at ``folder`` from ``state`` (:meth:`state` of the writer
        that stopped): what follows is written as if it had never stopped."""
        import zarr

        self = cls.__new__(cls)
        self.folder = Path(folder)
        root = zarr.open_group(str(self.folder), mode="r+")
        self.root = root
        self.map, self.frames, self.region = root["map"], root["frame_scores"], root["region_max"]
        self.ov_power, self.ov_score = root["overview/power_db"], root["overview/score_max"]
        self.n_freq, self.n_time = self.map.shape
        self.n_mels, self.n_cols = self.ov_power.shape
        self.chunk = int(chunk_frames)
        self.group = int(root.attrs["overview_frames"])
        self._m0 = int(state["m0"])
        held = np.asarray(state["maps"], dtype=np.float32)
        self._maps = [held] if held.shape[1] else []
        self._frames = [np.asarray(state["frames"], np.float32)] if held.shape[1] else []
        self._regions = [np.asarray(state["regions"], np.float32)] if held.shape[1] else []
        self._p0 = int(state["p0"])
        self._psum = np.asarray(state["psum"], dtype=np.float64)
        self._score_done = int(state["score_done"])
        return self

    # -- the end -----------------------------------------------------------------------------

    def finish(self, events: Sequence[tuple[Box, float, int]], attrs: dict[str, Any]) -> None:
        """Write the rest, the events and the final attributes; mark the store complete."""
        self._flush_maps(final=True)
        rows = np.array([[b.t0, b.t1, b.f0, b.f1, s, n] for b, s, n in events],
                        dtype=np.float64).reshape(-1, 6)
        arr = self.root.create_array("events", shape=rows.shape, chunks=(max(1, len(rows)), 6),
                                     dtype="float64", overwrite=True)
        if len(rows):
            arr[:] = rows
        self.root.attrs.update({**attrs, "frames_done": self.n_time, "complete": True,
                                "events_done": len(rows)})


class LongStore:
    """Reads a store :class:`StoreWriter` wrote (while it is being written, too).

    Raises
    ------
    StoreError
        The folder is missing or is not such a store.
    """

    def __init__(self, folder: str | Path) -> None:
        import zarr

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise StoreError(f"{self.folder}: no such results folder")
        try:
            self.root = zarr.open_group(str(self.folder), mode="r")
            fmt = self.root.attrs.get("format")
        except Exception as exc:  # zarr raises several types for a foreign folder
            raise StoreError(f"{self.folder}: not a specview results store ({exc})") from None
        if fmt != FORMAT:
            raise StoreError(f"{self.folder}: not a specview results store (format {fmt!r})")

    # -- what it is --------------------------------------------------------------------------

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.root.attrs)

    @property
    def n_time(self) -> int:
        return int(self.root.attrs["n_time"])

    @property
    def seconds_per_frame(self) -> float:
        return float(self.root.attrs["seconds_per_frame"])

    @property
    def duration(self) -> float:
        return float(self.root.attrs.get("duration", self.n_time * self.seconds_per_frame))

    @property
    def freqs(self) -> np.ndarray:
        return np.asarray(self.root.attrs["freqs"], dtype=np.float64)

    @property
    def frames_done(self) -> int:
        return int(self.root.attrs.get("frames_done", 0))

    @property
    def complete(self) -> bool:
        return bool(self.root.attrs.get("complete", False))

    @property
    def threshold(self) -> float:
        return float(self.root.attrs["threshold"])

    @property
    def median(self) -> float:
        return float(self.root.attrs["median"])

    def calibrated(self, values: np.ndarray) -> np.ndarray:
        """Values in multiples of the store's flag threshold (see :func:`calibrated`)."""
        return calibrated(values, self.median, self.threshold)

    # -- slices ------------------------------------------------------------------------------

    def frames(self, t0: float = 0.0, t1: float | None = None) -> slice:
        """The frames whose centres lie in ``[t0, t1]`` seconds."""
        spf = self.seconds_per_frame
        a = max(0, int(math.ceil(t0 / spf - 1e-9)))
        b = self.n_time if t1 is None else min(self.n_time, int(math.floor(t1 / spf + 1e-9)) + 1)
        return slice(a, max(a, b))

    def times(self, frames: slice) -> np.ndarray:
        return np.arange(frames.start, frames.stop) * self.seconds_per_frame

    def map(self, t0: float = 0.0, t1: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(map (n_freq, n) float32, times (n,))`` of the span, read from its chunks only."""
        sl = self.frames(t0, t1)
        return np.asarray(self.root["map"][:, sl], dtype=np.float32), self.times(sl)

    def frame_scores(self, t0: float = 0.0, t1: float | None = None) -> tuple[np.ndarray,
                                                                             np.ndarray]:
        sl = self.frames(t0, t1)
        return np.asarray(self.root["frame_scores"][sl], dtype=np.float32), self.times(sl)

    def region_max(self, t0: float = 0.0, t1: float | None = None) -> tuple[np.ndarray,
                                                                           np.ndarray]:
        sl = self.frames(t0, t1)
        return np.asarray(self.root["region_max"][sl], dtype=np.float32), self.times(sl)

    def overview(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(power_db (n_mels, n_cols), score_max (n_cols,), times (n_cols,), mel_freqs)``:
        the whole recording, one column per ``overview_frames`` frames (time: the column's
        first frame's centre)."""
        g = int(self.root.attrs["overview_frames"])
        power = np.asarray(self.root["overview/power_db"][:], dtype=np.float32)
        score = np.asarray(self.root["overview/score_max"][:], dtype=np.float32)
        times = np.arange(power.shape[1]) * g * self.seconds_per_frame
        return power, score, times, np.asarray(self.root.attrs["mel_freqs"], dtype=np.float64)

    def events(self) -> list[LongEvent]:
        """The flagged events, in time order (while scoring: those found so far)."""
        if "events" not in self.root:
            return []
        rows = np.asarray(self.root["events"][:], dtype=np.float64).reshape(-1, 6)
        peaks = self.calibrated(rows[:, 4]) if len(rows) else np.empty(0)
        out = [LongEvent(Box(float(r[0]), float(r[1]), float(r[2]), float(r[3])), float(r[4]),
                         float(p), int(r[5])) for r, p in zip(rows, peaks, strict=True)]
        return sorted(out, key=lambda e: e.box.t0)
