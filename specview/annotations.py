"""Ground-truth boxes: the box editor's rules and the files that hold boxes.

This is the headless core of the annotation tool: the GUI reports drags and edits in seconds
and Hz, and calls these functions to clamp boxes, order them, and read or write them.

Formats
-------
Raven selection table (the sidecar ``<stem>.Table.1.selections.txt``)
    Read and written by :mod:`specview.raven`, which keeps every column, row, view, selection
    number, channel, encoding and line ending of a user's table (its docstring has the rules:
    label column, views, tables of several recordings). Numbers of new cells use Python's
    shortest exact representation, so a write-read round trip is exact. Raven has no escaping:
    tabs and line breaks in labels are written as spaces.
Audacity labels (what Audacity's *Export Labels* writes)
    One line ``t0<TAB>t1<TAB>label`` per label (a point label has ``t0 == t1``), optionally
    followed by a frequency line ``\\<TAB>f0<TAB>f1``. A label without a frequency line, or
    with a negative frequency (Audacity writes ``-1`` for "not set"), has no band: it is read
    as reaching down to 0 Hz and up to ``nyquist``, and written back without a band unless its
    band was edited; when such a label needs ``nyquist`` and none is given the file is refused
    rather than guessed. Numbers are written as the file held them, else with Audacity's 6
    decimals or more where the value needs them: nothing is rounded. Labels holding a tab or a
    line break cannot be written (the format has no escaping) and are refused with
    :class:`~specview.errors.AnnotationError`.
Encodings and numbers
    UTF-8 with or without BOM, UTF-16 and Windows-1252 are read (:mod:`specview.tabletext`);
    thousands separators and other ambiguous numbers are refused with the line and column.
JSON (``specview-boxes``, version 1)
    ::

        {
          "format": "specview-boxes",
          "version": 1,
          "audio": "clip.wav",
          "boxes": [
            {"t0": 0.5, "t1": 1.25, "f0": 100.0, "f1": 2000.0, "label": "whine"}
          ]
        }

    ``format``, ``version`` and ``boxes`` are required; ``audio`` (a string or ``null``) and a
    box's ``label`` (default ``""``), ``selection`` and ``channel`` (whole numbers) and
    ``extra`` (an object of text: the other columns of a Raven row) are optional; any other key
    is refused, so a misspelt key is reported instead of ignored. Numbers are written with Python's ``repr``, so every float
    round-trips exactly; any label round-trips exactly (JSON escapes it). The file is only
    parsed, never evaluated.

Sidecars nothing can lose
-------------------------
:func:`load_sidecar` never raises for a bad file: it reports the parse error in
:class:`SidecarState`. :func:`save_sidecar` refuses to replace a sidecar it cannot parse unless
told to, and :func:`keep_aside` renames such a file out of the way. Every file is written with
:func:`atomic_write_text`: a reader sees the old or the new file, never a part of one.
"""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import math
import os
import re
import warnings
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from specview import fileio
from specview import raven as R
from specview.errors import AnnotationError, ParameterError, SpecviewWarning
from specview.raven import DEFAULT_LABEL_COLUMN
from specview.tabletext import TextDecodeError, TextFormat, decode, encode, parse_number
from specview.types import Box

RAVEN_SUFFIX = ".Table.1.selections.txt"
RAVEN_COLUMNS = R.STANDARD_COLUMNS
#: Kept once beside a user's table before specview first rewrites it.
ORIGINAL_SUFFIX = ".orig"

#: Smallest box the editor keeps, in seconds and in Hz (see :func:`clamp_box`).
MIN_DURATION = 0.01
MIN_BANDWIDTH = 10.0

#: ``fmt`` values of :func:`export_boxes` (and what :func:`detect_format` returns).
FORMATS = ("raven", "audacity", "json")

