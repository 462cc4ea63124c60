"""The atomic writers: :func:`atomic_write_bytes`, :func:`atomic_write_text` and
:func:`atomic_output` (see "Atomic" in the notes of :mod:`specview.fileio`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from specview.fileio.checks import resolve_target
from specview.fileio.staging import _ACTIVE, OutputSet

__all__ = [
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
]


# -- the writers ------------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes, *, protect: Iterable = ()) -> Path:
    """Write ``data`` to ``path`` atomically (see the notes of :mod:`specview.fileio`).

    Parameters
    ----------
    path : str or Path
        The file to write; missing folders are created. A symlink is written through.
    data : bytes
    protect : iterable of paths
        Inputs that must not be overwritten (:class:`~specview.errors.ParameterError`).

    Returns
    -------
    Path
        The file written (the symlink's target when ``path`` is a symlink).

    Raises
    ------
    OutputWriteError
        The write failed; the previous file is unchanged and no temporary file is left.
    """
    with atomic_output(path, protect=protect) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
    return resolve_target(path)


def atomic_write_text(
    path: str | Path,
    text: str,
    *,
    encoding: str = "utf-8",
    newline: str | None = "\n",
    protect: Iterable = (),
) -> Path:
    """Write ``text`` to ``path`` atomically, encoded with ``encoding``.

    Parameters
    ----------
    path : str or Path
        The file to write; missing folders are created. A symlink is written through.
    text : str
    encoding : str
        Any Python codec; ``utf-8-sig`` and ``utf-16`` write their byte-order mark.
    newline : {"\\n", "", "\\r\\n", "\\r", None}
        As for :func:`open`: ``"\\n"`` (the default) and ``""`` write the text exactly as
        given, with no translation of line endings (so a text already holding ``"\\r\\n"``
        keeps it); ``"\\r\\n"`` or ``"\\r"`` replace every ``"\\n"`` with it; ``None`` with
        :data:`os.linesep`.
    protect : iterable of paths
        Inputs that must not be overwritten.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    UnicodeEncodeError
        ``text`` holds a character ``encoding`` cannot represent; nothing was written.
    ValueError
        ``newline`` is not one of the values above.
    OutputWriteError
        The write failed; the previous file is unchanged and no temporary file is left.
    """
    if newline not in (None, "", "\n", "\r", "\r\n"):
        raise ValueError(f"illegal newline value: {newline!r}")
    if newline is None:
        newline = os.linesep
    if newline not in ("", "\n"):
        text = text.replace("\n", newline)
    data = text.encode(encoding)  # before touching the disk
    return atomic_write_bytes(path, data, protect=protect)


@contextlib.contextmanager
def atomic_output(path: str | Path, *, protect: Iterable = ()) -> Iterator[Path]:
    """A temporary file to write ``path`` through, for writers that need a file name.

    ``with atomic_output("maps/a.npz") as tmp: np.savez(tmp, ...)``. The temporary file exists
    (empty), lies in the target's folder and ends with the target's suffix. When the block ends
    normally it is fsynced and renamed over ``path`` (inside :func:`staged`: when the staged
    block ends); when it raises, the temporary file is removed and the previous file stays.

    Raises
    ------
    OutputWriteError
        The temporary file could not be made, or the block raised an :class:`OSError` or an
        error of a writer library (libsndfile, safetensors...); the cause is named.
    ParameterError
        ``path`` is one of ``protect``.
    """
    outer = _ACTIVE.get()
    if outer is not None:
        outer.protect(protect)
        with outer.output(path) as tmp:
            yield tmp
        return
    outputs = OutputSet(protect=protect)
    try:
        with outputs.output(path) as tmp:
            yield tmp
    except BaseException:
        outputs.abort()
        raise
    outputs.commit()
