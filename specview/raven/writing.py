"""Writing boxes back into a Raven table, changing only what was edited (see
:mod:`specview.raven`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from specview.raven.reading import _cell, parse_table
from specview.raven.table import (
    BEGIN,
    DEFAULT_LABEL_COLUMN,
    DEFAULT_VIEW,
    END,
    HIGH,
    LOW,
    OFFSET_COLUMN,
    STANDARD_COLUMNS,
    RavenSource,
    RavenTable,
    _Group,
    same_recording,
)
from specview.tabletext import UTF8, TextFormat, common_newline, format_number, parse_number
from specview.types import Box


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
