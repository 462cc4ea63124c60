"""Staged writes: :class:`OutputSet` (files written to temporaries, renamed into place
together), :func:`staged` runs and :func:`make_temp_dir` (see "Staged runs" in the notes of
:mod:`specview.fileio`)."""

from __future__ import annotations

import contextlib
import errno as errno_
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from specview.errors import ParameterError
from specview.fileio.checks import resolve_target
from specview.fileio.failures import OutputWriteError, _is_write_failure, _write_error
from specview.fileio.manifest import sha256_file
from specview.fileio.orphans import CLEAN_INTERVAL, _create_temp, _temp_name, clean_orphans

__all__ = [
    "OutputSet",
    "atomic_folder",
    "make_temp_dir",
    "staged",
]


_ACTIVE: ContextVar[OutputSet | None] = ContextVar("specview_fileio_outputs", default=None)


@contextlib.contextmanager
def staged(*, protect: Iterable = ()) -> Iterator[OutputSet]:
    """Hold back every write of the block and put all of them in place when it succeeds.

    See "Staged runs" in the notes of :mod:`specview.fileio`. Yields the :class:`OutputSet` collecting the
    writes; a block inside another one joins it (and its ``protect`` paths are added).

    Parameters
    ----------
    protect : iterable of paths
        Inputs of the run: writing any of them raises
        :class:`~specview.errors.ParameterError` (the run is then aborted).
    """
    outer = _ACTIVE.get()
    if outer is not None:
        outer.protect(protect)
        yield outer
        return
    outputs = OutputSet(protect=protect, staged=True)
    token = _ACTIVE.set(outputs)
    try:
        yield outputs
    except BaseException:
        _ACTIVE.reset(token)
        outputs.abort()
        raise
    _ACTIVE.reset(token)
    outputs.commit()


@dataclass
class _Entry:
    path: Path  # as asked for (messages)
    target: Path  # symlinks resolved
    temp: Path
    fresh_mode: int  # what a new file gets: 0666 less the umask


