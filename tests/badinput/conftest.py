"""The bad-input suite's harness: run the CLI in-process on a case folder and check that the
input was refused (or warned about) in one line, without a traceback, and that no file that was
there before changed.

A case is a folder under ``tmp_path`` holding its inputs. ``snapshot`` records every file in it
(bytes, permission bits, symlink target); ``cli`` runs ``specview.cli.main`` and returns what it
printed; ``assert_refused`` checks the outcome of a refusal.
"""

from __future__ import annotations

import os
import re
import stat
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest


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


@pytest.fixture
def cli(capsys):
    """``cli(*argv) -> Outcome``: ``specview.cli.main`` in-process, output captured.

    An exception escaping ``main`` is a traceback the user would see: the test fails with it.
    """
    from specview.cli import main

    def run(*argv: str | os.PathLike) -> Outcome:
        capsys.readouterr()
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001 - report it as the traceback it would be
            out, err = capsys.readouterr()
            pytest.fail(f"traceback for {argv}:\n{traceback.format_exc()}\nstderr: {err}")
        out, err = capsys.readouterr()
        return Outcome(int(rc or 0), out, err)

    return run


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
