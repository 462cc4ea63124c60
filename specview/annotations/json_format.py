"""``specview-boxes`` JSON files (version 1); the schema is in :mod:`specview.annotations`."""

from __future__ import annotations

import json
import json.decoder
import json.scanner
import re
from bisect import bisect_right
from collections.abc import Iterable
from pathlib import Path

from specview.annotations.boxes import validate_box
from specview.annotations.files import _read_text, atomic_write_text
from specview.errors import AnnotationError, ParameterError
from specview.types import Box

JSON_FORMAT = "specview-boxes"
JSON_VERSION = 1
_JSON_KEYS = ("format", "version", "audio", "boxes")
_BOX_KEYS = ("t0", "t1", "f0", "f1")
_OPTIONAL_BOX_KEYS = ("label", "selection", "channel", "extra")


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
