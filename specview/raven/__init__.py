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

# The package's modules: table (a parsed table, its columns and the label rule), reading
# (text to boxes) and writing (boxes back into the table). Every public name is
# re-exported here: import from specview.raven.
from specview.raven.reading import parse_table
from specview.raven.table import (
    BEGIN,
    COORDINATES,
    DEFAULT_LABEL_COLUMN,
    DEFAULT_VIEW,
    END,
    FILE_COLUMNS,
    HIGH,
    LABEL_NAMES,
    LOW,
    OFFSET_COLUMN,
    STANDARD_COLUMNS,
    RavenSource,
    RavenTable,
    choose_label_column,
    file_name,
    same_recording,
)
from specview.raven.writing import (
    plain_text,
    render_table,
    table_from_sources,
    unedited,
)

__all__ = [
    "BEGIN",
    "COORDINATES",
    "DEFAULT_LABEL_COLUMN",
    "DEFAULT_VIEW",
    "END",
    "FILE_COLUMNS",
    "HIGH",
    "LABEL_NAMES",
    "LOW",
    "OFFSET_COLUMN",
    "RavenSource",
    "RavenTable",
    "STANDARD_COLUMNS",
    "choose_label_column",
    "file_name",
    "parse_table",
    "plain_text",
    "render_table",
    "same_recording",
    "table_from_sources",
    "unedited",
]
