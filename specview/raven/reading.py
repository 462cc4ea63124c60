"""Parsing a Raven table's text into rows grouped as boxes (see :mod:`specview.raven`)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from specview.errors import AnnotationError
from specview.raven.table import (
    COORDINATES,
    OFFSET_COLUMN,
    RavenSource,
    RavenTable,
    _Group,
    choose_label_column,
    file_name,
)
from specview.tabletext import UTF8, TextFormat, parse_number, split_lines
from specview.types import Box


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
