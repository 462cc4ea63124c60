"""Ground-truth boxes: the box editor's rules and the files that hold boxes.

This is the headless core of the annotation tool: the GUI reports drags and edits in seconds
and Hz, and calls these functions to clamp boxes, order them, and read or write them.

Formats
-------
Raven selection table (the sidecar ``<stem>.Table.1.selections.txt``)
    Tab-separated text with a header row ``Selection, View, Channel, Begin Time (s),
    End Time (s), Low Freq (Hz), High Freq (Hz), Annotation``. Numbers are written with
    Python's shortest exact representation, so a write-read round trip is exact. Raven has no
    escaping: tabs and line breaks in labels are written as spaces, and labels are stripped of
    surrounding whitespace when read.
Audacity labels (what Audacity's *Export Labels* writes)
    One line ``t0<TAB>t1<TAB>label`` per label (a point label has ``t0 == t1``), optionally
    followed by a frequency line ``\\<TAB>f0<TAB>f1``. Numbers have 6 decimals, so a round trip
    holds the values rounded to 6 decimals and write-read-write is byte-identical. A label
    without a frequency line, or with a negative frequency (Audacity writes ``-1`` for "not
    set"), has no band: it is read as reaching down to 0 Hz and up to ``nyquist``; when such a
    label needs ``nyquist`` and none is given the file is refused rather than guessed. Labels
    holding a tab or a line break cannot be written (the format has no escaping; Audacity
    would read a different label) and are refused with :class:`~specview.errors.AnnotationError`.
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
    box's ``label`` (default ``""``) are optional; any other key is refused, so a misspelt key
    is reported instead of ignored. Numbers are written with Python's ``repr``, so every float
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

import contextlib
import json
import json.decoder
import json.scanner
import math
import os
import re
import secrets
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from specview.errors import AnnotationError, ParameterError
from specview.types import Box

RAVEN_SUFFIX = ".Table.1.selections.txt"
RAVEN_COLUMNS = (
    "Selection",
    "View",
    "Channel",
    "Begin Time (s)",
    "End Time (s)",
    "Low Freq (Hz)",
    "High Freq (Hz)",
)
_NUMERIC = RAVEN_COLUMNS[3:]
DEFAULT_LABEL_COLUMN = "Annotation"

#: Smallest box the editor keeps, in seconds and in Hz (see :func:`clamp_box`).
MIN_DURATION = 0.01
MIN_BANDWIDTH = 10.0

#: ``fmt`` values of :func:`export_boxes` (and what :func:`detect_format` returns).
FORMATS = ("raven", "audacity", "json")

JSON_FORMAT = "specview-boxes"
JSON_VERSION = 1
_JSON_KEYS = ("format", "version", "audio", "boxes")
_BOX_KEYS = ("t0", "t1", "f0", "f1")

# Only CR and LF end a line in these files; str.splitlines would also split a label at
# characters such as U+2028 or a form feed, which the writers leave in place.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LABEL_BREAKERS = ("\t", "\r", "\n")


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
        Highest frequency of the clip (half its sample rate).
    min_duration : float, seconds
        Shortest box kept.
    min_bandwidth : float, Hz
        Narrowest box kept.

    Returns
    -------
    Box
        ``0 <= t0 <= t1 <= duration``, ``0 <= f0 <= f1 <= nyquist``,
        ``t1 - t0 >= min_duration``, ``f1 - f0 >= min_bandwidth``; same label.

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
    return Box(t0, t1, f0, f1, box.label)


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


def read_raven(path: str | Path) -> list[Box]:
    """Read a Raven selection table.

    Rows that repeat a selection number in another view (Raven writes one row per view) are
    merged: the first row of each selection wins. The label comes from the ``Annotation``
    column, or else from the first column that is not one of Raven's standard ones.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    list of Box
        In the file's order; empty for an empty file or a header alone.

    Raises
    ------
    AnnotationError
        Unreadable file, missing columns, non-numeric or inverted coordinates, naming the file
        and line.
    """
    path = Path(path)
    return _parse_raven(_read_text(path, "selection table"), path)


def _parse_raven(text: str, path: Path) -> list[Box]:
    lines = [(n, ln) for n, ln in enumerate(_LINE_BREAK.split(text), start=1) if ln.strip()]
    if not lines:
        return []
    header_no, header_line = lines[0]
    header = [h.strip() for h in header_line.split("\t")]
    missing = [c for c in _NUMERIC if c not in header]
    if missing:
        raise AnnotationError(
            f"{path}, line {header_no}: not a Raven selection table; missing column(s) {missing} "
            f"in header {header}; the header must name {list(RAVEN_COLUMNS)}, tab-separated"
        )
    idx = {name: i for i, name in enumerate(header)}
    label_col = DEFAULT_LABEL_COLUMN if DEFAULT_LABEL_COLUMN in idx else None
    if label_col is None:
        extra = [h for h in header if h not in RAVEN_COLUMNS]
        label_col = extra[0] if extra else None
    boxes: list[Box] = []
    seen: set[str] = set()
    for lineno, line in lines[1:]:
        where = f"{path}, line {lineno}: "
        cells = line.split("\t")
        if len(cells) < len(header):
            cells += [""] * (len(header) - len(cells))
        sel = cells[idx["Selection"]].strip() if "Selection" in idx else str(lineno)
        if sel in seen:
            continue
        seen.add(sel)
        t0, t1, f0, f1 = (_number(cells[idx[c]], c, where) for c in _NUMERIC)
        label = cells[idx[label_col]].strip() if label_col else ""
        boxes.append(validate_box(Box(t0, t1, f0, f1, label), where=where))
    return boxes


def format_raven(boxes: Iterable[Box], *, label_column: str = DEFAULT_LABEL_COLUMN) -> str:
    """Raven table text; numbers use Python's shortest exact representation.

    Tabs and line breaks in labels become spaces (Raven has no escaping). No boxes gives the
    header alone, which records "annotated, no boxes".

    Raises
    ------
    AnnotationError
        A box that is non-finite, inverted or negative (nothing is written).
    """
    rows = ["\t".join((*RAVEN_COLUMNS, label_column))]
    for i, b in enumerate(boxes, start=1):
        validate_box(b, where=f"box {i} ({b.label!r}): ")
        label = str(b.label)
        for ch in _LABEL_BREAKERS:
            label = label.replace(ch, " ")
        rows.append(
            "\t".join(
                (str(i), "Spectrogram 1", "1", repr(float(b.t0)), repr(float(b.t1)),
                 repr(float(b.f0)), repr(float(b.f1)), label)
            )
        )
    return "\n".join(rows) + "\n"


def write_raven(path: str | Path, boxes: Iterable[Box]) -> None:
    """Write boxes as a Raven selection table, atomically, in the order given."""
    atomic_write_text(path, format_raven(list(boxes)))


# -- Audacity labels ---------------------------------------------------------------------------


def read_audacity_labels(path: str | Path, *, nyquist: float | None = None) -> list[Box]:
    """Read an Audacity label file (with or without frequency lines).

    Parameters
    ----------
    path : str or Path
    nyquist : float, Hz, optional
        Upper edge given to labels without a frequency band (no frequency line, or a negative
        upper frequency). A negative lower frequency reads as 0 Hz.

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
    return _parse_audacity(_read_text(path, "label file"), path, nyquist)


