"""Fixtures of the bad-input suite: ``cli`` runs the CLI in-process (checks in
badinput_harness.py)."""

from __future__ import annotations

import os
import traceback

import pytest
from badinput_harness import Outcome


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


@pytest.fixture(scope="module")
def tiny_cli():
    """The tiny seeded encoder, selectable as ``--encoder tiny`` for the module using it."""
    from specview.encoders import ENCODERS
    from specview.encoders.tiny import TinyEncoder

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(ENCODERS, "tiny", TinyEncoder)
        yield