JSON_FORMAT = "specview-boxes"
JSON_VERSION = 1
_JSON_KEYS = ("format", "version", "audio", "boxes")
_BOX_KEYS = ("t0", "t1", "f0", "f1")
_OPTIONAL_BOX_KEYS = ("label", "selection", "channel", "extra")

# Only CR and LF end a line in these files; str.splitlines would also split a label at
# characters such as U+2028 or a form feed, which the writers leave in place.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LABEL_BREAKERS = ("\t", "\r", "\n", "\0")


class AnnotationWriteError(AnnotationError, OSError):
    """A file could not be written; the previous file at that path is unchanged.

    Also an :class:`OSError`, so callers that handle I/O errors keep working.
    """


# -- box rules -------------------------------------------------------------------------------


def sidecar_path(audio_path: str | Path) -> Path:
    """``<stem>.Table.1.selections.txt`` beside the recording."""
    p = Path(audio_path)
    return p.with_name(p.stem + RAVEN_SUFFIX)


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


# -- Raven selection tables --------------------------------------------------------------------


def read_raven_table(path: str | Path, *, label_column: str | None = None) -> R.RavenTable | None:
    """Parse a Raven selection table, keeping every line (see :mod:`specview.raven`).

    Parameters
    ----------
    path : str or Path
    label_column : str, optional
        The column labels come from; default: the rule of :func:`specview.raven.choose_label_column`.

    Returns
    -------
    RavenTable or None
        None for an empty (blank) file.

    Raises
    ------
    AnnotationError
        Unreadable file, missing columns, a non-numeric, ambiguous or inverted coordinate,
        naming the file, line and column.
    """
    path = Path(path)
    text, fmt = _read_text(path, "selection table")
    try:
        return R.parse_table(text, fmt, where=f"{path}, ", label_column=label_column)
    except AnnotationError as exc:
        msg = str(exc)
        raise AnnotationError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None


def read_raven(path: str | Path, *, label_column: str | None = None) -> list[Box]:
    """Read every box of a Raven selection table, in file order.

    Each box carries the rest of its row(s): :attr:`Box.selection`, :attr:`Box.channel`,
    :attr:`Box.extra` and the rows themselves (:attr:`Box.source`), so writing it back
    changes nothing that was not edited. Rows of the same selection in several views are one
    box; no row is dropped. In a table of several recordings, times are those of each box's
    own recording (``File Offset (s)``); use :func:`load_sidecar` or :func:`import_table` to
    take one recording's boxes.

    Raises
    ------
    AnnotationError
        As :func:`read_raven_table`.
    """
    table = read_raven_table(path, label_column=label_column)
    return table.boxes if table is not None else []


def format_raven(boxes: Iterable[Box], *, label_column: str = DEFAULT_LABEL_COLUMN) -> str:
    """Raven table text for ``boxes``, in the order given (a new table; no file is read).

    Boxes read from one Raven table keep that table's header and their rows' bytes; otherwise
    the header is Raven's standard columns, the label column and the boxes' extra columns.
    Numbers use Python's shortest exact representation; tabs and line breaks in labels become
    spaces (Raven has no escaping). No boxes gives the header alone ("annotated, no boxes").

    Raises
    ------
    AnnotationError
        A box that is non-finite, inverted or negative (nothing is written).
    """
    boxes = list(boxes)
    for i, b in enumerate(boxes, start=1):
        validate_box(b, where=f"box {i} ({b.label!r}): ")
    return R.render_table(None, boxes, label_column=label_column)[0]


def write_raven(path: str | Path, boxes: Iterable[Box], *,
                label_column: str = DEFAULT_LABEL_COLUMN) -> None:
    """Write boxes as a new Raven selection table, atomically, in the order given.

    Boxes read from one table are written with its header, encoding and row bytes (an
    unedited table exports back identical, up to row order); see :func:`format_raven`.
    """
    boxes = list(boxes)
    for i, b in enumerate(boxes, start=1):
        validate_box(b, where=f"box {i} ({b.label!r}): ")
    text, fmt = R.render_table(None, boxes, label_column=label_column)
    _write_table(Path(path), text, fmt)