def _parse_audacity(text: str, path: Path, nyquist: float | None) -> list[Box]:
    if nyquist is not None and (not _is_finite(nyquist) or nyquist <= 0):
        raise ParameterError(f"nyquist={nyquist!r} must be a positive number of Hz (sr / 2)")
    boxes: list[Box] = []
    # (line number, t0, t1, label) of a label line whose frequency line may follow
    pending: tuple[int, float, float, str] | None = None

    def finish(f0: float | None, f1: float | None, freq_lineno: int | None) -> None:
        lineno, t0, t1, label = pending  # type: ignore[misc]
        where = f"{path}, line {freq_lineno or lineno}: "
        lo = 0.0 if f0 is None or f0 < 0 else f0
        if f1 is None or f1 < 0:
            if nyquist is None:
                raise AnnotationError(
                    f"{path}, line {lineno}: label {label!r} has no frequency band, and no "
                    "nyquist frequency was given to read it as covering the whole band; pass "
                    "nyquist=sample_rate/2 (e.g. import_boxes(path, nyquist=sr / 2))"
                )
            hi = float(nyquist)
        else:
            hi = f1
        boxes.append(validate_box(Box(t0, t1, lo, hi, label), where=where))

    for lineno, line in enumerate(_LINE_BREAK.split(text), start=1):
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
            finish(_number(cells[1], "low frequency", where),
                   _number(cells[2], "high frequency", where), lineno)
            pending = None
            continue
        if pending is not None:
            finish(None, None, None)
            pending = None
        if len(cells) < 2 or len(cells) > 3:
            raise AnnotationError(
                f"{where}malformed label line {line!r} ({len(cells)} tab-separated field(s)); "
                "expected 't0<TAB>t1<TAB>label' as Audacity's Export Labels writes it"
            )
        t0 = _number(cells[0], "start time", where)
        t1 = _number(cells[1], "end time", where)
        _check_times(t0, t1, where)  # time errors belong to this line, not the frequency line
        pending = (lineno, t0, t1, cells[2] if len(cells) == 3 else "")
    if pending is not None:
        finish(None, None, None)
    return boxes


