"""A parsed Raven table and the boxes' sources; columns, recordings and the label-column rule
(see :mod:`specview.raven`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath, PureWindowsPath

from specview.errors import AnnotationError
from specview.tabletext import TextFormat, parse_number
from specview.types import Box

BEGIN, END, LOW, HIGH = "Begin Time (s)", "End Time (s)", "Low Freq (Hz)", "High Freq (Hz)"
COORDINATES = (BEGIN, END, LOW, HIGH)
STANDARD_COLUMNS = ("Selection", "View", "Channel", *COORDINATES)
DEFAULT_LABEL_COLUMN = "Annotation"
DEFAULT_VIEW = "Spectrogram 1"

#: Label column names tried, in this order, after ``Annotation`` (case-insensitive).
LABEL_NAMES = (
    "Species", "Class", "Label", "Type", "Call Type", "Sound Type", "Common Name", "Tags", "Tag",
    "Category", "Call", "Song Type", "Vocalization", "Behavior", "Sound", "Event", "Name",
)
FILE_COLUMNS = ("Begin Path", "Begin File")
OFFSET_COLUMN = "File Offset (s)"

_UNIT = re.compile(r"\([^()]*\)\s*$")
_FILEISH = re.compile(r"\b(file|path|folder|directory)s?\b", re.IGNORECASE)


@dataclass(frozen=True)
class RavenSource:
    """The rows a box was read from (kept on :attr:`Box.source`).

    Attributes
    ----------
    header : str
        The table's header line, as read: rows are only reused in a table with this header.
    lines : tuple of str
        The box's rows, as read (without line terminators).
    ends : tuple of str
        Their line terminators (``""`` for a last line without one), then the header's.
    index : int
        Position of the box's first row among the table's rows (keeps file order on export).
    fmt : TextFormat
    label_column : str or None
        The column the label was read from.
    original : tuple
        ``(t0, t1, f0, f1, label, channel, extra items)`` as read: a box still equal to it is
        unedited.
    offset : float, seconds
        ``Begin Time (s)`` minus the box's time in its recording (non-zero in file sequences).
    file : str or None
        The recording the row names (``Begin Path`` / ``Begin File``), if any.
    selection, views
        The selection cell and the views of the rows: how the box finds its rows again in a
        table it has already been saved to (whose rows then hold its earlier edits).
    """

    header: str
    lines: tuple[str, ...]
    ends: tuple[str, ...]
    index: int
    fmt: TextFormat
    label_column: str | None
    original: tuple
    offset: float = 0.0
    file: str | None = None
    selection: str = ""
    views: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return [h.strip() for h in self.header.split("\t")]


@dataclass
class _Group:
    rows: list[int]  # indices into RavenTable.lines
    views: list[str]
    selection: str
    file: str | None
    box: Box | None = None


@dataclass
class RavenTable:
    """A parsed Raven table: its lines as read, and the boxes grouped from its rows.

    Attributes
    ----------
    columns : list of str
        Header cells, stripped.
    header_index : int
        Index of the header in ``lines``.
    lines : list of (str, str)
        Every line of the file: content and terminator.
    fmt : TextFormat
    label_column : str or None
        The column labels are read from (see the module docstring).
    groups : list
        One per box, in file order.
    """

    columns: list[str]
    header_index: int
    lines: list[tuple[str, str]]
    fmt: TextFormat
    label_column: str | None
    groups: list[_Group] = field(default_factory=list)

    @property
    def header(self) -> str:
        return self.lines[self.header_index][0]

    @property
    def boxes(self) -> list[Box]:
        """Every box of the table, in file order."""
        return [g.box for g in self.groups]  # type: ignore[misc]

    @property
    def views(self) -> list[str]:
        """The views the table's rows are in, in order of first appearance."""
        seen: dict[str, None] = {}
        for g in self.groups:
            for v in g.views:
                seen.setdefault(v, None)
        return list(seen)

    @property
    def file_column(self) -> str | None:
        return next((c for c in FILE_COLUMNS if c in self.columns), None)

    @cached_property
    def files(self) -> list[str]:
        """The recordings the rows name (file names), in order of first appearance."""
        return list(dict.fromkeys(g.file for g in self.groups if g.file))

    @property
    def label_candidates(self) -> list[str]:
        """Columns that may hold labels: neither standard, measurement nor file columns."""
        return [c for c in self.columns if _is_annotation_column(c)]

    def belongs(self, group: _Group, audio_name: str | None) -> bool:
        """Whether ``group``'s rows are about the recording ``audio_name``."""
        if audio_name is None or group.file is None:
            return True
        files = self.files
        if len(files) <= 1:
            return True
        return same_recording(group.file, audio_name, files)

    def for_recording(self, audio_name: str | None) -> tuple[list[Box], dict[str, int]]:
        """The boxes of one recording, and how many boxes each other recording has."""
        mine, others = [], {}
        for g in self.groups:
            if self.belongs(g, audio_name):
                mine.append(g.box)
            else:
                others[g.file] = others.get(g.file, 0) + 1  # type: ignore[index]
        return mine, others