def _write_table(path: Path, text: str, fmt: TextFormat) -> bytes:
    """Encode ``text`` as ``fmt`` and write it atomically; return the bytes written.

    A character the file's encoding cannot hold (a new label in a Windows-1252 table) switches
    the file to UTF-8 with a byte-order mark rather than dropping it, with a warning.
    """
    try:
        data = encode(text, fmt)
    except UnicodeEncodeError as exc:
        warnings.warn(
            f"{path}: {text[exc.start:exc.end]!r} cannot be written in {fmt.name}; the table is "
            "saved as UTF-8 with a byte-order mark instead",
            SpecviewWarning, stacklevel=3)
        data = encode(text, TextFormat("utf-8", True, fmt.newline))
    atomic_write_bytes(path, data)
    return data


# -- Audacity labels ---------------------------------------------------------------------------


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


# -- JSON --------------------------------------------------------------------------------------


def format_boxes_json(boxes: Iterable[Box], *, audio: str | None = None) -> str:
    """The ``specview-boxes`` JSON text (schema in the module docstring), one box per line.

    Raises
    ------
    AnnotationError
        A box that is non-finite, inverted or negative, or a label that is not a string.
    ParameterError
        ``audio`` is neither a string nor None.
    """
    if audio is not None and not isinstance(audio, str):
        raise ParameterError(f"audio={audio!r} must be a file name (str) or None")
    items = []
    for i, b in enumerate(boxes, start=1):
        validate_box(b, where=f"box {i} ({b.label!r}): ")
        if not isinstance(b.label, str):
            raise AnnotationError(f"box {i}: label {b.label!r} is not a string; give a text label")
        item: dict = {k: float(getattr(b, k)) for k in _BOX_KEYS}
        item["label"] = b.label
        if b.selection is not None:
            item["selection"] = int(b.selection)
        if b.channel is not None:
            item["channel"] = int(b.channel)
        if b.extra:
            item["extra"] = {str(k): str(v) for k, v in b.extra.items()}
        items.append(json.dumps(item, ensure_ascii=False, allow_nan=False))
    body = "[\n    " + ",\n    ".join(items) + "\n  ]" if items else "[]"
    return (
        "{\n"
        f'  "format": {json.dumps(JSON_FORMAT)},\n'
        f'  "version": {JSON_VERSION},\n'
        f'  "audio": {json.dumps(audio, ensure_ascii=False)},\n'
        f'  "boxes": {body}\n'
        "}\n"
    )


def write_boxes_json(path: str | Path, boxes: Iterable[Box], *, audio: str | None = None) -> None:
    """Write boxes as ``specview-boxes`` JSON, atomically, in the order given.

    Parameters
    ----------
    path : str or Path
    boxes : iterable of Box
    audio : str, optional
        The recording the boxes belong to, stored as given (e.g. ``"clip.wav"``).
    """
    atomic_write_text(path, format_boxes_json(list(boxes), audio=audio))


def read_boxes_json(path: str | Path) -> list[Box]:
    """Read a ``specview-boxes`` JSON file (schema in the module docstring).

    Returns
    -------
    list of Box
        In the file's order.

    Raises
    ------
    AnnotationError
        Invalid JSON, another format or version, a missing, unknown or non-numeric key, or an
        inverted or negative box; naming the file and line.
    """
    path = Path(path)
    return _parse_json(_read_text(path, "JSON box file")[0], path)


class _Located(dict):
    """A JSON object that remembers where it began in the text."""

    pos = 0


class _LocatedList(list):
    """A JSON array that remembers where it began in the text."""

    pos = 0


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list) -> dict:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        raise _DuplicateKey(next(k for k, _ in pairs if k in seen or seen.add(k)))
    return obj


