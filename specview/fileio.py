"""Output files: the one writer behind every file specview writes (results, models, WAVs...).

Nothing a user already has is lost when specview writes, or fails to write, a file.

Guarantees
----------
Atomic
    The content goes to a temporary file beside the target (same folder, hence same file
    system), is flushed and fsynced, then renamed over the target; the folder is fsynced too
    where the system allows. A reader, or a later run after a crash or ``kill -9``, sees the
    old file or the new one, never a part of either.
Failure changes nothing
    A failed write (full disk, no permission, a writer library raising) removes its temporary
    file, leaves the previous file byte-identical and raises :class:`OutputWriteError`, one line
    naming the path and the cause.
Symlinks are written through
    A target that is a symbolic link has the file it points to replaced; the link stays.
    (A hard link is not followed: the other names keep the previous content.)
Permissions
    A file that existed keeps its permission bits (and, where allowed, its owner and group);
    a new one gets ``0666`` less the umask. The temporary file is created with
    ``os.open(..., 0o666)``, so the kernel applies the umask (and any default ACL) itself; the
    process umask is never changed to be read, which would race with other threads.
    (``tempfile.mkstemp`` gives ``0600``, which the renamed file would keep.)
Orphans are removed
    Temporary files are named ``.<name>.<pid>-<host><random>.tmp<suffix>``: ``<suffix>`` is
    the target's own (``.npz``, ``.wav``, ``.png``), because ``np.savez`` appends ``.npz`` to a
    name without it and soundfile and matplotlib choose the format by extension. A write into a
    folder first removes the temporary files (and staging folders) there that a killed write
    left: those whose writer process on this machine no longer runs, those of other machines
    older than :data:`STALE_SECONDS`, and files of the temporary names of earlier specview
    versions (``.<name>.<8 characters>.tmp`` of ``.safetensors``, ``.txt`` and ``.json``
    files) older than :data:`LEGACY_SECONDS`. Nothing that
    does not match these names is ever touched. A folder is scanned on the first write of a
    process and then at most every :data:`CLEAN_INTERVAL` seconds.

Staged runs
-----------
A command writing several files (``score``: ``scores.csv`` and ``maps/*.npz``; ``evaluate``;
``compare``; the demo datasets) runs its writes inside :func:`staged`: every write made
through this module in that block (in the same thread or async context) goes to its temporary
file and stays there; when the block ends without an exception all of them are fsynced and
then renamed into place, in the order written; on any exception all are removed and any folder
the block created is removed again if it is still empty. A run that fails part-way (a
full disk, an unreadable input, Ctrl+C) therefore leaves the previous results byte-identical and
no partial file, and a killed run leaves only temporary files that the next write removes.
Only the final renames are not one atomic step: a failure among them (very unlikely: a rename
in one folder needs no space) is reported with the number of files already replaced. Nested
blocks join the outermost one. Inside a block, reading a target gives its previous content.

Before any work, commands check their outputs with :func:`check_output_file` or
:func:`check_output_folder` (existing folder where a file goes, a file in the way of a folder,
no write permission) and :func:`refuse_same_file` (an output that is one of the inputs).
"""

from __future__ import annotations

import contextlib
import errno as errno_
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import time
import zlib
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from specview.errors import ParameterError, SpecviewError

__all__ = [
    "CLEAN_INTERVAL",
    "LEGACY_SECONDS",
    "MANIFEST_NAME",
    "STALE_SECONDS",
    "OutputSet",
    "OutputWriteError",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_file",
    "check_output_folder",
    "clean_orphans",
    "is_temp_name",
    "make_temp_dir",
    "manifest_text",
    "read_manifest",
    "refuse_same_file",
    "resolve_target",
    "sha256_file",
    "staged",
    "tree_changes",
]

#: Temporary files of another machine (shared folders) are removed when older than this.
STALE_SECONDS = 24 * 3600.0
#: Temporary files named as by earlier specview versions (no writer id) are removed after this.
LEGACY_SECONDS = 600.0
#: A folder is scanned for orphans at most this often per process (first write: always).
CLEAN_INTERVAL = 1.0

_TEMP_RE = re.compile(
    r"^\.(?P<base>.+)\.(?P<pid>[0-9]{1,10})-(?P<host>[0-9a-f]{4})[0-9a-f]{8}\.tmp"
    r"(?P<suffix>\.[^.]*)?$",
    re.DOTALL,
)
# What specview 0.1 left: tempfile.mkstemp names of model files, secrets.token_hex(4) names of
# sidecars and box exports; only those suffixes, so that no other hidden file can match.
_LEGACY_RE = re.compile(r"^\..+\.(?:safetensors|txt|json)\.[a-z0-9_]{8}\.tmp$", re.DOTALL)
_MAX_BASE_BYTES = 160
_last_clean: dict[str, float] = {}


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


# -- the writers ------------------------------------------------------------------------------


def atomic_write_bytes(path: str | Path, data: bytes, *, protect: Iterable = ()) -> Path:
    """Write ``data`` to ``path`` atomically (see the module notes).

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


_ACTIVE: ContextVar[OutputSet | None] = ContextVar("specview_fileio_outputs", default=None)


@contextlib.contextmanager
def staged(*, protect: Iterable = ()) -> Iterator[OutputSet]:
    """Hold back every write of the block and put all of them in place when it succeeds.

    See "Staged runs" in the module notes. Yields the :class:`OutputSet` collecting the
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
    folder holding ``target`` removes it (see the module notes).

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


