"""Write failures: :class:`OutputWriteError` and its one-line messages naming the path and
the cause."""

from __future__ import annotations

import errno as errno_
import os
import re
from pathlib import Path

from specview.errors import SpecviewError

__all__ = [
    "OutputWriteError",
]


class OutputWriteError(SpecviewError, OSError):
    """An output file could not be written; the previous file at that path is unchanged.

    Also an :class:`OSError` (``errno`` holds the cause's number where known), so callers that
    handle I/O errors keep working.

    Attributes
    ----------
    path : Path or None
        The file that could not be written.
    strerror : str or None
        The cause alone ("No space left on device"), for callers that word their own message.
    """

    def __init__(self, message: str, *, path: str | Path | None = None,
                 errno: int | None = None, cause: str | None = None) -> None:
        super().__init__(message)
        self.path = Path(path) if path is not None else None
        self.errno = errno
        self.strerror = cause

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# -- messages ----------------------------------------------------------------------------------

# Errors a writer library raises for a failed write. Programming errors (TypeError, ...) are
# not among them: they keep their traceback.
_NOT_WRITE_FAILURES = (SpecviewError, TypeError, ValueError, LookupError, AttributeError,
                       NameError, AssertionError, ArithmeticError, ImportError)


def _is_write_failure(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return not isinstance(exc, SpecviewError)
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_WRITE_FAILURES)


def _strerror(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _cause(exc: BaseException, folder: Path | None) -> tuple[str, int | None]:
    if isinstance(exc, OSError):
        return _strerror(exc), exc.errno
    # libsndfile says "System error" (or nothing), safetensors "... (os error 28)"
    m = re.search(r"os error (\d+)", str(exc))
    if m:
        n = int(m.group(1))
        return os.strerror(n), n
    if folder is not None:
        try:
            vfs = os.statvfs(folder)
            if vfs.f_bavail * vfs.f_frsize < (1 << 20):
                return os.strerror(errno_.ENOSPC), errno_.ENOSPC
        except (OSError, AttributeError):
            pass
    return f"{type(exc).__name__}: {_strerror(exc)}", None


_HINTS = {
    errno_.ENOSPC: "; free some space and run again",
    errno_.EDQUOT: "; free some space and run again",
    errno_.EACCES: "; choose a folder you can write to",
    errno_.EPERM: "; choose a folder you can write to",
    errno_.EROFS: "; choose a folder you can write to",
}


def _write_error(path: Path, exc: BaseException, *, staged: bool,
                 folder: Path | None = None) -> OutputWriteError:
    cause, num = _cause(exc, folder if folder is not None else path.parent)
    rest = ("nothing of this run was put in place: the previous files are unchanged" if staged
            else "the previous file, if any, is unchanged")
    return OutputWriteError(
        f"{path}: could not write the file ({cause}); {rest}{_HINTS.get(num, '')}",
        path=path, errno=num, cause=cause)
