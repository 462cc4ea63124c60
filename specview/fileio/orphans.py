"""Temporary file names (``.<name>.<pid>-<host><random>.tmp<suffix>``) and the removal of
the ones killed writes left (see "Orphans are removed" in the notes of
:mod:`specview.fileio`)."""

from __future__ import annotations

import errno as errno_
import os
import re
import secrets
import shutil
import socket
import stat
import time
import zlib
from pathlib import Path

__all__ = [
    "CLEAN_INTERVAL",
    "LEGACY_SECONDS",
    "STALE_SECONDS",
    "clean_orphans",
    "is_temp_name",
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


# -- orphans -----------------------------------------------------------------------------------


def is_temp_name(name: str) -> bool:
    """Whether ``name`` is a temporary file name of :mod:`specview.fileio` (or of earlier versions)."""
    return bool(_TEMP_RE.match(name) or _LEGACY_RE.match(name))


def clean_orphans(folder: str | Path, *, every: float | None = None) -> list[Path]:
    """Remove the temporary files that killed writes left in ``folder``.

    Only names of :func:`is_temp_name` are considered, and of these only the ones whose writer
    is gone (see the notes of :mod:`specview.fileio`); the files of writes in progress, in this or another
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