# -- what a tree holds ------------------------------------------------------------------------

#: The list of files (and their SHA-256) that a generator such as ``demo-data`` wrote.
MANIFEST_NAME = ".specview-files.json"
_MANIFEST_FORMAT = "specview-files"


def sha256_file(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def manifest_text(files: dict[str, str]) -> str:
    """The manifest of ``files`` (``{relative posix path: sha256}``), deterministic JSON."""
    doc = {"format": _MANIFEST_FORMAT, "version": 1, "files": dict(sorted(files.items()))}
    return json.dumps(doc, indent=1) + "\n"


def read_manifest(folder: str | Path) -> dict[str, str] | None:
    """``{relative path: sha256}`` from ``folder``'s manifest; None without one.

    A manifest that cannot be read or parsed lists nothing (``{}``): every file then counts
    as not written by specview.
    """
    path = Path(folder) / MANIFEST_NAME
    if not os.path.lexists(path):
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        files = doc["files"] if doc.get("format") == _MANIFEST_FORMAT else {}
        return {str(k): str(v) for k, v in files.items()}
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        return {}


def tree_changes(folder: str | Path, manifest: dict[str, str], *,
                 ignore: Iterable[str] = ()) -> tuple[list[str], list[str]]:
    """``(changed, foreign)``: files under ``folder`` that differ from their manifest entry,
    and files the manifest does not list (relative posix paths, sorted).

    The manifest itself, names in ``ignore`` (relative paths) and temporary files of this
    module are skipped; a symbolic link is never one of specview's files.
    """
    root = Path(folder)
    skip = {MANIFEST_NAME, *ignore}
    changed, foreign = [], []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not is_temp_name(d)]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames + links):
            if is_temp_name(name):
                continue
            p = Path(dirpath) / name
            rel = p.relative_to(root).as_posix()
            if rel in skip:
                continue
            if rel not in manifest:
                foreign.append(rel)
            elif p.is_symlink() or not p.is_file() or sha256_file(p) != manifest[rel]:
                changed.append(rel)
    return sorted(changed), sorted(foreign)


# -- orphans -----------------------------------------------------------------------------------


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file name of this module (or of earlier versions)."""
    return bool(_TEMP_RE.match(name) or _LEGACY_RE.match(name))


def clean_orphans(folder: str | Path, *, every: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writes left in ``folder``.

    Only names of :func:`is_temp_name` are considered, and of these only the ones whose writer
    is gone (see the module notes); the files of writes in progress, in this or another
    process, stay.

    Parameters
    ----------
    folder : str or Path
    every : float, optional
        Skip the scan when this process scanned ``folder`` less than ``every`` seconds ago.

    Returns
    -------
    list of Path
        What was removed (errors while removing are ignored: the next write tries again).
    """
    folder = Path(folder)
    key = os.path.abspath(folder)
    now = time.monotonic()
    if every is not None and now - _last_clean.get(key, -1e18) < every:
        return []
    _last_clean[key] = now
    removed: list[Path] = []
    try:
        scan = list(os.scandir(folder))
    except OSError:
        return removed
    wall = time.time()
    for entry in scan:
        name = entry.name
        if not name.startswith(".") or ".tmp" not in name:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not _orphaned(name, wall - st.st_mtime):
            continue
        try:
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
        except OSError:
            continue
        removed.append(folder / name)
    return removed


def _orphaned(name: str, age: float) -> bool:
    m = _TEMP_RE.match(name)
    if m is None:
        return bool(_LEGACY_RE.match(name)) and age > LEGACY_SECONDS
    pid = int(m["pid"])
    if m["host"] != _host_tag():
        return age > STALE_SECONDS
    if pid == os.getpid():
        return False  # another thread of this process may be writing it
    if not _pid_alive(pid):
        return True
    return age > STALE_SECONDS  # a live process reusing a dead writer's number


def _pid_alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # os.kill would end the process there; rely on age
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    try:  # a killed writer whose parent has not reaped it yet is a zombie
        with open(f"/proc/{pid}/stat", "rb") as f:
            tail = f.read().rpartition(b")")[2].split()
        return not (tail and tail[0] in (b"Z", b"X"))
    except OSError:
        return True


_HOST: list[str] = []


def _host_tag() -> str:
    if not _HOST:
        try:
            name = socket.gethostname()
        except OSError:
            name = ""
        _HOST.append(f"{zlib.crc32(name.encode('utf-8', 'replace')) & 0xFFFF:04x}")
    return _HOST[0]


def _temp_name(name: str, *, suffix: str | None = None) -> str:
    if suffix is None:
        suffix = Path(name).suffix
        if len(suffix) > 16 or not re.fullmatch(r"\.[A-Za-z0-9_+-]+", suffix):
            suffix = ""
    base = name
    while len(base.encode("utf-8", "surrogateescape")) > _MAX_BASE_BYTES:
        base = base[: len(base) * 3 // 4]
    return f".{base}.{os.getpid()}-{_host_tag()}{secrets.token_hex(4)}.tmp{suffix}"


def _create_temp(target: Path) -> tuple[int, Path]:
    # Not tempfile.mkstemp: its 0600 mode would end up on the renamed file.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = target.with_name(_temp_name(target.name))
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno_.EEXIST, f"no free temporary name beside {target}")


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
