"""Audacity label files (what Audacity's *Export Labels* writes); rules in
:mod:`specview.annotations`."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from specview import raven as R
from specview.annotations.boxes import _is_finite, validate_box
from specview.annotations.files import _LINE_BREAK, _number, _read_text, atomic_write_text
from specview.errors import AnnotationError, ParameterError
from specview.types import Box

_LABEL_BREAKERS = ("\t", "\r", "\n", "\0")


@dataclass(frozen=True)
class AudacitySource:
    """What an Audacity label line held (kept on :attr:`Box.source`).

    Attributes
    ----------
    cells : tuple of str
        The four number cells as written (``t0, t1, f0, f1``; ``""`` where the file had none).
    band : bool
        Whether the label had a frequency line with an upper edge.
    original : tuple
        ``(t0, t1, f0, f1, label)`` as read.
    label_cell : bool
        Whether the label line had a third (label) field; a line ``t0<TAB>t1`` has none.
    """

    cells: tuple[str, str, str, str]
    band: bool
    original: tuple
    label_cell: bool = True


def read_audacity_labels(path: str | Path, *, nyquist: float | None = None) -> list[Box]:
    """Read an Audacity label file (with or without frequency lines).

    Parameters
    ----------
    path : str or Path
    nyquist : float, Hz, optional
        Upper edge given to labels without a frequency band (no frequency line, or a negative
        upper frequency). A negative lower frequency reads as 0 Hz. Such a box remembers that
        it had no band: written back unedited, it gets no frequency line.

    Returns
    -------
    list of Box
        In the file's order; point labels have ``t0 == t1``.

    Raises
    ------
    AnnotationError
        Unreadable file, a malformed line, inverted or negative values, or a label without a
        band when ``nyquist`` is not given; naming the file and line.
    ParameterError
        ``nyquist`` is not a positive finite number.
    """
    path = Path(path)
    return _parse_audacity(_read_text(path, "label file")[0], path, nyquist)


def _parse_audacity(text: str, path: Path, nyquist: float | None) -> list[Box]:
    if nyquist is not None and (not _is_finite(nyquist) or nyquist <= 0):
        raise ParameterError(f"nyquist={nyquist!r} must be a positive number of Hz (sr / 2)")
    boxes: list[Box] = []
    # (line number, t0, t1, label, t0 cell, t1 cell, has a label field) of a label line whose
    # frequency line may follow
    pending: tuple[int, float, float, str, str, str, bool] | None = None

    def finish(f: tuple[float, float, str, str] | None, freq_lineno: int | None) -> None:
        lineno, t0, t1, label, c0, c1, has_label = pending  # type: ignore[misc]
        where = f"{path}, line {freq_lineno or lineno}: "
        f0, f1, d0, d1 = f if f is not None else (None, None, "", "")
        lo = 0.0 if f0 is None or f0 < 0 else f0
        band = f1 is not None and f1 >= 0
        if not band:
            if nyquist is None:
                raise AnnotationError(
                    f"{path}, line {lineno}: label {label!r} has no frequency band, and no "
                    "nyquist frequency was given to read it as covering the whole band; pass "
                    "nyquist=sample_rate/2 (e.g. import_boxes(path, nyquist=sr / 2))"
                )
            hi = float(nyquist)
        else:
            hi = f1  # type: ignore[assignment]
        box = validate_box(Box(t0, t1, lo, hi, label), where=where)
        src = AudacitySource((c0, c1, d0, d1), band, (t0, t1, lo, hi, label), has_label)
        boxes.append(replace(box, source=src))

    lines = _LINE_BREAK.split(text)
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {lineno}: "
        cells = line.split("\t")
        if line.startswith("\\"):
            if pending is None:
                raise AnnotationError(
                    f"{where}frequency line {line!r} does not follow a label line; each "
                    "'\\<TAB>f0<TAB>f1' line belongs to the 't0<TAB>t1<TAB>label' line above it"
                )
            if len(cells) != 3 or cells[0].strip() != "\\":
                raise AnnotationError(
                    f"{where}malformed frequency line {line!r}; expected '\\<TAB>f0<TAB>f1'"
                )
            finish((_number(cells[1], "low frequency", where),
                    _number(cells[2], "high frequency", where),
                    cells[1], cells[2]), lineno)
            pending = None
            continue
        if pending is not None:
            finish(None, None)
            pending = None
        if len(cells) < 2 or len(cells) > 3:
            raise AnnotationError(
                f"{where}malformed label line {line!r} ({len(cells)} tab-separated field(s)); "
                "expected 't0<TAB>t1<TAB>label' as Audacity's Export Labels writes it"
                + _not_audacity_hint(line, not boxes and pending is None)
            )
        t0 = _number(cells[0], "start time", where,
                     hint=_not_audacity_hint(line, not boxes))
        t1 = _number(cells[1], "end time", where)
        _check_times(t0, t1, where)  # time errors belong to this line, not the frequency line
        pending = (lineno, t0, t1, cells[2] if len(cells) == 3 else "", cells[0], cells[1],
                   len(cells) == 3)
    if pending is not None:
        finish(None, None)
    return boxes


def _not_audacity_hint(line: str, first: bool) -> str:
    """What a first line that is not an Audacity label may be instead."""
    if not first:
        return ""
    low = line.casefold()
    if "begin time" in low or "selection" in low:
        return (f"; it looks like a Raven table whose header is not Raven's: a Raven table "
                f"needs the tab-separated columns {list(R.COORDINATES)}")
    if "," in line and "\t" not in line:
        return ("; it looks like comma-separated values (e.g. a Sonic Visualiser CSV export): "
                "export Audacity labels or a Raven selection table instead")
    return ""


def _check_times(t0: float, t1: float, where: str) -> None:
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise AnnotationError(f"{where}box time {t0}-{t1} s is non-finite; write finite seconds")
    if t1 < 0 <= t0:
        raise AnnotationError(
            f"{where}end time {t1} s is negative (some tools write -1 for \"until the end of "
            "the recording\"); write the end time in seconds"
        )
    if t1 < t0:
        raise AnnotationError(
            f"{where}box ends before it begins: time {t0}-{t1} s; swap the two times or delete "
            "the label"
        )
    if t0 < 0:
        raise AnnotationError(f"{where}box has a negative time: {t0}-{t1} s; times start at 0 s")


def format_audacity_labels(boxes: Iterable[Box]) -> str:
    """Audacity label text: a label line and a frequency line per box.

    Numbers have 6 decimals as Audacity writes them, or more where the value needs them, so
    every value round-trips exactly. A box read from an Audacity file keeps the number cells it
    had unless edited, and a label that had no frequency band gets no frequency line unless its
    band was edited.

    Raises
    ------
    AnnotationError
        A label holding a tab or a line break (the format cannot hold them: rename the box),
        or a box that is non-finite, inverted or negative. Nothing is written.
    """
    out: list[str] = []
    for i, b in enumerate(boxes, start=1):
        validate_box(b, where=f"box {i} ({b.label!r}): ")
        label = str(b.label)
        if any(ch in label for ch in _LABEL_BREAKERS):
            raise AnnotationError(
                f"box {i} ({b.t0}-{b.t1} s): label {label!r} holds a tab or a line break (or NUL), "
                "which Audacity label files cannot hold; rename the box or export as JSON"
            )
        src = b.source if isinstance(b.source, AudacitySource) else None
        vals = (b.t0, b.t1, b.f0, b.f1)
        cells = [src.cells[k] if src and src.cells[k] and src.original[k] == v else _aud(v)
                 for k, v in enumerate(vals)]
        bare = src is not None and not src.label_cell and not label
        out.append(f"{cells[0]}\t{cells[1]}\n" if bare else f"{cells[0]}\t{cells[1]}\t{label}\n")
        if src is None or src.band or src.cells[2] or (b.f0, b.f1) != src.original[2:4]:
            out.append(f"\\\t{cells[2]}\t{cells[3]}\n")
    return "".join(out)


def write_audacity_labels(path: str | Path, boxes: Iterable[Box]) -> None:
    """Write boxes as an Audacity label file, atomically, in the order given."""
    atomic_write_text(path, format_audacity_labels(list(boxes)))


def _aud(x: float) -> str:
    """6 decimals as Audacity writes them, or the exact shortest form where 6 would round."""
    x = float(x) + 0.0  # "+ 0.0" writes -0.0 as 0.000000, as Audacity would
    six = f"{x:.6f}"
    return six if float(six) == x else repr(x)