def _locating_decoder() -> json.JSONDecoder:
    """A JSON decoder whose objects and arrays carry their offset (pure-Python scanner)."""
    dec = json.JSONDecoder(object_pairs_hook=_no_duplicates)

    def parse_object(s_and_end, *args):
        s, end = s_and_end
        try:
            obj, new_end = json.decoder.JSONObject(s_and_end, *args)
        except _DuplicateKey as exc:
            raise AnnotationError(
                f"line {_line_at(s, end - 1)}: key {exc.args[0]!r} appears twice in one object;"
                " keep one"
            ) from None
        located = _Located(obj)
        located.pos = end - 1
        return located, new_end

    def parse_array(s_and_end, scan_once):
        s, end = s_and_end
        arr, new_end = json.decoder.JSONArray(s_and_end, scan_once)
        located = _LocatedList(arr)
        located.pos = end - 1
        return located, new_end

    dec.parse_object = parse_object
    dec.parse_array = parse_array
    dec.scan_once = json.scanner.py_make_scanner(dec)
    return dec


def _json_kind(value: object) -> str:
    """What a parsed JSON value is, in JSON's words."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return str(value).lower()
    return "null" if value is None else f"the number {value!r}"


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, max(pos, 0)) + 1


def _parse_json(text: str, path: Path) -> list[Box]:
    try:
        doc = _locating_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(
            f"{path}, line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); "
            "fix the file or export the boxes again"
        ) from None
    except AnnotationError as exc:
        raise AnnotationError(f"{path}, {exc}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer with thousands of digits
        raise AnnotationError(f"{path}: not usable JSON ({exc})") from None

    starts = [m.end() for m in re.finditer("\n", text)]  # line numbers in O(log n) each

    def line_of(pos: int) -> int:
        return bisect_right(starts, max(pos, 0)) + 1

    def at(node: object, fallback: int = 1) -> str:
        line = line_of(node.pos) if isinstance(node, _Located | _LocatedList) else fallback
        return f"{path}, line {line}: "

    if not isinstance(doc, dict):
        raise AnnotationError(
            f"{at(doc)}expected a JSON object with \"format\": \"{JSON_FORMAT}\", found "
            f"{_json_kind(doc)}; this is not a specview box file"
        )
    where = at(doc)
    fmt = doc.get("format")
    if fmt != JSON_FORMAT:
        raise AnnotationError(
            f"{where}\"format\" is {fmt!r}, not {JSON_FORMAT!r}; this is not a specview box file "
            f"(add \"format\": \"{JSON_FORMAT}\", \"version\": {JSON_VERSION} if it is one)"
        )
    if "version" not in doc:
        raise AnnotationError(f"{where}missing key 'version'; add \"version\": {JSON_VERSION}")
    version = doc["version"]
    if type(version) is not int or version != JSON_VERSION:
        raise AnnotationError(
            f"{where}unknown version {version!r}; this specview reads version {JSON_VERSION}: "
            "update specview, or export the boxes again"
        )
    unknown = sorted(set(doc) - set(_JSON_KEYS))
    if unknown:
        raise AnnotationError(
            f"{where}unknown key(s) {unknown}; allowed keys are {list(_JSON_KEYS)}"
        )
    audio = doc.get("audio")
    if audio is not None and not isinstance(audio, str):
        raise AnnotationError(f"{where}\"audio\" is {audio!r}; give a file name or null")
    if "boxes" not in doc:
        raise AnnotationError(f"{where}missing key 'boxes'; add \"boxes\": [] for no boxes")
    items = doc["boxes"]
    if not isinstance(items, list):
        raise AnnotationError(
            f"{at(items, line_of(doc.pos))}\"boxes\" is {_json_kind(items)}; it must be "
            "a list of boxes: [{...}, ...]"
        )
    list_line = line_of(items.pos) if isinstance(items, _LocatedList) else 1
    boxes: list[Box] = []
    for i, item in enumerate(items):
        where = f"{at(item, list_line)}boxes[{i}]: "
        if not isinstance(item, dict):
            raise AnnotationError(
                f"{where}{item!r} is not an object; write each box as "
                '{"t0": s, "t1": s, "f0": Hz, "f1": Hz, "label": "text"}'
            )
        missing = [k for k in _BOX_KEYS if k not in item]
        if missing:
            raise AnnotationError(
                f"{where}missing key(s) {missing}; a box needs t0, t1 (s) and f0, f1 (Hz)"
            )
        unknown = sorted(set(item) - {*_BOX_KEYS, *_OPTIONAL_BOX_KEYS})
        if unknown:
            raise AnnotationError(
                f"{where}unknown key(s) {unknown}; a box has t0, t1, f0, f1, label and "
                "optionally selection, channel and extra"
            )
        values = []
        for k in _BOX_KEYS:
            v = item[k]
            if type(v) not in (int, float):
                raise AnnotationError(f"{where}{k!r} is {v!r}, not a number; write a number")
            try:
                values.append(float(v))
            except OverflowError:
                raise AnnotationError(f"{where}{k!r} is too large: {v}") from None
        label = item.get("label", "")
        if not isinstance(label, str):
            raise AnnotationError(f"{where}\"label\" is {label!r}; write it as a string")
        kw: dict = {}
        for k in ("selection", "channel"):
            v = item.get(k)
            if v is not None and (type(v) is not int or v < 0):
                raise AnnotationError(f"{where}{k!r} is {v!r}; write a whole number or null")
            kw[k] = v
        extra = item.get("extra", {})
        if not isinstance(extra, dict) or not all(isinstance(v, str) for v in extra.values()):
            raise AnnotationError(
                f"{where}\"extra\" must be an object of text values (other columns of the "
                "box's row), e.g. {\"Species\": \"EATO\"}"
            )
        box = Box(*values, label, extra=dict(extra), **kw)
        boxes.append(validate_box(box, where=where))
    return boxes


# -- import / export ---------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Which reader :func:`import_boxes` would use for ``path``: one of :data:`FORMATS`.

    ``.json`` files, or text starting with ``{``, are JSON; a first line naming a
    ``Begin Time`` column is a Raven table (a near-Raven header is refused by the Raven reader
    with the columns it needs); XML (Sonic Visualiser's ``.svl``) is refused; anything else is
    taken as Audacity labels.

    Raises
    ------
    AnnotationError
        The file cannot be read, or is a format specview does not read (named in the message).
    """
    path = Path(path)
    return _detect(path, _read_text(path, "annotation file")[0])


