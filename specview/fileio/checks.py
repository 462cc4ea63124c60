"""Checks of output paths before any work: a folder where a file goes, a file in the way of
a folder, no write permission, an output that is one of the inputs."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path

from specview.errors import ParameterError
from specview.fileio.failures import OutputWriteError, _strerror
from specview.fileio.orphans import _create_temp

__all__ = [
    "check_output_file",
    "check_output_folder",
    "refuse_same_file",
    "resolve_target",
]


# -- checks before any work --------------------------------------------------------------------


def resolve_target(path: str | Path) -> Path:
    """``path`` with symlinks followed: the file a write through it replaces."""
    path = Path(path)
    if path.is_symlink():
        return Path(os.path.realpath(path))
    return path


def refuse_same_file(out: str | Path, inputs: Iterable, *, what: str | None = "--out") -> None:
    """Refuse an output that is one of the inputs (the same path, link or file).

    Parameters
    ----------
    out : str or Path
        The output file or folder.
    inputs : iterable of paths
        Input files and folders (None entries are skipped).
    what : str or None
        How the output is named in the message (the option; None: the path alone).

    Raises
    ------
    ParameterError
        ``out`` is the same file or folder as an input.
    """
    for inp in inputs or ():
        if inp is None:
            continue
        if _same_file(Path(out), Path(inp)):
            kind = "folder" if Path(inp).is_dir() else "file"
            raise ParameterError(
                f"{_named(what, out)}: is the input {kind} {inp}; writing there would overwrite "
                "the input, so nothing was done; choose another output path"
            )


def check_output_file(path: str | Path, *, inputs: Iterable = (),
                      what: str | None = "--out") -> None:
    """Check, before any work, that the file ``path`` can be written.

    Raises
    ------
    ParameterError
        ``path`` is an input, an existing folder, or lies under a file.
    OutputWriteError
        Its folder (or the nearest existing one above it) cannot be written in.
    """
    path = Path(path)
    refuse_same_file(path, inputs, what=what)
    target = resolve_target(path)
    if target.is_dir():
        raise ParameterError(
            f"{_named(what, path)}: is a folder; give the name of the file to write")
    _check_folder_part(path, target.parent, what)


def check_output_folder(path: str | Path, *, inputs: Iterable = (),
                        what: str | None = "--out") -> None:
    """Check, before any work, that results can be written into the folder ``path``.

    Raises
    ------
    ParameterError
        ``path`` is an input, an existing file, or lies under a file.
    OutputWriteError
        It (or the nearest existing folder above it) cannot be written in.
    """
    path = Path(path)
    refuse_same_file(path, inputs, what=what)
    if os.path.lexists(path) and not path.is_dir():
        raise ParameterError(
            f"{_named(what, path)}: exists and is not a folder; give a folder for the results"
        )
    _check_folder_part(path, path, what)


def _check_folder_part(path: Path, folder: Path, what: str | None) -> None:
    p = folder
    while not os.path.lexists(p) and p.parent != p:
        p = p.parent
    if not p.is_dir():
        raise ParameterError(f"{_named(what, path)}: {p} is a file, not a folder")
    try:
        fd, tmp = _create_temp(p / "probe")
    except OSError as exc:
        raise OutputWriteError(
            f"{_named(what, path)}: cannot write in {p} ({_strerror(exc)}); nothing was done; "
            "choose a folder you can write to", path=path, errno=exc.errno, cause=_strerror(exc)) from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _named(what: str | None, path: Path | str) -> str:
    return f"{what} {path}" if what else str(path)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        pass
    try:
        return os.path.realpath(a) == os.path.realpath(b)
    except (OSError, ValueError):
        return False
