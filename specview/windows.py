"""Cutting a long time axis into windows, and stitching what was computed on each.

One plan serves every place that runs something on pieces of a spectrogram: the encoders'
chunked forward passes (and STFPM's student, in the same chunks), the pipeline's scoring of
long recordings, and the fixed-length windows of PaDiM's and CFA's per-position models.

A window is a :class:`Span`: the frames ``start:stop`` that are computed (its core plus up to
``margin`` frames of context on each side) and the frames ``valid_start:valid_stop`` whose
results are kept. The valid parts of a plan tile ``0:length`` exactly once, in order.

No torch here: :func:`stitch` takes numpy arrays or torch tensors alike (torch is imported only
when it is given tensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

OVERLAPS = ("valid", "mean")


@dataclass(frozen=True)
class Span:
    """One window: frames ``start:stop`` are computed, ``valid_start:valid_stop`` kept."""

    start: int
    stop: int
    valid_start: int
    valid_stop: int

    @property
    def slice(self) -> slice:
        """The computed frames, ``start:stop``."""
        return slice(self.start, self.stop)

    @property
    def valid(self) -> tuple[int, int]:
        """The kept frames relative to the window's first frame (what ``score(valid=)`` takes)."""
        return self.valid_start - self.start, self.valid_stop - self.start

    def valid_cells(self, stride: int = 1) -> slice:
        """The kept part of a result with ``stride`` frames per element, relative to the
        window: its first kept element and as many as the valid frames fill."""
        a = (self.valid_start - self.start) // stride
        return slice(a, a + (self.valid_stop - self.valid_start) // stride)


def round_up(n: int, multiple: int) -> int:
    """``n`` rounded up to a multiple of ``multiple``."""
    return -(-int(n) // int(multiple)) * int(multiple)


def plan_windows(
    length: int,
    window: int,
    *,
    margin: int = 0,
    multiple: int = 1,
    align_end: bool = False,
    whole_up_to: int | None = None,
) -> list[Span]:
    """Windows over ``length`` frames.

    Parameters
    ----------
    length : int
        Frames to cover.
    window : int
        Frames of a window's core, rounded down to a multiple of ``multiple`` (at least one).
    margin : int
        Context frames on each side of a core (cut at ``0`` and ``length``), rounded up to a
        multiple of ``multiple``; computed, then discarded.
    multiple : int
        Alignment: cores and margins are whole multiples, so with ``length`` a multiple too
        every boundary falls on a multiple (a feature cell of the coarsest layer).
    align_end : bool
        How a rest is covered when ``window`` does not divide ``length``: False, by a shorter
        last core; True, by a full window ending at ``length``, which overlaps its predecessor
        (the overlap is its context: it is valid from where the previous one stops). Fixed-length
        models (PaDiM's cells, CFA's locations) need every window full.
    whole_up_to : int, optional
        Lengths up to this are one window ``0:length`` (default ``window + 2 * margin``: a
        single window holds them with their context).

    Returns
    -------
    list of Span
        Cores from frame 0 on, one after the other; their valid parts cover ``0:length``
        exactly once.
    """
    length, multiple = int(length), max(1, int(multiple))
    window = max(multiple, int(window) // multiple * multiple)
    margin = round_up(max(0, int(margin)), multiple)
    if whole_up_to is None:
        whole_up_to = window + 2 * margin
    if length <= whole_up_to:
        return [Span(0, length, 0, length)]
    spans = []
    for a in range(0, length, window):
        b = a + window
        if b > length and align_end and spans:
            a = length - window
            spans.append(Span(max(0, a - margin), length, spans[-1].valid_stop, length))
            break
        b = min(b, length)
        spans.append(Span(max(0, a - margin), min(length, b + margin), a, b))
    return spans


def window_starts(length: int, window: int) -> list[int]:
    """First frames of full windows of ``window`` frames tiling ``length`` (end-aligned rest);
    ``[0]`` when ``length <= window``."""
    return [s.start for s in plan_windows(length, window, align_end=True)]


def stitch(parts: Sequence[Any], spans: Sequence[Span], *, stride: int = 1,
           overlap: str = "valid") -> Any:
    """Join the results of the windows of a plan along their last axis.

    Parameters
    ----------
    parts : sequence of np.ndarray or torch.Tensor
        One per span, ``(..., n)``: element ``i`` of the last axis stands for frames
        ``start + i * stride`` on (the window's result at ``stride`` frames per element).
    spans : sequence of Span
        The plan the parts were computed on.
    overlap : str
        ``"valid"``: each part's valid elements, concatenated (nothing overlaps).
        ``"mean"``: each whole part placed at its start, averaged where parts overlap
        (float64 sums; float32 out, on the CPU); a part reaching beyond the plan's end is cut.

    Returns
    -------
    the joined array, of the parts' type: ``(..., length / stride)``.
    """
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap {overlap!r}: use {' or '.join(OVERLAPS)}")
    if len(parts) != len(spans) or not parts:
        raise ValueError(f"{len(parts)} parts for {len(spans)} windows")
    is_numpy = isinstance(parts[0], np.ndarray)
    if overlap == "valid":
        kept = [p[..., s.valid_cells(stride)] for p, s in zip(parts, spans, strict=True)]
        if len(kept) == 1:
            return kept[0]
        if is_numpy:
            return np.concatenate(kept, axis=-1)
        import torch

        return torch.cat(kept, dim=-1)
    n_cells = max(s.stop for s in spans) // stride
    arrays = [p if is_numpy else p.detach().cpu().numpy() for p in parts]
    total = np.zeros((*arrays[0].shape[:-1], n_cells), dtype=np.float64)
    count = np.zeros(n_cells, dtype=np.float64)
    for a, s in zip(arrays, spans, strict=True):
        c = s.start // stride
        w = min(a.shape[-1], n_cells - c)
        total[..., c : c + w] += a[..., :w].astype(np.float64)
        count[c : c + w] += 1
    out = (total / np.maximum(count, 1)).astype(np.float32)
    if is_numpy:
        return out
    import torch

    return torch.from_numpy(out)