def _detect(path: Path, text: str) -> str:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("{"):
        return "json"
    if stripped.startswith("<"):
        raise AnnotationError(
            f"{path}: an XML file (e.g. a Sonic Visualiser .svl layer), which specview does not "
            "read; in Sonic Visualiser export the layer as Audacity labels or a CSV, or use a "
            "Raven selection table"
        )
    first = next((ln for ln in _LINE_BREAK.split(text) if ln.strip()), "")
    return "raven" if "begin time" in first.casefold() else "audacity"


@dataclass(frozen=True)
class Imported:
    """Boxes imported for one recording from a file.

    Attributes
    ----------
    boxes : list of Box
        The recording's boxes, in file order.
    format : str
        One of :data:`FORMATS`.
    other_files : dict of str to int
        Boxes the file holds for other recordings (multi-recording Raven tables), by file name.
    label_column : str or None
        The Raven column labels came from.
    """

    boxes: list[Box]
    format: str
    other_files: dict[str, int]
    label_column: str | None = None


def import_table(path: str | Path, *, audio: str | Path | None = None,
                 nyquist: float | None = None, label_column: str | None = None) -> Imported:
    """Read the boxes of one recording from a Raven table, an Audacity file or a JSON file.

    Parameters
    ----------
    path : str or Path
        The format is found as in :func:`detect_format`.
    audio : str or Path, optional
        The recording: from a Raven table naming several recordings (``Begin File`` /
        ``Begin Path``) only its rows are taken, and the others are counted.
    nyquist : float, Hz, optional
        Upper edge of Audacity labels without a frequency band.
    label_column : str, optional
        Raven: the column labels come from (default: the documented rule).

    Raises
    ------
    AnnotationError
        The file cannot be read or parsed, naming the file and line.
    """
    path = Path(path)
    text, fmt = _read_text(path, "annotation file")
    kind = _detect(path, text)
    if kind == "json":
        return Imported(_parse_json(text, path), kind, {})
    if kind == "audacity":
        return Imported(_parse_audacity(text, path, nyquist), kind, {})
    try:
        table = R.parse_table(text, fmt, where=f"{path}, ", label_column=label_column)
    except AnnotationError as exc:
        msg = str(exc)
        raise AnnotationError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    if table is None:
        return Imported([], kind, {})
    boxes, others = table.for_recording(Path(audio).name if audio is not None else None)
    return Imported(boxes, kind, others, table.label_column)