def same_recording(named: str, audio_name: str, files: Sequence[str] = ()) -> bool:
    """Whether a table's file cell ``named`` means the recording called ``audio_name``.

    The exact file name wins; then the name ignoring case; then the stem (``a.flac`` for
    ``a.wav``) when no other file of the table has that stem.
    """
    if named == audio_name:
        return True
    if audio_name in files:
        return False
    if named.casefold() == audio_name.casefold():
        return True
    stem = _stem(audio_name).casefold()
    return _stem(named).casefold() == stem and sum(
        _stem(f).casefold() == stem for f in files) <= 1


def file_name(cell: str) -> str | None:
    """The file name in a path cell, whatever the system that wrote it."""
    s = cell.strip().strip('"')
    if not s:
        return None
    return PureWindowsPath(s).name if "\\" in s else PurePosixPath(s).name


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _is_annotation_column(name: str) -> bool:
    return (name not in STANDARD_COLUMNS and bool(name) and not _UNIT.search(name)
            and not _FILEISH.search(name))


def choose_label_column(columns: Sequence[str], rows: Sequence[Sequence[str]],
                        requested: str | None = None) -> str | None:
    """The label column of a table (rule in the module docstring).

    Parameters
    ----------
    columns : sequence of str
        Header cells.
    rows : sequence of sequence of str
        The rows' cells, to tell text columns from numeric ones.
    requested : str, optional
        A column the user chose (matched ignoring case); ``""`` for "no label column".

    Raises
    ------
    AnnotationError
        ``requested`` is not a column of the table, or names a coordinate column.
    """
    if requested is not None:
        if requested == "":
            return None
        hit = next((c for c in columns if c == requested), None) or next(
            (c for c in columns if c.casefold() == requested.casefold()), None)
        if hit is None:
            raise AnnotationError(
                f"no column {requested!r} to take labels from; the table's columns are "
                f"{[c for c in columns if c]}"
            )
        if hit in STANDARD_COLUMNS:
            raise AnnotationError(f"column {hit!r} holds Raven's own values, not labels; "
                                  "choose another label column")
        return hit
    folded = {c.casefold(): c for c in reversed(columns)}
    for name in (DEFAULT_LABEL_COLUMN, *LABEL_NAMES):
        if name.casefold() in folded and _is_annotation_column(folded[name.casefold()]):
            return folded[name.casefold()]
    for i, c in enumerate(columns):
        if not _is_annotation_column(c):
            continue
        cells = [r[i].strip() for r in rows if i < len(r) and r[i].strip()]
        if cells and not all(_numeric(x) for x in cells):
            return c
    return None


def _numeric(cell: str) -> bool:
    try:
        parse_number(cell)
    except ValueError:
        return False
    return True
