"""Plain data carried between the rings: every 2-D array travels with its axes.

Arrays are ``(n_freq, n_time)``; times are column centres in seconds, frequencies
row centres in Hz (mel-spaced where the spectrogram is a mel spectrogram).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

#: ``progress(done, total)``; may raise :class:`specview.errors.Cancelled`.
Progress = Callable[[int, int], None]

#: The one spelling of "the context's own channel": a dataset's (channel 0 of MIMII's
#: eight-channel arrays, else the mean of all channels), a fitted model's (the channel it was
#: fitted on). Resolved where the context is known: :func:`specview.datasets.load_dataset`,
#: :meth:`specview.pipeline.Model.load`.
DEFAULT_CHANNEL = "default"
#: A channel choice everywhere in specview: an index from 0, None for the mean of all
#: channels, or :data:`DEFAULT_CHANNEL`.
Channel = int | None | Literal["default"]


def check_channel(channel: object) -> None:
    """Refuse anything but an index >= 0, None or :data:`DEFAULT_CHANNEL`."""
    if channel is None or channel == DEFAULT_CHANNEL:
        return
    if isinstance(channel, bool) or not isinstance(channel, int) or channel < 0:
        from specview.errors import ParameterError

        raise ParameterError(
            f"channel must be a whole number >= 0, None (mean of channels) or "
            f"{DEFAULT_CHANNEL!r} (the dataset's or the model's own), got {channel!r}")


@dataclass(frozen=True)
class Audio:
    """Mono samples at a known rate.

    Attributes
    ----------
    samples : np.ndarray, float32, shape (n_samples,)
    sr : int, Hz
    path : Path or None
    """

    samples: np.ndarray
    sr: int
    path: Path | None = None

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sr


@dataclass(frozen=True)
class Spectrogram:
    """A time-frequency array with its physical axes.

    Attributes
    ----------
    values : np.ndarray, float32, shape (n_freq, n_time)
    times : np.ndarray, float64, shape (n_time,), seconds (frame centres)
    freqs : np.ndarray, float64, shape (n_freq,), Hz (band centres)
    unit : str
        What ``values`` holds, e.g. ``"dB"``.
    duration : float, seconds
        Length of the audio the spectrogram was computed from.
    """

    values: np.ndarray
    times: np.ndarray
    freqs: np.ndarray
    unit: str
    duration: float

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape != (len(self.freqs), len(self.times)):
            raise ValueError(
                f"values shape {self.values.shape} does not match axes "
                f"({len(self.freqs)} freqs, {len(self.times)} times)"
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]


@dataclass(frozen=True)
class Box:
    """A time-frequency box in seconds and Hz.

    Two boxes are equal when their corners and labels are: what a box carries from the file it
    was read from (``selection``, ``channel``, ``extra``, ``source``) does not take part, so a
    box read from a user's table equals the same box drawn in the window.

    Attributes
    ----------
    t0, t1 : float, seconds
        Begin and end, from the start of the recording.
    f0, f1 : float, Hz
        Low and high edge.
    label : str
    selection : int or None
        Raven's selection number, when the box came from (or was written to) a Raven table.
    channel : int or None
        Raven's channel (1-based), when the box came from a Raven table.
    extra : dict of str to str
        Every other column of the box's row, by column name, as the file held it (measurements,
        other annotation columns, file columns); written back into those columns.
    source : object or None
        Where the box was read from (its rows, as read), so that an unedited box is written back
        byte for byte; set by the readers in :mod:`specview.annotations`, never by hand.
    """

    t0: float
    t1: float
    f0: float
    f1: float
    label: str = ""
    selection: int | None = field(default=None, compare=False)
    channel: int | None = field(default=None, compare=False)
    extra: dict = field(default_factory=dict, compare=False, repr=False)
    source: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class AnomalyResult:
    """What every detector returns for one recording.

    Attributes
    ----------
    map : np.ndarray, float32, shape (n_freq, n_time)
        Anomaly score on the scored spectrogram's grid (higher = more anomalous).
    times, freqs : np.ndarray
        The grid's axes (seconds, Hz), identical to the spectrogram's.
    clip_score : float
        One number per recording, higher = more anomalous.
    frame_scores : np.ndarray, float32, shape (n_time,)
        Per-frame score: mean of the 5 highest cells of the map in each frame.
    """

    map: np.ndarray
    times: np.ndarray
    freqs: np.ndarray
    clip_score: float
    frame_scores: np.ndarray
    extras: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FlaggedRegion:
    """A region a detector flags: a connected area of its map above a calibrated threshold.

    Attributes
    ----------
    box : Box
        The region's bounding box in seconds and Hz (outer edges of its cells).
    score : float
        Highest map value inside the region.
    n_cells : int
        Cells of the map above the threshold in the region.
    """

    box: Box
    score: float
    n_cells: int