def import_boxes(path: str | Path, *, nyquist: float | None = None,
                 audio: str | Path | None = None, label_column: str | None = None) -> list[Box]:
    """The boxes of :func:`import_table` (same parameters), in the file's order."""
    return import_table(path, audio=audio, nyquist=nyquist, label_column=label_column).boxes


def distribute(path: str | Path, audio_paths: Iterable[str | Path], *,
               label_column: str | None = None) -> tuple[dict[Path, list[Box]], dict[str, int]]:
    """Split a multi-recording Raven table among recordings.

    Returns
    -------
    (dict of Path to list of Box, dict of str to int)
        The boxes of each recording that has rows (matched as in
        :func:`specview.raven.same_recording`), and the count of boxes for file names that
        match none of ``audio_paths``.

    Raises
    ------
    AnnotationError
        The file is not a Raven table or cannot be parsed.
    """
    path = Path(path)
    table = read_raven_table(path, label_column=label_column)
    audio = [Path(a) for a in audio_paths]
    out: dict[Path, list[Box]] = {}
    unmatched: dict[str, int] = {}
    if table is None:
        return out, unmatched
    files = table.files
    names = [a.name for a in audio]
    for g in table.groups:
        if g.file is None:
            target = audio[0] if len(audio) == 1 else None
        else:
            target = next((a for a in audio if R.same_recording(g.file, a.name, files)
                           and (a.name in files or g.file not in names)), None)
        if target is None:
            key = g.file or "(no file named)"
            unmatched[key] = unmatched.get(key, 0) + 1
        else:
            out.setdefault(target, []).append(g.box)  # type: ignore[arg-type]
    return out, unmatched


def export_boxes(path: str | Path, boxes: Iterable[Box], *, fmt: str) -> None:
    """Write boxes atomically in one of :data:`FORMATS`, in the order given.

    Boxes read from a file keep what they carry from it: a Raven export of boxes read from one
    Raven table keeps that table's header, encoding and rows (in their file order; new boxes
    follow), so an unedited table exports back byte for byte; Audacity labels keep their
    number cells and bandless labels.

    Raises
    ------
    ParameterError
        An unknown ``fmt``.
    AnnotationError
        A box the format cannot hold (nothing is written).
    """
    writers = {"raven": write_raven, "audacity": write_audacity_labels, "json": write_boxes_json}
    if fmt not in writers:
        raise ParameterError(f"unknown annotation format fmt={fmt!r}; choose one of {FORMATS}")
    writers[fmt](path, list(boxes))