class OutputSet:
    """Files written to temporaries, renamed into place together by :meth:`commit`.

    Mostly used through :func:`staged` and :func:`atomic_output`.

    Parameters
    ----------
    protect : iterable of paths
        Files (or folders) that must not be written.
    staged : bool
        Whether messages speak of a run (several files) or of one file.
    """

    def __init__(self, *, protect: Iterable = (), staged: bool = False) -> None:
        self._entries: dict[Path, _Entry] = {}
        self._created: list[Path] = []
        self._protected: dict[tuple[int, int], str] = {}
        self._deletions: list[tuple[Path, str | None]] = []
        self._folders: dict[Path, Path] = {}  # target folder -> the temporary tree standing for it
        self._staged = staged
        self._done = False
        self.protect(protect)

    @property
    def targets(self) -> list[Path]:
        """The files that :meth:`commit` will put in place, in order."""
        return [e.target for e in self._entries.values()]

    def temp_of(self, path: str | Path) -> Path | None:
        """The temporary file holding the new content of ``path`` (None if not written)."""
        e = self._entries.get(resolve_target(path))
        return e.temp if e is not None else None

    def protect(self, paths: Iterable) -> None:
        """Refuse writing any of ``paths`` from now on (missing paths are ignored)."""
        for p in paths or ():
            if p is None:
                continue
            try:
                st = os.stat(p)
            except (OSError, ValueError):
                continue
            self._protected[(st.st_dev, st.st_ino)] = str(p)

    @contextlib.contextmanager
    def output(self, path: str | Path) -> Iterator[Path]:
        """The temporary file standing for ``path`` (see :func:`atomic_output`)."""
        if self._done:
            raise RuntimeError("this OutputSet was already committed or aborted")
        try:
            entry = self._prepare(Path(path))
        except OSError as exc:
            raise _write_error(Path(path), exc, staged=self._staged) from exc
        try:
            yield entry.temp
        except BaseException as exc:
            self._drop(entry)
            if _is_write_failure(exc):
                raise _write_error(entry.path, exc, staged=self._staged,
                                   folder=entry.temp.parent) from exc
            raise

    def folder(self, path: str | Path) -> Path:
        """A new empty temporary folder standing for the folder ``path`` (a tree such as a
        chunked array store, written by a library file by file): :meth:`commit` puts it in
        place of ``path`` (the previous tree is removed only then), :meth:`abort` removes it."""
        if self._done:
            raise RuntimeError("this OutputSet was already committed or aborted")
        target = resolve_target(path)
        if target.exists() and not target.is_dir():
            raise _write_error(Path(path), NotADirectoryError(
                errno_.ENOTDIR, "it is a file, not a folder"), staged=self._staged)
        self._check_protected(Path(path), target)
        try:
            self._make_folder(target.parent)
        except OSError as exc:
            raise _write_error(Path(path), exc, staged=self._staged) from exc
        old = self._folders.pop(target, None)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
        tmp = make_temp_dir(target)
        self._folders[target] = tmp
        return tmp

    def write_bytes(self, path: str | Path, data: bytes) -> None:
        with self.output(path) as tmp:
            with open(tmp, "wb") as f:
                f.write(data)

    def delete_on_commit(self, path: str | Path, *, sha256: str | None = None) -> None:
        """Remove ``path`` once the set is committed (a file an earlier run wrote and this one
        does not); with ``sha256``, only if the file still has that content."""
        self._deletions.append((Path(path), sha256))

    def discard(self, path: str | Path) -> None:
        """Forget the new content of ``path``: the file is left as it is."""
        entry = self._entries.get(resolve_target(path))
        if entry is not None:
            self._drop(entry)

    def commit(self) -> None:
        """Fsync every temporary file, then rename each over its target, in order.

        Raises
        ------
        OutputWriteError
            A file could not be synced (nothing was replaced) or renamed (the message says how
            many were replaced before it); every remaining temporary file is removed.
        """
        if self._done:
            return
        entries = list(self._entries.values())
        for e in entries:
            try:
                _finish_temp(e)
            except OSError as exc:
                self.abort()
                raise _write_error(e.path, exc, staged=self._staged) from exc
            except BaseException:  # Ctrl+C: no file replaced, no temporary file left
                self.abort()
                raise
        folders: dict[Path, None] = {}
        for k, e in enumerate(entries):
            try:
                os.replace(e.temp, e.target)
            except OSError as exc:
                self._entries = {x.target: x for x in entries[k:]}
                self.abort()
                err = _write_error(e.path, exc, staged=False)
                if k:
                    err = OutputWriteError(
                        f"{err}; {k} other file(s) of this run were already replaced",
                        path=e.path, errno=exc.errno, cause=err.strerror)
                raise err from exc
            except BaseException:  # Ctrl+C between renames: the rest stay as they were
                self._entries = {x.target: x for x in entries[k:]}
                self.abort()
                raise
            folders[e.target.parent] = None
        for target, tmp in list(self._folders.items()):
            try:
                _swap_folder(tmp, target)
            except OSError as exc:
                self.abort()
                raise _write_error(target, exc, staged=False) from exc
            del self._folders[target]
            folders[target.parent] = None
        self._done = True
        self._entries.clear()
        for path, digest in self._deletions:
            with contextlib.suppress(OSError):
                if digest is None or sha256_file(path) == digest:
                    os.unlink(path)
                    folders[path.parent] = None
        for folder in folders:
            _fsync_folder(folder)

    def abort(self) -> None:
        """Remove every temporary file, and the folders this set created if they are empty."""
        for e in list(self._entries.values()):
            self._drop(e)
        for tmp in self._folders.values():
            shutil.rmtree(tmp, ignore_errors=True)
        self._folders.clear()
        for d in reversed(self._created):
            with contextlib.suppress(OSError):
                os.rmdir(d)
        self._created.clear()
        self._done = True

    # -- internals -------------------------------------------------------------------------

    def _prepare(self, path: Path) -> _Entry:
        target = resolve_target(path)
        if target.is_dir():
            raise IsADirectoryError(errno_.EISDIR, "it is a folder, not a file")
        self._check_protected(path, target)
        self._make_folder(target.parent)
        old = self._entries.pop(target, None)
        if old is not None:
            self._drop(old)
        clean_orphans(target.parent, every=CLEAN_INTERVAL)
        fd, tmp = _create_temp(target)
        try:
            fresh = stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
        entry = _Entry(path, target, tmp, fresh)
        self._entries[target] = entry
        return entry

    def _check_protected(self, path: Path, target: Path) -> None:
        if not self._protected:
            return
        try:
            st = os.stat(target)
        except OSError:
            return
        src = self._protected.get((st.st_dev, st.st_ino))
        if src is not None:
            raise ParameterError(
                f"{path}: is an input of this run ({src}); writing it would destroy the input, "
                "so nothing was written; choose another output path"
            )

    def _make_folder(self, folder: Path) -> None:
        missing = []
        p = folder
        while not os.path.lexists(p):
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
        if os.path.lexists(p) and not p.is_dir():
            raise NotADirectoryError(errno_.ENOTDIR, f"{p} is a file, not a folder")
        for d in reversed(missing):
            try:
                os.mkdir(d)
            except FileExistsError:
                continue
            self._created.append(d)

    def _drop(self, entry: _Entry) -> None:
        with contextlib.suppress(OSError):
            os.unlink(entry.temp)
        if self._entries.get(entry.target) is entry:
            del self._entries[entry.target]


