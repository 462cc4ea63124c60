"""Ground-truth boxes: Raven selection tables, read strictly and written atomically."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from specview.errors import AnnotationError
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


def sidecar_path(audio_path: str | Path) -> Path:
    """``<stem>.Table.1.selections.txt`` beside the recording."""
    p = Path(audio_path)
    return p.with_name(p.stem + RAVEN_SUFFIX)


def validate_box(box: Box, *, where: str = "") -> Box:
    """Check a box is finite, ordered and non-negative; return it."""
    vals = (box.t0, box.t1, box.f0, box.f1)
    if not all(math.isfinite(v) for v in vals):
        raise AnnotationError(f"{where}box {vals} has a non-finite coordinate")
    if box.t1 < box.t0 or box.f1 < box.f0:
        raise AnnotationError(
            f"{where}box ends before it begins: time {box.t0}-{box.t1} s, freq {box.f0}-{box.f1} Hz"
        )
    if box.t0 < 0 or box.f0 < 0:
        raise AnnotationError(f"{where}box has a negative time or frequency: {vals}")
    return box


def read_raven(path: str | Path) -> list[Box]:
    """Read a Raven selection table.

    Rows that repeat a selection number in another view (Raven writes one row per view) are
    merged: the first row of each selection wins. The label comes from the ``Annotation``
    column, or else from the first column that is not one of Raven's standard ones.

    Raises
    ------
    AnnotationError
        Missing columns, non-numeric or inverted coordinates, naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AnnotationError(f"{path}: cannot read selection table ({exc})") from None
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = [h.strip() for h in lines[0].split("\t")]
    missing = [c for c in _NUMERIC if c not in header]
    if missing:
        raise AnnotationError(
            f"{path}: not a Raven selection table; missing column(s) {missing} in header {header}"
        )
    idx = {name: i for i, name in enumerate(header)}
    label_col = DEFAULT_LABEL_COLUMN if DEFAULT_LABEL_COLUMN in idx else None
    if label_col is None:
        extra = [h for h in header if h not in RAVEN_COLUMNS]
        label_col = extra[0] if extra else None
    boxes: list[Box] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) < len(header):
            cells += [""] * (len(header) - len(cells))
        sel = cells[idx["Selection"]].strip() if "Selection" in idx else str(lineno)
        if sel in seen:
            continue
        seen.add(sel)
        try:
            t0, t1, f0, f1 = (float(cells[idx[c]]) for c in _NUMERIC)
        except ValueError:
            raise AnnotationError(
                f"{path}, line {lineno}: non-numeric time/frequency in {cells!r}"
            ) from None
        label = cells[idx[label_col]].strip() if label_col else ""
        boxes.append(validate_box(Box(t0, t1, f0, f1, label), where=f"{path}, line {lineno}: "))
    return boxes


def format_raven(boxes: Iterable[Box], *, label_column: str = DEFAULT_LABEL_COLUMN) -> str:
    """Raven table text; numbers use Python's shortest exact representation."""
    rows = ["\t".join((*RAVEN_COLUMNS, label_column))]
    for i, b in enumerate(boxes, start=1):
        validate_box(b)
        label = b.label.replace("\t", " ").replace("\n", " ")
        rows.append(
            "\t".join(
                (str(i), "Spectrogram 1", "1", repr(float(b.t0)), repr(float(b.t1)),
                 repr(float(b.f0)), repr(float(b.f1)), label)
            )
        )
    return "\n".join(rows) + "\n"


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old or the new file, never a part.

    The text goes to a temporary file in the same folder, is flushed and fsynced, then renamed
    over the target.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_raven(path: str | Path, boxes: Iterable[Box]) -> None:
    """Write boxes as a Raven selection table, atomically."""
    atomic_write_text(path, format_raven(list(boxes)))
