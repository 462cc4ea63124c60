"""The generic layout's per-clip facts, ``test/meta.csv``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

from specview.errors import DatasetError

#: Optional per-clip facts of the generic layout, ``test/meta.csv``.
META_FILE = "meta.csv"
#: meta.csv columns read as numbers (an empty cell means "not known" and is left out).
_META_FLOATS = ("level_db", "t0", "t1", "f0", "f1", "source_event_t0", "source_event_t1")


def _parse_meta_value(path: Path, lineno: int, column: str, cell: str) -> object:
    if column in _META_FLOATS:
        try:
            value = float(cell)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise DatasetError(
                f"{path}, line {lineno}: column {column!r} must be a finite number, got "
                f"{cell!r}; fix the value or leave the cell empty"
            )
        return value
    if column == "label":
        if cell not in ("0", "1"):
            raise DatasetError(
                f"{path}, line {lineno}: label must be 0 (normal) or 1 (anomalous), got "
                f"{cell!r}; fix the value or leave the cell empty"
            )
        return int(cell)
    return cell


def read_meta_csv(path: str | Path) -> dict[str, dict]:
    """Read a ``meta.csv``: ``{file name: {column: value}}``.

    The header must hold a ``file`` column. Cells of ``level_db``, ``t0``, ``t1``, ``f0``,
    ``f1`` (and EnvMix's ``source_event_t0``, ``source_event_t1``) are read as floats and
    ``label`` as 0/1; other columns stay strings. Empty cells are left out of a row's dict.

    Raises
    ------
    DatasetError
        Unreadable file, no ``file`` column, a row with too many or too few cells, an empty or
        repeated file name, or a bad number, naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); fix or remove the file") from None
    try:
        rows = list(csv.reader(text.splitlines()))
    except csv.Error as exc:
        raise DatasetError(f"{path}: not a valid CSV file ({exc})") from None
    numbered = [(i, r) for i, r in enumerate(rows, start=1) if any(c.strip() for c in r)]
    if not numbered:
        return {}
    _, header = numbered[0]
    header = [h.strip() for h in header]
    if "file" not in header:
        raise DatasetError(
            f"{path}, line {numbered[0][0]}: no 'file' column in header {header}; the first "
            "line must name the columns, one of them 'file'"
        )
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes or "" in header:
        raise DatasetError(
            f"{path}, line {numbered[0][0]}: empty or repeated column name(s) "
            f"{dupes or ['']} in header {header}"
        )
    out: dict[str, dict] = {}
    for lineno, cells in numbered[1:]:
        if len(cells) != len(header):
            raise DatasetError(
                f"{path}, line {lineno}: {len(cells)} cell(s) but the header has "
                f"{len(header)} ({', '.join(header)})"
            )
        row = dict(zip(header, (c.strip() for c in cells), strict=True))
        name = Path(row.pop("file").replace("\\", "/")).name
        if not name:
            raise DatasetError(f"{path}, line {lineno}: the 'file' cell is empty")
        if name in out:
            raise DatasetError(f"{path}, line {lineno}: {name!r} is listed a second time")
        out[name] = {
            col: _parse_meta_value(path, lineno, col, cell) for col, cell in row.items() if cell
        }
    return out