def make_temp_dir(target: str | Path) -> Path:
    """A new empty folder beside ``target`` named like a temporary file, to build a tree in.

    It gets the permissions of a new folder (``0777`` less the umask, unlike
    :func:`tempfile.mkdtemp`'s ``0700``); if its writer is killed, the next write into the
    folder holding ``target`` removes it (see the notes of :mod:`specview.fileio`).

    Raises
    ------
    OutputWriteError
        It could not be made.
    """
    target = Path(target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        clean_orphans(parent, every=CLEAN_INTERVAL)
        for _ in range(100):
            tmp = parent / _temp_name(target.name, suffix="")
            try:
                os.mkdir(tmp, 0o777)
                return tmp
            except FileExistsError:
                continue
        raise FileExistsError(errno_.EEXIST, f"no free temporary name beside {target}")
    except OSError as exc:
        raise _write_error(target, exc, staged=True) from exc


def _swap_folder(tmp: Path, target: Path) -> None:
    """Put the tree ``tmp`` in place of the folder ``target``: the old tree is renamed aside
    first and removed once the new one is in place (a failed rename puts it back)."""
    aside = None
    if target.exists():
        aside = target.parent / _temp_name(target.name, suffix="")
        os.rename(target, aside)
    try:
        os.rename(tmp, target)
    except BaseException:
        if aside is not None:
            os.rename(aside, target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """A temporary folder to build the tree ``path`` in (``with atomic_folder("a.zarr") as
    tmp: ...``): when the block ends normally the tree replaces ``path`` (inside
    :func:`staged`: when the staged block ends); when it raises, the tree is removed and the
    previous one stays. A killed writer leaves a temporary folder that the next write into the
    same parent folder removes."""
    outer = _ACTIVE.get()
    if outer is not None:
        yield outer.folder(path)
        return
    outputs = OutputSet()
    try:
        yield outputs.folder(path)
    except BaseException:
        outputs.abort()
        raise
    outputs.commit()


def _finish_temp(e: _Entry) -> None:
    """Sync the temporary file and give it the target's mode (and owner), or a new file's."""
    fd = os.open(e.temp, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
        try:
            st = os.stat(e.target)
        except FileNotFoundError:
            st = None
        mode = stat.S_IMODE(st.st_mode) if st is not None else e.fresh_mode
        own = os.fstat(fd)
        if st is not None and hasattr(os, "fchown") and (st.st_uid, st.st_gid) != (
            own.st_uid, own.st_gid
        ):
            with contextlib.suppress(OSError):
                os.fchown(fd, st.st_uid, st.st_gid)
        if stat.S_IMODE(own.st_mode) != mode:
            os.chmod(e.temp, mode)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable; best effort (not possible on every system)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
