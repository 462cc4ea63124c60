"""The Raven sidecar of a recording (``<stem>.Table.1.selections.txt``): loaded without
raising, saved without losing anything, and moved aside when it cannot be read."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from specview import raven as R
from specview.annotations.boxes import sort_boxes, validate_box
from specview.annotations.files import _decode, _write_table, atomic_write_bytes
from specview.annotations.raven_format import read_raven_table
from specview.errors import AnnotationError
from specview.tabletext import encode
from specview.types import Box

RAVEN_SUFFIX = ".Table.1.selections.txt"
#: Kept once beside a user's table before specview first rewrites it.
ORIGINAL_SUFFIX = ".orig"


def sidecar_path(audio_path: str | Path) -> Path:
    """``<stem>.Table.1.selections.txt`` beside the recording."""
    p = Path(audio_path)
    return p.with_name(p.stem + RAVEN_SUFFIX)


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