# -- sidecars ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidecarState:
    """What the Raven sidecar of a recording holds.

    Attributes
    ----------
    path : Path
        The sidecar's path (whether or not it exists).
    boxes : list of Box
        The recording's boxes; empty when there is no sidecar or it cannot be parsed.
    error : str or None
        Why the sidecar cannot be parsed; None when it was read, or when there is none.
    other_files : dict of str to int
        Boxes of the table that belong to other recordings (kept on save), by file name.
    label_column : str or None
        The column labels were read from.
    label_columns : list of str
        Columns that may hold labels (for a chooser), including ``label_column``.
    columns : list of str
        The table's header.
    """

    path: Path
    boxes: list[Box]
    error: str | None
    other_files: dict = field(default_factory=dict, compare=False)
    label_column: str | None = field(default=None, compare=False)
    label_columns: list = field(default_factory=list, compare=False)
    columns: list = field(default_factory=list, compare=False)


def load_sidecar(audio_path: str | Path, *, label_column: str | None = None) -> SidecarState:
    """Read the Raven sidecar of a recording; never raises for a missing or bad file.

    Parameters
    ----------
    audio_path : str or Path
        The recording; its sidecar is :func:`sidecar_path` of it.
    label_column : str, optional
        The column labels come from (default: the rule of :mod:`specview.raven`).

    Returns
    -------
    SidecarState
        No sidecar: no boxes, no error. An unparsable one: no boxes and the parse message in
        ``error`` (then :func:`save_sidecar` keeps the file unless told otherwise). Each box
        carries the rest of its rows (see :func:`read_raven`).
    """
    path = sidecar_path(audio_path)
    if not os.path.lexists(path):
        return SidecarState(path, [], None)
    try:
        table = read_raven_table(path, label_column=label_column)
    except AnnotationError as exc:
        return SidecarState(path, [], str(exc))
    if table is None:
        return SidecarState(path, [], None)
    boxes, others = table.for_recording(Path(audio_path).name)
    cands = table.label_candidates
    return SidecarState(path, boxes, None, others, table.label_column, cands, table.columns)


def read_sidecar(audio_path: str | Path, *, label_column: str | None = None) -> list[Box]:
    """The recording's boxes from its sidecar (none without one).

    Raises
    ------
    AnnotationError
        The sidecar exists but cannot be read.
    """
    state = load_sidecar(audio_path, label_column=label_column)
    if state.error is not None:
        raise AnnotationError(state.error)
    return state.boxes


def save_sidecar(
    audio_path: str | Path, boxes: Iterable[Box], *, overwrite_unparsable: bool = False,
    label_column: str | None = None,
) -> Path:
    """Write a recording's boxes to its Raven sidecar, atomically, losing nothing else.

    When no sidecar exists, a new table is written (boxes sorted). Otherwise the table is
    updated in place as :mod:`specview.raven` describes: unedited rows byte for byte, edited
    boxes' cells, new boxes appended, deleted boxes' rows removed, other recordings' rows kept,
    encoding and line endings kept. Before specview first rewrites a table it did not write,
    the original is kept once beside it as ``<name>.orig``. An empty list keeps the header
    alone, so "every box deleted" is recorded and not confused with "never annotated".

    Parameters
    ----------
    audio_path : str or Path
    boxes : iterable of Box
        Every box of the recording: boxes from :func:`load_sidecar` (edited or not) and new ones.
    overwrite_unparsable : bool
        Replace an existing sidecar that cannot be parsed. Off by default: such a file is kept.
    label_column : str, optional
        Where new labels go (default: the column they were read from).

    Returns
    -------
    Path
        The sidecar written.

    Raises
    ------
    AnnotationError
        The existing sidecar cannot be parsed (it is kept unchanged), a box is invalid, or the
        write failed (:class:`AnnotationWriteError`; the previous file is unchanged).
    """
    path = sidecar_path(audio_path)
    boxes = list(boxes)
    for i, b in enumerate(boxes, start=1):  # validate every box before touching the disk
        validate_box(b, where=f"box {i} ({b.label!r}): ")
    table = old = None
    if os.path.lexists(path):
        try:
            old = Path(path).read_bytes()
            text, fmt = _decode(old, path)
            table = R.parse_table(text, fmt, where=f"{path}, ",
                                  label_column=_source_label_column(boxes, label_column))
        except (AnnotationError, OSError) as exc:
            if not overwrite_unparsable:
                raise AnnotationError(
                    f"{path} was kept unchanged and the boxes were not saved: the existing "
                    f"sidecar cannot be read ({exc}). Fix the file by hand and reload it, or "
                    "move it aside (keep_aside) and save again, or save with "
                    "overwrite_unparsable=True to replace it"
                ) from None
            table = None
    ordered = sort_boxes(boxes) if table is None else boxes
    text, fmt = R.render_table(table, ordered, audio_name=Path(audio_path).name,
                               label_column=label_column)
    if old is not None and table is not None:
        try:
            if encode(text, fmt) == old:
                return path  # nothing changed
        except UnicodeEncodeError:
            pass
        backup = path.with_name(path.name + ORIGINAL_SUFFIX)
        if not os.path.lexists(backup) and old != R.plain_text(table.boxes).encode():
            atomic_write_bytes(backup, old)
    _write_table(path, text, fmt)
    return path


