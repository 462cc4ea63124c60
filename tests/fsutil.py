"""File-system conditions for the output tests: a small full disk and a read-only folder.

Both use a tmpfs mount where the machine allows it (root in a sandbox); otherwise the test is
skipped with the reason (a read-only folder falls back to permission bits when they bind the
current user).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def _mount(path: Path, options: str) -> str | None:
    """Mount a tmpfs at ``path``; None on success, else why not."""
    try:
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                           capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot run mount: {exc}"
    if r.returncode != 0:
        return f"cannot mount a tmpfs here: {(r.stderr or r.stdout).strip() or r.returncode}"
    return None


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=20, check=False)


def fill(folder: Path) -> None:
    """Fill the file system holding ``folder`` to the last byte (file ``folder/filler``)."""
    chunk = b"\0" * 4096
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        try:
            while True:
                f.write(b"\0")
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """An empty folder on a 1 MiB tmpfs (skipped where a tmpfs cannot be mounted)."""
    path = tmp_path / "disk"
    path.mkdir()
    why = _mount(path, "size=1m,mode=0755")
    if why is not None:
        pytest.skip(why)
    try:
        yield path
    finally:
        _umount(path)


@pytest.fixture
def read_only(tmp_path) -> Iterator[tuple[Path, Callable[[], Path]]]:
    """``(folder, freeze)``: fill ``folder``, then ``freeze()`` makes it read-only.

    A tmpfs remounted read-only where possible (permission bits do not bind root); else the
    folder's write bits are cleared, and the test is skipped if that does not stop a write.
    """
    path = tmp_path / "ro"
    path.mkdir()
    mounted = os.geteuid() == 0 and _mount(path, "size=4m,mode=0755") is None

    def freeze() -> Path:
        if mounted:
            r = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True,
                               text=True, timeout=20)
            if r.returncode != 0:
                pytest.skip(f"cannot remount read-only: {r.stderr.strip()}")
            return path
        for dirpath, dirnames, _ in os.walk(path):
            for d in [dirpath, *(os.path.join(dirpath, n) for n in dirnames)]:
                os.chmod(d, stat.S_IMODE(os.stat(d).st_mode) & ~0o222)
        try:
            (path / ".probe").write_text("x")
        except OSError:
            return path
        (path / ".probe").unlink()
        pytest.skip("permission bits do not stop this user from writing; no tmpfs either")

    try:
        yield path, freeze
    finally:
        if mounted:
            _umount(path)
        else:
            for dirpath, dirnames, _ in os.walk(path):
                for d in [dirpath, *(os.path.join(dirpath, n) for n in dirnames)]:
                    with_write = stat.S_IMODE(os.stat(d).st_mode) | 0o700
                    os.chmod(d, with_write)