def _check_times(t0: float, t1: float, where: str) -> None:
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise AnnotationError(f"{where}box time {t0}-{t1} s is non-finite; write finite seconds")
    if t1 < t0:
        raise AnnotationError(
            f"{where}box ends before it begins: time {t0}-{t1} s; swap the two times or delete "
            "the label"
        )
    if t0 < 0:
        raise AnnotationError(f"{where}box has a negative time: {t0}-{t1} s; times start at 0 s")


def format_audacity_labels(boxes: Iterable[Box]) -> str:
    """Audacity label text: every box on a label line and a frequency line, 6 decimals.

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
                f"box {i} ({b.t0}-{b.t1} s): label {label!r} holds a tab or a line break, which "
                "Audacity label files cannot hold; rename the box or export as JSON"
            )
        out.append(f"{_six(b.t0)}\t{_six(b.t1)}\t{label}\n\\\t{_six(b.f0)}\t{_six(b.f1)}\n")
    return "".join(out)


def write_audacity_labels(path: str | Path, boxes: Iterable[Box]) -> None:
    """Write boxes as an Audacity label file, atomically, in the order given."""
    atomic_write_text(path, format_audacity_labels(list(boxes)))


def _six(x: float) -> str:
    # "+ 0.0" writes -0.0 as 0.000000, as Audacity would
    return f"{float(x) + 0.0:.6f}"


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
        item = {k: float(getattr(b, k)) for k in _BOX_KEYS}
        item["label"] = b.label
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
    return _parse_json(_read_text(path, "JSON box file"), path)


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

    def at(node: object, fallback: int = 1) -> str:
        line = _line_at(text, node.pos) if isinstance(node, _Located | _LocatedList) else fallback
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
            f"{at(items, _line_at(text, doc.pos))}\"boxes\" is {_json_kind(items)}; it must be "
            "a list of boxes: [{...}, ...]"
        )
    list_line = _line_at(text, items.pos) if isinstance(items, _LocatedList) else 1
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
        unknown = sorted(set(item) - {*_BOX_KEYS, "label"})
        if unknown:
            raise AnnotationError(
                f"{where}unknown key(s) {unknown}; a box has t0, t1, f0, f1 and label"
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
        boxes.append(validate_box(Box(*values, label), where=where))
    return boxes


# -- import / export ---------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Which reader :func:`import_boxes` would use for ``path``: one of :data:`FORMATS`.

    ``.json`` files, or text starting with ``{``, are JSON; a first line naming
    ``Begin Time (s)`` is a Raven table; anything else is taken as Audacity labels.

    Raises
    ------
    AnnotationError
        The file cannot be read.
    """
    path = Path(path)
    return _detect(path, _read_text(path, "annotation file"))


def _detect(path: Path, text: str) -> str:
    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return "json"
    first = next((ln for ln in _LINE_BREAK.split(text) if ln.strip()), "")
    return "raven" if "Begin Time (s)" in first else "audacity"


def import_boxes(path: str | Path, *, nyquist: float | None = None) -> list[Box]:
    """Read boxes from a Raven table, an Audacity label file or a JSON box file.

    Parameters
    ----------
    path : str or Path
        The format is found as in :func:`detect_format`.
    nyquist : float, Hz, optional
        Upper edge of Audacity labels without a frequency band (see
        :func:`read_audacity_labels`); unused for the other formats.

    Returns
    -------
    list of Box
        In the file's order.

    Raises
    ------
    AnnotationError
        The file cannot be read or parsed, naming the file and line.
    """
    path = Path(path)
    text = _read_text(path, "annotation file")
    kind = _detect(path, text)
    if kind == "json":
        return _parse_json(text, path)
    if kind == "raven":
        return _parse_raven(text, path)
    return _parse_audacity(text, path, nyquist)


