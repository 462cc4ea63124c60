"""The bad-input suite's checks, imported by its test files (``from badinput_harness import
...``; a module of its own, since ``import conftest`` may find another folder's conftest).

A case is a folder under ``tmp_path`` holding its inputs. ``snapshot`` records every file in it
(bytes, permission bits, symlink target); the ``cli`` fixture (conftest.py) runs
``specview.cli.main`` and returns an :class:`Outcome`; ``assert_refused`` checks a refusal.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    rc: int
    out: str
    err: str

    @property
    def err_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.strip()]

    @property
    def warnings(self) -> list[str]:
        return [ln for ln in self.err_lines if ln.startswith("specview: warning:")]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: relative path -> (kind, bytes or link target, mode)."""
    snap: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                snap[rel] = ("link", os.readlink(p), None)
            elif stat.S_ISDIR(st.st_mode):
                snap[rel] = ("dir", None, stat.S_IMODE(st.st_mode))
            else:
                snap[rel] = ("file", p.read_bytes(), stat.S_IMODE(st.st_mode))
    return snap


def assert_unchanged(before: dict, after: dict, *, allow_new: bool = False) -> None:
    """Every entry of ``before`` is in ``after``, identical; no new entry unless allowed."""
    changed = [k for k, v in before.items() if after.get(k) != v]
    assert not changed, f"pre-existing files changed or removed: {changed}"
    if not allow_new:
        new = sorted(set(after) - set(before))
        assert not new, f"new files left behind: {new}"


def assert_refused(o: Outcome, pattern: str) -> None:
    """Exit status 2, one stderr line ``specview: error: ...`` matching ``pattern``."""
    assert "Traceback" not in o.err, o.err
    assert o.rc == 2, f"exit status {o.rc}, stderr {o.err!r}"
    lines = o.err_lines
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert lines[0].startswith("specview: error: "), lines[0]
    assert re.search(pattern, lines[0], re.IGNORECASE), f"{pattern!r} not in {lines[0]!r}"


def assert_warned(o: Outcome, pattern: str) -> None:
    """Success (exit 0) with a ``specview: warning:`` line matching ``pattern``."""
    assert "Traceback" not in o.err, o.err
    assert o.rc == 0, f"exit status {o.rc}, stderr {o.err!r}"
    assert any(re.search(pattern, w, re.IGNORECASE) for w in o.warnings), o.err_lines
