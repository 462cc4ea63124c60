"""Reading annotation files as text and writing them atomically (shared by every format)."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from specview import fileio
from specview.errors import AnnotationError, SpecviewWarning
from specview.tabletext import TextDecodeError, TextFormat, decode, encode, parse_number

# Only CR and LF end a line in these files; str.splitlines would also split a label at
# characters such as U+2028 or a form feed, which the writers leave in place.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class AnnotationWriteError(AnnotationError, OSError):
    """A file could not be written; the previous file at that path is unchanged.

    Also an :class:`OSError`, so callers that handle I/O errors keep working.
    """


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 (``\\n`` line ends as given) so that a reader sees the old or
    the new file, never a part of one; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (:func:`specview.fileio.atomic_write_bytes`).

    Raises
    ------
    AnnotationWriteError
        The write failed (also an :class:`OSError`); the previous file is unchanged and no
        temporary file is left behind.
    """
    try:
        fileio.atomic_write_bytes(path, data)
    except OSError as exc:
        raise AnnotationWriteError(
            f"{path}: could not write the file ({getattr(exc, 'strerror', None) or exc}); the "
            "previous file, if any, is unchanged; check free disk space and write permission, "
            "then save again"
        ) from exc


def _write_table(path: Path, text: str, fmt: TextFormat) -> bytes:
    """Encode ``text`` as ``fmt`` and write it atomically; return the bytes written.

    A character the file's encoding cannot hold (a new label in a Windows-1252 table) switches
    the file to UTF-8 with a byte-order mark rather than dropping it, with a warning. So does
    Windows-1252 text whose bytes would read back as other text: bytes that happen to be valid
    UTF-8 (``Â¡`` is ``C2 A1``, UTF-8 for ``¡``) are read as UTF-8, so an edit that removes the
    file's last byte invalid in UTF-8 would otherwise change every such cell of the table.
    """
    try:
        data = encode(text, fmt)
    except UnicodeEncodeError as exc:
        warnings.warn(
            f"{path}: {text[exc.start:exc.end]!r} cannot be written in {fmt.name}; the table is "
            "saved as UTF-8 with a byte-order mark instead",
            SpecviewWarning, stacklevel=3)
        data = encode(text, TextFormat("utf-8", True, fmt.newline))
    else:
        if not fmt.bom and decode(data)[0] != text:
            warnings.warn(
                f"{path}: in {fmt.name} the table's bytes would read back as UTF-8, changing its "
                "text; it is saved as UTF-8 with a byte-order mark instead",
                SpecviewWarning, stacklevel=3)
            data = encode(text, TextFormat("utf-8", True, fmt.newline))
    atomic_write_bytes(path, data)
    return data


def _decode(data: bytes, path: Path) -> tuple[str, TextFormat]:
    try:
        return decode(data)
    except TextDecodeError as exc:
        raise AnnotationError(f"{path}: cannot read it as text: {exc}") from None


def _read_text(path: Path, what: str) -> tuple[str, TextFormat]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(
            f"{path}: cannot read {what} ({exc.strerror or exc}); check that it exists and is "
            "readable"
        ) from None
    return _decode(data, path)


def _number(cell: str, name: str, where: str, *, hint: str = "") -> float:
    """A number from a text cell (rules of :func:`specview.tabletext.parse_number`)."""
    try:
        return parse_number(cell)[0]
    except ValueError as exc:
        raise AnnotationError(f"{where}{name}: {exc}{hint}") from None
