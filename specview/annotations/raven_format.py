"""Raven selection tables as files: read and written through :mod:`specview.raven`."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from specview import raven as R
from specview.annotations.boxes import validate_box
from specview.annotations.files import _read_text, _write_table
from specview.errors import AnnotationError
from specview.raven import DEFAULT_LABEL_COLUMN
from specview.types import Box

RAVEN_COLUMNS = R.STANDARD_COLUMNS


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
