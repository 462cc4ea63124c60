"""Raven selection tables, read and written back without losing a cell.

A table specview did not write is the user's. Reading one keeps, for every box, the rows it
came from; writing puts every row back as it was unless the user edited that box, and then
changes only the cells of what was edited. :mod:`specview.annotations` wraps this module for
sidecars, import and export.

What a table holds
------------------
Header
    The first non-blank line, tab-separated. ``Begin Time (s)``, ``End Time (s)``,
    ``Low Freq (Hz)`` and ``High Freq (Hz)`` are required (exact names, as Raven writes them);
    ``Selection``, ``View`` and ``Channel`` are optional; every other column is kept as it is.
Views
    Raven writes one row per view (``Spectrogram 1``, ``Waveform 1``, ...) of a selection. Rows
    with the same ``Selection`` number in different views are one box; a number repeated within
    one view, or a blank one, starts a box of its own (no row is ever dropped). The box's
    coordinates and label come from its first spectrogram-view row, else its first row.
Label column
    ``Annotation``, then the first of :data:`LABEL_NAMES` present (case-insensitive), then the
    first other column that holds text; never a measurement (a name ending in a unit such as
    ``(Hz)`` or ``(s)``), nor a file or path column. A caller may name another one.
Several recordings in one table
    With a ``Begin Path`` or ``Begin File`` column, each row names its recording (matched by
    file name, then ignoring case, then ignoring the extension); ``File Offset (s)``, where
    present, is the box's time in that recording (Raven's ``Begin Time (s)`` then counts from
    the start of the file sequence). A table that names a single recording belongs wholly to the
    clip whose sidecar it is.
Writing
    Untouched rows keep their bytes, order and line endings; the file keeps its encoding and
    byte-order mark. An edited box gets new coordinate, label, channel or extra cells in each of
    its rows (a cell that held the same value as the box's main row); a new box gets the next
    free selection number and one row per view of the table; a deleted box loses its rows in
    every view. Rows that belong to other recordings are kept. New numbers use Python's
    shortest exact representation, with a decimal comma where the cell had one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import PurePosixPath, PureWindowsPath

from specview.errors import AnnotationError
from specview.tabletext import (
    UTF8,
    TextFormat,
    common_newline,
    format_number,
    parse_number,
    split_lines,
)
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


# -- reading -----------------------------------------------------------------------------------


def parse_table(text: str, fmt: TextFormat = UTF8, *, where: str = "",
                label_column: str | None = None) -> RavenTable | None:
    """Parse a Raven table's text; None for a file with no header (blank).

    Parameters
    ----------
    text : str
    fmt : TextFormat
        How the text was encoded (kept for writing back).
    where : str
        The file's name for messages.
    label_column : str, optional
        See :func:`choose_label_column`.

    Raises
    ------
    AnnotationError
        A missing required column, a non-numeric, ambiguous, inverted or negative coordinate,
        naming the line and column.
    """
    lines = split_lines(text)
    header_index = next((i for i, (c, _) in enumerate(lines) if c.strip()), None)
    if header_index is None:
        return None
    columns = [h.strip() for h in lines[header_index][0].split("\t")]
    _check_header(columns, where, header_index + 1)
    idx: dict[str, int] = {}
    for i, c in enumerate(columns):
        idx.setdefault(c, i)
    rows = [(i, c.split("\t")) for i, (c, _) in enumerate(lines)
            if i > header_index and c.strip()]
    label_col = choose_label_column(columns, [r for _, r in rows], label_column)
    table = RavenTable(columns, header_index, lines, fmt, label_col)
    file_col = table.file_column
    by_selection: dict[str, list[_Group]] = {}
    for li, cells in rows:
        view = _cell(cells, idx.get("View"))
        sel = _cell(cells, idx.get("Selection")).strip()
        file = file_name(_cell(cells, idx[file_col])) if file_col else None
        group = None
        if sel:
            group = next((g for g in by_selection.get(sel, [])
                          if view not in g.views and g.file == file), None)
        if group is None:
            group = _Group([], [], sel, file)
            table.groups.append(group)
            if sel:
                by_selection.setdefault(sel, []).append(group)
        group.rows.append(li)
        group.views.append(view)
    for n, g in enumerate(table.groups):
        g.box = _group_box(table, g, idx, where, n)
    return table


def _check_header(columns: list[str], where: str, lineno: int) -> None:
    missing = [c for c in COORDINATES if c not in columns]
    if not missing:
        return
    key = {re.sub(r"[^a-z]", "", c.casefold().replace("(s)", "").replace("(hz)", "")): c
           for c in columns}
    near = [key[k] for k in ("begintime", "endtime", "lowfreq", "highfreq") if k in key]
    joined = "\t".join(columns)
    if len(columns) == 1 and ("," in joined or ";" in joined):
        hint = ("its header is not tab-separated; Raven tables separate columns with tabs "
                "(save from Raven, or export the spreadsheet as tab-delimited text)")
    elif near:
        hint = (f"column(s) {near} look like Raven's but are not spelled as Raven writes them; "
                f"rename them to exactly {list(COORDINATES)}")
    else:
        hint = f"the header must name {list(COORDINATES)}, tab-separated"
    raise AnnotationError(
        f"{where}line {lineno}: not a Raven selection table: missing column(s) {missing}; {hint}"
    )


def _cell(cells: Sequence[str], i: int | None) -> str:
    return cells[i] if i is not None and i < len(cells) else ""


def _group_box(table: RavenTable, g: _Group, idx: dict[str, int], where: str, n: int) -> Box:
    primary = next((k for k, v in enumerate(g.views) if v.strip().startswith("Spectrogram")), 0)
    li = g.rows[primary]
    cells = table.lines[li][0].split("\t")
    here = f"{where}line {li + 1}"
    vals = []
    for name in COORDINATES:
        i = idx[name]
        try:
            vals.append(parse_number(_cell(cells, i))[0])
        except ValueError as exc:
            raise AnnotationError(f"{here}, column {i + 1} ({name}): {exc}") from None
    t0, t1, f0, f1 = vals
    offset = 0.0
    oi = idx.get(OFFSET_COLUMN)
    if oi is not None and _cell(cells, oi).strip():
        try:
            fo = parse_number(cells[oi])[0]
        except ValueError as exc:
            raise AnnotationError(f"{here}, column {oi + 1} ({OFFSET_COLUMN}): {exc}") from None
        offset = t0 - fo
        t0, t1 = fo, t1 - offset
    label = ""
    if table.label_column is not None:
        li_idx = idx[table.label_column]
        label = _cell(cells, li_idx).strip()
        if not label:
            label = next((s for r in g.rows if (s := _cell(table.lines[r][0].split("\t"),
                                                            li_idx).strip())), "")
    chan_cell = _cell(cells, idx.get("Channel")).strip()
    channel = int(chan_cell) if chan_cell.isdigit() else None
    sel = int(g.selection) if g.selection.isdigit() else None
    skip = {*COORDINATES, "Selection", "View", "Channel", table.label_column}
    extra = {c: _cell(cells, i) for c, i in idx.items() if c not in skip}
    _validate(t0, t1, f0, f1, f"{here}: ")
    source = RavenSource(
        header=table.header,
        lines=tuple(table.lines[r][0] for r in g.rows),
        ends=(*(table.lines[r][1] for r in g.rows), table.lines[table.header_index][1]),
        index=n,
        fmt=table.fmt,
        label_column=table.label_column,
        original=(t0, t1, f0, f1, label, channel, tuple(extra.items())),
        offset=offset,
        file=g.file,
        selection=g.selection,
        views=tuple(g.views),
    )
    return Box(t0, t1, f0, f1, label, selection=sel, channel=channel, extra=extra, source=source)


def _validate(t0: float, t1: float, f0: float, f1: float, where: str) -> None:
    if t1 < t0 or f1 < f0:
        raise AnnotationError(
            f"{where}box ends before it begins: time {t0}-{t1} s, freq {f0}-{f1} Hz; swap the "
            "begin and end values or delete the row"
        )
    if t0 < 0 or f0 < 0:
        raise AnnotationError(
            f"{where}box has a negative time or frequency: time {t0}-{t1} s, freq {f0}-{f1} Hz;"
            " times start at 0 s and frequencies at 0 Hz"
        )


# -- writing -----------------------------------------------------------------------------------


def unedited(box: Box) -> bool:
    """Whether ``box`` still holds what its Raven row(s) held when read."""
    s = box.source
    return isinstance(s, RavenSource) and s.original == (
        box.t0, box.t1, box.f0, box.f1, box.label, box.channel, tuple(box.extra.items()))


def table_from_sources(boxes: Sequence[Box]) -> RavenTable | None:
    """A table holding just the rows of ``boxes`` read from one Raven table, else None.

    Used to write boxes read from a user's table to a new file with that table's header,
    encoding and row bytes.
    """
    sources = [b.source for b in boxes if isinstance(b.source, RavenSource)]
    if not sources or len({(s.header, s.fmt) for s in sources}) != 1:
        return None
    first = sources[0]
    nl = first.fmt.newline
    parts = [(first.header, first.ends[-1] or nl)]
    for s in sorted(sources, key=lambda s: s.index):
        parts += zip(s.lines, s.ends[:-1], strict=False)
    text = "".join(c + (e or nl) for c, e in parts[:-1]) + parts[-1][0] + parts[-1][1]
    return parse_table(text, first.fmt, label_column=first.label_column or "")


def render_table(table: RavenTable | None, boxes: Iterable[Box], *,
                 audio_name: str | None = None, label_column: str | None = None
                 ) -> tuple[str, TextFormat]:
    """The text of ``table`` holding exactly ``boxes`` for ``audio_name`` (see module docstring).

    Parameters
    ----------
    table : RavenTable or None
        The table on disk; None writes a new table (with the header of the boxes' source table
        when they all come from one, else Raven's standard columns plus ``Annotation`` and the
        boxes' extra columns).
    boxes : iterable of Box
        Every box of the recording, validated by the caller.
    audio_name : str, optional
        The recording's file name: rows of a multi-recording table that name another
        recording are kept untouched.
    label_column : str, optional
        Where the labels of new boxes go; default: the boxes' source column, else the table's.

    Returns
    -------
    (str, TextFormat)
    """
    boxes = list(boxes)
    if table is None:
        table = table_from_sources(boxes)
        if table is not None:
            audio_name = None
    if table is None:
        extras: dict[str, None] = {}
        for b in boxes:
            for k in b.extra:
                extras.setdefault(k, None)
        cols = [*STANDARD_COLUMNS, label_column or DEFAULT_LABEL_COLUMN,
                *(k for k in extras if k not in STANDARD_COLUMNS and k != label_column)]
        table = parse_table("\t".join(cols) + "\n", UTF8, label_column=cols[7])
    assert table is not None
    return _Writer(table, audio_name, label_column).render(boxes), table.fmt


class _Writer:
    def __init__(self, table: RavenTable, audio_name: str | None, label_column: str | None):
        self.t = table
        self.audio = audio_name
        self.columns = list(table.columns)
        self.added: list[str] = []
        self.label_column = label_column or table.label_column

    def col(self, name: str) -> int:
        """Index of column ``name``, appending it to the header when the table lacks it."""
        if name in self.columns:
            return self.columns.index(name)
        self.columns.append(name)
        self.added.append(name)
        return len(self.columns) - 1

    def render(self, boxes: list[Box]) -> str:
        t = self.t
        by_lines: dict[tuple[str, ...], list[int]] = {}
        by_key: dict[tuple, list[int]] = {}
        for gi, g in enumerate(t.groups):
            by_lines.setdefault(tuple(t.lines[r][0] for r in g.rows), []).append(gi)
            if g.selection:
                by_key.setdefault((g.selection, g.file, tuple(g.views)), []).append(gi)
        claimed: dict[int, Box] = {}
        new: list[Box] = []
        for b in boxes:
            gi = self.find_rows(b, by_lines, by_key, claimed)
            if gi is None:
                new.append(b)
            else:
                claimed[gi] = b
        row_text: dict[int, str | None] = {}
        for gi, g in enumerate(t.groups):
            if gi in claimed:
                b = claimed[gi]
                for r, text in zip(g.rows, self.edited(g, b), strict=True):
                    row_text[r] = text
            elif t.belongs(g, self.audio):
                for r in g.rows:
                    row_text[r] = None  # deleted with its box
        new_rows = self.new_rows(new, claimed)
        out: list[str] = []
        nl = common_newline(t.lines) if t.lines else t.fmt.newline
        for i, (content, end) in enumerate(t.lines):
            if i == t.header_index and self.added:
                content = content + "".join("\t" + c for c in self.added)
            if i in row_text:
                if row_text[i] is None:
                    continue
                content = row_text[i]  # type: ignore[assignment]
            out.append(content + end)
        if new_rows:
            if out and not out[-1].endswith(("\n", "\r")):
                out[-1] += nl
            out.extend(r + nl for r in new_rows)
        return "".join(out)

    def find_rows(self, b: Box, by_lines: dict, by_key: dict, claimed: dict) -> int | None:
        """The group of the table holding box ``b``'s rows: the rows as read, else (the box
        was saved since, with edits) the rows of its selection number in the same views."""
        s = b.source
        if not isinstance(s, RavenSource) or self.t.columns[:len(s.columns)] != s.columns:
            return None
        free = [gi for gi in by_lines.get(s.lines, []) if gi not in claimed]
        if not free and s.selection:
            free = [gi for gi in by_key.get((s.selection, s.file, s.views), [])
                    if gi not in claimed]
        if not free:
            return None
        return min(free, key=lambda gi: abs(gi - s.index))

    def edited(self, g: _Group, b: Box) -> list[str]:
        """The rows of box ``b`` (found at group ``g``): as read, with its edits written in.

        The rows are rebuilt from what was read, not from the file's current rows, so an edit
        undone gives the bytes that were read back."""
        t, s = self.t, b.source
        assert isinstance(s, RavenSource)
        rows = list(s.lines)
        if unedited(b):
            return rows
        o_t0, o_t1, o_f0, o_f1, o_label, o_chan, o_extra = s.original
        o_extra = dict(o_extra)
        idx = {c: i for i, c in reversed(list(enumerate(t.columns)))}
        changes: list[tuple[str, str, object]] = []  # (column, original cell test, new value)
        for name, old, new in ((BEGIN, o_t0 + s.offset, b.t0 + s.offset),
                               (END, o_t1 + s.offset, b.t1 + s.offset),
                               (LOW, o_f0, b.f0), (HIGH, o_f1, b.f1)):
            if old != new:
                changes.append((name, old, new))
        if OFFSET_COLUMN in idx and o_t0 != b.t0:
            changes.append((OFFSET_COLUMN, o_t0, b.t0))
        out = []
        label_col = s.label_column
        for text in rows:
            cells = text.split("\t")
            for name, old, new in changes:
                i = idx[name]
                cell = _cell(cells, i)
                try:
                    val, comma = parse_number(cell)
                except ValueError:
                    continue
                if _near(val, old):
                    cells = _set(cells, i, format_number(new, comma=comma))
            if b.label != o_label:
                i = idx[label_col] if label_col is not None else self.col(
                    self.label_column or DEFAULT_LABEL_COLUMN)
                cells = _set(cells, i, _clean(b.label))  # a box has one label in every view
            if b.channel != o_chan and "Channel" in idx:
                cells = _set(cells, idx["Channel"], "" if b.channel is None else str(b.channel))
            for k, v in b.extra.items():
                if o_extra.get(k) != v:
                    i = idx[k] if k in idx else self.col(k)
                    if k not in o_extra or _cell(cells, i) == o_extra[k]:
                        cells = _set(cells, i, _clean(v))
            out.append("\t".join(cells))
        return out

    def new_rows(self, boxes: list[Box], claimed: dict[int, Box]) -> list[str]:
        if not boxes:
            return []
        t = self.t
        used = {int(g.selection) for g in t.groups if g.selection.isdigit()}
        views = t.views or [DEFAULT_VIEW]
        channel = next((str(b.channel) for b in t.boxes if b.channel is not None), "1")
        offsets = {b.source.file: b.source.offset for b in t.boxes
                   if isinstance(b.source, RavenSource) and b.source.file}
        rows = []
        label_name = self.label_column or (
            DEFAULT_LABEL_COLUMN if any(b.label for b in boxes) else None)
        label_i = self.col(label_name) if label_name else None
        top = max(used, default=0)
        for b in boxes:
            if b.selection is not None and b.selection > 0 and b.selection not in used:
                sel = b.selection
            else:
                sel = top + 1
            used.add(sel)
            top = max(top, sel)
            offset = offsets.get(self.audio_file_cell(), 0.0) if t.file_column else 0.0
            for view in views:
                cells = [""] * len(self.columns)
                values = {"Selection": str(sel), "View": view,
                          "Channel": str(b.channel) if b.channel is not None else channel,
                          BEGIN: format_number(b.t0 + offset), END: format_number(b.t1 + offset),
                          LOW: format_number(b.f0), HIGH: format_number(b.f1)}
                for k, v in b.extra.items():
                    if k not in values and k != self.label_column:
                        values[k] = _clean(v)
                if t.file_column and self.audio and not b.extra.get(t.file_column):
                    values[t.file_column] = self.audio
                if OFFSET_COLUMN in self.columns and not b.extra.get(OFFSET_COLUMN):
                    values[OFFSET_COLUMN] = format_number(b.t0)
                for k, v in values.items():
                    if k in ("Selection", "View", "Channel") and k not in self.columns:
                        continue
                    i = self.col(k)
                    while len(cells) <= i:
                        cells.append("")
                    cells[i] = v
                if label_i is not None:
                    while len(cells) <= label_i:
                        cells.append("")
                    cells[label_i] = _clean(b.label)
                rows.append("\t".join(cells))
        return rows

    def audio_file_cell(self) -> str | None:
        if not self.audio:
            return None
        return next((f for f in self.t.files if same_recording(f, self.audio, self.t.files)),
                    None)


def _near(a: float, b: float) -> bool:
    return a == b or abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def _set(cells: list[str], i: int, value: str) -> list[str]:
    cells = list(cells)
    while len(cells) <= i:
        cells.append("")
    cells[i] = value
    return cells


def _clean(text: str) -> str:
    """A cell value: Raven has no escaping, so tabs, line breaks (and NUL) become spaces."""
    s = str(text)
    for ch in ("\t", "\r", "\n", "\0"):
        s = s.replace(ch, " ")
    return s


def plain_text(boxes: Iterable[Box]) -> str:
    """The table specview writes for ``boxes`` with nothing of their sources (canonical form)."""
    plain = [Box(b.t0, b.t1, b.f0, b.f1, b.label) for b in boxes]
    return render_table(None, plain)[0]
