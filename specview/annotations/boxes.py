"""The box editor's rules: a box is finite, ordered and non-negative; a dragged rectangle is
clamped to the clip and grown to a minimum size; boxes are written in time order."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace

from specview.errors import AnnotationError, ParameterError
from specview.types import Box

#: Smallest box the editor keeps, in seconds and in Hz (see :func:`clamp_box`).
MIN_DURATION = 0.01
MIN_BANDWIDTH = 10.0


def validate_box(box: Box, *, where: str = "") -> Box:
    """Check a box is finite, ordered and non-negative; return it.

    Parameters
    ----------
    box : Box
    where : str
        Prefix for the error message, e.g. ``"clip.txt, line 3: "``.

    Raises
    ------
    AnnotationError
        A non-finite, inverted or negative coordinate.
    """
    vals = (box.t0, box.t1, box.f0, box.f1)
    if not all(_is_finite(v) for v in vals):
        raise AnnotationError(
            f"{where}box {vals} has a non-finite coordinate; give times in seconds and "
            "frequencies in Hz as finite numbers"
        )
    if box.t1 < box.t0 or box.f1 < box.f0:
        raise AnnotationError(
            f"{where}box ends before it begins: time {box.t0}-{box.t1} s, freq {box.f0}-{box.f1} Hz;"
            " swap the begin and end values or delete the box"
        )
    if box.t0 < 0 or box.f0 < 0:
        raise AnnotationError(
            f"{where}box has a negative time or frequency: {vals}; times start at 0 s and "
            "frequencies at 0 Hz"
        )
    return box


def clamp_box(
    box: Box,
    *,
    duration: float,
    nyquist: float,
    min_duration: float = MIN_DURATION,
    min_bandwidth: float = MIN_BANDWIDTH,
) -> Box:
    """Turn a dragged rectangle into a valid box on the clip.

    The corners are ordered (a drag may go in any direction), the box is cut to
    ``[0, duration] x [0, nyquist]``, and a side shorter than its minimum is grown around its
    centre to the minimum, shifted back inside the clip where it would stick out.

    Parameters
    ----------
    box : Box
        Corners in seconds and Hz, in any order; may lie partly or wholly outside the clip.
    duration : float, seconds
        Length of the clip.
    nyquist : float, Hz
        Highest frequency of the clip: half the recording's own sample rate, never the limit of
        a display or encoder grid (a bat call at 80 kHz in a 250 kHz file stays at 80 kHz).
    min_duration : float, seconds
        Shortest box kept.
    min_bandwidth : float, Hz
        Narrowest box kept.

    Returns
    -------
    Box
        ``0 <= t0 <= t1 <= duration``, ``0 <= f0 <= f1 <= nyquist``,
        ``t1 - t0 >= min_duration``, ``f1 - f0 >= min_bandwidth``; same label, and the same
        selection, channel, extra columns and source rows (the box itself when it already fits).

    Raises
    ------
    ParameterError
        A non-finite coordinate or limit, a negative minimum, or a clip shorter than
        ``min_duration`` (narrower than ``min_bandwidth``).
    """
    for name, value in (("duration", duration), ("nyquist", nyquist),
                        ("min_duration", min_duration), ("min_bandwidth", min_bandwidth)):
        if not _is_finite(value) or value < 0:
            raise ParameterError(f"{name}={value!r} must be a finite number >= 0")
    if duration <= 0 or duration < min_duration:
        raise ParameterError(
            f"the clip lasts {duration} s, less than the shortest box allowed "
            f"(min_duration={min_duration} s); lower min_duration for such short clips"
        )
    if nyquist <= 0 or nyquist < min_bandwidth:
        raise ParameterError(
            f"the clip's band is 0-{nyquist} Hz, narrower than the narrowest box allowed "
            f"(min_bandwidth={min_bandwidth} Hz); lower min_bandwidth or check the sample rate"
        )
    coords = (box.t0, box.t1, box.f0, box.f1)
    if not all(_is_finite(v) for v in coords):
        raise ParameterError(
            f"box {coords} has a non-finite coordinate; boxes need finite seconds and Hz"
        )
    t0, t1 = _clamp_span(box.t0, box.t1, float(duration), float(min_duration))
    f0, f1 = _clamp_span(box.f0, box.f1, float(nyquist), float(min_bandwidth))
    if (t0, t1, f0, f1) == coords:
        return box
    return replace(box, t0=t0, t1=t1, f0=f0, f1=f1)  # keeps what the box carries from its file


def _clamp_span(a: float, b: float, limit: float, minimum: float) -> tuple[float, float]:
    """Order, cut to ``[0, limit]`` and widen to ``minimum`` one side of a box."""
    lo, hi = sorted((float(a), float(b)))
    lo, hi = min(max(lo, 0.0), limit), min(max(hi, 0.0), limit)
    if hi - lo >= minimum:
        return lo, hi
    centre = (lo + hi) / 2
    lo, hi = centre - minimum / 2, centre + minimum / 2
    if lo < 0:
        lo, hi = 0.0, minimum
    elif hi > limit:
        lo, hi = limit - minimum, limit
    # Rounding can leave the width an ulp under the minimum: widen it by ulps inside the limits.
    while hi - lo < minimum:
        if hi < limit:
            hi = min(math.nextafter(hi, math.inf), limit)
        elif lo > 0:
            lo = max(math.nextafter(lo, -math.inf), 0.0)
        else:  # pragma: no cover - only when limit < minimum, refused by the caller
            break
    return lo, hi


def sort_boxes(boxes: Iterable[Box]) -> list[Box]:
    """Boxes in time order, then frequency order, then by label (the order files are written in)."""
    return sorted(boxes, key=lambda b: (b.t0, b.t1, b.f0, b.f1, b.label))


def _is_finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:
        return False