def export_boxes(path: str | Path, boxes: Iterable[Box], *, fmt: str) -> None:
    """Write boxes, sorted with :func:`sort_boxes`, atomically in one of :data:`FORMATS`.

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
    writers[fmt](path, sort_boxes(boxes))


# -- sidecars ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SidecarState:
    """What the Raven sidecar of a recording holds.

    Attributes
    ----------
    path : Path
        The sidecar's path (whether or not it exists).
    boxes : list of Box
        Its boxes; empty when there is no sidecar or it cannot be parsed.
    error : str or None
        Why the sidecar cannot be parsed; None when it was read, or when there is none.
    """

    path: Path
    boxes: list[Box]
    error: str | None


def load_sidecar(audio_path: str | Path) -> SidecarState:
    """Read the Raven sidecar of a recording; never raises for a missing or bad file.

    Parameters
    ----------
    audio_path : str or Path
        The recording; its sidecar is :func:`sidecar_path` of it.

    Returns
    -------
    SidecarState
        No sidecar: no boxes, no error. An unparsable one: no boxes and the parse message in
        ``error`` (then :func:`save_sidecar` keeps the file unless told otherwise).
    """
    path = sidecar_path(audio_path)
    if not os.path.lexists(path):
        return SidecarState(path, [], None)
    try:
        return SidecarState(path, read_raven(path), None)
    except AnnotationError as exc:
        return SidecarState(path, [], str(exc))


def save_sidecar(
    audio_path: str | Path, boxes: Iterable[Box], *, overwrite_unparsable: bool = False
) -> Path:
    """Write a recording's boxes to its Raven sidecar, sorted, atomically.

    An empty list writes the header alone, so "every box deleted" is recorded and not confused
    with "never annotated" (no sidecar).

    Parameters
    ----------
    audio_path : str or Path
    boxes : iterable of Box
    overwrite_unparsable : bool
        Replace an existing sidecar that cannot be parsed. Off by default: such a file is kept.

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
    text = format_raven(sort_boxes(boxes))  # validate every box before touching the disk
    if not overwrite_unparsable and os.path.lexists(path):
        state = load_sidecar(audio_path)
        if state.error is not None:
            raise AnnotationError(
                f"{path} was kept unchanged and the boxes were not saved: the existing sidecar "
                f"cannot be read ({state.error}). Fix the file by hand and reload it, or move it "
                "aside (keep_aside) and save again, or save with overwrite_unparsable=True to "
                "replace it"
            )
    atomic_write_text(path, text)
    return path


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
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never a part.

    The text goes to a temporary file in the same folder, is flushed and fsynced, then renamed
    over the target (the folder is fsynced too, where the system allows). A file that existed
    keeps its permission bits; a new one gets the usual ones (0666 less the umask).

    Raises
    ------
    AnnotationWriteError
        The write failed (also an :class:`OSError`); the previous file is unchanged and no
        temporary file is left behind.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = None
        fd, tmp = _create_temp(path)
    except OSError as exc:
        raise _write_error(path, exc) from exc
    try:
        try:
            f = os.fdopen(fd, "w", encoding="utf-8", newline="\n")
        except BaseException:
            os.close(fd)
            raise
        with f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _write_error(path, exc) from exc
        raise
    _fsync_folder(path.parent)


def _create_temp(path: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its 0600 mode would end up on the renamed file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; best effort (not possible on every system)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_error(path: Path, exc: OSError) -> AnnotationWriteError:
    return AnnotationWriteError(
        f"{path}: could not write the file ({exc.strerror or exc}); the previous file, if any, "
        "is unchanged; check free disk space and write permission, then save again"
    )


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(
            f"{path}: cannot read {what} ({exc}); check that it exists and is UTF-8 text"
        ) from None


def _number(cell: str, name: str, where: str) -> float:
    """A number from a text cell; a decimal comma is accepted (older Audacity, some locales)."""
    s = cell.strip()
    if "," in s and "." not in s:
        s = s.replace(",", ".")
    try:
        return float(s)
    except ValueError:
        raise AnnotationError(
            f"{where}non-numeric {name} {cell!r}; write a number (seconds or Hz)"
        ) from None


def _is_finite(value: object) -> bool:
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except TypeError:
        return False
