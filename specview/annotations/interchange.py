"""Import and export in any of the formats: detecting a file's format, taking one recording's
boxes from a file, and splitting a multi-recording Raven table among recordings."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from specview import raven as R
from specview.annotations.audacity import _parse_audacity, write_audacity_labels
from specview.annotations.files import _LINE_BREAK, _read_text
from specview.annotations.json_format import _parse_json, write_boxes_json
from specview.annotations.raven_format import read_raven_table, write_raven
from specview.errors import AnnotationError, ParameterError
from specview.types import Box

#: ``fmt`` values of :func:`export_boxes` (and what :func:`detect_format` returns).
FORMATS = ("raven", "audacity", "json")


def detect_format(path: str | Path) -> str:
    """Which reader :func:`import_boxes` would use for ``path``: one of :data:`FORMATS`.

    ``.json`` files, or text starting with ``{``, are JSON; a first line naming a
    ``Begin Time`` column is a Raven table (a near-Raven header is refused by the Raven reader
    with the columns it needs); XML (Sonic Visualiser's ``.svl``) is refused; anything else is
    taken as Audacity labels.

    Raises
    ------
    AnnotationError
        The file cannot be read, or is a format specview does not read (named in the message).
    """
    path = Path(path)
    return _detect(path, _read_text(path, "annotation file")[0])


def _detect(path: Path, text: str) -> str:
    stripped = text.lstrip()
    if path.suffix.lower() == ".json" or stripped.startswith("{"):
        return "json"
    if stripped.startswith("<"):
        raise AnnotationError(
            f"{path}: an XML file (e.g. a Sonic Visualiser .svl layer), which specview does not "
            "read; in Sonic Visualiser export the layer as Audacity labels or a CSV, or use a "
            "Raven selection table"
        )
    first = next((ln for ln in _LINE_BREAK.split(text) if ln.strip()), "")
    return "raven" if "begin time" in first.casefold() else "audacity"


@dataclass(frozen=True)
class Imported:
    """Boxes imported for one recording from a file.

    Attributes
    ----------
    boxes : list of Box
        The recording's boxes, in file order.
    format : str
        One of :data:`FORMATS`.
    other_files : dict of str to int
        Boxes the file holds for other recordings (multi-recording Raven tables), by file name.
    label_column : str or None
        The Raven column labels came from.
    """

    boxes: list[Box]
    format: str
    other_files: dict[str, int]
    label_column: str | None = None


def import_table(path: str | Path, *, audio: str | Path | None = None,
                 nyquist: float | None = None, label_column: str | None = None) -> Imported:
    """Read the boxes of one recording from a Raven table, an Audacity file or a JSON file.

    Parameters
    ----------
    path : str or Path
        The format is found as in :func:`detect_format`.
    audio : str or Path, optional
        The recording: from a Raven table naming several recordings (``Begin File`` /
        ``Begin Path``) only its rows are taken, and the others are counted.
    nyquist : float, Hz, optional
        Upper edge of Audacity labels without a frequency band.
    label_column : str, optional
        Raven: the column labels come from (default: the documented rule).

    Raises
    ------
    AnnotationError
        The file cannot be read or parsed, naming the file and line.
    """
    path = Path(path)
    text, fmt = _read_text(path, "annotation file")
    kind = _detect(path, text)
    if kind == "json":
        return Imported(_parse_json(text, path), kind, {})
    if kind == "audacity":
        return Imported(_parse_audacity(text, path, nyquist), kind, {})
    try:
        table = R.parse_table(text, fmt, where=f"{path}, ", label_column=label_column)
    except AnnotationError as exc:
        msg = str(exc)
        raise AnnotationError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    if table is None:
        return Imported([], kind, {})
    boxes, others = table.for_recording(Path(audio).name if audio is not None else None)
    return Imported(boxes, kind, others, table.label_column)


def import_boxes(path: str | Path, *, nyquist: float | None = None,
                 audio: str | Path | None = None, label_column: str | None = None) -> list[Box]:
    """The boxes of :func:`import_table` (same parameters), in the file's order."""
    return import_table(path, audio=audio, nyquist=nyquist, label_column=label_column).boxes


def distribute(path: str | Path, audio_paths: Iterable[str | Path], *,
               label_column: str | None = None) -> tuple[dict[Path, list[Box]], dict[str, int]]:
    """Split a multi-recording Raven table among recordings.

    Returns
    -------
    (dict of Path to list of Box, dict of str to int)
        The boxes of each recording that has rows (matched as in
        :func:`specview.raven.same_recording`), and the count of boxes for file names that
        match none of ``audio_paths``.

    Raises
    ------
    AnnotationError
        The file is not a Raven table or cannot be parsed.
    """
    path = Path(path)
    table = read_raven_table(path, label_column=label_column)
    audio = [Path(a) for a in audio_paths]
    out: dict[Path, list[Box]] = {}
    unmatched: dict[str, int] = {}
    if table is None:
        return out, unmatched
    files = table.files
    names = [a.name for a in audio]
    for g in table.groups:
        if g.file is None:
            target = audio[0] if len(audio) == 1 else None
        else:
            target = next((a for a in audio if R.same_recording(g.file, a.name, files)
                           and (a.name in files or g.file not in names)), None)
        if target is None:
            key = g.file or "(no file named)"
            unmatched[key] = unmatched.get(key, 0) + 1
        else:
            out.setdefault(target, []).append(g.box)  # type: ignore[arg-type]
    return out, unmatched


def export_boxes(path: str | Path, boxes: Iterable[Box], *, fmt: str) -> None:
    """Write boxes atomically in one of :data:`FORMATS`, in the order given.

    Boxes read from a file keep what they carry from it: a Raven export of boxes read from one
    Raven table keeps that table's header, encoding and rows (in their file order; new boxes
    follow), so an unedited table exports back byte for byte; Audacity labels keep their
    number cells and bandless labels.

    Raises
    ------
    ParameterError
        An unknown ``fmt``.
    AnnotationError
        A box the format cannot hold (nothing is written).
    """
    writers = {"raven": write_raven, "audacity": write_audacity_labels, "json": write_boxes_json}
    if fmt not in writers:
        raise ParameterError(f"unknown annotation format fmt={fmt!r}; choose one of {FORMATS}")
    writers[fmt](path, list(boxes))
