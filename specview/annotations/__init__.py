"""Ground-truth boxes: the box editor's rules and the files that hold boxes.

This is the headless core of the annotation tool: the GUI reports drags and edits in seconds
and Hz, and calls these functions to clamp boxes, order them, and read or write them.

Formats
-------
Raven selection table (the sidecar ``<stem>.Table.1.selections.txt``)
    Read and written by :mod:`specview.raven`, which keeps every column, row, view, selection
    number, channel, encoding and line ending of a user's table (its docstring has the rules:
    label column, views, tables of several recordings). Numbers of new cells use Python's
    shortest exact representation, so a write-read round trip is exact. Raven has no escaping:
    tabs and line breaks in labels are written as spaces.
Audacity labels (what Audacity's *Export Labels* writes)
    One line ``t0<TAB>t1<TAB>label`` per label (a point label has ``t0 == t1``), optionally
    followed by a frequency line ``\\<TAB>f0<TAB>f1``. A label without a frequency line, or
    with a negative frequency (Audacity writes ``-1`` for "not set"), has no band: it is read
    as reaching down to 0 Hz and up to ``nyquist``, and written back without a band unless its
    band was edited; when such a label needs ``nyquist`` and none is given the file is refused
    rather than guessed. Numbers are written as the file held them, else with Audacity's 6
    decimals or more where the value needs them: nothing is rounded. Labels holding a tab or a
    line break cannot be written (the format has no escaping) and are refused with
    :class:`~specview.errors.AnnotationError`.
Encodings and numbers
    UTF-8 with or without BOM, UTF-16 and Windows-1252 are read (:mod:`specview.tabletext`);
    thousands separators and other ambiguous numbers are refused with the line and column.
JSON (``specview-boxes``, version 1)
    ::

        {
          "format": "specview-boxes",
          "version": 1,
          "audio": "clip.wav",
          "boxes": [
            {"t0": 0.5, "t1": 1.25, "f0": 100.0, "f1": 2000.0, "label": "whine"}
          ]
        }

    ``format``, ``version`` and ``boxes`` are required; ``audio`` (a string or ``null``) and a
    box's ``label`` (default ``""``), ``selection`` and ``channel`` (whole numbers) and
    ``extra`` (an object of text: the other columns of a Raven row) are optional; any other key
    is refused, so a misspelt key is reported instead of ignored. Numbers are written with Python's ``repr``, so every float
    round-trips exactly; any label round-trips exactly (JSON escapes it). The file is only
    parsed, never evaluated.

Sidecars nothing can lose
-------------------------
:func:`load_sidecar` never raises for a bad file: it reports the parse error in
:class:`SidecarState`. :func:`save_sidecar` refuses to replace a sidecar it cannot parse unless
told to, and :func:`keep_aside` renames such a file out of the way. Every file is written with
:func:`atomic_write_text`: a reader sees the old or the new file, never a part of one.
"""

from __future__ import annotations

# The package's modules: boxes (the editor's rules), files (text and atomic writes), one
# module per format (raven_format, audacity, json_format), interchange (import and export
# in any format) and sidecar (a recording's own Raven table). Every public name is
# re-exported here: import from specview.annotations.
from specview.annotations.audacity import (
    AudacitySource,
    format_audacity_labels,
    read_audacity_labels,
    write_audacity_labels,
)
from specview.annotations.boxes import (
    MIN_BANDWIDTH,
    MIN_DURATION,
    clamp_box,
    sort_boxes,
    validate_box,
)
from specview.annotations.files import (
    AnnotationWriteError,
    atomic_write_bytes,
    atomic_write_text,
)
from specview.annotations.interchange import (
    FORMATS,
    Imported,
    detect_format,
    distribute,
    export_boxes,
    import_boxes,
    import_table,
)
from specview.annotations.json_format import (
    JSON_FORMAT,
    JSON_VERSION,
    format_boxes_json,
    read_boxes_json,
    write_boxes_json,
)
from specview.annotations.raven_format import (
    RAVEN_COLUMNS,
    format_raven,
    read_raven,
    read_raven_table,
    write_raven,
)
from specview.annotations.sidecar import (
    ORIGINAL_SUFFIX,
    RAVEN_SUFFIX,
    SidecarState,
    keep_aside,
    load_sidecar,
    read_sidecar,
    save_sidecar,
    sidecar_path,
)
from specview.errors import AnnotationError, ParameterError
from specview.raven import DEFAULT_LABEL_COLUMN
from specview.types import Box

__all__ = [
    "AnnotationError",
    "AnnotationWriteError",
    "AudacitySource",
    "Box",
    "DEFAULT_LABEL_COLUMN",
    "FORMATS",
    "Imported",
    "JSON_FORMAT",
    "JSON_VERSION",
    "MIN_BANDWIDTH",
    "MIN_DURATION",
    "ORIGINAL_SUFFIX",
    "ParameterError",
    "RAVEN_COLUMNS",
    "RAVEN_SUFFIX",
    "SidecarState",
    "atomic_write_bytes",
    "atomic_write_text",
    "clamp_box",
    "detect_format",
    "distribute",
    "export_boxes",
    "format_audacity_labels",
    "format_boxes_json",
    "format_raven",
    "import_boxes",
    "import_table",
    "keep_aside",
    "load_sidecar",
    "read_audacity_labels",
    "read_boxes_json",
    "read_raven",
    "read_raven_table",
    "read_sidecar",
    "save_sidecar",
    "sidecar_path",
    "sort_boxes",
    "validate_box",
    "write_audacity_labels",
    "write_boxes_json",
    "write_raven",
]