def _source_label_column(boxes: list[Box], requested: str | None) -> str | None:
    if requested is not None:
        return requested
    cols = {b.source.label_column for b in boxes if isinstance(b.source, R.RavenSource)}
    if len(cols) == 1:
        col = cols.pop()
        return "" if col is None else col
    return None


def keep_aside(path: str | Path) -> Path:
    """Rename a file to ``<name>.unreadable-<YYYYmmdd-HHMMSS>`` beside it; return the new path.

    For an unparsable sidecar the user wants to keep while starting afresh. A ``-1``, ``-2``,
    ... suffix makes the name unique when that name is taken.

    Raises
    ------
    AnnotationError
        ``path`` does not exist or cannot be renamed.
    """
    path = Path(path)
    if not os.path.lexists(path):
        raise AnnotationError(f"{path}: nothing to keep aside, the file does not exist")
    base = f"{path.name}.unreadable-{datetime.now():%Y%m%d-%H%M%S}"
    target, n = path.with_name(base), 0
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{base}-{n}")
    try:
        os.rename(path, target)
    except OSError as exc:
        raise AnnotationError(
            f"{path}: cannot rename it to {target.name} ({exc}); move it aside by hand"
        ) from None
    return target


# -- files -------------------------------------------------------------------------------------


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 (``\\n`` line ends as given) so that a reader sees the old or
    the new file, never a part of one; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`specview.fileio.atomic_write_bytes`).

    Raises
    ------
    AnnotationWriteError
        The write failed (also an :class:`OSError`); the previous file is unchanged and no
        temporary file is left behind.
    """
    try:
        fileio.atomic_write_bytes(path, data)
    except OSError as exc:
        raise AnnotationWriteError(
            f"{path}: could not write the file ({getattr(exc, 'strerror', None) or exc}); the "
            "previous file, if any, is unchanged; check free disk space and write permission, "
            "then save again"
        ) from exc


def _decode(data: bytes, path: Path) -> tuple[str, TextFormat]:
    try:
        return decode(data)
    except TextDecodeError as exc:
        raise AnnotationError(f"{path}: cannot read it as text: {exc}") from None


def _read_text(path: Path, what: str) -> tuple[str, TextFormat]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(
            f"{path}: cannot read {what} ({exc.strerror or exc}); check that it exists and is "
            "readable"
        ) from None
    return _decode(data, path)


def _number(cell: str, name: str, where: str, *, hint: str = "") -> float:
    """A number from a text cell (rules of :func:`specview.tabletext.parse_number`)."""
    try:
        return parse_number(cell)[0]
    except ValueError as exc:
        raise AnnotationError(f"{where}{name}: {exc}{hint}") from None


def _is_finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:
        return False
